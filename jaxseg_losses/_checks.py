"""Shared input handling for every loss: validation, label normalisation, masks, reductions.

Conventions (see the package docstring for the user-facing version):

* predictions are ``(B, *spatial, C)`` with 1 to 3 spatial axes, channels last;
* labels are integer class indices ``(B, *spatial)`` or dense targets ``(B, *spatial, C)``
  (one-hot or soft, values in [0, 1]);
* ``mode`` is ``"multiclass"`` (softmax), ``"multilabel"`` (sigmoid per channel) or
  ``"binary"`` (sigmoid, ``C == 1``);
* shapes and dtypes are checked at trace time (free under ``jit``); values (labels out of range,
  probabilities outside [0, 1], NaN) raise ``ValueError`` on concrete (eager) inputs and are
  ``checkify.debug_check`` s under tracing, so ``checkify.checkify(f, errors=checkify.user_checks)``
  reports them inside ``jit``.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

MODES = ("multiclass", "multilabel", "binary")
# Smallest probability used where a loss needs log(p) of probabilities given by the user.
PROB_EPS = 1e-7


class Prepared(NamedTuple):
    """Validated inputs of a loss, all float32.

    Attributes:
      predictions: ``(B, *spatial, C)`` logits or probabilities, as given.
      targets: ``(B, *spatial, C)`` dense targets in [0, 1] (ignored pixels hold zeros).
      valid: ``(B, *spatial)`` pixel weights: the mask times "not ignored".
      mode: one of :data:`MODES`.
      from_logits: whether ``predictions`` are logits.
      class_index: ``(B, *spatial)`` int32 class indices when multiclass labels were given as
        integers (-1 where ``targets`` are all zero: ignored pixels), else ``None``. With it the
        hot paths below work per class plane and never form the one-hot ``targets`` (2x faster
        value+grad on XLA:CPU).
    """

    predictions: jax.Array
    targets: jax.Array
    valid: jax.Array
    mode: str
    from_logits: bool
    class_index: jax.Array | None = None

    @property
    def num_classes(self) -> int:
        return self.predictions.shape[-1]

    def probabilities(self) -> jax.Array:
        return probabilities(self.predictions, mode=self.mode, from_logits=self.from_logits)

    def log_p(self) -> jax.Array:
        """``log p`` per channel (``log_softmax`` / ``log_sigmoid`` of logits)."""
        return log_probability(self.predictions, mode=self.mode, from_logits=self.from_logits)

    def log_not_p(self) -> jax.Array:
        """``log(1 - p)`` per channel, stable (see :func:`log_complement`)."""
        return log_complement(self.predictions, mode=self.mode, from_logits=self.from_logits)

    def class_hits(self) -> list[jax.Array] | None:
        """``[class_index == c for c]`` (bool ``(B, *spatial)`` planes): the one-hot targets
        plane by plane, or ``None`` without integer labels or with many classes."""
        if self.class_index is None or self.num_classes > PLANE_MAX_CLASSES:
            return None
        return [self.class_index == c for c in range(self.num_classes)]

    def probability_planes(self) -> list[jax.Array]:
        """The probabilities ``p[..., c]`` as a list of ``(B, *spatial)`` planes."""
        if self.mode == "multiclass" and self.from_logits:
            return softmax_planes(self.predictions)
        return class_planes(self.probabilities())

    def label_log_p(self) -> jax.Array | None:
        """:math:`\\log p_y` of the labelled class per pixel (0 on ignored pixels) from logits
        and integer labels, plane by plane; ``None`` where that path does not apply."""
        hits = self.class_hits() if self.from_logits else None
        if hits is None:
            return None
        planes = _planes(self.predictions)
        shift, log_total = _shifted_log_total(planes)
        kept = self.class_index >= 0
        return jnp.where(kept, select_planes(hits, planes) - shift - log_total, 0.0)

    def softmax_cross_entropy(self, weights: jax.Array | None = None) -> jax.Array:
        r"""Per-pixel softmax CE :math:`-\sum_c w_c t_c \log p_c` -> ``(B, *spatial)``.

        ``weights`` broadcast against ``(B, *spatial, C)`` (default 1). Integer labels:
        :math:`-w_y \log p_y` (:meth:`label_log_p`); otherwise :func:`softmax_cross_entropy`.
        """
        label_log_p = self.label_log_p()
        if label_log_p is not None:
            return -label_log_p if weights is None else -label_log_p * self.target_weight(weights)
        targets = self.targets if weights is None else weights * self.targets
        if self.from_logits:
            return softmax_cross_entropy(self.predictions, targets)
        return -jnp.sum(targets * self.log_p(), axis=-1)

    def target_weight(self, weights: jax.Array) -> jax.Array:
        r""":math:`\sum_c w_c t_c` per pixel -> ``(B, *spatial)`` (``weights`` as above)."""
        hits = self.class_hits()
        if hits is None:
            return jnp.sum(weights * self.targets, axis=-1)
        weights = jnp.broadcast_to(weights, weights.shape[:-1] + (self.num_classes,))
        return select_planes(hits, class_planes(weights))


def select_planes(hits: list[jax.Array], planes: list[jax.Array]) -> jax.Array:
    """``planes[c]`` where ``hits[c]`` (0 where no class hits), elementwise."""
    return functools.reduce(
        jnp.add, [jnp.where(hit, plane, 0.0) for hit, plane in zip(hits, planes, strict=True)]
    )


# --------------------------------------------------------------------------- shapes and dtypes


def shape_str(shape) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def is_concrete(*arrays) -> bool:
    """True when no argument is a tracer, i.e. values can be inspected now."""
    return not any(isinstance(a, jax.core.Tracer) for a in arrays if a is not None)


def check_predictions(predictions: jax.typing.ArrayLike, *, name: str = "predictions") -> jax.Array:
    """Validates ``(B, *spatial, C)`` floating predictions and returns them as float32."""
    x = jnp.asarray(predictions)
    if x.ndim not in (3, 4, 5):
        raise ValueError(
            f"{name}: expected shape (B, *spatial, C) with 1 to 3 spatial axes (rank 3 to 5); "
            f"got shape {shape_str(x.shape)} (rank {x.ndim})"
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name}: expected a floating dtype; got {x.dtype}")
    if x.shape[-1] < 1:
        raise ValueError(f"{name}: the class axis (last) is empty; got shape {shape_str(x.shape)}")
    return x.astype(jnp.float32)


def check_mode(mode: str, num_classes: int) -> None:
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}; got {mode!r}")
    if mode == "binary" and num_classes != 1:
        raise ValueError(
            f"mode='binary' expects predictions with C == 1 channel; got C == {num_classes} "
            "(use mode='multilabel' for several sigmoid channels or 'multiclass' for softmax)"
        )
    if mode == "multiclass" and num_classes < 2:
        raise ValueError(
            "mode='multiclass' (softmax) needs C >= 2 channels; got C == 1 "
            "(use mode='binary' for a single sigmoid channel)"
        )


def check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name}: expected one of {tuple(allowed)}; got {value!r}")


def check_class_vector(
    values: jax.typing.ArrayLike | None, num_classes: int, *, name: str
) -> jax.Array | None:
    """Validates an optional per-class vector (class weights, alpha...) of shape ``(C,)``."""
    if values is None:
        return None
    v = jnp.asarray(values, jnp.float32)
    if v.ndim == 0:
        return jnp.broadcast_to(v, (num_classes,))
    if v.shape != (num_classes,):
        raise ValueError(
            f"{name}: expected a scalar or shape ({num_classes},) (one value per class); "
            f"got shape {shape_str(v.shape)}"
        )
    if is_concrete(v) and bool(np.any(np.asarray(v) < 0)):
        raise ValueError(f"{name}: values must be non-negative; got {np.asarray(v)}")
    return v


def keep_classes(values: jax.Array, include_background: bool) -> jax.Array:
    """Drops channel 0 of ``(..., C)`` when ``include_background=False`` and ``C > 1``."""
    if include_background or values.shape[-1] == 1:
        return values
    return values[..., 1:]


def spatial_axes(ndim: int) -> tuple[int, ...]:
    """Spatial axes of a ``(B, *spatial, C)`` array."""
    return tuple(range(1, ndim - 1))


# Pixels folded into the minor axis by spatial_sum (a divisor of the pixel count at most this).
_SUM_FOLD = 128


def spatial_sum(values: jax.Array) -> jax.Array:
    """Sum of ``(B, *spatial, C)`` over the spatial axes -> ``(B, C)``.

    XLA:CPU sums a big axis into a short minor (class) axis about 2x slower than it streams the
    data; folding ``k`` pixels into the minor axis, ``(B, N / k, k C)``, summing the major axis
    and then the ``k`` partial sums runs at memory speed (benchmarks/losses.py).
    """
    batch, num_classes = values.shape[0], values.shape[-1]
    pixels = math.prod(values.shape[1:-1])
    fold = math.gcd(pixels, _SUM_FOLD)
    spec = explicit_sharding_spec(values)
    out_sharding = None
    if spec is not None:  # sharding in types: the reshape may merge only unsharded axes
        if any(entry is not None for entry in spec[1:]):
            return jnp.sum(values, axis=spatial_axes(values.ndim))
        out_sharding = jax.P(spec[0], None, None)
    folded = jnp.reshape(
        values, (batch, pixels // fold, fold * num_classes), out_sharding=out_sharding
    )
    partial = jnp.sum(folded, axis=1)
    return jnp.sum(partial.reshape(batch, fold, num_classes), axis=1)


def explicit_sharding_spec(x: jax.Array) -> jax.P | None:
    """The PartitionSpec of ``x`` when some axis is sharded over an Explicit mesh, else None."""
    sharding = jax.typeof(x).sharding
    mesh = getattr(sharding, "mesh", None)
    if mesh is None or not getattr(mesh, "axis_names", ()):
        return None
    explicit = jax.sharding.AxisType.Explicit
    if not any(t == explicit for t in getattr(mesh, "axis_types", ())):
        return None
    spec = tuple(sharding.spec) + (None,) * (x.ndim - len(sharding.spec))
    return jax.P(*spec) if any(entry is not None for entry in spec) else None


# --------------------------------------------------------------------------- value checks


def value_check(ok: jax.Array, message: str, **fmt: jax.Array) -> None:
    """Raises ``ValueError`` now on concrete input, or records a checkify check under tracing."""
    if is_concrete(ok, *fmt.values()):
        if not bool(np.asarray(ok)):
            raise ValueError(message.format(**{k: np.asarray(v) for k, v in fmt.items()}))
    else:
        checkify.debug_check(ok, message, **fmt)


def _check_prediction_values(predictions: jax.Array, from_logits: bool) -> None:
    value_check(~jnp.any(jnp.isnan(predictions)), "predictions: contain NaN")
    if not from_logits:
        value_check(
            jnp.all((predictions >= 0) & (predictions <= 1)),
            "predictions: from_logits=False expects probabilities in [0, 1]; "
            "got values in [{lo}, {hi}]",
            lo=jnp.min(predictions),
            hi=jnp.max(predictions),
        )


# --------------------------------------------------------------------------- labels and masks


def prepare(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: str = "multiclass",
    from_logits: bool = True,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> Prepared:
    """Validates a loss call and returns dense float32 targets and pixel weights.

    Integer labels ``(B, *spatial)`` become one-hot targets (binary mode: the label itself in one
    channel); ``ignore_index`` pixels get weight 0 and all-zero targets. Dense labels
    ``(B, *spatial, C)`` are used as given (soft values are not rounded).
    """
    preds = check_predictions(predictions)
    num_classes = preds.shape[-1]
    check_mode(mode, num_classes)
    _check_prediction_values(preds, from_logits)
    targets, valid = dense_targets(
        labels, preds.shape, mode=mode, ignore_index=ignore_index
    )
    valid = valid * resolve_mask(mask, preds.shape[:-1])
    class_index = None
    if mode == "multiclass" and jnp.shape(labels) == preds.shape[:-1]:
        # -1 wherever the one-hot targets are all zero (ignored or, unchecked, out of range).
        index, kept = _index_labels(labels, ignore_index)
        class_index = jnp.where(kept & (index >= 0) & (index < num_classes), index, -1)
    return Prepared(preds, targets, valid, mode, from_logits, class_index)


def dense_targets(
    labels: jax.typing.ArrayLike,
    predictions_shape: tuple[int, ...],
    *,
    mode: str,
    ignore_index: int | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Labels -> ``(targets (B, *spatial, C), valid (B, *spatial))``, both float32."""
    y = jnp.asarray(labels)
    num_classes = predictions_shape[-1]
    index_shape = tuple(predictions_shape[:-1])
    if y.shape == index_shape:
        if not (jnp.issubdtype(y.dtype, jnp.integer) or y.dtype == jnp.bool_):
            raise TypeError(
                f"labels: class indices of shape {shape_str(index_shape)} must have an integer "
                f"dtype; got {y.dtype}. Dense (one-hot or soft) targets must have shape "
                f"{shape_str(predictions_shape)}"
            )
        y, kept = _index_labels(y, ignore_index)
        num_labels = 2 if mode == "binary" else num_classes
        value_check(
            jnp.all(~kept | ((y >= 0) & (y < num_labels))),
            f"labels: class indices must lie in [0, {num_labels - 1}]"
            + ("" if ignore_index is None else f" or equal ignore_index={ignore_index}")
            + "; got values in [{lo}, {hi}]",
            lo=jnp.min(jnp.where(kept, y, 0)),
            hi=jnp.max(jnp.where(kept, y, 0)),
        )
        if mode == "binary":
            targets = (y == 1)[..., None].astype(jnp.float32)
        else:
            targets = jax.nn.one_hot(y, num_classes, dtype=jnp.float32)
        targets = targets * kept[..., None]
        return targets, kept.astype(jnp.float32)
    if y.shape == tuple(predictions_shape):
        if ignore_index is not None:
            raise ValueError(
                "ignore_index: only applies to integer class-index labels of shape "
                f"{shape_str(index_shape)}; with dense labels {shape_str(y.shape)} pass mask="
            )
        y = y.astype(jnp.float32)
        value_check(
            jnp.all((y >= 0) & (y <= 1)),
            "labels: dense targets must lie in [0, 1] (NaN is not allowed); "
            "got values in [{lo}, {hi}]",
            lo=jnp.min(y),
            hi=jnp.max(y),
        )
        return y, jnp.ones(index_shape, jnp.float32)
    raise ValueError(
        f"labels: expected class indices of shape (B, *spatial) = {shape_str(index_shape)} or "
        f"dense targets of shape (B, *spatial, C) = {shape_str(predictions_shape)}; "
        f"got shape {shape_str(y.shape)}"
    )


def _index_labels(labels: jax.typing.ArrayLike, ignore_index: int | None):
    """Integer labels -> ``(int32 labels, bool "not ignore_index")``, same shape."""
    index = jnp.asarray(labels).astype(jnp.int32)
    kept = jnp.ones(index.shape, bool) if ignore_index is None else index != ignore_index
    return index, kept


def resolve_mask(mask: jax.typing.ArrayLike | None, index_shape: tuple[int, ...]) -> jax.Array:
    """Optional ``(B, *spatial)`` bool/float mask -> float32 weights of that shape."""
    if mask is None:
        return jnp.ones(index_shape, jnp.float32)
    m = jnp.asarray(mask)
    try:
        fits = jnp.broadcast_shapes(m.shape, index_shape) == tuple(index_shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"mask: expected shape (B, *spatial) = {shape_str(index_shape)} (or broadcastable "
            f"to it); got shape {shape_str(m.shape)}"
        )
    m = m.astype(jnp.float32)
    value_check(~jnp.any(jnp.isnan(m) | (m < 0)), "mask: values must be >= 0 and not NaN")
    return jnp.broadcast_to(m, index_shape)


# --------------------------------------------------------------------------- activations

# XLA:CPU reduces a short minor axis (the class axis of channels-last data) several times slower
# than it maps elementwise, and the gradient of jax.nn.softmax / log_softmax pays that twice. Up
# to this many classes the activations below work on the C planes ``x[..., c]`` (elementwise over
# the pixels) and stack the result, and integer labels take the class-plane paths of Prepared:
# 1.5-4x faster value+grad at C = 2..5 for every loss measured, same values. The plane-wise work
# grows faster than C, though: at C = 6 the integer-label Dice was 1.2x slower than the jax.nn
# forms, at C >= 8 the one-hot Dice and focal too (benchmarks/loss_revisions.py, --shape
# 4,128,128,C, both --labels). Larger class axes use the jax.nn / one-hot forms.
PLANE_MAX_CLASSES = 5


def class_planes(x: jax.Array) -> list[jax.Array]:
    """The class planes ``x[..., c]`` as a list of ``(B, *spatial)`` arrays."""
    return [x[..., c] for c in range(x.shape[-1])]


def _planes(x: jax.Array) -> list[jax.Array] | None:
    """The class planes of a small class axis, or ``None`` for a large one."""
    if x.shape[-1] > PLANE_MAX_CLASSES:
        return None
    return class_planes(x)


def _max_shift(planes: list[jax.Array]) -> jax.Array:
    """Elementwise max of the planes without gradient: the shift of a stable (log-)softmax,
    which does not change its value."""
    return jax.lax.stop_gradient(functools.reduce(jnp.maximum, planes))


def _shifted_log_total(planes: list[jax.Array]) -> tuple[jax.Array, jax.Array]:
    """``(m, log sum_c exp(x_c - m))`` of the planes with ``m = _max_shift(planes)`` (the
    log-sum-exp is ``m + log_total``)."""
    shift = _max_shift(planes)
    return shift, jnp.log(functools.reduce(jnp.add, [jnp.exp(p - shift) for p in planes]))


def softmax_planes(z: jax.Array) -> list[jax.Array]:
    """The softmax over the last axis as a list of ``(B, *spatial)`` class planes (meant for at
    most ``PLANE_MAX_CLASSES`` classes; the callers choose)."""
    planes = class_planes(z)
    shift = _max_shift(planes)
    exps = [jnp.exp(plane - shift) for plane in planes]
    inverse_total = 1.0 / functools.reduce(jnp.add, exps)
    return [e * inverse_total for e in exps]


def softmax(z: jax.Array) -> jax.Array:
    """Softmax over the last (class) axis."""
    if z.shape[-1] > PLANE_MAX_CLASSES:
        return jax.nn.softmax(z, axis=-1)
    return jnp.stack(softmax_planes(z), axis=-1)


def log_softmax(z: jax.Array) -> jax.Array:
    """Log-softmax over the last (class) axis, stable for logits up to +-1e4."""
    planes = _planes(z)
    if planes is None:
        return jax.nn.log_softmax(z, axis=-1)
    shift, log_total = _shifted_log_total(planes)
    return jnp.stack([plane - shift - log_total for plane in planes], axis=-1)


def log_softmax_complement(z: jax.Array) -> jax.Array:
    """``log(1 - softmax(z))`` per class: log-sum-exp of the other classes minus that of all."""
    planes = _planes(z)
    if planes is None:  # a (C, C) intermediate, fine for the rare many-class case
        num_classes = z.shape[-1]
        off_diagonal = jnp.where(jnp.eye(num_classes, dtype=bool), -jnp.inf, 0.0)
        others = jax.nn.logsumexp(z[..., None, :] + off_diagonal, axis=-1)
        return others - jax.nn.logsumexp(z, axis=-1, keepdims=True)
    log_all = sum(_shifted_log_total(planes))
    return jnp.stack(
        [sum(_shifted_log_total(planes[:c] + planes[c + 1:])) - log_all
         for c in range(len(planes))],
        axis=-1,
    )


def softmax_cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
    r"""Per-pixel :math:`-\sum_c t_c \log\mathrm{softmax}(z)_c` -> ``(B, *spatial)``.

    Written as :math:`\sum_c t_c (m - z_c) + \log\sum_c e^{z_c - m} \cdot \sum_c t_c` with
    :math:`m = \max_c z_c`: no ``(B, *spatial, C)`` log-softmax is formed, which makes the
    value+grad of the cross-entropy about 1.3x faster on XLA:CPU; stable for logits up to +-1e4.
    ``targets`` may be weighted or soft.
    """
    planes = _planes(logits)
    if planes is None:
        return -jnp.sum(targets * jax.nn.log_softmax(logits, axis=-1), axis=-1)
    shift, log_total = _shifted_log_total(planes)
    return (jnp.sum(targets * (shift[..., None] - logits), axis=-1)
            + log_total * jnp.sum(targets, axis=-1))


def probabilities(predictions: jax.Array, *, mode: str, from_logits: bool) -> jax.Array:
    if not from_logits:
        return predictions
    if mode == "multiclass":
        return softmax(predictions)
    return jax.nn.sigmoid(predictions)


def log_probability(predictions: jax.Array, *, mode: str, from_logits: bool) -> jax.Array:
    """``log p``, stable for logits up to +-1e4; probabilities are clipped to ``[1e-7, 1]``."""
    if not from_logits:
        return jnp.log(jnp.clip(predictions, PROB_EPS, 1.0))
    if mode == "multiclass":
        return log_softmax(predictions)
    return jax.nn.log_sigmoid(predictions)


def log_complement(predictions: jax.Array, *, mode: str, from_logits: bool) -> jax.Array:
    """``log(1 - p)``, stable for logits up to +-1e4.

    Sigmoid: ``log_sigmoid(-z)``. Softmax: :func:`log_softmax_complement`. Probabilities are
    clipped to ``[0, 1 - 1e-7]`` first.
    """
    if not from_logits:
        return jnp.log1p(-jnp.clip(predictions, 0.0, 1.0 - PROB_EPS))
    if mode != "multiclass":
        return jax.nn.log_sigmoid(-predictions)
    return log_softmax_complement(predictions)


# --------------------------------------------------------------------------- safe arithmetic


def safe_divide(numerator: jax.Array, denominator: jax.Array, fill: float = 0.0) -> jax.Array:
    """``numerator / denominator`` with ``fill`` (and zero gradient) where the denominator is 0."""
    ok = denominator != 0
    return jnp.where(ok, numerator / jnp.where(ok, denominator, 1.0), fill)


def safe_power(base: jax.Array, exponent) -> jax.Array:
    """``base ** exponent`` for ``base >= 0`` with a finite gradient at ``base == 0``."""
    positive = base > 0
    return jnp.where(positive, jnp.where(positive, base, 1.0) ** exponent, 0.0 ** exponent)


def masked_mean(values: jax.Array, weights: jax.Array, axis) -> jax.Array:
    """Weighted mean over ``axis``; 0 (with zero gradient) where all weights are 0."""
    return safe_divide(jnp.sum(values * weights, axis=axis), jnp.sum(weights, axis=axis))


def per_example_mean(pixel_values: jax.Array, weights: jax.Array) -> jax.Array:
    """Mean of a ``(B, *spatial)`` map over the valid pixels of each example -> ``(B,)``."""
    return masked_mean(pixel_values, weights, axis=tuple(range(1, pixel_values.ndim)))
