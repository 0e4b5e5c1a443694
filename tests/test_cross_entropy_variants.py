"""Top-k and Poly-1 cross-entropy: NumPy references, optax cross-check, the test standard."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.experimental import checkify

from tests.helpers import (
    inputs,
    one_hot_np,
    random_labels,
    random_logits,
    sigmoid_np,
    softmax_np,
)
from tests.jit_cache import eager_calls, jl

# Compiled once per options and shapes (tests/jit_cache.py): eager calls cost seconds.

C = 3
SHAPE = (2, 6, 5)


def np_pixel_ce(z, g, mode):
    if mode == "multiclass":
        return -(g * np.log(softmax_np(z))).sum(-1)
    p = sigmoid_np(z)
    return -(g * np.log(p) + (1 - g) * np.log(1 - p)).mean(-1)


def ref_topk(ce, v, k, per_image=True):
    """Sort the valid pixels' CE, keep ceil(k% of them), weighted mean."""
    rows = ce.shape[0] if per_image else 1
    ce, v = ce.reshape(rows, -1), v.reshape(rows, -1)
    out = []
    for c_row, v_row in zip(ce, v, strict=True):
        valid = v_row > 0
        if not valid.any():
            out.append(0.0)
            continue
        count = math.ceil(round(valid.sum() * k / 100, 6))
        idx = np.argsort(-c_row[valid])[:count]
        cv, vv = c_row[valid][idx], v_row[valid][idx]
        out.append((cv * vv).sum() / vv.sum())
    return np.array(out)


@pytest.mark.parametrize("mode", ["multiclass", "binary", "multilabel"])
@pytest.mark.parametrize("per_image", [True, False])
@pytest.mark.parametrize("k", [10.0, 33.0, 100.0])
def test_topk_matches_reference(mode, per_image, k):
    z, y, _, g = inputs(1, SHAPE, mode=mode)
    ce = np_pixel_ce(z, g, mode)
    v = np.ones(SHAPE)
    ours = jl.topk_cross_entropy(z, y, mode=mode, k=k, per_image=per_image)
    want = ref_topk(ce, v, k, per_image)
    np.testing.assert_allclose(ours, np.broadcast_to(want, (2,)), rtol=1e-5)


def test_topk_respects_masks_and_ignore_index():
    z, y, _, g = inputs(2, SHAPE)
    ce = np_pixel_ce(z, g, "multiclass")
    v = (np.random.default_rng(2).uniform(size=SHAPE) > 0.4).astype(float)
    np.testing.assert_allclose(jl.topk_cross_entropy(z, y, k=20, mask=v), ref_topk(ce, v, 20),
                               rtol=1e-5)
    y_ign = np.where(v > 0, y, 5)
    np.testing.assert_allclose(jl.topk_cross_entropy(z, y_ign, k=20, ignore_index=5),
                               ref_topk(ce, v, 20), rtol=1e-5)
    # Float weights: selection among weight > 0, weighted mean of the selected.
    w = v * np.random.default_rng(3).uniform(0.5, 2.0, size=SHAPE)
    np.testing.assert_allclose(jl.topk_cross_entropy(z, y, k=20, mask=w), ref_topk(ce, w, 20),
                               rtol=1e-5)


def test_topk_ties_share_the_last_places():
    # Foreground probabilities 0.2, 0.5, 0.5, 0.9 (labels all 1): the 50% hardest are 0.2 and
    # one of the two tied 0.5 pixels; the tied pixels share that place (half weight each).
    probs = jnp.array([0.2, 0.5, 0.5, 0.9]).reshape(1, 2, 2, 1)
    labels = jnp.ones((1, 2, 2), int)

    def loss(p):
        return jl.topk_cross_entropy(p, labels, mode="binary", from_logits=False, k=50)[0]

    np.testing.assert_allclose(loss(probs), -(math.log(0.2) + math.log(0.5)) / 2, rtol=1e-6)
    grad = np.asarray(jax.grad(loss)(probs)).ravel()
    np.testing.assert_allclose(grad, [-1 / 0.2 / 2, -1 / 0.5 / 4, -1 / 0.5 / 4, 0.0], rtol=1e-5)
    # Every pixel tied: any k gives the common value, with finite gradients.
    flat = jnp.full((2, 3, 5, 3), 0.7)
    value = jl.topk_cross_entropy(flat, jnp.zeros((2, 3, 5), int), k=33)
    np.testing.assert_allclose(value, np.full(2, np.log(3.0)), rtol=1e-6)


def test_topk_documented_identities():
    z, y, _, _ = inputs(3, SHAPE)
    np.testing.assert_allclose(jl.topk_cross_entropy(z, y, k=100), jl.cross_entropy(z, y),
                               rtol=1e-5)
    zb, yb, _, _ = inputs(3, SHAPE, mode="binary")
    np.testing.assert_allclose(jl.topk_cross_entropy(zb, yb, mode="binary", k=100),
                               jl.binary_cross_entropy(zb, yb), rtol=1e-5)
    # k small enough keeps one pixel per example: the maximum CE.
    ce = np_pixel_ce(z, one_hot_np(y, C), "multiclass").reshape(2, -1)
    np.testing.assert_allclose(jl.topk_cross_entropy(z, y, k=0.1), ce.max(-1), rtol=1e-5)


@pytest.mark.parametrize("mode", ["multiclass", "binary", "multilabel"])
def test_poly_matches_reference_and_optax(mode):
    z, y, _, g = inputs(4, SHAPE, mode=mode)
    p = softmax_np(z) if mode == "multiclass" else sigmoid_np(z)
    if mode == "multiclass":
        pixel = np_pixel_ce(z, g, mode) + 2.0 * (g * (1 - p)).sum(-1)
        opt = optax.losses.poly_loss_cross_entropy(jnp.asarray(z), jnp.asarray(g, jnp.float32),
                                                   epsilon=2.0)
        np.testing.assert_allclose(jl.poly_cross_entropy(z, y), np.asarray(opt).mean((1, 2)),
                                   rtol=1e-5)
    else:
        pt = g * p + (1 - g) * (1 - p)
        pixel = np_pixel_ce(z, g, mode) + 2.0 * (1 - pt).mean(-1)
    np.testing.assert_allclose(jl.poly_cross_entropy(z, y, mode=mode), pixel.mean((1, 2)),
                               rtol=1e-5)
    np.testing.assert_allclose(jl.poly_cross_entropy(z, y, mode=mode, reduction="pixel"), pixel,
                               rtol=1e-5)
    v = (np.random.default_rng(4).uniform(size=SHAPE) > 0.5).astype(float)
    np.testing.assert_allclose(jl.poly_cross_entropy(z, y, mode=mode, mask=v,
                                                     poly_epsilon=-1.0),
                               ((pixel - 3.0 * (pixel - np_pixel_ce(z, g, mode)) / 2.0) * v).sum(
                                   (1, 2)) / v.sum((1, 2)), rtol=1e-5)


def test_poly_epsilon_zero_is_cross_entropy():
    z, y, _, g = inputs(5, SHAPE)
    np.testing.assert_allclose(jl.poly_cross_entropy(z, y, poly_epsilon=0.0),
                               jl.cross_entropy(z, y),
                               rtol=1e-6)
    soft = np.random.default_rng(5).dirichlet(np.ones(C), size=SHAPE).astype(np.float32)
    opt = optax.losses.poly_loss_cross_entropy(jnp.asarray(z), jnp.asarray(soft), epsilon=1.5)
    np.testing.assert_allclose(jl.poly_cross_entropy(z, soft, poly_epsilon=1.5),
                               np.asarray(opt).mean((1, 2)), rtol=1e-5)


# --------------------------------------------------------------------------- the test standard

@pytest.mark.parametrize("loss", [jl.topk_cross_entropy, jl.poly_cross_entropy],
                         ids=lambda f: f.__name__)
def test_confidently_wrong_logits_cost_their_size(loss):
    """The log-sum-exp form: -log p of a logit 1e4 below the others is ~1e4, not inf."""
    _, y, _, g = inputs(7, (2, 4, 3))
    wrong = loss(jnp.asarray((1 - 2 * g) * 1e4, jnp.float32), y)
    assert np.all(np.asarray(wrong) > 1e3) and np.all(np.isfinite(np.asarray(wrong)))


@eager_calls()  # value errors are raised by eager calls
def test_bad_calls_raise_clear_errors():
    z, y, _, _ = inputs(9, SHAPE)
    with pytest.raises(ValueError, match=r"k: expected a value > 0.0 and <= 100.0"):
        jl.topk_cross_entropy(z, y, k=0)
    with pytest.raises(ValueError, match=r"k: expected a value > 0.0 and <= 100.0"):
        jl.topk_cross_entropy(z, y, k=150)
    with pytest.raises(ValueError, match="poly_epsilon: expected a value >= -1"):
        jl.poly_cross_entropy(z, y, poly_epsilon=-2.0)
    with pytest.raises(ValueError, match="reduction: expected one of"):
        jl.poly_cross_entropy(z, y, reduction="class")
    with pytest.raises(ValueError, match=r"labels: expected class indices of shape"):
        jl.topk_cross_entropy(z, y[:, :2])
    bad = y.copy()
    bad[0, 0, 0] = 3
    with pytest.raises(ValueError, match=r"class indices must lie in \[0, 2\]"):
        jl.topk_cross_entropy(z, bad)
    err, _ = checkify.checkify(jax.jit(jl.poly_cross_entropy), errors=checkify.user_checks)(z, bad)
    assert "class indices must lie" in err.get()


@jax.jit
def _property_values(z, y, mask):
    return {
        "ce": jl.cross_entropy(z, y, mask=mask),
        "topk": jnp.stack([jl.topk_cross_entropy(z, y, k=k, mask=mask) for k in (5, 25, 60, 100)]),
        "poly_m1": jl.poly_cross_entropy(z, y, poly_epsilon=-1.0, mask=mask),
        "poly_2": jl.poly_cross_entropy(z, y, mask=mask),
    }


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 20.0), keep=st.floats(0.0, 1.0))
def test_properties(seed, scale, keep):
    z = random_logits(seed, (2, 4, 3, C), scale)
    y = random_labels(seed, (2, 4, 3), C)
    mask = np.random.default_rng(seed).uniform(size=(2, 4, 3)) < keep
    out = {k: np.asarray(v) for k, v in _property_values(z, y, mask).items()}
    topk = out["topk"]
    assert np.all(np.diff(topk, axis=0) <= 1e-5)  # fewer, harder pixels: a larger mean
    np.testing.assert_allclose(topk[-1], out["ce"], rtol=1e-5, atol=1e-6)
    assert np.all(out["poly_m1"] >= -1e-6) and np.all(out["poly_2"] >= out["ce"] - 1e-6)
