r"""Deep supervision: one loss applied to the outputs of several decoder scales.

.. math::
    L(\{\hat y_l\}, y) = \sum_{l=0}^{n-1} w_l\, L\big(\hat y_l,\ \mathrm{resize}(y, \hat y_l)\big)

Level 0 is the full-resolution output; labels (and a ``mask=`` keyword, if given) are resized to
each level's spatial shape by nearest neighbour (:func:`resize_nearest`, PyTorch's
``"nearest-exact"`` rule, as MONAI's ``DeepSupervisionLoss``), so integer labels stay integer
labels and soft targets are not blurred. Weights follow MONAI: ``level_weighting="exp"``
(default) :math:`w_l = \max(2^{-l}, 1/16)`; ``"two"``: 1 then 0.5; ``"same"``: 1; explicit
``level_weights`` (at least one per level) take precedence. The weighted sum is not normalised
(MONAI; nnU-Net normalises its weights, pass them explicitly for that).

Multi-scale smoothing (:func:`multi_scale`, MONAI's ``MultiScaleLoss``, from DeepReg): one loss
evaluated on the prediction and the labels blurred by a Gaussian (or Cauchy) kernel at several
scales, averaged:

.. math::
    L(\hat y, y) = \frac{1}{S}\sum_{s} L\big(K_s * \hat y,\ K_s * y\big),\qquad K_0 = \delta

Both results are ordinary loss terms ``(predictions, labels, **kwargs) -> (B,)``: they
jit-compile, vmap, differentiate and compose with :mod:`jaxseg_losses.combine`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxseg_losses._activations import probabilities
from jaxseg_losses._filters import cauchy_kernel, gaussian_kernel, separable_filter, static_number
from jaxseg_losses._inputs import (
    MODES,
    Mode,
    boolean_options,
    check_choice,
    check_mode,
    check_prediction_values,
    check_predictions,
    dense_targets,
    renamed_options,
    resolve_mask,
    shape_str,
    unnormalised_probabilities,
)
from jaxseg_losses.combine import Accepts, accepted_kwargs

__all__ = ("deep_supervision", "deep_supervision_weights", "multi_scale", "resize_nearest")

WEIGHT_MODES = ("exp", "two", "same")
SMOOTHING_KERNELS = ("gaussian", "cauchy")
# MONAI's MultiScaleLoss: a sampled Gaussian reaching 3 sigma each side, not normalised.
GAUSSIAN_TRUNCATION = 3.0


def _labels_are_dense(y: jax.Array, predictions_shape: tuple[int, ...]) -> bool:
    """Whether labels of this rank are dense ``(B, *spatial, C)`` (else integer ``(B,
    *spatial)``); ``ValueError`` for another rank."""
    rank = len(predictions_shape)
    if y.ndim not in (rank - 1, rank):
        raise ValueError(
            f"labels: expected (B, *spatial) or (B, *spatial, C) of rank {rank - 1} or {rank} "
            f"for predictions of shape {shape_str(predictions_shape)}; got shape "
            f"{shape_str(y.shape)}"
        )
    return y.ndim == rank


def _add_weighted(total, aux: dict, value, key: str, weight: float) -> jax.Array:
    """``total + weight * value`` (``total`` ``None``: the first term). A combined loss's
    ``(total, aux)`` value puts its entries into ``aux`` under ``"<key>/"``, with ``"<key>"``
    (its unweighted total) and ``"<key>/weight"``."""
    if isinstance(value, tuple):  # a combined loss: (total, aux)
        value, term_aux = value
        aux.update({f"{key}/{k}": v for k, v in term_aux.items()})
        aux[key] = jnp.asarray(value, jnp.float32)
        aux[f"{key}/weight"] = jnp.float32(weight)
    value = jnp.asarray(value, jnp.float32)
    return weight * value if total is None else total + weight * value


def _source_indices(size_in: int, size_out: int) -> np.ndarray:
    """PyTorch ``nearest-exact``: ``floor((i + 0.5) * in / out)``, clipped to ``in - 1``."""
    scale = size_in / size_out
    return np.minimum(np.floor((np.arange(size_out) + 0.5) * scale).astype(np.int64), size_in - 1)


@boolean_options
def resize_nearest(
    x: jax.typing.ArrayLike, spatial_shape: Sequence[int], *, channels_last: bool = False
) -> jax.Array:
    r"""Nearest-neighbour resize of ``(B, *spatial)`` or ``(B, *spatial, C)`` arrays.

    Output pixel :math:`i` of an axis of input size :math:`n` and output size :math:`m` reads
    input pixel :math:`\min(\lfloor (i + 1/2)\,n/m \rfloor, n - 1)` (PyTorch ``"nearest-exact"``,
    used by MONAI's ``DeepSupervisionLoss``; pixel centres are aligned, so halving a size reads
    input pixels 1, 3, 5, ...). Works for down- and upsampling and any dtype (labels keep their
    dtype); the indices are static.

    Args:
      x: ``(B, *spatial)`` or, with ``channels_last=True``, ``(B, *spatial, C)``.
      spatial_shape: the output spatial shape (same number of axes).
      channels_last: whether ``x`` has a trailing channel axis. Default ``False``.

    Returns:
      The resized array.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.multiscale import resize_nearest
      >>> resize_nearest(jnp.arange(6)[None], (3,))
      Array([[1, 3, 5]], dtype=int32)
    """
    x = jnp.asarray(x)
    spatial = x.shape[1:-1] if channels_last else x.shape[1:]
    spatial_shape = tuple(int(s) for s in spatial_shape)
    if len(spatial_shape) != len(spatial):
        raise ValueError(
            f"spatial_shape: expected {len(spatial)} sizes for an input of spatial shape "
            f"{shape_str(spatial)}; got {spatial_shape}"
        )
    for axis, (n, m) in enumerate(zip(spatial, spatial_shape, strict=True), start=1):
        if n != m:
            x = jnp.take(x, jnp.asarray(_source_indices(n, m)), axis=axis)
    return x


@renamed_options(weights="level_weights", weight_mode="level_weighting")
def deep_supervision_weights(
    levels: int, *, level_weights: Sequence[float] | None = None, level_weighting: str = "exp"
) -> list[float]:
    """The weight of each level, as MONAI's ``DeepSupervisionLoss.get_weights``.

    Args:
      levels: number of output scales (the first is the full resolution).
      level_weights: explicit weights, one per level at least; overrides
        ``level_weighting``. (MONAI's ``weights``.)
      level_weighting: ``"exp"`` (default: halving per level, floored at 1/16), ``"two"`` (1
        for the first level, 0.5 for the others) or ``"same"`` (all 1). (MONAI's
        ``weight_mode``.)

    ``weights`` and ``weight_mode``, the former names of ``level_weights`` and
    ``level_weighting``, are still accepted (with a ``DeprecationWarning``) until the next
    release.

    Returns:
      A list of ``levels`` floats.

    Example:
      >>> from jaxseg_losses.multiscale import deep_supervision_weights
      >>> deep_supervision_weights(6)
      [1.0, 0.5, 0.25, 0.125, 0.0625, 0.0625]
    """
    check_choice("level_weighting", level_weighting, WEIGHT_MODES)
    levels = max(1, int(levels))
    if level_weights is not None:
        weights = _check_level_weights(level_weights)
        if len(weights) < levels:
            raise ValueError(f"level_weights: expected at least one weight per level ({levels}); "
                             f"got {len(weights)}")
        return weights[:levels]
    if level_weighting == "exp":
        return [max(0.5**level, 0.0625) for level in range(levels)]
    if level_weighting == "two":
        return [1.0 if level == 0 else 0.5 for level in range(levels)]
    return [1.0] * levels


def _check_level_weights(weights: Sequence[float]) -> list[float]:
    """Explicit per-level weights as floats: a sequence of finite numbers, at least one
    (``TypeError`` / ``ValueError`` naming the level's weight)."""
    try:
        if isinstance(weights, (str, bytes)):
            raise TypeError
        weights = list(weights)
    except TypeError:
        raise TypeError(f"level_weights: expected a sequence of numbers, one per level; "
                        f"got {weights!r}") from None
    if not weights:
        raise ValueError("level_weights: expected at least one weight (one per level); got none")
    checked = []
    for level, w in enumerate(weights):
        if isinstance(w, (bool, str, bytes)) or w is None or np.ndim(w) != 0:
            raise TypeError(f"level_weights[{level}] (the weight of level {level}): "
                            f"expected a number; got {w!r}")
        try:
            value = float(w)
        except (TypeError, ValueError):
            raise TypeError(f"level_weights[{level}] (the weight of level {level}): "
                            f"expected a number; got {w!r}") from None
        if not np.isfinite(value):
            raise ValueError(f"level_weights[{level}] (the weight of level {level}): "
                             f"expected a finite number; got {value}")
        checked.append(value)
    return checked


@renamed_options(weights="level_weights", weight_mode="level_weighting")
def deep_supervision(
    loss: Callable[..., jax.Array],
    *,
    level_weights: Sequence[float] | None = None,
    level_weighting: str = "exp",
) -> Callable[..., jax.Array]:
    r"""Wraps ``loss`` so that it takes a list of outputs at several scales (deep supervision).

    .. math::
        L = \sum_l w_l\, \mathrm{loss}\big(\hat y_l,\ \mathrm{resize}(y, \hat y_l)\big)

    The returned function is ``supervised(predictions, labels, **kwargs) -> (B,)`` where
    ``predictions`` is a sequence of ``(B, *spatial_l, C)`` arrays, level 0 first (a single
    array is one level; every level has the same ``B``, ``C`` and rank, else ``ValueError``
    naming the level), and ``labels`` are the full-resolution labels, integer
    ``(B, *spatial)`` or dense ``(B, *spatial, C)``, resized to every level by
    :func:`resize_nearest`. A ``mask=`` keyword of shape ``(B, *spatial)`` is resized the same
    way; every other keyword is passed unchanged to each call of ``loss`` (so per-pixel arrays
    other than ``mask``, e.g. ``distance_maps``, are not supported). Equals MONAI
    ``DeepSupervisionLoss(loss, weight_mode=level_weighting, weights=level_weights)`` with
    matched losses. When ``loss`` is a
    combined loss returning ``(total, aux)`` (:func:`jaxseg_losses.combine.named_sum`), the
    result is ``(total, aux)`` too, with every entry under ``"scale<l>/"`` plus ``"scale<l>"``
    (the level's unweighted total) and ``"scale<l>/weight"``.

    Empty masks: whatever ``loss`` does at every scale (the resized labels of an empty truth are
    empty).

    Args:
      loss: a loss term ``(predictions, labels, **kwargs) -> (B,)``.
      level_weights: optional per-level weights (at least one per level given at call time);
        take precedence over ``level_weighting``. Checked now: each a finite number
        (``TypeError`` / ``ValueError`` naming ``level_weights[l]``). Default ``None``.
      level_weighting: ``"exp"`` (default: 1, 1/2, 1/4, ..., floored at 1/16), ``"two"`` (1,
        then 1/2) or ``"same"`` (all 1).

    ``weights`` and ``weight_mode``, the former names of ``level_weights`` and
    ``level_weighting``, are still accepted (with a ``DeprecationWarning``) until the next
    release.

    Returns:
      The deep-supervision loss, returning ``(B,)`` float32 values (or ``(total, aux)``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.multiscale import deep_supervision
      >>> from jaxseg_losses.region import dice_loss
      >>> labels = jnp.zeros((1, 8, 8), int).at[0, 2:6, 2:6].set(1)
      >>> outputs = [jnp.zeros((1, 8, 8, 2)), jnp.zeros((1, 4, 4, 2))]
      >>> supervised = deep_supervision(dice_loss)  # weights 1 and 0.5
      >>> supervised(outputs, labels)  # 1.5 x the Dice loss (8/15) of a uniform prediction
      Array([0.8], dtype=float32)
    """
    check_choice("level_weighting", level_weighting, WEIGHT_MODES)
    if not callable(loss):
        raise TypeError(f"loss: expected a callable loss term; got {type(loss).__name__}")
    if level_weights is not None:  # a bad weight fails now, not at the first step
        level_weights = _check_level_weights(level_weights)

    def supervised(predictions, labels, **kwargs: Any) -> jax.Array:
        outputs = [predictions] if hasattr(predictions, "shape") else list(predictions)
        if not outputs:
            raise ValueError("predictions: expected at least one output scale; got none")
        per_level = deep_supervision_weights(
            len(outputs), level_weights=level_weights, level_weighting=level_weighting
        )
        y = jnp.asarray(labels)
        first = jnp.shape(outputs[0])
        dense = _labels_are_dense(y, first)
        mask = kwargs.pop("mask", None)
        total, aux = None, {}
        for level, (output, w) in enumerate(zip(outputs, per_level, strict=False)):
            shape = jnp.shape(output)
            if len(shape) != len(first) or shape[0] != first[0] or shape[-1] != first[-1]:
                raise ValueError(
                    f"predictions[{level}]: expected shape (B, *spatial, C) with B = {first[0]}, "
                    f"C = {first[-1]} classes and rank {len(first)}, as predictions[0] "
                    f"{shape_str(first)}; got shape {shape_str(shape)} (every output scale "
                    "scores the same classes)"
                )
            spatial = shape[1:-1]
            level_labels = resize_nearest(y, spatial, channels_last=dense)
            options = dict(kwargs)
            if mask is not None:
                options["mask"] = resize_nearest(mask, spatial)
            value = loss(output, level_labels, **options)
            total = _add_weighted(total, aux, value, f"scale{level}", w)
        return (total, aux) if aux else total

    supervised.__name__ = f"deep_supervision_{getattr(loss, '__name__', 'loss')}"
    supervised.__doc__ = f"Deep supervision of {getattr(loss, '__name__', 'a loss')}."
    # What the wrapped loss accepts, so that a combinator routes only those keywords here.
    supervised.accepted_kwargs = accepted_kwargs(loss)
    return supervised


def _scale_kernel(scale: float, kernel: str) -> np.ndarray | None:
    """The 1-D smoothing kernel of one scale (``None`` for scale 0: no smoothing)."""
    scale = static_number("scales", scale, strict=False)
    if scale == 0.0:
        return None
    if kernel == "cauchy":
        return cauchy_kernel(scale)
    weights = gaussian_kernel(scale, truncated=GAUSSIAN_TRUNCATION, approx="sampled")
    if weights.sum() > 1.0:
        raise ValueError(
            f"scales: the sampled Gaussian of sigma={scale:g} sums to {weights.sum():.6f} > 1 "
            "(MONAI's kernel is not normalised), so smoothed one-hot labels would leave [0, 1]; "
            "use a scale of 0 or at least 0.75, or kernel='cauchy'"
        )
    return weights


def multi_scale(
    loss: Callable[..., jax.Array],
    *,
    scales: Sequence[float] | None = None,
    kernel: str = "gaussian",
    mode: Mode | None = None,
) -> Callable[..., jax.Array]:
    r"""Wraps ``loss`` so that it is the mean of ``loss`` on smoothed inputs at several scales.

    .. math::
        L(\hat y, y) = \frac{1}{S}\sum_{s \in \text{scales}}
            \mathrm{loss}\big(K_s * \hat y,\ K_s * y\big)

    :math:`K_s` is a separable kernel along every spatial axis with zero padding (MONAI's
    ``separable_filtering``): ``"gaussian"`` the sampled Gaussian
    :math:`e^{-x^2/2s^2}/(\sqrt{2\pi}\,s)` on :math:`|x| \le \lfloor 3s + 1/2\rfloor`, not
    normalised; ``"cauchy"`` :math:`1/(1 + x^2/s^2)` on :math:`|x| \le \lfloor 5s\rfloor`,
    normalised to sum 1. Scale 0 is the unsmoothed call ``loss(predictions, labels, **kwargs)``.
    Equals MONAI ``MultiScaleLoss(loss, scales, kernel)`` (mean reduction) with a matched loss
    (MONAI's ``forward`` takes ``(y_true, y_pred)``, in that order).

    What is smoothed:

    * **Labels** are smoothed as per-class maps: integer labels ``(B, *spatial)`` are one-hot
      encoded first (``C`` classes from the predictions; 0/1 in one channel when ``C == 1``),
      dense labels are smoothed as they are; the wrapped loss receives the smoothed dense
      targets. ``ignore_index`` pixels, labels out of range (under ``jit``) and pixels where
      ``mask=`` is 0 are excluded with ``mask=`` (the wrapped loss must take ``mask``; the mask
      is passed unsmoothed) and zeroed in both the predictions and the targets before the blur,
      so they reach no neighbour: they change neither the value nor the gradient (MONAI has no
      exclusion). MONAI's Gaussian is truncated at 3 sigma and not normalised, so it sums to
      slightly less than 1 (0.9973 per axis for a large sigma): smoothed one-hot targets sum to
      a little less than 1 everywhere, and less still near the border (zero padding), as
      MONAI's.
    * **Predictions**: with ``mode=None`` (default) they are smoothed as given, MONAI's
      behaviour: the wrapped loss sees blurred *logits* when it takes logits (its activation
      comes after the blur), blurred probabilities with ``from_logits=False``. Blurring logits
      is not blurring probabilities (``softmax(K * z) != K * softmax(z)``), and zero padding
      pulls border logits towards 0. With ``mode="multiclass"``/``"multilabel"``/``"binary"``
      the predictions are logits of that activation: the smoothed scales blur the
      probabilities (softmax or sigmoid of the logits) and call the wrapped loss with
      ``from_logits=False``, so prediction and truth are blurred alike, in probability space;
      scale 0 still passes the logits. This is the meaningful choice for a loss of
      probabilities (Dice and the like); ``mode=None`` matches MONAI wrapping a loss with
      ``softmax=True``.

    Blurred targets are soft: a loss that scores a soft map against itself as perfect needs
    its soft-label form (``dice_loss(..., soft_label=True)``; the plain soft Dice of a blurred
    map with itself is not 0, in MONAI as here).

    Gaussian scales must be 0 or at least about 0.75: below, MONAI's unnormalised sampled
    Gaussian sums to more than 1 and would push smoothed labels above 1 (``ValueError``).

    Empty masks: whatever ``loss`` does on every scale (an empty truth stays empty). A combined
    loss returning ``(total, aux)`` gives ``(total, aux)`` with every entry under
    ``"scale<s>/"`` plus ``"scale<s>"`` and ``"scale<s>/weight"`` (``1/S``).

    Args:
      loss: a loss term ``(predictions, labels, **kwargs) -> (B,)`` taking dense labels.
      scales: the kernel scales (:math:`\sigma` in pixels, >= 0; 0 is no smoothing).
        Default ``None``: no smoothing, the loss itself (MONAI's default).
      kernel: ``"gaussian"`` (default) or ``"cauchy"``.
      mode: ``None`` (default): smooth the predictions as given; or the activation of the
        logits (``"multiclass"``, ``"multilabel"``, ``"binary"``): smooth the probabilities and
        pass ``from_logits=False`` (the wrapped loss must take ``from_logits`` and ``mode``; the
        caller must not pass ``from_logits``). The wrapped loss is called with this ``mode`` at
        every scale, the unsmoothed one included; a different ``mode=`` keyword is an error.

    Returns:
      The multi-scale loss ``(predictions, labels, **kwargs) -> (B,)`` (or ``(total, aux)``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.multiscale import multi_scale
      >>> from jaxseg_losses.region import dice_loss
      >>> labels = jnp.zeros((1, 8, 8), int).at[0, 2:6, 2:6].set(1)
      >>> logits = 8.0 * (2.0 * jnp.eye(2)[labels] - 1.0)  # confident and right
      >>> loss = multi_scale(dice_loss, scales=[0, 1, 2], mode="multiclass")
      >>> bool(loss(logits, labels, soft_label=True)[0] < 1e-6)  # blurred alike: still ~0
      True
      >>> loss(logits, labels)  # the plain soft Dice of a blurred map with itself is not 0
      Array([0.3534361], dtype=float32)
    """
    check_choice("kernel", kernel, SMOOTHING_KERNELS)
    if mode is not None:
        check_choice("mode", mode, MODES)
    if not callable(loss):
        raise TypeError(f"loss: expected a callable loss term; got {type(loss).__name__}")
    scale_list = [0.0] if scales is None else list(scales)
    if not scale_list:
        raise ValueError("scales: expected at least one scale (0 for no smoothing); got none")
    kernels = [_scale_kernel(s, kernel) for s in scale_list]
    accepts = accepted_kwargs(loss)
    if mode is not None and not (accepts.any_other or {"from_logits", "mode"} <= accepts.names):
        raise TypeError(f"mode={mode!r}: the wrapped loss must take from_logits and mode (it "
                        "receives probabilities of that activation at the smoothed scales)")
    weight = 1.0 / len(scale_list)
    loss_mode = _default_mode(loss)

    def smoothed(predictions, labels, **kwargs: Any) -> jax.Array:
        if mode is not None and "from_logits" in kwargs:
            raise TypeError(f"from_logits: set by multi_scale(mode={mode!r}), whose predictions "
                            "are logits; do not pass it")
        if mode is not None:  # every scale, the unsmoothed one included, uses this activation
            if kwargs.get("mode", mode) != mode:
                raise ValueError(f"mode={kwargs['mode']!r}: this multi_scale loss was built "
                                 f"with mode={mode!r}")
            kwargs = {**kwargs, "mode": mode}
        preds = check_predictions(predictions)
        shape = preds.shape
        _labels_are_dense(jnp.asarray(labels), shape)  # a rank error before any work
        if mode is not None:
            check_mode(mode, shape[-1])
        total, aux = None, {}
        blurred = None
        for scale, weights in zip(scale_list, kernels, strict=True):
            if weights is None:
                value = loss(predictions, labels, **kwargs)
            else:
                if blurred is None:  # validated, activated and encoded once for every scale
                    blurred = _smoothing_inputs(preds, labels, mode, accepts, kwargs,
                                                loss_mode)
                p, t, options = blurred
                ndim = len(shape) - 2
                # Blurred probabilities sum to less than 1 (the kernel is not normalised, the
                # padding is zero): the wrapped loss does not check their sum.
                with unnormalised_probabilities():
                    value = loss(separable_filter(p, [weights] * ndim),
                                 jnp.minimum(separable_filter(t, [weights] * ndim), 1.0),
                                 **options)
            total = _add_weighted(total, aux, value, f"scale{scale:g}", weight)
        return (total, aux) if aux else total

    name = getattr(loss, "__name__", "loss")
    smoothed.__name__ = f"multi_scale_{name}"
    smoothed.__doc__ = f"Multi-scale smoothing of {getattr(loss, '__name__', 'a loss')}."
    names = set(accepts.names) - ({"from_logits"} if mode is not None else set())
    smoothed.accepted_kwargs = Accepts(frozenset(names), accepts.any_other)
    return smoothed


def _default_mode(loss) -> str | None:
    """The default ``mode`` of ``loss`` (``None`` when it has none or it cannot be read)."""
    try:
        parameter = inspect.signature(loss).parameters.get("mode")
    except (TypeError, ValueError):
        return None
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return None
    return parameter.default


def _smoothing_inputs(preds, labels, mode, accepts, kwargs, loss_mode):
    """``(predictions to blur, dense targets to blur, keywords of the smoothed calls)``."""
    options = dict(kwargs)
    from_logits = mode is not None or options.get("from_logits", True)
    # Probabilities given to a multiclass loss are checked here (sum to 1 included): the
    # smoothed calls, which see them blurred, do not check their sum.
    preds = check_prediction_values(preds, from_logits, mode=options.get("mode", loss_mode))
    if mode is not None:
        preds = probabilities(preds, mode=mode, from_logits=True)
        options["from_logits"] = False
    ignore_index = options.pop("ignore_index", None)
    label_mode = "binary" if preds.shape[-1] == 1 else "multiclass"
    targets, valid = dense_targets(labels, preds.shape, mode=label_mode,
                                   ignore_index=ignore_index)
    mask = options.pop("mask", None)
    if "mask" in accepts:
        options["mask"] = valid * resolve_mask(mask, preds.shape[:-1])
        # Excluded pixels are zeroed before the blur, so that they reach no neighbour either:
        # they change neither the value nor the gradient (a select, which keeps NaN elsewhere).
        kept = (options["mask"] > 0)[..., None]
        preds, targets = jnp.where(kept, preds, 0.0), jnp.where(kept, targets, 0.0)
    elif mask is not None or ignore_index is not None:
        raise TypeError("mask/ignore_index: the wrapped loss takes no mask, which the smoothed "
                        "scales need to exclude pixels")
    return preds, targets, options
