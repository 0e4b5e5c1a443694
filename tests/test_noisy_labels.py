"""Bi-tempered logistic loss and T-loss: float64 NumPy references from the papers, the authors'
JAX package (jax-bitempered-loss) for values and gradients, properties and the test standard.

The T-loss authors' PyTorch ``TLoss`` (Digital-Dermatology/t-loss) is not a package; it was run
on the same inputs outside the suite (log_precision=1, include_background=False, times D):
relative differences below 4e-7 in value and 3e-6 in the gradient of log_nu."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.special import gammaln

from jaxseg_losses.pixelwise.cross_entropies import cross_entropy
from jaxseg_losses.pixelwise.noisy_labels import bi_tempered_loss, t_loss, tempered_softmax
from tests.helpers import (
    assert_finite_value_and_grad,
    assert_jit_matches_eager,
    one_hot_np,
    random_labels,
    random_logits,
    sigmoid_np,
    softmax_np,
)
from tests.jit_cache import auto_jit

bi_tempered = auto_jit(bi_tempered_loss)
tloss = auto_jit(t_loss)

# --------------------------------------------------------------------------- NumPy references


def log_t_np(u, t):
    return np.log(u) if t == 1.0 else (u ** (1.0 - t) - 1.0) / (1.0 - t)


def exp_t_np(x, t):
    return np.exp(x) if t == 1.0 else np.maximum(1.0 + (1.0 - t) * x, 0.0) ** (1.0 / (1.0 - t))


def tempered_softmax_np(a, t):
    """Paper Eq. 12 with the normaliser found by a float64 bisection to machine precision:
    sum_k exp_t(a_k - lam) = 1 is decreasing in lam, and lies in [max a - 10, max a + 1e4] for
    these inputs (checked below)."""
    a = a.astype(np.float64)
    low = a.max(-1, keepdims=True) - 10.0
    high = a.max(-1, keepdims=True) + 1e4
    for _ in range(400):
        mid = 0.5 * (low + high)
        above = exp_t_np(a - mid, t).sum(-1, keepdims=True) > 1.0
        low, high = np.where(above, mid, low), np.where(above, high, mid)
    p = exp_t_np(a - 0.5 * (low + high), t)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-12)
    return p


def bi_tempered_np(z, y, t1, t2, mode="multiclass", v=None):
    """Paper Eq. 13, averaged over the valid pixels (sigmoid modes: two classes (0, z) per
    channel, averaged over the channels)."""
    if mode != "multiclass":
        z = np.stack([np.zeros_like(z), z], -1)
        y = np.stack([1.0 - y, y], -1)
    p = tempered_softmax_np(z, t2)
    with np.errstate(divide="ignore", invalid="ignore"):
        y_log_y = np.where(y > 0, y * log_t_np(np.where(y > 0, y, 1.0), t1), 0.0)
    terms = y_log_y - y * log_t_np(p, t1) - (y ** (2 - t1) - p ** (2 - t1)) / (2 - t1)
    pixel = terms.sum(-1)
    if mode != "multiclass":
        pixel = pixel.mean(-1)
    v = np.ones(pixel.shape) if v is None else v
    axes = tuple(range(1, pixel.ndim))
    return (v * pixel).sum(axes) / v.sum(axes)


def t_loss_np(p, y, log_nu, v=None, log_precision=0.0):
    """Paper Eq. 3 (Student-t NLL over the D valid entries, scale exp(-lambda) I), over D."""
    v = np.ones(p.shape[:-1]) if v is None else v
    axes = tuple(range(1, p.ndim))
    entries = v.sum(axes[:-1]) * p.shape[-1]
    squared = (v[..., None] * (p - y) ** 2).sum(axes)
    nu = np.exp(log_nu) + 1e-8
    nll = (-gammaln((nu + entries) / 2) + gammaln(nu / 2) + entries / 2 * np.log(np.pi * nu)
           - entries / 2 * log_precision
           + (nu + entries) / 2 * np.log1p(np.exp(log_precision) * squared / nu))
    return nll / entries


TEMPERATURES = [(0.8, 1.2), (0.5, 2.0), (0.3, 1.0), (1.0, 1.5), (0.8, 0.7), (0.2, 0.5)]

# --------------------------------------------------------------------------- bi-tempered


@pytest.mark.parametrize("t1,t2", TEMPERATURES)
@pytest.mark.parametrize("spatial", [(5, 6), (3, 4, 5)])
def test_bi_tempered_matches_reference(t1, t2, spatial):
    z = random_logits(0, (2, *spatial, 4), scale=2.0)
    y = random_labels(0, (2, *spatial), 4)
    # Converged normalisation (30 fixed-point steps / bisections) against the exact one.
    ours = bi_tempered(z, y, t1=t1, t2=t2, iterations=30)
    np.testing.assert_allclose(ours, bi_tempered_np(z, one_hot_np(y, 4), t1, t2),
                               rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["binary", "multilabel"])
def test_bi_tempered_sigmoid_modes_match_reference(mode):
    channels = 1 if mode == "binary" else 3
    z = random_logits(1, (2, 6, 5, channels))
    y = np.random.default_rng(1).uniform(size=z.shape)  # soft targets
    mask = np.random.default_rng(2).uniform(size=z.shape[:-1]) > 0.3
    ours = bi_tempered(z, y, t1=0.7, t2=1.3, mode=mode, iterations=30, mask=mask)
    ref = bi_tempered_np(z, y, 0.7, 1.3, mode=mode, v=mask.astype(np.float64))
    np.testing.assert_allclose(ours, ref, rtol=2e-5, atol=1e-6)


def test_bi_tempered_label_smoothing_ignore_index_and_mask():
    z = random_logits(2, (2, 5, 5, 3))
    y = random_labels(2, (2, 5, 5), 3)
    y[0, :2] = 255
    mask = np.random.default_rng(3).uniform(size=y.shape)
    a = 0.2
    ours = bi_tempered(z, y, t1=0.6, t2=1.4, label_smoothing=a, ignore_index=255, mask=mask,
                       iterations=30)
    kept = y != 255
    dense = one_hot_np(np.where(kept, y, 0), 3) * (1 - a) + a / 3
    ref = bi_tempered_np(z, dense, 0.6, 1.4, v=mask * kept)
    np.testing.assert_allclose(ours, ref, rtol=2e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("t1,t2", TEMPERATURES)
def test_bi_tempered_equals_the_authors_package_values_and_gradients(t1, t2):
    bitempered = pytest.importorskip("jax_bitempered_loss.loss")
    z = random_logits(4, (2, 4, 5, 4), scale=1.0)
    y = random_labels(4, (2, 4, 5), 4)
    dense = jax.nn.one_hot(y, 4)
    smoothing = 0.05 if t1 < 1 else 0.0  # theirs: (1 - K/(K-1) s) y + s/(K-1)

    def theirs(z):
        return bitempered.bi_tempered_logistic_loss(z, dense, t1, t2, smoothing, 5).mean((1, 2))

    def ours(z):  # 5 iterations, as their loss uses for both normalisations
        return bi_tempered_loss(z, y, t1=t1, t2=t2, iterations=5,
                                label_smoothing=smoothing * 4 / 3)

    np.testing.assert_allclose(ours(z), theirs(z), rtol=1e-6, atol=1e-6)
    g_ours = jax.grad(lambda z: ours(z).sum())(z)
    g_theirs = jax.grad(lambda z: theirs(z).sum())(z)
    # Their custom VJP divides by p^(t1 - t2), NaN where a finite-support class has p = 0.
    ok = np.isfinite(np.asarray(g_theirs)).all(-1)
    assert ok.mean() > 0.3
    # t2 < 1: five bisections leave sum p = 1 only within ~1e-2, where their closed-form
    # gradient and the derivative of the loss through the implicit normaliser differ slightly.
    atol = 1e-7 if t2 >= 1 else 1e-6
    np.testing.assert_allclose(np.asarray(g_ours)[ok], np.asarray(g_theirs)[ok], atol=atol)
    assert np.isfinite(np.asarray(g_ours)).all()


@pytest.mark.slow
def test_bi_tempered_binary_equals_the_authors_binary_loss():
    bitempered = pytest.importorskip("jax_bitempered_loss.loss")
    z = random_logits(5, (2, 4, 4, 1))
    y = random_labels(5, (2, 4, 4), 2)

    def theirs(z):
        return bitempered.bi_tempered_binary_logistic_loss(
            z[..., 0], y.astype(np.float32), 0.5, 1.5, 0.0, 5).mean((1, 2))

    def ours(z):
        return bi_tempered_loss(z, y, t1=0.5, t2=1.5, mode="binary", iterations=5)

    np.testing.assert_allclose(ours(z), theirs(z), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(jax.grad(lambda z: ours(z).sum())(z),
                               jax.grad(lambda z: theirs(z).sum())(z), atol=1e-7)


def test_bi_tempered_at_unit_temperatures_is_cross_entropy():
    z = random_logits(6, (2, 6, 6, 3))
    y = random_labels(6, (2, 6, 6), 3)
    np.testing.assert_allclose(bi_tempered(z, y, t1=1.0, t2=1.0), cross_entropy(z, y),
                               rtol=1e-5)
    soft = np.random.default_rng(6).dirichlet(np.ones(3), size=(2, 6, 6))
    entropy = -(soft * np.log(soft)).sum(-1).mean((1, 2))
    np.testing.assert_allclose(bi_tempered(z, soft, t1=1.0, t2=1.0),
                               cross_entropy(z, soft) - entropy, rtol=1e-5)


def test_bi_tempered_at_t1_zero_is_half_the_squared_error():
    z = random_logits(16, (2, 5, 5, 3))
    y = random_labels(16, (2, 5, 5), 3)
    p = np.asarray(tempered_softmax(z, t=1.5, iterations=30), np.float64)
    expected = 0.5 * ((one_hot_np(y, 3) - p) ** 2).sum(-1).mean((1, 2))
    np.testing.assert_allclose(bi_tempered(z, y, t1=0.0, t2=1.5, iterations=30), expected,
                               rtol=1e-5)


@pytest.mark.slow
def test_bi_tempered_perfect_prediction_and_boundedness():
    y = random_labels(7, (1, 4, 4), 3)
    sure = 1e4 * (2 * one_hot_np(y, 3) - 1).astype(np.float32)
    np.testing.assert_allclose(bi_tempered(sure, y, t1=0.8, t2=1.2), 0.0, atol=1e-5)
    wrong = -sure
    value = bi_tempered(wrong, y, t1=0.8, t2=1.2)
    # t1 < 1 bounds the loss: at most 1/(1 - t1) per pixel whatever the logits.
    assert np.all(value <= 1 / (1 - 0.8) + 1e-4), value
    assert_finite_value_and_grad(bi_tempered_loss, jnp.asarray(wrong), y, t1=0.8, t2=0.7)
    # soft labels, t2 = 1: the logits log y give p = y, a zero divergence
    soft = np.random.default_rng(7).dirichlet(np.ones(3), size=(1, 4, 4))
    np.testing.assert_allclose(bi_tempered(np.log(soft).astype(np.float32), soft, t1=0.5,
                                           t2=1.0), 0.0, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("t", [0.5, 1.0, 1.5, 3.0])
def test_tempered_softmax(t):
    a = random_logits(8, (7, 5))
    p = tempered_softmax(a, t=t, iterations=30)
    np.testing.assert_allclose(p, tempered_softmax_np(a, t), rtol=1e-5, atol=1e-6)
    if t == 1.0:
        np.testing.assert_allclose(p, softmax_np(a), rtol=1e-6)
    # The gradient is implicit: that of the exact normaliser, also after few iterations.
    exact = jax.jacobian(lambda a: tempered_softmax(a, t=t, iterations=30))(a[0])
    few = jax.jacobian(lambda a: tempered_softmax(a, t=t, iterations=5))(a[0])
    np.testing.assert_allclose(few, exact, atol=5e-3 if t < 1 else 1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("t2", [1.3, 0.8])
def test_bi_tempered_check_grads(t2):
    z = jnp.asarray(random_logits(9, (1, 3, 3, 3), scale=0.5))
    y = random_labels(9, (1, 3, 3), 3)
    check_grads(lambda z: bi_tempered_loss(z, y, t1=0.7, t2=t2, iterations=30), (z,), order=1,
                modes=["rev"], atol=2e-2, rtol=2e-2)


@pytest.mark.slow
def test_bi_tempered_conventions():
    z = random_logits(10, (3, 4, 5, 6, 3))
    y = random_labels(10, (3, 4, 5, 6), 3)
    assert_jit_matches_eager(bi_tempered_loss, z, y, t1=0.8, t2=1.2)
    batched = jax.jit(jax.vmap(lambda a, b: bi_tempered_loss(a[None], b[None])[0]))(z, y)
    np.testing.assert_allclose(batched, bi_tempered(z, y), rtol=1e-5)
    half = bi_tempered(jnp.asarray(z, jnp.bfloat16), y)
    assert half.dtype == jnp.float32 and half.shape == (3,)
    pixel = bi_tempered(z, y, reduction="pixel")
    assert pixel.shape == (3, 4, 5, 6)
    empty = np.zeros(y.shape, bool)
    value, grad = jax.jit(jax.value_and_grad(
        lambda z: bi_tempered_loss(z, y, mask=empty).sum()))(z)
    assert value == 0 and not np.any(grad)
    probs = softmax_np(z).astype(np.float32)
    np.testing.assert_allclose(bi_tempered(probs, y, t1=0.6, t2=1.0, from_logits=False),
                               bi_tempered(z, y, t1=0.6, t2=1.0), rtol=1e-4)


def test_bi_tempered_bad_options():
    z, y = np.zeros((1, 2, 2, 3), np.float32), np.zeros((1, 2, 2), np.int32)
    with pytest.raises(ValueError, match="t1"):
        bi_tempered_loss(z, y, t1=1.5)
    with pytest.raises(ValueError, match="t2"):
        bi_tempered_loss(z, y, t1=1.0, t2=0.5)
    with pytest.raises(ValueError, match="t2"):
        bi_tempered_loss(z, y, t2=0.0)
    with pytest.raises(ValueError, match="t1"):
        bi_tempered_loss(z, y, t1=-0.1)
    with pytest.raises(ValueError, match="t2"):
        bi_tempered_loss(np.full(z.shape, 1 / 3, np.float32), y, from_logits=False)
    with pytest.raises(ValueError, match="iterations"):
        bi_tempered_loss(z, y, iterations=0)
    with pytest.raises(ValueError, match="label_smoothing"):
        bi_tempered_loss(z, y, label_smoothing=1.5)
    with pytest.raises(TypeError, match="t1"):
        jax.jit(lambda t: bi_tempered_loss(z, y, t1=t))(0.5)
    with pytest.raises(TypeError, match="from_logits"):
        bi_tempered_loss(z, y, from_logits="no")


# --------------------------------------------------------------------------- T-loss


@pytest.mark.parametrize("mode", ["multiclass", "multilabel", "binary"])
@pytest.mark.parametrize("spatial", [(6, 7), (3, 4, 5)])
def test_t_loss_matches_reference(mode, spatial):
    channels = 1 if mode == "binary" else 3
    z = random_logits(11, (2, *spatial, channels))
    y = random_labels(11, (2, *spatial), 2 if mode == "binary" else 3)
    dense = y[..., None].astype(float) if mode == "binary" else one_hot_np(y, 3)
    p = softmax_np(z) if mode == "multiclass" else sigmoid_np(z)
    mask = np.random.default_rng(11).uniform(size=y.shape) > 0.2
    for log_nu in (-1.0, 1.0, 4.0):
        ours = tloss(z, y, mode=mode, log_nu=log_nu, mask=mask)
        ref = t_loss_np(p, dense, log_nu, v=mask.astype(float))
        np.testing.assert_allclose(ours, ref, rtol=2e-5, atol=1e-6)


def test_t_loss_authors_setting_and_precision():
    """Two-class softmax, foreground channel only, lambda = 1: the authors' code's setting."""
    z = random_logits(12, (2, 8, 8, 2))
    y = random_labels(12, (2, 8, 8), 2)
    ours = tloss(z, y, include_background=False, log_precision=1.0)
    ref = t_loss_np(softmax_np(z)[..., 1:], y[..., None].astype(float), 1.0, log_precision=1.0)
    np.testing.assert_allclose(ours, ref, rtol=2e-5)
    binary = tloss(z[..., 1:] - z[..., :1], y, mode="binary", log_precision=1.0)
    np.testing.assert_allclose(binary, ours, rtol=1e-5)


def test_t_loss_limits():
    z = random_logits(13, (2, 5, 5, 3))
    y = random_labels(13, (2, 5, 5), 3)
    p, g = softmax_np(z), one_hot_np(y, 3)
    # nu -> infinity: the Gaussian NLL per entry, 1/2 log(2 pi) + mean squared residual / 2
    # (the formula in float64; in float32 the log-gamma terms of a huge nu cancel, so ours is
    # compared to the formula at a large but moderate nu).
    gaussian = 0.5 * np.log(2 * np.pi) + 0.5 * ((p - g) ** 2).mean((1, 2, 3))
    np.testing.assert_allclose(t_loss_np(p, g, 25.0), gaussian, rtol=1e-5)
    np.testing.assert_allclose(tloss(z, y, log_nu=10.0), t_loss_np(p, g, 10.0), rtol=1e-4)
    np.testing.assert_allclose(tloss(z, y, log_nu=10.0), gaussian, rtol=2e-3)
    # Robustness: the gradient is the residual times the weight (nu + D) / (D (nu + S)), which
    # falls as the summed squared residual S grows (a Gaussian's weight is constant, 1 / D).
    r = np.random.default_rng(13).uniform(0, 0.5, size=(1, 6, 6, 1)).astype(np.float32)
    zeros = np.zeros((1, 6, 6), np.int32)
    nu, entries = np.exp(-1.0), r.size
    weights = []
    for scale in (0.2, 1.0, 2.0):
        grad = jax.grad(lambda q: t_loss(q, zeros, mode="binary", from_logits=False,
                                         log_nu=-1.0).sum())(scale * r)
        squared = ((scale * r) ** 2).sum()
        weight = (nu + entries) / (entries * (nu + squared))
        np.testing.assert_allclose(grad, weight * scale * r, rtol=1e-5)
        weights.append(weight)
    assert weights[0] > weights[1] > weights[2]


@pytest.mark.slow
def test_t_loss_learns_nu():
    z = jnp.asarray(random_logits(14, (1, 3, 3, 2), scale=1.0))
    y = random_labels(14, (1, 3, 3), 2)
    check_grads(lambda z, log_nu: t_loss(z, y, log_nu=log_nu), (z, jnp.float32(0.5)), order=1,
                modes=["rev"], atol=2e-2, rtol=2e-2)
    # One jitted step on a traced log_nu moves it against its gradient and lowers the loss.
    step = jax.jit(jax.value_and_grad(lambda log_nu: t_loss(z, y, log_nu=log_nu).mean()))
    value, grad = step(jnp.float32(1.0))
    assert np.isfinite(grad) and grad != 0
    assert step(jnp.float32(1.0) - 0.1 * grad)[0] < value


def test_t_loss_conventions():
    z = random_logits(15, (3, 4, 5, 6, 3))
    y = random_labels(15, (3, 4, 5, 6), 3)
    assert_jit_matches_eager(t_loss, z, y)
    batched = jax.jit(jax.vmap(lambda a, b: t_loss(a[None], b[None])[0]))(z, y)
    np.testing.assert_allclose(batched, tloss(z, y), rtol=1e-5)
    assert tloss(jnp.asarray(z, jnp.bfloat16), y).dtype == jnp.float32
    assert_finite_value_and_grad(tloss, jnp.asarray(np.sign(z) * 1e4), y)
    empty = np.zeros(y.shape, bool)
    value, grad = jax.jit(jax.value_and_grad(lambda z: t_loss(z, y, mask=empty).sum()))(z)
    assert value == 0 and not np.any(grad)
    ignored = tloss(z, np.where(y == 0, 255, y), ignore_index=255)
    np.testing.assert_allclose(ignored, tloss(z, y, mask=y != 0), rtol=1e-6)


def test_t_loss_bad_input():
    z, y = np.zeros((1, 2, 2, 3), np.float32), np.zeros((1, 2, 2), np.int32)
    with pytest.raises(ValueError, match="log_nu"):
        t_loss(z, y, log_nu=np.zeros(2))
    with pytest.raises(ValueError, match="log_nu"):
        t_loss(z, y, log_nu=np.nan)
    with pytest.raises(ValueError, match="log_precision"):
        t_loss(z, y, log_precision=np.inf)
    with pytest.raises(ValueError, match="predictions"):
        t_loss(z[0, 0], y)
    with pytest.raises(TypeError, match="include_background"):
        t_loss(z, y, include_background=1)
