"""NACL (neighbour-aware calibration loss): a NumPy reference written from the paper's formula,
the cross-check against MONAI's NACLLoss (2-D and 3-D, both kernels, both distances) and the
option checks. The shared conventions run from the rows "nacl" and "nacl_gaussian_l2" of
tests/cases.py."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg_losses import cross_entropy, nacl_loss
from jaxseg_losses.pixelwise.calibration import nacl_kernel
from tests.helpers import C, channels_first, monai_loss, one_hot_np, random_labels, random_logits


def ref_weights(kernel, size, sigma):
    """1-D weights: a box of ``size`` (1/size each) or the Gaussian's mass per pixel on
    |x| <= floor(4 sigma + 1/2)."""
    if kernel == "mean":
        return np.full(size, 1.0 / size), (size - 1) // 2
    tail = int(4 * sigma + 0.5)
    w = [0.5 * (math.erf((x + 0.5) / (sigma * math.sqrt(2)))
                - math.erf((x - 0.5) / (sigma * math.sqrt(2)))) for x in range(-tail, tail + 1)]
    return np.array(w), tail


def ref_soft_labels(g, kernel, size=3, sigma=1.0):
    """tau_c(x) = sum over the window of K(o) g_c(x + o), zeros outside the image."""
    w, before = ref_weights(kernel, size, sigma)
    spatial = g.shape[1:-1]
    pad = [(0, 0)] + [(before, len(w) - 1 - before)] * len(spatial) + [(0, 0)]
    padded = np.pad(g, pad)
    tau = np.zeros_like(g)
    for offset in itertools.product(range(len(w)), repeat=len(spatial)):
        weight = np.prod([w[o] for o in offset])
        window = tuple(slice(o, o + n) for o, n in zip(offset, spatial, strict=True))
        tau += weight * padded[(slice(None), *window, slice(None))]
    return tau


def ref_nacl(z, g, valid, kernel="mean", size=3, sigma=1.0, alpha=0.1, distance="l1",
             targets=None):
    """Per example: sum_x v [CE + alpha mean_c d(tau_c, z_c)] / sum_x v (float64)."""
    z = z.astype(np.float64)
    log_p = z - z.max(-1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(-1, keepdims=True))
    ce = -(g * log_p).sum(-1)
    tau = ref_soft_labels(g if targets is None else targets, kernel, size, sigma)
    gap = tau - z
    penalty = (np.abs(gap) if distance == "l1" else gap**2).mean(-1)
    pixel = ce + alpha * penalty
    axes = tuple(range(1, pixel.ndim))
    return (valid * pixel).sum(axes) / valid.sum(axes)


@pytest.mark.parametrize("spatial", [(7, 6), (4, 5, 3)], ids=["2d", "3d"])
@pytest.mark.parametrize(("kernel", "size", "distance"),
                         [("mean", 3, "l1"), ("mean", 4, "l2"), ("gaussian", None, "l1"),
                          ("gaussian", None, "l2")])
def test_matches_reference(spatial, kernel, size, distance):
    z = random_logits(0, (2, *spatial, C), scale=2.0)
    y = random_labels(0, (2, *spatial), C)
    g = one_hot_np(y, C)
    mask = np.random.default_rng(1).random(y.shape) > 0.3
    options = {"kernel": kernel, "kernel_size": size, "sigma": 0.8, "alpha": 0.3,
               "distance": distance}
    ref_options = {"kernel": kernel, "size": size, "sigma": 0.8, "alpha": 0.3,
                   "distance": distance}
    loss = jax.jit(lambda p, t, m: nacl_loss(p, t, mask=m, **options))
    ones = np.ones(y.shape)
    np.testing.assert_allclose(loss(z, y, ones), ref_nacl(z, g, ones, **ref_options),
                               rtol=1e-5, atol=1e-6)
    # A mask weighs the terms; the masked pixels keep their class in tau.
    np.testing.assert_allclose(loss(z, y, mask), ref_nacl(z, g, mask, **ref_options),
                               rtol=1e-5, atol=1e-6)
    # Soft targets are smoothed as they are.
    soft = 0.7 * g + 0.1
    np.testing.assert_allclose(loss(z, soft.astype(np.float32), ones),
                               ref_nacl(z, soft, ones, **ref_options), rtol=1e-5, atol=1e-6)


def test_ignore_index_removes_the_pixel_and_its_class_from_tau():
    z = random_logits(2, (2, 6, 5, C), scale=2.0)
    y = random_labels(2, (2, 6, 5), C)
    ignored = np.zeros(y.shape, bool)
    ignored[:, 1:3, 2] = True
    g = one_hot_np(y, C) * ~ignored[..., None]  # an ignored pixel has no class
    got = nacl_loss(z, np.where(ignored, 255, y), ignore_index=255)
    np.testing.assert_allclose(got, ref_nacl(z, g, (~ignored).astype(float)), rtol=1e-5)
    pixel = nacl_loss(z, np.where(ignored, 255, y), ignore_index=255, reduction="pixel")
    assert pixel.shape == y.shape and np.all(np.asarray(pixel)[ignored] == 0.0)


@pytest.mark.slow
def test_alpha_zero_is_cross_entropy_and_tau_has_no_gradient():
    z = random_logits(3, (2, 5, 6, C))
    y = random_labels(3, (2, 5, 6), C)
    np.testing.assert_allclose(nacl_loss(z, y, alpha=0.0), cross_entropy(z, y), rtol=1e-6)
    # The penalty's gradient is alpha * sign(z - tau) / (C N) per logit: tau is a constant.
    grad = jax.grad(lambda p: nacl_loss(p, y, alpha=1.0).sum())(jnp.asarray(z))
    ce_grad = jax.grad(lambda p: cross_entropy(p, y).sum())(jnp.asarray(z))
    tau = ref_soft_labels(one_hot_np(y, C), "mean")
    want = np.sign(z - tau) / (C * 5 * 6)
    np.testing.assert_allclose(grad - ce_grad, want, rtol=1e-4, atol=1e-7)


@pytest.mark.slow
@pytest.mark.parametrize("spatial", [(7, 6), (5, 4, 6)], ids=["2d", "3d"])
def test_matches_monai(spatial):
    torch = pytest.importorskip("torch")
    z = random_logits(4, (2, *spatial, C), scale=2.0)
    y = random_labels(4, (2, *spatial), C)
    worst = 0.0
    for kernel, size, distance in [("mean", 3, "l1"), ("mean", 3, "l2"), ("mean", 4, "l1"),
                                   ("gaussian", None, "l1"), ("gaussian", None, "l2")]:
        monai = monai_loss("NACLLoss", classes=C, dim=len(spatial), kernel_size=size or 3,
                           kernel_ops=kernel, distance_type=distance, alpha=0.3, sigma=1.2)
        want = monai(channels_first(z), torch.from_numpy(y.astype(np.int64))).item()
        got = nacl_loss(z, y, kernel=kernel, kernel_size=size, distance=distance, alpha=0.3,
                        sigma=1.2)
        assert got.shape == (2,)
        worst = max(worst, abs(float(got.mean()) - want) / abs(want))
    assert worst < 1e-5, worst  # MONAI's scalar is the mean over the batch


def test_kernels_and_option_errors():
    np.testing.assert_allclose(nacl_kernel(kernel_size=5), np.full(5, 0.2))
    np.testing.assert_allclose(nacl_kernel(kernel="gaussian", sigma=0.8),
                               ref_weights("gaussian", 0, 0.8)[0])
    z, y = random_logits(5, (1, 4, 4, C)), random_labels(5, (1, 4, 4), C)
    with pytest.raises(ValueError, match="kernel_size: only for kernel='mean'"):
        nacl_loss(z, y, kernel="gaussian", kernel_size=3)
    with pytest.raises(ValueError, match="kernel_size: expected an integer >= 1"):
        nacl_loss(z, y, kernel_size=0)
    for size in (2.5, True):
        with pytest.raises(TypeError, match="kernel_size: expected an integer"):
            nacl_loss(z, y, kernel_size=size)
    with pytest.raises(ValueError, match="kernel: expected one of"):
        nacl_loss(z, y, kernel="box")
    with pytest.raises(ValueError, match="distance: expected one of"):
        nacl_loss(z, y, distance="l3")
    with pytest.raises(ValueError, match="sigma: expected a value > 0"):
        nacl_loss(z, y, kernel="gaussian", sigma=0.0)
    with pytest.raises(TypeError, match="sigma: expected a concrete number"):
        jax.jit(lambda s: nacl_loss(z, y, kernel="gaussian", sigma=s))(1.0)
    with pytest.raises(ValueError, match="mode='multiclass' .* needs C >= 2"):
        nacl_loss(z[..., :1], y)
