"""Pixel-wise losses: a mean over valid pixels of a per-pixel loss.

* :mod:`~jaxseg_losses.pixelwise.standard`: cross-entropy, binary and weighted CE, focal loss,
  conservative loss (the conventions of the family are in its docstring);
* :mod:`~jaxseg_losses.pixelwise.variants`: top-k (hard-pixel) and Poly-1 cross-entropy;
* :mod:`~jaxseg_losses.pixelwise.unified_focal`: the asymmetric focal family of the Unified
  Focal loss (Yeung et al. 2022), with its region term and the unified sum;
* :mod:`~jaxseg_losses.pixelwise.calibration`: the neighbour-aware calibration loss (NACL,
  Murugesan et al. 2023), cross-entropy plus a penalty towards the neighbours' class proportions.
"""

from jaxseg_losses._numerics import PIXEL_REDUCTIONS
from jaxseg_losses.pixelwise.calibration import nacl_loss
from jaxseg_losses.pixelwise.standard import (
    binary_cross_entropy,
    conservative_loss,
    cross_entropy,
    focal_loss,
    weighted_cross_entropy,
)
from jaxseg_losses.pixelwise.unified_focal import (
    asymmetric_focal_loss,
    asymmetric_focal_tversky_loss,
    asymmetric_unified_focal_loss,
)
from jaxseg_losses.pixelwise.variants import poly_cross_entropy, topk_cross_entropy

__all__ = (
    "asymmetric_focal_loss",
    "asymmetric_focal_tversky_loss",
    "asymmetric_unified_focal_loss",
    "binary_cross_entropy",
    "conservative_loss",
    "cross_entropy",
    "focal_loss",
    "nacl_loss",
    "poly_cross_entropy",
    "topk_cross_entropy",
    "weighted_cross_entropy",
)

# The reductions these losses offer, read by combine.on_classes (which refuses a pixel-wise
# loss when built: it has no per-class values). Every one with a reduction= option.
for _loss in (binary_cross_entropy, conservative_loss, cross_entropy, focal_loss, nacl_loss,
              poly_cross_entropy, weighted_cross_entropy):
    _loss.reductions = PIXEL_REDUCTIONS
del _loss
