"""Asymmetric unified focal family: NumPy references (binary and multiclass), MONAI's binary
losses, and the test standard."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.experimental import checkify

from tests.helpers import (
    C,
    assert_finite_value_and_grad,
    inputs,
    random_labels,
    random_logits,
    softmax_np,
)
from tests.jit_cache import eager_calls, jl

# Compiled once per options and shapes (tests/jit_cache.py): eager calls cost seconds.

# --------------------------------------------------------------------------- NumPy references


def roles(p, g, mode):
    """(q, t, is_background) over K classes, from the paper's definitions."""
    if mode == "multiclass":
        return p, g, np.arange(p.shape[-1]) == 0
    c = p.shape[-1]
    return (np.concatenate([1 - p, p], -1), np.concatenate([1 - g, g], -1),
            np.arange(2 * c) < c)


def ref_focal(p, g, mode, delta=0.7, gamma=2.0, v=None, per_image=True):
    q, t, bg = roles(p, g, mode)
    ce = -t * np.log(q)
    pixel = np.where(bg, (1 - delta) * (1 - q) ** gamma * ce, delta * ce).mean(-1)
    v = np.ones(pixel.shape) if v is None else v
    axes = tuple(range(1, pixel.ndim)) if per_image else None
    return (v * pixel).sum(axes) / v.sum(axes)


def ref_tversky(p, g, mode, delta=0.7, gamma=0.75, s=1e-7, v=None, per_image=True):
    q, t, bg = roles(p, g, mode)
    v = np.ones(q.shape[:-1] + (1,)) if v is None else v[..., None]
    axes = tuple(range(1, q.ndim - 1)) if per_image else tuple(range(q.ndim - 1))
    tp, fn = (v * t * q).sum(axes), (v * t * (1 - q)).sum(axes)
    fp = (v * (1 - t) * q).sum(axes)
    mti = (tp + s) / (tp + delta * fn + (1 - delta) * fp + s)
    return np.where(bg, 1 - mti, (1 - mti) ** (1 - gamma)).mean(-1)


@pytest.mark.parametrize("mode", ["multiclass", "binary", "multilabel"])
@pytest.mark.parametrize("per_image", [True, False])
def test_match_reference(mode, per_image):
    z, y, p, g = inputs(1, (2, 6, 5), mode=mode)
    if mode == "multilabel":
        from tests.helpers import sigmoid_np

        p = sigmoid_np(z)
    kw = {"mode": mode, "per_image": per_image}
    np.testing.assert_allclose(jl.asymmetric_focal_loss(z, y, **kw),
                               ref_focal(p, g, mode, per_image=per_image), rtol=1e-5)
    np.testing.assert_allclose(jl.asymmetric_focal_loss(z, y, delta=0.4, gamma=0.5, **kw),
                               ref_focal(p, g, mode, 0.4, 0.5, per_image=per_image), rtol=1e-5)
    np.testing.assert_allclose(jl.asymmetric_focal_tversky_loss(z, y, **kw),
                               ref_tversky(p, g, mode, per_image=per_image), rtol=1e-5)
    unified = 0.3 * ref_focal(p, g, mode, 0.6, 0.4, per_image=per_image) + 0.7 * ref_tversky(
        p, g, mode, 0.6, 0.4, per_image=per_image)
    np.testing.assert_allclose(
        jl.asymmetric_unified_focal_loss(z, y, focal_weight=0.3, delta=0.6, gamma=0.4, **kw),
        np.broadcast_to(unified, (2,)), rtol=1e-5)


def test_mask_matches_reference():
    z, y, p, g = inputs(2, (2, 6, 5))
    v = (np.random.default_rng(2).uniform(size=y.shape) > 0.3).astype(float)
    np.testing.assert_allclose(jl.asymmetric_focal_loss(z, y, mask=v), ref_focal(p, g, "multiclass",
                               v=v), rtol=1e-5)
    np.testing.assert_allclose(jl.asymmetric_focal_tversky_loss(z, y, mask=v),
                               ref_tversky(p, g, "multiclass", v=v), rtol=1e-5)


def test_many_classes_integer_labels_match_reference_and_one_hot():
    # Integer labels and logits: the focal term works per pixel on log p_y (for C above the
    # plane forms too); equal to the reference and to the per-class form of one-hot labels,
    # value and gradient, with ignored pixels.
    num = 8
    z = random_logits(7, (2, 6, 5, num), scale=4.0)
    y = random_labels(7, (2, 6, 5), num)
    y[0, :2] = -1
    keep = y >= 0
    one_hot = np.eye(num, dtype=np.float32)[np.maximum(y, 0)]
    p = softmax_np(z)
    for loss, ref in ((jl.asymmetric_focal_loss, ref_focal(p, one_hot, "multiclass", v=keep)),
                      (jl.asymmetric_unified_focal_loss, None)):
        by_index = loss(z, y, ignore_index=-1)
        by_one_hot = loss(z, one_hot, mask=keep)
        np.testing.assert_allclose(by_index, by_one_hot, rtol=1e-5, atol=1e-7)
        if ref is not None:
            np.testing.assert_allclose(by_index, ref, rtol=1e-5)
        grad_index = jax.grad(lambda x, f=loss: f(x, y, ignore_index=-1).sum())(z)
        grad_one_hot = jax.grad(lambda x, f=loss: f(x, one_hot, mask=keep).sum())(z)
        np.testing.assert_allclose(grad_index, grad_one_hot, rtol=1e-4, atol=1e-7)


def test_gamma_zero_focal_is_weighted_cross_entropy():
    z, y, p, g = inputs(3, (2, 6, 5))
    ce = -(g * np.log(p))
    want = (ce * np.array([0.3, 0.7, 0.7])).mean(-1).mean((1, 2))
    np.testing.assert_allclose(jl.asymmetric_focal_loss(z, y, gamma=0.0), want, rtol=1e-5)


# --------------------------------------------------------------------------- MONAI (binary)


@pytest.mark.parametrize("shape", [(2, 6, 5), (2, 3, 4, 5)])
def test_binary_matches_monai(shape):
    torch = pytest.importorskip("torch")
    ufl = pytest.importorskip("monai.losses.unified_focal_loss")
    z, y, p, g = inputs(4, shape, mode="binary", scale=1.5)
    two_p = torch.tensor(np.concatenate([1 - p, p], -1)).movedim(-1, 1)
    two_g = torch.tensor(np.concatenate([1 - g, g], -1)).movedim(-1, 1)
    af = ufl.AsymmetricFocalLoss(delta=0.6, gamma=1.5, reduction="none")(two_p, two_g).numpy()
    np.testing.assert_allclose(jl.asymmetric_focal_loss(z, y, mode="binary", delta=0.6, gamma=1.5),
                               af.reshape(shape[0], -1).mean(-1), rtol=1e-5, atol=1e-7)
    aft = ufl.AsymmetricFocalTverskyLoss(delta=0.6, gamma=0.6, reduction="none")(two_p, two_g)
    np.testing.assert_allclose(
        jl.asymmetric_focal_tversky_loss(z, y, mode="binary", delta=0.6, gamma=0.6),
        aft.numpy().mean(-1), rtol=1e-5, atol=1e-7)
    # The unified loss takes probabilities (its docstring says logits; no sigmoid is applied).
    unified = ufl.AsymmetricUnifiedFocalLoss(weight=0.3, delta=0.6, gamma=0.5)
    ref = unified(torch.tensor(p).movedim(-1, 1), torch.tensor(g).movedim(-1, 1)).numpy()
    ours = jl.asymmetric_unified_focal_loss(z, y, mode="binary", focal_weight=0.3, delta=0.6,
                                            gamma=0.5)
    np.testing.assert_allclose(ours.mean(), ref, rtol=1e-5)


# --------------------------------------------------------------------------- the test standard

LOSSES = {
    "focal": jl.asymmetric_focal_loss,
    "focal_tversky": jl.asymmetric_focal_tversky_loss,
    "unified": jl.asymmetric_unified_focal_loss,
}


@pytest.fixture(params=sorted(LOSSES))
def loss(request):
    return LOSSES[request.param]


@pytest.mark.slow
def test_empty_truth_and_masks(loss):
    shape = (2, 4, 3)
    empty = np.zeros(shape, np.int32)
    nothing = np.zeros(shape + (1,), np.float32)
    kw = {"mode": "binary", "from_logits": False}
    np.testing.assert_allclose(loss(nothing, empty, **kw), 0.0, atol=1e-7)
    np.testing.assert_allclose(loss(nothing - 1e4, empty, mode="binary"), 0.0, atol=1e-7)
    assert np.all(np.asarray(loss(nothing + 0.9, empty, **kw)) > 0.01)
    assert_finite_value_and_grad(loss, jnp.asarray(nothing), empty, **kw)
    z, y, _, _ = inputs(9, shape)
    value, grad = jax.value_and_grad(lambda p: loss(p, y, mask=np.zeros(shape)).sum())(z)
    assert float(value) == 0.0 and np.all(np.asarray(grad) == 0)


@eager_calls()  # value errors are raised by eager calls
def test_bad_calls_raise_clear_errors():
    z, y, _, _ = inputs(11, (2, 4, 3))
    with pytest.raises(ValueError, match=r"delta: expected a value >= 0.0 and <= 1.0"):
        jl.asymmetric_focal_loss(z, y, delta=1.5)
    with pytest.raises(ValueError, match="gamma: expected a value >= 0"):
        jl.asymmetric_focal_loss(z, y, gamma=-1.0)
    with pytest.raises(ValueError, match=r"gamma: expected a value in \[0, 1\)"):
        jl.asymmetric_focal_tversky_loss(z, y, gamma=1.0)
    with pytest.raises(ValueError, match=r"focal_weight: expected a value >= 0.0 and <= 1.0"):
        jl.asymmetric_unified_focal_loss(z, y, focal_weight=2.0)
    with pytest.raises(ValueError, match=r"labels: expected class indices of shape"):
        jl.asymmetric_unified_focal_loss(z, y[:, :2])
    with pytest.raises(ValueError, match="C == 1"):
        jl.asymmetric_focal_loss(z, y, mode="binary")
    bad = y.copy()
    bad[0, 0, 0] = 4
    with pytest.raises(ValueError, match=r"class indices must lie in \[0, 2\]"):
        jl.asymmetric_unified_focal_loss(z, bad)
    err, _ = checkify.checkify(jax.jit(jl.asymmetric_unified_focal_loss),
                               errors=checkify.user_checks)(z, bad)
    assert "class indices must lie" in err.get()


@jax.jit
def _property_values(z, y):
    zb, yb = z[..., :1], (y > 0).astype(jnp.int32)
    return {
        "focal": jl.asymmetric_focal_loss(z, y),
        "tversky": jl.asymmetric_focal_tversky_loss(z, y),
        "unified": jl.asymmetric_unified_focal_loss(z, y, focal_weight=0.25),
        "focal_u": jl.asymmetric_focal_loss(z, y, gamma=0.5),
        "tversky_u": jl.asymmetric_focal_tversky_loss(z, y, gamma=0.5),
        "tversky_b": jl.asymmetric_focal_tversky_loss(zb, yb, mode="binary"),
        "focal_b_g0": jl.asymmetric_focal_loss(zb, yb, mode="binary", gamma=0.0, delta=0.5),
        "bce": jnp.mean(-(yb[..., None] * jax.nn.log_sigmoid(zb)
                          + (1 - yb[..., None]) * jax.nn.log_sigmoid(-zb)), axis=(1, 2, 3)),
    }


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 20.0))
def test_properties(seed, scale):
    z = random_logits(seed, (2, 4, 3, C), scale)
    y = random_labels(seed, (2, 4, 3), C)
    out = {k: np.asarray(v) for k, v in _property_values(z, y).items()}
    assert np.all(out["focal"] >= 0)
    assert np.all(out["tversky"] >= 0) and np.all(out["tversky"] <= 1 + 1e-6)
    assert np.all(out["tversky_b"] >= 0) and np.all(out["tversky_b"] <= 1 + 1e-6)
    np.testing.assert_allclose(out["unified"], 0.25 * out["focal_u"] + 0.75 * out["tversky_u"],
                               rtol=1e-5, atol=1e-6)
    # gamma = 0, delta = 0.5: the focal loss is BCE / 4 (0.5 weight, mean over K = 2).
    np.testing.assert_allclose(out["focal_b_g0"], out["bce"] / 4, rtol=1e-4, atol=1e-6)
