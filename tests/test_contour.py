"""Erosion-based Hausdorff loss: NumPy/SciPy reference, kornia cross-check, the test standard."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.experimental import checkify
from scipy import ndimage

from jaxseg_losses.contour import hausdorff_erosion_loss
from tests import helpers
from tests.helpers import (
    one_hot_np,
    random_labels,
    random_logits,
)
from tests.jit_cache import eager_calls, jitted, jl

# Compiled once per options and shapes (tests/jit_cache.py): eager calls cost seconds.

C = 3


erosion_loss = hausdorff_erosion_loss.__wrapped__  # the function inside its option decorators

def ref_her(p, g, alpha=2.0, iterations=10, v=None):
    """Karimi & Salcudean's erosion with SciPy's convolution, per (example, channel)."""
    out = np.zeros(p.shape[0])
    v = np.ones(p.shape[:-1]) if v is None else v
    for b in range(p.shape[0]):
        per_class = []
        for c in range(p.shape[-1]):
            f = np.where(v[b] > 0, (p[b, ..., c] - g[b, ..., c]) ** 2, 0.0)
            n = f.ndim
            kernel = ndimage.generate_binary_structure(n, 1) / (2 * n + 1)
            total = np.zeros_like(f)
            for k in range(1, iterations + 1):
                e = np.maximum(ndimage.convolve(f, kernel, mode="constant") - 0.5, 0)
                if e.max() > e.min():
                    e = (e - e.min()) / (e.max() - e.min())
                total += k**alpha * e
                f = e
            per_class.append((v[b] * total).sum() / v[b].sum())
        out[b] = np.mean(per_class)
    return out


def blob_labels(seed, shape, num_classes):
    """Median-filtered random labels: blobs, not noise."""
    y = random_labels(seed, shape, num_classes)
    return ndimage.median_filter(y, size=(1,) + (3,) * (len(shape) - 1))


def inputs(seed, shape, mode="multiclass", scale=3.0):
    return helpers.inputs(seed, shape, mode, scale, labels=blob_labels)


@pytest.mark.parametrize("shape", [(2, 12, 10), (2, 6, 7, 5), (2, 15)])
def test_matches_reference(shape):
    z, y, p, g = inputs(1, shape)
    np.testing.assert_allclose(jl.hausdorff_erosion_loss(z, y), ref_her(p, g), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jl.hausdorff_erosion_loss(z, y, alpha=1.0, iterations=4),
                               ref_her(p, g, 1.0, 4), rtol=1e-5, atol=1e-6)


def test_options_match_reference():
    z, y, p, g = inputs(2, (2, 12, 10))
    v = (np.random.default_rng(2).uniform(size=y.shape) > 0.2).astype(float)
    np.testing.assert_allclose(jl.hausdorff_erosion_loss(z, y, mask=v), ref_her(p, g, v=v),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jl.hausdorff_erosion_loss(z, y, include_background=False),
                               ref_her(p[..., 1:], g[..., 1:]), rtol=1e-5, atol=1e-6)
    zb, yb, pb, gb = inputs(3, (2, 12, 10), mode="binary")
    np.testing.assert_allclose(jl.hausdorff_erosion_loss(zb, yb, mode="binary"), ref_her(pb, gb),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 12, 10), (2, 6, 7, 5)])
def test_matches_kornia(shape):
    torch = pytest.importorskip("torch")
    kornia = pytest.importorskip("kornia", reason="kornia is optional (pip install kornia)")
    cls = kornia.losses.HausdorffERLoss if len(shape) == 3 else kornia.losses.HausdorffERLoss3D
    z, y, p, _ = inputs(4, shape)
    ref = cls(alpha=2.0, k=10, reduction="none")(torch.tensor(p).movedim(-1, 1),
                                                 torch.tensor(y[:, None]).long()).numpy()
    per_example = ref.mean(axis=tuple(i for i in range(ref.ndim) if i != 1))  # (C, B, 1, ...)
    np.testing.assert_allclose(jl.hausdorff_erosion_loss(z, y), per_example, rtol=1e-5, atol=1e-6)
    mean = cls(alpha=1.5, k=5)(torch.tensor(p).movedim(-1, 1), torch.tensor(y[:, None]).long())
    np.testing.assert_allclose(jl.hausdorff_erosion_loss(z, y, alpha=1.5, iterations=5).mean(),
                               mean.numpy(), rtol=1e-5)


def test_empty_masks_and_excluded_pixels():
    empty = np.zeros((2, 8, 7), np.int32)
    nothing = np.zeros((2, 8, 7, 1), np.float32)
    binary = jitted(jl.hausdorff_erosion_loss, mode="binary", from_logits=False)
    value, grad = jax.value_and_grad(lambda p: binary(p, empty).sum())(jnp.asarray(nothing))
    assert float(value) == 0.0 and np.all(np.isfinite(np.asarray(grad)))
    assert np.all(np.asarray(binary(nothing + 1, empty)) > 1)
    z, y, _, _ = inputs(6, (2, 8, 7))
    f = jitted(jl.hausdorff_erosion_loss)
    value, grad = jax.value_and_grad(lambda p: f(p, y, mask=np.zeros(y.shape)).sum())(z)
    assert float(value) == 0.0 and np.all(np.asarray(grad) == 0)
    ignored = np.zeros(y.shape, bool)
    ignored[:, :2] = True
    y_ign = np.where(ignored, 7, y)
    f = jitted(jl.hausdorff_erosion_loss, ignore_index=7)
    base = f(z, y_ign)
    np.testing.assert_allclose(f(np.where(ignored[..., None], -z, z), y_ign), base, rtol=1e-6)
    grad = jax.grad(lambda p: f(p, y_ign).sum())(z)
    assert np.all(np.asarray(grad)[ignored] == 0)


@eager_calls()  # value errors are raised by eager calls
def test_bad_calls_raise_clear_errors():
    z, y, _, _ = inputs(7, (2, 6, 5))
    with pytest.raises(ValueError, match="iterations: expected an integer >= 1"):
        jl.hausdorff_erosion_loss(z, y, iterations=0)
    with pytest.raises(TypeError, match="iterations: expected an int"):
        jl.hausdorff_erosion_loss(z, y, iterations=2.0)
    with pytest.raises(ValueError, match="alpha: expected a value >= 0"):
        jl.hausdorff_erosion_loss(z, y, alpha=-1.0)
    with pytest.raises(ValueError, match=r"labels: expected class indices of shape"):
        jl.hausdorff_erosion_loss(z, y[:, :2])
    bad = y.copy()
    bad[0, 0, 0] = 3
    with pytest.raises(ValueError, match=r"class indices must lie in \[0, 2\]"):
        jl.hausdorff_erosion_loss(z, bad)
    err, _ = checkify.checkify(jax.jit(jl.hausdorff_erosion_loss), errors=checkify.user_checks)(
        z, bad)
    assert "class indices must lie" in err.get()


@jax.jit
def _property_values(z, y, g):
    return {
        "loss": jl.hausdorff_erosion_loss(z, y),
        "alpha0": jl.hausdorff_erosion_loss(z, y, alpha=0.0),
        "alpha1": jl.hausdorff_erosion_loss(z, y, alpha=1.0),
        "perfect": jl.hausdorff_erosion_loss(g, y, from_logits=False),
    }


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 20.0))
def test_properties(seed, scale):
    z = random_logits(seed, (2, 8, 7, C), scale)
    y = random_labels(seed, (2, 8, 7), C)
    g = one_hot_np(y, C).astype(np.float32)
    out = {k: np.asarray(v) for k, v in _property_values(z, y, g).items()}
    assert np.all(out["loss"] >= 0)
    # Weights k^alpha >= 1 grow with alpha, and every eroded map is >= 0.
    assert np.all(out["alpha0"] <= out["alpha1"] + 1e-5)
    assert np.all(out["alpha1"] <= out["loss"] + 1e-5)
    np.testing.assert_allclose(out["perfect"], 0.0, atol=1e-6)


# --------------------------------------------------------------------------- plane-wise memory


def all_classes_her(z, labels, v, alpha, iterations):
    """The loss as written before the plane-by-plane loop (issue 29): every class at once."""
    from jaxseg_losses.contour import _erode  # noqa: PLC0415

    y = jax.nn.one_hot(labels, z.shape[-1])
    valid = v[..., None]
    bound = jnp.where(valid > 0, (jax.nn.softmax(z) - y) ** 2, 0.0)
    total = jnp.zeros_like(bound)
    for k in range(1, iterations + 1):
        bound = _erode(bound)
        total = total + k**alpha * bound
    axes = tuple(range(1, z.ndim - 1))
    return jnp.mean(jnp.sum(total * valid, axes) / jnp.sum(valid, axes))


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(2, 12, 10), (2, 6, 7, 5)])
@pytest.mark.parametrize("chunk", [None, 1, 4])  # at most this many of the 6 planes per step
def test_plane_by_plane_equals_all_classes_at_once(shape, chunk, monkeypatch):
    """Value and gradient of the plane-by-plane loop (map_planes) equal the all-classes form."""
    z, y, _, _ = inputs(4, shape)
    v = (np.random.default_rng(1).random(shape) > 0.2).astype(np.float32)

    def ours(z):
        return jnp.mean(erosion_loss(z, y, mask=v, alpha=1.5, iterations=6))

    def ref(z):
        return all_classes_her(z, y, v, 1.5, 6)

    helpers.assert_plane_loop_matches(ours, ref, z, chunk=chunk, pixels=int(np.prod(shape[1:])),
                                      monkeypatch=monkeypatch)
