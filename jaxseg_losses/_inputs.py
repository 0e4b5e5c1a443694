"""Input handling for every loss: shape, dtype and value checks, labels, masks, options.

Conventions (see the package docstring for the user-facing version):

* predictions are ``(B, *spatial, C)`` with 1 to 3 spatial axes, channels last;
* labels are integer class indices ``(B, *spatial)`` or dense targets ``(B, *spatial, C)``
  (one-hot or soft, values in [0, 1]);
* ``mode`` is ``"multiclass"`` (softmax), ``"multilabel"`` (sigmoid per channel) or
  ``"binary"`` (sigmoid, ``C == 1``);
* shapes and dtypes are checked at trace time (free under ``jit``); values (labels out of range,
  probabilities outside [0, 1], multiclass probabilities that do not sum to 1 within
  :data:`PROBABILITY_SUM_TOLERANCE`, NaN or infinite predictions, bad option values) raise
  ``ValueError`` on concrete (eager) inputs and are ``checkify.debug_check`` s under tracing, so
  ``checkify.checkify(f, errors=checkify.user_checks)`` reports them inside ``jit``;
* boolean options take ``True``/``False`` only: :func:`boolean_options` decorates every public
  function that has one (``TypeError`` naming the option, also while tracing);
* without checkify, bad values never turn into a plausible number: bad predictions, dense
  targets and mask values become NaN where they enter (so the result is NaN, and the gradient
  with respect to the predictions is NaN at the bad entry or pixel), and out-of-range
  integer labels are excluded like ``ignore_index`` by every loss in every mode (the metrics
  give NaN for that example instead).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple, TypeVar, get_args

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

# The activation of the class axis: softmax over exclusive classes, a sigmoid per channel, or
# one sigmoid channel.
Mode = Literal["multiclass", "multilabel", "binary"]
MODES: tuple[str, ...] = get_args(Mode)


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
        hot paths of :mod:`jaxseg_losses._activations` (``class_hits``, ``label_log_p``) work
        per class plane and never form the one-hot ``targets`` (2x faster value+grad on
        XLA:CPU).

    A plain record: what is computed from it (probabilities, log forms, cross-entropies) is in
    :mod:`jaxseg_losses._activations`, which takes it as an argument.
    """

    predictions: jax.Array
    targets: jax.Array
    valid: jax.Array
    mode: Mode
    from_logits: bool
    class_index: jax.Array | None = None

    @property
    def num_classes(self) -> int:
        return self.predictions.shape[-1]


def shape_str(shape) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def integer_dtype(dtype) -> bool:
    """Whether labels of this dtype are integers (bool included): class indices, or 0/1."""
    return bool(jnp.issubdtype(dtype, jnp.integer) or dtype == jnp.bool_)


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
    if 0 in x.shape:
        raise ValueError(
            f"{name}: nothing to score, every axis (batch B, spatial, classes C) needs at least "
            f"one entry; got shape {shape_str(x.shape)}"
        )
    return x.astype(jnp.float32)


def binary_class_axis(predictions, labels, mode) -> jax.Array:
    """``mode="binary"`` predictions without a class axis, ``(B, *spatial)`` beside labels of the
    same shape (as ``optax.losses.binary_dice_loss`` takes them), get their one channel
    ``(B, *spatial, 1)``; everything else is returned as it is. A last axis of size 1 stays the
    class axis (the two readings give the same pixels)."""
    x = jnp.asarray(predictions)
    if mode == "binary" and x.ndim >= 2 and x.shape[-1] != 1 and x.shape == jnp.shape(labels):
        return x[..., None]
    return x


def check_mode(mode: Mode, num_classes: int) -> None:
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
        v = jnp.broadcast_to(v, (num_classes,))
    if v.shape != (num_classes,):
        raise ValueError(
            f"{name}: expected a scalar or shape ({num_classes},) (one value per class); "
            f"got shape {shape_str(v.shape)}"
        )
    value_check(jnp.all(jnp.isfinite(v) & (v >= 0)),
                f"{name}: values must be finite and non-negative; got {{values}}", values=v)
    return v


def value_check(ok: jax.Array, message: str, **fmt: jax.Array) -> None:
    """Raises ``ValueError`` now on concrete input, or records a checkify check under tracing."""
    fmt = {k: jnp.asarray(v) for k, v in fmt.items()}
    if is_concrete(ok, *fmt.values()):
        if not bool(np.asarray(ok)):
            raise ValueError(message.format(**{k: np.asarray(v) for k, v in fmt.items()}))
    else:
        checkify.debug_check(ok, message, **fmt)


def nan_unless(ok: jax.Array, values: jax.Array) -> jax.Array:
    """``values`` where ``ok``, NaN elsewhere: a bad input value stays visible in the result
    (NaN value and gradient) when it was not checked (under ``jit`` without checkify)."""
    return jnp.where(ok, values, jnp.nan)


# Multiclass probabilities (``from_logits=False``) must sum to 1 over the classes within this
# absolute tolerance: 2**-6, two units in the last place of bfloat16 at 1. The dtype of the array
# does not tell the precision its softmax was computed in (a bf16 model's output cast to float32
# is common), so one tolerance serves every dtype: float32, float16 and bfloat16 softmax outputs
# (and bf16 outputs cast to float32) sum to 1 within 0.006 up to 150 classes, while the mistakes
# the check is for (sigmoid outputs, unnormalised scores, a dropped class) are off by far more.
PROBABILITY_SUM_TOLERANCE = 2.0**-6

# Set by :func:`unnormalised_probabilities` (trace-time state, per thread / context).
_SUM_CHECK_LIFTED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "jaxseg_losses_sum_check_lifted", default=False)


@contextlib.contextmanager
def unnormalised_probabilities():
    """Within this block, multiclass probabilities are not checked to sum to 1 (the [0, 1] check
    stays). For callers that pass the losses probability maps that sum to less than 1 by
    construction: :func:`jaxseg_losses.multiscale.multi_scale` blurs probabilities with an
    unnormalised, zero-padded kernel. Checks are made while tracing, so the block must enclose
    the trace (a loss already wrapped in ``jax.jit`` keeps the checks of its first trace)."""
    token = _SUM_CHECK_LIFTED.set(True)
    try:
        yield
    finally:
        _SUM_CHECK_LIFTED.reset(token)


@jax.custom_jvp
def _finite_or_nan(x: jax.Array) -> jax.Array:
    """``x`` where finite, NaN at +-inf and NaN, and a NaN gradient at those entries."""
    # +-inf -> NaN (inf - inf), finite values exact: on CPU about 10% cheaper per loss than a
    # compare and select (benchmarks/loss_revisions.py).
    return x - (x - x)


@_finite_or_nan.defjvp
def _finite_or_nan_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    poison = x - x  # 0 where x is finite, NaN elsewhere
    # The tangent (and so the gradient) is NaN at a bad entry whatever the loss does after it
    # (a sort or a clip would otherwise give it a zero gradient).
    return x - poison, t * (1.0 + poison)


def poison_unless(ok: jax.Array, values: jax.Array) -> jax.Array:
    """``values`` where ``ok``, NaN elsewhere, with a NaN gradient at the NaN entries (unlike
    :func:`nan_unless`, whose select gives them a zero gradient): a bad prediction's gradient is
    NaN whatever the loss computes from it."""
    return values * jnp.where(ok, 1.0, jnp.nan)


def check_prediction_values(predictions: jax.Array, from_logits: bool, *,
                            mode: Mode | None = None, name: str = "predictions") -> jax.Array:
    """Value checks of float32 predictions; returns them with every bad entry set to NaN.

    Logits must be finite (+-inf has no loss value here; mask a class with a large finite
    logit such as -1e4 instead); probabilities (``from_logits=False``) must lie in [0, 1] and,
    with ``mode="multiclass"``, sum to 1 over the classes within
    :data:`PROBABILITY_SUM_TOLERANCE` (every entry of a pixel whose sum is off is bad). Bad
    entries raise ``ValueError`` eagerly and are checkify checks under tracing; unchecked, they
    become NaN, and so does the gradient at them.
    """
    if from_logits:
        value_check(jnp.all(jnp.isfinite(predictions)),
                    f"{name}: logits must be finite; got NaN or +-inf")
        return _finite_or_nan(predictions)
    ok = (predictions >= 0) & (predictions <= 1)
    value_check(
        jnp.all(ok),
        f"{name}: from_logits=False expects probabilities in [0, 1]; "
        "got values in [{lo}, {hi}] (or NaN)",
        lo=jnp.min(predictions),
        hi=jnp.max(predictions),
    )
    if mode == "multiclass" and not _SUM_CHECK_LIFTED.get():
        # One reduction over the class axis, on the probability path only.
        total = jnp.sum(predictions, axis=-1, keepdims=True)
        sums_ok = jnp.abs(total - 1.0) <= PROBABILITY_SUM_TOLERANCE
        value_check(
            jnp.all(sums_ok | jnp.isnan(total)),  # NaN: reported by the check above
            f"{name}: mode='multiclass' with from_logits=False expects probabilities that sum "
            f"to 1 over the classes (within {PROBABILITY_SUM_TOLERANCE:g}); got sums in "
            "[{lo}, {hi}] (pass logits, or mode='multilabel' for independent classes)",
            lo=jnp.min(total),
            hi=jnp.max(total),
        )
        ok = ok & sums_ok
    return poison_unless(ok, predictions)


def prepare(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> Prepared:
    """Validates a loss call and returns dense float32 targets and pixel weights.

    Integer labels ``(B, *spatial)`` become one-hot targets (binary mode: the label itself in one
    channel); ``ignore_index`` pixels get weight 0 and all-zero targets. Dense labels
    ``(B, *spatial, C)`` are used as given (soft values are not rounded).
    """
    preds = check_predictions(binary_class_axis(predictions, labels, mode))
    num_classes = preds.shape[-1]
    check_mode(mode, num_classes)
    preds = check_prediction_values(preds, from_logits, mode=mode)
    targets, valid = dense_targets(
        labels, preds.shape, mode=mode, ignore_index=ignore_index
    )
    valid = valid * resolve_mask(mask, preds.shape[:-1])
    if mask is not None or jnp.issubdtype(jnp.result_type(labels), jnp.floating):
        # A bad mask value or dense target left the pixel's weight NaN: its predictions get a
        # NaN gradient too, whatever the loss does with the weight (a select on "weight > 0"
        # would give them a zero gradient). Only on these two paths: integer labels are never
        # NaN (out of range, they are excluded).
        preds = poison_unless(~jnp.isnan(valid)[..., None], preds)
    class_index = None
    if mode == "multiclass" and jnp.shape(labels) == preds.shape[:-1]:
        # -1 wherever the one-hot targets are all zero (ignored or, unchecked, out of range).
        index, kept = _index_labels(labels, ignore_index)
        class_index = jnp.where(kept & (index >= 0) & (index < num_classes), index, -1)
    return Prepared(preds, targets, valid, mode, from_logits, class_index)


REGION_REDUCTIONS = ("example", "class")
AVERAGES = ("macro", "micro")
ABSENT_CLASSES = ("score", "zero", "exclude")


def check_region_reduction(
    reduction: str, class_weights, average: str = "macro", absent_classes: str = "score"
) -> None:
    """``reduction`` of a region loss, ``class_weights`` only with ``"example"``, ``average``
    (``"micro"`` has no per-class values) and ``absent_classes``."""
    check_choice("reduction", reduction, REGION_REDUCTIONS)
    check_choice("average", average, AVERAGES)
    check_choice("absent_classes", absent_classes, ABSENT_CLASSES)
    if average == "micro" and reduction == "class":
        raise ValueError(
            "reduction='class': average='micro' pools the classes before the ratio, so there "
            "are no per-class values; use average='macro' for them"
        )
    if reduction == "class" and class_weights is not None:
        raise ValueError(
            "class_weights: only used by reduction='example' (reduction='class' returns the "
            "unweighted per-class losses); drop one of them"
        )


def prepare_region(
    predictions, labels, *, mode, from_logits, mask, ignore_index, class_weights, reduction,
    average: str = "macro", absent_classes: str = "score",
) -> tuple[Prepared, jax.Array | None]:
    """:func:`prepare` for a per-class region loss: its options checked first
    (:func:`check_region_reduction`), then the inputs, then ``class_weights`` against the
    classes -> ``(record, (C,) weights or None)``."""
    check_region_reduction(reduction, class_weights, average, absent_classes)
    prep = prepare(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index,
    )
    return prep, check_class_vector(class_weights, prep.num_classes, name="class_weights")


def dense_targets(
    labels: jax.typing.ArrayLike,
    predictions_shape: tuple[int, ...],
    *,
    mode: Mode,
    ignore_index: int | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Labels -> ``(targets (B, *spatial, C), valid (B, *spatial))``, both float32."""
    y = jnp.asarray(labels)
    num_classes = predictions_shape[-1]
    index_shape = tuple(predictions_shape[:-1])
    if mode == "binary" and y.shape == index_shape and jnp.issubdtype(y.dtype, jnp.floating):
        y = y[..., None]  # a float mask (B, *spatial) in binary mode: dense targets
    if y.shape == index_shape:
        if not integer_dtype(y.dtype):
            raise TypeError(
                f"labels: class indices of shape {shape_str(index_shape)} must have an integer "
                f"dtype; got {y.dtype}. Dense (one-hot or soft) targets must have shape "
                f"{shape_str(predictions_shape)}"
            )
        num_labels = 2 if mode == "binary" else num_classes
        y, kept, in_range = check_class_indices(y, num_labels, ignore_index=ignore_index)
        kept = kept & in_range  # unchecked (jit): excluded like ignore_index, in every mode
        if mode == "binary":
            targets = (y == 1)[..., None].astype(jnp.float32)
        else:
            targets = jax.nn.one_hot(y, num_classes, dtype=jnp.float32)
        targets = targets * kept[..., None].astype(jnp.float32)
        return targets, kept.astype(jnp.float32)
    if y.shape == tuple(predictions_shape):
        check_no_ignore_index(ignore_index, index_shape, y.shape)
        y = y.astype(jnp.float32)
        ok = (y >= 0) & (y <= 1)
        value_check(
            jnp.all(ok),
            "labels: dense targets must lie in [0, 1] (NaN is not allowed); "
            "got values in [{lo}, {hi}]",
            lo=jnp.min(y),
            hi=jnp.max(y),
        )
        # The pixel's weight is NaN too: losses that only compare targets (distance maps,
        # sorting) still carry the NaN through their weighted sums.
        return nan_unless(ok, y), nan_unless(jnp.all(ok, axis=-1), jnp.ones(index_shape))
    hint = ""
    if len(predictions_shape) >= 4 and y.shape in (
        (predictions_shape[0], *predictions_shape[2:]), tuple(predictions_shape)[:1]
        + (1, *predictions_shape[2:])
    ):
        hint = (
            ". The predictions look channels-first (B, C, *spatial); this library takes "
            "channels last: pass jnp.moveaxis(predictions, 1, -1)"
        )
    raise ValueError(
        f"labels: expected class indices of shape (B, *spatial) = {shape_str(index_shape)} or "
        f"dense targets of shape (B, *spatial, C) = {shape_str(predictions_shape)}; "
        f"got shape {shape_str(y.shape)}{hint}"
    )


def check_class_indices(
    labels: jax.typing.ArrayLike,
    num_labels: int,
    *,
    ignore_index: int | None = None,
    name: str = "labels",
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Range check of integer class indices (dtype and shape checked by the caller).

    Returns ``(int32 indices, kept, in_range)``, all of the labels' shape: ``kept`` is "not
    ``ignore_index``", ``in_range`` is "in ``[0, num_labels - 1]``". A kept index out of range
    raises ``ValueError`` on concrete input and is a checkify check under tracing; unchecked,
    the caller decides what ``~in_range`` means (the losses exclude the pixel).
    """
    y, kept = _index_labels(labels, ignore_index)
    in_range = (y >= 0) & (y < num_labels)
    value_check(
        jnp.all(~kept | in_range),
        f"{name}: class indices must lie in [0, {num_labels - 1}]"
        + ("" if ignore_index is None else f" or equal ignore_index={ignore_index}")
        + "; got values in [{lo}, {hi}]",
        lo=jnp.min(jnp.where(kept, y, 0)),
        hi=jnp.max(jnp.where(kept, y, 0)),
    )
    return y, kept, in_range


def check_no_ignore_index(ignore_index: int | None, index_shape, dense_shape) -> None:
    """``ignore_index`` names a class index: with dense labels, exclusion is ``mask=``'s job."""
    if ignore_index is not None:
        raise ValueError(
            "ignore_index: only applies to integer class-index labels of shape "
            f"{shape_str(index_shape)}; with dense labels {shape_str(dense_shape)} pass mask="
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
    ok = (m >= 0) & jnp.isfinite(m)
    value_check(jnp.all(ok), "mask: values must be finite and >= 0")
    return jnp.broadcast_to(nan_unless(ok, m), index_shape)


def check_number(name: str, value, *, low: float = 0.0, high: float | None = None,
                  strict: bool = False) -> None:
    """Range check of a finite scalar option: ``ValueError`` naming it when its value is known,
    a checkify check when it is traced."""
    if np.ndim(value) != 0:
        raise ValueError(f"{name}: expected a scalar; got shape {np.shape(value)}")
    bounds = f"{'>' if strict else '>='} {low}" + ("" if high is None else f" and <= {high}")
    bounds += " (finite)"
    if not is_concrete(value):
        v = jnp.asarray(value, jnp.float32)
        ok = jnp.isfinite(v) & ((v > low) if strict else (v >= low))
        if high is not None:
            ok = ok & (v <= high)
        value_check(ok, f"{name}: expected a value {bounds}; got {{value}}", value=v)
        return
    try:
        v = float(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a number; got {value!r}") from None
    ok = (v > low if strict else v >= low) and (high is None or v <= high)
    if not ok or not np.isfinite(v):
        raise ValueError(f"{name}: expected a value {bounds}; got {v}")


def check_count(name: str, value, *, low: int = 1) -> int:
    """A static count (a loop length, a kernel size, a bound that sets a shape): a Python or
    NumPy integer ``>= low``, returned as an ``int``. A ``bool``, a float or an array raises
    ``TypeError``, a smaller value ``ValueError``, each naming the argument.

    Example:
      >>> check_count("iterations", 3, low=0)
      3
      >>> check_count("iterations", 2.5)
      Traceback (most recent call last):
      ...
      TypeError: iterations: expected an integer; got 2.5 (float)
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}: expected an integer; got {value!r} ({type(value).__name__})")
    if value < low:
        raise ValueError(f"{name}: expected an integer >= {low}; got {value!r}")
    return int(value)


# --- Boolean options ------------------------------------------------------------------------

_F = TypeVar("_F", bound=Callable[..., Any])


def _boolean_kind(parameter: inspect.Parameter) -> str | None:
    """``"bool"``, ``"optional"`` (``bool | None``: None is a documented value) or ``None`` (not
    a boolean option), from the annotation (a string under ``from __future__ import
    annotations``) or, without one, from a ``bool`` default."""
    annotation = parameter.annotation
    if annotation is inspect.Parameter.empty:
        return "bool" if isinstance(parameter.default, bool) else None
    text = annotation if isinstance(annotation, str) else getattr(  # a ForwardRef, a type
        annotation, "__forward_arg__", getattr(annotation, "__name__", repr(annotation)))
    text = text.replace(" ", "").replace("typing.", "")
    if text.startswith("Optional[") and text.endswith("]"):
        text = text[len("Optional["):-1] + "|None"
    parts = set(text.split("|"))
    if parts == {"bool"}:
        return "bool"
    if parts == {"bool", "None"}:
        return "optional"
    if isinstance(parameter.default, bool):
        raise TypeError(
            f"{parameter.name}: a bool default with the annotation {annotation!r}; annotate "
            "boolean options 'bool' (or 'bool | None' where None is a documented value)"
        )
    return None


def check_bool(name: str, value: Any, *, optional: bool = False) -> bool | None:
    """``value`` as a Python bool, or ``TypeError`` naming option ``name``.

    ``True``/``False`` and ``numpy.bool_`` are accepted (and ``None`` when ``optional``);
    everything else is an error, strings and numbers included (``"false"`` is truthy). A JAX
    array, traced or not, is refused: boolean options choose the computation, so they are
    static Python values.
    """
    if value.__class__ is bool or (optional and value is None):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    expected = "True, False or None" if optional else "True or False"
    if isinstance(value, jax.Array):  # tracers included
        kind = "a traced value" if isinstance(value, jax.core.Tracer) else "a JAX array"
        raise TypeError(
            f"{name}: expected a static Python bool ({expected}); got {kind} of shape "
            f"{shape_str(value.shape)} and dtype {value.dtype}. It selects the computation, so "
            "it cannot be traced: pass a Python bool (under jax.jit, close over it or mark it "
            "static with static_argnames)"
        )
    raise TypeError(f"{name}: expected {expected}; got {value!r} ({type(value).__name__})")


def boolean_parameters(fn: Callable[..., Any]) -> tuple[tuple[str, int | None, bool], ...]:
    """``(name, positional index or None, optional)`` of every boolean option of ``fn``: a
    parameter annotated ``bool`` or ``bool | None``, or unannotated with a ``bool`` default."""
    found = []
    for index, p in enumerate(inspect.signature(fn).parameters.values()):
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        kind = _boolean_kind(p)
        if kind is None:
            continue
        positional = p.kind in (inspect.Parameter.POSITIONAL_ONLY,
                                inspect.Parameter.POSITIONAL_OR_KEYWORD)
        found.append((p.name, index if positional else None, kind == "optional"))
    return tuple(found)


def boolean_options(fn: _F) -> _F:
    """Decorator: every boolean option of ``fn`` takes ``True``/``False`` only.

    The options (see :func:`boolean_parameters`) are found once, here; each call checks the
    ones it passes with :func:`check_bool` (``TypeError`` naming the option, at trace time
    under ``jit``; a ``numpy.bool_`` is passed on as a Python bool). ``functools.wraps`` keeps
    the name, docstring, signature (through ``__wrapped__``) and module of ``fn``; the checked
    names are in the wrapper's ``boolean_options`` attribute (see
    :func:`check_boolean_keywords`).
    """
    checks = boolean_parameters(fn)
    if not checks:
        raise TypeError(f"boolean_options: {fn.__qualname__} has no boolean option")

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for name, position, optional in checks:
            if name in kwargs:
                value = kwargs[name]
                if value.__class__ is not bool:
                    kwargs[name] = check_bool(name, value, optional=optional)
            elif position is not None and position < len(args):
                value = args[position]
                if value.__class__ is not bool:
                    args = (*args[:position], check_bool(name, value, optional=optional),
                            *args[position + 1:])
        return fn(*args, **kwargs)

    wrapper.boolean_options = {name: optional for name, _, optional in checks}
    return wrapper  # type: ignore[return-value]


def check_boolean_keywords(fn: Callable[..., Any], options: Mapping[str, Any]) -> None:
    """Checks keyword ``options`` bound to ``fn`` now (combinators that bind options at build
    time), when ``fn`` is decorated with :func:`boolean_options`; the call checks them again."""
    target = fn.func if isinstance(fn, functools.partial) else fn
    declared = getattr(target, "boolean_options", None)
    if not declared:
        return
    for name, value in options.items():
        if name in declared:
            check_bool(name, value, optional=declared[name])


class Renamed(NamedTuple):
    """An option's new spelling: its ``name`` and, when its values were renamed too, the map
    ``values`` from each old value to the new one (old values not in it pass unchanged)."""

    name: str
    values: Mapping[Any, Any] | None = None


def translate_options(fn: Callable[..., Any], options: Mapping[str, Any],
                      *, stacklevel: int = 2) -> dict[str, Any]:
    """``options`` with the old spellings of ``fn``'s renamed options (see
    :func:`renamed_options`) replaced by the new ones, a ``DeprecationWarning`` for each;
    ``TypeError`` when an option is given under both names. Unchanged for any other ``fn``
    (combinators that bind options at build time call it before checking them).
    ``stacklevel`` is :func:`warnings.warn`'s, counted from inside this function (the default
    2 points the warning at its caller; pass one more per frame between it and the user)."""
    target = fn.func if isinstance(fn, functools.partial) else fn
    renames: Mapping[str, Renamed] = getattr(target, "renamed_options", None) or {}
    if not renames.keys() & options.keys():
        return dict(options)
    where = getattr(target, "__qualname__", repr(target))
    out = {}
    for key, value in options.items():
        new = renames.get(key)
        if new is None:
            out[key] = value
            continue
        if new.name in options:
            raise TypeError(f"{where}: got both {key!r} and its new name {new.name!r}; "
                            f"pass {new.name!r} only")
        shown = f"{new.name}="
        if new.values is not None and isinstance(value, str) and value in new.values:
            shown += repr(new.values[value])
            value = new.values[value]
        else:
            shown += "..."
        warnings.warn(f"{where}: option {key!r} is renamed {new.name!r} (pass {shown}); the old "
                      "spelling is accepted until the next release", DeprecationWarning,
                      stacklevel=stacklevel)
        out[new.name] = value
    return out


def renamed_options(**renames: str | Renamed) -> Callable[[_F], _F]:
    """Decorator: keyword options renamed in this release keep their old spelling one release.

    ``@renamed_options(old="new")`` (or ``old=Renamed("new", {"old value": "new value"})``
    when values were renamed too) on top of a function whose signature has ``new`` (and no
    ``old``): a call passing ``old=`` gets a ``DeprecationWarning`` naming both and is forwarded
    as ``new=``; passing both is a ``TypeError``. The signature users see (``inspect``,
    ``help``) is the new one, through ``__wrapped__``; the renames are in the wrapper's
    ``renamed_options`` attribute (``{old: Renamed}``, read by :func:`translate_options`).
    Composes with :func:`boolean_options` (either order; put it outermost so the warning points
    at the caller). Every rename is listed in ``CHANGELOG.md``.
    """
    table = {old: new if isinstance(new, Renamed) else Renamed(new)
             for old, new in renames.items()}

    def decorate(fn: _F) -> _F:
        params = inspect.signature(fn).parameters
        for old, new in table.items():
            if new.name not in params or old in params:
                raise TypeError(f"renamed_options: {fn.__qualname__} must take {new.name!r} "
                                f"and not {old!r}")

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if table.keys() & kwargs.keys():
                kwargs = translate_options(wrapper, kwargs, stacklevel=3)
            return fn(*args, **kwargs)

        wrapper.renamed_options = {**getattr(fn, "renamed_options", {}), **table}
        return wrapper  # type: ignore[return-value]

    return decorate
