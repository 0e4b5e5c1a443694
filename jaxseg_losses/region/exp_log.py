r"""The exponential logarithmic loss (Wong et al., MICCAI 2018): an exponentiated log-Dice term
plus an exponentiated log cross-entropy term.

Conventions of the region family: :mod:`jaxseg_losses.region`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxseg_losses._activations import (
    PROB_EPS,
    label_log_p,
    log_not_p,
    log_p,
    overlap_planes,
    target_weight,
)
from jaxseg_losses._inputs import (
    Mode,
    boolean_options,
    check_class_vector,
    check_number,
    prepare,
)
from jaxseg_losses._numerics import (
    keep_classes,
    safe_divide,
    safe_power,
)
from jaxseg_losses.region._engine import (
    aggregate,
    dice_index,
    over_batch,
    smooth_pair,
    statistics,
)

__all__ = (
    "exp_log_loss",
)



@boolean_options
def exp_log_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    w_dice: float = 0.8,
    w_cross: float = 0.2,
    gamma_dice: float = 0.3,
    gamma_cross: float = 0.3,
    smooth: float | tuple[float, float] = 1.0,
    label_weights: jax.typing.ArrayLike | None = None,
    soft_label: bool = False,
    include_background: bool = True,
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Exponential logarithmic loss (Wong et al., MICCAI 2018, arXiv 1809.00076).

    .. math::
        L = w_{dice}\,\frac{1}{|K|}\sum_{c\in K} \left(-\ln D_c\right)^{\gamma_{dice}}
          + w_{cross}\,\frac{\sum_x v \sum_{c\in K} w_c\,y_c\,(-\ln p_c)^{\gamma_{cross}}}
                            {\sum_x v}

    with :math:`D_c = (2TP_c + s)/(\Sigma p_c + \Sigma y_c + s)` the smoothed Dice of class
    :math:`c` (power per class, then mean: the paper's form, not the power of the mean Dice) and
    :math:`K` the kept classes. Defaults are the paper's: :math:`w_{dice}=0.8`,
    :math:`w_{cross}=0.2`, :math:`\gamma_{dice}=\gamma_{cross}=0.3`, and ``smooth=1`` (the
    paper's :math:`\epsilon = 1`, meant for labels missing from a sample; the rest of the family
    defaults to ``1e-5``). In sigmoid modes the cross term of a channel is
    :math:`y(-\ln p)^\gamma + (1-y)(-\ln(1-p))^\gamma`, averaged over channels.

    Label weights :math:`w_c` (``label_weights``): the paper uses
    :math:`w_c = (\sum_j f_j / f_c)^{1/2}` with :math:`f_c` the label frequencies *of the
    training set*; pass them precomputed, e.g. ``jnp.sqrt(counts.sum() / counts)``. With
    ``label_weights=None`` (default) they are computed the same way from the valid label
    volumes of the current example (of the batch when ``per_image=False``), as PyMIC does per
    batch; classes absent there have no pixel and get weight 0.

    Numerics: :math:`x^{0.3}` has an infinite slope at 0, i.e. at a perfect class Dice or at
    :math:`p = 1`; both powers use a form with a finite (zero) gradient there, so a perfect
    prediction gives loss 0 and a finite gradient. :math:`-\ln p` comes from ``log_softmax`` /
    ``log_sigmoid``; :math:`D_c` is clamped below at ``1e-7`` (only reachable with
    ``smooth=0``). An empty prediction on an empty truth gives a zero Dice term.

    Args:
      predictions, labels, mode, from_logits: as in :func:`dice_loss`.
      w_dice: weight of the Dice term. Default 0.8.
      w_cross: weight of the cross-entropy term. Default 0.2.
      gamma_dice: exponent of the Dice term, ``> 0``. Default 0.3.
      gamma_cross: exponent of the cross term, ``> 0``. Default 0.3.
      smooth: :math:`s` in :math:`D_c` (or ``(smooth_nr, smooth_dr)``). Default 1.
      label_weights: optional ``(C,)`` :math:`w_c` of the cross term. Default ``None`` (from the
        current labels, see above).
      soft_label: L1 intersection for soft targets in :math:`D_c`. Default ``False``.
      include_background: ``False`` drops class 0 from the Dice mean and from the cross term
        (its pixels still count in the denominator). Default ``True``.
      per_image, axis_name, mask, ignore_index: as in :func:`dice_loss`.

    Returns:
      ``(B,)`` float32 losses (non-negative; not bounded by 1).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.region import exp_log_loss
      >>> labels = jnp.array([[[0, 1], [1, 0]]])
      >>> probs = jnp.eye(2)[labels]  # perfect prediction
      >>> exp_log_loss(probs, labels, from_logits=False)
      Array([0.], dtype=float32)
    """
    for name, value in (("w_dice", w_dice), ("w_cross", w_cross)):
        check_number(name, value)
    for name, value in (("gamma_dice", gamma_dice), ("gamma_cross", gamma_cross)):
        check_number(name, value, strict=True)
    nr, dr = smooth_pair(smooth)
    prep = prepare(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index,
    )
    num_classes = prep.num_classes
    label_weights = check_class_vector(label_weights, num_classes, name="label_weights")
    # The activations of both terms, then the sums.
    planes = overlap_planes(prep)
    log_pt = label_log_p(prep)  # integer labels: only the labelled class has a cross term
    if log_pt is None:
        log_q = log_p(prep)
        log_not_q = None if mode == "multiclass" else log_not_p(prep)
    stats = statistics(planes, per_image=per_image, axis_name=axis_name, soft_label=soft_label)
    agg = functools.partial(aggregate, per_image=per_image, axis_name=axis_name)

    dice = jnp.maximum(dice_index(stats, nr, dr), PROB_EPS)
    dice_term = jnp.mean(
        safe_power(-jnp.log(keep_classes(dice, include_background)), gamma_dice), axis=-1
    )

    y, v = prep.targets, prep.valid[..., None]
    if label_weights is None:
        volume = stats.sum_y  # (B or 1, C)
        total = jnp.sum(volume, axis=-1, keepdims=True)
        weights = jax.lax.stop_gradient(jnp.sqrt(safe_divide(total, volume)))
        weights = weights.reshape(weights.shape[:1] + (1,) * (y.ndim - 2) + weights.shape[1:])
    else:
        weights = label_weights
    if not include_background and num_classes > 1:
        weights = weights * (jnp.arange(num_classes) > 0)
    if log_pt is not None:
        pixel = target_weight(prep, weights) * safe_power(-log_pt, gamma_cross)
        cross_total = over_batch(
            jnp.sum(prep.valid * pixel, axis=tuple(range(1, pixel.ndim))), per_image, axis_name
        )
    else:
        pixel = y * safe_power(-log_q, gamma_cross)
        if log_not_q is not None:
            pixel = (pixel + (1.0 - y) * safe_power(-log_not_q, gamma_cross)) / num_classes
        cross_total = jnp.sum(agg(v * weights * pixel), axis=-1)  # (B or 1,)
    pixels = agg(prep.valid[..., None])[..., 0]  # (B or 1,)
    cross_term = safe_divide(cross_total, pixels)
    loss = w_dice * dice_term + w_cross * cross_term
    return jnp.broadcast_to(loss, (prep.predictions.shape[0],))
