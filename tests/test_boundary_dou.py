"""Boundary DoU loss: a NumPy reference from the paper and the authors' code (alpha from the
truth's boundary and area, clamped at 0.8; V-Net sums), SciPy's binary erosion for the boundary,
properties and the test standard.

The authors' PyTorch ``BoundaryDoULoss`` (sunfan-bvb/BoundaryDoULoss, TransUNet/utils.py; not a
package) was run on the same inputs outside the suite: with ``per_image=False`` (their batch
sums) values equal to 2e-7 and gradients to 6e-11 (2 and 4 classes, one class absent from an
image)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy import ndimage

from jaxseg_losses.region.boundary_dou import boundary_dou_loss, boundary_pixel_counts
from tests.helpers import (
    assert_finite_value_and_grad,
    assert_jit_matches_eager,
    blobs,
    one_hot_np,
    random_logits,
    sigmoid_np,
    softmax_np,
)
from tests.jit_cache import auto_jit

dou = auto_jit(boundary_dou_loss)


def counts_np(fg):
    """(boundary, area) of one boolean mask: the authors' cross convolution (zero padding)
    reaches 2d + 1 only at interior pixels."""
    cross = ndimage.generate_binary_structure(fg.ndim, 1).astype(int)
    hits = ndimage.convolve(fg.astype(int), cross, mode="constant", cval=0) * fg
    return float(np.count_nonzero(hits[hits != 2 * fg.ndim + 1])), float(fg.sum())


def dou_np(p, g, v=None, s=1e-5, alpha_max=0.8, per_image=True):
    """Paper Eq. 5-6 with the authors' alpha, per (example or batch, class), class mean."""
    v = np.ones(p.shape[:-1]) if v is None else v
    groups = range(p.shape[0]) if per_image else [slice(None)]
    out = []
    for b in groups:
        pb, gb, vb = p[b], g[b], v[b]
        losses = []
        for c in range(p.shape[-1]):
            fg = (gb[..., c] >= 0.5) & (vb > 0)
            boundary, area = (sum(t) for t in zip(*[counts_np(f) for f in np.reshape(
                fg, (-1,) + p.shape[1:-1])], strict=True))
            alpha = min(1 - 2 * (boundary + s) / (area + s), alpha_max)
            z, y = (vb * pb[..., c] ** 2).sum(), (vb * gb[..., c] ** 2).sum()
            inter = (vb * pb[..., c] * gb[..., c]).sum()
            losses.append((z + y - 2 * inter + s) / (z + y - (1 + alpha) * inter + s))
        out.append(np.mean(losses))
    return np.array(out) if per_image else np.full(p.shape[0], out[0])


@pytest.mark.parametrize("spatial", [(24, 20), (10, 12, 9)])
@pytest.mark.parametrize("per_image", [True, False])
def test_matches_reference(spatial, per_image):
    y = blobs(0, (2, *spatial), 3)
    z = random_logits(0, (2, *spatial, 3))
    ours = dou(z, y, per_image=per_image)
    np.testing.assert_allclose(ours, dou_np(softmax_np(z), one_hot_np(y, 3),
                                            per_image=per_image), rtol=1e-5)


@pytest.mark.parametrize("mode", ["binary", "multilabel"])
def test_sigmoid_modes_mask_and_alpha_max(mode):
    channels = 1 if mode == "binary" else 2
    y = np.stack([blobs(c + 1, (2, 20, 18), 2) for c in range(channels)], -1)
    z = random_logits(1, (2, 20, 18, channels))
    mask = np.random.default_rng(1).uniform(size=(2, 20, 18)) > 0.2
    for alpha_max in (0.8, 1.0, 0.0):
        ours = dou(z, y.astype(np.float32), mode=mode, mask=mask, alpha_max=alpha_max)
        ref = dou_np(sigmoid_np(z), y.astype(float), v=mask.astype(float), alpha_max=alpha_max)
        np.testing.assert_allclose(ours, ref, rtol=1e-5)


@pytest.mark.parametrize("ndim", [2, 3])
def test_boundary_counts_equal_scipy_erosion(ndim):
    fg = np.stack([blobs(ndim + k, (1, *(12,) * ndim), 2)[0] == 1 for k in range(3)], -1)[None]
    boundary, area = boundary_pixel_counts(fg)
    for c in range(3):
        cross = ndimage.generate_binary_structure(ndim, 1)
        interior = ndimage.binary_erosion(fg[0, ..., c], cross, border_value=0)
        assert area[0, c] == fg[0, ..., c].sum()
        assert boundary[0, c] == fg[0, ..., c].sum() - interior.sum()
    full = np.ones((1, 5, 5, 1), bool)  # the image border is background: 16 boundary pixels
    assert boundary_pixel_counts(full)[0][0, 0] == 16


@pytest.mark.slow
def test_properties_perfect_absent_and_empty():
    y = blobs(3, (2, 16, 16), 3)
    y[1][y[1] == 2] = 0  # class 2 absent from example 1
    perfect = one_hot_np(y, 3).astype(np.float32)
    per_class = dou(perfect, y, from_logits=False, reduction="class")
    np.testing.assert_allclose(per_class[0], 0.0, atol=1e-6)
    # the absent class scores 1 whatever the prediction (the authors' value)...
    np.testing.assert_allclose(per_class[1], [0.0, 0.0, 1.0], atol=1e-6)
    # ...or leaves the mean
    np.testing.assert_allclose(dou(perfect, y, from_logits=False, absent_classes="exclude"),
                               0.0, atol=1e-6)
    np.testing.assert_allclose(dou(perfect, y, from_logits=False, smooth=0.0,
                                   absent_classes="zero"), 0.0, atol=1e-6)
    z = random_logits(3, (2, 16, 16, 3))
    empty = np.zeros(y.shape, bool)
    value, grad = jax.value_and_grad(lambda z: boundary_dou_loss(z, y, mask=empty).sum())(z)
    assert np.all(np.isfinite(value)) and not np.any(grad)
    # a worse prediction costs more
    assert np.all(dou(z, y) > dou(z + 5 * perfect, y))


@pytest.mark.slow
def test_check_grads_and_conventions():
    y = blobs(4, (2, 6, 7, 5), 3)
    z = random_logits(4, (2, 6, 7, 5, 3))
    check_grads(jax.jit(lambda z: boundary_dou_loss(z, y)), (jnp.asarray(z) / 3,), order=1,
                modes=["rev"], atol=1e-2, rtol=1e-2)
    assert_jit_matches_eager(boundary_dou_loss, z, y)
    batched = jax.jit(jax.vmap(lambda a, b: boundary_dou_loss(a[None], b[None])[0]))(z, y)
    np.testing.assert_allclose(batched, dou(z, y), rtol=1e-5)
    half = dou(jnp.asarray(z, jnp.bfloat16), y)
    assert half.dtype == jnp.float32 and half.shape == (2,)
    assert_finite_value_and_grad(dou, jnp.asarray(np.sign(z) * 1e4), y)
    ignored = dou(z, np.where(y == 1, 255, y), ignore_index=255)
    np.testing.assert_allclose(ignored, dou(z, y, mask=y != 1), rtol=1e-6)
    assert dou(z, y, reduction="class").shape == (2, 3)
    assert dou(z, y, include_background=False, reduction="class").shape == (2, 2)


def test_bad_options():
    z, y = np.zeros((1, 4, 4, 3), np.float32), np.zeros((1, 4, 4), np.int32)
    with pytest.raises(ValueError, match="alpha_max"):
        boundary_dou_loss(z, y, alpha_max=1.5)
    with pytest.raises(ValueError, match="absent_classes"):
        boundary_dou_loss(z, y, absent_classes="drop")
    with pytest.raises(ValueError, match="smooth"):
        boundary_dou_loss(z, y, smooth=-1.0)
    with pytest.raises(ValueError, match="reduction"):
        boundary_dou_loss(z, y, reduction="pixel")
    with pytest.raises(TypeError, match="per_image"):
        boundary_dou_loss(z, y, per_image=None)
