r"""Volume metrics: absolute and relative volume difference of hard segmentations, in physical
units with the voxel spacing ``sampling``."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxseg_losses._inputs import boolean_options, is_concrete, shape_str, value_check
from jaxseg_losses._numerics import keep_classes
from jaxseg_losses.metrics._hard import counts, hard_masks, nan_where


def voxel_volume(sampling: float | Sequence[float] | jax.typing.ArrayLike | None,
                 num_spatial: int) -> jax.Array:
    """The volume of one voxel, ``prod(sampling)`` (1 for ``None``), checked: one positive,
    finite spacing per spatial axis or one for all."""
    if sampling is None:
        return jnp.float32(1.0)
    spacing = jnp.asarray(sampling, jnp.float32)
    if spacing.ndim == 0:
        spacing = jnp.broadcast_to(spacing, (num_spatial,))
    if spacing.shape != (num_spatial,):
        raise ValueError(f"sampling: expected a scalar or one spacing per spatial axis, shape "
                         f"({num_spatial},); got shape {shape_str(spacing.shape)}")
    ok = jnp.all(jnp.isfinite(spacing) & (spacing > 0))
    value_check(ok, "sampling: spacings must be finite and positive; got {values}",
                values=spacing)
    volume = jnp.prod(spacing)
    return volume if is_concrete(spacing) else jnp.where(ok, volume, jnp.nan)


def _volumes(predictions, labels, *, num_classes, mode, from_logits, threshold,
             include_background, sampling, mask, ignore_index):
    masks = hard_masks(predictions, labels, num_classes=num_classes, mode=mode,
                       from_logits=from_logits, threshold=threshold, mask=mask,
                       ignore_index=ignore_index)
    _, pred_sum, true_sum = counts(keep_classes(masks.pred, include_background),
                                   keep_classes(masks.true, include_background))
    unit = voxel_volume(sampling, masks.pred.ndim - 2)
    return masks, pred_sum * unit, true_sum * unit


@boolean_options
def absolute_volume_difference(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    num_classes: int | None = None,
    mode: str = "multiclass",
    from_logits: bool = True,
    threshold: float = 0.5,
    include_background: bool = True,
    sampling: float | Sequence[float] | None = None,
    ignore_empty: bool = False,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Absolute volume difference per example and class, :math:`|V(P) - V(G)|`.

    :math:`V` is the voxel count times the voxel volume :math:`\prod_k s_k` of the spacing
    ``sampling`` (pixel areas in 2D), so the value is in physical units. Equals MONAI's
    ``compute_absolute_volume_difference`` (``AbsoluteVolumeDifferenceMetric``) times the voxel
    volume (MONAI counts voxels).

    An empty truth gives the predicted volume (0 for an empty prediction too); with
    ``ignore_empty=True`` it gives NaN instead (MONAI's ``ignore_empty=True``, its default), to be
    skipped by ``jnp.nanmean``.

    Args:
      predictions: logits or probabilities ``(B, *spatial, C)``, boolean masks or an integer
        class map ``(B, *spatial)`` (see :mod:`jaxseg_losses.metrics`).
      labels: integer class indices ``(B, *spatial)`` or dense ``(B, *spatial, C)`` targets.
      num_classes, mode, from_logits, threshold, include_background, mask, ignore_index: as
        :func:`~jaxseg_losses.metrics.dice_score` (excluded pixels count in neither volume; an
        ``ignore_index`` naming a class gives that class NaN).
      sampling: voxel spacing, one positive value per spatial axis or one for all. Default
        ``None`` (1: voxel counts).
      ignore_empty: NaN where the truth is empty. Default ``False``.

    Returns:
      float32 ``(B, C)`` volumes (``(B, C - 1)`` without background), >= 0.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import absolute_volume_difference
      >>> truth = jnp.array([[0, 1, 1, 0]])
      >>> absolute_volume_difference(jnp.array([[0, 1, 0, 0]]), truth, num_classes=2,
      ...                            sampling=0.5)
      Array([[0.5, 0.5]], dtype=float32)
    """
    masks, pred_volume, true_volume = _volumes(
        predictions, labels, num_classes=num_classes, mode=mode, from_logits=from_logits,
        threshold=threshold, include_background=include_background, sampling=sampling,
        mask=mask, ignore_index=ignore_index)
    value = jnp.abs(pred_volume - true_volume)
    if ignore_empty:
        value = jnp.where(true_volume > 0, value, jnp.nan)
    return nan_where(masks, value, include_background)


@boolean_options
def relative_volume_difference(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    num_classes: int | None = None,
    mode: str = "multiclass",
    from_logits: bool = True,
    threshold: float = 0.5,
    include_background: bool = True,
    ignore_empty: bool = False,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Relative volume difference per example and class, signed:
    :math:`(V(P) - V(G)) / V(G)`.

    Negative for an under-segmentation, positive for an over-segmentation (take ``jnp.abs`` for
    the absolute RVD); the voxel volume cancels, so there is no ``sampling``. Equals medpy's
    ``medpy.metric.binary.ravd(result, reference)`` per class.

    Empty truth (medpy raises): 0 for an empty prediction (nothing to find, nothing found) and
    ``+inf`` for a non-empty one (as the surface distances to a surface that does not exist);
    with ``ignore_empty=True`` NaN for both, to be skipped by ``jnp.nanmean``.

    Args:
      predictions: logits or probabilities ``(B, *spatial, C)``, boolean masks or an integer
        class map ``(B, *spatial)`` (see :mod:`jaxseg_losses.metrics`).
      labels: integer class indices ``(B, *spatial)`` or dense ``(B, *spatial, C)`` targets.
      num_classes, mode, from_logits, threshold, include_background, mask, ignore_index: as
        :func:`~jaxseg_losses.metrics.dice_score`.
      ignore_empty: NaN where the truth is empty. Default ``False``.

    Returns:
      float32 ``(B, C)`` values in :math:`[-1, \infty]` (``(B, C - 1)`` without background).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import relative_volume_difference
      >>> truth = jnp.array([[0, 1, 1, 0]])
      >>> relative_volume_difference(jnp.array([[0, 1, 0, 0]]), truth, num_classes=2)
      Array([[ 0.5, -0.5]], dtype=float32)
    """
    masks, pred_volume, true_volume = _volumes(
        predictions, labels, num_classes=num_classes, mode=mode, from_logits=from_logits,
        threshold=threshold, include_background=include_background, sampling=None,
        mask=mask, ignore_index=ignore_index)
    present = true_volume > 0
    ratio = (pred_volume - true_volume) / jnp.where(present, true_volume, 1.0)
    empty = jnp.nan if ignore_empty else jnp.where(pred_volume > 0, jnp.inf, 0.0)
    return nan_where(masks, jnp.where(present, ratio, empty), include_background)


__all__ = ["absolute_volume_difference", "relative_volume_difference"]
