"""Volume and calibration metrics (#27 section 3): NumPy references from the definitions and the
peers' numbers (MONAI ``compute_absolute_volume_difference`` and ``CalibrationErrorMetric``,
medpy ``ravd``, torchmetrics ``binary_`` / ``multiclass_calibration_error``)."""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest

from jaxseg_losses import absolute_volume_difference, calibration_error
from tests.helpers import blobs, one_hot_np, random_logits, softmax_np
from tests.jit_cache import jl
from tests.test_metrics_confusion import torchmetrics_module

C = 3


# --------------------------------------------------------------------------- volume


@pytest.mark.parametrize(("shape", "sampling"), [((2, 11, 9), (0.5, 2.0)),
                                                 ((2, 6, 5, 4), (2.0, 1.0, 0.5))])
def test_volume_differences_match_definition_monai_and_medpy(shape, sampling):
    torch = pytest.importorskip("torch")
    pred, true = blobs(1, shape), blobs(2, shape)
    true[1][true[1] == 2] = 1  # example 1: class 2 absent from the truth
    avd = np.asarray(jl.absolute_volume_difference(pred, true, num_classes=C, sampling=sampling))
    rvd = np.asarray(jl.relative_volume_difference(pred, true, num_classes=C))
    unit = np.prod(sampling)
    axes = tuple(range(1, len(shape)))
    vp, vt = (one_hot_np(x, C).sum(axes) for x in (pred, true))
    np.testing.assert_allclose(avd, np.abs(vp - vt) * unit, rtol=1e-6)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(vt > 0, (vp - vt) / vt, np.where(vp > 0, np.inf, 0.0))
    np.testing.assert_allclose(rvd, expected, rtol=1e-6)
    assert np.isinf(rvd[1, 2])
    medpy_binary = pytest.importorskip("medpy.metric.binary")
    for b in range(shape[0]):
        for c in range(C):
            if (true[b] == c).any():
                np.testing.assert_allclose(rvd[b, c], medpy_binary.ravd(pred[b] == c,
                                                                        true[b] == c), 1e-6)
    monai_metrics = pytest.importorskip("monai.metrics")
    p = torch.tensor(one_hot_np(pred, C)).movedim(-1, 1)
    t = torch.tensor(one_hot_np(true, C)).movedim(-1, 1)
    for ignore_empty in (False, True):
        monai = monai_metrics.compute_absolute_volume_difference(p, t, ignore_empty=ignore_empty)
        ours = jl.absolute_volume_difference(pred, true, num_classes=C, ignore_empty=ignore_empty)
        np.testing.assert_allclose(ours, monai.numpy(), rtol=1e-6)
    assert np.isnan(jl.relative_volume_difference(pred, true, num_classes=C,
                                                  ignore_empty=True)[1, 2])
    monai = monai_metrics.compute_absolute_volume_difference(p, t, include_background=False)
    ours = jl.absolute_volume_difference(pred, true, num_classes=C, include_background=False,
                                         ignore_empty=True, sampling=sampling)
    np.testing.assert_allclose(ours, monai.numpy() * unit, rtol=1e-6)


def test_volume_empty_masks_mask_and_bad_sampling():
    empty = np.zeros((1, 5, 5), np.int32)
    some = empty.copy()
    some[0, 1:3, 1:3] = 1
    assert float(jl.relative_volume_difference(empty, empty, num_classes=2)[0, 1]) == 0.0
    assert float(jl.relative_volume_difference(empty, some, num_classes=2)[0, 1]) == -1.0
    assert float(jl.absolute_volume_difference(some, empty, num_classes=2)[0, 1]) == 4.0
    keep = np.ones((1, 5, 5), bool)
    keep[0, 1, :] = False  # two of the four pixels excluded from both volumes
    assert float(jl.absolute_volume_difference(some, empty, num_classes=2, mask=keep)[0, 1]) == 2.0
    with pytest.raises(ValueError, match=r"sampling: expected a scalar or one spacing"):
        absolute_volume_difference(some, empty, num_classes=2, sampling=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="sampling: spacings must be finite and positive"):
        absolute_volume_difference(some, empty, num_classes=2, sampling=(1.0, -1.0))


# --------------------------------------------------------------------------- calibration


def calibration_reference(p, y, w, num_bins, reduction, right=False):
    """NumPy from the definitions (Guo et al. 2017; Naeini et al. 2015): equal-width bins,
    ``[k/n, (k+1)/n)`` with 1 in the last bin (``right``: ``(k/n, (k+1)/n]``)."""
    p, y = p[w > 0].astype(np.float64), y[w > 0].astype(np.float64)
    if p.size == 0:
        return np.nan
    k = np.ceil(p * num_bins) - 1 if right else np.floor(p * num_bins)
    k = np.clip(k, 0, num_bins - 1)
    gaps, sizes = [], []
    for b in range(num_bins):
        inside = k == b
        if inside.any():
            gaps.append(abs(p[inside].mean() - y[inside].mean()))
            sizes.append(inside.sum())
    gaps, sizes = np.array(gaps), np.array(sizes)
    return {"expected": (gaps * sizes).sum() / sizes.sum(), "average": gaps.mean(),
            "maximum": gaps.max(), "rms": np.sqrt((gaps**2 * sizes).sum() / sizes.sum())
            }[reduction]


@functools.cache
def jitted(**options):
    return jax.jit(lambda z, y, m=None: calibration_error(z, y, mask=m, **options))


@pytest.mark.parametrize("shape", [(2, 10, 9), (2, 5, 4, 6)])
def test_calibration_matches_definition(shape):
    z = random_logits(3, shape + (C,))
    y = blobs(4, shape)
    y[0, 0] = 255  # ignored pixels
    mask = np.ones(shape, np.float32)
    mask[1, :2] = 0.0
    p = softmax_np(z)
    kept = (y != 255) & (mask > 0)
    g = one_hot_np(y % 255, C)
    for reduction in ("expected", "average", "maximum", "rms"):
        ours = np.asarray(jitted(calibration_reduction=reduction, num_bins=7, ignore_index=255)(
            z, y, mask))
        for b in range(shape[0]):
            for c in range(C):
                ref = calibration_reference(p[b, ..., c], g[b, ..., c], kept[b], 7, reduction)
                np.testing.assert_allclose(ours[b, c], ref, rtol=2e-5, atol=1e-6,
                                           err_msg=f"{reduction} {b} {c}")
    top = np.asarray(jitted(top_label=True, num_bins=7, right=True, ignore_index=255)(
        z, y, mask))
    correct = (np.argmax(p, -1) == y).astype(np.float64)
    for b in range(shape[0]):
        ref = calibration_reference(p[b].max(-1), correct[b], kept[b], 7, "expected", right=True)
        np.testing.assert_allclose(top[b], ref, rtol=2e-5)
    pooled = np.asarray(jitted(per_image=False, ignore_index=255)(z, y, mask))
    for c in range(C):
        ref = calibration_reference(p[..., c], g[..., c], kept, 20, "expected")
        np.testing.assert_allclose(pooled[:, c], ref, rtol=2e-5)


@pytest.mark.parametrize("reduction", ["expected", "average", "maximum"])
def test_calibration_matches_monai(reduction):
    torch = pytest.importorskip("torch")
    monai_metrics = pytest.importorskip("monai.metrics")
    if not hasattr(monai_metrics, "CalibrationErrorMetric"):
        pytest.skip("this MONAI has no CalibrationErrorMetric")
    z = random_logits(5, (3, 9, 8, C))
    y = blobs(6, (3, 9, 8))
    probs = softmax_np(z).astype(np.float32)
    metric = monai_metrics.CalibrationErrorMetric(
        num_bins=10, include_background=False, calibration_reduction=reduction,
        metric_reduction="none")
    monai = metric(torch.tensor(probs).movedim(-1, 1),
                   torch.tensor(one_hot_np(y, C)).movedim(-1, 1)).numpy()
    ours = jitted(calibration_reduction=reduction, num_bins=10, include_background=False,
                  from_logits=False)(probs, y)
    np.testing.assert_allclose(ours, monai, rtol=2e-5, atol=1e-6)


def test_calibration_matches_torchmetrics():
    torch = pytest.importorskip("torch")
    tm = torchmetrics_module()
    z = random_logits(7, (3, 8, 9, C))
    y = blobs(8, (3, 8, 9))
    y[2, :2] = 255
    probs = softmax_np(z).astype(np.float32)
    for norm, reduction in (("l1", "expected"), ("max", "maximum"), ("l2", "rms")):
        theirs = tm.multiclass_calibration_error(
            torch.tensor(probs).movedim(-1, 1), torch.tensor(y).long(), num_classes=C,
            n_bins=15, norm=norm, ignore_index=255).item()
        ours = jitted(calibration_reduction=reduction, num_bins=15, top_label=True,
                      per_image=False, ignore_index=255)(z, y)
        np.testing.assert_allclose(ours, np.full(3, theirs), rtol=2e-5, err_msg=norm)
        binary = (y == 1).astype(np.int32)
        theirs = tm.binary_calibration_error(torch.tensor(probs[..., 1]), torch.tensor(binary),
                                             n_bins=15, norm=norm).item()
        ours = jitted(calibration_reduction=reduction, num_bins=15, per_image=False,
                      mode="binary", from_logits=False)(probs[..., 1:2], binary)
        np.testing.assert_allclose(ours[:, 0], np.full(3, theirs), rtol=2e-5, err_msg=norm)


def test_calibration_vmap_axis_name_and_bad_input():
    z = random_logits(9, (4, 6, 5, C))
    y = blobs(10, (4, 6, 5))
    pooled = jitted(per_image=False, num_bins=5)(z, y)
    mapped = jax.jit(jax.vmap(lambda a, b: calibration_error(
        a[None], b[None], per_image=False, axis_name="batch", num_bins=5)[0],
        axis_name="batch"))(z, y)
    np.testing.assert_allclose(mapped, pooled, rtol=2e-6)
    nothing = jitted()(z, y, np.zeros((4, 6, 5)))
    assert np.isnan(nothing).all()  # no scored pixel: NaN, as MONAI
    bad = z.copy()
    bad[1, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="predictions: logits must be finite"):
        calibration_error(bad, y)
    unchecked = np.asarray(jitted()(bad, y))
    assert np.isnan(unchecked[1]).all() and not np.isnan(unchecked[[0, 2, 3]]).any()
    labels = y.copy()
    labels[2, 0, 0] = 5
    unchecked = np.asarray(jitted()(z, labels))
    assert np.isnan(unchecked[2]).all() and not np.isnan(unchecked[[0, 1, 3]]).any()
    with pytest.raises(ValueError, match="top_label=True: needs mode='multiclass'"):
        calibration_error(z, one_hot_np(y, C), mode="multilabel", top_label=True)
    with pytest.raises(ValueError, match="num_bins: expected an integer >= 1"):
        calibration_error(z, y, num_bins=0)
    with pytest.raises(ValueError, match="calibration_reduction: expected one of"):
        calibration_error(z, y, calibration_reduction="l1")
    ignored_class = np.asarray(jitted(ignore_index=1)(z, y))
    assert np.isnan(ignored_class[:, 1]).all() and not np.isnan(ignored_class[:, [0, 2]]).any()
