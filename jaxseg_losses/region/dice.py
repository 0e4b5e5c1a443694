r"""Dice-type losses on the overlap statistics: :func:`overlap_statistics` itself, Dice,
Jaccard/IoU, generalized Dice (Sudre et al.) and penalty generalized Dice (Yang et al.).

The conventions of the region family (statistics, smoothing, empty masks, reductions) are in
:mod:`jaxseg_losses.region`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxseg_losses._activations import overlap_planes
from jaxseg_losses._inputs import (
    Mode,
    boolean_options,
    check_choice,
    check_number,
    prepare,
    prepare_region,
    renamed_options,
)
from jaxseg_losses._numerics import (
    VOLUME_WEIGHTS,
    inverse_volume_weights,
    keep_classes,
    largest_for_absent,
)
from jaxseg_losses.region._engine import (
    DEFAULT_SMOOTH,
    OverlapStatistics,
    dice_index,
    ratio,
    region_loss,
    score_loss,
    smooth_pair,
    statistics,
    tversky_index,
)

__all__ = (
    "OverlapStatistics",
    "dice_loss",
    "generalized_dice_loss",
    "jaccard_loss",
    "overlap_statistics",
    "penalty_generalized_dice_loss",
)


@boolean_options
def overlap_statistics(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    per_image: bool = True,
    axis_name: str | None = None,
    squared: bool = False,
    soft_label: bool = False,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> OverlapStatistics:
    r"""Soft TP, FP, FN and volumes per (example, class): the statistics of every overlap loss.

    .. math::
        TP_{bc} = \sum_x v(x)\,p_c(x)\,y_c(x),\quad
        FP_{bc} = \sum_x v(x)\,p_c(x)\,(1-y_c(x)),\quad
        FN_{bc} = \sum_x v(x)\,(1-p_c(x))\,y_c(x)

    with :math:`p` the softmax (``"multiclass"``) or sigmoid probabilities, :math:`y` the dense
    targets and :math:`v` the pixel weights (``mask`` times "not ``ignore_index``").

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
      labels: ``(B, *spatial)`` integer class indices or ``(B, *spatial, C)`` one-hot/soft targets.
      mode: ``"multiclass"`` (default, softmax), ``"multilabel"`` or ``"binary"`` (sigmoid).
      from_logits: whether ``predictions`` are logits. Default ``True``.
      per_image: ``True`` (default): statistics per example, shape ``(B, C)``; ``False``: summed
        over the batch (and ``psum``-ed over ``axis_name``), shape ``(1, C)``.
      axis_name: ``shard_map``/``pmap`` axis over which batch-global statistics are summed.
        Default ``None``. Only used with ``per_image=False``.
      squared: V-Net sums: ``sum_p`` :math:`=\sum v p^2`, ``sum_y`` :math:`=\sum v y^2`,
        ``fp = sum_p - tp``, ``fn = sum_y - tp`` (``fp`` may then be negative). Default ``False``.
      soft_label: L1 form :math:`TP = (\Sigma p + \Sigma y - \Sigma |p-y|)/2` (MONAI
        ``soft_label=True``), equal to the product form on hard labels. Ignored with
        ``squared=True`` (the squared form is already exact for soft labels). Default ``False``.
      mask: optional ``(B, *spatial)`` bool/float pixel weights. Default ``None``.
      ignore_index: integer label whose pixels are excluded. Default ``None``.

    Returns:
      :class:`OverlapStatistics` ``(tp, fp, fn, sum_p, sum_y)``, float32.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.region import overlap_statistics
      >>> probs = jnp.array([[[[0.8], [0.4]], [[0.0], [0.0]]]])  # (1, 2, 2, 1)
      >>> labels = jnp.array([[[1, 0], [1, 0]]])
      >>> s = overlap_statistics(probs, labels, mode="binary", from_logits=False)
      >>> s.tp, s.fp, s.fn
      (Array([[0.8]], dtype=float32), Array([[0.4]], dtype=float32), Array([[1.2]], dtype=float32))
    """
    prep = prepare(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index,
    )
    planes = overlap_planes(prep)
    return statistics(
        planes, per_image=per_image, axis_name=axis_name, squared=squared, soft_label=soft_label
    )


@boolean_options
def dice_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    smooth: float | tuple[float, float] = DEFAULT_SMOOTH,
    squared: bool = False,
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
    r"""Soft Dice loss (Milletari et al. 2016, "V-Net"; Drozdzal et al. 2016), per class.

    .. math::
        L_c = 1 - \frac{2\,TP_c + s}{2\,TP_c + FP_c + FN_c + s}
            = 1 - \frac{2\sum_x p_c y_c + s}{\sum_x p_c + \sum_x y_c + s}

    averaged over the kept classes. ``squared=True`` is the V-Net denominator
    :math:`\sum p^2 + \sum y^2`. Equals MONAI ``DiceLoss(smooth_nr=s, smooth_dr=s)`` with
    matched options (``batch`` = ``not per_image``, ``squared_pred`` = ``squared``,
    ``soft_label``, ``include_background``), per (example, class), and
    ``optax.losses.dice_loss(smooth=s/2)``.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
      labels: ``(B, *spatial)`` integer class indices or ``(B, *spatial, C)`` one-hot/soft targets.
      mode: ``"multiclass"`` (default, softmax), ``"multilabel"`` or ``"binary"`` (sigmoid).
      from_logits: whether ``predictions`` are logits. Default ``True``.
      smooth: :math:`s` added to numerator and denominator, or a pair
        ``(smooth_nr, smooth_dr)``. Default ``1e-5``.
      squared: V-Net squared denominator. Default ``False``.
      soft_label: L1 intersection, correct for soft targets (MONAI ``soft_label``). Default
        ``False``.
      log_loss: ``True``: :math:`L_c = -\log \max(D_c, 10^{-7})` instead of :math:`1 - D_c`
        (segmentation-models-pytorch's ``log_loss=True``, same clamp ``eps=1e-7``): unbounded
        above, steeper for poor classes; 0 for a perfect (or empty-on-empty) class. Default
        ``False``.
      include_background: ``False`` drops class 0 from the class average (no effect when
        ``C == 1``). Default ``True``.
      class_weights: optional ``(C,)`` weights of the class average
        :math:`\sum_c w_c L_c/\sum_c w_c`. Default ``None`` (plain mean).
      average: ``"macro"`` (default): one Dice per class, then the class mean; ``"micro"``:
        TP, FP and FN summed over the kept classes first, one ratio per example
        (:math:`1 - (2\sum_c TP_c + s)/(\sum_c (2TP_c + FP_c + FN_c) + s)`, kornia's default
        ``average="micro"``; for Dice it equals :func:`generalized_dice_loss` with
        ``class_weighting="uniform"`` and the same ``smooth``). With ``class_weights`` the counts
        are weighted, :math:`\sum_c w_c TP_c` etc. (Sudre's generalized form). It composes with
        ``per_image=False`` (batch and classes pooled), ``mask`` and ``ignore_index`` (weighted
        counts); ``reduction="class"`` raises (no per-class values).
      absent_classes: the loss of a class absent from the truth (no valid truth pixel in the
        example, or in the batch with ``per_image=False``): ``"score"`` (default) the formula
        itself, 0 for an empty prediction and close to 1 for any predicted mass (see the
        module's "Empty masks"); ``"zero"``: 0 whatever is predicted, still counted in the
        class mean (segmentation-models-pytorch's rule); ``"exclude"``: left out of the
        (weighted) class mean, 0 when no kept class is present. With ``average="micro"``
        both leave the absent classes' counts out of the pool; ``reduction="class"`` shows
        their losses as 0.
      per_image: ``True`` (default): one Dice per example; ``False``: batch-global statistics.
      axis_name: ``shard_map`` axis for batch-global statistics. Default ``None``.
      mask: optional ``(B, *spatial)`` pixel weights. Default ``None``.
      ignore_index: integer label excluded from value and gradient. Default ``None``.
      reduction: ``"example"`` (default) -> ``(B,)``; ``"class"`` -> ``(B, C_kept)``.

    Returns:
      ``(B,)`` float32 losses in [0, 1] (with ``log_loss`` in [0, 16.2]; or ``(B, C_kept)``).
      An empty prediction on an empty ground truth gives 0 (for any ``smooth``); a fully masked
      example gives 0.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.region import dice_loss
      >>> probs = jnp.array([[[[0.8], [0.4]], [[0.0], [0.0]]]])  # (1, 2, 2, 1)
      >>> labels = jnp.array([[[1, 0], [1, 0]]])
      >>> # 1 - 2 * 0.8 / (1.2 + 2) = 0.5
      >>> dice_loss(probs, labels, mode="binary", from_logits=False, smooth=0.0)
      Array([0.5], dtype=float32)
    """
    nr, dr = smooth_pair(smooth)
    prep, weights = prepare_region(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index, class_weights=class_weights, reduction=reduction,
        average=average, absent_classes=absent_classes,
    )
    planes = overlap_planes(prep)
    return region_loss(
        planes, lambda s, n: score_loss(dice_index(s, nr, dr), log_loss),
        class_weights=weights, include_background=include_background, per_image=per_image,
        axis_name=axis_name, reduction=reduction, squared=squared, soft_label=soft_label,
        average=average, absent_classes=absent_classes,
    )


@boolean_options
def jaccard_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    smooth: float | tuple[float, float] = DEFAULT_SMOOTH,
    squared: bool = False,
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
    r"""Soft Jaccard (IoU) loss (Rahman & Wang 2016), per class.

    .. math::
        L_c = 1 - \frac{TP_c + s}{TP_c + FP_c + FN_c + s}
            = 1 - \frac{\sum_x p_c y_c + s}{\sum_x (p_c + y_c - p_c y_c) + s}

    averaged over the kept classes. It is :func:`tversky_loss` with ``alpha = beta = 1``. MONAI
    ``DiceLoss(jaccard=True, smooth_nr=s, smooth_dr=s)`` writes :math:`(2TP+s)/(2(TP+FP+FN)+s)`,
    i.e. this loss with ``smooth=s/2``. ``squared=True`` gives
    :math:`\sum py / (\sum p^2 + \sum y^2 - \sum py)` (MONAI ``squared_pred`` with ``jaccard``).

    Args:
      predictions, labels, mode, from_logits: as in :func:`dice_loss`.
      smooth: :math:`s` (or ``(smooth_nr, smooth_dr)``). Default ``1e-5``.
      squared, soft_label, log_loss, include_background, class_weights, average,
        absent_classes, per_image, axis_name, mask, ignore_index, reduction: as in
        :func:`dice_loss` (``log_loss``:
        :math:`-\log` of the Jaccard index; ``average="micro"``: one Jaccard index of the
        class-summed counts).

    Returns:
      ``(B,)`` float32 losses in [0, 1] (with ``log_loss`` in [0, 16.2]; or ``(B, C_kept)``);
      empty prediction on empty truth: 0.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.region import jaccard_loss
      >>> probs = jnp.array([[[[0.8], [0.4]], [[0.0], [0.0]]]])
      >>> labels = jnp.array([[[1, 0], [1, 0]]])
      >>> # 1 - 0.8 / (0.8 + 0.4 + 1.2) = 2/3
      >>> jaccard_loss(probs, labels, mode="binary", from_logits=False, smooth=0.0)
      Array([0.6666666], dtype=float32)
    """
    nr, dr = smooth_pair(smooth)
    prep, weights = prepare_region(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index, class_weights=class_weights, reduction=reduction,
        average=average, absent_classes=absent_classes,
    )
    planes = overlap_planes(prep)
    return region_loss(
        planes, lambda s, n: score_loss(tversky_index(s, 1.0, 1.0, nr, dr), log_loss),
        class_weights=weights, include_background=include_background, per_image=per_image,
        axis_name=axis_name, reduction=reduction, squared=squared, soft_label=soft_label,
        average=average, absent_classes=absent_classes,
    )


def _gdl_weights(volume: jax.Array, class_weighting: str) -> jax.Array:
    """Sudre's class weights from ``(B, C)`` label volumes; absent classes -> max present weight.

    When no class is present (all volumes 0) every weight is 1.
    """
    w = largest_for_absent(inverse_volume_weights(volume, class_weighting), volume > 0)
    return jax.lax.stop_gradient(w)


@renamed_options(weight_type="class_weighting")
@boolean_options
def generalized_dice_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    class_weighting: str = "square",
    smooth: float | tuple[float, float] = 0.0,
    soft_label: bool = False,
    include_background: bool = True,
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Generalized Dice loss (Sudre et al., DLMIA 2017): one ratio of class-weighted sums.

    .. math::
        L = 1 - \frac{2\sum_c w_c\,TP_c + s}{\sum_c w_c\,(\Sigma p_c + \Sigma y_c) + s},\qquad
        w_c = \frac{1}{(\sum_x v\,y_c)^2}

    per example (or batch-global), over the kept classes. ``class_weighting``: ``"square"``
    (Sudre's :math:`1/V_c^2`, default), ``"simple"`` (:math:`1/V_c`) or ``"uniform"`` (1, the
    pooled Dice). The weights depend on the labels only (no gradient).

    Absent classes (policy of NiftyNet and MONAI): a class with label volume :math:`V_c = 0` would
    get an infinite weight; it gets instead the largest weight of the classes present in that
    example (batch when ``per_image=False``), so predicting it is penalised like the rarest
    present class, and the value and gradient stay finite. When *no* class is present all
    weights are 1: an empty prediction on an empty truth gives 0 and any predicted mass gives a
    loss near 1 (MONAI's weights become 0 there and its loss is 0 whatever the prediction).

    Smoothing default ``smooth=0`` (unlike the rest of the family): the weighted sums scale like
    :math:`1/V`, e.g. about ``1e-4`` for a 100 x 100 image, so a fixed additive ``1e-5`` would
    bias the loss. The 0/0 case (empty prediction on empty truth) is a perfect score, loss 0.
    With the same ``smooth`` it equals MONAI ``GeneralizedDiceLoss(w_type=class_weighting,
    smooth_nr=s, smooth_dr=s, batch=not per_image)`` whenever some class is present. With one
    class the weights cancel and it equals :func:`dice_loss` (``smooth=0``).

    Args:
      predictions, labels, mode, from_logits: as in :func:`dice_loss`.
      class_weighting: ``"square"`` (default), ``"simple"`` or ``"uniform"`` (MONAI's
        ``w_type``). Renamed from ``weight_type`` (still accepted, with a
        ``DeprecationWarning``, until the next release).
      smooth: :math:`s` (or ``(smooth_nr, smooth_dr)``). Default 0.
      soft_label: L1 intersection for soft targets. Default ``False``.
      include_background: ``False`` drops class 0 from the sums (when ``C > 1``). Default ``True``.
      per_image, axis_name, mask, ignore_index: as in :func:`dice_loss`.

    Returns:
      ``(B,)`` float32 losses in [0, 1]. There is no per-class output: the loss is one ratio.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.region import generalized_dice_loss
      >>> labels = jnp.array([[[0, 0], [0, 1]]])
      >>> probs = jnp.array([[[[1.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [0.5, 0.5]]]])
      >>> # w = (1/9, 1): 1 - 2 (3/9 + 0.5) / ((3.5 + 3)/9 + 0.5 + 1) = 0.25
      >>> generalized_dice_loss(probs, labels, from_logits=False)
      Array([0.25], dtype=float32)
    """
    check_choice("class_weighting", class_weighting, VOLUME_WEIGHTS)
    nr, dr = smooth_pair(smooth)
    prep = prepare(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index,
    )
    planes = overlap_planes(prep)
    s = statistics(planes, per_image=per_image, axis_name=axis_name, soft_label=soft_label)
    tp, total = (keep_classes(a, include_background) for a in (s.tp, s.sum_p + s.sum_y))
    w = _gdl_weights(keep_classes(s.sum_y, include_background), class_weighting)
    score = ratio(
        2.0 * jnp.sum(w * tp, axis=-1) + nr, jnp.sum(w * total, axis=-1) + dr
    )
    return jnp.broadcast_to(1.0 - score, (prep.predictions.shape[0],))


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
