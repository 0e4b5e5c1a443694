r"""The focal loss (Lin et al., ICCV 2017): the cross-entropy scaled by :math:`(1 - p_t)^\gamma`,
softmax or sigmoid, with the class balance :math:`\alpha` and the reduced focal loss's threshold.

Conventions of the pixel-wise family: :mod:`jaxseg_losses.pixelwise`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxseg_losses._activations import (
    label_log_p,
    log_p,
    prepared_probabilities,
    sigmoid_cross_entropy,
    target_weight,
)
from jaxseg_losses._inputs import (
    Mode,
    Prepared,
    boolean_options,
    check_class_vector,
    check_number,
    prepare,
)
from jaxseg_losses._numerics import masked_mean, per_platform, reduce_pixels, safe_power

__all__ = ("focal_loss",)


@boolean_options
def focal_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    gamma: float = 2.0,
    alpha: jax.typing.ArrayLike | None = None,
    include_background: bool = True,
    class_weights: jax.typing.ArrayLike | None = None,
    normalized: bool = False,
    reduced_threshold: float | None = None,
    from_logits: bool = True,
    ignore_index: int | None = None,
    mask: jax.typing.ArrayLike | None = None,
    reduction: str = "example",
) -> jax.Array:
    r"""Focal loss (Lin et al., ICCV 2017), sigmoid and softmax forms.

    Sigmoid form (``mode="binary"`` / ``"multilabel"``), per channel, averaged over channels:

    .. math::
        \ell = -\sum_c \omega_c\, \alpha_t (1 - p_t)^\gamma \log p_t ,\quad
        p_t = p\,y + (1-p)(1-y),\quad \alpha_t = \alpha y + (1-\alpha)(1-y)

    (written as :math:`(1-p_t)^\gamma \cdot \mathrm{BCE}` so soft labels work, as optax), with
    channel weights :math:`\omega_c = w_c / \sum_{k} w_k` over the kept channels (``1/C`` without
    ``class_weights``). With ``gamma=2, alpha=None`` it equals
    ``optax.sigmoid_focal_loss(...).mean()`` and MONAI's ``FocalLoss()``.

    Softmax form (``mode="multiclass"``), summed over classes per pixel:

    .. math::
        \ell = -\sum_c w_c\,\alpha_c\, y_c (1 - p_c)^\gamma \log p_c ,\qquad
        L_b = \frac{\sum_x v\,\ell}{\sum_x v \sum_c w_c\, y_c}

    The denominator is PyTorch's ``CrossEntropyLoss(weight=w)`` normalisation (so
    ``gamma=0`` gives :func:`cross_entropy` with the same ``class_weights``); without
    ``class_weights`` and with the background kept it is the valid-pixel count. ``alpha`` is not
    normalised: a scalar ``alpha`` means :math:`\alpha_0 = 1-\alpha` for the background class 0
    and :math:`\alpha` for the others (MONAI's convention); a vector is one factor per class,
    which is what MONAI's ``FocalLoss(use_softmax=True)`` does with either its ``alpha`` or its
    ``weight`` vector. MONAI averages over classes *and* pixels, so its value is ours divided
    by ``C``. With ``gamma=0, alpha=None`` the softmax form is :func:`cross_entropy`.

    ``normalized=True`` (segmentation-models-pytorch's option; the normalised focal loss of
    Sofiiuk et al., AdaptIS, arXiv 1909.07829) divides by the sum of the focal factors
    :math:`f` instead of the pixel count: :math:`L_b = \sum_x v\,\ell / \sum_x v \sum_c
    \omega_c f_c` (sigmoid) or :math:`\sum_x v\,\ell / \sum_x v \sum_c w_c\,y_c f_c`
    (softmax), so the loss keeps the scale of the cross-entropy while the factors shrink.
    :math:`\alpha` is not in the normaliser, and the normaliser is differentiated, both as smp;
    where every factor is 0 (a perfect prediction) the loss is 0 (smp clamps the normaliser at
    ``eps=1e-6``). ``gamma=0`` makes it the plain loss. smp's value equals this with its
    ``reduction="sum"`` on one example (its ``"mean"`` divides once more by the element count,
    and its ``FocalLoss`` class normalises each channel over the whole batch).

    ``reduced_threshold`` :math:`t_h` (Reduced Focal Loss, Sergievskiy & Ponamarev 2018, arXiv
    1903.01347; smp's option of the same name): the factor is 1 (plain cross-entropy) where
    :math:`p_t < t_h` and :math:`((1-p_t)/t_h)^\gamma` elsewhere, as smp writes it (the factor
    is continuous at :math:`p_t = t_h` only for :math:`t_h = 1/2`). It combines with
    ``normalized`` (the reduced factors are summed).

    ``include_background=False`` drops class 0 after the softmax (its probability still counts
    in the other classes' softmax, as in the region losses): sigmoid form, channel 0 leaves the
    channel mean (MONAI ``FocalLoss(include_background=False)``); softmax form, class 0 gets
    weight :math:`w_0 = 0`, so background pixels leave the sum and the denominator (MONAI drops
    the channel *before* its softmax instead; see the "coming from" page). No effect when
    ``C == 1``.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
      labels: integer ``(B, *spatial)`` or dense ``(B, *spatial, C)`` labels.
      mode: ``"multiclass"`` (default, softmax), ``"multilabel"`` or ``"binary"`` (sigmoid).
      gamma: focusing exponent :math:`\gamma \ge 0`. Default 2.
      alpha: ``None`` (default, no balancing), a scalar in [0, 1] or a ``(C,)`` vector.
      include_background: ``False`` drops class 0 (see above). Default ``True``.
      class_weights: optional ``(C,)`` non-negative weights :math:`w_c` of a normalised class
        mean (see above): the sigmoid form's weighted channel mean (segmentation-models-pytorch
        ``FocalLoss(class_weights=w)``; MONAI's ``FocalLoss(weight=w)`` is this times
        :math:`\mathrm{mean}(w)`), the softmax form's weighted pixel mean. Default ``None``.
      normalized: divide by the sum of the focal factors (see above); per example, so not with
        ``reduction="pixel"`` (``ValueError``). Default ``False``.
      reduced_threshold: :math:`t_h \in (0, 1]` of the reduced focal loss, or ``None``
        (default, the plain focal factor).
      from_logits, ignore_index, mask, reduction: as in :func:`cross_entropy`.

    Returns:
      ``(B,)`` float32 losses (or the per-pixel map). An example with no valid pixel (or,
      softmax form, none of a kept class with a non-zero weight) gives 0.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import focal_loss
      >>> # p_t = 0.5, gamma = 2: 0.25 * log 2
      >>> focal_loss(jnp.zeros((1, 2, 2, 1)), jnp.ones((1, 2, 2), int), mode="binary")
      Array([0.1732868], dtype=float32)
    """
    check_number("gamma", gamma)
    if reduced_threshold is not None:
        check_number("reduced_threshold", reduced_threshold, high=1.0, strict=True)
    if normalized and reduction == "pixel":
        raise ValueError("normalized=True divides by the focal factors summed over each example: "
                         "it has no per-pixel map; use reduction='example'")
    prep = prepare(
        predictions, labels, mode=mode, from_logits=from_logits,
        mask=mask, ignore_index=ignore_index,
    )
    num_classes = prep.num_classes
    weights = check_class_vector(class_weights, num_classes, name="class_weights")
    if not include_background and num_classes > 1:
        weights = jnp.ones((num_classes,)) if weights is None else weights
        weights = weights.at[0].set(0.0)
    factor = functools.partial(_focal_factor, gamma=gamma, reduced_threshold=reduced_threshold)
    if mode == "multiclass":
        alpha_c = _softmax_alpha(alpha, num_classes)
        return _softmax_focal(prep, factor, alpha_c, weights, normalized, reduction)
    a = None if alpha is None else check_class_vector(alpha, num_classes, name="alpha")

    def channel_mean(values):  # the (weighted) mean over the kept channels
        return jnp.mean(values, axis=-1) if weights is None else masked_mean(values, weights, -1)

    def pixel_terms(predictions):
        with_preds = prep._replace(predictions=predictions)
        y = prep.targets
        p = prepared_probabilities(with_preds)
        if from_logits:  # sigma(-z) = 1 - p without cancellation
            one_minus_pt = jax.nn.sigmoid(-predictions) * y + p * (1.0 - y)
        else:
            one_minus_pt = (1.0 - p) * y + p * (1.0 - y)
        focal = factor(one_minus_pt)
        terms = sigmoid_cross_entropy(with_preds) * focal
        if a is not None:
            terms = terms * (a * y + (1.0 - a) * (1.0 - y))
        return channel_mean(terms), channel_mean(focal) if normalized else None

    # On GPUs the backward pass recomputes the per-pixel terms from the logits instead of
    # keeping three arrays of their size (issue 29: 3.09x -> 1.09x the logits of multilabel
    # focal on an H100 at (2, 96, 96, 96, 14)). XLA:CPU keeps them (1.1-1.25x faster there),
    # and XLA:TPU too (it needs no temporaries for them; with the recomputation, 2.7x).
    terms, focal = per_platform(prep.predictions, cpu=pixel_terms, tpu=pixel_terms,
                                accelerator=jax.checkpoint(pixel_terms))
    normaliser = prep.valid * focal if normalized else None
    return reduce_pixels(terms, prep.valid, reduction, normaliser=normaliser)


def _focal_factor(one_minus_pt: jax.Array, gamma, reduced_threshold) -> jax.Array:
    """:math:`(1 - p_t)^\\gamma`, or the reduced focal factor: 1 where :math:`p_t < t_h`,
    :math:`((1 - p_t)/t_h)^\\gamma` elsewhere (NaN stays NaN)."""
    factor = safe_power(one_minus_pt, gamma)
    if reduced_threshold is None:
        return factor
    return jnp.where(one_minus_pt > 1.0 - reduced_threshold, 1.0,
                     factor / reduced_threshold ** gamma)


def _softmax_focal(
    prep: Prepared, factor, alpha_c: jax.Array | None, weights: jax.Array | None,
    normalized: bool, reduction: str,
) -> jax.Array:
    """The softmax focal loss; ``weights`` normalise as :func:`_softmax_cross_entropy`,
    ``normalized`` divides by the (weighted) focal factors of the labels instead."""
    log_pt = label_log_p(prep)
    if log_pt is not None:  # integer labels: only the labelled class has a term
        focal = factor(-jnp.expm1(log_pt))
        pixel = -focal * log_pt
        if alpha_c is not None:
            pixel = pixel * target_weight(prep, alpha_c)
        norm = None
        if weights is not None:
            norm = target_weight(prep, weights)
            pixel, focal = pixel * norm, focal * norm
    else:
        y = prep.targets
        p = prepared_probabilities(prep)
        per_class = (1,) * (y.ndim - 1) + (-1,)  # a (C,) vector against (B, *spatial, C)
        # (1 - p)^gamma from the probabilities: log(1 - p) would cost a (C, C) log-sum-exp.
        weighted_y = y if weights is None else y * weights.reshape(per_class)
        focal = weighted_y * factor(jnp.clip(1.0 - p, 0.0, 1.0))
        terms = -focal * log_p(prep)
        if alpha_c is not None:
            terms = terms * alpha_c.reshape(per_class)
        pixel, focal = jnp.sum(terms, axis=-1), jnp.sum(focal, axis=-1)
        norm = None if weights is None else target_weight(prep, weights)
    if normalized:
        norm = focal
    normaliser = None if norm is None else prep.valid * norm
    return reduce_pixels(pixel, prep.valid, reduction, normaliser=normaliser)


def _softmax_alpha(alpha, num_classes: int) -> jax.Array | None:
    if alpha is None:
        return None
    a = jnp.asarray(alpha, jnp.float32)
    if a.ndim == 0:
        check_number("alpha", a, high=1.0)
        return jnp.full((num_classes,), a).at[0].set(1.0 - a)
    return check_class_vector(a, num_classes, name="alpha")
