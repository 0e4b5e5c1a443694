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
    hausdorff_distance,
    iou_score,
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


def test_metrics_jit_and_errors():
    pred, true = blobs(7, (2, 12, 12)), blobs(8, (2, 12, 12))
    jitted = jax.jit(lambda a, b: hausdorff_distance(a, b, num_classes=3, percentile=95))
    np.testing.assert_allclose(
        jitted(pred, true), hausdorff_distance(pred, true, num_classes=3, percentile=95)
    )
    with pytest.raises(ValueError, match="labels: expected the shape of predictions"):
        dice_score(pred, true[:, :5], num_classes=3)
    with pytest.raises(TypeError, match="integer label maps"):
        dice_score(pred.astype(np.float32), true.astype(np.float32), num_classes=3)
    with pytest.raises(ValueError, match="percentile"):
        hausdorff_distance(pred, true, num_classes=3, percentile=120)
