r"""The Tversky family: Tversky, focal Tversky, asymmetric similarity (F-beta) and the asymmetric
focal Tversky loss of the unified focal family (Yeung et al.), on the overlap statistics.

Conventions of the region family: :mod:`jaxseg_losses.region`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxseg_losses._activations import overlap_planes
from jaxseg_losses._inputs import (
    Mode,
    boolean_options,
    check_number,
    prepare_region,
)
from jaxseg_losses._numerics import (
    safe_power,
)
from jaxseg_losses.region._engine import (
    DEFAULT_SMOOTH,
    OverlapStatistics,
    region_loss,
    score_loss,
    smooth_pair,
    tversky_index,
)
from jaxseg_losses.region._unified_focal import (
    DEFAULT_SMOOTH as ASYMMETRIC_SMOOTH,
)
from jaxseg_losses.region._unified_focal import (
    AsymmetricRoles,
    check_delta_gamma,
    per_example,
    prepare_inputs,
    tversky_term,
)

__all__ = (
    "asymmetric_focal_tversky_loss",
    "asymmetric_similarity_loss",
    "focal_tversky_loss",
    "tversky_loss",
)


def _check_tversky(alpha, beta) -> None:
    check_number("alpha", alpha)
    check_number("beta", beta)


@boolean_options
def tversky_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    alpha: float = 0.3,
    beta: float = 0.7,
    smooth: float | tuple[float, float] = DEFAULT_SMOOTH,
    soft_label: bool = False,
    log_loss: bool = False,
    include_background: bool = True,
    class_weights: jax.typing.ArrayLike | None = None,
    average: str = "macro",
    absent_classes: str = "score",
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
    reduction: str = "example",
) -> jax.Array:
    r"""Tversky loss (Salehi et al., MLMI 2017), per class.

    .. math::
        TI_c = \frac{TP_c + s}{TP_c + \alpha\,FP_c + \beta\,FN_c + s},\qquad L_c = 1 - TI_c

    averaged over the kept classes: :math:`\alpha` weighs false positives, :math:`\beta` false
    negatives (MONAI, optax and the paper's naming; some Keras code swaps the names). The
    defaults ``alpha=0.3, beta=0.7`` are the paper's best (fewer false negatives).
    ``alpha = beta = 0.5`` is :func:`dice_loss` with ``smooth=2s``; ``alpha = beta = 1`` is
    :func:`jaccard_loss`. Equals MONAI ``TverskyLoss(alpha, beta, smooth_nr=s, smooth_dr=s)``
    and ``optax.losses.dice_loss(alpha=alpha, beta=beta, smooth=s)``.

    Args:
      predictions, labels, mode, from_logits: as in :func:`dice_loss`.
      alpha: weight of false positives, ``>= 0``. Default 0.3.
      beta: weight of false negatives, ``>= 0``. Default 0.7.
      smooth: :math:`s` (or ``(smooth_nr, smooth_dr)``). Default ``1e-5``.
      soft_label, log_loss, include_background, class_weights, average, absent_classes,
        per_image, axis_name, mask, ignore_index, reduction: as in :func:`dice_loss`
        (``log_loss``: :math:`-\log` of
        the Tversky index; ``average="micro"``: one Tversky index of the class-summed counts,
        kornia's ``tversky_loss`` with ``smooth=(0, eps)``).

    Returns:
      ``(B,)`` float32 losses in [0, 1] (with ``log_loss`` in [0, 16.2]; or ``(B, C_kept)``);
      empty prediction on empty truth: 0.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.region import tversky_loss
      >>> probs = jnp.array([[[[0.8], [0.4]], [[0.0], [0.0]]]])
      >>> labels = jnp.array([[[1, 0], [1, 0]]])
      >>> # 1 - 0.8 / (0.8 + 0.3 * 0.4 + 0.7 * 1.2) = 0.54545...
      >>> tversky_loss(probs, labels, mode="binary", from_logits=False, smooth=0.0)
      Array([0.54545...], dtype=float32)
    """
    _check_tversky(alpha, beta)
    nr, dr = smooth_pair(smooth)
    prep, weights = prepare_region(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index, class_weights=class_weights, reduction=reduction,
        average=average, absent_classes=absent_classes,
    )
    planes = overlap_planes(prep)
    return region_loss(
        planes, lambda s, n: score_loss(tversky_index(s, alpha, beta, nr, dr), log_loss),
        class_weights=weights, include_background=include_background, per_image=per_image,
        axis_name=axis_name, reduction=reduction, soft_label=soft_label, average=average,
        absent_classes=absent_classes,
    )


@boolean_options
def focal_tversky_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 4.0 / 3.0,
    smooth: float | tuple[float, float] = DEFAULT_SMOOTH,
    soft_label: bool = False,
    include_background: bool = True,
    class_weights: jax.typing.ArrayLike | None = None,
    absent_classes: str = "score",
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
    reduction: str = "example",
) -> jax.Array:
    r"""Focal Tversky loss (Abraham & Khan, ISBI 2019, arXiv 1810.07842), per class.

    .. math::
        L_c = (1 - TI_c)^{1/\gamma}

    with :math:`TI_c` the Tversky index of :func:`tversky_loss`; the power is applied per class,
    *then* the classes are averaged (the paper sums over classes; the mean keeps the loss in
    [0, 1]). Convention: the paper's formula, exponent :math:`1/\gamma` with its best
    :math:`\gamma = 4/3` (default), i.e. :math:`(1-TI)^{0.75}`, which is what the authors' code
    writes as ``K.pow(1 - tversky, 0.75)``. :math:`\gamma > 1` focuses on hard (low-TI) classes;
    ``gamma=1`` is :func:`tversky_loss`. The paper's Tversky weights are 0.7 on FN and 0.3 on FP,
    the defaults here (``beta=0.7``, ``alpha=0.3``). The power has a finite (zero) gradient at a
    perfect class (:math:`TI = 1`).

    Args:
      predictions, labels, mode, from_logits: as in :func:`dice_loss`.
      alpha: weight of false positives. Default 0.3.
      beta: weight of false negatives. Default 0.7.
      gamma: :math:`\gamma > 0`; the exponent is :math:`1/\gamma`. Default 4/3.
      smooth: :math:`s` in the Tversky index. Default ``1e-5``.
      soft_label, include_background, class_weights, absent_classes, per_image, axis_name, mask,
        ignore_index, reduction: as in :func:`dice_loss`.

    Returns:
      ``(B,)`` float32 losses in [0, 1] (or ``(B, C_kept)``); empty prediction on empty truth:
      0.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.region import focal_tversky_loss
      >>> probs = jnp.array([[[[0.8], [0.4]], [[0.0], [0.0]]]])
      >>> labels = jnp.array([[[1, 0], [1, 0]]])
      >>> # (6/11) ** 0.75
      >>> focal_tversky_loss(probs, labels, mode="binary", from_logits=False, smooth=0.0)
      Array([0.6347...], dtype=float32)
    """
    _check_tversky(alpha, beta)
    check_number("gamma", gamma, strict=True)
    nr, dr = smooth_pair(smooth)

    def formula(s: OverlapStatistics, n: jax.Array) -> jax.Array:
        one_minus = jnp.maximum(1.0 - tversky_index(s, alpha, beta, nr, dr), 0.0)
        return safe_power(one_minus, 1.0 / gamma)

    prep, weights = prepare_region(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index, class_weights=class_weights, reduction=reduction,
        absent_classes=absent_classes,
    )
    planes = overlap_planes(prep)
    return region_loss(
        planes, formula, class_weights=weights, include_background=include_background,
        per_image=per_image, axis_name=axis_name, reduction=reduction, soft_label=soft_label,
        absent_classes=absent_classes,
    )


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
    prep, weights = prepare_region(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index, class_weights=class_weights, reduction=reduction,
    )
    planes = overlap_planes(prep)
    return region_loss(
        planes, lambda s, n: 1.0 - tversky_index(s, fp_weight, 1.0 - fp_weight, nr, dr),
        class_weights=weights, include_background=include_background, per_image=per_image,
        axis_name=axis_name, reduction=reduction,
    )


@boolean_options
def asymmetric_focal_tversky_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    delta: float = 0.7,
    gamma: float = 0.75,
    smooth: float | tuple[float, float] = ASYMMETRIC_SMOOTH,
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Asymmetric focal Tversky loss (Yeung et al. 2022, Eq. 15): focal on the foreground only.

    .. math::
        mTI_k = \frac{TP_k + s}{TP_k + \delta\,FN_k + (1-\delta)\,FP_k + s},\qquad
        L = \frac{1}{K}\Big[\sum_{k \in bg} (1 - mTI_k)
            + \sum_{k \in fg} (1 - mTI_k)^{1-\gamma}\Big]

    with the soft counts of each class (weighted by the pixel weights, per example or
    batch-global). Equals MONAI ``AsymmetricFocalTverskyLoss(delta, gamma, epsilon=s)`` on the
    two-channel expansion (binary mode). ``smooth=1e-7`` is MONAI's (and the authors')
    ``epsilon``; the 0/0 case counts as a perfect score. The power uses a form with a finite
    gradient at a perfect prediction.

    Empty masks: an empty prediction on an empty truth gives 0; a fully masked example gives 0.

    Args:
      predictions, labels, mode, from_logits, per_image, axis_name, mask, ignore_index: as in
        :func:`asymmetric_focal_loss`.
      delta: weight of false negatives :math:`\delta \in [0, 1]` (false positives get
        :math:`1 - \delta`). Default 0.7.
      gamma: :math:`\gamma \in [0, 1)`; the foreground exponent is :math:`1 - \gamma`. Default
        0.75.
      smooth: :math:`s` (or ``(smooth_nr, smooth_dr)``). Default ``1e-7``.

    Returns:
      ``(B,)`` float32 losses in [0, 1].

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.region import asymmetric_focal_tversky_loss
      >>> labels = jnp.array([[[1, 0], [1, 0]]])
      >>> asymmetric_focal_tversky_loss(labels[..., None] * 1.0, labels, mode="binary",
      ...                               from_logits=False)
      Array([0.], dtype=float32)
    """
    check_delta_gamma(delta, gamma, tversky=True)
    prep = prepare_inputs(predictions, labels, mode, from_logits, mask, ignore_index)
    loss = tversky_term(prep, AsymmetricRoles(prep), delta, gamma, smooth, per_image, axis_name)
    return per_example(loss, prep)
