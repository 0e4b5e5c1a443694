"""Distance-based losses against MONAI and NumPy/SciPy references, plus the test standard."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from jaxseg_losses import (
    boundary_weight_map,
    cross_entropy,
    signed_distance_map,
)
from jaxseg_losses.boundary import hausdorff_dt_loss
from tests import helpers
from tests.helpers import (
    assert_finite_value_and_grad,
    blobs,
    channels_first,
    monai_loss,
    one_hot_np,
    random_logits,
    sigmoid_np,
    softmax_np,
)
from tests.jit_cache import jl

C = 3


raw_hd_dt = hausdorff_dt_loss.__wrapped__  # the function inside its option decorators

# --------------------------------------------------------------------------- boundary loss


@pytest.mark.parametrize("shape", [(2, 14, 12), (2, 7, 8, 6)])
@pytest.mark.parametrize("include_background", [True, False])
def test_boundary_loss_matches_monai(shape, include_background):
    z, y = random_logits(0, shape + (C,)), blobs(0, shape, C)
    ours = jl.boundary_loss(z, y, include_background=include_background)
    loss = monai_loss("BoundaryLoss", softmax=True, include_background=include_background,
                      reduction="none")
    ref = loss(channels_first(z), channels_first(one_hot_np(y, C))).numpy()
    ref = ref.reshape(shape[0], -1).mean(-1)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)


def test_boundary_loss_identity_for_binary_predictions():
    """L(s) - L(g) = mean |phi| over the pixels where s and g differ (Kervadec et al.)."""
    y, s = blobs(1, (1, 16, 16), C), blobs(2, (1, 16, 16), C)
    g_hot, s_hot = one_hot_np(y, C), one_hot_np(s, C)
    phi = np.asarray(signed_distance_map(y, num_classes=C))
    at_truth = jl.boundary_loss(g_hot, y, from_logits=False)
    at_other = jl.boundary_loss(s_hot, y, from_logits=False)
    expected = (np.abs(phi) * (s_hot != g_hot)).mean()
    np.testing.assert_allclose(at_other - at_truth, [expected], rtol=1e-5)
    assert float(at_other[0]) >= float(at_truth[0])


def test_boundary_loss_empty_and_full_classes_contribute_zero():
    y = np.zeros((2, 8, 8), np.int32)  # class 0 fills the image, classes 1-2 are absent
    z = random_logits(3, (2, 8, 8, C))
    np.testing.assert_array_equal(jl.boundary_loss(z, y), [0.0, 0.0])
    assert_finite_value_and_grad(jl.boundary_loss, jnp.asarray(z), y)


def test_boundary_loss_precomputed_maps_and_sampling():
    z, y = random_logits(4, (2, 10, 9, C)), blobs(4, (2, 10, 9), C)
    maps = signed_distance_map(y, num_classes=C, sampling=(2.0, 0.5))
    np.testing.assert_allclose(
        jl.boundary_loss(z, y, distance_maps=maps), jl.boundary_loss(z, y, sampling=(2.0, 0.5))
    )
    with pytest.raises(ValueError, match=r"distance_maps: expected shape"):
        jl.boundary_loss(z, y, distance_maps=maps[..., :2])


# --------------------------------------------------------------------------- Hausdorff DT


@pytest.mark.parametrize("shape", [(2, 12, 13), (2, 6, 7, 8)])
@pytest.mark.parametrize("include_background", [True, False])
def test_hausdorff_dt_matches_monai(shape, include_background):
    z, y = random_logits(5, shape + (C,)), blobs(5, shape, C)
    ours = jl.hausdorff_dt_loss(z, y, include_background=include_background)
    loss = monai_loss("HausdorffDTLoss", softmax=True, include_background=include_background,
                      reduction="none")
    ref = loss(channels_first(z), channels_first(one_hot_np(y, C))).numpy()
    per_class = ref.reshape(ref.shape[0], ref.shape[1], -1).mean(-1)  # (B, C_kept)
    np.testing.assert_allclose(ours, per_class.mean(-1), rtol=1e-5)
    np.testing.assert_allclose(
        jl.hausdorff_dt_loss(z, y, include_background=include_background, reduction="class"),
        per_class, rtol=1e-5)
    np.testing.assert_allclose(
        jl.log_hausdorff_dt_loss(z, y, include_background=include_background, reduction="class"),
        np.log1p(per_class), rtol=1e-5)
    log_loss = monai_loss("LogHausdorffDTLoss", softmax=True,
                          include_background=include_background)
    single = log_loss(channels_first(z[:1]), channels_first(one_hot_np(y[:1], C))).item()
    np.testing.assert_allclose(
        jl.log_hausdorff_dt_loss(z[:1], y[:1], include_background=include_background),
        [single], rtol=1e-5,
    )


def test_hausdorff_dt_sigmoid_alpha_and_sampling_reference():
    z = random_logits(6, (1, 11, 10, 1))
    y = blobs(6, (1, 11, 10), 2)
    sampling = (1.0, 2.5)

    def field(m):
        if not m.any() or m.all():
            return np.zeros(m.shape)
        return (ndimage.distance_transform_edt(m, sampling=sampling)
                + ndimage.distance_transform_edt(~m, sampling=sampling))

    p = sigmoid_np(z)[0, ..., 0]
    t = y[0].astype(float)
    expected = ((p - t) ** 2 * (field(p > 0.5) ** 1.5 + field(t > 0.5) ** 1.5)).mean()
    ours = jl.hausdorff_dt_loss(z, y, mode="binary", alpha=1.5, sampling=sampling)
    np.testing.assert_allclose(ours, [expected], rtol=1e-5)


# --------------------------------------------------------------------------- distance-penalised CE


def weight_map_reference(region: np.ndarray) -> np.ndarray:
    """(M - d) / (M - m) inside the region; 1 when flat; 0 outside, for empty or full regions."""
    if not region.any() or region.all():
        return np.zeros(region.shape)
    d = ndimage.distance_transform_edt(region)
    inside = d[region]
    far, near = inside.max(), inside.min()
    phi = np.ones(region.shape) if far == near else (far - d) / (far - near)
    return np.where(region, phi, 0.0)


def test_boundary_weight_map_reference_and_edge_cases():
    y = blobs(7, (2, 12, 12), C)
    regions = one_hot_np(y, C).astype(bool)
    regions[1, ..., 2] = False  # an empty class
    regions[1, 3, :, 2] = True  # ... made a one-pixel-thick line
    ours = np.asarray(boundary_weight_map(jnp.asarray(regions)))
    for b in range(2):
        for c in range(C):
            np.testing.assert_allclose(ours[b, ..., c], weight_map_reference(regions[b, ..., c]),
                                       rtol=1e-6, atol=1e-6)
    assert np.all(ours[1, 3, :, 2] == 1.0)  # thin structures are all boundary
    full = np.ones((1, 5, 5, 1), bool)
    np.testing.assert_array_equal(boundary_weight_map(jnp.asarray(full)), 0.0)


def test_distance_penalized_ce_reference_and_bounds():
    z, y = random_logits(8, (2, 12, 11, C)), blobs(8, (2, 12, 11), C)
    weight = np.zeros(y.shape)
    for b in range(2):
        for c in range(C):
            weight[b] += weight_map_reference(y[b] == c)
    ce_pixel = -np.log(np.take_along_axis(softmax_np(z), y[..., None], -1)[..., 0])
    expected = ((1 + weight) * ce_pixel).reshape(2, -1).mean(-1)
    ours = jl.distance_penalized_cross_entropy(z, y)
    np.testing.assert_allclose(ours, expected, rtol=1e-5)
    ce = cross_entropy(z, y)
    assert np.all(np.asarray(ce) <= np.asarray(ours)) and np.all(ours <= 2 * np.asarray(ce))


def test_distance_penalized_ce_binary_matches_the_two_sided_definition():
    z = random_logits(9, (1, 10, 10, 1))
    y = blobs(9, (1, 10, 10), 2)
    fg = y[0] == 1
    weight = 1 + weight_map_reference(fg) + weight_map_reference(~fg)
    p = sigmoid_np(z)[0, ..., 0]
    bce = -(fg * np.log(p) + (~fg) * np.log(1 - p))
    ours = jl.distance_penalized_cross_entropy(z, y, mode="binary")
    np.testing.assert_allclose(ours, [(weight * bce).mean()], rtol=1e-5)


@pytest.mark.parametrize("labels", ["empty", "full", "thin"])
def test_distance_penalized_ce_degenerate_masks(labels):
    y = np.zeros((1, 6, 6), np.int32)
    if labels == "full":
        y[:] = 1
    elif labels == "thin":
        y[0, 2, :] = 1
    z = jnp.asarray(random_logits(10, (1, 6, 6, 1)))
    assert_finite_value_and_grad(jl.distance_penalized_cross_entropy, z, y, mode="binary")


# --------------------------------------------------------------------------- active contour


def active_contour_reference(u, v, lam=1.0, eps=1e-8, reduction="mean", weights=None):
    """One channel; forward differences at the same base pixel. With pixel ``weights``: a base
    pixel counts with its weight, a difference only when its successor's weight is > 0."""
    w = np.ones(u.shape) if weights is None else weights
    crop = tuple(slice(0, n - 1) for n in u.shape)
    squared = 0.0
    for i in range(u.ndim):
        at = tuple(slice(None) if a == i else crop[a] for a in range(u.ndim))
        successor_kept = np.take(w, np.arange(1, u.shape[i]), axis=i)[at] > 0
        squared = squared + np.where(successor_kept, np.diff(u, axis=i)[at], 0.0) ** 2
    length = np.sqrt(squared + eps)
    region = u * (v - 1) ** 2 + (1 - u) * v**2
    if reduction == "sum":
        return np.sum(w[crop] * length) + lam * np.sum(w * region)
    return (np.sum(w[crop] * length) / np.sum(w[crop])
            + lam * np.sum(w * region) / np.sum(w))


@pytest.mark.parametrize("shape", [(2, 9, 8), (2, 5, 6, 7)])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_active_contour_matches_reference(shape, reduction):
    z, y = random_logits(11, shape + (1,)), blobs(11, shape, 2)
    ours = jl.active_contour_loss(z, y, pixel_reduction=reduction, region_weight=0.5)
    p = sigmoid_np(z)[..., 0]
    expected = [active_contour_reference(p[b], y[b], 0.5, reduction=reduction) for b in range(2)]
    np.testing.assert_allclose(ours, expected, rtol=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_active_contour_masked_matches_reference(reduction):
    shape = (2, 9, 8)
    z, y = random_logits(13, shape + (1,)), blobs(13, shape, 2)
    weights = np.random.default_rng(13).uniform(0.5, 2.0, shape).astype(np.float32)
    weights[:, 2:4, 3:6] = 0.0
    weights[0, :, -1] = 0.0
    ours = jl.active_contour_loss(z, y, pixel_reduction=reduction, region_weight=0.5,
                                  mask=weights)
    p = sigmoid_np(z)[..., 0]
    expected = [active_contour_reference(p[b], y[b], 0.5, reduction=reduction,
                                         weights=weights[b]) for b in range(2)]
    np.testing.assert_allclose(ours, expected, rtol=1e-5)


def test_active_contour_stencil_and_multiclass():
    u = np.zeros((1, 5, 6, 1), np.float32)
    u[0, :, 3:] = 1.0  # one vertical edge: every row has one unit difference
    length_only = jl.active_contour_loss(u, u[..., 0].astype(np.int32), from_logits=False)
    expected = (4 * np.sqrt(1 + 1e-8) + 16 * np.sqrt(1e-8)) / 20
    np.testing.assert_allclose(length_only, [expected], rtol=1e-6)
    z, y = random_logits(12, (2, 6, 6, C)), blobs(12, (2, 6, 6), C)
    per_channel = [
        jl.active_contour_loss(softmax_np(z)[..., c : c + 1].astype(np.float32),
                            (y == c).astype(np.int32), from_logits=False)
        for c in range(C)
    ]
    np.testing.assert_allclose(
        jl.active_contour_loss(z, y, mode="multiclass"), np.mean(per_channel, axis=0), rtol=1e-5
    )


@pytest.mark.parametrize("shape", [(2, 7, 3), (2, 9, 8, 1), (2, 5, 6, 7, 3)])
def test_active_contour_window_length_equals_differences_exactly(shape):
    """The GPU/TPU forward of the contour length (full-size windows of the padded map, cropped
    at the end) gives the numbers of the ``jnp.diff`` form bit for bit, masked pixels and flat
    regions included, in 1-D, 2-D and 3-D."""
    from jaxseg_losses import contour  # noqa: PLC0415

    rng = np.random.default_rng(13)
    u = jnp.asarray(rng.random(shape, np.float32))
    u = u.at[0, 1:4].set(0.25)  # flat: zero differences, the length is sqrt(epsilon)
    kept = jnp.asarray(rng.random(shape[:-1] + (1,)) > 0.3)
    eps = jnp.float32(1e-8)
    want = contour._autodiff_length(u, kept, eps)
    for f in (contour._window_length, contour._fused_length, jax.jit(contour._fused_length)):
        np.testing.assert_array_equal(f(u, kept, eps), want)


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(2, 9, 8, 1), (2, 5, 6, 7, 3)])
def test_active_contour_fused_length_gradient_equals_autodiff(shape):
    """The contour length with the hand-written backward pass (what GPUs and TPUs run; XLA:CPU
    runs the automatic one) gives JAX's automatic gradient, masked pixels included."""
    from jaxseg_losses import contour  # noqa: PLC0415

    rng = np.random.default_rng(14)
    u = jnp.asarray(rng.random(shape, np.float32))
    u = u.at[0, 1:4].set(0.25)  # flat: zero differences, the length is sqrt(epsilon)
    kept = jnp.asarray(rng.random(shape[:-1] + (1,)) > 0.3)
    crop = tuple(n - 1 for n in shape[1:-1])
    g = jnp.asarray(rng.standard_normal(shape[:1] + crop + shape[-1:], np.float32))
    (value, vjp), (want, want_vjp) = (
        jax.vjp(lambda u, e, f=f: f(u, kept, e), u, jnp.float32(1e-8))
        for f in (contour._fused_length, contour._autodiff_length))
    np.testing.assert_allclose(value, want, rtol=1e-6)
    (grad, grad_e), (want_grad, want_e) = vjp(g), want_vjp(g)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad_e, want_e, rtol=1e-5)
    assert np.abs(want_grad).max() > 0


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(2, 9, 8, 1), (1, 5, 6, 7, 2)])
def test_active_contour_fused_length_forward_mode_equals_autodiff(shape):
    """The written-out derivative keeps forward mode: ``jax.jvp`` and forward-over-reverse
    (Hessian-vector products) of the fused length equal those of JAX's own, the tangent of a
    traced epsilon included, and ``check_grads`` (fwd and rev, order 2) passes."""
    from jax.test_util import check_grads  # noqa: PLC0415

    from jaxseg_losses import contour  # noqa: PLC0415

    rng = np.random.default_rng(15)
    u = jnp.asarray(rng.random(shape, np.float32))
    u = u.at[0, 1:3].set(0.25)  # flat: zero differences, the length is sqrt(epsilon)
    kept = jnp.asarray(rng.random(shape[:-1] + (1,)) > 0.3)
    du = jnp.asarray(rng.standard_normal(shape, np.float32))
    crop = tuple(n - 1 for n in shape[1:-1])
    g = jnp.asarray(rng.standard_normal(shape[:1] + crop + shape[-1:], np.float32))
    eps, d_eps = jnp.float32(1e-2), jnp.float32(0.5)

    def scalar(f):
        return lambda u, e: jnp.sum(g * f(u, kept, e))

    fused, auto = contour._fused_length, contour._autodiff_length
    (value, tangent), (want, want_tangent) = (
        jax.jvp(lambda u, e, f=f: f(u, kept, e), (u, eps), (du, d_eps)) for f in (fused, auto))
    np.testing.assert_allclose(value, want, rtol=1e-6)
    np.testing.assert_allclose(tangent, want_tangent, rtol=1e-5, atol=1e-6)
    assert np.abs(want_tangent).max() > 0
    (hvp_u, hvp_e), (want_u, want_e) = (
        jax.jvp(jax.grad(scalar(f), argnums=(0, 1)), (u, eps), (du, d_eps))[1]
        for f in (fused, auto))
    np.testing.assert_allclose(hvp_u, want_u, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(hvp_e, want_e, rtol=1e-4)
    assert np.abs(want_u).max() > 0
    # Finite differences in float32: a smooth epsilon, a coarse step and a loose tolerance.
    small = (slice(0, 1),) + (slice(0, 3),) * (len(shape) - 2)
    check_grads(lambda u, e: fused(u, kept[small], e), (u[small], jnp.float32(0.05)),
                order=2, modes=("fwd", "rev"), eps=1e-2, atol=2e-2, rtol=2e-2)


# --------------------------------------------------------------------------- the test standard

def test_labels_carry_no_gradient_and_bad_sampling_raises():
    z, y = random_logits(15, (1, 6, 6, C)), blobs(15, (1, 6, 6), C)
    soft = jnp.asarray(one_hot_np(y, C), jnp.float32)
    grad_labels = jax.grad(lambda t: jl.boundary_loss(z, t).sum())(soft)
    assert np.all(np.isfinite(np.asarray(grad_labels)))
    with pytest.raises(ValueError, match="sampling"):
        jl.boundary_loss(z, y, sampling=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="sampling"):
        jl.hausdorff_dt_loss(z, y, sampling=(1.0, -1.0))
    with pytest.raises(ValueError, match="alpha"):
        jl.hausdorff_dt_loss(z, y, alpha=0.0)


# --------------------------------------------------------------------------- plane-wise memory


def all_classes_hausdorff_dt(z, labels, mask, alpha, sampling):
    """hausdorff_dt_loss as written before the plane-by-plane loop (issue 29): the distance fields
    of every class (prediction and truth) in one call."""
    from jaxseg_losses.distance import distance_field, per_channel  # noqa: PLC0415

    probs = jax.nn.softmax(z)
    targets = jax.nn.one_hot(labels, z.shape[-1])
    valid = mask[..., None]
    truth = targets > 0.5
    predicted = jnp.where(valid > 0, jax.lax.stop_gradient(probs) > 0.5, truth)
    fields = per_channel(distance_field, jnp.concatenate([predicted, truth], -1),
                         sampling=sampling)
    pred_field, true_field = jnp.split(fields, 2, axis=-1)
    axes = tuple(range(1, z.ndim - 1))
    terms = (probs - targets) ** 2 * (pred_field**alpha + true_field**alpha)
    return jnp.mean(jnp.sum(terms * valid, axes) / jnp.sum(valid, axes))


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(2, 12, 10, 3), (2, 6, 7, 5, 3)])
@pytest.mark.parametrize("chunk", [None, 1, 4])  # at most this many of the 6 planes per step
def test_hausdorff_dt_plane_by_plane_equals_all_classes(shape, chunk, monkeypatch):
    """Value and gradient of the plane-by-plane loop (map_planes) equal the all-classes form."""
    rng = np.random.default_rng(3)
    z = (2.0 * rng.standard_normal(shape)).astype(np.float32)
    y = rng.integers(0, shape[-1], shape[:-1])
    mask = (rng.random(shape[:-1]) > 0.2).astype(np.float32)
    sampling = (1.0, 0.5, 2.0)[: len(shape) - 2]

    def ours(z):
        return jnp.mean(raw_hd_dt(z, y, mask=mask, alpha=1.5,
                                                      sampling=sampling))

    def ref(z):
        return all_classes_hausdorff_dt(z, y, mask, 1.5, sampling)

    helpers.assert_plane_loop_matches(ours, ref, z, chunk=chunk, pixels=int(np.prod(shape[1:-1])),
                                      monkeypatch=monkeypatch)


def test_hausdorff_dt_one_field_at_a_time_equals_all_classes(monkeypatch):
    """GPU/TPU form (``per_platform`` taking its accelerator branch, run here on the CPU): with
    one plane per loop step the prediction's and the truth's fields are transformed one after
    the other; value and gradient as the all-classes form."""
    from jaxseg_losses import boundary  # noqa: PLC0415

    monkeypatch.setattr(boundary, "per_platform",
                        lambda *args, cpu, accelerator, tpu=None: accelerator(*args))
    shape = (2, 6, 7, 5, 3)
    rng = np.random.default_rng(5)
    z = (2.0 * rng.standard_normal(shape)).astype(np.float32)
    y = rng.integers(0, shape[-1], shape[:-1])
    mask = (rng.random(shape[:-1]) > 0.2).astype(np.float32)
    sampling = (1.0, 0.5, 2.0)
    helpers.assert_plane_loop_matches(
        lambda z: jnp.mean(raw_hd_dt(z, y, mask=mask, alpha=2.0, sampling=sampling)),
        lambda z: all_classes_hausdorff_dt(z, y, mask, 2.0, sampling),
        z, chunk=1, pixels=int(np.prod(shape[1:-1])), monkeypatch=monkeypatch)


@pytest.mark.parametrize("chunk", [1, 2, 3, 6])
def test_map_planes_builds_one_hot_planes_from_classes(chunk, monkeypatch):
    """``map_planes(..., classes=)``: each chunk's planes of the last array are built from the
    class indices (the array itself is not read in the loop: zeros here), whatever the chunk
    size against the batch size (B = 3, C = 4: chunks across classes and examples); negative
    indices match no plane."""
    from jaxseg_losses import _numerics as numerics  # noqa: PLC0415

    rng = np.random.default_rng(22)
    shape = (3, 4, 5, 4)
    x = jnp.asarray(rng.random(shape, np.float32))
    s = jnp.asarray(rng.random(shape[:-1] + (1,), np.float32))
    classes = jnp.asarray(rng.integers(-2, shape[-1], shape[:-1]))
    one_hot = jax.nn.one_hot(classes, shape[-1])  # zeros at the negative indices

    def sums(x, y, s):
        return jnp.sum(x * y * s, axis=(1, 2))

    monkeypatch.setattr(numerics, "PLANE_CHUNK_PIXELS", chunk * shape[1] * shape[2])
    got = numerics.map_planes(sums, (x, jnp.zeros_like(one_hot)), shared=(s,), classes=classes)
    np.testing.assert_allclose(got, sums(x, one_hot, s), rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hausdorff_dt_loss", "distance_penalized_dice_loss",
                                  "cldice_loss", "dice_cldice_loss"])
def test_plane_loop_builds_one_hot_planes_from_class_indices(name, monkeypatch):
    """With integer labels the plane loop (``map_planes(..., classes=)``) builds each chunk's
    one-hot planes from the class indices (issue 29, TPU memory): value and gradient equal the
    loss without a loop (the dense one-hot targets), with ignored pixels, a mask and class 0
    dropped (its planes are then the classes 1..C-1). GPU/TPU branches taken on the CPU."""
    import jaxseg_losses as jsl  # noqa: PLC0415
    from jaxseg_losses import _numerics as numerics  # noqa: PLC0415
    from jaxseg_losses import boundary  # noqa: PLC0415

    monkeypatch.setattr(boundary, "per_platform", lambda *args, cpu, accelerator, tpu=None:
                        (tpu or accelerator)(*args))
    shape = (2, 6, 7, 5, 3)
    rng = np.random.default_rng(21)
    z = (2.0 * rng.standard_normal(shape)).astype(np.float32)
    y = rng.integers(0, shape[-1] + 1, shape[:-1])  # label C: ignored
    mask = (rng.random(shape[:-1]) > 0.2).astype(np.float32)
    options = {"mask": mask, "ignore_index": shape[-1], "include_background": False}
    if name == "hausdorff_dt_loss":
        options["sampling"] = (1.0, 0.5, 2.0)

    def value_and_grad(chunk_pixels):  # a new function each time: jit's cache keys on it
        monkeypatch.setattr(numerics, "PLANE_CHUNK_PIXELS", chunk_pixels)
        return jax.jit(jax.value_and_grad(
            lambda z: jnp.mean(getattr(jsl, name)(z, y, **options))))(z)

    want, want_grad = value_and_grad(10**9)  # one chunk: no loop
    value, grad = value_and_grad(3 * int(np.prod(shape[1:-1])))  # up to three planes per step
    np.testing.assert_allclose(value, want, rtol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-8)
    assert np.abs(want_grad).max() > 0


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(2, 12, 10, 3), (2, 6, 7, 5, 3)])
@pytest.mark.parametrize("chunk", [1, 4])  # at most this many of the 6 planes per step
def test_distance_penalized_dice_weights_plane_by_plane_equal_all_classes(shape, chunk,
                                                                         monkeypatch):
    """The weight map of distance_penalized_dice_loss computed plane by plane (map_planes, what
    GPUs and TPUs run) equals the all-classes one (XLA:CPU's, the former formulation)."""
    import jaxseg_losses._numerics as numerics  # noqa: PLC0415
    from jaxseg_losses import boundary  # noqa: PLC0415

    monkeypatch.setattr(numerics, "PLANE_CHUNK_PIXELS", chunk * int(np.prod(shape[1:-1])))
    rng = np.random.default_rng(4)
    targets = jnp.asarray(jax.nn.one_hot(rng.integers(0, shape[-1], shape[:-1]), shape[-1]))
    sampling = (1.0, 0.5, 2.0)[: len(shape) - 2]
    weight = functools.partial(boundary._penalty_weight, sampling=sampling)
    planes = jax.jit(lambda t: numerics.map_planes(weight, (t,)))(targets)
    want = jax.jit(weight)(targets)
    np.testing.assert_array_equal(planes, want)
    assert float(jnp.max(want)) == 2.0 and float(jnp.min(want)) == 1.0
