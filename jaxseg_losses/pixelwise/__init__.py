r"""Pixel-wise losses: a mean over valid pixels of a per-pixel loss.

One module per family: :mod:`~jaxseg_losses.pixelwise.cross_entropies` (cross-entropy, binary
and weighted CE, top-k, Poly-1, conservative loss), :mod:`~jaxseg_losses.pixelwise.focal`
(focal loss), :mod:`~jaxseg_losses.pixelwise.unified_focal` (the asymmetric focal loss and the
unified focal loss of Yeung et al. 2022; its region term is
:func:`jaxseg_losses.region.asymmetric_focal_tversky_loss`) and
:mod:`~jaxseg_losses.pixelwise.calibration` (the neighbour-aware calibration loss, NACL,
Murugesan et al. 2023) and :mod:`~jaxseg_losses.pixelwise.noisy_labels` (losses robust to
label noise: the bi-tempered logistic loss, Amid et al. 2019, and the t-loss, Gonzalez-Jimenez
et al. 2023).

Every loss here is a mean over valid pixels of a per-pixel loss :math:`\ell(x)`:

.. math::
    L_b = \frac{\sum_x v_b(x)\, \ell_b(x)}{\sum_x v_b(x)}

with :math:`v` the pixel weights (``mask`` times "not ``ignore_index``"). An example whose
pixels are all excluded gives 0 with a zero gradient. ``reduction="example"`` (default) returns
these ``(B,)`` values; ``reduction="pixel"`` returns the per-pixel map :math:`v\,\ell` of shape
``(B, *spatial)`` (sigmoid losses average their channels per pixel).

Choices where the peers differ (following optax, then MONAI): inputs are logits by default;
log-probabilities come from ``log_softmax`` / ``log_sigmoid`` (never ``log(softmax)``);
probabilities given with ``from_logits=False`` are clipped to ``[1e-7, 1 - 1e-7]`` before the log.
"""

import inspect

from jaxseg_losses._namespace import export_all
from jaxseg_losses._numerics import PIXEL_REDUCTIONS
from jaxseg_losses.pixelwise import calibration, cross_entropies, focal, noisy_labels, unified_focal

# The families of this package, in the order of the documentation; a loss is registered by its
# module's __all__.
FAMILIES = (cross_entropies, focal, unified_focal, calibration, noisy_labels)

__all__ = export_all(globals(), FAMILIES)

# The reductions these losses offer, read by combine.on_classes (which refuses a pixel-wise
# loss when built: it has no per-class values): every one with a reduction= option.
for _name in __all__:
    if "reduction" in inspect.signature(globals()[_name]).parameters:
        globals()[_name].reductions = PIXEL_REDUCTIONS
del _name
