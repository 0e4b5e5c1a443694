r"""Segmentation metrics on device: overlap (Dice, IoU, generalized Dice), surface
(Hausdorff distance, max and percentile; average surface distance; surface Dice),
confusion-matrix (sensitivity ... MCC, F-beta; :mod:`~jaxseg_losses.metrics.confusion`), volume
(absolute and relative volume difference) and calibration (expected / average / maximum
calibration error, :mod:`~jaxseg_losses.metrics.calibration`) metrics, and object-level
metrics (lesion detection, panoptic quality; :mod:`~jaxseg_losses.metrics.objects`).

**Inputs: what the losses take.** ``predictions`` are logits or probabilities
``(B, *spatial, C)``, boolean masks ``(B, *spatial, C)`` or an integer class map
``(B, *spatial)``; ``labels`` are integer class indices ``(B, *spatial)`` or dense one-hot /
boolean targets ``(B, *spatial, C)``. How a prediction becomes a hard mask is decided by its
dtype and the named options, never by its values:

* integer predictions are class maps; the class count ``C`` is read from dense labels'
  class axis, else from ``num_classes`` (required when both inputs are integer maps: an error
  names it, and a spatial axis is never read as classes); in ``mode="binary"`` the map holds
  0 / 1 and ``C = 1``;
* boolean predictions are the masks themselves, channel by channel;
* floating predictions are scores: ``mode="multiclass"`` (default) takes the argmax over the
  class axis, which is the same class for logits, probabilities and one-hot masks;
  ``mode="binary"`` (``C == 1``) and ``"multilabel"`` keep each channel whose probability
  exceeds ``threshold`` (default 0.5): the ``sigmoid`` of logits (``from_logits=True``, the
  default, as in the losses) or the values themselves (``from_logits=False``);
* dense labels count where they are ``True`` or above 0.5.

So ``dice_score(logits, labels)`` scores the model's argmax prediction, with integer or one-hot
labels alike.

Every metric returns ``(B, C)`` values (``(B, C - 1)`` without background; generalized Dice, a
class ``average`` of the confusion metrics and the top-label calibration one value per
example), jit-compiles, vmaps and runs on CPU, GPU and TPU; the surface metrics use
the exact EDT of :mod:`jaxseg_losses.distance`.

``calibration_error`` reads probabilities instead of hard masks: logits or probabilities only,
with the losses' checks.

Empty masks (documented; NaN only where ``ignore_empty=True``, ``zero_division=nan`` (the
confusion metrics' default, MONAI's value) or no scored pixel asks for it):

* Dice / IoU: empty prediction and empty truth score ``empty_score`` (default 1: nothing to
  find, nothing found); with ``ignore_empty=True`` every empty truth gives NaN instead (MONAI's
  ``ignore_empty=True``, its default), to be skipped by ``jnp.nanmean``.
* Hausdorff / surface distances: both empty -> 0; exactly one empty -> ``empty_distance``
  (default ``+inf``, the distance to a surface that does not exist; or ``"nan"``,
  ``"diagonal"``, a number). MONAI gives NaN for the first case and inf for the second;
  filter with ``jnp.isfinite`` before averaging over a data set.
* Confusion metrics: a ratio with a zero denominator (sensitivity of an empty truth, precision of
  an empty prediction, ...) is ``zero_division`` (NaN by default; those entries leave the class
  averages).
* Relative volume difference: empty truth -> 0 for an empty prediction, ``+inf``
  otherwise (medpy's ``ravd`` raises).

Bad values use the losses' checks: class indices outside ``[0, C - 1]`` (other than a truth
``ignore_index``), NaN or infinite logits, probabilities outside [0, 1] with
``from_logits=False`` (multiclass: or not summing to 1 over the classes, within 2**-6), dense
labels outside [0, 1] and NaN, infinite or negative ``mask``
values raise ``ValueError`` eagerly and are checkify checks under ``jit``; unchecked, the
example's metrics are NaN (never a plausible number).

Excluded pixels (``mask`` zeros, truth pixels equal to ``ignore_index``) are removed from both
masks before anything is counted, as MONAI multiplies both by its ignore mask (for the surface
metrics see :mod:`jaxseg_losses.metrics.surface`).
"""

from jaxseg_losses.metrics.accumulate import (
    ConfusionCounts,
    GlobalDice,
    GlobalIoU,
    MeanOf,
    PerExampleMean,
    PerImageDice,
    PerImageIoU,
)
from jaxseg_losses.metrics.calibration import calibration_error
from jaxseg_losses.metrics.confusion import confusion_from_counts, confusion_metric, fbeta_score
from jaxseg_losses.metrics.objects import (
    LesionDetection,
    PanopticQuality,
    instance_panoptic_quality,
    lesion_detection,
    panoptic_quality,
)
from jaxseg_losses.metrics.overlap import dice_score, generalized_dice_score, iou_score
from jaxseg_losses.metrics.surface import (
    average_surface_distance,
    hausdorff_distance,
    surface_dice,
    surface_mask,
)
from jaxseg_losses.metrics.volume import absolute_volume_difference, relative_volume_difference

__all__ = [
    "ConfusionCounts",
    "GlobalDice",
    "GlobalIoU",
    "LesionDetection",
    "MeanOf",
    "PanopticQuality",
    "PerExampleMean",
    "PerImageDice",
    "PerImageIoU",
    "absolute_volume_difference",
    "average_surface_distance",
    "calibration_error",
    "confusion_from_counts",
    "confusion_metric",
    "dice_score",
    "fbeta_score",
    "generalized_dice_score",
    "hausdorff_distance",
    "instance_panoptic_quality",
    "iou_score",
    "lesion_detection",
    "panoptic_quality",
    "relative_volume_difference",
    "surface_dice",
    "surface_mask",
]
