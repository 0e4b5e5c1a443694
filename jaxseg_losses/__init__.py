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

from jaxseg_losses.pixelwise import (
    binary_cross_entropy,
    conservative_loss,
    cross_entropy,
    focal_loss,
    weighted_cross_entropy,
)

__version__ = "0.1.0"

__all__ = (
    "binary_cross_entropy",
    "conservative_loss",
    "cross_entropy",
    "focal_loss",
    "weighted_cross_entropy",
)
