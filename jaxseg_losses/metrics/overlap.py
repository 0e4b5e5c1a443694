r"""Overlap metrics: Dice, IoU (Jaccard) and generalized Dice of hard segmentations."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxseg_losses._inputs import boolean_options, check_choice, renamed_options
from jaxseg_losses._numerics import (
    VOLUME_WEIGHTS,
    inverse_volume_weights,
    keep_classes,
    largest_for_absent,
    safe_divide,
)
from jaxseg_losses.metrics._hard import HardMasks, counts, hard_masks, nan_where


def _ignore_empty(score: jax.Array, true_sum: jax.Array, ignore_empty: bool) -> jax.Array:
    """MONAI's ``ignore_empty=True``: NaN where the truth is empty, so that ``nanmean`` skips it."""
    return jnp.where(true_sum > 0, score, jnp.nan) if ignore_empty else score


def _kept_counts(masks: HardMasks, include_background: bool):
    return counts(keep_classes(masks.pred, include_background),
                  keep_classes(masks.true, include_background))


@boolean_options
def dice_score(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    num_classes: int | None = None,
    mode: str = "multiclass",
    from_logits: bool = True,
    threshold: float = 0.5,
    include_background: bool = True,
    empty_score: float = 1.0,
    ignore_empty: bool = False,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Dice coefficient per example and class, :math:`2|P \cap G| / (|P| + |G|)`.

    Args:
      predictions: what the losses take: logits or probabilities ``(B, *spatial, C)``, boolean
        masks ``(B, *spatial, C)``, or an integer class map ``(B, *spatial)`` (see
        :mod:`jaxseg_losses.metrics` for how each becomes a hard mask).
      labels: the truth: integer class indices ``(B, *spatial)`` or dense one-hot / boolean
        ``(B, *spatial, C)`` (numbers count above 0.5).
      num_classes: ``C``, needed only when both inputs are integer maps (else read from the
        class axis, and checked against it when given). Default ``None``.
      mode: ``"multiclass"`` (default: argmax over ``C``), ``"multilabel"`` or ``"binary"``
        (``C == 1``): each channel kept where its probability exceeds ``threshold``.
      from_logits: floating predictions are logits (default ``True``; the probability is their
        sigmoid) or probabilities (``False``). Argmax (``"multiclass"``) is the same either way.
      threshold: probability above which a channel is predicted in ``"binary"`` /
        ``"multilabel"`` mode. Default 0.5 (logit 0).
      include_background: keep class 0. Default ``True``.
      empty_score: value when both masks are empty. Default 1.
      ignore_empty: ``True`` gives NaN wherever the truth is empty (whatever the prediction),
        MONAI's ``ignore_empty=True``: ``jnp.nanmean`` over the batch is then MONAI's
        aggregate, and ``jnp.sum(~jnp.isnan(scores), axis=0)`` its count of scored entries
        (``get_not_nans``). Default ``False``: empty truth scores ``empty_score`` against an
        empty prediction and 0 against any other (MONAI's ``ignore_empty=False``).
      mask: ``(B, *spatial)`` pixels to score, non-zero = scored (bool or numbers, finite and
        >= 0). Excluded pixels count in neither the prediction nor the truth. Default ``None``.
      ignore_index: a truth label whose pixels are excluded as ``mask``'s zeros (integer labels
        only; dense labels take ``mask``). A class index in ``[0, C - 1]`` also leaves that class
        unscored: its column is NaN. Default ``None``.

    Returns:
      ``(B, C)`` float32 scores in [0, 1] (``(B, C - 1)`` without background; NaN for an empty
      truth with ``ignore_empty``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import dice_score
      >>> truth = jnp.array([[0, 1, 1, 0]])
      >>> dice_score(jnp.array([[0, 1, 0, 0]]), truth, num_classes=2)
      Array([[0.8      , 0.6666667]], dtype=float32)
      >>> logits = jnp.array([[[2.0, -1.0], [0.0, 3.0], [1.0, 0.5], [4.0, 0.0]]])
      >>> dice_score(logits, truth)  # argmax: the same map as above
      Array([[0.8      , 0.6666667]], dtype=float32)
    """
    masks = hard_masks(predictions, labels, num_classes=num_classes, mode=mode,
                       from_logits=from_logits, threshold=threshold, mask=mask,
                       ignore_index=ignore_index)
    tp, pred_sum, true_sum = _kept_counts(masks, include_background)
    score = safe_divide(2.0 * tp, pred_sum + true_sum, fill=empty_score)
    return nan_where(masks, _ignore_empty(score, true_sum, ignore_empty), include_background)


@boolean_options
def iou_score(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    num_classes: int | None = None,
    mode: str = "multiclass",
    from_logits: bool = True,
    threshold: float = 0.5,
    include_background: bool = True,
    empty_score: float = 1.0,
    ignore_empty: bool = False,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Intersection over union (Jaccard index) per example and class.

    :math:`|P \cap G| / |P \cup G|`.

    Args:
      predictions: predictions in any form :func:`dice_score` takes.
      labels: the truth, as :func:`dice_score`.
      num_classes, mode, from_logits, threshold, include_background, empty_score, ignore_empty,
        mask, ignore_index: as :func:`dice_score` (MONAI's ``compute_iou`` takes the same
        ``ignore_empty``).

    Returns:
      ``(B, C)`` float32 scores in [0, 1] (NaN for an empty truth with ``ignore_empty``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import iou_score
      >>> iou_score(jnp.array([[0, 1, 0, 0]]), jnp.array([[0, 1, 1, 0]]), num_classes=2)
      Array([[0.6666667, 0.5      ]], dtype=float32)
    """
    masks = hard_masks(predictions, labels, num_classes=num_classes, mode=mode,
                       from_logits=from_logits, threshold=threshold, mask=mask,
                       ignore_index=ignore_index)
    tp, pred_sum, true_sum = _kept_counts(masks, include_background)
    score = safe_divide(tp, pred_sum + true_sum - tp, fill=empty_score)
    return nan_where(masks, _ignore_empty(score, true_sum, ignore_empty), include_background)


ABSENT_WEIGHTS = ("max", "torchmetrics")


@renamed_options(weight_type="class_weighting")
@boolean_options
def generalized_dice_score(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    num_classes: int | None = None,
    mode: str = "multiclass",
    from_logits: bool = True,
    threshold: float = 0.5,
    include_background: bool = True,
    class_weighting: str = "square",
    absent_weight: str = "max",
    empty_score: float = 1.0,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Generalized Dice score per example, the classes pooled with volume weights (Sudre et al.,
    DLMIA 2017):

    .. math::
        GDS = \frac{2 \sum_c w_c |P_c \cap G_c|}{\sum_c w_c (|P_c| + |G_c|)},\qquad
        w_c = 1 / |G_c|^2\ (\text{square}),\ 1 / |G_c|\ (\text{simple}),\ 1\ (\text{uniform})

    A class absent from the truth would get an infinite weight; as in MONAI it gets the largest
    finite weight of the example (1 if there is none): ``absent_weight="max"``. Equals MONAI's
    ``compute_generalized_dice(..., sum_over_classes=True)`` (whose per-class form is plain
    Dice, :func:`dice_score`). Nothing in either mask: ``empty_score`` (MONAI: 1). A class
    named by ``ignore_index`` leaves the pool, as in MONAI.

    ``absent_weight="torchmetrics"`` is the rule of torchmetrics' ``generalized_dice_score``
    (1.9): the absent class of example :math:`b` and kept class :math:`c` gets
    :math:`m_{\lfloor (bC + c) / B \rfloor}`, where :math:`m_k` is the largest finite weight
    of class :math:`k` over the batch (0 if none) and :math:`C` the kept classes: the
    flattened index of a ``(B, C)`` array read in ``(C, B)`` order. For a batch of one an
    absent class therefore weighs 0 (it leaves the pool, its false positives unscored); in a
    larger batch an example's score depends on the others. It reproduces torchmetrics'
    numbers (with ``empty_score=0``, its value for nothing in either mask; its ``"linear"`` is
    ``"uniform"`` here); prefer ``"max"`` otherwise.

    Args:
      predictions, labels, num_classes, mode, from_logits, threshold, include_background, mask,
        ignore_index: as :func:`dice_score`.
      class_weighting: ``"square"`` (default), ``"simple"`` or ``"uniform"``. Renamed from
        ``weight_type`` (still accepted, with a ``DeprecationWarning``, until the next
        release).
      absent_weight: the weight of a class absent from the truth: ``"max"`` (default, MONAI)
        or ``"torchmetrics"`` (see above). No effect with ``"uniform"``.
      empty_score: value when every kept class is empty in both masks. Default 1.

    Returns:
      ``(B,)`` float32 scores in [0, 1].

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import generalized_dice_score
      >>> truth = jnp.array([[0, 1, 1, 2]])
      >>> generalized_dice_score(truth, truth, num_classes=3)
      Array([1.], dtype=float32)
    """
    check_choice("class_weighting", class_weighting, VOLUME_WEIGHTS)
    check_choice("absent_weight", absent_weight, ABSENT_WEIGHTS)
    masks = hard_masks(predictions, labels, num_classes=num_classes, mode=mode,
                       from_logits=from_logits, threshold=threshold, mask=mask,
                       ignore_index=ignore_index)
    tp, pred_sum, true_sum = _kept_counts(masks, include_background)
    if class_weighting == "uniform":
        weights = jnp.ones_like(true_sum)
    else:
        finite = true_sum > 0
        weights = inverse_volume_weights(true_sum, class_weighting)
        if absent_weight == "max":
            weights = largest_for_absent(weights, finite)
        else:  # torchmetrics: class-wise batch maxima, read at the (C, B)-order flat index
            batch, classes = weights.shape
            class_max = jnp.max(weights, axis=0)
            flat = jnp.arange(batch * classes).reshape(batch, classes)
            weights = jnp.where(finite, weights, class_max[flat // batch])
    weights = jnp.where(keep_classes(masks.void, include_background), 0.0, weights)
    numerator = 2.0 * jnp.sum(weights * tp, axis=-1)
    denominator = jnp.sum(weights * (pred_sum + true_sum), axis=-1)
    return jnp.where(masks.bad, jnp.nan, safe_divide(numerator, denominator, fill=empty_score))


__all__ = ["dice_score", "generalized_dice_score", "iou_score"]
