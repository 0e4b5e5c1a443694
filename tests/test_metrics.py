"""On-device metrics against NumPy/SciPy references and MONAI."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from jaxseg_losses import (
    average_surface_distance,
    dice_score,
    generalized_dice_score,
    hausdorff_distance,
    iou_score,
    surface_dice,
    surface_mask,
)
from tests.helpers import blobs, one_hot_np


def surface_reference(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def hd_reference(pred, true, percentile=None, sampling=None):
    """SciPy: distances between surfaces, per the definition."""
    sp, st = surface_reference(pred), surface_reference(true)
    d_to_true = ndimage.distance_transform_edt(~st, sampling=sampling)[sp]
    d_to_pred = ndimage.distance_transform_edt(~sp, sampling=sampling)[st]
    if percentile is None:
        return max(d_to_true.max(), d_to_pred.max())
    return max(np.percentile(d_to_true, percentile), np.percentile(d_to_pred, percentile))


def nsd_reference(pred, true, tolerance, sampling=None):
    """SciPy: the normalised surface distance from its definition (Nikolov et al. 2021)."""
    sp, st = surface_reference(pred), surface_reference(true)
    if not sp.any() and not st.any():
        return 1.0
    d_to_true = ndimage.distance_transform_edt(~st, sampling=sampling)[sp] if st.any() else (
        np.full(sp.sum(), np.inf))
    d_to_pred = ndimage.distance_transform_edt(~sp, sampling=sampling)[st] if sp.any() else (
        np.full(st.sum(), np.inf))
    correct = (d_to_true <= tolerance).sum() + (d_to_pred <= tolerance).sum()
    return correct / (sp.sum() + st.sum())


def test_dice_and_iou_match_counts():
    pred, true = blobs(0, (2, 16, 16)), blobs(1, (2, 16, 16))
    dice = np.asarray(dice_score(pred, true, num_classes=3))
    iou = np.asarray(iou_score(pred, true, num_classes=3))
    for b in range(2):
        for c in range(3):
            p, t = pred[b] == c, true[b] == c
            np.testing.assert_allclose(dice[b, c], 2 * (p & t).sum() / (p.sum() + t.sum()), 1e-6)
            np.testing.assert_allclose(iou[b, c], (p & t).sum() / (p | t).sum(), 1e-6)
    dense = dice_score(one_hot_np(pred, 3), one_hot_np(true, 3), include_background=False)
    np.testing.assert_allclose(dense, dice[:, 1:], rtol=1e-6)


@pytest.mark.slow
def test_empty_masks_have_documented_values():
    empty = np.zeros((1, 6, 6), np.int32)
    some = empty.copy()
    some[0, 2:4, 2:4] = 1
    assert float(dice_score(empty, empty, num_classes=2)[0, 1]) == 1.0
    assert float(iou_score(empty, some, num_classes=2)[0, 1]) == 0.0
    assert float(hausdorff_distance(empty, empty, num_classes=2)[0, 1]) == 0.0
    assert np.isinf(float(hausdorff_distance(empty, some, num_classes=2)[0, 1]))
    assert np.isinf(float(average_surface_distance(some, empty, num_classes=2)[0, 1]))
    hd95 = hausdorff_distance(empty, empty, num_classes=2, percentile=95)
    assert not np.any(np.isnan(np.asarray(hd95)))


def test_surface_mask_matches_scipy_erosion():
    masks = one_hot_np(blobs(2, (2, 9, 11, 7)), 3).astype(bool)
    ours = np.asarray(surface_mask(jnp.asarray(masks)))
    for b in range(2):
        for c in range(3):
            np.testing.assert_array_equal(ours[b, ..., c], surface_reference(masks[b, ..., c]))


@pytest.mark.parametrize("sampling", [None, (1.5, 0.7)])
@pytest.mark.parametrize("percentile", [None, 95])
def test_hausdorff_matches_scipy_reference(sampling, percentile):
    pred, true = blobs(3, (2, 20, 17)), blobs(4, (2, 20, 17))
    ours = np.asarray(
        hausdorff_distance(pred, true, num_classes=3, percentile=percentile, sampling=sampling)
    )
    for b in range(2):
        for c in range(3):
            ref = hd_reference(pred[b] == c, true[b] == c, percentile, sampling)
            np.testing.assert_allclose(ours[b, c], ref, rtol=1e-5)


@pytest.mark.parametrize("sampling", [None, (1.5, 0.7)])
def test_surface_dice_matches_scipy_reference(sampling):
    pred, true = blobs(9, (2, 20, 17)), blobs(10, (2, 20, 17))
    pred[1] = 0  # example 1: classes 1 and 2 missing from the prediction (NSD 0)
    tolerance = np.array([0.0, 1.0, 2.5], np.float32)
    ours = np.asarray(surface_dice(pred, true, num_classes=3, tolerance=tolerance,
                                   sampling=sampling))
    for b in range(2):
        for c in range(3):
            ref = nsd_reference(pred[b] == c, true[b] == c, tolerance[c], sampling)
            np.testing.assert_allclose(ours[b, c], ref, rtol=1e-6, err_msg=f"{b}, {c}")
    empty = np.zeros((1, 6, 6), np.int32)
    assert float(surface_dice(empty, empty, num_classes=2, tolerance=1.0)[0, 1]) == 1.0
    dense = surface_dice(one_hot_np(pred, 3), one_hot_np(true, 3), tolerance=tolerance[1:],
                         include_background=False, sampling=sampling)
    np.testing.assert_allclose(dense, ours[:, 1:], rtol=1e-6)
    with pytest.raises(ValueError, match=r"tolerance: expected a scalar or shape \(3,\)"):
        surface_dice(pred, true, num_classes=3, tolerance=[1.0, 2.0])
    with pytest.raises(ValueError, match="tolerance: values must be finite and non-negative"):
        surface_dice(pred, true, num_classes=3, tolerance=-1.0)


@pytest.mark.slow
@pytest.mark.parametrize("weight_type", ["square", "simple", "uniform"])
def test_generalized_dice_score_matches_reference_and_monai(weight_type):
    torch = pytest.importorskip("torch")
    monai_metrics = pytest.importorskip("monai.metrics")
    pred, true = blobs(11, (3, 14, 13)), blobs(12, (3, 14, 13))
    true[2][true[2] == 2] = 1  # example 2: class 2 absent from the truth (the weight rule)
    ours = np.asarray(generalized_dice_score(pred, true, num_classes=3,
                                             class_weighting=weight_type))
    for b in range(3):  # NumPy, from the definition
        p, t = one_hot_np(pred[b], 3).reshape(-1, 3), one_hot_np(true[b], 3).reshape(-1, 3)
        volume = t.sum(0).astype(float)
        with np.errstate(divide="ignore"):
            w = {"square": 1 / volume**2, "simple": 1 / volume, "uniform": np.ones(3)}[weight_type]
        finite = np.isfinite(w)
        w[~finite] = w[finite].max() if finite.any() else 1.0
        ref = 2 * (w * (p * t).sum(0)).sum() / (w * (p.sum(0) + t.sum(0))).sum()
        np.testing.assert_allclose(ours[b], ref, rtol=1e-5)
    monai = monai_metrics.compute_generalized_dice(
        torch.tensor(one_hot_np(pred, 3)).movedim(-1, 1),
        torch.tensor(one_hot_np(true, 3)).movedim(-1, 1),
        weight_type=weight_type, sum_over_classes=True).numpy()[:, 0]
    np.testing.assert_allclose(ours, monai, rtol=1e-5)
    empty = np.zeros((1, 5, 5), np.int32)
    score = generalized_dice_score(empty, empty, num_classes=2, include_background=False)
    assert float(score[0]) == 1.0


@pytest.mark.slow
def test_metrics_match_monai_2d_and_3d_anisotropic():
    torch = pytest.importorskip("torch")
    monai_metrics = pytest.importorskip("monai.metrics")
    for shape, spacing in [((2, 18, 15), (1.0, 1.0)), ((2, 10, 9, 8), (2.0, 1.0, 0.5))]:
        pred, true = blobs(5, shape), blobs(6, shape)
        p = torch.tensor(one_hot_np(pred, 3)).movedim(-1, 1)
        t = torch.tensor(one_hot_np(true, 3)).movedim(-1, 1)
        for percentile in (None, 95):
            ref = monai_metrics.compute_hausdorff_distance(
                p, t, include_background=True, percentile=percentile, spacing=list(spacing)
            ).numpy()
            ours = hausdorff_distance(
                pred, true, num_classes=3, percentile=percentile, sampling=spacing
            )
            np.testing.assert_allclose(ours, ref, rtol=1e-5)
        for symmetric in (False, True):
            ref = monai_metrics.compute_average_surface_distance(
                p, t, include_background=True, symmetric=symmetric, spacing=list(spacing)
            ).numpy()
            ours = average_surface_distance(
                pred, true, num_classes=3, symmetric=symmetric, sampling=spacing
            )
            np.testing.assert_allclose(ours, ref, rtol=1e-5)
        tolerance = [0.5, 1.0, 2.0]
        ref = monai_metrics.compute_surface_dice(
            p, t, class_thresholds=tolerance, include_background=True, spacing=list(spacing)
        ).numpy()
        ours = surface_dice(pred, true, num_classes=3, tolerance=tolerance, sampling=spacing)
        np.testing.assert_allclose(ours, ref, rtol=1e-5)


def test_metrics_jit_and_errors():
    pred, true = blobs(7, (2, 12, 12)), blobs(8, (2, 12, 12))
    jitted = jax.jit(lambda a, b: hausdorff_distance(a, b, num_classes=3, percentile=95))
    np.testing.assert_allclose(
        jitted(pred, true), hausdorff_distance(pred, true, num_classes=3, percentile=95)
    )
    with pytest.raises(ValueError, match=r"labels: expected class indices of shape \(B,"):
        dice_score(pred, true[:, :5], num_classes=3)
    with pytest.raises(ValueError, match=r"num_classes: 3 disagrees .* C = 12"):
        dice_score(pred.astype(np.float32), true.astype(np.float32), num_classes=3)
    with pytest.raises(ValueError, match="percentile"):
        hausdorff_distance(pred, true, num_classes=3, percentile=120)


def brute_distance(metric, sampling):
    """Distance to the nearest zero element from its definition (every pair), for a reference
    that shares no code with the library: L1 / L-inf of the spacing-weighted index offsets."""
    def transform(mask):
        zeros = np.argwhere(~mask)
        offsets = np.abs(np.argwhere(np.ones_like(mask))[:, None] - zeros[None])
        steps = offsets * np.asarray(sampling or (1.0,) * mask.ndim)
        dist = steps.sum(-1) if metric == "taxicab" else steps.max(-1)
        return dist.min(1).reshape(mask.shape)
    return transform


@pytest.mark.parametrize("metric", ["chessboard", "taxicab"])
@pytest.mark.parametrize("sampling", [None, (1.5, 0.7)])
def test_surface_metrics_with_cdt_distances_match_reference(metric, sampling):
    pred, true = blobs(13, (2, 15, 13)), blobs(14, (2, 15, 13))
    options = dict(num_classes=3, sampling=sampling, distance_metric=metric)
    hd = np.asarray(hausdorff_distance(pred, true, **options))
    hd95 = np.asarray(hausdorff_distance(pred, true, percentile=95, **options))
    asd = np.asarray(average_surface_distance(pred, true, **options))
    nsd = np.asarray(surface_dice(pred, true, tolerance=1.5, **options))
    transform = brute_distance(metric, sampling)
    for b in range(2):
        for c in range(3):
            sp, st = surface_reference(pred[b] == c), surface_reference(true[b] == c)
            d_to_true, d_to_pred = transform(~st)[sp], transform(~sp)[st]
            np.testing.assert_allclose(hd[b, c], max(d_to_true.max(), d_to_pred.max()), 1e-6)
            np.testing.assert_allclose(hd95[b, c], max(np.percentile(d_to_true, 95),
                                                       np.percentile(d_to_pred, 95)), 1e-6)
            both = np.concatenate([d_to_true, d_to_pred])
            np.testing.assert_allclose(asd[b, c], both.mean(), 1e-6)
            np.testing.assert_allclose(nsd[b, c], (both <= 1.5).mean(), 1e-6)
    with pytest.raises(ValueError, match="distance_metric: expected one of"):
        hausdorff_distance(pred, true, num_classes=3, distance_metric="manhattan")


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["chessboard", "taxicab"])
def test_surface_metrics_with_cdt_distances_match_monai(metric):
    """MONAI takes these distances from SciPy's distance_transform_cdt, in voxel steps."""
    torch = pytest.importorskip("torch")
    monai_metrics = pytest.importorskip("monai.metrics")
    for shape in [(2, 16, 14), (2, 9, 8, 7)]:
        pred, true = blobs(15, shape), blobs(16, shape)
        p = torch.tensor(one_hot_np(pred, 3)).movedim(-1, 1)
        t = torch.tensor(one_hot_np(true, 3)).movedim(-1, 1)
        options = dict(num_classes=3, distance_metric=metric)
        for percentile in (None, 95):
            ref = monai_metrics.compute_hausdorff_distance(
                p, t, include_background=True, percentile=percentile, distance_metric=metric)
            ours = hausdorff_distance(pred, true, percentile=percentile, **options)
            np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-6)
        for symmetric in (False, True):
            ref = monai_metrics.compute_average_surface_distance(
                p, t, include_background=True, symmetric=symmetric, distance_metric=metric)
            ours = average_surface_distance(pred, true, symmetric=symmetric, **options)
            np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-6)
        tolerance = [0.0, 1.0, 2.0]
        ref = monai_metrics.compute_surface_dice(
            p, t, class_thresholds=tolerance, include_background=True, distance_metric=metric)
        ours = surface_dice(pred, true, tolerance=tolerance, **options)
        np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-6)


@pytest.mark.parametrize("ignore_empty", [False, True])
def test_ignore_empty_matches_reference_and_monai(ignore_empty):
    torch = pytest.importorskip("torch")
    monai_metrics = pytest.importorskip("monai.metrics")
    pred, true = blobs(17, (3, 10, 11)), blobs(18, (3, 10, 11))
    true[0][true[0] == 2] = 1  # example 0: class 2 absent from the truth, present in pred
    true[1][true[1] == 2] = 1
    pred[1][pred[1] == 2] = 0  # example 1: class 2 absent from both
    dice = np.asarray(dice_score(pred, true, num_classes=3, ignore_empty=ignore_empty))
    iou = np.asarray(iou_score(pred, true, num_classes=3, ignore_empty=ignore_empty))
    for b in range(3):  # NumPy, from the definition and MONAI's documented rule
        for c in range(3):
            p, t = pred[b] == c, true[b] == c
            if not t.any():
                expected = np.nan if ignore_empty else float(not p.any())
                np.testing.assert_equal([dice[b, c], iou[b, c]], [expected, expected])
                continue
            np.testing.assert_allclose(dice[b, c], 2 * (p & t).sum() / (p.sum() + t.sum()), 1e-6)
            np.testing.assert_allclose(iou[b, c], (p & t).sum() / (p | t).sum(), 1e-6)
    assert np.isnan(dice[:2, 2]).all() == ignore_empty
    p = torch.tensor(one_hot_np(pred, 3)).movedim(-1, 1)
    t = torch.tensor(one_hot_np(true, 3)).movedim(-1, 1)
    monai_dice = monai_metrics.compute_dice(p, t, ignore_empty=ignore_empty).numpy()
    monai_iou = monai_metrics.compute_iou(p, t, ignore_empty=ignore_empty).numpy()
    np.testing.assert_allclose(dice, monai_dice, rtol=1e-6)
    np.testing.assert_allclose(iou, monai_iou, rtol=1e-6)
    # nanmean over the batch is MONAI's aggregate (reduction="mean_batch"), with its counts.
    metric = monai_metrics.DiceMetric(ignore_empty=ignore_empty, reduction="mean_batch",
                                      get_not_nans=True)
    metric(p, t)
    aggregate, not_nans = metric.aggregate()
    np.testing.assert_allclose(np.nanmean(dice, axis=0), aggregate.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(np.sum(~np.isnan(dice), axis=0), not_nans.numpy())


IGNORE = 255


def _excluded_inputs(seed, shape):
    """Label maps with an ignore_index band and a mask that drops a block: (pred, true, mask,
    kept) where ``kept`` is what both exclusions leave."""
    pred, true = blobs(seed, shape), blobs(seed + 1, shape)
    rng = np.random.default_rng(seed)
    true = np.where(rng.random(shape) < 0.1, IGNORE, true).astype(np.int32)
    mask = np.ones(shape, np.float32)
    mask[0, : shape[1] // 3] = 0.0
    mask[1, ..., -2:] = 0.5  # non-zero weights are "scored"
    return pred, true, mask, (true != IGNORE) & (mask > 0)


def test_region_metrics_with_mask_and_ignore_index_match_reference_and_monai():
    torch = pytest.importorskip("torch")
    monai_metrics = pytest.importorskip("monai.metrics")
    pred, true, mask, kept = _excluded_inputs(19, (2, 12, 13))
    options = dict(num_classes=3, mask=mask, ignore_index=IGNORE)
    dice = np.asarray(dice_score(pred, true, **options))
    iou = np.asarray(iou_score(pred, true, **options))
    gds = np.asarray(generalized_dice_score(pred, true, **options))
    for b in range(2):  # NumPy: count the kept pixels only
        p = one_hot_np(pred[b], 3)[kept[b]].astype(bool)
        t = one_hot_np(np.where(kept[b], true[b], 0), 3)[kept[b]].astype(bool)
        tp, ps, ts = (p & t).sum(0), p.sum(0), t.sum(0)
        np.testing.assert_allclose(dice[b], 2 * tp / (ps + ts), rtol=1e-6)
        np.testing.assert_allclose(iou[b], tp / (ps + ts - tp), rtol=1e-6)
        w = 1.0 / ts.astype(float) ** 2
        np.testing.assert_allclose(gds[b], 2 * (w * tp).sum() / (w * (ps + ts)).sum(), 1e-5)
    # mask= alone gives the same numbers when it drops what ignore_index drops
    np.testing.assert_array_equal(
        dice, dice_score(pred, np.where(kept, true, 0), num_classes=3, mask=kept))
    # dense masks take mask= (and reject ignore_index)
    dense_pred, dense_true = one_hot_np(pred, 3), one_hot_np(np.where(kept, true, 0), 3)
    np.testing.assert_array_equal(iou, iou_score(dense_pred, dense_true, mask=kept))
    with pytest.raises(ValueError, match="ignore_index: only applies to integer"):
        iou_score(dense_pred, dense_true, ignore_index=IGNORE)
    # MONAI: one-hot truth with all-zero ignored pixels and a sentinel ignore_index
    p = torch.tensor(one_hot_np(pred, 3)).movedim(-1, 1)
    t = torch.tensor(one_hot_np(true % IGNORE, 3) * (true != IGNORE)[..., None]).movedim(-1, 1)
    ours = dict(num_classes=3, ignore_index=IGNORE)
    np.testing.assert_allclose(
        dice_score(pred, true, **ours),
        monai_metrics.compute_dice(p, t, ignore_empty=False, ignore_index=IGNORE), rtol=1e-6)
    np.testing.assert_allclose(
        iou_score(pred, true, **ours),
        monai_metrics.compute_iou(p, t, ignore_empty=False, ignore_index=IGNORE), rtol=1e-6)
    np.testing.assert_allclose(
        generalized_dice_score(pred, true, **ours),
        monai_metrics.compute_generalized_dice(p, t, ignore_index=IGNORE,
                                               sum_over_classes=True)[:, 0], rtol=1e-5)


@pytest.mark.slow
def test_ignore_index_naming_a_class_leaves_it_unscored():
    pred, true = blobs(21, (2, 10, 9)), blobs(22, (2, 10, 9))
    dice = np.asarray(dice_score(pred, true, num_classes=3, ignore_index=2))
    assert np.isnan(dice[:, 2]).all() and not np.isnan(dice[:, :2]).any()
    kept = true != 2
    np.testing.assert_array_equal(
        dice[:, :2], dice_score(pred, true, num_classes=3, mask=kept)[:, :2])
    np.testing.assert_array_equal(
        dice_score(pred, true, num_classes=3, ignore_index=2, include_background=False)[:, 1],
        dice[:, 2])
    hd = np.asarray(hausdorff_distance(pred, true, num_classes=3, ignore_index=2))
    assert np.isnan(hd[:, 2]).all() and not np.isnan(hd[:, :2]).any()
    # the generalized Dice pools the other classes only
    np.testing.assert_allclose(
        generalized_dice_score(pred, true, num_classes=3, ignore_index=2),
        generalized_dice_score(one_hot_np(pred, 3)[..., :2] > 0,  # boolean masks: as given
                               one_hot_np(true, 3)[..., :2], mask=kept), rtol=1e-6)


def test_surface_metrics_with_mask_and_ignore_index_match_reference_and_monai():
    """Excluded pixels leave both masks before the surfaces are taken (SciPy reference), as
    MONAI multiplies both masks by its ignore mask."""
    torch = pytest.importorskip("torch")
    monai_metrics = pytest.importorskip("monai.metrics")
    pred, true, mask, kept = _excluded_inputs(23, (2, 16, 14))
    options = dict(num_classes=3, mask=mask, ignore_index=IGNORE, sampling=(1.5, 0.7))
    hd = np.asarray(hausdorff_distance(pred, true, **options))
    hd95 = np.asarray(hausdorff_distance(pred, true, percentile=95, **options))
    asd = np.asarray(average_surface_distance(pred, true, **options))
    nsd = np.asarray(surface_dice(pred, true, tolerance=1.0, **options))
    for b in range(2):
        for c in range(3):
            p, t = (pred[b] == c) & kept[b], (true[b] == c) & kept[b]
            np.testing.assert_allclose(hd[b, c], hd_reference(p, t, None, (1.5, 0.7)), 1e-5)
            np.testing.assert_allclose(hd95[b, c], hd_reference(p, t, 95, (1.5, 0.7)), 1e-5)
            np.testing.assert_allclose(nsd[b, c], nsd_reference(p, t, 1.0, (1.5, 0.7)), 1e-6)
            sp, st = surface_reference(p), surface_reference(t)
            d = np.concatenate([ndimage.distance_transform_edt(~st, sampling=(1.5, 0.7))[sp],
                                ndimage.distance_transform_edt(~sp, sampling=(1.5, 0.7))[st]])
            np.testing.assert_allclose(asd[b, c], d.mean(), 1e-5)
    p = torch.tensor(one_hot_np(pred, 3)).movedim(-1, 1)
    t = torch.tensor(one_hot_np(true % IGNORE, 3) * (true != IGNORE)[..., None]).movedim(-1, 1)
    ours = dict(num_classes=3, ignore_index=IGNORE, sampling=(1.5, 0.7))
    monai_hd = monai_metrics.HausdorffDistanceMetric(
        include_background=True, percentile=95, ignore_index=IGNORE)
    np.testing.assert_allclose(hausdorff_distance(pred, true, percentile=95, **ours),
                               monai_hd(p, t, spacing=[1.5, 0.7]), rtol=1e-5)
    monai_asd = monai_metrics.SurfaceDistanceMetric(
        include_background=True, symmetric=True, ignore_index=IGNORE)
    np.testing.assert_allclose(average_surface_distance(pred, true, **ours),
                               monai_asd(p, t, spacing=[1.5, 0.7]), rtol=1e-5)
    np.testing.assert_allclose(
        surface_dice(pred, true, tolerance=1.0, **ours),
        monai_metrics.compute_surface_dice(p, t, [1.0] * 3, include_background=True,
                                           spacing=[1.5, 0.7], ignore_index=IGNORE), rtol=1e-6)
