"""MCC, Wasserstein Dice, F-beta, penalty GDL and distance-penalised Dice: NumPy references,
MONAI cross-checks and the test standard."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.experimental import checkify
from scipy import ndimage

from tests.helpers import (
    C,
    assert_finite_value_and_grad,
    channels_first,
    groups,
    inputs,
    monai_loss,
    one_hot_np,
    ones_valid,
    random_labels,
    random_logits,
    ref_gdl,
    smp_module,
)
from tests.jit_cache import eager_calls, jitted, jl

# Compiled once per options and shapes (tests/jit_cache.py): eager calls cost seconds.

M = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 0.5, 0.0]])

# --------------------------------------------------------------------------- NumPy references


def ref_mcc(p, g, v=None, nr=0.0, dr=1e-5, per_image=True):
    """(G, C) MCC losses from the definition (MONAI's smoothing and perfect-score rule)."""
    v = ones_valid(p) if v is None else v
    out = []
    for pb, gb, vb in zip(groups(p, per_image), groups(g, per_image), groups(v, per_image),
                          strict=True):
        tp, fp = (vb * pb * gb).sum(0), (vb * pb * (1 - gb)).sum(0)
        fn, tn = (vb * (1 - pb) * gb).sum(0), (vb * (1 - pb) * (1 - gb)).sum(0)
        mcc = (tp * tn - fp * fn + nr) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn) + dr)
        out.append(np.where((fp == 0) & (fn == 0), 0.0, 1 - mcc))
    return np.array(out)


def ref_gwdl(p, labels, m, mode="default", s=1e-5, v=None, per_image=True):
    """Fidon et al. 2017 (and the GDL weighting of Tilborghs et al.), hard labels."""
    m = m / m.max()
    v = np.ones(labels.shape) if v is None else v
    flat_p = p.reshape(p.shape[0], -1, p.shape[-1])
    flat_l, flat_v = labels.reshape(labels.shape[0], -1), v.reshape(v.shape[0], -1)
    if not per_image:
        flat_p, flat_l, flat_v = (a.reshape((1, -1) + a.shape[2:]) for a in (flat_p, flat_l,
                                                                              flat_v))
    out = []
    for pb, lb, vb in zip(flat_p, flat_l, flat_v, strict=True):
        w = np.array([m[lb[i]] @ pb[i] for i in range(len(lb))])
        if mode == "default":
            alpha = np.where(lb == 0, 0.0, 1.0)
            tp = (vb * alpha * (1 - w)).sum()
            den = 2 * tp + (vb * w).sum()
        else:
            vol = np.array([(vb * (lb == c)).sum() for c in range(p.shape[-1])])
            alpha = 1 / (vol[lb] + 1)
            tp = (vb * alpha * (1 - w)).sum()
            den = (vb * alpha * (2 - w)).sum()
        out.append(1 - (2 * tp + s) / (den + s))
    return np.array(out)


def ref_fbeta(p, g, beta=1.5, s=1e-5, per_image=True):
    out = []
    for pb, gb in zip(groups(p, per_image), groups(g, per_image), strict=True):
        tp, fp, fn = (pb * gb).sum(0), (pb * (1 - gb)).sum(0), ((1 - pb) * gb).sum(0)
        b2 = beta**2
        # Hashemi's F-beta, smoothing on the Tversky form (divide through by 1 + beta^2).
        out.append(1 - (tp + s) / (tp + b2 / (1 + b2) * fn + 1 / (1 + b2) * fp + s))
    return np.array(out)


def ref_phi(region):
    """Boundary weights from SciPy: (M - d) / (M - m) inside a region, 0 elsewhere."""
    if region.all() or not region.any():
        return np.zeros(region.shape)
    d = ndimage.distance_transform_edt(region)
    far, near = d[region].max(), d[region].min()
    phi = (far - d) / (far - near) if far > near else np.ones(region.shape)
    return np.where(region, phi, 0.0)


def ref_distance_dice(p, g, s=1e-5):
    out = np.zeros((p.shape[0], p.shape[-1]))
    for b in range(p.shape[0]):
        for c in range(p.shape[-1]):
            t = g[b, ..., c] > 0.5
            w = 1 + np.where(t, ref_phi(t), ref_phi(~t))
            pc, yc = p[b, ..., c], g[b, ..., c]
            out[b, c] = 1 - (2 * (w * pc * yc).sum() + s) / ((w * pc).sum() + (w * yc).sum() + s)
    return out


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("per_image", [True, False])
@pytest.mark.parametrize("shape", [(2, 6, 5), (2, 3, 4, 5)])
def test_mcc_matches_reference(per_image, shape):
    z, y, p, g = inputs(1, shape)
    ours = jl.mcc_loss(z, y, per_image=per_image, reduction="class")
    np.testing.assert_allclose(ours, np.broadcast_to(ref_mcc(p, g, per_image=per_image),
                                                     ours.shape), rtol=1e-5, atol=1e-6)
    v = (np.random.default_rng(1).uniform(size=shape) > 0.3).astype(float)[..., None]
    np.testing.assert_allclose(jl.mcc_loss(z, y, mask=v[..., 0], smooth=(0.5, 2.0)),
                               ref_mcc(p, g, v, nr=0.5, dr=2.0).mean(-1), rtol=1e-5)
    zb, yb, pb, gb = inputs(2, shape, mode="binary")
    np.testing.assert_allclose(jl.mcc_loss(zb, yb, mode="binary"), ref_mcc(pb, gb)[:, 0], rtol=1e-5)


@pytest.mark.parametrize("mode", ["default", "GDL"])
@pytest.mark.parametrize("per_image", [True, False])
def test_wasserstein_matches_reference(mode, per_image):
    z, y, p, _ = inputs(3, (2, 6, 5))
    ours = jl.generalized_wasserstein_dice_loss(z, y, distance_matrix=2 * M, class_weighting=mode,
                                             per_image=per_image)
    ref = ref_gwdl(p, y, M, mode, per_image=per_image)
    np.testing.assert_allclose(ours, np.broadcast_to(ref, ours.shape), rtol=1e-5, atol=1e-6)
    v = np.random.default_rng(3).uniform(size=y.shape) > 0.4
    np.testing.assert_allclose(
        jl.generalized_wasserstein_dice_loss(z, y, distance_matrix=M, class_weighting=mode,
                                             mask=v),
        ref_gwdl(p, y, M, mode, v=v), rtol=1e-5)


def test_wasserstein_reduces_to_foreground_dice():
    """M = 1 - I with two classes: TP = sum p1 y1, sum W = FP + FN of the foreground."""
    z, y = random_logits(4, (2, 6, 5, 2)), random_labels(4, (2, 6, 5), 2)
    want = jl.dice_loss(z, y, reduction="class", smooth=1e-5)[:, 1]
    got = jl.generalized_wasserstein_dice_loss(z, y, distance_matrix=1 - np.eye(2))
    np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("form", ["gather", "tpu_dot"])
def test_wasserstein_label_rows_equal_dense_targets(form, monkeypatch):
    """Integer labels take ``M``'s rows by a gather (CPU, GPU) or by a one-hot dot over M's three
    bfloat16 parts (TPU; forced here on the CPU): value and gradient as the dense one-hot
    targets' float32 einsum, with ignored pixels; the TPU rows are M's entries bit for bit, and
    the parts add up to them in every order."""
    from jaxseg_losses.region import wasserstein  # noqa: PLC0415

    if form == "tpu_dot":
        monkeypatch.setattr(wasserstein, "per_platform",
                            lambda *args, cpu, accelerator, tpu: tpu(*args))
    rng = np.random.default_rng(11)
    classes = 6
    m = rng.random((classes, classes)) * rng.choice([1.0, 1e-3, 7.3], size=(classes, classes))
    z = random_logits(11, (2, 5, 7, classes))
    y = rng.integers(-1, classes, (2, 5, 7))
    dense = np.where(y[..., None] >= 0, one_hot_np(np.maximum(y, 0), classes), 0.0)

    def loss(z, labels, mode, **ignored):
        return jnp.sum(wasserstein.generalized_wasserstein_dice_loss(
            z, labels, distance_matrix=m, class_weighting=mode, **ignored))

    for mode in ("default", "GDL"):
        got, got_grad = jax.value_and_grad(loss)(z, jnp.asarray(y), mode, ignore_index=-1)
        want, want_grad = jax.value_and_grad(loss)(z, jnp.asarray(dense, jnp.float32), mode,
                                                   mask=y >= 0)
        np.testing.assert_allclose(got, want, rtol=1e-6)
        np.testing.assert_allclose(got_grad, want_grad, rtol=1e-5, atol=1e-7)
    m32 = jnp.asarray(m / m.max(), jnp.float32)
    rows = wasserstein._label_rows_by_dot(m32, jnp.asarray(y))
    np.testing.assert_array_equal(rows, np.where(y[..., None] >= 0, np.asarray(m32)[y], 0.0))
    # Exact in any order of accumulation (the TPU's dot does not promise one).
    hard = np.array([0.0019494492, 1.0, 0.0, 2.0**-100, 0.5 + 2.0**-23], np.float32)
    values = np.concatenate([np.asarray(m32).ravel(), hard])
    parts = np.asarray(wasserstein._bfloat16_parts(jnp.asarray(values)), np.float32)
    for a, b, c in ((0, 1, 2), (0, 2, 1), (1, 2, 0)):
        np.testing.assert_array_equal((parts[a] + parts[b]) + parts[c], values)


@pytest.mark.parametrize("per_image", [True, False])
def test_fbeta_and_penalty_match_reference(per_image):
    z, y, p, g = inputs(5, (2, 6, 5))
    ours = jl.asymmetric_similarity_loss(z, y, per_image=per_image, reduction="class")
    np.testing.assert_allclose(ours, np.broadcast_to(ref_fbeta(p, g, per_image=per_image),
                                                     ours.shape), rtol=1e-5, atol=1e-6)
    gdl = ref_gdl(p, g, per_image=per_image)
    ours = jl.penalty_generalized_dice_loss(z, y, per_image=per_image)
    np.testing.assert_allclose(ours, np.broadcast_to(gdl / (1 + 2.5 * (1 - gdl)), ours.shape),
                               rtol=1e-5)


def test_documented_identities():
    z, y, _, _ = inputs(6, (2, 6, 5))
    np.testing.assert_allclose(jl.asymmetric_similarity_loss(z, y, beta=1.0),
                               jl.dice_loss(z, y, smooth=2e-5), rtol=1e-5)
    np.testing.assert_allclose(jl.asymmetric_similarity_loss(z, y, beta=2.0, smooth=0.3),
                               jl.tversky_loss(z, y, alpha=0.2, beta=0.8, smooth=0.3), rtol=1e-5)
    np.testing.assert_allclose(jl.penalty_generalized_dice_loss(z, y, k=0.0),
                               jl.generalized_dice_loss(z, y), rtol=1e-6)


@pytest.mark.parametrize("shape", [(2, 9, 8), (1, 5, 6, 7)])
def test_distance_penalized_dice_matches_reference(shape):
    z = random_logits(7, shape + (C,))
    y = np.zeros(shape, np.int32)
    y[(slice(None),) + tuple(slice(1, s - 2) for s in shape[1:])] = 1
    y[(slice(None),) + tuple(slice(2, 4) for _ in shape[1:])] = 2
    from tests.helpers import softmax_np

    p, g = softmax_np(z), one_hot_np(y, C)
    np.testing.assert_allclose(jl.distance_penalized_dice_loss(z, y, reduction="class"),
                               ref_distance_dice(p, g), rtol=1e-5, atol=1e-6)
    # The penalty makes errors on boundaries cost more than plain Dice for a blurred prediction.
    blurred = jnp.asarray(g * 0.6 + 0.4 / C, jnp.float32)
    assert np.all(np.asarray(jl.distance_penalized_dice_loss(blurred, y, from_logits=False)) >= 0)


# --------------------------------------------------------------------------- MONAI


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("include_background", [True, False])
def test_mcc_matches_monai(batch, include_background):
    z, y, _, g = inputs(8, (2, 6, 5))
    loss = monai_loss("MCCLoss", softmax=True, batch=batch, include_background=include_background,
                      reduction="none")
    ref = loss(channels_first(z, np.float64), channels_first(g, np.float64)).numpy()
    ref = ref.reshape(1 if batch else 2, -1)
    ours = jl.mcc_loss(z, y, per_image=not batch, include_background=include_background,
                    reduction="class")
    np.testing.assert_allclose(ours, np.broadcast_to(ref, ours.shape), rtol=1e-5, atol=1e-6)
    zb, yb, _, gb = inputs(9, (2, 3, 4, 5), mode="binary")
    ref = monai_loss("MCCLoss", sigmoid=True, batch=batch, reduction="none")(
        channels_first(zb, np.float64), channels_first(gb, np.float64)).numpy()
    np.testing.assert_allclose(jl.mcc_loss(zb, yb, mode="binary", per_image=not batch),
                               np.broadcast_to(ref.reshape(-1), (2,)), rtol=1e-5, atol=1e-6)


def test_mcc_against_smp_eps_on_every_count():
    """smp's MCCLoss adds eps to TP, TN, FP and FN: equal to ours on real counts, not where MCC
    is undefined (the numbers of docs/coming_from.md)."""
    import torch

    smp = smp_module("losses").MCCLoss()

    def smp_value(z, y):
        probs = torch.sigmoid(torch.from_numpy(np.moveaxis(z, -1, 1)))
        return smp(probs, torch.from_numpy(y[:, None].astype(np.float32))).item()

    rng = np.random.default_rng(0)
    z = rng.normal(size=(2, 6, 5, 1)).astype(np.float32)
    y = (rng.random((2, 6, 5)) > 0.6).astype(np.int32)
    ours = jl.mcc_loss(z, y, mode="binary", per_image=False)
    np.testing.assert_allclose(ours, smp_value(z, y), rtol=1e-6)
    empty_z, empty_y = np.full((1, 4, 4, 1), -20.0, np.float32), np.zeros((1, 4, 4), np.int32)
    assert smp_value(empty_z, empty_y) == pytest.approx(0.5004, abs=1e-4)
    assert float(jl.mcc_loss(empty_z, empty_y, mode="binary", per_image=False)[0]) == 1.0


@pytest.mark.parametrize("mode", ["default", "GDL"])
def test_wasserstein_matches_monai(mode):
    import torch

    z, y, _, _ = inputs(10, (2, 6, 5))
    loss = monai_loss("GeneralizedWassersteinDiceLoss", dist_matrix=2 * M, weighting_mode=mode,
                  reduction="none")
    ref = loss(channels_first(z, np.float64), torch.tensor(y)).numpy()
    ours = jl.generalized_wasserstein_dice_loss(z, y, distance_matrix=2 * M, class_weighting=mode)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
    z3, y3 = random_logits(11, (2, 3, 4, 5, C)), random_labels(11, (2, 3, 4, 5), C)
    ref = loss(channels_first(z3, np.float64), torch.tensor(y3)).numpy()
    np.testing.assert_allclose(
        jl.generalized_wasserstein_dice_loss(z3, y3, distance_matrix=2 * M, class_weighting=mode),
        ref, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- the test standard

LOSSES = {
    "mcc": (jl.mcc_loss, {}),
    "wasserstein": (jl.generalized_wasserstein_dice_loss, {"distance_matrix": M}),
    "wasserstein_gdl": (jl.generalized_wasserstein_dice_loss,
                        {"distance_matrix": M, "class_weighting": "GDL"}),
    "fbeta": (jl.asymmetric_similarity_loss, {}),
    "penalty_gdl": (jl.penalty_generalized_dice_loss, {}),
    "distance_dice": (jl.distance_penalized_dice_loss, {}),
}


@pytest.fixture(params=sorted(LOSSES))
def loss_case(request):
    """``case(**options)`` -> a cached jitted loss; ``case.eager`` the plain call."""
    fn, kwargs = LOSSES[request.param]

    def case(**options):
        return jitted(fn, **kwargs, **options)

    case.eager = lambda *a, **k: fn(*a, **kwargs, **k)
    return case


def test_empty_truth_and_masks(loss_case):
    shape = (2, 4, 3)
    y = np.zeros(shape, np.int32)
    g = one_hot_np(y, C).astype(np.float32)
    # All-background truth predicted perfectly: 0 (classes 1, 2 empty in truth and prediction).
    np.testing.assert_allclose(loss_case(from_logits=False)(g, y), 0.0, atol=1e-6)
    np.testing.assert_allclose(loss_case(from_logits=False, per_image=False)(g, y), 0.0,
                               atol=1e-6)
    z = random_logits(15, shape + (C,))
    f = loss_case()
    assert_finite_value_and_grad(f, jnp.asarray(z), y)
    # Everything masked: 0 with zero gradient.
    _, y2, _, _ = inputs(15, shape)
    value, grad = jax.value_and_grad(lambda p: f(p, y2, mask=np.zeros(shape, bool)).sum())(z)
    assert float(value) == 0.0 and np.all(np.asarray(grad) == 0)


def test_binary_mode_where_defined():
    zb, yb, _, gb = inputs(17, (2, 4, 3), mode="binary")
    for fn in (jl.mcc_loss, jl.asymmetric_similarity_loss, jl.penalty_generalized_dice_loss,
               jl.distance_penalized_dice_loss):
        out = fn(zb, yb, mode="binary")
        assert out.shape == (2,) and np.all(np.isfinite(np.asarray(out)))
        np.testing.assert_allclose(fn(gb * 2e4 - 1e4, yb, mode="binary"), 0.0, atol=1e-6)


@eager_calls()  # value errors are raised by eager calls
def test_bad_calls_raise_clear_errors():
    z, y, _, _ = inputs(18, (2, 4, 3))
    with pytest.raises(ValueError, match=r"distance_matrix: expected shape \(C, C\) = \(3, 3\)"):
        jl.generalized_wasserstein_dice_loss(z, y, distance_matrix=np.ones((2, 2)))
    with pytest.raises(ValueError, match="distance_matrix: values must be finite and >= 0"):
        jl.generalized_wasserstein_dice_loss(z, y, distance_matrix=-M)
    with pytest.raises(ValueError, match="class_weighting: expected one of"):
        jl.generalized_wasserstein_dice_loss(z, y, distance_matrix=M, class_weighting="gdl")
    with pytest.raises(ValueError, match="beta: expected a value > 0"):
        jl.asymmetric_similarity_loss(z, y, beta=0.0)
    with pytest.raises(ValueError, match="k: expected a value >= 0"):
        jl.penalty_generalized_dice_loss(z, y, k=-1.0)
    with pytest.raises(ValueError, match="reduction: expected one of"):
        jl.mcc_loss(z, y, reduction="pixel")
    with pytest.raises(ValueError, match="class_weights: only used by reduction='example'"):
        jl.distance_penalized_dice_loss(z, y, reduction="class", class_weights=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"labels: expected class indices of shape"):
        jl.mcc_loss(z, y[:, :2])
    with pytest.raises(ValueError, match="C == 1"):
        jl.mcc_loss(z, y, mode="binary")
    bad = y.copy()
    bad[0, 0, 0] = 3
    with pytest.raises(ValueError, match=r"class indices must lie in \[0, 2\]"):
        jl.mcc_loss(z, bad)
    err, _ = checkify.checkify(jax.jit(jl.mcc_loss), errors=checkify.user_checks)(z, bad)
    assert "class indices must lie" in err.get()


@jax.jit
def _property_values(z, y, g):
    return {
        "mcc": jl.mcc_loss(z, y, reduction="class"),
        "mcc_flipped": jl.mcc_loss(-z[..., :1], (y > 0).astype(jnp.int32), mode="binary"),
        "mcc_binary": jl.mcc_loss(z[..., :1], (y > 0).astype(jnp.int32), mode="binary"),
        "gwdl": jl.generalized_wasserstein_dice_loss(z, y, distance_matrix=M),
        "fbeta": jl.asymmetric_similarity_loss(z, y),
        "penalty": jl.penalty_generalized_dice_loss(z, y),
        "gdl": jl.generalized_dice_loss(z, y),
        "perfect": jnp.stack([
            jl.mcc_loss(g, y, from_logits=False),
            jl.generalized_wasserstein_dice_loss(g, y, distance_matrix=M, from_logits=False),
            jl.asymmetric_similarity_loss(g, y, from_logits=False)]),
    }


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 20.0))
def test_properties(seed, scale):
    z = random_logits(seed, (2, 4, 3, C), scale)
    y = random_labels(seed, (2, 4, 3), C)
    g = one_hot_np(y, C).astype(np.float32)
    out = {k: np.asarray(v) for k, v in _property_values(z, y, g).items()}
    assert np.all(out["mcc"] >= -1e-5) and np.all(out["mcc"] <= 2 + 1e-5)
    for k in ("gwdl", "fbeta", "penalty"):
        assert np.all(out[k] >= -1e-6) and np.all(out[k] <= 1 + 1e-6), k
    assert np.all(out["penalty"] <= out["gdl"] + 1e-6)  # the penalty factor is <= 1
    np.testing.assert_allclose(out["perfect"], 0.0, atol=1e-6)
    # MCC is antisymmetric under flipping a sigmoid prediction: (1 - m) -> (1 + m).
    np.testing.assert_allclose(out["mcc_binary"] + out["mcc_flipped"], 2.0, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("name", ["mcc", "wasserstein_gdl"])
def test_shard_map_batch_global_equals_unsharded(name):
    if len(jax.devices()) < 2:
        pytest.skip("needs >= 2 devices (tests/conftest.py forces 8 on CPU)")
    from jax.sharding import PartitionSpec as P

    fn, kwargs = LOSSES[name]
    z, y, _, _ = inputs(19, (4, 4, 3))
    want = fn(z, y, per_image=False, **kwargs)
    for axis_type in (jax.sharding.AxisType.Explicit, jax.sharding.AxisType.Auto):
        mesh = jax.make_mesh((2,), ("d",), axis_types=(axis_type,))
        sharded = jax.jit(jax.shard_map(
            lambda a, b: fn(a, b, per_image=False, axis_name="d", **kwargs),
            mesh=mesh, in_specs=(P("d"), P("d")), out_specs=P("d")))
        put = lambda a, mesh=mesh: jax.device_put(a, jax.sharding.NamedSharding(mesh, P("d")))  # noqa: E731
        np.testing.assert_allclose(sharded(put(z), put(y)), want, rtol=1e-5)
