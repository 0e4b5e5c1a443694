r"""The sensitivity-specificity loss (Brosch et al., MICCAI 2015): mean squared errors on the
truth and on its complement, per class.

Conventions of the region family: :mod:`jaxseg_losses.region`.
"""

from __future__ import annotations

import jax

from jaxseg_losses._activations import overlap_planes
from jaxseg_losses._inputs import Mode, boolean_options, check_number, prepare_region
from jaxseg_losses._numerics import safe_divide
from jaxseg_losses.region._engine import ErrorStatistics, error_statistics, region_loss

__all__ = (
    "sensitivity_specificity_loss",
)


@boolean_options
def sensitivity_specificity_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    r: float = 0.05,
    include_background: bool = True,
    class_weights: jax.typing.ArrayLike | None = None,
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
    reduction: str = "example",
) -> jax.Array:
    r"""Sensitivity-specificity loss (Brosch et al., MICCAI 2015), per class.

    .. math::
        L_c = r\,\frac{\sum_x v\,(y_c - p_c)^2\,y_c}{\sum_x v\,y_c}
            + (1 - r)\,\frac{\sum_x v\,(y_c - p_c)^2\,(1 - y_c)}{\sum_x v\,(1 - y_c)}

    averaged over the kept classes: the first term is the mean squared error on the ground-truth
    foreground (sensitivity), the second on the background (specificity). The "sensitivity
    ratio" :math:`r` weighs the foreground term; default ``r=0.05``, NiftyNet's default and the
    value of Sudre et al. (2017), with the authors' remark that 0.01-0.10 behave alike (SegLoss
    hard-codes 0.1). NiftyNet sums the classes; this mean keeps the loss in [0, 1].

    No smoothing: a term whose normaliser is 0 (no foreground, or no background pixel) has a
    zero numerator and counts 0. So an empty prediction on an empty truth gives 0, and a class
    absent from the truth is penalised only through its specificity term.

    Args:
      predictions, labels, mode, from_logits: as in :func:`dice_loss`.
      r: foreground weight in [0, 1]. Default 0.05.
      include_background, class_weights, per_image, axis_name, mask, ignore_index, reduction:
        as in :func:`dice_loss`.

    Returns:
      ``(B,)`` float32 losses in [0, 1] (or ``(B, C_kept)``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.region import sensitivity_specificity_loss
      >>> labels = jnp.array([[[1, 0], [1, 0]]])
      >>> probs = jnp.zeros((1, 2, 2, 1))  # predicts nothing: the foreground term is 1
      >>> sensitivity_specificity_loss(probs, labels, mode="binary", from_logits=False)
      Array([0.05], dtype=float32)
    """
    check_number("r", r, high=1.0)
    prep, weights = prepare_region(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index, class_weights=class_weights, reduction=reduction,
    )
    planes = overlap_planes(prep)

    def formula(e: ErrorStatistics, n: jax.Array) -> jax.Array:
        sensitivity = safe_divide(e.positive_error, e.sum_y)
        specificity = safe_divide(e.negative_error, e.sum_not_y)
        return r * sensitivity + (1.0 - r) * specificity

    return region_loss(
        planes, formula, class_weights=weights, include_background=include_background,
        per_image=per_image, axis_name=axis_name, reduction=reduction, sums=error_statistics,
    )
