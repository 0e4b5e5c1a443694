r"""Overlap (region) losses: Dice, Jaccard/IoU, Tversky, focal Tversky, sensitivity-specificity,
generalized Dice and exponential logarithmic loss.

Every loss here is *statistics -> formula -> reduction*:

1. :func:`overlap_statistics` sums, per example and class, the soft counts

   .. math::
       TP_{bc} = \sum_x v\,p_c\,y_c,\quad FP_{bc} = \sum_x v\,p_c(1-y_c),\quad
       FN_{bc} = \sum_x v\,(1-p_c)\,y_c,\quad \Sigma p = TP + FP,\quad \Sigma y = TP + FN

   over the spatial axes, with :math:`p` the probabilities (softmax or sigmoid of the logits),
   :math:`y` the dense targets and :math:`v` the pixel weights (``mask`` times "not
   ``ignore_index``"; masked statistics are *weighted* sums). With ``per_image=False`` the
   statistics are also summed over the batch (and ``psum``-ed over ``axis_name`` inside
   ``shard_map``) *before* any ratio: the batch-global ("batch Dice") form.
2. Each loss is a short formula of these statistics per (example, class).
3. One shared class reduction: ``include_background=False`` drops channel 0 (when ``C > 1``),
   ``class_weights`` give the weighted mean :math:`\sum_c w_c L_c / \sum_c w_c` over the kept
   classes (plain mean without weights), ``reduction="example"`` returns ``(B,)`` and
   ``reduction="class"`` the per-class ``(B, C_kept)`` values (unweighted; combining it with
   ``class_weights`` raises). With ``per_image=False`` the global value is repeated over the
   ``B`` examples, so ``.mean()`` is the global loss. Dice, Jaccard and Tversky also offer
   ``average="micro"``: the counts are summed over the kept classes (weighted by
   ``class_weights``) *before* the ratio, one value per example (kornia's default).

Smoothing. Every ratio is written in its usual form and ``smooth`` is added to its numerator
and denominator: Dice :math:`(2TP+s)/(2TP+FP+FN+s)` (as MONAI, nnU-Net), Jaccard
:math:`(TP+s)/(TP+FP+FN+s)`, Tversky :math:`(TP+s)/(TP+\alpha FP+\beta FN+s)`. Default
``smooth=1e-5`` (MONAI's ``smooth_nr = smooth_dr = 1e-5``); a pair ``(smooth_nr, smooth_dr)``
sets them separately. Hence ``tversky_loss(alpha=.5, beta=.5, smooth=s) == dice_loss(smooth=2s)``
and ``optax.losses.dice_loss(smooth=s)`` (smoothing on the Tversky form) equals
``dice_loss(smooth=2s)``; MONAI ``DiceLoss(jaccard=True, smooth_nr=s, smooth_dr=s)`` equals
``jaccard_loss(smooth=s/2)``. Exceptions, documented where they apply:
:func:`generalized_dice_loss` (``smooth=0``, because its weights make the sums tiny) and
:func:`exp_log_loss` (``smooth=1``, the paper's value).

Empty masks. An empty prediction on an empty ground truth is a perfect score, loss 0, for every
smoothing (including ``smooth=0``: a ratio 0/0 counts as a perfect score, with zero gradient). A
non-empty prediction on an empty ground truth gives a Dice of :math:`s/(\Sigma p + s)`, i.e. a
loss close to 1 unless :math:`\Sigma p` is comparable to ``smooth``. An example whose pixels
are all masked out gives loss 0 with zero gradient. Dice, Jaccard, Tversky and focal Tversky
take ``absent_classes="zero"`` (a class absent from the truth scores 0 whatever is predicted,
segmentation-models-pytorch's rule) or ``"exclude"`` (it leaves the class mean) instead of
this default ``"score"``.

Options shared by these losses: ``squared=True`` (Dice, Jaccard) uses the V-Net sums
:math:`\Sigma p^2, \Sigma y^2` (:math:`TP = \Sigma p y`, :math:`FP = \Sigma p^2 - TP`,
:math:`FN = \Sigma y^2 - TP`); ``soft_label=True`` uses the L1 form
:math:`TP = (\Sigma p + \Sigma y - \Sigma|p - y|)/2` that is correct for soft targets (MONAI's
``soft_label=True``, Wang & Blaschko's JDT losses) and equals the product form on hard labels.
All computations are float32 whatever the input dtype.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxseg_losses._activations import PROB_EPS
from jaxseg_losses._inputs import (
    Mode,
    boolean_options,
    check_choice,
    check_class_vector,
    check_number,
    prepare,
    renamed_options,
)
from jaxseg_losses._numerics import keep_classes, safe_divide, safe_power
from jaxseg_losses._region import (
    DEFAULT_SMOOTH,
    OverlapStatistics,
    aggregate,
    dice_index,
    over_batch,
    plane_sums,
    ratio,
    reduce_classes,
    region_loss,
    region_setup,
    score_loss,
    smooth_pair,
    statistics,
    tversky_index,
)

__all__ = (
    "OverlapStatistics",
    "dice_loss",
    "exp_log_loss",
    "focal_tversky_loss",
    "generalized_dice_loss",
    "jaccard_loss",
    "overlap_statistics",
    "sensitivity_specificity_loss",
    "tversky_loss",
)

GDL_WEIGHT_TYPES = ("square", "simple", "uniform")


# --------------------------------------------------------------------------- statistics


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
    return statistics(
        prep, per_image=per_image, axis_name=axis_name, squared=squared, soft_label=soft_label
    )


# --------------------------------------------------------------------------- shared pieces


# --------------------------------------------------------------------------- losses


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
    return region_loss(
        lambda s: score_loss(dice_index(s, nr, dr), log_loss),
        predictions, labels, mode=mode, from_logits=from_logits,
        include_background=include_background, class_weights=class_weights,
        per_image=per_image, axis_name=axis_name, reduction=reduction, mask=mask,
        ignore_index=ignore_index, squared=squared, soft_label=soft_label, average=average,
        absent_classes=absent_classes,
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
    return region_loss(
        lambda s: score_loss(tversky_index(s, 1.0, 1.0, nr, dr), log_loss),
        predictions, labels, mode=mode, from_logits=from_logits,
        include_background=include_background, class_weights=class_weights,
        per_image=per_image, axis_name=axis_name, reduction=reduction, mask=mask,
        ignore_index=ignore_index, squared=squared, soft_label=soft_label, average=average,
        absent_classes=absent_classes,
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
    return region_loss(
        lambda s: score_loss(tversky_index(s, alpha, beta, nr, dr), log_loss),
        predictions, labels, mode=mode, from_logits=from_logits,
        include_background=include_background, class_weights=class_weights,
        per_image=per_image, axis_name=axis_name, reduction=reduction, mask=mask,
        ignore_index=ignore_index, soft_label=soft_label, average=average,
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

    def formula(s: OverlapStatistics) -> jax.Array:
        one_minus = jnp.maximum(1.0 - tversky_index(s, alpha, beta, nr, dr), 0.0)
        return safe_power(one_minus, 1.0 / gamma)

    return region_loss(
        formula, predictions, labels, mode=mode, from_logits=from_logits,
        include_background=include_background, class_weights=class_weights,
        per_image=per_image, axis_name=axis_name, reduction=reduction, mask=mask,
        ignore_index=ignore_index, soft_label=soft_label,
        absent_classes=absent_classes,
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
    prep, weights = region_setup(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index, class_weights=class_weights, reduction=reduction,
    )
    hits = prep.class_hits()
    if hits is not None:  # integer labels: class plane by class plane, no one-hot array

        def terms(v, p, hit):
            squared_error = v * jnp.square(jnp.where(hit, 1.0, 0.0) - p)
            return (
                jnp.where(hit, squared_error, 0.0),
                jnp.where(hit, 0.0, squared_error),
                jnp.where(hit, v, 0.0),
                v,
            )

        positive_error, negative_error, positive, pixels = plane_sums(
            prep, hits, terms, per_image, axis_name
        )
        sensitivity = safe_divide(positive_error, positive)
        specificity = safe_divide(negative_error, pixels - positive)
    else:
        y, v = prep.targets, prep.valid[..., None]
        squared_error = v * (y - prep.probabilities()) ** 2
        agg = functools.partial(aggregate, per_image=per_image, axis_name=axis_name)
        sensitivity = safe_divide(agg(squared_error * y), agg(v * y))
        specificity = safe_divide(agg(squared_error * (1.0 - y)), agg(v * (1.0 - y)))
    return reduce_classes(
        r * sensitivity + (1.0 - r) * specificity,
        batch_size=prep.predictions.shape[0],
        include_background=include_background,
        class_weights=weights,
        reduction=reduction,
    )


def _gdl_weights(volume: jax.Array, class_weighting: str) -> jax.Array:
    """Sudre's class weights from ``(B, C)`` label volumes; absent classes -> max present weight.

    When no class is present (all volumes 0) every weight is 1.
    """
    present = volume > 0
    safe_volume = jnp.where(present, volume, 1.0)
    if class_weighting == "square":
        w = 1.0 / (safe_volume * safe_volume)
    elif class_weighting == "simple":
        w = 1.0 / safe_volume
    else:
        w = jnp.ones_like(volume)
    w = jnp.where(present, w, 0.0)
    largest = jnp.max(w, axis=-1, keepdims=True)
    w = jnp.where(present, w, largest)
    w = jnp.where(jnp.any(present, axis=-1, keepdims=True), w, 1.0)
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
    check_choice("class_weighting", class_weighting, GDL_WEIGHT_TYPES)
    nr, dr = smooth_pair(smooth)
    prep = prepare(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index,
    )
    s = statistics(
        prep, per_image=per_image, axis_name=axis_name, squared=False, soft_label=soft_label
    )
    tp, total = (keep_classes(a, include_background) for a in (s.tp, s.sum_p + s.sum_y))
    w = _gdl_weights(keep_classes(s.sum_y, include_background), class_weighting)
    score = ratio(
        2.0 * jnp.sum(w * tp, axis=-1) + nr, jnp.sum(w * total, axis=-1) + dr
    )
    return jnp.broadcast_to(1.0 - score, (prep.predictions.shape[0],))


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
    stats = statistics(
        prep, per_image=per_image, axis_name=axis_name, squared=False, soft_label=soft_label
    )
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
        weights = check_class_vector(label_weights, num_classes, name="label_weights")
    if not include_background and num_classes > 1:
        weights = weights * (jnp.arange(num_classes) > 0)
    log_pt = prep.label_log_p()
    if log_pt is not None:  # integer labels: only the labelled class has a term
        pixel = prep.target_weight(weights) * safe_power(-log_pt, gamma_cross)
        cross_total = over_batch(
            jnp.sum(prep.valid * pixel, axis=tuple(range(1, pixel.ndim))), per_image, axis_name
        )
    else:
        if mode == "multiclass":
            pixel = y * safe_power(-prep.log_p(), gamma_cross)
        else:
            pixel = (
                y * safe_power(-prep.log_p(), gamma_cross)
                + (1.0 - y) * safe_power(-prep.log_not_p(), gamma_cross)
            ) / num_classes
        cross_total = jnp.sum(agg(v * weights * pixel), axis=-1)  # (B or 1,)
    pixels = agg(prep.valid[..., None])[..., 0]  # (B or 1,)
    cross_term = safe_divide(cross_total, pixels)
    loss = w_dice * dice_term + w_cross * cross_term
    return jnp.broadcast_to(loss, (prep.predictions.shape[0],))
