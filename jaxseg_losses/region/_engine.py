"""The region engine: soft confusion statistics, batch pooling, class reduction.

Every region loss in the package is *statistics -> formula -> reduction* through this module,
on the planes its family has already computed (:class:`~jaxseg_losses._activations.OverlapPlanes`:
the inputs are checked and activated before the engine is entered, never by it):
:func:`statistics` sums the soft TP / FP / FN and volumes per (example, class) over the spatial
axes (pooled over the batch, and ``psum``-ed over ``axis_name``, with ``per_image=False``); the
loss applies its formula per (example, class); :func:`absent_rule` applies the
``absent_classes`` option; :func:`reduce_classes` drops the background if asked and averages
(optionally weighted) or returns the per-class values. With ``average="micro"``,
:func:`pool_classes` sums the statistics over the kept classes and the formula runs once.
:func:`region_loss` is these steps in one call, with the family's per-class formula. See
:mod:`jaxseg_losses.region` for the conventions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxseg_losses._activations import PROB_EPS, OverlapPlanes
from jaxseg_losses._inputs import check_number
from jaxseg_losses._numerics import keep_classes, safe_divide, spatial_sum

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
    planes: OverlapPlanes, *, per_image: bool, axis_name, squared: bool = False,
    soft_label: bool = False,
) -> OverlapStatistics:
    """The statistics of a loss's planes: class plane by class plane with class hits
    (:func:`index_statistics`), else :func:`soft_statistics`."""
    if planes.hits is not None:
        return index_statistics(
            planes.probabilities, planes.hits, planes.valid, per_image, axis_name, squared
        )
    return soft_statistics(
        planes.probabilities, planes.targets, planes.valid[..., None], per_image=per_image,
        axis_name=axis_name, squared=squared, soft_label=soft_label,
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


class ErrorStatistics(NamedTuple):
    """Squared errors of the probabilities per (example, class), on the truth and on its
    complement, with their normalisers; shapes as :class:`OverlapStatistics`.

    Attributes:
      positive_error: :math:`\\sum_x v\\,(y-p)^2\\,y`.
      negative_error: :math:`\\sum_x v\\,(y-p)^2\\,(1-y)`.
      sum_y: ground-truth volume :math:`\\sum_x v\\,y`.
      sum_not_y: its complement :math:`\\sum_x v\\,(1-y)`.
    """

    positive_error: jax.Array
    negative_error: jax.Array
    sum_y: jax.Array
    sum_not_y: jax.Array


def error_statistics(planes: OverlapPlanes, *, per_image: bool, axis_name) -> ErrorStatistics:
    """The :class:`ErrorStatistics` of a loss's planes (class plane by class plane with class
    hits, no one-hot array)."""
    if planes.hits is not None:

        def terms(v, p, hit):
            squared_error = v * jnp.square(jnp.where(hit, 1.0, 0.0) - p)
            return (
                jnp.where(hit, squared_error, 0.0),
                jnp.where(hit, 0.0, squared_error),
                jnp.where(hit, v, 0.0),
                v,
            )

        positive_error, negative_error, positive, pixels = plane_sums(
            planes.probabilities, planes.hits, planes.valid, terms, per_image, axis_name
        )
        return ErrorStatistics(positive_error, negative_error, positive, pixels - positive)
    y, v = planes.targets, planes.valid[..., None]
    squared_error = v * (y - planes.probabilities) ** 2
    agg = functools.partial(aggregate, per_image=per_image, axis_name=axis_name)
    return ErrorStatistics(
        agg(squared_error * y), agg(squared_error * (1.0 - y)), agg(v * y), agg(v * (1.0 - y))
    )


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


def region_loss(
    planes: OverlapPlanes,
    formula: Callable[[OverlapStatistics, jax.Array], jax.Array],
    *,
    class_weights: jax.Array | None,
    include_background: bool,
    per_image: bool,
    axis_name,
    reduction: str,
    squared: bool = False,
    soft_label: bool = False,
    average: str = "macro",
    absent_classes: str = "score",
    sums: Callable[..., NamedTuple] | None = None,
) -> jax.Array:
    """Shared body of a per-class region loss, on its planes: statistics -> per-class
    ``formula(stats, pixels)`` -> ``absent_classes`` rule -> class reduction
    (``average="macro"``), or statistics pooled over the kept classes -> ``formula``
    (``"micro"``; with ``"zero"``/``"exclude"`` the absent classes' counts are left out of the
    pool). ``pixels`` is the ``(B or 1, 1)`` sum of the pixel weights (:math:`N = TP + FP + FN +
    TN` of every class); ``class_weights`` are checked already (``prepare_region``). ``sums``:
    other statistics than the overlap ones (:func:`error_statistics`), with a ``sum_y`` field
    (``squared`` and ``soft_label`` then unused)."""
    if sums is None:
        stats = statistics(planes, per_image=per_image, axis_name=axis_name, squared=squared,
                           soft_label=soft_label)
    else:
        stats = sums(planes, per_image=per_image, axis_name=axis_name)
    agg = functools.partial(aggregate, per_image=per_image, axis_name=axis_name)
    pixels = agg(planes.valid[..., None])
    present = stats.sum_y > 0
    if average == "micro":
        if absent_classes != "score":  # the absent classes' counts leave the pool
            class_weights = present_weights(
                class_weights, present, 0.0 * (stats.sum_p + stats.sum_y)
            )
        pooled = formula(pool_classes(stats, include_background, class_weights), pixels)
        return jnp.broadcast_to(pooled[:, 0], (planes.batch_size,))
    per_class, class_weights = absent_rule(
        formula(stats, pixels), class_weights, present, absent_classes
    )
    return reduce_classes(
        per_class,
        batch_size=planes.batch_size,
        include_background=include_background,
        class_weights=class_weights,
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
