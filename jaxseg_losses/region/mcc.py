r"""The Matthews correlation coefficient loss (Abhishek & Hamarneh, ISBI 2021): one minus the
MCC of the overlap statistics.

Conventions of the region family: :mod:`jaxseg_losses.region`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxseg_losses._activations import overlap_planes
from jaxseg_losses._inputs import Mode, boolean_options, prepare_region
from jaxseg_losses._numerics import safe_divide, safe_sqrt
from jaxseg_losses.region._engine import (
    OverlapStatistics,
    region_loss,
    smooth_pair,
)

__all__ = (
    "mcc_loss",
)


@boolean_options
def mcc_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    smooth: float | tuple[float, float] = (0.0, 1e-5),
    include_background: bool = True,
    class_weights: jax.typing.ArrayLike | None = None,
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
    reduction: str = "example",
) -> jax.Array:
    r"""Matthews correlation coefficient loss (Abhishek & Hamarneh, ISBI 2021), per class.

    .. math::
        L_c = 1 - \frac{TP\,TN - FP\,FN + s_{nr}}
                       {\sqrt{(TP+FP)(TP+FN)(TN+FP)(TN+FN) + s_{dr}}}

    with the soft counts of :func:`jaxseg_losses.overlap_statistics` and
    :math:`TN = \sum_x v\,(1-p)(1-y)`, one-vs-rest per class (softmax or sigmoid), averaged over
    the kept classes. Defaults follow MONAI's ``MCCLoss``: ``smooth=(0, 1e-5)``
    (:math:`s_{nr} = 0`, :math:`s_{dr} = 10^{-5}` inside the square root), and the loss is set to
    0 where :math:`FP = FN = 0` (a perfect prediction, whose MCC is otherwise 0/0). It equals
    MONAI ``MCCLoss(smooth_nr, smooth_dr, batch=not per_image, include_background,
    reduction="none")`` averaged over classes. ``per_image=False`` pools the counts over the batch
    (smp's ``MCCLoss`` always does). The loss lies in [0, 2]; 1 is chance level.

    Numerics: the counts are divided by the number of valid pixels :math:`N` before the
    products (:math:`s_{nr}/N^2`, :math:`s_{dr}/N^4` accordingly), which leaves the value
    unchanged and keeps the fourth-degree product in float32 range for any volume size.

    Empty masks: an empty prediction on an empty truth has :math:`FP = FN = 0`: loss 0. A class
    absent from the truth but predicted with any mass has :math:`TP = FN = 0`, so its MCC is
    :math:`s_{nr}/\sqrt{s_{dr}}` (0 by default): loss 1 with a zero gradient (MCC is undefined
    there; MONAI behaves the same). Softmax outputs never vanish exactly, so in multiclass mode
    every class absent from an image adds a constant 1 to its class average: consider
    ``per_image=False``. A fully masked example gives 0.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
      labels: ``(B, *spatial)`` integer class indices or ``(B, *spatial, C)`` one-hot/soft targets.
      mode: ``"multiclass"`` (default, softmax), ``"multilabel"`` or ``"binary"`` (sigmoid).
      from_logits: whether ``predictions`` are logits. Default ``True``.
      smooth: ``(smooth_nr, smooth_dr)``, or one number for both. Default ``(0, 1e-5)``.
      include_background: ``False`` drops class 0 from the class average. Default ``True``.
      class_weights: optional ``(C,)`` weights of the class average. Default ``None``.
      per_image: ``True`` (default) per example; ``False``: counts pooled over the batch (and
        ``psum``-ed over ``axis_name``).
      axis_name: ``shard_map`` axis for ``per_image=False``. Default ``None``.
      mask: optional ``(B, *spatial)`` pixel weights. Default ``None``.
      ignore_index: integer label excluded from value and gradient. Default ``None``.
      reduction: ``"example"`` (default) -> ``(B,)``; ``"class"`` -> ``(B, C_kept)``.

    Returns:
      ``(B,)`` float32 losses in [0, 2] (or ``(B, C_kept)``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.region import mcc_loss
      >>> labels = jnp.array([[[1, 0], [1, 0]]])
      >>> mcc_loss(labels[..., None] * 1.0, labels, mode="binary", from_logits=False)  # perfect
      Array([0.], dtype=float32)
      >>> mcc_loss(1.0 - labels[..., None], labels, mode="binary", from_logits=False)  # inverted
      Array([2.], dtype=float32)
    """
    nr, dr = smooth_pair(smooth)
    prep, weights = prepare_region(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index, class_weights=class_weights, reduction=reduction,
    )
    planes = overlap_planes(prep)
    return region_loss(
        planes, functools.partial(_mcc_loss, nr=nr, dr=dr), class_weights=weights,
        include_background=include_background, per_image=per_image, axis_name=axis_name,
        reduction=reduction,
    )


def _mcc_loss(s: OverlapStatistics, n: jax.Array, *, nr, dr) -> jax.Array:
    """``1 - MCC`` per (example, class) from the counts and the pixel total ``n`` (0 where
    ``FP = FN = 0``)."""
    tn = n - s.tp - s.fp - s.fn
    tp, fp, fn, tn_n = (safe_divide(a, n) for a in (s.tp, s.fp, s.fn, tn))
    n2 = n * n
    numerator = tp * tn_n - fp * fn + safe_divide(jnp.asarray(nr, jnp.float32), n2)
    product = (tp + fp) * (tp + fn) * (tn_n + fp) * (tn_n + fn)
    denominator = safe_sqrt(product + safe_divide(jnp.asarray(dr, jnp.float32), n2 * n2))
    mcc = safe_divide(numerator, denominator)
    perfect = (s.fp == 0) & (s.fn == 0)
    return jnp.where(perfect, 0.0, 1.0 - mcc)
