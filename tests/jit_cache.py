"""One compiled function per (loss, static options), so tests do not run losses eagerly.

An eager call runs a loss primitive by primitive, and every primitive on a new shape is its own
XLA compilation (about 50 ms on CPU): a loss on a new shape costs seconds eagerly, a fraction of
that compiled once.
"""

from __future__ import annotations

import contextlib
import functools

import jax
import numpy as np

_CACHE: dict = {}

# XLA:CPU options of programs whose *run* time dominates (iterative thinning, component labelling
# and distance loops on volumes, training steps): the suite's default (tests/conftest.py: LLVM
# level 0, elemental emitter) compiles fast but runs such loops 10-80x slower. Measured on
# skeletonize of 13 volumes of 24^3: compile 1.8 s + run 10.3 s with the suite's flags; compile
# 3.3 s + run 0.14 s with these.
RUN_HEAVY = {"xla_backend_optimization_level": 1, "xla_cpu_use_fusion_emitters": True}


def run_heavy_jit(fn, **jit_options):
    """``jax.jit(fn, **jit_options)`` compiled with :data:`RUN_HEAVY` where called on concrete
    arrays (for a program that runs long: a loop over a volume; a small program keeps plain
    ``jax.jit``). Called on tracers (inside ``grad``, ``vmap`` or another ``jit``, where XLA
    options cannot be set) it is the plain ``jax.jit``."""
    heavy = jax.jit(fn, compiler_options=RUN_HEAVY, **jit_options)
    plain = jax.jit(fn, **jit_options)

    @functools.wraps(fn)
    def call(*args, **kwargs):
        traced = any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves((args, kwargs)))
        return (plain if traced else heavy)(*args, **kwargs)

    return call


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


def _is_array(value) -> bool:
    return isinstance(value, np.ndarray | jax.Array)


_EAGER = [False]


@contextlib.contextmanager
def eager_calls():
    """Inside (or on a test, as a decorator): :func:`auto_jit` functions run eagerly, for the
    value errors only eager calls raise."""
    _EAGER[0] = True
    try:
        yield
    finally:
        _EAGER[0] = False


def auto_jit(fn):
    """``fn`` compiled, its array arguments traced and every other argument static.

    Call sites stay as they are (``loss(z, y, smooth=0.5, mask=m)``); a non-array positional
    argument falls back to the eager call. Errors that only eager calls raise (values: labels out
    of range, probabilities outside [0, 1]) need :func:`eager_calls` or ``auto_jit(fn).eager``;
    shape and option errors are raised while tracing, so compiled calls raise them too.
    """
    @functools.wraps(fn)
    def call(*args, **kwargs):
        if _EAGER[0] or not all(_is_array(a) for a in args):
            return fn(*args, **kwargs)
        traced = {k: v for k, v in kwargs.items() if _is_array(v)}
        static = {k: v for k, v in kwargs.items() if k not in traced}
        key = ("auto", fn, len(args), tuple(sorted(traced)),
               tuple(sorted((k, _key(v)) for k, v in static.items())))
        if key not in _CACHE:
            _CACHE[key] = jax.jit(lambda a, t: fn(*a, **t, **static))
        return _CACHE[key](args, traced)

    call.eager = fn
    return call


class _Compiled:
    """``jl.NAME``: :func:`auto_jit` of ``jaxseg_losses.NAME``, made once for the whole
    session and shared by the test files (instead of each file rebinding the losses it tests to
    jitted copies of its own)."""

    def __getattr__(self, name: str):
        import jaxseg_losses

        fn = auto_jit(getattr(jaxseg_losses, name))
        setattr(self, name, fn)
        return fn


jl = _Compiled()
