"""The region engine: soft confusion statistics, batch pooling, class reduction, setup.

Every region loss in the package is *statistics -> formula -> reduction* through this module:
:func:`statistics` sums the soft TP / FP / FN and volumes per (example, class) over the spatial
axes (pooled over the batch, and ``psum``-ed over ``axis_name``, with ``per_image=False``); the
loss applies its formula per (example, class); :func:`absent_rule` applies the
``absent_classes`` option; :func:`reduce_classes` drops the background if asked and averages
(optionally weighted) or returns the per-class values. With ``average="micro"``,
:func:`pool_classes` sums the statistics over the kept classes and the formula runs once.
:func:`region_loss` is these steps in one call. See :mod:`jaxseg_losses.region` for
the conventions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxseg_losses._activations import (
    PROB_EPS,
    class_hits,
    prepared_probabilities,
    probability_planes,
)
from jaxseg_losses._inputs import (
    Mode,
    Prepared,
    check_choice,
    check_class_vector,
    check_number,
    prepare,
)
from jaxseg_losses._numerics import keep_classes, safe_divide, spatial_sum

REGION_REDUCTIONS = ("example", "class")
AVERAGES = ("macro", "micro")
ABSENT_CLASSES = ("score", "zero", "exclude")


DEFAULT_SMOOTH = 1e-5


class OverlapStatistics(NamedTuple):
    """Soft confusion counts per (example, class), all float32.

    Each field has shape ``(B, C)`` (``per_image=True``) or ``(1, C)`` (``per_image=False``:
    summed over the batch and over ``axis_name``).

    Attributes:
      tp: soft true positives :math:`\\sum_x v\\,p\\,y`.
      fp: soft false positives :math:`\\sum_x v\\,p(1-y)`.
      fn: soft false negatives :math:`\\sum_x v\\,(1-p)y`.
      sum_p: predicted volume :math:`\\sum_x v\\,p` (:math:`\\sum_x v\\,p^2` with ``squared``).
      sum_y: ground-truth volume :math:`\\sum_x v\\,y` (:math:`\\sum_x v\\,y^2` with ``squared``).
    """

    tp: jax.Array
    fp: jax.Array
    fn: jax.Array
    sum_p: jax.Array
    sum_y: jax.Array


def aggregate(values: jax.Array, per_image: bool, axis_name) -> jax.Array:
    """Sums ``(B, *spatial, ...)`` over the spatial axes -> ``(B, ...)``; batch-global when asked.

    ``values`` has the spatial axes at positions ``1 .. ndim - 2`` (a trailing class axis).
    """
    return over_batch(spatial_sum(values), per_image, axis_name)


def over_batch(summed: jax.Array, per_image: bool, axis_name) -> jax.Array:
    """``(B, ...)`` per-image sums, or their ``(1, ...)`` batch total (``psum``-ed over
    ``axis_name``) with ``per_image=False``."""
    if per_image:
        return summed
    summed = jnp.sum(summed, axis=0, keepdims=True)
    if axis_name is not None:
        summed = jax.lax.psum(summed, axis_name)
    return summed


def statistics(
    prep: Prepared, *, per_image: bool, axis_name, squared: bool, soft_label: bool
) -> OverlapStatistics:
    """The statistics of a loss's checked inputs: class plane by class plane with integer labels
    and few classes (:func:`index_statistics`), else :func:`soft_statistics`."""
    # The activations first (the probabilities as class planes with integer labels), then sums.
    hits = class_hits(prep)
    probs = prepared_probabilities(prep) if hits is None else probability_planes(prep)
    if hits is not None:
        return index_statistics(probs, hits, prep.valid, per_image, axis_name, squared)
    return soft_statistics(
        probs, prep.targets, prep.valid[..., None], per_image=per_image, axis_name=axis_name,
        squared=squared, soft_label=soft_label,
    )


def soft_statistics(
    p: jax.Array, y: jax.Array, v: jax.Array, *, per_image: bool, axis_name,
    squared: bool = False, soft_label: bool = False,
) -> OverlapStatistics:
    """The statistics of probabilities ``p`` and targets ``y`` ``(B, *spatial, K)`` with pixel
    weights ``v`` (broadcast against them), summed over the spatial axes by :func:`aggregate`."""
    agg = functools.partial(aggregate, per_image=per_image, axis_name=axis_name)
    if squared:  # V-Net: <p, y>, ||p||^2, ||y||^2 (the L2 form is exact for soft labels too)
        tp = agg(v * p * y)
        sum_p, sum_y = agg(v * p * p), agg(v * y * y)
        return OverlapStatistics(tp, sum_p - tp, sum_y - tp, sum_p, sum_y)
    if soft_label:  # L1 form: TP = (|p|_1 + |y|_1 - |p - y|_1) / 2
        sum_p, sum_y = agg(v * p), agg(v * y)
        tp = 0.5 * (sum_p + sum_y - agg(v * jnp.abs(p - y)))
        return OverlapStatistics(tp, sum_p - tp, sum_y - tp, sum_p, sum_y)
    # Two reductions that involve p (FP = sum_p - TP, FN = sum_y - TP): about half the
    # value+grad time of three separate products (benchmarks/losses.py).
    weighted_p = v * p
    tp, sum_p = agg(weighted_p * y), agg(weighted_p)
    sum_y = agg(v * y)
    return OverlapStatistics(tp, sum_p - tp, sum_y - tp, sum_p, sum_y)


def plane_sums(
    planes: list[jax.Array], hits: list[jax.Array], valid: jax.Array, terms, per_image: bool,
    axis_name,
):
    """Per class plane (``planes``: the probabilities, ``hits``: the one-hot targets, both as
    ``(B, *spatial)`` planes; ``valid``: the pixel weights), the spatial sums of
    ``terms(v, p_c, hit_c)`` (a tuple of
    ``(B, *spatial)`` maps), each stacked to ``(B, C)`` and aggregated like :func:`aggregate`:
    the integer-label statistics without a one-hot array (contiguous pixels per plane sum at
    memory speed on XLA:CPU)."""
    axes = tuple(range(1, valid.ndim))
    per_class = [
        [jnp.sum(t, axis=axes) for t in terms(valid, p, hit)]
        for p, hit in zip(planes, hits, strict=True)
    ]
    return tuple(
        over_batch(jnp.stack(sums, axis=-1), per_image, axis_name)
        for sums in zip(*per_class, strict=True)
    )


def index_statistics(
    planes: list[jax.Array], hits: list[jax.Array], valid: jax.Array, per_image: bool, axis_name,
    squared: bool,
) -> OverlapStatistics:
    """The statistics of integer labels, class plane by class plane (:func:`plane_sums`).

    Hard labels make the L1 (``soft_label``) form equal to the product form, and
    :math:`y^2 = y`.
    """

    def terms(v, p, hit):
        weighted_p = v * p
        return (
            jnp.where(hit, weighted_p, 0.0),
            weighted_p * p if squared else weighted_p,
            jnp.where(hit, v, 0.0),
        )

    tp, sum_p, sum_y = plane_sums(planes, hits, valid, terms, per_image, axis_name)
    return OverlapStatistics(tp, sum_p - tp, sum_y - tp, sum_p, sum_y)


def smooth_pair(smooth) -> tuple[float, float]:
    if isinstance(smooth, tuple | list):
        if len(smooth) != 2:
            raise ValueError(
                f"smooth: expected a number or a pair (smooth_nr, smooth_dr); got {smooth!r}"
            )
        nr, dr = smooth
    else:
        nr = dr = smooth
    check_number("smooth", nr)
    check_number("smooth", dr)
    return nr, dr


def ratio(numerator: jax.Array, denominator: jax.Array) -> jax.Array:
    """Score ratio; 0/0 (empty prediction on empty truth, no smoothing) is a perfect score 1."""
    return safe_divide(numerator, denominator, fill=1.0)


def absent_rule(
    per_class: jax.Array,
    class_weights: jax.Array | None,
    present: jax.Array,
    absent_classes: str,
) -> tuple[jax.Array, jax.Array | None]:
    """Applies ``absent_classes`` to ``(B or 1, C)`` per-class losses and the class weights,
    given ``present`` (bool, the classes with truth, same shape): ``"score"`` changes nothing;
    ``"zero"`` sets an absent class's loss to 0 (segmentation-models-pytorch's ``loss *= mask``);
    ``"exclude"`` also gives it weight 0 in the class mean. A NaN loss stays NaN (XLA turns a
    product with a converted mask into a select, which would hide it)."""
    if absent_classes == "score":
        return per_class, class_weights
    keep_nan = 0.0 * per_class
    if absent_classes == "exclude":
        class_weights = present_weights(class_weights, present, keep_nan)
    return jnp.where(present, per_class, keep_nan), class_weights


def present_weights(
    class_weights: jax.Array | None, present: jax.Array, keep_nan: jax.Array
) -> jax.Array:
    """The class weights (1 without them) where ``present``, else ``keep_nan`` (0, or NaN where
    the values they weigh are NaN)."""
    return jnp.where(present, 1.0 if class_weights is None else class_weights, keep_nan)


def reduce_classes(
    per_class: jax.Array,
    *,
    batch_size: int,
    include_background: bool,
    class_weights: jax.Array | None,
    reduction: str,
) -> jax.Array:
    """``(B or 1, C)`` per-class losses -> ``(B,)`` (weighted class mean) or ``(B, C_kept)``.

    ``class_weights``: ``(C,)`` or ``(B or 1, C)``; a row whose weights are all 0 gives 0.
    """
    per_class = keep_classes(per_class, include_background)
    if reduction == "class":
        out = per_class
    elif class_weights is None:
        out = jnp.mean(per_class, axis=-1)
    else:
        w = keep_classes(class_weights, include_background)
        out = safe_divide(jnp.sum(per_class * w, axis=-1), jnp.sum(w, axis=-1))
    return jnp.broadcast_to(out, (batch_size,) + out.shape[1:])


def pool_classes(
    stats: OverlapStatistics, include_background: bool, class_weights: jax.Array | None
) -> OverlapStatistics:
    """Micro averaging: each count summed over the kept classes (weighted by ``class_weights``,
    Sudre's generalized-Dice form) -> ``(B or 1, 1)`` fields, before any ratio."""

    def pool(values: jax.Array) -> jax.Array:
        kept = keep_classes(values, include_background)
        if class_weights is not None:
            kept = kept * keep_classes(class_weights, include_background)
        return jnp.sum(kept, axis=-1, keepdims=True)

    return OverlapStatistics(*(pool(values) for values in stats))


def check_region_reduction(
    reduction: str, class_weights, average: str = "macro", absent_classes: str = "score"
) -> None:
    """``reduction`` of a region loss, ``class_weights`` only with ``"example"``, ``average``
    (``"micro"`` has no per-class values) and ``absent_classes``."""
    check_choice("reduction", reduction, REGION_REDUCTIONS)
    check_choice("average", average, AVERAGES)
    check_choice("absent_classes", absent_classes, ABSENT_CLASSES)
    if average == "micro" and reduction == "class":
        raise ValueError(
            "reduction='class': average='micro' pools the classes before the ratio, so there "
            "are no per-class values; use average='macro' for them"
        )
    if reduction == "class" and class_weights is not None:
        raise ValueError(
            "class_weights: only used by reduction='example' (reduction='class' returns the "
            "unweighted per-class losses); drop one of them"
        )


def region_setup(
    predictions, labels, *, mode, from_logits, mask, ignore_index, class_weights, reduction,
    average: str = "macro", absent_classes: str = "score",
) -> tuple[Prepared, jax.Array | None]:
    """Validates the shared options and inputs of a per-class region loss."""
    check_region_reduction(reduction, class_weights, average, absent_classes)
    prep = prepare(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index,
    )
    return prep, check_class_vector(class_weights, prep.num_classes, name="class_weights")


def region_loss(
    formula: Callable[[OverlapStatistics], jax.Array],
    predictions,
    labels,
    *,
    mode: Mode,
    from_logits: bool,
    include_background: bool,
    class_weights,
    per_image: bool,
    axis_name,
    reduction: str,
    mask,
    ignore_index,
    squared: bool = False,
    soft_label: bool = False,
    average: str = "macro",
    absent_classes: str = "score",
) -> jax.Array:
    """Shared body: prepare -> statistics -> per-class ``formula`` -> ``absent_classes`` rule ->
    class reduction (``average="macro"``), or statistics pooled over the kept classes ->
    ``formula`` (``"micro"``; with ``"zero"``/``"exclude"`` the absent classes' counts are left
    out of the pool)."""
    prep, weights = region_setup(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index, class_weights=class_weights, reduction=reduction,
        average=average, absent_classes=absent_classes,
    )
    stats = statistics(
        prep, per_image=per_image, axis_name=axis_name, squared=squared, soft_label=soft_label
    )
    present = stats.sum_y > 0
    if average == "micro":
        if absent_classes != "score":  # the absent classes' counts leave the pool
            weights = present_weights(weights, present, 0.0 * (stats.sum_p + stats.sum_y))
        pooled = formula(pool_classes(stats, include_background, weights))[:, 0]
        return jnp.broadcast_to(pooled, (prep.predictions.shape[0],))
    per_class, weights = absent_rule(formula(stats), weights, present, absent_classes)
    return reduce_classes(
        per_class,
        batch_size=prep.predictions.shape[0],
        include_background=include_background,
        class_weights=weights,
        reduction=reduction,
    )


def score_loss(score: jax.Array, log_loss: bool) -> jax.Array:
    """The loss of an overlap score in [0, 1]: ``1 - score``, or with ``log_loss``
    segmentation-models-pytorch's ``-log(max(score, eps))`` (``eps = 1e-7``, smp's default;
    ``jnp.maximum`` keeps NaN)."""
    if log_loss:
        return -jnp.log(jnp.maximum(score, PROB_EPS))
    return 1.0 - score


def dice_index(s: OverlapStatistics, nr, dr) -> jax.Array:
    return ratio(2.0 * s.tp + nr, 2.0 * s.tp + s.fp + s.fn + dr)


def tversky_index(s: OverlapStatistics, alpha, beta, nr, dr) -> jax.Array:
    return ratio(s.tp + nr, s.tp + alpha * s.fp + beta * s.fn + dr)
