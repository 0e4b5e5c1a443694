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

from jaxseg_losses import (
    adjacency,
    blob,
    boundary,
    centerline,
    combine,
    components,
    contour,
    distance,
    lovasz,
    metrics,
    multiscale,
    pixelwise,
    recipes,
    region,
    region_wise,
    skeleton,
    topology,
)
from jaxseg_losses._namespace import export_all

__version__ = "0.1.0"

# The public namespace (flat, like optax): every name of these modules' (and family packages')
# __all__, in the order of the API reference. A loss is registered once, in its module's
# __all__; a new module is added here.
MODULES = (
    pixelwise,
    region,
    lovasz,
    distance,
    components,
    skeleton,
    boundary,
    region_wise,
    contour,
    topology,
    centerline,
    adjacency,
    blob,
    combine,
    multiscale,
    recipes,
    metrics,
)

__all__ = export_all(globals(), MODULES)
