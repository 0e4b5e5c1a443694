"""Region (overlap) losses: statistics -> formula -> class reduction.

* :mod:`~jaxseg_losses.region.standard`: Dice, Jaccard/IoU, Tversky, focal Tversky,
  sensitivity-specificity, generalized Dice, exponential logarithmic loss and the overlap
  statistics themselves (the conventions of the family are in its docstring);
* :mod:`~jaxseg_losses.region.variants`: Matthews correlation, generalized Wasserstein Dice,
  asymmetric similarity (F-beta) and penalty generalized Dice.

The shared engine (statistics, batch pooling over ``axis_name``, class reduction) is the private
``jaxseg_losses._region``; the distance-penalised Dice is with the distance-based losses in
:mod:`jaxseg_losses.boundary`, clDice in :mod:`jaxseg_losses.topology`.
"""

from jaxseg_losses.region.standard import (
    OverlapStatistics,
    dice_loss,
    exp_log_loss,
    focal_tversky_loss,
    generalized_dice_loss,
    jaccard_loss,
    overlap_statistics,
    sensitivity_specificity_loss,
    tversky_loss,
)
from jaxseg_losses.region.variants import (
    asymmetric_similarity_loss,
    generalized_wasserstein_dice_loss,
    mcc_loss,
    penalty_generalized_dice_loss,
)

__all__ = (
    "OverlapStatistics",
    "asymmetric_similarity_loss",
    "dice_loss",
    "exp_log_loss",
    "focal_tversky_loss",
    "generalized_dice_loss",
    "generalized_wasserstein_dice_loss",
    "jaccard_loss",
    "mcc_loss",
    "overlap_statistics",
    "penalty_generalized_dice_loss",
    "sensitivity_specificity_loss",
    "tversky_loss",
)
