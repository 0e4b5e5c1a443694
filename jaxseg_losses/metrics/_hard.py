"""The metrics' input contract: predictions and truth in any form the losses take -> boolean
per-class masks of the scored pixels.

One rule decides the prediction's form, never a guess from the values (the module docstring of
:mod:`jaxseg_losses.metrics` is the user-facing version):

* **integer** predictions are class maps ``(B, *spatial)``; ``C`` comes from dense labels
  ``(B, *spatial, C)``, else from ``num_classes`` (an error naming ``num_classes`` when neither
  gives it: a spatial axis is never read as classes), and in ``mode="binary"`` it is 1;
* **boolean** predictions ``(B, *spatial, C)`` are hard masks, used as given;
* **floating** predictions ``(B, *spatial, C)`` are scores: ``mode="multiclass"`` takes the
  argmax over ``C`` (the same class for logits, probabilities and one-hot masks);
  ``"binary"`` / ``"multilabel"`` keep the channels whose probability (``sigmoid`` of the logits,
  or the values with ``from_logits=False``) exceeds ``threshold``.

The truth: integer class indices ``(B, *spatial)`` (one-hot over ``C``; in ``"binary"`` mode
0/1), or dense ``(B, *spatial, C)`` targets: booleans as given, numbers in [0, 1] above 0.5.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxseg_losses._inputs import (
    binary_class_axis,
    check_class_indices,
    check_mode,
    check_no_ignore_index,
    check_number,
    check_prediction_values,
    nan_unless,
    resolve_mask,
    shape_str,
    value_check,
)
from jaxseg_losses._numerics import keep_classes


class HardMasks(NamedTuple):
    """A metric call's checked inputs.

    Attributes:
      pred: bool ``(B, *spatial, C)`` predicted masks, excluded pixels False.
      true: bool ``(B, *spatial, C)`` true masks, excluded pixels False.
      bad: bool ``(B,)``: the example holds a bad value (its metrics are NaN; eager calls raise).
      void: bool ``(C,)``: the class named by ``ignore_index`` (NaN: not scored).
      weights: float32 ``(B, *spatial)`` pixel weights (the mask; 0 where excluded).
    """

    pred: jax.Array
    true: jax.Array
    bad: jax.Array
    void: jax.Array
    weights: jax.Array


def _is_integer(x: jax.Array) -> bool:
    return jnp.issubdtype(x.dtype, jnp.integer)


def _class_count(pred, true, num_classes, mode) -> int:
    """``C`` for integer prediction maps, from what states it (never from a spatial axis)."""
    if true.ndim == pred.ndim + 1:
        count = true.shape[-1]
    elif num_classes is not None:
        count = num_classes
    elif mode == "binary":
        count = 1
    else:
        raise ValueError(
            f"num_classes: required with integer label maps as predictions {shape_str(pred.shape)}"
            f" and labels {shape_str(true.shape)} (the class count cannot be read from them); "
            "pass num_classes=, dense (B, *spatial, C) labels, or boolean masks"
        )
    if num_classes is not None and num_classes != count:
        raise ValueError(
            f"num_classes: {num_classes} disagrees with the labels' class axis C = {count}"
        )
    return count


def _predicted_masks(pred, num_classes, mode, from_logits, threshold):
    """Predictions -> ``(bool (B, *spatial, C), bool (B, *spatial) bad pixels)``."""
    if _is_integer(pred):
        if mode == "binary":
            index, _, ok = check_class_indices(pred, 2, name="predictions")
            return (index == 1)[..., None], ~ok
        index, _, ok = check_class_indices(pred, num_classes, name="predictions")
        return index[..., None] == jnp.arange(num_classes), ~ok
    if pred.dtype == jnp.bool_:
        return pred, jnp.zeros(pred.shape[:-1], bool)
    scores = check_prediction_values(pred.astype(jnp.float32), from_logits, mode=mode)
    bad = jnp.any(jnp.isnan(scores), axis=-1)
    if mode == "multiclass":
        return jnp.argmax(scores, axis=-1)[..., None] == jnp.arange(pred.shape[-1]), bad
    probability = jax.nn.sigmoid(scores) if from_logits else scores
    return probability > threshold, bad


def _true_masks(true, index_shape, num_classes, mode, ignore_index):
    """Truth -> ``(bool (B, *spatial, C), scored, bad)`` (the last two ``(B, *spatial)``)."""
    if true.shape == index_shape and (_is_integer(true) or true.dtype == jnp.bool_):
        num_labels = 2 if mode == "binary" else num_classes
        index, scored, ok = check_class_indices(true, num_labels, ignore_index=ignore_index)
        masks = (index == 1)[..., None] if mode == "binary" else (
            index[..., None] == jnp.arange(num_classes))
        return masks, scored, scored & ~ok
    if true.shape == index_shape and mode == "binary":
        true = true[..., None]  # a float mask (B, *spatial) in binary mode: dense targets
    elif true.shape == index_shape:
        raise TypeError(
            f"labels: class indices of shape {shape_str(index_shape)} must have an integer "
            f"dtype; got {true.dtype}. Dense (one-hot or soft) targets must have shape "
            f"{shape_str(index_shape + (num_classes,))}"
        )
    if true.shape != index_shape + (num_classes,):
        raise ValueError(
            f"labels: expected class indices of shape (B, *spatial) = {shape_str(index_shape)} "
            f"or dense targets of shape (B, *spatial, C) = "
            f"{shape_str(index_shape + (num_classes,))}; got shape {shape_str(true.shape)}"
        )
    check_no_ignore_index(ignore_index, index_shape, true.shape)
    scored = jnp.ones(index_shape, bool)
    if true.dtype == jnp.bool_:
        return true, scored, ~scored
    values = true.astype(jnp.float32)
    ok = (values >= 0) & (values <= 1)
    value_check(jnp.all(ok), "labels: dense targets must lie in [0, 1] (NaN is not allowed); "
                "got values in [{lo}, {hi}]", lo=jnp.min(values), hi=jnp.max(values))
    return nan_unless(ok, values) > 0.5, scored, ~jnp.all(ok, axis=-1)


def hard_masks(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    num_classes: int | None = None,
    mode: str = "multiclass",
    from_logits: bool = True,
    threshold: float = 0.5,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> HardMasks:
    """Checks a metric call and returns the boolean masks of the scored pixels.

    Value errors follow the losses: class indices outside ``[0, C - 1]`` (other than a truth
    ``ignore_index``), NaN or infinite logits, probabilities outside [0, 1], dense targets
    outside [0, 1] and bad ``mask`` values raise eagerly and are checkify checks under ``jit``;
    unchecked, the example's metrics are NaN.
    """
    pred, true = jnp.asarray(predictions), jnp.asarray(labels)
    if not _is_integer(pred):
        pred = binary_class_axis(pred, true, mode)
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1
    ):
        raise ValueError(f"num_classes: expected an integer >= 1; got {num_classes!r}")
    check_number("threshold", threshold, high=1.0)
    integer_map = _is_integer(pred)
    rank = pred.ndim if integer_map else pred.ndim - 1
    if rank not in (2, 3, 4):
        form = "integer class maps (B, *spatial)" if integer_map else (
            "masks or scores (B, *spatial, C)")
        raise ValueError(f"predictions: expected {form} with 1 to 3 spatial axes; got shape "
                         f"{shape_str(pred.shape)}")
    if 0 in pred.shape:
        raise ValueError("predictions: nothing to score, every axis needs at least one entry; "
                         f"got shape {shape_str(pred.shape)}")
    if integer_map:
        count = _class_count(pred, true, num_classes, mode)
    else:
        count = pred.shape[-1]
        if num_classes is not None and num_classes != count:
            raise ValueError(f"num_classes: {num_classes} disagrees with the predictions' class "
                             f"axis C = {count} of shape {shape_str(pred.shape)}")
    check_mode(mode, count)
    index_shape = pred.shape if integer_map else pred.shape[:-1]
    pred_masks, pred_bad = _predicted_masks(pred, count, mode, from_logits, threshold)
    true_masks, scored, true_bad = _true_masks(true, index_shape, count, mode, ignore_index)
    weights = resolve_mask(mask, index_shape)  # NaN where a mask value is bad
    scored = scored & (weights > 0)
    bad_pixels = pred_bad | true_bad | jnp.isnan(weights)
    bad = jnp.any(bad_pixels, axis=tuple(range(1, bad_pixels.ndim)))
    classes = jnp.arange(count)
    void = classes == (-1 if ignore_index is None or mode == "binary" else ignore_index)
    weights = jnp.where(scored, weights, 0.0)
    return HardMasks(pred_masks & scored[..., None], true_masks & scored[..., None], bad, void,
                     weights)


def nan_where(masks: HardMasks, values: jax.Array, include_background: bool) -> jax.Array:
    """``(B, C)`` metric values, NaN for the examples flagged bad and for the ``ignore_index``
    class."""
    void = keep_classes(masks.void, include_background)
    return jnp.where(masks.bad[:, None] | void, jnp.nan, values)


def counts(pred: jax.Array, true: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(|P ∩ G|, |P|, |G|)`` per example and class, float32 ``(B, C)``."""
    axes = tuple(range(1, pred.ndim - 1))
    # Counted in int32, then converted: exact counts whatever order the reduction adds in
    # (float32 holds every integer only up to 2**24, one 256**3 volume).
    total = lambda m: jnp.sum(m, axis=axes, dtype=jnp.int32).astype(jnp.float32)
    return total(pred & true), total(pred), total(true)


def confusion_counts(masks: HardMasks, include_background: bool = True):
    """``(TP, FP, FN, TN)`` per example and kept class, float32 ``(B, C)`` each, over the
    scored pixels (those with a positive weight)."""
    pred = keep_classes(masks.pred, include_background)
    true = keep_classes(masks.true, include_background)
    tp, pred_sum, true_sum = counts(pred, true)
    scored = jnp.sum(masks.weights > 0, axis=tuple(range(1, masks.weights.ndim)),
                     dtype=jnp.int32).astype(jnp.float32)[:, None]
    return tp, pred_sum - tp, true_sum - tp, scored - pred_sum - true_sum + tp


__all__ = ["HardMasks", "confusion_counts", "counts", "hard_masks", "nan_where"]
