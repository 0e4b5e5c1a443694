r"""Confusion-matrix metrics: sensitivity, specificity, precision, ..., MCC and F-beta, from the
true / false positive / negative pixel counts of hard segmentations.

Every metric is a function of the counts ``(tp, fp, fn, tn)`` per example and class
(:func:`confusion_from_counts` takes them directly, e.g. counts summed over a data set), with
MONAI ``ConfusionMatrixMetric``'s names and definitions. Reductions as torchmetrics and
segmentation-models-pytorch spell them (see :mod:`jaxseg_losses.metrics`): ``average`` over the
classes (``"none"``, ``"micro"``, ``"macro"``, ``"weighted"``), ``per_image`` for the counts of
each example or of the whole batch, ``zero_division`` for the value of an undefined ratio.

**Undefined ratios.** A ratio whose denominator is 0 (sensitivity of an empty truth, precision of
an empty prediction, ...) is undefined and takes ``zero_division``: NaN by default (MONAI's
value), 0 for torchmetrics' default, 1 for smp's F-score / IoU default. A metric built from
other ratios (balanced accuracy, informedness, markedness, Fowlkes-Mallows, prevalence
threshold) is undefined when one of them is. With ``zero_division=nan`` undefined entries leave
the class averages (MONAI's NaN-skipping mean); with a number they count with that value
(torchmetrics, smp).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from jaxseg_losses._inputs import boolean_options, check_class_vector, check_number
from jaxseg_losses._numerics import keep_classes
from jaxseg_losses.metrics._hard import confusion_counts, hard_masks
from jaxseg_losses.metrics._reduce import (
    check_average,
    check_zero_division,
    expand_batch,
    fill_undefined,
    mean_over_classes,
    pool_batch,
)

Counts = tuple[jax.Array, jax.Array, jax.Array, jax.Array]


def _ratio(numerator, denominator):
    ok = denominator != 0
    return numerator / jnp.where(ok, denominator, 1.0), ok


def _tpr(tp, fp, fn, tn):
    return _ratio(tp, tp + fn)


def _tnr(tp, fp, fn, tn):
    return _ratio(tn, tn + fp)


def _ppv(tp, fp, fn, tn):
    return _ratio(tp, tp + fp)


def _npv(tp, fp, fn, tn):
    return _ratio(tn, tn + fn)


def _balanced_accuracy(*counts):
    (tpr, a), (tnr, b) = _tpr(*counts), _tnr(*counts)
    return (tpr + tnr) / 2.0, a & b


def _informedness(*counts):
    (tpr, a), (tnr, b) = _tpr(*counts), _tnr(*counts)
    return tpr + tnr - 1.0, a & b


def _markedness(*counts):
    (ppv, a), (npv, b) = _ppv(*counts), _npv(*counts)
    return ppv + npv - 1.0, a & b


def _fowlkes_mallows(*counts):
    (ppv, a), (tpr, b) = _ppv(*counts), _tpr(*counts)
    return jnp.sqrt(ppv * tpr), a & b


def _prevalence_threshold(*counts):
    (tpr, a), (tnr, b) = _tpr(*counts), _tnr(*counts)
    value, ok = _ratio(jnp.sqrt(tpr * (1.0 - tnr)) + tnr - 1.0, tpr + tnr - 1.0)
    return value, a & b & ok


def _mcc(tp, fp, fn, tn):
    return _ratio(tp * tn - fp * fn, jnp.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))


def _fbeta(tp, fp, fn, tn, beta):
    b2 = beta * beta
    return _ratio((1.0 + b2) * tp, (1.0 + b2) * tp + b2 * fn + fp)


# name -> (formula of (tp, fp, fn, tn) giving (value, defined), the definition for the docs)
FORMULAS: dict[str, tuple[Callable, str]] = {
    "sensitivity": (_tpr, "TP / (TP + FN)"),
    "specificity": (_tnr, "TN / (TN + FP)"),
    "precision": (_ppv, "TP / (TP + FP)"),
    "negative_predictive_value": (_npv, "TN / (TN + FN)"),
    "miss_rate": (lambda tp, fp, fn, tn: _ratio(fn, tp + fn), "FN / (TP + FN)"),
    "fall_out": (lambda tp, fp, fn, tn: _ratio(fp, fp + tn), "FP / (FP + TN)"),
    "false_discovery_rate": (lambda tp, fp, fn, tn: _ratio(fp, fp + tp), "FP / (FP + TP)"),
    "false_omission_rate": (lambda tp, fp, fn, tn: _ratio(fn, fn + tn), "FN / (FN + TN)"),
    "prevalence_threshold": (
        _prevalence_threshold, "(sqrt(TPR (1 - TNR)) + TNR - 1) / (TPR + TNR - 1)"),
    "threat_score": (lambda tp, fp, fn, tn: _ratio(tp, tp + fp + fn), "TP / (TP + FP + FN)"),
    "accuracy": (lambda tp, fp, fn, tn: _ratio(tp + tn, tp + fp + fn + tn),
                 "(TP + TN) / (TP + FP + FN + TN)"),
    "balanced_accuracy": (_balanced_accuracy, "(TPR + TNR) / 2"),
    "f1_score": (lambda tp, fp, fn, tn: _fbeta(tp, fp, fn, tn, 1.0), "2 TP / (2 TP + FP + FN)"),
    "matthews_correlation_coefficient": (
        _mcc, "(TP TN - FP FN) / sqrt((TP + FP)(TP + FN)(TN + FP)(TN + FN))"),
    "fowlkes_mallows_index": (_fowlkes_mallows, "sqrt(PPV TPR)"),
    "informedness": (_informedness, "TPR + TNR - 1"),
    "markedness": (_markedness, "PPV + NPV - 1"),
}
METRIC_NAMES: tuple[str, ...] = (*FORMULAS, "fbeta_score")

# MONAI's aliases (check_confusion_matrix_metric_name) and smp's names.
ALIASES = {
    **{a: "sensitivity" for a in ("recall", "hit_rate", "true_positive_rate", "tpr")},
    **{a: "specificity" for a in ("selectivity", "true_negative_rate", "tnr")},
    **{a: "precision" for a in ("positive_predictive_value", "ppv")},
    "npv": "negative_predictive_value",
    **{a: "miss_rate" for a in ("false_negative_rate", "fnr")},
    **{a: "fall_out" for a in ("false_positive_rate", "fpr")},
    "fdr": "false_discovery_rate",
    "for": "false_omission_rate",
    "pt": "prevalence_threshold",
    **{a: "threat_score" for a in ("critical_success_index", "ts", "csi", "iou", "iou_score",
                                   "jaccard")},
    "acc": "accuracy",
    "ba": "balanced_accuracy",
    **{a: "f1_score" for a in ("f1", "dice")},
    **{a: "matthews_correlation_coefficient" for a in ("mcc",)},
    **{a: "fowlkes_mallows_index" for a in ("fm",)},
    **{a: "informedness" for a in ("bookmaker_informedness", "bm", "youden_index", "youden")},
    **{a: "markedness" for a in ("deltap", "mk")},
    "fbeta": "fbeta_score",
}


def metric_name(name: str) -> str:
    """The canonical name of a metric (MONAI's names and aliases, any case, spaces or
    underscores), or ``ValueError`` naming ``metric``."""
    if not isinstance(name, str):
        raise TypeError(f"metric: expected a metric name (str) or a sequence of names; got "
                        f"{name!r}")
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in METRIC_NAMES:
        raise ValueError(f"metric: expected one of {METRIC_NAMES} (or a MONAI alias); got "
                         f"{name!r}")
    return key


def _values(counts: Counts, name: str, beta) -> tuple[jax.Array, jax.Array]:
    if name == "fbeta_score":
        return _fbeta(*counts, beta)
    return FORMULAS[name][0](*counts)


def _reduce(counts: Counts, name: str, beta, average: str, weights: jax.Array | None,
            zero_division: jax.Array) -> jax.Array:
    """Counts ``(..., C)`` -> values ``(..., C)`` (``"none"``) or ``(...)``; ``weights`` ``(C,)``
    (0 leaves a class out of every average)."""
    if average == "micro":
        pooled = tuple(jnp.sum(c if weights is None else c * weights, axis=-1) for c in counts)
        return fill_undefined(*_values(pooled, name, beta), zero_division)
    value, defined = _values(counts, name, beta)
    value = fill_undefined(value, defined, zero_division)
    if average == "none":
        return value
    counted = defined | ~jnp.isnan(zero_division)
    w = jnp.ones_like(value) if weights is None else jnp.broadcast_to(weights, value.shape)
    if average == "weighted":
        tp, _, fn, _ = counts
        w = w * (tp + fn)
    w = jnp.where(counted, w, 0.0)
    mean = mean_over_classes(value, w)
    return jnp.where(jnp.isnan(mean) & (jnp.sum(w, axis=-1) == 0), zero_division, mean)


def confusion_from_counts(
    tp: jax.typing.ArrayLike,
    fp: jax.typing.ArrayLike,
    fn: jax.typing.ArrayLike,
    tn: jax.typing.ArrayLike,
    *,
    metric: str | Sequence[str] = "sensitivity",
    beta: float = 1.0,
    average: str = "none",
    class_weights: jax.typing.ArrayLike | None = None,
    zero_division: float = float("nan"),
) -> jax.Array | dict[str, jax.Array]:
    r"""Confusion-matrix metrics of given counts: the formulas of :func:`confusion_metric`.

    For counts accumulated over a data set (or any ``(TP, FP, FN, TN)`` from elsewhere, e.g.
    MONAI's ``get_confusion_matrix`` or torchmetrics' ``stat_scores``): the metric of the summed
    counts is the data set's pooled metric.

    Args:
      tp, fp, fn, tn: true positives, false positives, false negatives, true negatives: arrays of
        one shape ``(..., C)``, the last axis the classes (numbers, e.g. float32 counts).
      metric: a name of :data:`METRIC_NAMES` (``"sensitivity"``, ..., ``"fbeta_score"``) or a
        MONAI alias, or a sequence of them (then a dict keyed by the names as given). Default
        ``"sensitivity"``.
      beta: the F-beta weight of recall, for ``"fbeta_score"``. Default 1.
      average: over the last axis: ``"none"`` (default), ``"micro"`` (counts summed first),
        ``"macro"`` (mean of the values) or ``"weighted"`` (weighted by ``tp + fn``).
      class_weights: ``(C,)`` non-negative weights of the classes in ``"macro"`` (a weighted
        mean) and ``"micro"`` (each class's counts weighted); 0 leaves a class out. Default
        ``None``.
      zero_division: the value of an undefined ratio (zero denominator). Default NaN (MONAI;
        NaN entries then leave the averages).

    Returns:
      float32 ``(..., C)`` values for ``average="none"``, else ``(...)``; a dict of them for a
      sequence of names.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.metrics import confusion_from_counts
      >>> tp, fp, fn, tn = (jnp.array([8.0, 0.0]), jnp.array([2.0, 0.0]),
      ...                   jnp.array([0.0, 0.0]), jnp.array([10.0, 20.0]))
      >>> confusion_from_counts(tp, fp, fn, tn, metric="precision")  # class 1: 0 / 0
      Array([0.8, nan], dtype=float32)
      >>> confusion_from_counts(tp, fp, fn, tn, metric="precision", zero_division=1.0,
      ...                       average="macro")
      Array(0.9, dtype=float32)
    """
    counts = tuple(jnp.asarray(c, jnp.float32) for c in (tp, fp, fn, tn))
    if len({c.shape for c in counts}) != 1 or counts[0].ndim == 0:
        raise ValueError("tp, fp, fn, tn: expected arrays of one shape (..., C); got shapes "
                         f"{[c.shape for c in counts]}")
    check_average(average, class_weights)
    zero = check_zero_division(zero_division)
    check_number("beta", beta, strict=True)
    weights = check_class_vector(class_weights, counts[0].shape[-1], name="class_weights")
    names = [metric] if isinstance(metric, str) else list(metric)
    canonical = [metric_name(n) for n in names]
    out = {n: _reduce(counts, c, beta, average, weights, zero)
           for n, c in zip(names, canonical, strict=True)}
    return out[metric] if isinstance(metric, str) else out


def _hard_metric(predictions, labels, *, names, beta, num_classes, mode, from_logits, threshold,
                 include_background, average, per_image, class_weights, zero_division,
                 axis_name, mask, ignore_index) -> dict[str, jax.Array]:
    check_average(average, class_weights)
    zero = check_zero_division(zero_division)
    check_number("beta", beta, strict=True)
    canonical = [metric_name(n) for n in names]
    masks = hard_masks(predictions, labels, num_classes=num_classes, mode=mode,
                       from_logits=from_logits, threshold=threshold, mask=mask,
                       ignore_index=ignore_index)
    num_all = masks.pred.shape[-1]
    counts = pool_batch(confusion_counts(masks, include_background), per_image, axis_name)
    batch = masks.bad.shape[0]
    bad = masks.bad
    if not per_image:
        bad = jnp.any(bad, keepdims=True)
        if axis_name is not None:
            bad = jax.lax.psum(bad.astype(jnp.int32), axis_name) > 0
    void = keep_classes(masks.void, include_background)
    weights = check_class_vector(class_weights, num_all, name="class_weights")
    weights = jnp.where(void, 0.0, 1.0 if weights is None else keep_classes(
        weights, include_background))
    out = {}
    for name, key in zip(names, canonical, strict=True):
        value = _reduce(counts, key, beta, average, weights, zero)
        if average == "none":
            value = jnp.where(void, jnp.nan, value)
        value = jnp.where(bad.reshape(bad.shape + (1,) * (value.ndim - 1)), jnp.nan, value)
        out[name] = expand_batch(value, batch)
    return out


@boolean_options
def confusion_metric(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    metric: str | Sequence[str] = "sensitivity",
    num_classes: int | None = None,
    mode: str = "multiclass",
    from_logits: bool = True,
    threshold: float = 0.5,
    include_background: bool = True,
    average: str = "none",
    per_image: bool = True,
    class_weights: jax.typing.ArrayLike | None = None,
    zero_division: float = float("nan"),
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array | dict[str, jax.Array]:
    r"""Confusion-matrix metrics of hard segmentations (MONAI's ``ConfusionMatrixMetric``).

    From the pixel counts per example and class, TP (predicted and true), FP (predicted, not
    true), FN (true, not predicted) and TN (neither), over the scored pixels:

    * ``"sensitivity"`` (recall, TPR): TP / (TP + FN); undefined for an empty truth;
    * ``"specificity"`` (TNR): TN / (TN + FP); undefined for a full truth;
    * ``"precision"`` (PPV): TP / (TP + FP); undefined for an empty prediction;
    * ``"negative_predictive_value"`` (NPV): TN / (TN + FN); undefined for a full prediction;
    * ``"miss_rate"`` (FNR): FN / (TP + FN) = 1 - TPR; empty truth;
    * ``"fall_out"`` (FPR): FP / (FP + TN) = 1 - TNR; full truth;
    * ``"false_discovery_rate"``: FP / (FP + TP) = 1 - PPV; empty prediction;
    * ``"false_omission_rate"``: FN / (FN + TN) = 1 - NPV; full prediction;
    * ``"prevalence_threshold"``: (sqrt(TPR (1 - TNR)) + TNR - 1) / (TPR + TNR - 1); undefined
      where TPR or TNR is, or TPR + TNR = 1;
    * ``"threat_score"`` (IoU, CSI): TP / (TP + FP + FN); both masks empty;
    * ``"accuracy"``: (TP + TN) / (TP + FP + FN + TN); no scored pixel;
    * ``"balanced_accuracy"``: (TPR + TNR) / 2; where TPR or TNR is;
    * ``"f1_score"`` (Dice): 2 TP / (2 TP + FP + FN); both masks empty;
    * ``"matthews_correlation_coefficient"`` (MCC): (TP TN - FP FN) / sqrt((TP + FP)(TP + FN)
      (TN + FP)(TN + FN)); a factor 0 (either mask empty or full);
    * ``"fowlkes_mallows_index"``: sqrt(PPV TPR); where PPV or TPR is;
    * ``"informedness"`` (Youden's J): TPR + TNR - 1; where TPR or TNR is;
    * ``"markedness"``: PPV + NPV - 1; where PPV or NPV is.

    "Undefined" entries (a zero denominator: e.g. the sensitivity of an empty truth) take
    ``zero_division``: NaN by default, as MONAI. Equal to MONAI's
    ``compute_confusion_matrix_metric(name, get_confusion_matrix(...))``, torchmetrics'
    ``multiclass_precision`` / ``_recall`` / ``_specificity`` / ``_f1_score`` (and the binary
    / multilabel ones) with ``multidim_average="samplewise"`` (``per_image=False``:
    ``"global"``), ``average`` and ``zero_division``, and smp's ``get_stats`` + metric with the
    reduction spelled as ``average`` and ``per_image`` (see "Coming from" in the docs).

    Args:
      predictions: logits or probabilities ``(B, *spatial, C)``, boolean masks or an integer
        class map ``(B, *spatial)`` (see :mod:`jaxseg_losses.metrics`).
      labels: integer class indices ``(B, *spatial)`` or dense ``(B, *spatial, C)`` targets.
      metric: a name of the table (MONAI's names and aliases, spaces or underscores; also
        ``"iou"``, ``"dice"``), or a sequence of names: then a dict keyed by the names as given,
        from one count. Default ``"sensitivity"``.
      num_classes, mode, from_logits, threshold, include_background, mask, ignore_index: the
        input contract of :func:`~jaxseg_losses.metrics.dice_score` (how predictions become
        hard masks; ``mask`` zeros and ``ignore_index`` truth pixels are not counted; an
        ``ignore_index`` naming a class gives that class NaN and leaves it out of every
        average).
      average: over the kept classes: ``"none"`` (default, ``(B, C)``), ``"micro"`` (the
        counts summed over the classes before the ratio), ``"macro"`` (the mean of the
        per-class values) or ``"weighted"`` (their mean weighted by the support ``TP + FN``,
        torchmetrics' ``"weighted"``); ``(B,)`` but for ``"none"``.
      per_image: ``True`` (default): the counts of each example (torchmetrics'
        ``multidim_average="samplewise"``, MONAI's ``compute_sample=True``); ``False``: the
        counts summed over the batch first (``"global"``; smp's ``"micro"`` / ``"macro"``),
        the value repeated over the batch.
      class_weights: ``(C,)`` non-negative class weights for ``average="macro"`` (a weighted
        mean: smp's ``"weighted"`` with ``class_weights``) and ``"micro"`` (each class's counts
        weighted). Default ``None``.
      zero_division: the value of an undefined ratio (zero denominator): NaN (default, MONAI;
        such entries leave the averages), 0 (torchmetrics' default) or 1 (smp's F-score /
        IoU default).
      axis_name: with ``per_image=False`` inside ``shard_map``, the batch axis whose counts are
        ``psum``-ed. Default ``None``.

    Returns:
      float32 ``(B, C)`` (``(B, C - 1)`` without background) for ``average="none"``, else
      ``(B,)``; a dict of them for a sequence of names. NaN for an example holding a bad value
      (unchecked under ``jit``; the whole batch with ``per_image=False``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import confusion_metric
      >>> truth = jnp.array([[0, 1, 1, 0]])
      >>> pred = jnp.array([[0, 1, 0, 0]])
      >>> confusion_metric(pred, truth, num_classes=2, metric="sensitivity")
      Array([[1. , 0.5]], dtype=float32)
      >>> scores = confusion_metric(pred, truth, num_classes=2, metric=["precision", "mcc"],
      ...                           include_background=False)
      >>> scores["precision"], scores["mcc"]
      (Array([[1.]], dtype=float32), Array([[0.57735026]], dtype=float32))
    """
    names = [metric] if isinstance(metric, str) else list(metric)
    out = _hard_metric(
        predictions, labels, names=names, beta=1.0, num_classes=num_classes, mode=mode,
        from_logits=from_logits, threshold=threshold, include_background=include_background,
        average=average, per_image=per_image, class_weights=class_weights,
        zero_division=zero_division, axis_name=axis_name, mask=mask, ignore_index=ignore_index)
    return out[metric] if isinstance(metric, str) else out


@boolean_options
def fbeta_score(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    beta: float = 1.0,
    num_classes: int | None = None,
    mode: str = "multiclass",
    from_logits: bool = True,
    threshold: float = 0.5,
    include_background: bool = True,
    average: str = "none",
    per_image: bool = True,
    class_weights: jax.typing.ArrayLike | None = None,
    zero_division: float = float("nan"),
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""F-beta score of hard segmentations, recall weighted ``beta`` times as much as precision:

    .. math::
        F_\beta = \frac{(1 + \beta^2)\,TP}{(1 + \beta^2)\,TP + \beta^2 FN + FP}

    ``beta=1`` is the F1 score (Dice). Undefined (``zero_division``) where both masks are empty.
    Equals torchmetrics' ``multiclass_fbeta_score`` / ``binary_fbeta_score`` /
    ``multilabel_fbeta_score(beta=, average=, multidim_average=, zero_division=)`` and smp's
    ``fbeta_score(beta=, reduction=, zero_division=)`` with the reduction spelled as
    ``average`` and ``per_image``.

    Args:
      predictions: as :func:`confusion_metric`.
      labels: as :func:`confusion_metric`.
      beta: positive weight of recall. Default 1.
      num_classes, mode, from_logits, threshold, include_background, average, per_image,
        class_weights, zero_division, axis_name, mask, ignore_index: as
        :func:`confusion_metric`.

    Returns:
      float32 ``(B, C)`` for ``average="none"``, else ``(B,)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import fbeta_score
      >>> truth = jnp.array([[0, 1, 1, 0]])
      >>> fbeta_score(jnp.array([[0, 1, 0, 0]]), truth, num_classes=2, beta=2.0,
      ...             include_background=False)
      Array([[0.5555556]], dtype=float32)
    """
    return _hard_metric(
        predictions, labels, names=["fbeta_score"], beta=beta, num_classes=num_classes,
        mode=mode, from_logits=from_logits, threshold=threshold,
        include_background=include_background, average=average, per_image=per_image,
        class_weights=class_weights, zero_division=zero_division, axis_name=axis_name,
        mask=mask, ignore_index=ignore_index)["fbeta_score"]


__all__ = ["confusion_from_counts", "confusion_metric", "fbeta_score"]
