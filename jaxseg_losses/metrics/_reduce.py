"""Reductions of per-class metric values and counts, shared by the metric families.

Over the batch: ``per_image=True`` keeps one row of counts per example; ``per_image=False`` sums
the counts over the batch (and ``psum``-s them over ``axis_name`` inside ``shard_map``) before
any ratio, and the result is repeated over the batch, as the losses' batch-global form.

Over the classes (``average``, torchmetrics' spelling, the region losses' ``average``):

* ``"none"``: one value per class;
* ``"micro"``: the counts summed over the classes (weighted by the class weights) before the
  ratio;
* ``"macro"``: the (weighted) mean of the per-class values;
* ``"weighted"``: the mean of the per-class values weighted by the class support
  (``tp + fn``, the truth's pixel count; torchmetrics' ``"weighted"``).

An entry whose ratio is undefined (a zero denominator) takes ``zero_division``; when that is NaN
the entry leaves the class means (MONAI's NaN-skipping aggregation), and a mean of nothing is NaN.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxseg_losses._inputs import check_choice, is_concrete
from jaxseg_losses.region._engine import over_batch

AVERAGES = ("none", "micro", "macro", "weighted")


def check_zero_division(zero_division) -> jax.Array:
    """``zero_division`` as a float32 scalar: a finite number or NaN (``ValueError`` naming it
    otherwise; traced values are taken as they are)."""
    if np.ndim(zero_division) != 0:
        raise ValueError(f"zero_division: expected a scalar; got shape {np.shape(zero_division)}")
    if is_concrete(zero_division):
        if isinstance(zero_division, (bool, np.bool_, str)):
            raise TypeError(f"zero_division: expected a number or NaN; got {zero_division!r}")
        try:
            value = float(np.asarray(zero_division, dtype=np.float64))
        except (TypeError, ValueError):
            raise TypeError(f"zero_division: expected a number or NaN; got {zero_division!r}"
                            ) from None
        if np.isinf(value):
            raise ValueError(f"zero_division: expected a finite number or NaN; got {value}")
    return jnp.asarray(zero_division, jnp.float32)


def check_average(average: str, class_weights) -> None:
    check_choice("average", average, AVERAGES)
    if class_weights is not None and average in ("none", "weighted"):
        raise ValueError(
            f"class_weights: weigh the classes of average='macro' or 'micro'; average="
            f"{average!r} " + ("returns every class" if average == "none" else
                               "weighs them by their support (tp + fn)")
        )


def pool_batch(counts: tuple[jax.Array, ...], per_image: bool, axis_name
               ) -> tuple[jax.Array, ...]:
    """``(B, ...)`` counts per example, or their ``(1, ...)`` batch totals."""
    return tuple(over_batch(c, per_image, axis_name) for c in counts)


def fill_undefined(value: jax.Array, defined: jax.Array, zero_division: jax.Array) -> jax.Array:
    """``value`` where ``defined``, ``zero_division`` elsewhere."""
    return jnp.where(defined, value, zero_division)


def mean_over_classes(values: jax.Array, weights: jax.Array) -> jax.Array:
    """Weighted mean over the last axis; entries that are NaN *and* of positive weight because
    they were undefined are expected to have been given weight 0 by the caller. A row of zero
    weights gives NaN."""
    total = jnp.sum(weights, axis=-1)
    ok = total > 0
    summed = jnp.sum(jnp.where(weights > 0, values * weights, 0.0), axis=-1)
    return jnp.where(ok, summed / jnp.where(ok, total, 1.0), jnp.nan)


def expand_batch(values: jax.Array, batch_size: int) -> jax.Array:
    """``(1, ...)`` pooled values repeated to ``(B, ...)`` (per-example values unchanged)."""
    return jnp.broadcast_to(values, (batch_size,) + values.shape[1:])


CALIBRATION_REDUCTIONS = ("expected", "average", "maximum", "rms")


def _bin_index(p: jax.Array, num_bins: int, right: bool) -> jax.Array:
    """Bin of each probability: ``[k/n, (k+1)/n)`` (1 in the last bin) or, ``right=True``,
    ``(k/n, (k+1)/n]`` (0 in the first bin)."""
    scaled = p * num_bins
    index = jnp.ceil(scaled) - 1.0 if right else jnp.floor(scaled)
    index = jnp.where(jnp.isnan(index), 0.0, index)  # NaN probabilities: flagged by the caller
    return jnp.clip(index, 0, num_bins - 1).astype(jnp.int32)


def binned_statistics(probabilities: jax.Array, truth: jax.Array, weights: jax.Array, *,
                      num_bins: int, right: bool = False) -> tuple[jax.Array, ...]:
    """The bins of :func:`calibration_error`: pixel count, sum of the probabilities and sum of
    the truth per example, channel and bin (sums over a data set add up).

    Args:
      probabilities: ``(B, *spatial, C)`` probabilities in [0, 1].
      truth: ``(B, *spatial, C)`` truth (0 / 1, or soft frequencies).
      weights: ``(B, *spatial)`` pixel weights (0 leaves a pixel out).
      num_bins: number of equal-width bins of [0, 1].
      right: bins ``(k/n, (k+1)/n]`` instead of ``[k/n, (k+1)/n)``. Default ``False``.

    Returns:
      ``(count, sum_p, sum_y)``, float32 ``(B, C, num_bins)`` each.
    """
    batch, channels = probabilities.shape[0], probabilities.shape[-1]
    index = _bin_index(probabilities, num_bins, right)
    segment = (jnp.arange(batch).reshape((batch,) + (1,) * (index.ndim - 1)) * channels
               + jnp.arange(channels)) * num_bins + index
    segment = segment.reshape(-1)
    w = jnp.broadcast_to(weights[..., None], probabilities.shape)

    def total(values):
        summed = jax.ops.segment_sum(values.reshape(-1), segment,
                                     num_segments=batch * channels * num_bins)
        return summed.reshape(batch, channels, num_bins)

    return total(w), total(w * probabilities), total(w * truth)


def calibration_from_bins(count: jax.Array, sum_p: jax.Array, sum_y: jax.Array,
                          calibration_reduction: str = "expected") -> jax.Array:
    """The calibration error of binned statistics (:func:`binned_statistics`, e.g. summed over a
    data set).

    Args:
      count, sum_p, sum_y: ``(..., num_bins)`` pixel counts, sums of the probabilities and of the
        truth per bin.
      calibration_reduction: ``"expected"`` (default), ``"average"``, ``"maximum"`` or
        ``"rms"``.

    Returns:
      float32 ``(...)``: the calibration error, NaN where no pixel was binned.
    """
    check_choice("calibration_reduction", calibration_reduction, CALIBRATION_REDUCTIONS)
    filled = count > 0
    safe = jnp.where(filled, count, 1.0)
    gap = jnp.abs(sum_p - sum_y) / safe  # |mean p - mean y| of each non-empty bin
    total = jnp.sum(count, axis=-1)
    some = total > 0
    if calibration_reduction == "expected":
        value = jnp.sum(jnp.abs(sum_p - sum_y), axis=-1) / jnp.where(some, total, 1.0)
    elif calibration_reduction == "rms":
        value = jnp.sqrt(jnp.sum(count * gap * gap, axis=-1) / jnp.where(some, total, 1.0))
    elif calibration_reduction == "average":
        value = jnp.sum(jnp.where(filled, gap, 0.0), axis=-1) / jnp.maximum(
            jnp.sum(filled, axis=-1), 1)
    else:
        value = jnp.max(jnp.where(filled, gap, -jnp.inf), axis=-1)
    return jnp.where(some, value, jnp.nan)


__all__ = ["AVERAGES", "CALIBRATION_REDUCTIONS", "binned_statistics", "calibration_from_bins",
           "check_average", "check_zero_division", "expand_batch",
           "fill_undefined", "mean_over_classes", "pool_batch"]
