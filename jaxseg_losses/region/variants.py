r"""More region losses on the shared overlap statistics: MCC, generalized Wasserstein Dice,
asymmetric similarity (F-beta) and penalty generalized Dice (the distance-penalised Dice is in
:mod:`jaxseg_losses.boundary`, with the other distance-based losses).

They follow :mod:`jaxseg_losses.region.standard` (statistics per example and class from
:func:`~jaxseg_losses.overlap_statistics`' internals, the batch-global form with
``per_image=False``/``axis_name``, the shared class reduction, ``smooth`` in numerator and
denominator, and "an empty prediction on an empty truth is a perfect score"), and reuse its
helpers instead of re-deriving them.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxseg_losses._inputs import (
    Mode,
    boolean_options,
    check_choice,
    check_number,
    prepare,
    renamed_options,
    shape_str,
    value_check,
)
from jaxseg_losses._numerics import safe_divide, safe_sqrt
from jaxseg_losses._region import (
    DEFAULT_SMOOTH,
    aggregate,
    ratio,
    reduce_classes,
    region_loss,
    region_setup,
    smooth_pair,
    statistics,
    tversky_index,
)
from jaxseg_losses.region.standard import generalized_dice_loss

__all__ = (
    "asymmetric_similarity_loss",
    "generalized_wasserstein_dice_loss",
    "mcc_loss",
    "penalty_generalized_dice_loss",
)

WASSERSTEIN_WEIGHTINGS = ("default", "GDL")


# --------------------------------------------------------------------------- MCC


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
    prep, weights = region_setup(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index, class_weights=class_weights, reduction=reduction,
    )
    s = statistics(prep, per_image=per_image, axis_name=axis_name, squared=False,
                    soft_label=False)
    n = aggregate(prep.valid[..., None], per_image, axis_name)  # (B or 1, 1)
    tn = n - s.tp - s.fp - s.fn
    tp, fp, fn, tn_n = (safe_divide(a, n) for a in (s.tp, s.fp, s.fn, tn))
    n2 = n * n
    numerator = tp * tn_n - fp * fn + safe_divide(jnp.asarray(nr, jnp.float32), n2)
    product = (tp + fp) * (tp + fn) * (tn_n + fp) * (tn_n + fn)
    denominator = safe_sqrt(product + safe_divide(jnp.asarray(dr, jnp.float32), n2 * n2))
    mcc = safe_divide(numerator, denominator)
    perfect = (s.fp == 0) & (s.fn == 0)
    per_class = jnp.where(perfect, 0.0, 1.0 - mcc)
    return reduce_classes(
        per_class, batch_size=prep.predictions.shape[0], include_background=include_background,
        class_weights=weights, reduction=reduction,
    )


# --------------------------------------------------------------------------- Wasserstein Dice


def _check_distance_matrix(matrix, num_classes: int) -> jax.Array:
    m = jnp.asarray(matrix, jnp.float32)
    if m.shape != (num_classes, num_classes):
        raise ValueError(
            f"distance_matrix: expected shape (C, C) = ({num_classes}, {num_classes}) (one row "
            f"and column per class); got shape {shape_str(m.shape)}"
        )
    value_check(jnp.all(jnp.isfinite(m) & (m >= 0)) & (jnp.max(m) > 0),
                "distance_matrix: values must be finite and >= 0, with a positive maximum; "
                "got {matrix}", matrix=m)
    return m / jnp.max(m)


@renamed_options(weighting_mode="class_weighting")
@boolean_options
def generalized_wasserstein_dice_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    distance_matrix: jax.typing.ArrayLike,
    from_logits: bool = True,
    class_weighting: str = "default",
    smooth: float | tuple[float, float] = DEFAULT_SMOOTH,
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Generalized Wasserstein Dice loss (Fidon et al., BrainLes 2017), softmax.

    Per pixel, the Wasserstein distance between the predicted distribution :math:`p` and the
    label :math:`l` under the class distance matrix :math:`M` (normalised to a maximum of 1) is
    :math:`W(x) = \sum_c M_{l c}\,p_c` (for soft targets :math:`y`, :math:`\sum_{l,c} y_l M_{lc}
    p_c`: the cost of the independent coupling, exact for one-hot targets). Then

    .. math::
        TP = \sum_x v\,\alpha_{l(x)}\,(1 - W(x)),\qquad
        L = 1 - \frac{2\,TP + s}{D + s}

    with ``class_weighting="default"`` (the paper): :math:`\alpha_0 = 0` for the background class
    0, :math:`\alpha_l = 1` otherwise, and :math:`D = 2\,TP + \sum_x v\,W(x)`; or
    ``"GDL"`` (Tilborghs et al. 2020, appendix): :math:`\alpha_l = 1/(V_l + 1)` with :math:`V_l`
    the label volumes (of the example, or of the batch when ``per_image=False``; no gradient)
    and :math:`D = \sum_x v\,\alpha_{l(x)}\,(2 - W(x))`. Equals MONAI
    ``GeneralizedWassersteinDiceLoss(dist_matrix, weighting_mode=class_weighting, smooth_nr=s,
    smooth_dr=s, reduction="none")``. With :math:`M = 1 - I` and two classes, the default mode is
    the soft Dice of the foreground class.

    Empty masks: an all-background truth predicted perfectly gives :math:`TP = D = 0`, loss 0
    (any ``smooth``, 0/0 counting as a perfect score); a fully masked example gives 0.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
      labels: ``(B, *spatial)`` integer class indices or ``(B, *spatial, C)`` one-hot/soft targets.
      distance_matrix: ``(C, C)`` non-negative class distances :math:`M` (e.g. 0 on the diagonal,
        1 between background and the rest, smaller between related classes); divided by its
        maximum. Required.
      from_logits: whether ``predictions`` are logits. Default ``True``.
      class_weighting: ``"default"`` or ``"GDL"`` (MONAI's ``weighting_mode``). Default
        ``"default"``. Renamed from ``weighting_mode`` (still accepted, with a
        ``DeprecationWarning``, until the next release).
      smooth: :math:`s` (or ``(smooth_nr, smooth_dr)``). Default ``1e-5`` (MONAI's).
      per_image, axis_name, mask, ignore_index: as in :func:`jaxseg_losses.dice_loss`.

    Returns:
      ``(B,)`` float32 losses in [0, 1].

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.region import generalized_wasserstein_dice_loss
      >>> m = jnp.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 0.5, 0.0]])
      >>> labels = jnp.array([[0, 1, 2]])
      >>> logits = 1000.0 * jnp.eye(3)[None]  # (1, 3, 3): perfect
      >>> generalized_wasserstein_dice_loss(logits, labels, distance_matrix=m)
      Array([0.], dtype=float32)
    """
    check_choice("class_weighting", class_weighting, WASSERSTEIN_WEIGHTINGS)
    nr, dr = smooth_pair(smooth)
    prep = prepare(
        predictions, labels, mode="multiclass", from_logits=from_logits, mask=mask,
        ignore_index=ignore_index,
    )
    m = _check_distance_matrix(distance_matrix, prep.num_classes)
    p, y, v = prep.probabilities(), prep.targets, prep.valid
    agg = functools.partial(aggregate, per_image=per_image, axis_name=axis_name)
    wasserstein = jnp.einsum("...l,lc,...c->...", y, m, p)  # (B, *spatial)
    if class_weighting == "default":
        alpha = jnp.ones((prep.num_classes,), jnp.float32).at[0].set(0.0)
    else:
        volumes = jax.lax.stop_gradient(agg(v[..., None] * y))  # (B or 1, C)
        alpha = 1.0 / (volumes + 1.0)
        alpha = alpha.reshape(alpha.shape[:1] + (1,) * (y.ndim - 2) + alpha.shape[1:])
    alpha_pixel = jnp.sum(y * alpha, axis=-1)  # (B, *spatial)
    tp = agg((v * alpha_pixel * (1.0 - wasserstein))[..., None])[..., 0]
    if class_weighting == "default":
        denominator = 2.0 * tp + agg((v * wasserstein)[..., None])[..., 0]
    else:
        denominator = agg((v * alpha_pixel * (2.0 - wasserstein))[..., None])[..., 0]
    loss = 1.0 - ratio(2.0 * tp + nr, denominator + dr)
    return jnp.broadcast_to(loss, (prep.predictions.shape[0],))


# --------------------------------------------------------------------------- F-beta, penalty GDL


@boolean_options
def asymmetric_similarity_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    beta: float = 1.5,
    smooth: float | tuple[float, float] = DEFAULT_SMOOTH,
    include_background: bool = True,
    class_weights: jax.typing.ArrayLike | None = None,
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
    reduction: str = "example",
) -> jax.Array:
    r"""Asymmetric similarity loss (Hashemi et al., IEEE Access 2018): :math:`1 - F_\beta`.

    .. math::
        F_\beta = \frac{(1+\beta^2)\,TP}{(1+\beta^2)\,TP + \beta^2 FN + FP},\qquad
        L_c = 1 - \frac{TP + s}{TP + \frac{\beta^2}{1+\beta^2}FN + \frac{1}{1+\beta^2}FP + s}

    per class, averaged over the kept classes: the Tversky loss with :math:`\alpha = 1/(1+\beta^2)`
    on false positives and :math:`\beta^2/(1+\beta^2)` on false negatives (smoothing on that
    form, like :func:`jaxseg_losses.tversky_loss`). :math:`\beta > 1` weighs recall over
    precision; the paper's :math:`\beta = 1.5` is the default (SegLoss ``AsymLoss``, which uses
    ``smooth=1`` and returns :math:`-F_\beta`). :math:`\beta = 1` is the Dice loss.

    Empty masks: as :func:`jaxseg_losses.tversky_loss` (empty on empty: 0).

    Args:
      predictions, labels, mode, from_logits, include_background, class_weights, per_image,
        axis_name, mask, ignore_index, reduction: as in :func:`jaxseg_losses.dice_loss`.
      beta: :math:`\beta > 0`. Default 1.5.
      smooth: :math:`s` (or ``(smooth_nr, smooth_dr)``). Default ``1e-5``.

    Returns:
      ``(B,)`` float32 losses in [0, 1] (or ``(B, C_kept)``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.region import asymmetric_similarity_loss
      >>> probs = jnp.array([[[[0.8], [0.4]], [[0.0], [0.0]]]])  # TP .8, FP .4, FN 1.2
      >>> labels = jnp.array([[[1, 0], [1, 0]]])
      >>> # 1 - 3.25 * .8 / (3.25 * .8 + 2.25 * 1.2 + .4)
      >>> asymmetric_similarity_loss(probs, labels, mode="binary", from_logits=False, smooth=0.0)
      Array([0.54385966], dtype=float32)
    """
    check_number("beta", beta, strict=True)
    nr, dr = smooth_pair(smooth)
    fp_weight = 1.0 / (1.0 + beta * beta)
    return region_loss(
        lambda s: 1.0 - tversky_index(s, fp_weight, 1.0 - fp_weight, nr, dr),
        predictions, labels, mode=mode, from_logits=from_logits,
        include_background=include_background, class_weights=class_weights,
        per_image=per_image, axis_name=axis_name, reduction=reduction, mask=mask,
        ignore_index=ignore_index,
    )


@renamed_options(weight_type="class_weighting")
@boolean_options
def penalty_generalized_dice_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    k: float = 2.5,
    class_weighting: str = "square",
    smooth: float | tuple[float, float] = 0.0,
    include_background: bool = True,
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Penalty generalized Dice loss (Yang et al., MIDL 2019, openreview H1lTh8unKN).

    .. math::
        L = \frac{L_{GD}}{1 + k\,(1 - L_{GD})}

    with :math:`L_{GD}` the generalized Dice loss
    (:func:`jaxseg_losses.generalized_dice_loss`, same ``class_weighting``, ``smooth`` and
    absent-class policy). The extra factor raises the relative cost of false positives and false
    negatives when the overlap is already good (:math:`dL/dL_{GD} = (1+k)/(1+k(1-L_{GD}))^2`
    is :math:`1/(1+k)` at :math:`L_{GD}=1` and :math:`1+k` at :math:`L_{GD}=0`). ``k=2.5`` is the
    paper's (and SegLoss ``PenaltyGDiceLoss``'s) value; ``k=0`` gives back :math:`L_{GD}`. The
    loss is monotone in :math:`L_{GD}` and lies in [0, 1].

    Empty masks: as :func:`jaxseg_losses.generalized_dice_loss` (empty on empty: 0).

    Args:
      predictions, labels, mode, from_logits, class_weighting, smooth, include_background,
        per_image, axis_name, mask, ignore_index: as in
        :func:`jaxseg_losses.generalized_dice_loss`.
      k: penalty :math:`k \ge 0`. Default 2.5.

    Returns:
      ``(B,)`` float32 losses in [0, 1].

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.region import penalty_generalized_dice_loss
      >>> labels = jnp.array([[[0, 0], [0, 1]]])
      >>> probs = jnp.array([[[[1.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [0.5, 0.5]]]])
      >>> # generalized Dice loss 0.25: 0.25 / (1 + 2.5 * 0.75)
      >>> penalty_generalized_dice_loss(probs, labels, from_logits=False)
      Array([0.08695652], dtype=float32)
    """
    check_number("k", k)
    gdl = generalized_dice_loss(
        predictions, labels, mode=mode, from_logits=from_logits, class_weighting=class_weighting,
        smooth=smooth, include_background=include_background, per_image=per_image,
        axis_name=axis_name, mask=mask, ignore_index=ignore_index,
    )
    return gdl / (1.0 + k * (1.0 - gdl))
