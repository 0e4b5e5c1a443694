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
    """

    predictions: jax.Array
    targets: jax.Array
    valid: jax.Array
    mode: str
    from_logits: bool

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
    return Prepared(preds, targets, valid, mode, from_logits)


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
        y = y.astype(jnp.int32)
        num_labels = 2 if mode == "binary" else num_classes
        kept = jnp.ones(index_shape, bool) if ignore_index is None else y != ignore_index
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


def probabilities(predictions: jax.Array, *, mode: str, from_logits: bool) -> jax.Array:
    if not from_logits:
        return predictions
    if mode == "multiclass":
        return jax.nn.softmax(predictions, axis=-1)
    return jax.nn.sigmoid(predictions)


def log_probability(predictions: jax.Array, *, mode: str, from_logits: bool) -> jax.Array:
    """``log p``, stable for logits up to +-1e4; probabilities are clipped to ``[1e-7, 1]``."""
    if not from_logits:
        return jnp.log(jnp.clip(predictions, PROB_EPS, 1.0))
    if mode == "multiclass":
        return jax.nn.log_softmax(predictions, axis=-1)
    return jax.nn.log_sigmoid(predictions)


def log_complement(predictions: jax.Array, *, mode: str, from_logits: bool) -> jax.Array:
    """``log(1 - p)``, stable for logits up to +-1e4.

    Sigmoid: ``log_sigmoid(-z)``. Softmax: the log-sum-exp of the other classes minus the
    log-sum-exp of all (a ``(C, C)`` intermediate, fine for the usual handful of classes).
    Probabilities are clipped to ``[0, 1 - 1e-7]`` first.
    """
    if not from_logits:
        return jnp.log1p(-jnp.clip(predictions, 0.0, 1.0 - PROB_EPS))
    if mode != "multiclass":
        return jax.nn.log_sigmoid(-predictions)
    num_classes = predictions.shape[-1]
    off_diagonal = jnp.where(jnp.eye(num_classes, dtype=bool), -jnp.inf, 0.0)
    others = jax.nn.logsumexp(predictions[..., None, :] + off_diagonal, axis=-1)
    return others - jax.nn.logsumexp(predictions, axis=-1, keepdims=True)


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
