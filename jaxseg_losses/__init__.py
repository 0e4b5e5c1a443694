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
* Value errors (labels out of range, probabilities outside [0, 1] or, multiclass, not summing to
  1 over the classes within 2**-6, NaN or infinite logits, bad option values) raise
  ``ValueError`` on eager calls; under ``jit`` wrap the loss with
  ``jax.experimental.checkify.checkify(loss, errors=checkify.user_checks)`` to get them. Without
  checkify, bad values give NaN, and a NaN gradient at the bad entry (out-of-range labels: the
  pixel is excluded), never a plausible number; see the conventions page.
"""

from jaxseg_losses.adjacency import (
    AdjacencyPrior,
    AdjacencyPriorState,
    adjacency_matrix,
    adjacency_prior,
    allowed_pairs,
    forbidden_pairs,
    nonadjacency_loss,
    nonadjacency_term,
    soft_adjacency,
)
from jaxseg_losses.boundary import (
    active_contour_loss,
    boundary_loss,
    boundary_weight_map,
    distance_penalized_cross_entropy,
    distance_penalized_dice_loss,
    hausdorff_dt_loss,
    hausdorff_erosion_loss,
    log_hausdorff_dt_loss,
)
from jaxseg_losses.combine import (
    Accepts,
    CombinedLoss,
    Term,
    masked,
    named_sum,
    on_classes,
    scheduled,
    weight_value,
    weighted,
)
from jaxseg_losses.distance import (
    distance_field,
    distance_transform_cdt,
    distance_transform_edt,
    signed_distance_map,
)
from jaxseg_losses.lovasz import (
    lovasz_hinge_loss,
    lovasz_softmax_loss,
)
from jaxseg_losses.metrics import (
    ConfusionCounts,
    GlobalDice,
    GlobalIoU,
    MeanOf,
    PerExampleMean,
    PerImageDice,
    PerImageIoU,
    absolute_volume_difference,
    average_surface_distance,
    calibration_error,
    confusion_from_counts,
    confusion_metric,
    dice_score,
    fbeta_score,
    generalized_dice_score,
    hausdorff_distance,
    iou_score,
    relative_volume_difference,
    surface_dice,
    surface_mask,
)
from jaxseg_losses.multiscale import (
    deep_supervision,
    deep_supervision_weights,
    multi_scale,
    resize_nearest,
)
from jaxseg_losses.pixelwise import (
    asymmetric_focal_loss,
    asymmetric_focal_tversky_loss,
    asymmetric_unified_focal_loss,
    binary_cross_entropy,
    conservative_loss,
    cross_entropy,
    focal_loss,
    nacl_loss,
    poly_cross_entropy,
    topk_cross_entropy,
    weighted_cross_entropy,
)
from jaxseg_losses.recipes import (
    bce_dice_loss,
    boundary_recipe,
    boundary_weight_schedules,
    combo_loss,
    dice_ce_loss,
    dice_focal_loss,
)
from jaxseg_losses.region import (
    OverlapStatistics,
    asymmetric_similarity_loss,
    dice_loss,
    exp_log_loss,
    focal_tversky_loss,
    generalized_dice_loss,
    generalized_wasserstein_dice_loss,
    jaccard_loss,
    mcc_loss,
    overlap_statistics,
    penalty_generalized_dice_loss,
    sensitivity_specificity_loss,
    tversky_loss,
)
from jaxseg_losses.topology import (
    cldice_loss,
    dice_cldice_loss,
    soft_dilate,
    soft_erode,
    soft_skeleton,
)

__version__ = "0.1.0"

__all__ = (
    "Accepts",
    "absolute_volume_difference",
    "active_contour_loss",
    "adjacency_matrix",
    "adjacency_prior",
    "AdjacencyPrior",
    "AdjacencyPriorState",
    "allowed_pairs",
    "asymmetric_focal_loss",
    "asymmetric_focal_tversky_loss",
    "asymmetric_similarity_loss",
    "asymmetric_unified_focal_loss",
    "average_surface_distance",
    "bce_dice_loss",
    "binary_cross_entropy",
    "boundary_loss",
    "boundary_recipe",
    "boundary_weight_map",
    "boundary_weight_schedules",
    "calibration_error",
    "cldice_loss",
    "CombinedLoss",
    "combo_loss",
    "ConfusionCounts",
    "confusion_from_counts",
    "confusion_metric",
    "conservative_loss",
    "cross_entropy",
    "deep_supervision",
    "deep_supervision_weights",
    "dice_ce_loss",
    "dice_cldice_loss",
    "dice_focal_loss",
    "dice_loss",
    "dice_score",
    "distance_field",
    "distance_penalized_cross_entropy",
    "distance_penalized_dice_loss",
    "distance_transform_cdt",
    "distance_transform_edt",
    "exp_log_loss",
    "fbeta_score",
    "focal_loss",
    "focal_tversky_loss",
    "forbidden_pairs",
    "generalized_dice_loss",
    "generalized_dice_score",
    "generalized_wasserstein_dice_loss",
    "GlobalDice",
    "GlobalIoU",
    "hausdorff_distance",
    "hausdorff_dt_loss",
    "hausdorff_erosion_loss",
    "iou_score",
    "jaccard_loss",
    "log_hausdorff_dt_loss",
    "lovasz_hinge_loss",
    "lovasz_softmax_loss",
    "masked",
    "mcc_loss",
    "MeanOf",
    "multi_scale",
    "nacl_loss",
    "named_sum",
    "nonadjacency_loss",
    "nonadjacency_term",
    "on_classes",
    "overlap_statistics",
    "OverlapStatistics",
    "penalty_generalized_dice_loss",
    "PerExampleMean",
    "PerImageDice",
    "PerImageIoU",
    "poly_cross_entropy",
    "relative_volume_difference",
    "resize_nearest",
    "scheduled",
    "sensitivity_specificity_loss",
    "signed_distance_map",
    "soft_adjacency",
    "soft_dilate",
    "soft_erode",
    "soft_skeleton",
    "surface_dice",
    "surface_mask",
    "Term",
    "topk_cross_entropy",
    "tversky_loss",
    "weight_value",
    "weighted",
    "weighted_cross_entropy",
)
