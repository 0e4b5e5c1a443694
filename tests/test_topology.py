"""clDice and the soft skeleton against NumPy/SciPy references and MONAI, plus the test standard."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.experimental import checkify
from scipy import ndimage

from jaxseg_losses.topology import cldice_loss, soft_skeleton
from tests import helpers
from tests.helpers import (
    assert_finite_value_and_grad,
    one_hot_np,
    random_labels,
    random_logits,
    sigmoid_np,
)
from tests.jit_cache import eager_calls, jitted, jl

# Compiled once per options and shapes (tests/jit_cache.py): eager calls cost seconds.

C = 3

# --------------------------------------------------------------------------- NumPy references


raw_cldice = cldice_loss.__wrapped__  # the function inside its option decorators

def np_skeleton(img, iterations):
    """Shit et al. Alg. 1 on one (*spatial) float64 image, with SciPy min/max filters."""
    n = img.ndim
    crosses = [np.expand_dims(np.ones(3, bool), [a for a in range(n) if a != i]) for i in range(n)]

    def erode(x):
        return np.min([ndimage.minimum_filter(x, footprint=f, mode="constant", cval=np.inf)
                       for f in crosses], axis=0)

    def dilate(x):
        return ndimage.maximum_filter(x, size=3, mode="constant", cval=-np.inf)

    relu = lambda a: np.maximum(a, 0)  # noqa: E731
    skel = relu(img - dilate(erode(img)))
    for _ in range(iterations):
        img = erode(img)
        delta = relu(img - dilate(erode(img)))
        skel = skel + relu(delta - skel * delta)
    return skel


def np_skeletons(x, iterations):
    """(B, *spatial, C) -> per-channel skeletons."""
    out = np.zeros_like(x, dtype=np.float64)
    for b in range(x.shape[0]):
        for c in range(x.shape[-1]):
            out[b, ..., c] = np_skeleton(x[b, ..., c].astype(np.float64), iterations)
    return out


def ref_cldice(p, g, v=None, iterations=3, nr=1.0, dr=1.0, eps=0.0, per_image=True):
    """Per (group, class) clDice loss from the paper's definitions."""
    v = np.ones(p.shape[:-1] + (1,)) if v is None else v[..., None]
    sp, sy = np_skeletons(p, iterations), np_skeletons(g, iterations)
    axes = tuple(range(1, p.ndim - 1)) if per_image else tuple(range(p.ndim - 1))
    tprec = ((v * sp * g).sum(axes) + nr) / ((v * sp).sum(axes) + dr)
    tsens = ((v * sy * p).sum(axes) + nr) / ((v * sy).sum(axes) + dr)
    out = 1 - 2 * tprec * tsens / (tprec + tsens + eps)
    return out if per_image else out[None]


def tubes(seed, shape, num_classes=C):
    """Labels made of thick random lines, so skeletons are not trivial."""
    rng = np.random.default_rng(seed)
    y = np.zeros(shape, np.int32)
    for b in range(shape[0]):
        for c in range(1, num_classes):
            for _ in range(2):
                axis = rng.integers(1, len(shape))
                start = [rng.integers(0, s - 2) for s in shape[1:]]
                sl = [slice(st_, st_ + 3) for st_ in start]
                sl[axis - 1] = slice(None)
                y[(b, *sl)] = c
    return y


# --------------------------------------------------------------------------- skeleton


@pytest.mark.parametrize("shape", [(2, 9, 11), (1, 6, 7, 8), (2, 13)])
@pytest.mark.parametrize("iterations", [0, 3])
def test_soft_skeleton_matches_numpy_reference(shape, iterations):
    x = np.random.default_rng(1).uniform(size=shape + (2,)).astype(np.float32)
    np.testing.assert_allclose(jl.soft_skeleton(x, iterations=iterations),
                               np_skeletons(x, iterations), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 9, 11), (1, 6, 7, 8)])
def test_soft_skeleton_matches_monai(shape):
    torch = pytest.importorskip("torch")
    cldice = pytest.importorskip("monai.losses.cldice")
    x = np.random.default_rng(2).uniform(size=shape + (2,)).astype(np.float32)
    ref = cldice.soft_skel(torch.tensor(x).movedim(-1, 1), 5).movedim(1, -1).numpy()
    np.testing.assert_allclose(jl.soft_skeleton(x, iterations=5), ref, rtol=1e-6, atol=1e-6)


def test_soft_skeleton_of_binary_shapes():
    bar = np.zeros((1, 9, 9, 1), np.float32)
    bar[0, 3:6, 1:8] = 1
    skel = np.asarray(jl.soft_skeleton(bar, iterations=3))[0, ..., 0]
    assert set(np.unique(skel)) <= {0.0, 1.0}
    assert skel[4, 2:7].all() and skel.sum() == 5  # the centre line (ends shortened)
    assert np.all(np.asarray(soft_skeleton(np.zeros((1, 4, 4, 1)), iterations=3)) == 0)


# --------------------------------------------------------------------------- values


def inputs(seed, shape, mode="multiclass", scale=2.0):
    return helpers.inputs(seed, shape, mode, scale, labels=tubes)


@pytest.mark.parametrize("shape", [(2, 10, 9), (2, 6, 7, 5)])
@pytest.mark.parametrize("per_image", [True, False])
def test_cldice_matches_reference(shape, per_image):
    z, y, p, g = inputs(3, shape)
    ours = jl.cldice_loss(z, y, per_image=per_image, reduction="class")
    ref = np.broadcast_to(ref_cldice(p, g, per_image=per_image), ours.shape)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jl.cldice_loss(z, y, per_image=per_image), ref.mean(-1), rtol=1e-5)


def test_cldice_options_match_reference():
    z, y, p, g = inputs(4, (2, 10, 9))
    v = np.random.default_rng(4).uniform(size=y.shape) > 0.3
    p_eff = np.where(v[..., None], p, g)  # excluded pixels take the target's value
    ref = ref_cldice(p_eff, g, v.astype(float), iterations=5, nr=0.5, dr=2.0, eps=1e-3)
    ours = jl.cldice_loss(z, y, iterations=5, smooth=(0.5, 2.0), smooth_harmonic=1e-3, mask=v,
                       reduction="class")
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
    w = np.array([0.0, 1.0, 3.0])
    np.testing.assert_allclose(
        jl.cldice_loss(z, y, iterations=5, smooth=(0.5, 2.0), smooth_harmonic=1e-3, mask=v,
                    class_weights=w), (ref * w).sum(-1) / w.sum(), rtol=1e-5)
    np.testing.assert_allclose(jl.cldice_loss(z, y, include_background=False),
                               ref_cldice(p, g)[:, 1:].mean(-1), rtol=1e-5)
    # Sigmoid modes.
    zb, yb, pb, gb = inputs(5, (2, 10, 9), mode="binary")
    np.testing.assert_allclose(jl.cldice_loss(zb, yb, mode="binary"), ref_cldice(pb, gb)[:, 0],
                               rtol=1e-5)
    pm = sigmoid_np(z)
    np.testing.assert_allclose(jl.cldice_loss(z, y, mode="multilabel"),
                               ref_cldice(pm, g).mean(-1), rtol=1e-5)


def test_dice_cldice_is_the_weighted_sum():
    z, y, _, _ = inputs(6, (2, 10, 9))
    for alpha in (0.0, 0.3, 1.0):
        want = (1 - alpha) * jl.dice_loss(z, y, smooth=1.0) + alpha * jl.cldice_loss(z, y)
        np.testing.assert_allclose(jl.dice_cldice_loss(z, y, alpha=alpha), want, rtol=1e-6)


# --------------------------------------------------------------------------- MONAI


def _monai(name, **kwargs):
    pytest.importorskip("torch")
    losses = pytest.importorskip("monai.losses")
    return getattr(losses, name)(**kwargs)


def _t(x):
    import torch

    return torch.tensor(np.asarray(x, np.float64)).movedim(-1, 1)


@pytest.mark.parametrize("shape", [(2, 12, 10), (2, 6, 7, 5)])
@pytest.mark.parametrize("name", ["SoftclDiceLoss", "SoftDiceclDiceLoss"])
def test_matches_monai_binary_and_one_kept_channel(shape, name):
    ours_fn = jl.cldice_loss if name == "SoftclDiceLoss" else jl.dice_cldice_loss
    extra = {"alpha": 0.3} if name == "SoftDiceclDiceLoss" else {}
    # MONAI's SoftDiceclDiceLoss(reduction="none") broadcasts (B, C, 1, 1) against (B,): compare
    # the per-example values of clDice, and the batch means of the combination.
    per_example = name == "SoftclDiceLoss"
    opts = dict(iter_=4, smooth_nr=0.5, smooth_dr=2.0, smooth=1e-4,
                reduction="none" if per_example else "mean")
    reduce = (lambda a: a) if per_example else np.mean
    # Binary, sigmoid.
    zb, yb, _, gb = inputs(7, shape, mode="binary")
    ref = _monai(name, sigmoid=True, **opts, **extra)(_t(zb), _t(gb)).numpy()
    ours = ours_fn(zb, yb, mode="binary", iterations=4, smooth=(0.5, 2.0), smooth_harmonic=1e-4,
                   **extra)
    np.testing.assert_allclose(reduce(ours), ref, rtol=1e-5, atol=1e-6)
    # Softmax over 2 classes, background excluded: one kept channel.
    z, y = random_logits(8, shape + (2,)), tubes(8, shape, 2)
    ref = _monai(name, softmax=True, include_background=False, **opts, **extra)(
        _t(z), _t(one_hot_np(y, 2))).numpy()
    ours = ours_fn(z, y, iterations=4, smooth=(0.5, 2.0), smooth_harmonic=1e-4,
                   include_background=False, **extra)
    np.testing.assert_allclose(reduce(ours), ref, rtol=1e-5, atol=1e-6)


def test_cldice_several_channels_equals_monai_per_channel():
    z, y, p, g = inputs(9, (2, 12, 10))
    loss = _monai("SoftclDiceLoss", iter_=3, smooth=1e-4, reduction="none")
    per_channel = [loss(_t(p[..., c:c + 1]), _t(g[..., c:c + 1])).numpy() for c in range(C)]
    np.testing.assert_allclose(jl.cldice_loss(z, y, smooth_harmonic=1e-4),
                               np.mean(per_channel, 0),
                               rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- the test standard

@pytest.mark.slow
def test_perfect_empty_and_masked():
    """For clDice; dice_cldice is its weighted sum with Dice (tested above and in properties)."""
    _, y, _, g = inputs(13, (2, 8, 7))
    probs = jitted(jl.cldice_loss, from_logits=False)
    value, grad = jax.value_and_grad(lambda p: probs(p, y).sum())(jnp.asarray(g, jnp.float32))
    assert float(value) == 0.0 and np.all(np.isfinite(np.asarray(grad)))
    empty = np.zeros((2, 8, 7), np.int32)
    nothing = np.zeros((2, 8, 7, 1), np.float32)
    for s in (1.0, 0.0):
        f = jitted(jl.cldice_loss, mode="binary", from_logits=False, smooth=s)
        np.testing.assert_allclose(f(nothing, empty), 0.0, atol=1e-7)
    assert_finite_value_and_grad(f, jnp.asarray(nothing), empty)  # smooth = 0: 0/0 ratios
    bar = nothing.copy()
    bar[:, 3:6] = 1.0  # a false-positive tube on an empty truth is penalised
    assert np.all(np.asarray(f(bar, empty)) > 0.2)
    # A prediction filling the image has no soft skeleton: clDice alone does not see it, the
    # Dice term of dice_cldice_loss does.
    np.testing.assert_allclose(f(nothing + 1, empty), 0.0)
    both = jitted(jl.dice_cldice_loss, mode="binary", from_logits=False, smooth=0.0)
    assert np.all(np.asarray(both(nothing + 1, empty)) > 0.4)
    np.testing.assert_allclose(both(nothing, empty), 0.0, atol=1e-7)
    # Everything masked: 0 with zero gradient.
    z = random_logits(13, (2, 8, 7, C))
    masked = jitted(jl.cldice_loss)
    value, grad = jax.value_and_grad(
        lambda p: masked(p, y, mask=np.zeros(y.shape, bool)).sum())(z)
    assert float(value) == 0.0 and np.all(np.asarray(grad) == 0)


@eager_calls()  # value errors are raised by eager calls
def test_bad_calls_raise_clear_errors():
    z, y, _, _ = inputs(15, (2, 6, 5))
    with pytest.raises(ValueError, match="iterations: expected an integer >= 0"):
        jl.cldice_loss(z, y, iterations=-1)
    with pytest.raises(TypeError, match="iterations: expected an int"):
        jl.cldice_loss(z, y, iterations=2.5)
    with pytest.raises(ValueError, match="alpha: expected a value >= 0.0 and <= 1.0"):
        jl.dice_cldice_loss(z, y, alpha=1.5)
    with pytest.raises(ValueError, match="smooth_harmonic"):
        jl.cldice_loss(z, y, smooth_harmonic=-1.0)
    with pytest.raises(ValueError, match="reduction: expected one of"):
        jl.cldice_loss(z, y, reduction="mean")
    with pytest.raises(ValueError, match=r"labels: expected class indices of shape"):
        jl.cldice_loss(z, y[:, :3])
    with pytest.raises(ValueError, match=r"class_weights: expected a scalar or shape \(3,\)"):
        jl.cldice_loss(z, y, class_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"predictions: expected shape \(B, \*spatial, C\)"):
        jl.cldice_loss(z[0, 0], y[0, 0])
    bad = y.copy()
    bad[0, 0, 0] = 7
    with pytest.raises(ValueError, match=r"class indices must lie in \[0, 2\]"):
        jl.cldice_loss(z, bad)
    err, _ = checkify.checkify(jax.jit(jl.cldice_loss), errors=checkify.user_checks)(z, bad)
    assert "class indices must lie" in err.get()


@pytest.mark.slow
def test_checkpointed_scan_bounds_memory():
    """Backward memory grows by ~3 arrays per iteration (the scan carry), not ~10."""
    shape = (1, 16, 16, 16, 1)
    z = jax.ShapeDtypeStruct(shape, jnp.float32)
    y = jax.ShapeDtypeStruct(shape[:-1], jnp.int32)

    def temp_bytes(iterations):
        f = jax.value_and_grad(
            lambda a, b: jl.cldice_loss(a, b, mode="binary", iterations=iterations).sum())
        return jax.jit(f).lower(z, y).compile().memory_analysis().temp_size_in_bytes

    one = np.prod(shape) * 4
    assert (temp_bytes(12) - temp_bytes(4)) / 8 <= 4 * one


@jax.jit
def _property_values(z, y, g, s):
    return {
        "cl": jl.cldice_loss(z, y, smooth=s, reduction="class"),
        "perfect": jl.cldice_loss(g, y, from_logits=False, smooth=s),
        "combo": jl.dice_cldice_loss(z, y, smooth=s, alpha=0.25),
        "dice": jl.dice_loss(z, y, smooth=s),
    }


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 20.0), s=st.floats(0.0, 2.0))
def test_properties(seed, scale, s):
    z = random_logits(seed, (2, 8, 7, C), scale)
    y = random_labels(seed, (2, 8, 7), C)
    g = one_hot_np(y, C).astype(np.float32)
    out = {k: np.asarray(v) for k, v in _property_values(z, y, g, np.float32(s)).items()}
    assert np.all(out["cl"] >= -1e-6) and np.all(out["cl"] <= 1 + 1e-6)
    np.testing.assert_allclose(out["perfect"], 0.0, atol=1e-6)
    np.testing.assert_allclose(out["combo"], 0.75 * out["dice"] + 0.25 * out["cl"].mean(-1),
                               rtol=1e-5, atol=1e-6)


def test_shard_map_batch_global_equals_unsharded():
    if len(jax.devices()) < 2:
        pytest.skip("needs >= 2 devices (tests/conftest.py forces 8 on CPU)")
    from jax.sharding import PartitionSpec as P

    z, y, _, _ = inputs(16, (4, 7, 6))
    want = jitted(jl.cldice_loss, per_image=False)(z, y)
    mesh = jax.make_mesh((2,), ("d",), axis_types=(jax.sharding.AxisType.Explicit,))
    sharded = jax.jit(jax.shard_map(
        lambda a, b: jl.cldice_loss(a, b, per_image=False, axis_name="d"),
        mesh=mesh, in_specs=(P("d"), P("d")), out_specs=P("d")))
    put = lambda a: jax.device_put(a, jax.sharding.NamedSharding(mesh, P("d")))  # noqa: E731
    np.testing.assert_allclose(sharded(put(z), put(y)), want, rtol=1e-5)


# --------------------------------------------------------------------------- plane-wise memory


def all_classes_cldice(z, labels, v, iterations, per_image):
    """clDice as it was written before the plane-by-plane loop (issue 29): every class at once."""
    y = jax.nn.one_hot(labels, z.shape[-1])
    v = v[..., None]
    p = jnp.where(v > 0, jax.nn.softmax(z), y)
    skel_p = soft_skeleton(p, iterations=iterations)
    skel_y = jax.lax.stop_gradient(soft_skeleton(y, iterations=iterations))
    axes = tuple(range(0 if not per_image else 1, z.ndim - 1))
    t_prec = (jnp.sum(v * skel_p * y, axes) + 1.0) / (jnp.sum(v * skel_p, axes) + 1.0)
    t_sens = (jnp.sum(v * skel_y * p, axes) + 1.0) / (jnp.sum(v * skel_y, axes) + 1.0)
    per_class = 1.0 - 2.0 * t_prec * t_sens / (t_prec + t_sens)
    return jnp.mean(jnp.broadcast_to(per_class, (z.shape[0], z.shape[-1])))


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(2, 10, 9), (2, 6, 7, 5)])
@pytest.mark.parametrize("chunk", [None, 1, 4])  # at most this many of the 6 planes per step
@pytest.mark.parametrize("per_image", [True, False])
def test_plane_by_plane_equals_all_classes_at_once(shape, chunk, per_image, monkeypatch):
    """Value and gradient of the plane-by-plane loop (map_planes) equal the all-classes form."""
    z, y, _, _ = inputs(5, shape)
    v = (np.random.default_rng(0).random(shape) > 0.2).astype(np.float32)

    def ours(z):
        return jnp.mean(raw_cldice(z, y, mask=v, iterations=4, per_image=per_image))

    def ref(z):
        return all_classes_cldice(z, y, v, 4, per_image)

    helpers.assert_plane_loop_matches(ours, ref, z, chunk=chunk, pixels=int(np.prod(shape[1:])),
                                      monkeypatch=monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(2, 10, 9), (2, 6, 7, 5)])
@pytest.mark.parametrize("chunk", [None, 2])
@pytest.mark.parametrize("options", [
    {},
    {"per_image": False, "include_background": False, "class_weights": [0.5, 1.0, 2.0]},
    {"reduction": "class", "smooth": (0.5, 1e-3), "ignore_index": 1},
])
def test_dice_cldice_one_loop_equals_dice_plus_cldice(shape, chunk, options, monkeypatch):
    """dice_cldice_loss (the Dice sums inside clDice's plane loop, issue 29): value and gradient
    of the former formulation, (1 - alpha) dice_loss + alpha cldice_loss, with masks and the
    class options, plane by plane too."""
    from jaxseg_losses import dice_cldice_loss, dice_loss  # noqa: PLC0415

    z, y, _, _ = inputs(7, shape)
    v = (np.random.default_rng(1).random(shape) > 0.2).astype(np.float32)
    options = {"smooth": 1.0, "mask": v, **options}

    def ours(z):
        return jnp.sum(dice_cldice_loss(z, y, alpha=0.3, iterations=2, **options))

    def ref(z):
        return jnp.sum(0.7 * dice_loss(z, y, **options)
                       + 0.3 * cldice_loss(z, y, iterations=2, **options))

    helpers.assert_plane_loop_matches(ours, ref, z, chunk=chunk, pixels=int(np.prod(shape[1:])),
                                      monkeypatch=monkeypatch)
