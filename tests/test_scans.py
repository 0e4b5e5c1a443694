"""Tests for jaxseg_losses._scans: the running max / min / sum of every backend against NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg_losses import _scans

_NUMPY = {"max": np.maximum.accumulate, "min": np.minimum.accumulate, "add": np.cumsum}
_OPS = {"max": jnp.maximum, "min": jnp.minimum, "add": jnp.add}


def _reference(name, x, axis, reverse):
    if reverse:
        return np.flip(_NUMPY[name](np.flip(x, axis), axis=axis), axis)
    return _NUMPY[name](x, axis=axis)


@pytest.mark.parametrize("dtype", [np.int32, np.float32])
@pytest.mark.parametrize("shape,axis", [((3, 37, 5), 1), ((2, 128, 7), 1), ((4, 5, 300), 2),
                                        ((16,), 0), ((3, 7), 1), ((2, 8), 1), ((1, 1), 1)])
def test_every_backend_form_equals_numpy(shape, axis, dtype):
    """The lowered form (CPU: associative scan), XLA's cumulative ops (GPU) and the two-level
    blocks of the TPU, run here, give NumPy's running op: n below, at and beyond one block,
    n not a multiple of it, forwards and from the end. Small integers: float sums are exact."""
    x = np.random.default_rng(sum(shape)).integers(-100, 100, shape).astype(dtype)
    forms = {
        "lowered": _scans.running,
        "gpu": lambda op, v, a, r: _scans._NATIVE[op](v, axis=a, reverse=r),
        "tpu": _scans._two_level,
    }

    @jax.jit
    def every(v):
        return {(form, name, reverse): fn(_OPS[name], v, axis, reverse)
                for form, fn in forms.items() for name in _OPS for reverse in (False, True)}

    for (form, name, reverse), got in every(x).items():
        np.testing.assert_array_equal(got, _reference(name, x, axis, reverse),
                                      err_msg=f"{form} {name} reverse={reverse}")
        assert got.dtype == dtype


def test_identity_fills_do_not_leak():
    """Padding to whole blocks uses the identity: extreme values at the ends stay exact."""
    info = np.iinfo(np.int32)
    x = np.array([[info.min, 3, info.max, -5, 0, 1, 2, 3, 4, info.min, 7]], np.int32)
    for op, name in ((jnp.maximum, "max"), (jnp.minimum, "min")):
        for reverse in (False, True):
            got = jax.jit(_scans._two_level, static_argnums=(0, 2, 3))(op, x, 1, reverse)
            np.testing.assert_array_equal(got, _reference(name, x, 1, reverse))
