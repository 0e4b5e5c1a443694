"""One compiled function per (loss, static options), so tests do not re-trace eager calls."""

from __future__ import annotations

import jax
import numpy as np

_CACHE: dict = {}


def _key(value):
    if isinstance(value, np.ndarray | jax.Array):
        a = np.asarray(value)
        return ("array", a.shape, a.dtype.str, a.tobytes())
    if isinstance(value, list | tuple):
        return tuple(_key(v) for v in value)
    return value


def jitted(fn, **static):
    """``jax.jit`` of ``fn(z, y, mask=mask, **static)``, cached; ``mask`` stays traced."""
    key = (fn, tuple(sorted((k, _key(v)) for k, v in static.items())))
    if key not in _CACHE:
        _CACHE[key] = jax.jit(lambda z, y, mask=None: fn(z, y, mask=mask, **static))
    return _CACHE[key]
