r"""The cross-entropy family: cross-entropy, binary and class-weighted cross-entropy, top-k (hard
pixel mining), Poly-1 cross-entropy and the conservative loss.

The conventions of the pixel-wise family (per-pixel loss, pixel weights, reductions) are in
:mod:`jaxseg_losses.pixelwise`. The per-pixel softmax and sigmoid cross-entropies are
``pixel_cross_entropy`` and ``sigmoid_cross_entropy`` of the private activations module.
"""

from __future__ import annotations

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
    renamed_options,
)
from jaxseg_losses._numerics import masked_mean, reduce_pixels, safe_divide

__all__ = (
    "binary_cross_entropy",
    "conservative_loss",
    "cross_entropy",
    "poly_cross_entropy",
    "topk_cross_entropy",
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


def _pixel_cross_entropy(prep: Prepared) -> jax.Array:
    """``(B, *spatial)`` CE (softmax) or channel-mean BCE (sigmoid)."""
    if prep.mode == "multiclass":
        return pixel_cross_entropy(prep)
    return jnp.mean(sigmoid_cross_entropy(prep), axis=-1)


@boolean_options
def topk_cross_entropy(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    k: float = 10.0,
    per_image: bool = True,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Top-k cross-entropy: the mean CE of the k% hardest valid pixels (Wu et al. 2016, "Bridging
    category-level and instance-level semantic image segmentation"; SegLoss ``TopKLoss``).

    .. math::
        L_b = \frac{\sum_{x \in H_b} v(x)\,\ell(x)}{\sum_{x \in H_b} v(x)},\qquad
        |H_b| = \left\lceil \tfrac{k}{100}\, n_b \right\rceil

    where :math:`\ell` is the per-pixel cross-entropy, :math:`n_b` the number of valid pixels
    (weight :math:`v > 0`) of example :math:`b` and :math:`H_b` the :math:`|H_b|` valid pixels
    with the largest :math:`\ell`; pixels tied at the threshold share the remaining places
    equally (the value is the same as for any choice among them with a binary mask). Static
    shapes under ``jit``: the :math:`|H_b|`-th largest loss is found by bisection over its
    float32 bits (no sort), so masks and ``ignore_index`` are respected without data-dependent
    shapes. The gradient flows to the kept pixels only. ``k=10`` (percent) is SegLoss's default;
    ``k=100`` is the plain CE.
    SegLoss pools the pixels of the whole batch (``per_image=False`` here) and floors the count,
    which gives an empty selection (NaN) for tiny inputs; the ceiling keeps at least one pixel.

    Empty masks: an example with no valid pixel gives 0 with zero gradient.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
      labels: ``(B, *spatial)`` integer class indices or ``(B, *spatial, C)`` one-hot/soft targets.
      mode: ``"multiclass"`` (default, softmax CE), ``"multilabel"`` or ``"binary"`` (BCE).
      from_logits: whether ``predictions`` are logits. Default ``True``.
      k: percentage of the valid pixels kept, in (0, 100]. Default 10.
      per_image: ``True`` (default): the hardest pixels of each example; ``False``: of the whole
        batch (the value is repeated over the batch).
      mask: optional ``(B, *spatial)`` pixel weights; pixels with weight 0 are never selected,
        selected pixels are averaged with their weights. Default ``None``.
      ignore_index: integer label excluded from value and gradient. Default ``None``.

    Returns:
      ``(B,)`` float32 losses.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.pixelwise import topk_cross_entropy
      >>> probs = jnp.array([[[[0.9], [0.6]], [[0.3], [0.5]]]])  # p of the foreground
      >>> labels = jnp.ones((1, 2, 2), int)
      >>> # the 50% hardest of 4 pixels: p = 0.3 and 0.5; -(log 0.3 + log 0.5) / 2
      >>> topk_cross_entropy(probs, labels, mode="binary", from_logits=False, k=50)
      Array([0.94856], dtype=float32)
    """
    check_number("k", k, strict=True, high=100.0)  # a percentage
    prep = prepare(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index,
    )
    batch = prep.predictions.shape[0]
    rows = batch if per_image else 1
    pixel = _pixel_cross_entropy(prep).reshape(rows, -1)
    weight = prep.valid.reshape(rows, -1)
    candidate = weight > 0
    n = jnp.sum(candidate, axis=-1, keepdims=True).astype(jnp.float32)
    # (1 - 1e-6) absorbs float rounding of exact products such as 100 * 10 / 100.
    count = jnp.minimum(jnp.ceil(n * (k / 100.0) * (1.0 - 1e-6)), n)
    key = _order_key(pixel, candidate)
    threshold = _kth_largest_key(key, count)
    above, tie = key > threshold, key == threshold
    # The pixels tied at the threshold share the remaining places equally.
    tie_share = safe_divide(
        count - jnp.sum(above, axis=-1, keepdims=True).astype(jnp.float32),
        jnp.sum(tie, axis=-1, keepdims=True).astype(jnp.float32),
    )
    w = weight * jnp.where(above, 1.0, jnp.where(tie, tie_share, 0.0))
    loss = masked_mean(pixel, w, axis=-1)
    return jnp.broadcast_to(loss, (batch,))


def _order_key(pixel: jax.Array, candidate: jax.Array) -> jax.Array:
    """int32 keys ordered like the (non-negative) losses; -1 for pixels never selected.

    The bit pattern of a float32 >= 0 read as int32 is monotone in its value."""
    value = jnp.maximum(jax.lax.stop_gradient(pixel), 0.0)  # CE >= 0 up to rounding
    return jnp.where(candidate, jax.lax.bitcast_convert_type(value, jnp.int32), -1)


def _kth_largest_key(key: jax.Array, count: jax.Array) -> jax.Array:
    """Per row, the largest ``t`` with ``#{key >= t} >= count``: the ``count``-th largest key.

    Bisection over the 31 value bits (32 counting passes): static shapes and about 10x faster
    than a full sort of every row on XLA:CPU (benchmarks/loss_revisions.py)."""

    count = count.astype(jnp.int32)  # a whole number of pixels

    def step(_, bounds):
        low, high = bounds  # #{key >= low} >= count > #{key >= high}
        middle = low + (high - low) // 2
        enough = jnp.sum(key >= middle, axis=-1, keepdims=True) >= count
        return jnp.where(enough, middle, low), jnp.where(enough, high, middle)

    low = jnp.zeros(count.shape, jnp.int32)
    high = jnp.max(key, axis=-1, keepdims=True) + 1
    low, _ = jax.lax.fori_loop(0, 32, step, (low, high))
    return low


@renamed_options(epsilon="poly_epsilon")
@boolean_options
def poly_cross_entropy(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    poly_epsilon: float = 2.0,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
    reduction: str = "example",
) -> jax.Array:
    r"""Poly-1 cross-entropy (Leng et al., "PolyLoss", ICLR 2022), averaged over valid pixels.

    .. math::
        \ell(x) = \mathrm{CE}(x) + \epsilon\,\sum_c y_c\,(1 - p_c)

    (softmax; :math:`\sum_c y_c(1-p_c) = 1 - p_t` for one-hot targets). Sigmoid modes use the
    per-channel BCE plus :math:`\epsilon(1 - p_t)`, :math:`p_t = y p + (1-y)(1-p)`, averaged over
    channels. Per pixel it equals ``optax.losses.poly_loss_cross_entropy(logits, labels,
    epsilon=poly_epsilon)``; its default ``poly_epsilon=2`` (the paper's ImageNet value) is kept;
    the paper uses :math:`\epsilon = -1` for detection/instance segmentation.
    :math:`\epsilon \ge -1` keeps the loss non-negative (:math:`-\log p_t \ge 1 - p_t`);
    ``poly_epsilon=0`` is the plain CE.

    Empty masks: an example with no valid pixel gives 0 with zero gradient.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
      labels: ``(B, *spatial)`` integer class indices or ``(B, *spatial, C)`` one-hot/soft targets.
      mode: ``"multiclass"`` (default, softmax), ``"multilabel"`` or ``"binary"`` (sigmoid).
      from_logits: whether ``predictions`` are logits. Default ``True``.
      poly_epsilon: coefficient :math:`\epsilon_1 \ge -1` of the first polynomial term (the
        paper's :math:`\epsilon_1`; optax's ``epsilon``: ``epsilon`` here names a numerical
        floor). Default 2. Renamed from ``epsilon`` (still accepted, with a
        ``DeprecationWarning``, until the next release).
      mask: optional ``(B, *spatial)`` pixel weights. Default ``None``.
      ignore_index: integer label excluded from value and gradient. Default ``None``.
      reduction: ``"example"`` (default) -> ``(B,)``; ``"pixel"`` -> the ``(B, *spatial)`` map
        :math:`v\,\ell`.

    Returns:
      ``(B,)`` float32 losses (or the per-pixel map).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.pixelwise import poly_cross_entropy
      >>> logits = jnp.zeros((1, 2, 2, 4))  # uniform over 4 classes: log 4 + 2 * 0.75
      >>> poly_cross_entropy(logits, jnp.array([[[0, 1], [2, 3]]]))
      Array([2.8862944], dtype=float32)
    """
    check_number("poly_epsilon", poly_epsilon, low=-1.0)
    prep = prepare(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index,
    )
    y, p = prep.targets, prepared_probabilities(prep)
    log_pt = label_log_p(prep)
    if log_pt is not None:  # integer labels: 1 - p_y without cancellation
        one_minus_pt = -jnp.expm1(log_pt)
    elif mode == "multiclass":
        one_minus_pt = jnp.sum(y * (1.0 - p), axis=-1)
    else:
        if from_logits:  # 1 - p_t without cancellation: sigma(-z) y + sigma(z) (1 - y)
            one_minus_pt = jax.nn.sigmoid(-prep.predictions) * y + p * (1.0 - y)
        else:
            one_minus_pt = (1.0 - p) * y + p * (1.0 - y)
        one_minus_pt = jnp.mean(one_minus_pt, axis=-1)
    pixel = _pixel_cross_entropy(prep) + poly_epsilon * one_minus_pt
    return reduce_pixels(pixel, prep.valid, reduction)
