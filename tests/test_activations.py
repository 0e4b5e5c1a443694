"""The shared class-axis activations (``_activations``), spatial sums and powers
(``_numerics``) vs NumPy (both code paths)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from jaxseg_losses import _activations
from jaxseg_losses._activations import (
    PLANE_MAX_CLASSES,
    log_softmax,
    log_softmax_complement,
    softmax,
    softmax_cross_entropy,
)
from jaxseg_losses._numerics import safe_power, spatial_sum
from tests.helpers import random_logits, softmax_np

# Both code paths: plane by plane (small C) and the jax.nn / jnp fallback (C above the limit).
CLASS_COUNTS = (2, 3, PLANE_MAX_CLASSES, PLANE_MAX_CLASSES + 1)


def _log_softmax_np(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    shifted = z - z.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def _log_complement_np(z: np.ndarray) -> np.ndarray:
    """log(1 - p_c) = log sum_{k != c} exp(z_k) - log sum_k exp(z_k), in float64."""
    z = z.astype(np.float64)
    out = np.empty_like(z)
    for c in range(z.shape[-1]):
        others = np.delete(z, c, axis=-1)
        top = others.max(-1)
        out[..., c] = top + np.log(np.exp(others - top[..., None]).sum(-1))
    return out + _log_softmax_np(z) - z


@pytest.mark.parametrize("num_classes", CLASS_COUNTS)
def test_activations_match_numpy(num_classes):
    z = random_logits(0, (2, 5, 3, num_classes))
    np.testing.assert_allclose(softmax(jnp.asarray(z)), softmax_np(z), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(log_softmax(jnp.asarray(z)), _log_softmax_np(z), atol=2e-5)
    np.testing.assert_allclose(
        log_softmax_complement(jnp.asarray(z)), _log_complement_np(z), atol=2e-5
    )


@pytest.mark.parametrize("num_classes", CLASS_COUNTS)
def test_softmax_cross_entropy_matches_numpy(num_classes):
    z = random_logits(1, (2, 4, 3, num_classes))
    # Soft, weighted targets that do not sum to 1: the form must not assume they do.
    t = np.random.default_rng(5).uniform(0, 2, z.shape).astype(np.float32)
    expected = -(t * _log_softmax_np(z)).sum(-1)
    got = softmax_cross_entropy(jnp.asarray(z), jnp.asarray(t))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
    grad = jax.grad(lambda x: jnp.sum(softmax_cross_entropy(x, jnp.asarray(t))))(jnp.asarray(z))
    np.testing.assert_allclose(grad, softmax_np(z) * t.sum(-1, keepdims=True) - t, atol=1e-5)


@pytest.mark.parametrize("num_classes", (3, PLANE_MAX_CLASSES + 1))
def test_activation_gradients(num_classes):
    z = jnp.asarray(random_logits(2, (1, 2, 2, num_classes), scale=1.0))
    for fn in (softmax, log_softmax, log_softmax_complement):
        check_grads(fn, (z,), order=1, modes=("rev",), atol=1e-2, rtol=1e-2)
    # The same gradients as the jax.nn forms (the max shift carries no gradient).
    w = jnp.asarray(random_logits(3, z.shape))
    for ours, ref in ((softmax, jax.nn.softmax), (log_softmax, jax.nn.log_softmax)):
        np.testing.assert_allclose(
            jax.grad(lambda x, f=ours: jnp.sum(w * f(x)))(z),
            jax.grad(lambda x, f=ref: jnp.sum(w * f(x, axis=-1)))(z),
            rtol=1e-5, atol=1e-5,
        )


@pytest.mark.parametrize("num_classes", (2, 4, PLANE_MAX_CLASSES + 1))
def test_activations_extreme_logits(num_classes):
    z = np.zeros((1, 2, 2, num_classes), np.float32)
    z[..., 0] = 1e4
    z[0, 1, 1, 0] = -1e4  # the last pixel: class 0 far below the others
    z = jnp.asarray(z)
    targets = jnp.eye(num_classes)[jnp.zeros(z.shape[:-1], int)]
    ce = functools.partial(softmax_cross_entropy, targets=targets)
    for fn in (softmax, log_softmax, log_softmax_complement, ce):
        value, grad = jax.jit(jax.value_and_grad(lambda x, f=fn: jnp.sum(f(x))))(z)
        assert np.isfinite(value) and np.all(np.isfinite(grad)), fn
    p = softmax(z)
    # Target class 0: CE 0 where it leads by 1e4, 1e4 + log(C - 1) where it trails by 1e4.
    expected = [[0.0, 0.0], [0.0, 1e4 + np.log(num_classes - 1)]]
    np.testing.assert_allclose(ce(z)[0], expected, rtol=1e-6)
    np.testing.assert_allclose(p[0, 0, 0], np.eye(num_classes)[0], atol=1e-7)
    # log(1 - p_0) where p_0 = 1 - (C - 1) exp(-1e4): the others' log-sum-exp, not log(0).
    assert float(log_softmax_complement(z)[0, 0, 0, 0]) == pytest.approx(
        -1e4 + np.log(num_classes - 1), rel=1e-6
    )
    np.testing.assert_allclose(log_softmax(z)[0, 1, 1, 0], -1e4 - np.log(num_classes - 1),
                               rtol=1e-6)


@pytest.mark.parametrize("num_classes", (PLANE_MAX_CLASSES + 1, 19))
def test_accelerator_forms_match_jax_nn(num_classes):
    """The barrier forms compiled for XLA:GPU (issue #29), run here on the CPU: the values and
    gradients of the jax.nn forms, extreme logits included."""
    z = jnp.asarray(random_logits(4, (2, 3, 2, num_classes)))
    z = z.at[0, 0, 0, 0].set(1e4).at[0, 0, 1, 1].set(-1e4)
    w = jnp.asarray(random_logits(5, z.shape))
    pairs = (
        (_activations._barrier_softmax, lambda x: jax.nn.softmax(x, axis=-1)),
        (_activations._barrier_log_softmax, lambda x: jax.nn.log_softmax(x, axis=-1)),
        (_activations._barrier_logsumexp,
         lambda x: jax.nn.logsumexp(x, axis=-1, keepdims=True)),
    )
    for ours, ref in pairs:
        np.testing.assert_allclose(ours(z), ref(z), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(
            jax.grad(lambda x, f=ours: jnp.sum(w[..., :f(x).shape[-1]] * f(x)))(z),
            jax.grad(lambda x, f=ref: jnp.sum(w[..., :f(x).shape[-1]] * f(x)))(z),
            rtol=1e-5, atol=1e-6,
        )


def test_accelerators_get_the_barrier_forms():
    """XLA:GPU compiles the barrier forms (no Triton softmax fusion), CPU and TPU the jax.nn
    forms; checked on the exported StableHLO, no accelerator needed."""
    z = jax.ShapeDtypeStruct((2, 4, 4, PLANE_MAX_CLASSES + 1), jnp.float32)

    def program(x):
        return jax.grad(lambda v: jnp.sum(log_softmax(v) + softmax(v)
                                          + log_softmax_complement(v)))(x)

    for platform in ("cpu", "cuda", "tpu"):
        text = jax.export.export(jax.jit(program), platforms=[platform])(z).mlir_module()
        assert ("optimization_barrier" in text) == (platform == "cuda"), platform


@pytest.mark.parametrize(
    "shape", [(2, 7, 3), (2, 5, 6, 4), (1, 3, 5, 7, 2), (3, 256, 2), (2, 16, 40, 1)]
)
def test_spatial_sum_matches_numpy(shape):
    x = random_logits(4, shape)
    expected = x.astype(np.float64).sum(axis=tuple(range(1, x.ndim - 1)))
    got = jax.jit(spatial_sum)(jnp.asarray(x))
    assert got.shape == (shape[0], shape[-1])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)


@settings(max_examples=25, deadline=None)
@given(
    spatial=st.lists(st.integers(1, 9), min_size=1, max_size=3),
    num_classes=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_spatial_sum_property(spatial, num_classes, seed):
    x = random_logits(seed, (2, *spatial, num_classes))
    expected = x.astype(np.float64).sum(axis=tuple(range(1, x.ndim - 1)))
    np.testing.assert_allclose(spatial_sum(jnp.asarray(x)), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("exponent", [0, 1, 2, 3.0, 0.3, 0.75, 4.0 / 3.0, 1.2])
def test_safe_power_matches_numpy(exponent):
    # Integral exponents are multiplied out, the others taken as exp(e log x) (relative error
    # about |e log x| float32 epsilons: 5e-6 at x = 1e-30); both as NumPy's power, with a finite
    # gradient at 0 (NumPy's derivative e x^(e-1) is infinite there for 0 < e < 1; ours is 0).
    x = np.concatenate([[0.0, 1e-30, 1e-6, 0.5, 1.0], np.linspace(0.01, 50.0, 11)]).astype(
        np.float32)
    value, grad = jax.jit(jax.vmap(jax.value_and_grad(safe_power), (0, None)), static_argnums=1)(
        jnp.asarray(x), exponent)
    np.testing.assert_allclose(value, np.power(x.astype(np.float64), exponent), rtol=1e-5,
                               atol=1e-37)
    positive = x > 0
    expected = exponent * np.power(x[positive].astype(np.float64), exponent - 1.0)
    # exp(e log x) e / x: 0 where the power underflows float32 (x = 1e-30, e = 4/3: 1.3e-10).
    np.testing.assert_allclose(grad[positive], expected, rtol=1e-5, atol=1e-9)
    assert np.isfinite(grad).all()


# --------------------------------------------------------------------------- integer-label paths
# Integer multiclass labels take the class-plane paths (Prepared.class_index); the same labels
# one-hot encoded take the dense paths. Both must give the same values and gradients.

INDEX_PATH_CASES = [
    ("cross_entropy", {}),
    ("cross_entropy", {"class_weights": [0.5, 1.0, 2.0]}),
    ("cross_entropy", {"label_smoothing": 0.1}),
    ("weighted_cross_entropy", {}),
    ("focal_loss", {}),
    ("focal_loss", {"gamma": 1.5, "alpha": 0.25}),
    ("conservative_loss", {}),
    ("poly_cross_entropy", {}),
    ("topk_cross_entropy", {}),
    ("dice_loss", {}),
    ("dice_loss", {"squared": True, "per_image": False}),
    ("dice_loss", {"soft_label": True, "include_background": False}),
    ("jaccard_loss", {}),
    ("tversky_loss", {}),
    ("focal_tversky_loss", {}),
    ("generalized_dice_loss", {}),
    ("sensitivity_specificity_loss", {}),
    ("sensitivity_specificity_loss", {"per_image": False}),
    ("exp_log_loss", {}),
    ("exp_log_loss", {"per_image": False, "include_background": False}),
    ("dice_ce_loss", {}),
    ("dice_focal_loss", {}),
]


def _index_vs_dense(name, options, shape, num_classes, from_logits=True):
    import jaxseg_losses

    loss = getattr(jaxseg_losses, name)
    z = random_logits(6, shape + (num_classes,))
    if not from_logits:
        z = softmax_np(z).astype(np.float32)
    y = np.random.default_rng(7).integers(0, num_classes, shape)
    y[0, 0] = num_classes - 1  # every class but the last may be absent from an image
    mask = np.random.default_rng(8).uniform(size=shape) > 0.2
    labels = np.where(mask, y, 255)  # ignored pixels <-> mask=0 with dense labels
    dense = np.eye(num_classes, dtype=np.float32)[y]

    def index_loss(x):
        return loss(x, labels, ignore_index=255, from_logits=from_logits, **options)

    def dense_loss(x):
        return loss(x, dense, mask=mask, from_logits=from_logits, **options)

    (v1, g1), (v2, g2) = (
        jax.jit(jax.value_and_grad(lambda x, f=f: jnp.sum(f(x))))(jnp.asarray(z))
        for f in (index_loss, dense_loss)
    )
    np.testing.assert_allclose(v1, v2, rtol=2e-5, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(g1, g2, rtol=2e-4, atol=1e-6, err_msg=name)
    assert np.all(np.asarray(g1)[~mask] == 0.0), "ignored pixels must get no gradient"


@pytest.mark.parametrize(("name", "options"), INDEX_PATH_CASES)
def test_integer_labels_match_one_hot(name, options):
    if name == "topk_cross_entropy":  # its mask and ignore_index select the same pixels
        options = {**options, "k": 50.0}
    _index_vs_dense(name, options, (2, 6, 5), 3)


@pytest.mark.parametrize("name", ["cross_entropy", "focal_loss", "dice_loss",
                                  "sensitivity_specificity_loss"])
def test_integer_labels_match_one_hot_3d_probabilities(name):
    _index_vs_dense(name, {}, (2, 3, 4, 5), 4, from_logits=False)
    _index_vs_dense(name, {}, (2, 3, 4, 5), 4)


@pytest.mark.parametrize("name", ["cross_entropy", "dice_loss", "focal_loss",
                                  "poly_cross_entropy", "conservative_loss", "exp_log_loss"])
def test_integer_labels_many_classes(name):
    """Above PLANE_MAX_CLASSES the dense forms run for integer labels too (the focal family and
    exp-log on log p_y per pixel: ``_activations.label_log_p``)."""
    _index_vs_dense(name, {}, (2, 4, 3), PLANE_MAX_CLASSES + 2)


def test_unchecked_out_of_range_labels_are_excluded():
    """Under jit without checkify, labels outside [0, C) are left out like ignore_index (every
    mode), never scored as background or as a pixel of no class."""
    from jaxseg_losses import binary_cross_entropy, cross_entropy, dice_loss

    z = jnp.asarray(random_logits(9, (1, 4, 4, 3)))
    labels = np.random.default_rng(9).integers(0, 3, (1, 4, 4))
    labels[0, 0, :2] = [7, -3]
    ignored = np.where((labels < 0) | (labels > 2), 99, labels)
    for loss in (cross_entropy, dice_loss):
        np.testing.assert_allclose(
            jax.jit(loss)(z, labels), jax.jit(loss)(z, ignored, ignore_index=99), rtol=1e-6,
            atol=1e-7,
        )
    binary = np.where(labels > 0, 1, 0)
    binary_ignored = binary.copy()
    binary[0, 0, :2], binary_ignored[0, 0, :2] = [2, -1], 99
    np.testing.assert_allclose(
        jax.jit(binary_cross_entropy)(z[..., :1], binary),
        jax.jit(binary_cross_entropy)(z[..., :1], binary_ignored, ignore_index=99),
        rtol=1e-6, atol=1e-7)




def test_integer_labels_many_classes_focal_options():
    """The per-pixel focal of many classes with a scalar alpha, class weights, normalisation."""
    weights = np.linspace(0.5, 2.0, PLANE_MAX_CLASSES + 2)
    _index_vs_dense("focal_loss", {"alpha": 0.25, "class_weights": weights, "normalized": True},
                    (2, 4, 3), PLANE_MAX_CLASSES + 2)
    _index_vs_dense("focal_loss", {"reduced_threshold": 0.5, "include_background": False},
                    (2, 4, 3), PLANE_MAX_CLASSES + 2)
