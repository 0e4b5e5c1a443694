"""The metrics' input contract (#27): every metric takes what the losses take, and every form
of the same segmentation gives the same numbers; an integer map never lends a spatial axis as
the class count."""

from __future__ import annotations

import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg_losses import metrics
from tests.helpers import blobs, one_hot_np

# Every metric of hard masks in the public module with the options it needs beyond the inputs
# (not: surface_mask, a helper; confusion_from_counts, which takes counts; calibration_error,
# which reads probabilities: tests/test_metrics_volume_calibration.py).
REQUIRED = {"surface_dice": dict(tolerance=1.0)}
NOT_HARD = {"surface_mask", "confusion_from_counts", "calibration_error"}
# The object metrics return records (LesionDetection, PanopticQuality), have no
# include_background (multiclass never scores class 0) and keep their input-form and bad-value
# tests in tests/test_metrics_objects.py.
RECORDS = {"lesion_detection", "panoptic_quality"}
METRICS = sorted(
    name for name in metrics.__all__
    if name not in NOT_HARD | RECORDS and inspect.isfunction(fn := getattr(metrics, name))
    and list(inspect.signature(fn).parameters)[:2] == ["predictions", "labels"]
)


def metric(name):
    return functools.partial(getattr(metrics, name), **REQUIRED.get(name, {}))


def multiclass_forms(pred: np.ndarray, true: np.ndarray, num_classes: int):
    """The same prediction and truth in every form, with the options each form needs."""
    rng = np.random.default_rng(0)
    # Logits whose argmax is ``pred``: random, then the predicted class raised above the rest.
    logits = rng.normal(size=pred.shape + (num_classes,)).astype(np.float32)
    logits += 8.0 * one_hot_np(pred, num_classes)
    probs = np.asarray(jax.nn.softmax(logits))
    pred_1h, true_1h = one_hot_np(pred, num_classes), one_hot_np(true, num_classes)
    return {
        "int map, int labels": (pred, true, dict(num_classes=num_classes)),
        "int map, one-hot labels": (pred, true_1h, {}),
        "logits, int labels": (logits, true, {}),
        "logits, one-hot labels": (logits, true_1h, {}),
        "probabilities, int labels": (probs, true, dict(from_logits=False)),
        "float one-hot, one-hot labels": (pred_1h.astype(np.float32), true_1h, {}),
        "bool masks, bool labels": (pred_1h > 0, true_1h > 0, {}),
        "bf16 logits, int labels": (jnp.asarray(logits, jnp.bfloat16), true, {}),
    }


@pytest.mark.parametrize("name", METRICS)
@pytest.mark.parametrize("shape", [(2, 13, 11), (2, 7, 6, 5)])
def test_every_input_form_gives_the_same_numbers(name, shape):
    pred, true = blobs(1, shape), blobs(2, shape)
    fn = metric(name)
    expected = None
    for form, (p, t, options) in multiclass_forms(pred, true, 3).items():
        got = np.asarray(fn(p, t, include_background=False, **options))
        if expected is None:
            expected = got
            assert np.all(np.isfinite(got)), (form, got)
        np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=form)


@pytest.mark.parametrize("name", METRICS)
def test_binary_and_multilabel_threshold_the_probability(name):
    rng = np.random.default_rng(3)
    shape = (2, 12, 10)
    true = blobs(4, shape, num_classes=2)
    logits = rng.normal(scale=3.0, size=shape + (1,)).astype(np.float32)
    fn = metric(name)
    for threshold in (0.5, 0.8):
        hard = jax.nn.sigmoid(logits) > threshold
        expected = np.asarray(fn(hard, true[..., None] > 0, mode="binary"))
        forms = {
            "logits, int labels": (logits, true, {}),
            "probabilities, float labels": (np.asarray(jax.nn.sigmoid(logits)),
                                            true.astype(np.float32), dict(from_logits=False)),
            "logits, dense labels": (logits, true[..., None].astype(np.float32), {}),
        }
        for form, (p, t, options) in forms.items():
            got = fn(p, t, mode="binary", threshold=threshold, **options)
            np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=f"{form}, {threshold}")
        assert got.shape[-1:] == (1,) or got.ndim == 1
    # An integer 0/1 map in binary mode is the foreground mask.
    np.testing.assert_allclose(fn((logits[..., 0] > 0).astype(np.int32), true, mode="binary"),
                               fn(logits, true, mode="binary"), rtol=1e-6)
    # multilabel: each channel thresholded on its own
    logits2 = rng.normal(scale=3.0, size=shape + (2,)).astype(np.float32)
    labels2 = np.stack([true, 1 - true], -1).astype(np.float32)
    np.testing.assert_allclose(
        fn(logits2, labels2, mode="multilabel", threshold=0.3),
        fn(jax.nn.sigmoid(logits2) > 0.3, labels2 > 0, mode="multilabel"), rtol=1e-6)


def test_logits_are_not_read_as_probabilities():
    """Logits with one-hot truth: the argmax, not ``logits > 0.5`` (Dice off by up to 0.41)."""
    true = blobs(5, (1, 16, 16))
    logits = np.where(one_hot_np(true, 3) > 0, 0.4, -3.0).astype(np.float32)  # all below 0.5
    dice = metrics.dice_score(logits, one_hot_np(true, 3))
    np.testing.assert_allclose(dice, 1.0)


@pytest.mark.parametrize("name", METRICS)
def test_integer_maps_without_num_classes_are_an_error(name):
    pred, true = blobs(6, (2, 8, 8)), blobs(7, (2, 8, 8))
    with pytest.raises(ValueError, match="num_classes: required"):
        metric(name)(pred, true)
    with pytest.raises(ValueError, match="num_classes: 4 disagrees"):
        metric(name)(pred, one_hot_np(true, 3), num_classes=4)
    with pytest.raises(ValueError, match="num_classes: 2 disagrees"):
        metric(name)(one_hot_np(pred, 3), true, num_classes=2)
    with pytest.raises(ValueError, match="mode='binary' expects predictions with C == 1"):
        metric(name)(one_hot_np(pred, 3), true, mode="binary")


@pytest.mark.parametrize("name", METRICS)
def test_bad_values_raise_eagerly_and_give_nan_unchecked(name):
    pred, true = blobs(8, (2, 8, 8)), blobs(9, (2, 8, 8))
    logits = one_hot_np(pred, 3).astype(np.float32)
    logits[1, 2, 3, 0] = np.nan
    fn = metric(name)
    with pytest.raises(ValueError, match="predictions: logits must be finite"):
        fn(logits, true)
    with pytest.raises(ValueError, match=r"from_logits=False expects probabilities in \[0, 1\]"):
        fn(2.0 * one_hot_np(pred, 3), true, from_logits=False)
    with pytest.raises(ValueError, match=r"labels: dense targets must lie in \[0, 1\]"):
        fn(one_hot_np(pred, 3), 2.0 * one_hot_np(true, 3))
    with pytest.raises(ValueError, match=r"threshold: expected a value >= 0.0 and <= 1.0"):
        fn(logits[..., :1], true, mode="binary", threshold=1.5)
    unchecked = np.asarray(jax.jit(fn)(logits, true))
    assert np.isnan(unchecked[1]).all() and not np.isnan(unchecked[0]).any()
