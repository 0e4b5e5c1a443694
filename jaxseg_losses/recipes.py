r"""Compound losses, written with :mod:`jaxseg_losses.combine`: BCE+Dice, Dice+CE, Dice+Focal,
the Combo loss, and the boundary-loss recipe (generalized Dice + boundary loss, rising weight).

Each compound loss is a :func:`~jaxseg_losses.combine.named_sum` of library losses, built once per
set of weights (cached) and called with the options as keyword arguments: the combinator routes
each option to the terms that accept it (``smooth``, ``per_image`` and ``axis_name`` reach the
Dice term only; ``include_background`` the Dice and focal terms; ``gamma``/``alpha`` the focal
term only; ``mask``, ``ignore_index`` and ``from_logits`` every term). The functions return the
``(B,)`` total like every loss; ``return_aux=True`` returns ``(total, aux)`` with each term's
unweighted ``(B,)`` value and weight, as the combinators do.

Batch-global statistics (``per_image=False``, with ``axis_name`` inside ``shard_map``) apply to
the Dice part; the pixel-wise part is a per-example mean, which already averages correctly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxseg_losses._activations import sigmoid_cross_entropy
from jaxseg_losses._inputs import (
    MODES,
    Mode,
    boolean_options,
    check_choice,
    check_number,
    prepare,
)
from jaxseg_losses._numerics import per_example_mean
from jaxseg_losses.combine import (
    Accepts,
    CombinedLoss,
    accepted_kwargs,
    named_sum,
    scheduled,
)
from jaxseg_losses.pixelwise import binary_cross_entropy, cross_entropy, focal_loss
from jaxseg_losses.region import dice_loss, generalized_dice_loss
from jaxseg_losses.region._engine import DEFAULT_SMOOTH, aggregate

__all__ = (
    "bce_dice_loss",
    "boundary_recipe",
    "boundary_weight_schedules",
    "combo_loss",
    "dice_ce_loss",
    "dice_focal_loss",
)

SIGMOID_MODES = ("binary", "multilabel")


@functools.lru_cache(maxsize=128)
def _cached_sum(*terms: tuple) -> CombinedLoss:
    return named_sum(*terms)


def _combined(*terms: tuple) -> CombinedLoss:
    """``named_sum`` built once per distinct terms (weights that are arrays are not cached)."""
    try:
        return _cached_sum(*terms)
    except TypeError:  # an unhashable weight (a jax array): build it for this call
        return named_sum(*terms)


DICE_ACTIVATIONS = ("softmax", "sigmoid", "none")


def _dice_term(activation: str | None) -> Callable[..., jax.Array]:
    """The Dice term of a recipe; with ``activation`` (MONAI's ``DiceLoss`` flags) it applies its
    own activation whatever ``mode`` the pixel-wise term gets: ``"softmax"``
    (``mode="multiclass"``), ``"sigmoid"`` (``"binary"``/``"multilabel"``) or ``"none"`` (the
    predictions are probabilities for the Dice term, ``from_logits=False``). With
    ``from_logits=False`` (probabilities for every term) no activation is applied and
    ``"softmax"``/``"sigmoid"`` only choose the Dice term's mode."""
    if activation is None:
        return dice_loss
    check_choice("dice_activation", activation, DICE_ACTIVATIONS)
    return _activated_dice(activation)


@functools.cache
def _activated_dice(activation: str) -> Callable[..., jax.Array]:
    """One Dice term per activation, so the recipes' cached combinations stay cached."""

    def dice_term(predictions, labels, *, mode: Mode = "multiclass", from_logits: bool = True,
                  **options) -> jax.Array:
        if activation == "softmax":
            mode = "multiclass"
        elif activation == "sigmoid":
            channels = jnp.shape(predictions)[-1] if jnp.ndim(predictions) else 0
            mode = "binary" if channels == 1 else "multilabel"
        else:
            from_logits = False
        return dice_loss(predictions, labels, mode=mode, from_logits=from_logits, **options)

    dice_term.accepted_kwargs = accepted_kwargs(dice_loss)
    return dice_term


def _check_weights(**weights) -> None:
    """The recipes' term weights: finite and >= 0, named by their option."""
    for name, value in weights.items():
        check_number(name, value)


def _finish(loss: CombinedLoss, predictions, labels, return_aux: bool, **options: Any):
    total, aux = loss(predictions, labels, **options)
    return (total, aux) if return_aux else total


@boolean_options
def bce_dice_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "binary",
    from_logits: bool = True,
    bce_weight: float = 1.0,
    dice_weight: float = 1.0,
    pos_weight: jax.typing.ArrayLike | None = None,
    smooth: float | tuple[float, float] = DEFAULT_SMOOTH,
    include_background: bool = True,
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
    return_aux: bool = False,
):
    r"""BCE + Dice, the common sigmoid objective (Kaggle Carvana, nnU-Net's "DC_and_CE").

    .. math::
        L = w_{\text{bce}}\,\mathrm{BCE}(z, y) + w_{\text{dice}}\,\mathrm{DiceLoss}(\sigma(z), y)

    with :func:`~jaxseg_losses.binary_cross_entropy` (mean over valid pixels and channels) and
    :func:`~jaxseg_losses.dice_loss` in the same sigmoid ``mode``. Aux names: ``"bce"``,
    ``"dice"``.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
      labels: integer ``(B, *spatial)`` or dense ``(B, *spatial, C)`` labels.
      mode: ``"binary"`` (default, ``C == 1``) or ``"multilabel"`` (sigmoid per channel).
      from_logits: whether ``predictions`` are logits. Default ``True``.
      bce_weight, dice_weight: term weights. Default 1 and 1.
      pos_weight: BCE positive-class weight (scalar or ``(C,)``). Default ``None``.
      smooth, include_background, per_image, axis_name: Dice options (see
        :func:`~jaxseg_losses.dice_loss`); ``smooth`` default ``1e-5``.
      mask, ignore_index: pixels excluded from both terms.
      return_aux: also return the aux dict. Default ``False``.

    Returns:
      ``(B,)`` float32 losses (``(total, aux)`` with ``return_aux``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.recipes import bce_dice_loss
      >>> labels = jnp.array([[[1, 0], [0, 0]]])
      >>> logits = jnp.zeros((1, 2, 2, 1))  # p = 0.5: BCE log 2, Dice 1 - 2 * 0.5 / 3
      >>> bce_dice_loss(logits, labels, smooth=0.0)
      Array([1.3598138], dtype=float32)
    """
    check_choice("mode", mode, SIGMOID_MODES)
    _check_weights(bce_weight=bce_weight, dice_weight=dice_weight)
    loss = _combined(("bce", binary_cross_entropy, bce_weight), ("dice", dice_loss, dice_weight))
    return _finish(
        loss, predictions, labels, return_aux, mode=mode, from_logits=from_logits,
        pos_weight=pos_weight, smooth=smooth, include_background=include_background,
        per_image=per_image, axis_name=axis_name, mask=mask, ignore_index=ignore_index,
    )


@boolean_options
def dice_ce_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    dice_weight: float = 1.0,
    ce_weight: float = 1.0,
    smooth: float | tuple[float, float] = DEFAULT_SMOOTH,
    squared: bool = False,
    include_background: bool = True,
    class_weights: jax.typing.ArrayLike | None = None,
    label_smoothing: float = 0.0,
    dice_activation: str | None = None,
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
    return_aux: bool = False,
):
    r"""Dice + cross-entropy, MONAI's ``DiceCELoss`` (nnU-Net's default objective).

    .. math::
        L = w_{\text{dice}}\,\mathrm{DiceLoss} + w_{\text{ce}}\,\mathrm{CE}

    ``mode="multiclass"``: softmax Dice and :func:`~jaxseg_losses.cross_entropy`;
    ``"binary"``/``"multilabel"``: sigmoid Dice and
    :func:`~jaxseg_losses.binary_cross_entropy`. ``include_background``, ``smooth``, ``squared``,
    ``per_image`` and ``axis_name`` apply to the Dice term; ``class_weights`` to the Dice term
    (weighted class mean) and to the CE (multiclass: PyTorch's weighted mean, per example;
    binary: the BCE ``pos_weight``, as MONAI; multilabel: Dice only); ``label_smoothing`` to the
    CE (multiclass only).

    Matches MONAI ``DiceCELoss(to_onehot_y=True, softmax=True, smooth_nr=s, smooth_dr=s,
    lambda_dice=w_dice, lambda_ce=w_ce, batch=not per_image, include_background=...,
    squared_pred=squared)`` (and ``sigmoid=True`` with ``C == 1``): MONAI's scalar is the
    ``.mean()`` of this ``(B,)`` output (tested). Differences: MONAI multiplies the per-class Dice
    by ``weight`` then takes a plain mean (equal to this weighted mean when the weights average
    to 1) and normalises the weighted CE over the whole batch (this is per example); with
    ``sigmoid=True`` and ``C > 1`` MONAI still uses a softmax CE, this uses the sigmoid BCE.
    Aux names: ``"dice"``, ``"ce"``.

    ``dice_activation`` gives the Dice term its own activation, as MONAI's flags do (its CE
    always reads the input as logits): ``"softmax"``, ``"sigmoid"`` (on the logits) or ``"none"``
    (the input is taken as probabilities by the Dice term only); the CE keeps ``mode`` and
    ``from_logits``. With ``from_logits=False`` every term reads probabilities and
    ``"softmax"``/``"sigmoid"`` only choose the Dice term's mode. So MONAI's
    ``DiceCELoss(sigmoid=True)`` with ``C > 1`` is
    ``mode="multiclass", dice_activation="sigmoid"``, and ``DiceCELoss(softmax=False)`` is
    ``dice_activation="none"``. The latter on probabilities :math:`q` scores the CE of
    :math:`\mathrm{softmax}(q)` (a second softmax, MONAI's numbers); to train on probabilities
    use ``from_logits=False`` instead (both terms read :math:`q`, CE :math:`-\log q_y`).

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
      labels: integer ``(B, *spatial)`` or dense ``(B, *spatial, C)`` labels.
      mode: ``"multiclass"`` (default), ``"multilabel"`` or ``"binary"``.
      from_logits: whether ``predictions`` are logits. Default ``True``.
      dice_weight, ce_weight: term weights (MONAI's ``lambda_dice``, ``lambda_ce``). Default 1, 1.
      smooth, squared, include_background, per_image, axis_name: Dice options; ``smooth``
        default ``1e-5`` (MONAI's).
      class_weights: optional ``(C,)`` class weights for both terms. Default ``None``.
      label_smoothing: CE label smoothing (multiclass). Default 0.
      dice_activation: ``None`` (default: the Dice term follows ``mode`` and ``from_logits``),
        ``"softmax"``, ``"sigmoid"`` or ``"none"`` (see above).
      mask, ignore_index: pixels excluded from both terms.
      return_aux: also return the aux dict. Default ``False``.

    Returns:
      ``(B,)`` float32 losses (``(total, aux)`` with ``return_aux``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.recipes import dice_ce_loss
      >>> logits = jnp.zeros((1, 2, 2, 2))  # uniform: CE log 2, Dice 1 - 1/2 per class
      >>> total, aux = dice_ce_loss(logits, jnp.array([[[0, 1], [1, 0]]]), smooth=0.0,
      ...                           return_aux=True)
      >>> total
      Array([1.1931472], dtype=float32)
      >>> aux["ce"], aux["dice"]
      (Array([0.6931472], dtype=float32), Array([0.5], dtype=float32))
    """
    check_choice("mode", mode, MODES)
    options: dict[str, Any] = dict(
        mode=mode, from_logits=from_logits, smooth=smooth, squared=squared,
        include_background=include_background, class_weights=class_weights,
        per_image=per_image, axis_name=axis_name, mask=mask, ignore_index=ignore_index,
    )
    if mode == "multiclass":
        ce = cross_entropy
        options["label_smoothing"] = label_smoothing
    else:
        if label_smoothing:
            raise ValueError("label_smoothing: only used with mode='multiclass'")
        ce = binary_cross_entropy
        if mode == "binary":  # MONAI gives its BCEWithLogitsLoss the weight as pos_weight
            options["pos_weight"] = class_weights
    _check_weights(dice_weight=dice_weight, ce_weight=ce_weight)
    loss = _combined(("dice", _dice_term(dice_activation), dice_weight), ("ce", ce, ce_weight))
    return _finish(loss, predictions, labels, return_aux, **options)


@boolean_options
def dice_focal_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    dice_weight: float = 1.0,
    focal_weight: float = 1.0,
    gamma: float = 2.0,
    alpha: jax.typing.ArrayLike | None = None,
    smooth: float | tuple[float, float] = DEFAULT_SMOOTH,
    include_background: bool = True,
    class_weights: jax.typing.ArrayLike | None = None,
    dice_activation: str | None = None,
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
    return_aux: bool = False,
):
    r"""Dice + focal loss (AnatomyNet, Zhu et al. 2019: :math:`L_{Dice} + \lambda L_{Focal}`).

    .. math::
        L = w_{\text{dice}}\,\mathrm{DiceLoss}(p, y) + w_{\text{focal}}\,\mathrm{Focal}(p, y)

    The focal term uses the activation of ``mode``: the **softmax** focal loss
    :math:`-\sum_c y_c (1-p_c)^\gamma \log p_c` when ``mode="multiclass"``, the sigmoid focal loss
    otherwise (see :func:`~jaxseg_losses.focal_loss`). MONAI's ``DiceFocalLoss(softmax=True)``
    applies the softmax to its Dice part only and gives its focal part the raw logits with the
    *sigmoid* focal loss; this function does not do that by default, but ``dice_activation``
    (as in :func:`dice_ce_loss`: the Dice term's own ``"softmax"``, ``"sigmoid"`` or ``"none"``,
    the focal term keeping ``mode``) reproduces it: ``mode="multilabel",
    dice_activation="softmax"`` (softmax Dice, one-vs-rest sigmoid focal on the integer
    labels' one-hot channels). The AnatomyNet paper's
    :math:`\lambda` could not be re-checked; the default weights are 1 and 1 (as SegLoss's
    ``DC_and_Focal_loss``). ``gamma``, ``alpha`` go to the focal term; ``smooth``,
    ``per_image``, ``axis_name`` to the Dice term; ``include_background`` and ``class_weights``
    to both (as MONAI's ``DiceFocalLoss`` passes ``include_background`` and ``weight`` to both
    parts; the focal term reads ``class_weights`` as :func:`~jaxseg_losses.focal_loss` does).
    Aux names: ``"dice"``, ``"focal"``.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
      labels: integer ``(B, *spatial)`` or dense ``(B, *spatial, C)`` labels.
      mode: ``"multiclass"`` (default), ``"multilabel"`` or ``"binary"``.
      from_logits: whether ``predictions`` are logits. Default ``True``.
      dice_weight, focal_weight: term weights. Default 1 and 1.
      gamma: focusing exponent. Default 2.
      alpha: focal class balance (see :func:`~jaxseg_losses.focal_loss`). Default ``None``.
      smooth, per_image, axis_name: Dice options.
      include_background, class_weights: options of both terms.
      dice_activation: ``None`` (default: the Dice term follows ``mode`` and ``from_logits``),
        ``"softmax"``, ``"sigmoid"`` or ``"none"``.
      mask, ignore_index: pixels excluded from both terms.
      return_aux: also return the aux dict. Default ``False``.

    Returns:
      ``(B,)`` float32 losses (``(total, aux)`` with ``return_aux``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.recipes import dice_focal_loss
      >>> logits = jnp.zeros((1, 2, 2, 2))  # p = 1/2: focal 0.25 log 2, Dice 1/2
      >>> dice_focal_loss(logits, jnp.array([[[0, 1], [1, 0]]]), smooth=0.0)
      Array([0.6732868], dtype=float32)
    """
    check_choice("mode", mode, MODES)
    _check_weights(dice_weight=dice_weight, focal_weight=focal_weight)
    loss = _combined(
        ("dice", _dice_term(dice_activation), dice_weight), ("focal", focal_loss, focal_weight)
    )
    return _finish(
        loss, predictions, labels, return_aux, mode=mode, from_logits=from_logits,
        gamma=gamma, alpha=alpha, smooth=smooth, include_background=include_background,
        class_weights=class_weights, per_image=per_image, axis_name=axis_name, mask=mask,
        ignore_index=ignore_index,
    )


def _combo_cross_entropy(
    predictions, labels, *, beta: float, mode: Mode, from_logits: bool, mask, ignore_index
) -> jax.Array:
    r""":math:`-\mathrm{mean}_{x,c}[\beta y \log p + (1-\beta)(1-y)\log(1-p)]` per example."""
    prep = prepare(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index,
    )
    bce = sigmoid_cross_entropy(prep, positive_weight=beta, negative_weight=1.0 - beta)
    pixel = jnp.mean(bce, axis=-1)
    return per_example_mean(pixel, prep.valid)


def _dice_score_sum(predictions, labels, **options) -> jax.Array:
    r""":math:`\sum_k \mathrm{Dice}_k` per example (the Combo loss's region term, a score); 0
    where no pixel is scored (everything masked), so that the loss is 0 there like every loss's,
    not the perfect score."""
    per_class = dice_loss(predictions, labels, reduction="class", **options)
    prep = prepare(
        predictions, labels, mode=options.get("mode", "binary"),
        from_logits=options.get("from_logits", True), mask=options.get("mask"),
        ignore_index=options.get("ignore_index"),
    )
    count = aggregate(prep.valid[..., None], options.get("per_image", True),
                      options.get("axis_name"))[:, 0]  # (B,) or (1,) batch-global
    return jnp.where(count == 0, 0.0, jnp.sum(1.0 - per_class, axis=-1))  # NaN stays NaN


_dice_score_sum.accepted_kwargs = Accepts(accepted_kwargs(dice_loss).names - {"reduction"}, False)


@boolean_options
def combo_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "binary",
    from_logits: bool = True,
    alpha: float = 0.5,
    beta: float = 0.5,
    smooth: float | tuple[float, float] = 1.0,
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
    return_aux: bool = False,
):
    r"""Combo loss (Taghanaki et al., Computerized Medical Imaging and Graphics 2019), as published.

    .. math::
        L = \alpha \Big(-\frac{1}{N}\sum_i \big[\beta\, t_i \ln p_i
              + (1-\beta)(1-t_i)\ln(1-p_i)\big]\Big)
            - (1-\alpha) \sum_{k=1}^{K} \frac{2\sum_i p_i t_i + S}{\sum_i p_i + \sum_i t_i + S}

    :math:`\alpha` mixes the weighted cross-entropy and the Dice term. :math:`\beta` weighs the
    positive-label term :math:`t \ln p`, so **β > 0.5 penalises false negatives more than false
    positives** and β < 0.5 false positives more (the paper: "when β is set to a value smaller
    than 0.5, FP are penalized more than FN"; tested). The Dice term is a *score* subtracted with
    no "1 −", as in the paper: the loss is negative at good predictions, about
    :math:`-(1-\alpha)K` at a perfect one.

    Follows the paper, not the reference code (``asgsaeid/ComboLoss``), whose current version
    writes the background term as :math:`+(1-\beta)(1-t)\ln(1-p)`, a sign error that rewards
    predicting 1 on background pixels. Defaults are the reference's: α = β = 0.5, S = 1.
    The mean :math:`1/N` runs over the valid pixels and the ``K`` channels (sigmoid modes); in
    ``mode="multiclass"`` the same one-vs-rest terms use the softmax probabilities. The Dice
    scores are per example (``per_image=True``) or batch-global like the reference, which
    flattens the whole batch (``per_image=False``, ``axis_name`` in ``shard_map``). Built as
    ``named_sum(("wce", ·, α), ("dice_score", ·, −(1−α)))``; ``aux["dice_score"]`` is
    :math:`\sum_k \mathrm{Dice}_k`.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``,
        clipped to ``[1e-7, 1 - 1e-7]`` in the logs, the reference's ``K.epsilon()``).
      labels: integer ``(B, *spatial)`` or dense ``(B, *spatial, C)`` labels.
      mode: ``"binary"`` (default), ``"multilabel"`` or ``"multiclass"``.
      from_logits: whether ``predictions`` are logits. Default ``True``.
      alpha: weight of the cross-entropy, :math:`1-\alpha` of the Dice term, in [0, 1]. Default 0.5.
      beta: weight of the positive-label term, in [0, 1]. Default 0.5.
      smooth: :math:`S`, in the Dice numerator and denominator. Default 1.
      per_image, axis_name: Dice statistics per example or batch-global.
      mask, ignore_index: pixels excluded from both terms.
      return_aux: also return the aux dict. Default ``False``.

    Returns:
      ``(B,)`` float32 losses, negative at good predictions (``(total, aux)`` with ``return_aux``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.recipes import combo_loss
      >>> labels = jnp.array([[[1, 0], [0, 0]]])
      >>> probs = jnp.array([[[[1.0], [0.0]], [[0.0], [0.0]]]])  # perfect
      >>> combo_loss(probs, labels, from_logits=False)  # about -(1 - alpha) = -0.5
      Array([-0.5], dtype=float32)
    """
    check_choice("mode", mode, MODES)
    for name, value in (("alpha", alpha), ("beta", beta)):
        check_number(name, value, high=1.0)
    loss = _combined(
        ("wce", _combo_cross_entropy, alpha),
        ("dice_score", _dice_score_sum, -(1.0 - alpha)),
    )
    return _finish(
        loss, predictions, labels, return_aux, mode=mode, from_logits=from_logits, beta=beta,
        smooth=smooth, per_image=per_image, axis_name=axis_name, mask=mask,
        ignore_index=ignore_index,
    )


@boolean_options
def boundary_recipe(
    *,
    variant: str = "code",
    steps_per_epoch: int = 1,
    rate: float = 0.01,
    region_loss: Callable[..., jax.Array] | None = None,
    boundary: Callable[..., jax.Array] | None = None,
    boundary_include_background: bool = False,
) -> CombinedLoss:
    r"""Kervadec et al.'s recipe: generalized Dice + boundary loss with a rising boundary weight.

    .. math::
        L(t) = w_{\text{region}}(t)\, L_{GD} + w_{\text{boundary}}(t)\, L_B

    with the weights of :func:`boundary_weight_schedules` (``variant``
    ``"code"``: the authors' ``StealWeight`` schedule, region
    :math:`\max(0.1, 1 - 0.01e)`, boundary :math:`0.01(e+1)`; ``"paper"``:
    :math:`\alpha L_{GD} + (1-\alpha) L_B`). As in the authors' ISLES/WMH setup the generalized
    Dice covers every class and the boundary loss the foreground classes only
    (``boundary_include_background=False``).

    Args:
      variant: ``"code"`` (default) or ``"paper"`` schedule.
      steps_per_epoch: optimiser steps per epoch (the weights move once per epoch). Default 1.
      rate: weight moved per epoch. Default 0.01.
      region_loss: the region term. Default :func:`~jaxseg_losses.generalized_dice_loss`.
      boundary: the boundary term. Default :func:`jaxseg_losses.boundary.boundary_loss`.
      boundary_include_background: keep class 0 in the boundary term. Default ``False``.

    Returns:
      A :class:`~jaxseg_losses.combine.CombinedLoss` with terms ``"region"`` and ``"boundary"``:
      call it as ``loss(predictions, labels, step=step, sampling=..., mask=...)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.recipes import boundary_recipe
      >>> loss = boundary_recipe(steps_per_epoch=100)
      >>> labels = jnp.zeros((1, 6, 6), int).at[0, 2:4, 2:4].set(1)
      >>> total, aux = loss(jnp.zeros((1, 6, 6, 2)), labels, step=250)  # epoch 2
      >>> aux["region/weight"], aux["boundary/weight"]
      (Array(0.98, dtype=float32), Array(0.03, dtype=float32))
    """
    region_schedule, boundary_schedule = boundary_weight_schedules(
        variant=variant, steps_per_epoch=steps_per_epoch, rate=rate
    )
    if boundary is None:
        from jaxseg_losses.boundary import boundary_loss as boundary
    if region_loss is None:
        region_loss = generalized_dice_loss
    options = {}
    if "include_background" in accepted_kwargs(boundary):
        options["include_background"] = boundary_include_background
    return named_sum(
        ("region", scheduled(region_loss, region_schedule)),
        ("boundary", scheduled(boundary, boundary_schedule, **options)),
    )


BOUNDARY_SCHEDULES = ("code", "paper")


def boundary_weight_schedules(
    *,
    variant: str = "code",
    steps_per_epoch: int = 1,
    rate: float = 0.01,
) -> tuple[optax.Schedule, optax.Schedule]:
    r"""Region and boundary weights of Kervadec et al.'s boundary-loss recipe, as optax schedules.

    Both are functions of the optimiser step; the epoch is
    :math:`e = \lfloor \text{step} / \text{steps\_per\_epoch} \rfloor` (the reference updates the
    weights once per epoch, so the schedules are staircases).

    ``variant="code"`` (default): the authors' code (``LIVIAETS/boundary-loss``, ISLES/WMH
    makefiles, scheduler ``StealWeight(to_steal=0.01)`` applied at the end of every epoch to the
    initial weights ``[1, 0.01]``):

    .. math::
        w_{\text{region}}(e) = \max(0.1,\ 1 - r e),\qquad
        w_{\text{boundary}}(e) = \min(1,\ r\,(e + 1))

    With :math:`r = 0.01` the boundary weight reaches 1 at epoch 99, the last of the reference's
    100 epochs; the reference does not cap it (it never trains longer), this schedule holds it at 1.

    ``variant="paper"``: the MIDL 2019 paper's :math:`\alpha L_{GD} + (1-\alpha) L_B`, with
    :math:`\alpha` starting at 1 and decreased by :math:`r` per epoch down to 0.01 (the floor of
    the Keras scheduler shipped in the same repository; the paper's floor could not be re-checked):

    .. math::
        w_{\text{region}}(e) = \max(0.01,\ 1 - r e),\qquad
        w_{\text{boundary}}(e) = 1 - w_{\text{region}}(e)

    Args:
      variant: ``"code"`` (default) or ``"paper"``.
      steps_per_epoch: optimiser steps per epoch (``> 0``). Default 1 (the step counts epochs).
      rate: the weight moved per epoch, :math:`r`. Default 0.01.

    Returns:
      ``(region_schedule, boundary_schedule)``, each ``step -> float32 weight``; jit-safe with a
      traced step, composable with ``optax.join_schedules``.

    Example:
      >>> region, boundary = boundary_weight_schedules(variant="code", steps_per_epoch=10)
      >>> [round(float(region(s)), 2) for s in (0, 9, 10, 950)]
      [1.0, 1.0, 0.99, 0.1]
      >>> [round(float(boundary(s)), 2) for s in (0, 10, 990, 5000)]
      [0.01, 0.02, 1.0, 1.0]
    """
    check_choice("variant", variant, BOUNDARY_SCHEDULES)
    if int(steps_per_epoch) != steps_per_epoch or steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch: expected a positive integer; got {steps_per_epoch}")
    if not rate > 0:
        raise ValueError(f"rate: expected a value > 0; got {rate}")
    floor = 0.1 if variant == "code" else 0.01

    def epoch(step):
        return jnp.floor_divide(jnp.asarray(step), steps_per_epoch).astype(jnp.float32)

    def region(step):
        return jnp.maximum(floor, 1.0 - rate * epoch(step))

    if variant == "code":

        def boundary(step):
            return jnp.minimum(1.0, rate * (epoch(step) + 1.0))

    else:

        def boundary(step):
            return 1.0 - region(step)

    return region, boundary
