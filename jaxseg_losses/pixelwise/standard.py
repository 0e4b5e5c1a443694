r"""Pixel-wise losses: cross-entropy, binary CE, weighted CE, focal and conservative loss.

Every loss here is a mean over valid pixels of a per-pixel loss :math:`\ell(x)`:

.. math::
    L_b = \frac{\sum_x v_b(x)\, \ell_b(x)}{\sum_x v_b(x)}

with :math:`v` the pixel weights (``mask`` times "not ``ignore_index``"). An example whose
pixels are all excluded gives 0 with a zero gradient. ``reduction="example"`` (default) returns
these ``(B,)`` values; ``reduction="pixel"`` returns the per-pixel map :math:`v\,\ell` of shape
``(B, *spatial)`` (sigmoid losses average their channels per pixel).

Choices where the peers differ (following optax, then MONAI): inputs are logits by default;
log-probabilities come from ``log_softmax`` / ``log_sigmoid`` (never ``log(softmax)``);
probabilities given with ``from_logits=False`` are clipped to ``[1e-7, 1 - 1e-7]`` before the log.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from jaxseg_losses._activations import (
    label_log_p,
    log_not_p,
    log_p,
    pixel_cross_entropy,
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
    is_concrete,
    prepare,
)
from jaxseg_losses._numerics import masked_mean, reduce_pixels, safe_divide, safe_power

__all__ = (
    "binary_cross_entropy",
    "conservative_loss",
    "cross_entropy",
    "focal_loss",
    "weighted_cross_entropy",
)

def _smooth(targets: jax.Array, label_smoothing: float, categories: int | None = None
            ) -> jax.Array:
    """``(1 - a) y + a / K`` (optax's ``smooth_labels``); ``K`` the classes of the softmax, or 2
    for each sigmoid channel (Keras' binary label smoothing)."""
    check_number("label_smoothing", label_smoothing, high=1.0)
    if is_concrete(label_smoothing) and label_smoothing == 0.0:
        return targets
    categories = targets.shape[-1] if categories is None else categories
    return targets * (1.0 - label_smoothing) + label_smoothing / categories


def _softmax_cross_entropy(
    prep: Prepared, weights: jax.Array | None, label_smoothing: float, reduction: str
) -> jax.Array:
    """Class-weighted softmax CE; ``weights`` broadcast against ``(B, *spatial, C)``."""
    if label_smoothing:  # smoothed targets are no longer one class per pixel
        prep = prep._replace(
            targets=_smooth(prep.targets, label_smoothing), class_index=None
        )
    pixel = pixel_cross_entropy(prep, weights)
    if weights is None:
        return reduce_pixels(pixel, prep.valid, reduction)
    normaliser = prep.valid * target_weight(prep, weights)
    return reduce_pixels(pixel, prep.valid, reduction, normaliser=normaliser)


def _sigmoid_cross_entropy(
    prep: Prepared, pos_weight: jax.Array | None, reduction: str, label_smoothing: float = 0.0
) -> jax.Array:
    y = _smooth(prep.targets, label_smoothing, categories=2)
    pixel = jnp.mean(sigmoid_cross_entropy(prep, targets=y, positive_weight=pos_weight), axis=-1)
    return reduce_pixels(pixel, prep.valid, reduction)


@boolean_options
def cross_entropy(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    from_logits: bool = True,
    class_weights: jax.typing.ArrayLike | None = None,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
    mask: jax.typing.ArrayLike | None = None,
    reduction: str = "example",
) -> jax.Array:
    r"""Softmax cross-entropy over the class axis, averaged over the valid pixels of each example.

    .. math::
        \ell(x) = -\sum_c w_c\, y_c(x) \log \mathrm{softmax}(z(x))_c ,\qquad
        L_b = \frac{\sum_x v(x)\,\ell(x)}{\sum_x v(x) \sum_c w_c\, y_c(x)}

    With integer labels the denominator is :math:`\sum_x v(x)\, w_{y(x)}`, PyTorch's
    ``CrossEntropyLoss(weight=w)`` normalisation, so any constant weight gives plain CE. Without
    ``class_weights`` (all :math:`w_c = 1`) it is the mean over valid pixels, equal to
    ``optax.softmax_cross_entropy_with_integer_labels(...)`` averaged over the kept pixels.
    segmentation-models-pytorch's ``SoftCrossEntropyLoss(ignore_index=i)`` divides by *all*
    pixels (the ignored ones count 0): that is ``reduction="pixel"`` followed by a mean over the
    spatial axes.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
      labels: ``(B, *spatial)`` integer class indices or ``(B, *spatial, C)`` one-hot/soft targets.
      from_logits: whether ``predictions`` are logits. Default ``True``.
      class_weights: optional ``(C,)`` non-negative class weights. Default ``None`` (all 1).
      label_smoothing: :math:`\epsilon` in :math:`y \leftarrow (1-\epsilon)y + \epsilon/C`.
        Default 0.
      ignore_index: integer label excluded from value and gradient. Default ``None``.
      mask: optional ``(B, *spatial)`` bool/float pixel weights. Default ``None``.
      reduction: ``"example"`` -> ``(B,)``; ``"pixel"`` -> ``(B, *spatial)`` weighted map.

    Returns:
      ``(B,)`` float32 losses (or the per-pixel map). An example with no valid pixel gives 0.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import cross_entropy
      >>> logits = jnp.zeros((1, 2, 2, 4))  # uniform prediction over 4 classes
      >>> labels = jnp.array([[[0, 1], [2, 3]]])
      >>> cross_entropy(logits, labels)  # log(4)
      Array([1.3862944], dtype=float32)
    """
    prep = prepare(
        predictions, labels, mode="multiclass", from_logits=from_logits,
        mask=mask, ignore_index=ignore_index,
    )
    weights = check_class_vector(class_weights, prep.num_classes, name="class_weights")
    return _softmax_cross_entropy(prep, weights, label_smoothing, reduction)


@boolean_options
def binary_cross_entropy(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    from_logits: bool = True,
    pos_weight: jax.typing.ArrayLike | None = None,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
    mask: jax.typing.ArrayLike | None = None,
    reduction: str = "example",
) -> jax.Array:
    r"""Sigmoid (binary) cross-entropy per channel, for binary and multilabel segmentation.

    .. math::
        \ell(x) = -\frac{1}{C}\sum_c \left[\beta_c\, y_c \log\sigma(z_c)
                  + (1 - y_c)\log\sigma(-z_c)\right]

    averaged over valid pixels, with :math:`\beta` = ``pos_weight`` (1 by default), as PyTorch's
    ``BCEWithLogitsLoss(pos_weight=...)``. Without ``pos_weight`` it equals
    ``optax.sigmoid_binary_cross_entropy(...).mean()`` per example.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
        ``C == 1`` is binary; ``C > 1`` independent (multilabel) channels.
      labels: ``(B, *spatial)`` integer labels (``C == 1``: values 0/1; ``C > 1``: class indices,
        one-hot encoded) or dense ``(B, *spatial, C)`` targets in [0, 1].
      from_logits: whether ``predictions`` are logits. Default ``True``.
      pos_weight: optional scalar or ``(C,)`` weight of the positive term. Default ``None``.
      label_smoothing: :math:`a \in [0, 1]`: targets :math:`(1 - a)\,y + a/2` (as Keras'
        ``BinaryCrossentropy(label_smoothing=a)`` and ``optax.smooth_labels`` with two
        categories; segmentation-models-pytorch's ``smooth_factor`` :math:`s` is
        :math:`a = 2s`). Default 0.
      ignore_index: integer label excluded from value and gradient. Default ``None``.
      mask: optional ``(B, *spatial)`` pixel weights. Default ``None``.
      reduction: ``"example"`` -> ``(B,)``; ``"pixel"`` -> ``(B, *spatial)``.

    Returns:
      ``(B,)`` float32 losses (or the per-pixel map).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import binary_cross_entropy
      >>> binary_cross_entropy(jnp.zeros((1, 3, 3, 1)), jnp.ones((1, 3, 3), int))  # log(2)
      Array([0.6931472], dtype=float32)
    """
    prep = _sigmoid_prepare(predictions, labels, from_logits, mask, ignore_index)
    weights = check_class_vector(pos_weight, prep.num_classes, name="pos_weight")
    return _sigmoid_cross_entropy(prep, weights, reduction, label_smoothing)


def _sigmoid_prepare(predictions, labels, from_logits, mask, ignore_index) -> Prepared:
    num_channels = jnp.shape(predictions)[-1] if jnp.ndim(predictions) else 0
    mode = "binary" if num_channels == 1 else "multilabel"
    return prepare(
        predictions, labels, mode=mode, from_logits=from_logits,
        mask=mask, ignore_index=ignore_index,
    )


@boolean_options
def weighted_cross_entropy(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    beta: jax.typing.ArrayLike | None = None,
    class_weights: jax.typing.ArrayLike | None = None,
    from_logits: bool = True,
    ignore_index: int | None = None,
    mask: jax.typing.ArrayLike | None = None,
    reduction: str = "example",
) -> jax.Array:
    r"""Weighted cross-entropy (WCE) for imbalanced foreground/background.

    Binary and multilabel modes (sigmoid), the WCE of the loss surveys:

    .. math::
        \ell(x) = -\left[\beta\, y \log p + (1 - y) \log(1 - p)\right]

    which is :func:`binary_cross_entropy` with ``pos_weight=beta``. With ``beta=None`` the weight
    is Sudre et al. (2017)'s :math:`\beta = (N - \sum_x y)/\sum_x y` computed per example and
    channel from the valid labels (negatives over positives, so both sides weigh the same; 1 when
    a channel has no positive pixel). :math:`\beta > 1` trades false negatives for false positives.

    Multiclass mode (softmax): :func:`cross_entropy` with ``class_weights``; with
    ``class_weights=None`` the weights are balanced per example,
    :math:`w_c = N_v / (C\, n_c)` from the valid pixel counts :math:`n_c` (absent classes have no
    pixel and no weight), so every present class contributes equally:
    :math:`L_b = \frac{1}{|\{c: n_c>0\}|}\sum_{c: n_c>0} \mathrm{mean}_{x: y=c}\,\ell(x)` for hard
    labels.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
      labels: integer ``(B, *spatial)`` or dense ``(B, *spatial, C)`` labels.
      mode: ``"multiclass"`` (default), ``"multilabel"`` or ``"binary"``.
      beta: sigmoid modes: scalar or ``(C,)`` positive-class weight; ``None`` (default) = Sudre's
        per-example ratio.
      class_weights: multiclass: ``(C,)`` class weights; ``None`` (default) = balanced per example.
      from_logits, ignore_index, mask, reduction: as in :func:`cross_entropy`.

    Returns:
      ``(B,)`` float32 losses (or the per-pixel map).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import weighted_cross_entropy
      >>> logits = jnp.zeros((1, 4, 4, 1))
      >>> labels = jnp.zeros((1, 4, 4), int).at[0, 0, 0].set(1)
      >>> weighted_cross_entropy(logits, labels, mode="binary", beta=1.0)  # plain BCE = log 2
      Array([0.693147], dtype=float32)
    """
    prep = prepare(
        predictions, labels, mode=mode, from_logits=from_logits,
        mask=mask, ignore_index=ignore_index,
    )
    num_classes = prep.num_classes
    spatial = tuple(range(1, prep.targets.ndim - 1))
    counts = jnp.sum(prep.targets * prep.valid[..., None], axis=spatial)  # (B, C)
    total = jnp.sum(prep.valid, axis=spatial)[:, None]  # (B, 1)
    expand = (slice(None),) + (None,) * len(spatial) + (slice(None),)
    if mode == "multiclass":
        if beta is not None:
            raise ValueError("beta: only for mode='binary'/'multilabel'; use class_weights")
        weights = check_class_vector(class_weights, num_classes, name="class_weights")
        if weights is None:
            weights = jax.lax.stop_gradient(safe_divide(total, num_classes * counts))[expand]
        return _softmax_cross_entropy(prep, weights, 0.0, reduction)
    if class_weights is not None:
        raise ValueError("class_weights: only used with mode='multiclass'; use beta")
    weights = check_class_vector(beta, num_classes, name="beta")
    if weights is None:
        ratio = safe_divide(total - counts, counts, fill=1.0)
        weights = jax.lax.stop_gradient(ratio)[expand]
    return _sigmoid_cross_entropy(prep, weights, reduction)


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
    y = prep.targets
    p = prepared_probabilities(prep)
    if from_logits:  # sigma(-z) = 1 - p without cancellation
        one_minus_pt = jax.nn.sigmoid(-prep.predictions) * y + p * (1.0 - y)
    else:
        one_minus_pt = (1.0 - p) * y + p * (1.0 - y)
    bce = sigmoid_cross_entropy(prep)
    focal = factor(one_minus_pt)
    terms = bce * focal
    if alpha is not None:
        a = check_class_vector(alpha, num_classes, name="alpha")
        terms = terms * (a * y + (1.0 - a) * (1.0 - y))

    def channel_mean(values):  # the (weighted) mean over the kept channels
        return jnp.mean(values, axis=-1) if weights is None else masked_mean(values, weights, -1)

    normaliser = prep.valid * channel_mean(focal) if normalized else None
    return reduce_pixels(channel_mean(terms), prep.valid, reduction, normaliser=normaliser)


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
        # (1 - p)^gamma from the probabilities: log(1 - p) would cost a (C, C) log-sum-exp.
        weighted_y = y if weights is None else y * weights
        focal = weighted_y * factor(jnp.clip(1.0 - p, 0.0, 1.0))
        terms = -focal * log_p(prep)
        if alpha_c is not None:
            terms = terms * alpha_c
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


@boolean_options
def conservative_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    strength: float = 5.0,
    base: float = math.e,
    from_logits: bool = True,
    ignore_index: int | None = None,
    mask: jax.typing.ArrayLike | None = None,
    reduction: str = "example",
) -> jax.Array:
    r"""Conservative loss (Zhu et al., "Penalizing Top Performers", ECCV 2018, Eq. 1).

    Per pixel, on the probability :math:`p_t` of the true class:

    .. math::
        CL(p_t) = \lambda\,(1 + \log_a p_t)^2 \, \log_a(-\log_a p_t)

    with :math:`\lambda` = ``strength`` (5) and :math:`a` = ``base`` (e), the paper's values. For
    soft labels it is the label-weighted sum :math:`\sum_c y_c\, CL(p_c)`; sigmoid modes use
    :math:`p` for positives and :math:`1-p` for negatives, averaged over channels.

    What the formula does (tested): :math:`CL` is positive for :math:`p_t < 1/a` (wrong and
    uncertain pixels), exactly 0 with zero slope at :math:`p_t = 1/a` (moderate pixels), negative
    for :math:`p_t > 1/a`, and decreasing on (0, 1): its gradient *never* changes sign and grows
    again as :math:`p_t \to 1` (the loss tends to :math:`-\infty`). The paper's text says the loss
    "penalizes the extreme good and bad cases while encouraging the moderate examples" through
    gradient ascent on top performers; the printed formula does this only in the sign of its
    *value* (confident pixels get a negative loss), not in the direction of its gradient. No
    reference code was released, so this implements the printed equation and bounds it: the
    inner :math:`u = -\log_a p_t` is clamped to :math:`u \ge 10^{-6}`, so pixels with
    :math:`p_t > a^{-10^{-6}}` contribute the constant :math:`\lambda (1-10^{-6})^2 \log_a 10^{-6}`
    (about -69 for the defaults) and no gradient, instead of an unbounded reward.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
      labels: integer ``(B, *spatial)`` or dense ``(B, *spatial, C)`` labels.
      mode: ``"multiclass"`` (default, softmax), ``"multilabel"`` or ``"binary"``.
      strength: :math:`\lambda > 0`. Default 5.
      base: logarithm base :math:`a > 1`. Default :math:`e`.
      from_logits, ignore_index, mask, reduction: as in :func:`cross_entropy`.

    Returns:
      ``(B,)`` float32 losses (or the per-pixel map); negative values are expected.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import conservative_loss
      >>> p = jnp.full((1, 1, 1, 1), 0.5)  # p_t = 0.5 > 1/e: a small negative loss
      >>> conservative_loss(p, jnp.ones((1, 1, 1), int), mode="binary", from_logits=False)
      Array([-0.1725518], dtype=float32)
    """
    check_number("base", base, low=1.0, strict=True)  # a logarithm base
    check_number("strength", strength, strict=True)
    prep = prepare(
        predictions, labels, mode=mode, from_logits=from_logits,
        mask=mask, ignore_index=ignore_index,
    )
    log_a = math.log(base)

    def per_probability(log_prob: jax.Array) -> jax.Array:
        u = jnp.maximum(-log_prob / log_a, 1e-6)
        return strength * (1.0 - u) ** 2 * jnp.log(u) / log_a

    y = prep.targets
    log_pt = label_log_p(prep)
    if log_pt is not None:  # integer labels: only the labelled class has a term
        pixel = per_probability(log_pt)
    elif mode == "multiclass":
        pixel = jnp.sum(y * per_probability(log_p(prep)), axis=-1)
    else:
        terms = y * per_probability(log_p(prep)) + (1.0 - y) * per_probability(log_not_p(prep))
        pixel = jnp.mean(terms, axis=-1)
    return reduce_pixels(pixel, prep.valid, reduction)
