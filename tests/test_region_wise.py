"""Region-wise loss: NumPy/SciPy references of the RRW and boundary maps and of the loss (paper
Eq. 5 and 9), properties and the test standard.

The authors' PyTorch ``RWLoss`` and ``BoundaryLoss`` (jmlipman/RegionWiseLoss,
nnUNet/training/loss_functions/rwexp_loss.py; not a package) were run on the same inputs outside
the suite (2-D (3, 24, 20) and 3-D (2, 10, 12, 9), 3 classes): values equal to 5e-8 (rrw) and
1.2e-7 (boundary), gradients to 6e-11."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy import ndimage

from jaxseg_losses.region_wise import region_wise_loss, region_wise_map
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

rw_loss = auto_jit(region_wise_loss)


def rrw_np(g, sampling=None):
    """Paper Eq. 9 per (example, class): -edt / max inside, 1 outside; a full class is -1."""
    z = np.ones(g.shape)
    for b in range(g.shape[0]):
        for c in range(g.shape[-1]):
            inside = g[b, ..., c] >= 0.5
            if inside.all():
                z[b, ..., c] = -1.0
            elif inside.any():
                d = ndimage.distance_transform_edt(inside, sampling=sampling)
                z[b, ..., c] = np.where(inside, -d / d.max(), 1.0)
    return z


def boundary_map_np(g):
    """Kervadec's signed distance map as the authors compute it: +edt outside, -edt inside."""
    z = np.zeros(g.shape)
    for b in range(g.shape[0]):
        for c in range(g.shape[-1]):
            inside = g[b, ..., c] >= 0.5
            if inside.any() and not inside.all():
                z[b, ..., c] = (ndimage.distance_transform_edt(~inside) * ~inside
                                - ndimage.distance_transform_edt(inside) * inside)
    return z


def rw_np(p, z, v=None, w=None):
    v = np.ones(p.shape[:-1]) if v is None else v
    w = np.ones(p.shape[-1]) if w is None else w
    pixel = (p * z * w).sum(-1) / w.sum()
    axes = tuple(range(1, pixel.ndim))
    return (v * pixel).sum(axes) / v.sum(axes)


@pytest.mark.slow
@pytest.mark.parametrize("spatial", [(24, 20), (10, 12, 9)])
@pytest.mark.parametrize("kind", ["rrw", "boundary"])
def test_matches_reference(spatial, kind):
    y = blobs(0, (2, *spatial), 3)
    y[1][y[1] == 2] = 0  # an absent class
    z = random_logits(0, (2, *spatial, 3))
    g = one_hot_np(y, 3)
    maps = rrw_np(g) if kind == "rrw" else boundary_map_np(g)
    np.testing.assert_allclose(region_wise_map(g, kind=kind), maps, atol=1e-5)
    np.testing.assert_allclose(rw_loss(z, y, kind=kind), rw_np(softmax_np(z), maps), rtol=1e-5,
                               atol=1e-7)


def test_anisotropic_sampling_full_class_and_sigmoid_modes():
    y = blobs(1, (2, 16, 14), 2)[..., None].astype(np.float32)
    y[1] = 1.0  # a class filling the image: -1 everywhere
    sampling = (2.0, 0.5)
    maps = region_wise_map(y, sampling=sampling)
    np.testing.assert_allclose(maps, rrw_np(y, sampling=sampling), atol=1e-5)
    z = random_logits(1, (2, 16, 14, 1))
    mask = np.random.default_rng(1).uniform(size=(2, 16, 14))
    ours = rw_loss(z, y, mode="binary", sampling=sampling, mask=mask)
    np.testing.assert_allclose(ours, rw_np(sigmoid_np(z), rrw_np(y, sampling), v=mask),
                               rtol=1e-5)
    multi = np.stack([blobs(k, (2, 16, 14), 2) for k in range(3)], -1).astype(np.float32)
    zm = random_logits(2, (2, 16, 14, 3))
    np.testing.assert_allclose(rw_loss(zm, multi, mode="multilabel"),
                               rw_np(sigmoid_np(zm), rrw_np(multi)), rtol=1e-5, atol=1e-7)


def test_class_weights_include_background_and_own_maps():
    y = blobs(2, (2, 18, 18), 3)
    z = random_logits(2, (2, 18, 18, 3))
    p, g = softmax_np(z), one_hot_np(y, 3)
    w = np.array([0.2, 1.0, 3.0])
    np.testing.assert_allclose(rw_loss(z, y, class_weights=w),
                               rw_np(p, rrw_np(g), w=w), rtol=1e-5)
    np.testing.assert_allclose(rw_loss(z, y, include_background=False),
                               rw_np(p[..., 1:], rrw_np(g)[..., 1:]), rtol=1e-5)
    own = np.random.default_rng(2).normal(size=z.shape).astype(np.float32)
    np.testing.assert_allclose(rw_loss(z, y, maps=own), rw_np(p, own), rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_perfect_prediction_is_the_minimum_and_bounds():
    y = blobs(3, (3, 20, 20), 4)
    g = one_hot_np(y, 4)
    perfect = rw_loss(g.astype(np.float32), y, from_logits=False)
    np.testing.assert_allclose(perfect, (rrw_np(g) * g).sum(-1).mean((1, 2)) / 4, rtol=1e-5)
    for seed in range(3):
        z = random_logits(seed, g.shape, scale=4.0)
        value = rw_loss(z, y)
        assert np.all(value > perfect) and np.all(np.abs(value) <= 1.0)
    # the gradient of a wrong confident pixel pushes towards the truth
    z = jnp.asarray(random_logits(4, g.shape))
    grad = jax.grad(lambda z: region_wise_loss(z, y).sum())(z)
    true_class = np.take_along_axis(np.asarray(grad), y[..., None], -1)[..., 0]
    assert np.mean(true_class < 0) > 0.95


@pytest.mark.slow
def test_check_grads_and_conventions():
    y = blobs(5, (2, 6, 7, 5), 3)
    z = random_logits(5, (2, 6, 7, 5, 3))
    check_grads(jax.jit(lambda z: region_wise_loss(z, y)), (jnp.asarray(z),), order=1,
                modes=["rev"], atol=1e-2, rtol=1e-2)
    assert_jit_matches_eager(region_wise_loss, z, y)
    batched = jax.jit(jax.vmap(lambda a, b: region_wise_loss(a[None], b[None])[0]))(z, y)
    np.testing.assert_allclose(batched, rw_loss(z, y), rtol=1e-5, atol=1e-7)
    half = rw_loss(jnp.asarray(z, jnp.bfloat16), y)
    assert half.dtype == jnp.float32 and half.shape == (2,)
    assert_finite_value_and_grad(rw_loss, jnp.asarray(np.sign(z) * 1e4), y)
    empty = np.zeros(y.shape, bool)
    value, grad = jax.jit(jax.value_and_grad(lambda z: region_wise_loss(z, y, mask=empty).sum()))(
        z)
    assert value == 0 and not np.any(grad)
    assert rw_loss(z, y, reduction="pixel").shape == y.shape
    ignored = rw_loss(z, np.where(y == 1, 255, y), ignore_index=255)
    assert np.all(np.isfinite(ignored))


def test_bad_options():
    z, y = np.zeros((1, 4, 4, 3), np.float32), np.zeros((1, 4, 4), np.int32)
    with pytest.raises(ValueError, match="kind"):
        region_wise_loss(z, y, kind="rw")
    with pytest.raises(ValueError, match="maps"):
        region_wise_loss(z, y, maps=np.zeros((1, 4, 4, 2)))
    with pytest.raises(ValueError, match="reduction"):
        region_wise_loss(z, y, reduction="class")
    with pytest.raises(ValueError, match="sampling"):
        region_wise_loss(z, y, sampling=(1.0, -1.0))
    with pytest.raises(ValueError, match="class_weights"):
        region_wise_loss(z, y, class_weights=np.ones(2))
    with pytest.raises(TypeError, match="include_background"):
        region_wise_loss(z, y, include_background="yes")
