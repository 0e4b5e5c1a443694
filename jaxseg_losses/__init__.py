"""jaxseg_losses: semantic-segmentation losses for JAX and Flax.

Every loss is a pure function ``loss(predictions, labels, *, ...) -> (B,)`` that jit-compiles,
vmaps and differentiates. Conventions shared by every loss:

* ``predictions``: ``(B, *spatial, C)``, channels last, 1 to 3 spatial axes, logits by default
  (``from_logits=False`` for probabilities); any float dtype, computed in float32.
* ``labels``: integer class indices ``(B, *spatial)`` or dense one-hot/soft targets
  ``(B, *spatial, C)`` in [0, 1].
* ``mode``: ``"multiclass"`` (softmax), ``"multilabel"`` (sigmoid per channel), ``"binary"``
  (sigmoid, ``C == 1``).
* ``mask`` ``(B, *spatial)`` and ``ignore_index`` exclude pixels from value and gradient.
* Output: one value per example, shape ``(B,)``; take ``.mean()`` in the train step.
* Value errors (labels out of range, probabilities outside [0, 1], NaN) raise ``ValueError`` on
  eager calls; under ``jit`` wrap the loss with
  ``jax.experimental.checkify.checkify(loss, errors=checkify.user_checks)`` to get them.
"""

from jaxseg_losses.boundary import (
    active_contour_loss,
    boundary_loss,
    boundary_weight_map,
    distance_penalized_cross_entropy,
    hausdorff_dt_loss,
    log_hausdorff_dt_loss,
)
from jaxseg_losses.distance import distance_field, distance_transform_edt, signed_distance_map
from jaxseg_losses.metrics import (
    average_surface_distance,
    dice_score,
    hausdorff_distance,
    iou_score,
    surface_mask,
)
from jaxseg_losses.pixelwise import (
    binary_cross_entropy,
    conservative_loss,
    cross_entropy,
    focal_loss,
    weighted_cross_entropy,
)

__version__ = "0.1.0"

__all__ = (
    "active_contour_loss",
    "average_surface_distance",
    "boundary_loss",
    "boundary_weight_map",
    "dice_score",
    "distance_field",
    "distance_penalized_cross_entropy",
    "distance_transform_edt",
    "hausdorff_distance",
    "hausdorff_dt_loss",
    "iou_score",
    "log_hausdorff_dt_loss",
    "signed_distance_map",
    "surface_mask",
    "binary_cross_entropy",
    "conservative_loss",
    "cross_entropy",
    "focal_loss",
    "weighted_cross_entropy",
)
