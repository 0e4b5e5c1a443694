r"""Object-level metrics: lesion-wise detection (precision, recall, F1 of objects) and panoptic
quality, per example and class, on device.

**Objects.** Semantic inputs (what every metric takes, :mod:`jaxseg_losses.metrics`) become
objects by connected components of each class mask
(:func:`jaxseg_losses.components.connected_components`; ``connectivity`` default 8 / 26, as
``cc3d`` and scikit-image; ``panoptica``'s default instance approximation is ``cc3d`` (26) in 3-D
but ``scipy.ndimage.label`` (4) in 2-D: pass ``connectivity=4`` to reproduce it). Instance maps
(MONAI's ``PanopticQualityMetric`` input) are taken as given by :func:`instance_panoptic_quality`.
In ``"multiclass"`` mode class 0 (background) is not scored: the output has ``C - 1`` columns;
``"binary"`` and ``"multilabel"`` score every channel.

**Overlaps, static shapes.** Per (example, class), truth objects :math:`G_1..G_n` and predicted
objects :math:`P_1..P_m`; one ``segment_sum`` over the pair ids
:math:`i\,(K+1) + j` (:math:`i, j` the object labels, 0 = background, :math:`K` =
``max_objects``) gives the whole intersection table :math:`|G_i \cap P_j|` including the
background row and column, hence the sizes :math:`|G_i|, |P_j|` and
:math:`\mathrm{IoU}_{ij} = |G_i \cap P_j| / (|G_i| + |P_j| - |G_i \cap P_j|)`. No loop over
objects. More than ``max_objects`` objects in one plane raise ``ValueError`` on concrete
input, are a checkify check under ``jit``, and otherwise make the example's values NaN.

**Matching** (``match="iou"``, one-to-one): pairs with :math:`\mathrm{IoU} > t` (or
:math:`\ge t` with ``strict_threshold=False``, panoptica's default comparison) and a non-empty
intersection are candidates; they are matched greedily by decreasing IoU, ties broken by the
smaller predicted label, then the smaller truth label (``panoptica``'s
``NaiveThresholdMatching``). With :math:`\mathrm{IoU} > 0.5` every object has at most one
candidate (two candidates of one object would need more than its whole area), so the matching is
unique and no greedy step is compiled; otherwise the greedy matching runs as rounds that match
every pair that is first in the greedy order among the remaining pairs of its row and its
column (the pairs the sequential greedy would pick, in fewer steps), in one ``while_loop``.
MONAI's ``PanopticQualityMetric`` uses the Hungarian assignment (maximum total IoU) below 0.5,
which can match differently. ``match="coverage"`` (many-to-many, the lesion-wise detection of
the MS-lesion and BraTS-style evaluations, without their dilation): a truth object is detected
when the fraction of it covered by the predicted mask exceeds ``match_threshold`` (0: any
overlap), and a predicted object is a true positive when the fraction of it covered by the
truth exceeds it.

**Counts and scores.** :math:`TP` = matched (detected) truth objects, :math:`FN = n - TP`,
:math:`FP` = predicted objects without a match. Precision :math:`= \#\text{matched predicted} /
m`, recall :math:`= TP / n`, :math:`F_1 = 2PR/(P + R)` (with one-to-one matching
:math:`2TP / (2TP + FP + FN)`, which is also the recognition quality). Panoptic quality
(Kirillov et al., CVPR 2019): :math:`SQ = \sum_{\text{matched}} \mathrm{IoU} / TP`,
:math:`RQ = TP / (TP + FP/2 + FN/2)`, :math:`PQ = SQ \cdot RQ`.

**Empty cases.** No truth and no predicted object: every score is ``empty_score`` (default 1,
the library's "nothing to find, nothing found"; MONAI gives 0, panoptica NaN: pass
``empty_score=0.0`` or ``float("nan")``). Objects on one side only: 0 for every score (SQ of
no match: 0, as panoptica). ``smooth_numerator`` (MONAI's name, default 0) is added to the
denominators of :math:`SQ, RQ, PQ` as MONAI does (``1e-6`` there): then no 0/0 occurs and
``empty_score`` is not used.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxseg_losses._inputs import (
    Mode,
    boolean_options,
    check_choice,
    check_class_indices,
    check_count,
    check_number,
    nan_unless,
    shape_str,
)
from jaxseg_losses._numerics import keep_classes, safe_divide
from jaxseg_losses._segments import (
    bounded,
    check_counts,
    plane_components,
    segment_sums,
)
from jaxseg_losses.metrics._hard import hard_masks, nan_where

__all__ = [
    "LesionDetection",
    "PanopticQuality",
    "instance_panoptic_quality",
    "lesion_detection",
    "panoptic_quality",
]

MATCHES = ("iou", "coverage")
DEFAULT_MAX_OBJECTS = 255


class LesionDetection(NamedTuple):
    """Object detection counts and scores, each float32 ``(B, C)`` (``C - 1`` in multiclass).

    Attributes:
      tp: truth objects detected (matched).
      fp: predicted objects not matched to any truth object.
      fn: truth objects not detected.
      precision: matched predicted objects / predicted objects.
      recall: ``tp`` / truth objects.
      f1: ``2 precision recall / (precision + recall)``.
    """

    tp: jax.Array
    fp: jax.Array
    fn: jax.Array
    precision: jax.Array
    recall: jax.Array
    f1: jax.Array


class PanopticQuality(NamedTuple):
    """Panoptic quality and its parts, each float32 ``(B, C)`` (``C - 1`` in multiclass).

    Attributes:
      pq, sq, rq: panoptic, segmentation and recognition quality.
      tp, fp, fn: matched pairs, unmatched predicted and unmatched truth objects.
      iou_sum: the sum of the matched pairs' IoU (MONAI's ``iou_sum``; sums over a data set
        give the data-set PQ).
    """

    pq: jax.Array
    sq: jax.Array
    rq: jax.Array
    tp: jax.Array
    fp: jax.Array
    fn: jax.Array
    iou_sum: jax.Array


class _Matches(NamedTuple):
    """Per row (example x class): matched truth / predicted objects, object counts, IoU sum."""

    matched_true: jax.Array
    matched_pred: jax.Array
    n_true: jax.Array
    n_pred: jax.Array
    iou_sum: jax.Array


def _intersections(true_labels: jax.Array, pred_labels: jax.Array, bound: int) -> jax.Array:
    """``(R, *spatial)`` object labels -> int32 ``(R, K + 1, K + 1)`` table
    ``|G_i ∩ P_j|`` (row / column 0: background)."""
    pair = bounded(true_labels, bound) * (bound + 1) + bounded(pred_labels, bound)
    ones = jnp.ones(pair.shape, jnp.int32)
    table = segment_sums(pair, ones, (bound + 1) ** 2)
    return table.reshape(pair.shape[0], bound + 1, bound + 1)


def _greedy(candidate: jax.Array, iou: jax.Array) -> jax.Array:
    """Greedy one-to-one matching of ``(R, K, K)`` candidates by decreasing IoU (ties: smaller
    predicted label, then smaller truth label) -> bool ``(R, K, K)`` matched pairs.

    Rounds: a remaining pair whose greedy rank is the smallest in its row and in its column is
    matched (the sequential greedy picks it: no earlier pair can claim its row or column), its
    row and column leave; until no candidate remains."""
    rows, k, _ = iou.shape
    # Column-major flat order (j, i): decreasing IoU, ties by j, then i (the flat index as the
    # second key of an unstable sort: a stable one costs XLA:GPU an iota operand).
    flat = jnp.swapaxes(jnp.where(candidate, iou, -1.0), 1, 2).reshape(rows, k * k)
    index = jax.lax.broadcasted_iota(jnp.int32, flat.shape, 1)
    order = jax.lax.sort((-flat, index), dimension=1, num_keys=2, is_stable=False)[1]
    rank = jnp.zeros((rows, k * k), jnp.int32).at[jnp.arange(rows)[:, None], order].set(
        jnp.arange(k * k, dtype=jnp.int32))
    rank = jnp.swapaxes(rank.reshape(rows, k, k), 1, 2)
    none = jnp.int32(k * k)

    def body(state):
        remaining, matched = state
        r = jnp.where(remaining, rank, none)
        best = (r == jnp.min(r, axis=2, keepdims=True)) & (r == jnp.min(r, axis=1, keepdims=True))
        new = best & remaining
        used_row = jnp.any(new, axis=2, keepdims=True)
        used_col = jnp.any(new, axis=1, keepdims=True)
        return remaining & ~used_row & ~used_col, matched | new

    _, matched = lax.while_loop(lambda s: jnp.any(s[0]), body,
                                (candidate, jnp.zeros_like(candidate)))
    return matched


def _match(true_labels, pred_labels, n_true, n_pred, *, bound, match, threshold, strict):
    """Object matching of ``(R, *spatial)`` labelled planes (module docstring)."""
    table = _intersections(true_labels, pred_labels, bound)
    sizes_true = jnp.sum(table, axis=2)[:, 1:]  # (R, K)
    sizes_pred = jnp.sum(table, axis=1)[:, 1:]
    inter = table[:, 1:, 1:].astype(jnp.float32)
    present = ((jnp.arange(1, bound + 1) <= n_true[:, None])[:, :, None]
               & (jnp.arange(1, bound + 1) <= n_pred[:, None])[:, None, :])
    passes = (lambda x: x > threshold) if strict else (lambda x: x >= threshold)
    if match == "coverage":
        covered_true = safe_divide((sizes_true - table[:, 1:, 0]).astype(jnp.float32),
                                   sizes_true.astype(jnp.float32))
        covered_pred = safe_divide((sizes_pred - table[:, 0, 1:]).astype(jnp.float32),
                                   sizes_pred.astype(jnp.float32))
        matched_true = jnp.sum(passes(covered_true) & (sizes_true > 0), axis=1)
        matched_pred = jnp.sum(passes(covered_pred) & (sizes_pred > 0), axis=1)
        return _Matches(matched_true, matched_pred, n_true, n_pred, jnp.zeros(n_true.shape))
    union = sizes_true[:, :, None] + sizes_pred[:, None, :] - table[:, 1:, 1:]
    iou = safe_divide(inter, union.astype(jnp.float32))
    candidate = present & (inter > 0) & passes(iou)
    unique = threshold > 0.5 or (threshold == 0.5 and strict)
    matched = candidate if unique else _greedy(candidate, iou)
    tp = jnp.sum(matched, axis=(1, 2))
    return _Matches(tp, tp, n_true, n_pred, jnp.sum(jnp.where(matched, iou, 0.0), axis=(1, 2)))


def _check_match_options(match, match_threshold, strict_threshold, max_objects):
    check_choice("match", match, MATCHES)
    if isinstance(match_threshold, jax.core.Tracer) or not isinstance(
            match_threshold, int | float) or isinstance(match_threshold, bool):
        raise TypeError("match_threshold: expected a Python number (it decides the matching "
                        f"program); got {match_threshold!r}")
    check_number("match_threshold", match_threshold, high=1.0)
    return check_count("max_objects", max_objects)


def _object_matches(masks, *, kept_background, connectivity, bound, match, threshold, strict):
    """Hard masks -> per-class :class:`_Matches` fields ``(B, C')`` and the examples within the
    object bound."""
    true = keep_classes(masks.true, kept_background)
    pred = keep_classes(masks.pred, kept_background)
    batch, classes = true.shape[0], true.shape[-1]
    true_labels, n_true = plane_components(true, connectivity)
    pred_labels, n_pred = plane_components(pred, connectivity)
    rows = lambda x: x.reshape((batch * classes,) + x.shape[2:])  # noqa: E731
    matches = _match(rows(true_labels), rows(pred_labels), rows(n_true), rows(n_pred),
                     bound=bound, match=match, threshold=threshold, strict=strict)
    within = check_counts(jnp.stack([n_true, n_pred], -1), bound, "max_objects")
    return _Matches(*(x.reshape(batch, classes).astype(jnp.float32) for x in matches)), within


def _ratio(numerator, denominator, empty_score):
    return safe_divide(numerator, denominator, fill=empty_score)


def _detection(m: _Matches, empty_score: float) -> LesionDetection:
    any_objects = (m.n_true + m.n_pred) > 0
    fill = lambda x: jnp.where(any_objects, x, empty_score)  # noqa: E731
    precision = fill(safe_divide(m.matched_pred, m.n_pred))
    recall = fill(safe_divide(m.matched_true, m.n_true))
    f1 = fill(safe_divide(2.0 * precision * recall, precision + recall))
    return LesionDetection(m.matched_true, m.n_pred - m.matched_pred, m.n_true - m.matched_true,
                           precision, recall, f1)


def _panoptic(m: _Matches, empty_score: float, smooth_numerator: float) -> PanopticQuality:
    tp, fp, fn = m.matched_true, m.n_pred - m.matched_pred, m.n_true - m.matched_true
    any_objects = (m.n_true + m.n_pred) > 0
    detections = tp + 0.5 * fp + 0.5 * fn + smooth_numerator
    rq = _ratio(tp, detections, empty_score)
    pq = _ratio(m.iou_sum, detections, empty_score)
    sq = safe_divide(m.iou_sum, tp + smooth_numerator,
                     fill=0.0) if smooth_numerator else jnp.where(
        tp > 0, safe_divide(m.iou_sum, tp), jnp.where(any_objects, 0.0, empty_score))
    return PanopticQuality(pq, sq, rq, tp, fp, fn, m.iou_sum)


def _semantic_matches(predictions, labels, *, num_classes, mode, from_logits, threshold,
                      connectivity, match, match_threshold, strict_threshold, max_objects,
                      mask, ignore_index):
    bound = _check_match_options(match, match_threshold, strict_threshold, max_objects)
    masks = hard_masks(predictions, labels, num_classes=num_classes, mode=mode,
                       from_logits=from_logits, threshold=threshold, mask=mask,
                       ignore_index=ignore_index)
    kept_background = mode != "multiclass"
    matches, within = _object_matches(
        masks, kept_background=kept_background, connectivity=connectivity, bound=bound,
        match=match, threshold=match_threshold, strict=strict_threshold)
    finish = lambda x: nan_where(masks, nan_unless(within[:, None], x),  # noqa: E731
                                 kept_background)
    return matches, finish


@boolean_options
def lesion_detection(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    num_classes: int | None = None,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    threshold: float = 0.5,
    connectivity: int | None = None,
    match: str = "iou",
    match_threshold: float = 0.5,
    strict_threshold: bool = True,
    empty_score: float = 1.0,
    max_objects: int = DEFAULT_MAX_OBJECTS,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> LesionDetection:
    r"""Lesion-wise (object-wise) detection: TP / FP / FN objects, precision, recall and F1.

    Objects are the connected components of each class of the prediction and of the truth;
    matching and scores as in the module docstring: a truth object is detected when it is
    matched one-to-one to a predicted object with IoU above ``match_threshold``
    (``match="iou"``, panoptica's greedy matching) or when the predicted mask covers more than
    ``match_threshold`` of it (``match="coverage"``: with 0, any overlap).

    Args:
      predictions, labels, num_classes, mode, from_logits, threshold, mask, ignore_index: as
        :func:`~jaxseg_losses.metrics.dice_score`.
      connectivity: neighbour count of the components (4 / 8, 6 / 18 / 26); default ``None``:
        8 / 26.
      match: ``"iou"`` (default, one-to-one) or ``"coverage"`` (many-to-many).
      match_threshold: a Python number in [0, 1]. Default 0.5.
      strict_threshold: ``True`` (default): a score must exceed the threshold (PQ's
        ``IoU > 0.5``, MONAI); ``False``: reach it (panoptica's default).
      empty_score: every score when the truth and the prediction have no object. Default 1.
      max_objects: static bound on the objects per (image, class) and side. Default 255.

    Returns:
      :class:`LesionDetection` of float32 ``(B, C)`` arrays (``(B, C - 1)`` in multiclass: no
      background).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.metrics.objects import lesion_detection
      >>> truth = jnp.array([[1, 1, 0, 1, 0, 0, 0]])
      >>> pred = jnp.array([[1, 1, 0, 0, 0, 1, 1]])
      >>> r = lesion_detection(pred, truth, mode="binary")
      >>> r.tp.tolist(), r.fp.tolist(), r.fn.tolist(), r.f1.tolist()
      ([[1.0]], [[1.0]], [[1.0]], [[0.5]])
    """
    matches, finish = _semantic_matches(
        predictions, labels, num_classes=num_classes, mode=mode, from_logits=from_logits,
        threshold=threshold, connectivity=connectivity, match=match,
        match_threshold=match_threshold, strict_threshold=strict_threshold,
        max_objects=max_objects, mask=mask, ignore_index=ignore_index)
    return LesionDetection(*(finish(x) for x in _detection(matches, empty_score)))


@boolean_options
def panoptic_quality(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    num_classes: int | None = None,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    threshold: float = 0.5,
    connectivity: int | None = None,
    match_threshold: float = 0.5,
    strict_threshold: bool = True,
    smooth_numerator: float = 0.0,
    empty_score: float = 1.0,
    max_objects: int = DEFAULT_MAX_OBJECTS,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> PanopticQuality:
    r"""Panoptic quality (Kirillov et al., "Panoptic Segmentation", CVPR 2019) of semantic
    masks, objects = connected components (the ``panoptica`` package's evaluation of binary
    masks).

    .. math::
        PQ = \frac{\sum_{(G, P)\ \text{matched}} \mathrm{IoU}(G, P)}{TP + FP/2 + FN/2}
           = SQ \cdot RQ

    Args:
      predictions, labels, num_classes, mode, from_logits, threshold, mask, ignore_index,
        connectivity, match_threshold, strict_threshold, empty_score, max_objects: as
        :func:`lesion_detection` (one-to-one IoU matching).
      smooth_numerator: added to the denominators (MONAI's name; its default is 1e-6). Default 0.

    Returns:
      :class:`PanopticQuality` of float32 ``(B, C)`` arrays (``(B, C - 1)`` in multiclass).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.metrics.objects import panoptic_quality
      >>> truth = jnp.array([[1, 1, 1, 1, 0, 1, 0]])
      >>> pred = jnp.array([[1, 1, 1, 0, 0, 0, 1]])
      >>> r = panoptic_quality(pred, truth, mode="binary")
      >>> r.sq.tolist(), r.rq.tolist(), r.pq.tolist()
      ([[0.75]], [[0.5]], [[0.375]])
    """
    check_number("smooth_numerator", smooth_numerator)
    matches, finish = _semantic_matches(
        predictions, labels, num_classes=num_classes, mode=mode, from_logits=from_logits,
        threshold=threshold, connectivity=connectivity, match="iou",
        match_threshold=match_threshold, strict_threshold=strict_threshold,
        max_objects=max_objects, mask=mask, ignore_index=ignore_index)
    return PanopticQuality(*(finish(x) for x in _panoptic(matches, empty_score,
                                                           smooth_numerator)))


def _dense_ids(ids: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Instance ids ``(R, N)`` (any ints, 0 = background) -> ``1..n`` in increasing id order
    (MONAI's ``remap_instance_id`` up to the order) and the counts ``n`` ``(R,)``."""
    # Equal ids may come in any order (each gets its id's rank): one unstable sort of
    # (id, pixel), no stable argsort (XLA:GPU adds an iota for stability) and no gather.
    pixel = jax.lax.broadcasted_iota(jnp.int32, ids.shape, 1)
    sorted_ids, order = jax.lax.sort((ids, pixel), dimension=1, num_keys=1, is_stable=False)
    new = jnp.concatenate([sorted_ids[:, :1] != 0,
                           (sorted_ids[:, 1:] != sorted_ids[:, :-1]) & (sorted_ids[:, 1:] != 0)],
                          axis=1)
    rank = jnp.where(sorted_ids != 0, jnp.cumsum(new, axis=1, dtype=jnp.int32), 0)
    dense = jnp.zeros_like(rank).at[jnp.arange(ids.shape[0])[:, None], order].set(rank)
    return dense, rank[:, -1] if ids.shape[1] else jnp.zeros(ids.shape[0], jnp.int32)


def _instance_planes(instances, classes, num_classes, name):
    """``(B, *spatial)`` instance ids (and class maps) -> ``(B * K, N)`` ids per class 1..K."""
    x = jnp.asarray(instances)
    if not jnp.issubdtype(x.dtype, jnp.integer) or x.ndim not in (3, 4):
        raise ValueError(f"{name}: expected integer instance ids of shape (B, *spatial) with 2 "
                         f"or 3 spatial axes; got {x.dtype} {shape_str(x.shape)}")
    if classes is None:
        per_class = (x != 0)[:, None] & jnp.ones((1, num_classes) + (1,) * (x.ndim - 1), bool)
        planes = jnp.where(per_class, x[:, None], 0)
    else:
        c = jnp.asarray(classes)
        if c.shape != x.shape:
            raise ValueError(f"{name} classes: expected shape {shape_str(x.shape)} (one class "
                             f"per pixel); got {shape_str(c.shape)}")
        c, _, ok = check_class_indices(c, num_classes + 1, name=f"{name} classes")
        ids = jnp.arange(1, num_classes + 1).reshape((1, num_classes) + (1,) * (x.ndim - 1))
        planes = jnp.where(c[:, None] == ids, x[:, None], 0)
        planes = jnp.where(ok[:, None], planes, 0)
    return planes.reshape(x.shape[0] * num_classes, math.prod(x.shape[1:])), x.shape


@boolean_options
def instance_panoptic_quality(
    pred_instances: jax.typing.ArrayLike,
    true_instances: jax.typing.ArrayLike,
    *,
    pred_classes: jax.typing.ArrayLike | None = None,
    true_classes: jax.typing.ArrayLike | None = None,
    num_classes: int = 1,
    match_threshold: float = 0.5,
    strict_threshold: bool = True,
    smooth_numerator: float = 0.0,
    empty_score: float = 1.0,
    max_objects: int = DEFAULT_MAX_OBJECTS,
) -> PanopticQuality:
    r"""Panoptic quality of instance maps, MONAI's ``PanopticQualityMetric`` (per image and class,
    ``reduction="none"``) without its loop over instances.

    Instance ids are any integers (0 = background), renumbered per image and class. With class
    maps (MONAI's second channel, values ``0..num_classes``, 0 = background), the instances of
    class ``c`` are the instance ids where the class map is ``c`` (MONAI's
    ``(class == c) * instance``); without, every instance is in the single class.

    Args:
      pred_instances, true_instances: int ``(B, *spatial)`` instance ids, 2 or 3 spatial axes.
      pred_classes, true_classes: optional int ``(B, *spatial)`` class maps (both or neither).
      num_classes: classes without background (MONAI's ``num_classes``). Default 1.
      match_threshold, strict_threshold, smooth_numerator, empty_score, max_objects: as
        :func:`panoptic_quality`. MONAI's values: ``strict_threshold=True``,
        ``smooth_numerator=1e-6``; for ``match_threshold < 0.5`` MONAI uses the Hungarian
        assignment, this function the greedy matching.

    Returns:
      :class:`PanopticQuality` of float32 ``(B, num_classes)`` arrays.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.metrics.objects import instance_panoptic_quality
      >>> truth = jnp.array([[[1, 1, 2, 2]]])  # two touching instances
      >>> pred = jnp.array([[[5, 5, 5, 0]]])
      >>> r = instance_panoptic_quality(pred, truth)
      >>> r.tp.tolist(), r.pq.tolist()
      ([[1.0]], [[0.4444444477558136]])
    """
    check_number("smooth_numerator", smooth_numerator)
    bound = _check_match_options("iou", match_threshold, strict_threshold, max_objects)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes: expected an integer >= 1; got {num_classes!r}")
    if (pred_classes is None) != (true_classes is None):
        raise ValueError("pred_classes, true_classes: give both class maps or neither")
    if pred_classes is None and num_classes != 1:
        raise ValueError(f"num_classes: {num_classes} classes need the class maps "
                         "pred_classes and true_classes (without them every instance is of "
                         "one class)")
    pred, shape = _instance_planes(pred_instances, pred_classes, num_classes, "pred_instances")
    true, true_shape = _instance_planes(true_instances, true_classes, num_classes,
                                        "true_instances")
    if shape != true_shape:
        raise ValueError(f"pred_instances, true_instances: shapes differ, "
                         f"{shape_str(shape)} and {shape_str(true_shape)}")
    pred, n_pred = _dense_ids(pred)
    true, n_true = _dense_ids(true)
    matches = _match(true, pred, n_true, n_pred, bound=bound, match="iou",
                     threshold=match_threshold, strict=strict_threshold)
    batch = shape[0]
    counts = jnp.stack([n_true, n_pred], -1).reshape(batch, -1)
    within = check_counts(counts, bound, "max_objects")
    matches = _Matches(*(x.reshape(batch, num_classes).astype(jnp.float32) for x in matches))
    return PanopticQuality(*(nan_unless(within[:, None], x)
                             for x in _panoptic(matches, empty_score, smooth_numerator)))

