"""Confusion-matrix metrics (#27 section 3): NumPy references written from the definitions, and
the peers' numbers on the same inputs (MONAI ``compute_confusion_matrix_metric``, torchmetrics'
classification functions, smp's ``get_stats`` + metric functions), reductions (``average``,
``per_image``, ``zero_division``, ``class_weights``), jit / vmap / ``axis_name``, 2-D and 3-D."""

from __future__ import annotations

import functools
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg_losses import confusion_from_counts, confusion_metric, fbeta_score
from jaxseg_losses.metrics.confusion import METRIC_NAMES
from tests.helpers import blobs, one_hot_np, smp_module
from tests.jit_cache import jl

C = 3
NAMES = [n for n in METRIC_NAMES if n != "fbeta_score"]
MONAI_NAMES = {  # MONAI's spelling of each name (with spaces, as its docs list them)
    "sensitivity": "sensitivity", "specificity": "specificity", "precision": "precision",
    "negative_predictive_value": "negative predictive value", "miss_rate": "miss rate",
    "fall_out": "fall out", "false_discovery_rate": "false discovery rate",
    "false_omission_rate": "false omission rate", "prevalence_threshold": "prevalence threshold",
    "threat_score": "threat score", "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy", "f1_score": "f1 score",
    "matthews_correlation_coefficient": "matthews correlation coefficient",
    "fowlkes_mallows_index": "fowlkes mallows index", "informedness": "informedness",
    "markedness": "markedness",
}


def reference(name, tp, fp, fn, tn, beta=1.0):
    """NumPy, float64, from the definitions (Wikipedia's confusion-matrix page, as MONAI's
    docstring cites); NaN where a denominator is 0."""
    tp, fp, fn, tn = (np.asarray(c, np.float64) for c in (tp, fp, fn, tn))
    with np.errstate(divide="ignore", invalid="ignore"):
        def div(a, b):
            return np.where(b != 0, a / np.where(b != 0, b, 1), np.nan)
        tpr, tnr, ppv, npv = div(tp, tp + fn), div(tn, tn + fp), div(tp, tp + fp), div(tn, tn + fn)
        b2 = beta * beta
        return {
            "sensitivity": tpr, "specificity": tnr, "precision": ppv,
            "negative_predictive_value": npv, "miss_rate": div(fn, fn + tp),
            "fall_out": div(fp, fp + tn), "false_discovery_rate": div(fp, fp + tp),
            "false_omission_rate": div(fn, fn + tn),
            "prevalence_threshold": div(np.sqrt(tpr * (1 - tnr)) + tnr - 1, tpr + tnr - 1),
            "threat_score": div(tp, tp + fp + fn), "accuracy": div(tp + tn, tp + fp + fn + tn),
            "balanced_accuracy": (tpr + tnr) / 2, "f1_score": div(2 * tp, 2 * tp + fp + fn),
            "matthews_correlation_coefficient": div(
                tp * tn - fp * fn, np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))),
            "fowlkes_mallows_index": np.sqrt(ppv * tpr), "informedness": tpr + tnr - 1,
            "markedness": ppv + npv - 1,
            "fbeta_score": div((1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp),
        }[name]


def counts_np(pred, true, num_classes=C, kept=None):
    """``(tp, fp, fn, tn)`` ``(B, C)`` from integer maps, counting the ``kept`` pixels only."""
    p, t = one_hot_np(pred, num_classes) > 0, one_hot_np(true % 255, num_classes) > 0
    if kept is not None:
        p, t = p & kept[..., None], t & kept[..., None]
    axes = tuple(range(1, pred.ndim))
    n = (np.ones(pred.shape, bool) if kept is None else kept).sum(axes)[:, None]
    tp, ps, ts = (p & t).sum(axes), p.sum(axes), t.sum(axes)
    return tp, ps - tp, ts - tp, n - ps - ts + tp


@functools.cache
def jitted(name_or_names, **options):
    names = list(name_or_names) if isinstance(name_or_names, tuple) else name_or_names
    return jax.jit(lambda p, y: confusion_metric(p, y, metric=names, **options))


def inputs(seed, shape):
    pred, true = blobs(seed, shape), blobs(seed + 1, shape)
    pred[0][pred[0] == 2] = 1  # example 0: class 2 predicted nowhere (precision undefined)
    true[-1][true[-1] == 1] = 0  # last example: class 1 absent from the truth
    return pred, true


@pytest.mark.parametrize("shape", [(3, 12, 11), (2, 6, 5, 4)])
def test_every_metric_matches_its_definition(shape):
    pred, true = inputs(1, shape)
    got = jitted(tuple(NAMES), num_classes=C)(pred, true)
    counts = counts_np(pred, true)
    for name in NAMES:
        np.testing.assert_allclose(got[name], reference(name, *counts), rtol=2e-6, atol=1e-7,
                                   err_msg=name)
    assert np.isnan(got["precision"][0, 2]) and np.isnan(got["sensitivity"][-1, 1])
    for beta in (0.5, 2.0):
        f = jax.jit(lambda p, y, beta=beta: fbeta_score(p, y, num_classes=C, beta=beta))
        np.testing.assert_allclose(f(pred, true), reference("fbeta_score", *counts, beta=beta),
                                   rtol=2e-6)
    # the counts API gives the same numbers, and aliases name the same metric
    np.testing.assert_allclose(
        confusion_from_counts(*counts, metric="Matthews Correlation Coefficient"),
        got["matthews_correlation_coefficient"], rtol=2e-6)
    pairs = {"recall": "sensitivity", "tnr": "specificity", "iou": "threat_score",
             "youden": "informedness", "dice": "f1_score"}
    aliases = jitted(tuple(pairs), num_classes=C)(pred, true)
    for alias, name in pairs.items():
        np.testing.assert_array_equal(aliases[alias], got[name])


@pytest.mark.parametrize("include_background", [True, False])
def test_matches_monai(include_background):
    torch = pytest.importorskip("torch")
    monai_metrics = pytest.importorskip("monai.metrics")
    pred, true = inputs(3, (3, 10, 9))
    ours = jitted(tuple(NAMES), num_classes=C, include_background=include_background)(pred, true)
    matrix = monai_metrics.get_confusion_matrix(
        torch.tensor(one_hot_np(pred, C)).movedim(-1, 1),
        torch.tensor(one_hot_np(true, C)).movedim(-1, 1), include_background=include_background)
    for name in NAMES:
        monai = monai_metrics.compute_confusion_matrix_metric(MONAI_NAMES[name], matrix).numpy()
        np.testing.assert_allclose(ours[name], monai, rtol=2e-6, atol=1e-7, err_msg=name)
    # ConfusionMatrixMetric(compute_sample=False): the counts summed over the batch (ours
    # per_image=False), one value per class
    metric = monai_metrics.ConfusionMatrixMetric(metric_name="precision", reduction="sum_batch",
                                                 include_background=include_background)
    metric(torch.tensor(one_hot_np(pred, C)).movedim(-1, 1),
           torch.tensor(one_hot_np(true, C)).movedim(-1, 1))
    pooled = jitted("precision", num_classes=C, include_background=include_background,
                    per_image=False)(pred, true)
    np.testing.assert_allclose(pooled, np.broadcast_to(metric.aggregate()[0].numpy(),
                                                       pooled.shape), rtol=2e-6)


def torchmetrics_module(name: str = "functional.classification"):
    """``torchmetrics.<name>``; torchmetrics imports torchvision when its
    metadata is installed, and that torchvision does not load beside the installed torch, so
    the import runs with torchvision reported absent."""
    pytest.importorskip("torch")
    try:
        imports = importlib.import_module("lightning_utilities.core.imports")
    except ImportError:
        pytest.skip("torchmetrics is not installed")
    original = imports.RequirementCache

    class WithoutTorchvision(original):
        def __bool__(self):
            if str(self.requirement).startswith("torchvision"):
                return False
            return super().__bool__()

    imports.RequirementCache = WithoutTorchvision
    try:
        return importlib.import_module(f"torchmetrics.{name}")
    except ImportError as exc:
        pytest.skip(f"torchmetrics does not import: {exc}")
    finally:
        imports.RequirementCache = original


def full_classes(seed, shape, num_classes=C):
    """Maps where every class is predicted and true in every example (torchmetrics' macro mean
    leaves out a class absent from both; see the docs)."""
    pred, true = blobs(seed, shape, num_classes), blobs(seed + 1, shape, num_classes)
    for x in (pred, true):
        for b in range(shape[0]):
            x[b].flat[:num_classes] = np.arange(num_classes)
    return pred, true


TM_METRICS = {"precision": "precision", "sensitivity": "recall", "f1_score": "f1_score",
              "specificity": "specificity", "negative_predictive_value":
              "negative_predictive_value"}


@pytest.mark.parametrize("per_image", [True, False])
def test_matches_torchmetrics_multiclass(per_image):
    torch = pytest.importorskip("torch")
    tm = torchmetrics_module()
    pred, true = full_classes(5, (3, 9, 8))
    true[1, 2:4, 2:4] = 255  # excluded pixels
    multidim = "samplewise" if per_image else "global"
    p, t = torch.tensor(pred).long(), torch.tensor(true).long()
    for average in ("none", "micro", "macro", "weighted"):
        ours = jitted(tuple(TM_METRICS), num_classes=C, average=average, per_image=per_image,
                      ignore_index=255)(pred, true)
        for name, tm_name in TM_METRICS.items():
            theirs = getattr(tm, f"multiclass_{tm_name}")(
                p, t, num_classes=C, average=average, multidim_average=multidim,
                ignore_index=255).numpy()
            got = np.asarray(ours[name])
            np.testing.assert_allclose(got if per_image else got[0], theirs, rtol=2e-6,
                                       err_msg=f"{name}, {average}")
    for beta in (0.5, 2.0):
        theirs = tm.multiclass_fbeta_score(p, t, beta=beta, num_classes=C, average="macro",
                                           multidim_average=multidim, ignore_index=255)
        ours = jl.fbeta_score(pred, true, beta=beta, num_classes=C, average="macro",
                              per_image=per_image, ignore_index=255)
        np.testing.assert_allclose(ours if per_image else ours[0], theirs.numpy(), rtol=2e-6)


def test_matches_torchmetrics_binary_and_multilabel_with_zero_division():
    torch = pytest.importorskip("torch")
    tm = torchmetrics_module()
    rng = np.random.default_rng(7)
    logits = rng.normal(scale=2.0, size=(3, 7, 6, 2)).astype(np.float32)
    logits[0, ..., 1] = -5.0  # example 0, channel 1: nothing predicted (precision undefined)
    labels = (rng.random((3, 7, 6, 2)) < 0.4).astype(np.int32)
    labels[2, ..., 1] = 0  # example 2, channel 1: empty truth (recall undefined)
    probs = torch.sigmoid(torch.tensor(logits))
    for zero_division in (0.0, 1.0):
        options = dict(mode="multilabel", zero_division=zero_division)
        for average in ("none", "micro", "macro"):
            ours = jitted(("precision", "recall", "f1"), average=average, **options)(
                logits, labels)
            for name, tm_name in (("precision", "precision"), ("recall", "recall"),
                                  ("f1", "f1_score")):
                theirs = getattr(tm, f"multilabel_{tm_name}")(
                    probs.movedim(-1, 1), torch.tensor(labels).movedim(-1, 1), num_labels=2,
                    average=average, multidim_average="samplewise",
                    zero_division=zero_division).numpy()
                np.testing.assert_allclose(ours[name], theirs, rtol=2e-6,
                                           err_msg=f"{name} {average} {zero_division}")
        binary = jitted("precision", mode="binary", per_image=False, **{
            "zero_division": zero_division})(logits[..., 1:], labels[..., 1])
        theirs = tm.binary_precision(probs[..., 1], torch.tensor(labels[..., 1]),
                                     zero_division=zero_division)
        np.testing.assert_allclose(binary[:, 0], np.full(3, theirs.item()), rtol=2e-6)


@pytest.mark.parametrize("per_image", [True, False])
def test_matches_torchmetrics_segmentation(per_image):
    """torchmetrics' segmentation ``dice_score`` (``aggregation_level``: our ``per_image``; an
    empty class is NaN and leaves its means) and ``mean_iou(per_class=True)`` (a class absent
    from both masks: -1)."""
    torch = pytest.importorskip("torch")
    segmentation = torchmetrics_module("functional.segmentation")
    pred, true = inputs(17, (2, 9, 8))
    true[1][true[1] == 2] = 1
    pred[1][pred[1] == 2] = 0  # example 1: class 2 absent from both
    p, t = torch.tensor(pred).long(), torch.tensor(true).long()
    level = "samplewise" if per_image else "global"
    for average in ("none", "micro", "macro", "weighted"):
        theirs = segmentation.dice_score(p, t, num_classes=C, average=average,
                                         input_format="index", aggregation_level=level)
        ours = np.asarray(jitted("f1", num_classes=C, average=average, per_image=per_image)(
            pred, true))
        ours = ours if per_image else ours[0]
        np.testing.assert_allclose(ours, theirs.numpy().reshape(ours.shape), rtol=2e-6,
                                   err_msg=average)
    theirs = segmentation.mean_iou(p, t, num_classes=C, input_format="index", per_class=True)
    np.testing.assert_allclose(jitted("iou", num_classes=C, zero_division=-1.0)(pred, true),
                               theirs.numpy(), rtol=2e-6)


SMP = {"fbeta_score": "f1_score", "iou_score": "threat_score", "accuracy": "accuracy",
       "sensitivity": "sensitivity", "specificity": "specificity",
       "balanced_accuracy": "balanced_accuracy", "positive_predictive_value": "precision",
       "negative_predictive_value": "negative_predictive_value",
       "false_negative_rate": "miss_rate", "false_positive_rate": "fall_out",
       "false_discovery_rate": "false_discovery_rate",
       "false_omission_rate": "false_omission_rate"}


def test_matches_smp_reductions():
    torch = pytest.importorskip("torch")
    smp = smp_module("metrics")
    pred, true = inputs(9, (3, 8, 9))
    tp, fp, fn, tn = smp.get_stats(torch.tensor(pred).long(), torch.tensor(true).long(),
                                   mode="multiclass", num_classes=C)
    weights = (0.2, 0.3, 0.5)
    names = tuple(SMP.values())
    variants = {  # smp's reduction -> (our options, how our (B, ...) values give its number)
        "none": ({}, lambda v: v),
        "micro": (dict(per_image=False, average="micro"), lambda v: v[0]),
        "macro": (dict(per_image=False, average="macro"), lambda v: v[0]),
        "weighted": (dict(per_image=False, average="macro", class_weights=weights),
                     lambda v: v[0]),
        "micro-imagewise": (dict(average="micro"), lambda v: v.mean()),
        "macro-imagewise": ({}, lambda v: v.mean(0).mean()),
    }
    for reduction, (options, read) in variants.items():
        ours = jitted(names, num_classes=C, zero_division=1.0, **options)(pred, true)
        extra = {"class_weights": list(weights)} if reduction == "weighted" else {}
        for smp_name, name in SMP.items():
            theirs = getattr(smp, smp_name)(tp, fp, fn, tn, reduction=reduction,
                                            zero_division=1.0, **extra).numpy()
            np.testing.assert_allclose(read(np.asarray(ours[name])), theirs, rtol=2e-6,
                                       err_msg=f"{smp_name}, {reduction}")


def test_reductions_and_zero_division_from_the_definitions():
    pred, true = inputs(11, (3, 10, 10))
    counts = counts_np(pred, true)
    per_class = reference("sensitivity", *counts)  # NaN: example 2, class 1 (empty truth)
    assert np.isnan(per_class).sum() == 1
    run = functools.partial(jitted, "sensitivity", num_classes=C)
    # NaN (default): undefined entries leave the class mean (MONAI's nan-skipping mean)
    np.testing.assert_allclose(run(average="macro")(pred, true), np.nanmean(per_class, 1), 2e-6)
    filled = np.where(np.isnan(per_class), 0.25, per_class)
    np.testing.assert_allclose(run(average="macro", zero_division=0.25)(pred, true),
                               filled.mean(1), rtol=2e-6)
    tp, fp, fn, tn = counts
    np.testing.assert_allclose(run(average="micro")(pred, true), tp.sum(1) / (tp + fn).sum(1),
                               rtol=2e-6)
    support = tp + fn
    np.testing.assert_allclose(
        run(average="weighted", zero_division=0.0)(pred, true),
        (support * np.nan_to_num(per_class)).sum(1) / support.sum(1), rtol=2e-6)
    w = np.array([0.0, 1.0, 3.0])
    np.testing.assert_allclose(
        run(average="macro", class_weights=tuple(w), zero_division=0.0)(pred, true),
        (w * np.nan_to_num(per_class)).sum(1) / w.sum(), rtol=2e-6)
    pooled = [c.sum(0) for c in counts]
    np.testing.assert_allclose(run(per_image=False)(pred, true),
                               np.broadcast_to(reference("sensitivity", *pooled), (3, C)), 2e-6)
    # ignore_index naming a class: that column NaN and out of the means
    got = run(ignore_index=1)(pred, true)
    assert np.isnan(got[:, 1]).all() and not np.isnan(got[:2, [0, 2]]).any()
    macro = run(ignore_index=1, average="macro")(pred, true)
    np.testing.assert_allclose(macro, np.nanmean(np.asarray(got), 1), rtol=2e-6)
    # nothing defined at all: the mean is zero_division
    empty = np.zeros((1, 4, 4), np.int32)
    assert np.isnan(jl.confusion_metric(empty, empty, num_classes=2, average="macro",
                                        include_background=False)[0])
    assert float(jl.confusion_metric(empty, empty, num_classes=2, average="macro",
                                     include_background=False, zero_division=1.0)[0]) == 1.0


def test_jit_vmap_axis_name_and_dense_forms():
    pred, true = inputs(13, (4, 6, 7))
    eager = confusion_metric(pred, true, num_classes=C, metric="f1", average="micro",
                             per_image=False)
    # vmap over examples with the batch axis named: per_image=False pools over it (psum)
    mapped = jax.jit(jax.vmap(lambda p, y: confusion_metric(
        p[None], y[None], num_classes=C, metric="f1", average="micro", per_image=False,
        axis_name="batch")[0], axis_name="batch"))(pred, true)
    np.testing.assert_allclose(mapped, eager, rtol=2e-6)
    dense = jl.confusion_metric(one_hot_np(pred, C) > 0, one_hot_np(true, C), metric="f1",
                                average="micro", per_image=False)
    np.testing.assert_allclose(dense, eager, rtol=2e-6)


def test_bad_options():
    pred, true = inputs(15, (2, 5, 5))
    call = functools.partial(confusion_metric, pred, true, num_classes=C)
    with pytest.raises(ValueError, match="metric: expected one of"):
        call(metric="dice_loss")
    with pytest.raises(TypeError, match="metric: expected a metric name"):
        call(metric=[3])
    with pytest.raises(ValueError, match="average: expected one of"):
        call(average="samples")
    with pytest.raises(ValueError, match="class_weights: weigh the classes"):
        call(average="weighted", class_weights=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"class_weights: expected a scalar or shape \(3,\)"):
        call(average="macro", class_weights=[1.0, 1.0])
    with pytest.raises(ValueError, match="zero_division: expected a finite number or NaN"):
        call(zero_division=np.inf)
    with pytest.raises(TypeError, match="zero_division: expected a number"):
        call(zero_division="warn")
    with pytest.raises(ValueError, match="beta: expected a value > 0"):
        fbeta_score(pred, true, num_classes=C, beta=0.0)
    with pytest.raises(ValueError, match="tp, fp, fn, tn: expected arrays of one shape"):
        confusion_from_counts(np.ones(3), np.ones(3), np.ones(2), np.ones(3))
    # bad values under jit: NaN for that example only (per_image), for the batch when pooled
    labels = true.copy()
    labels[0, 0, 0] = 7
    values = jitted("accuracy", num_classes=C)(pred, labels)
    assert np.isnan(values[0]).all() and not np.isnan(values[1]).any()
    assert np.isnan(jitted("accuracy", num_classes=C, per_image=False)(pred, labels)).all()
    assert jnp.asarray(values).dtype == jnp.float32
