r"""Loss combinators in the style of optax: named, weighted sums of loss terms.

A *loss term* is any function ``term(predictions, labels, **options) -> (B,)`` (every loss of
this library is one). :func:`named_sum` builds a new loss from uniquely named terms, each with a
weight that is a number or an optax schedule of the training step (``optax.ScalarOrSchedule``,
dispatched as optax does: ``callable(weight)`` means a schedule):

.. math::
    L(\hat y, y;\ t) = \sum_k w_k(t)\, L_k(\hat y, y)

The combined loss has the signature

``loss(predictions, labels, *, step=0, **kwargs) -> (total, aux)``

with ``total`` of shape ``(B,)`` and ``aux`` a flat ``dict`` holding, for every term ``name``,
its *unweighted* per-example value ``aux[name]`` ``(B,)`` and its current weight
``aux[name + "/weight"]`` (a scalar), ready for logging (e.g. ``nnx.MultiMetric``).

Design choices (after ``optax.named_chain`` / ``chain`` and ``optax.ScalarOrSchedule``):

* **Unique names**, as ``optax.named_chain``: a name is a non-empty string without ``"/"`` and is
  not ``"weight"`` (reserved for the weight entries), so nested names stay unambiguous.
* **Extra keyword arguments are routed**, as optax's ``with_extra_args_support``: a keyword given
  to the combined loss (``mask=``, ``sampling=``, ``axis_name=`` ...) reaches exactly the terms
  whose signature accepts it (a keyword parameter, or ``**kwargs``). Signatures are inspected once,
  when the combination is built. A keyword that no term accepts raises ``TypeError``. ``step`` is
  passed to the terms that declare a ``step`` parameter (nested combinations do), never through a
  bare ``**kwargs``.
* **The step is an explicit, traceable argument** (optax keeps a count in its state; in Flax the
  count already lives in ``optimizer.step``): pass ``step=optimizer.step[...]``. Under ``jit``
  the step is traced, so one compilation serves every step.
* **Combinations compose**: a combined loss is itself a term. A term that returns a pair
  ``(total, aux)`` contributes ``total`` and its ``aux`` entries under the prefix ``name/``
  (``"outer/inner"``, ``"outer/inner/weight"``).
* Term values must all have the same shape ``(B,)``; the total is float32.
* Weights may have any sign (:func:`jaxseg_losses.recipes.combo_loss` subtracts a Dice score).

Helpers: :func:`weighted` and :func:`scheduled` bind options and a weight to a function;
:func:`masked` restricts a term to a mask computed from the inputs; :func:`on_classes` averages a
region loss over some classes only. The paper recipes built from these (Combo, BCE+Dice, the
boundary-loss schedule) live in :mod:`jaxseg_losses.recipes`.

Every combinator is a pure function: it jit-compiles, vmaps and differentiates like its terms.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxseg_losses._inputs import (
    check_boolean_keywords,
    is_concrete,
    shape_str,
    translate_options,
    value_check,
)

__all__ = (
    "Accepts",
    "CombinedLoss",
    "Term",
    "masked",
    "named_sum",
    "on_classes",
    "scheduled",
    "weight_value",
    "weighted",
)

LossFn = Callable[..., Any]


class Term(NamedTuple):
    """A loss term and its weight, like ``optax.GradientTransformation`` a ``NamedTuple``.

    Attributes:
      fn: the loss ``fn(predictions, labels, **options) -> (B,)`` (or ``(total, aux)``).
      weight: a number, a scalar array, or an optax schedule ``step -> weight``. Default 1.
    """

    fn: LossFn
    weight: optax.ScalarOrSchedule = 1.0


class Accepts(NamedTuple):
    """Keyword arguments a term accepts (found once, when a combination is built).

    Attributes:
      names: keyword parameters it names (``step`` included when it has one).
      any_other: ``True`` when it also takes ``**kwargs`` (every routed keyword except ``step``).
    """

    names: frozenset[str]
    any_other: bool

    def __contains__(self, name: object) -> bool:
        return name in self.names or (self.any_other and name != "step")


_ACCEPTS_NOTHING = Accepts(frozenset(), False)


def accepted_kwargs(fn: LossFn) -> Accepts:
    """The keyword arguments ``fn`` accepts after ``(predictions, labels)``.

    Functions built here carry an ``accepted_kwargs`` attribute; other callables are inspected
    with :func:`inspect.signature` (``functools.partial`` and ``jax.jit`` wrappers included). A
    callable without an inspectable signature accepts no keyword.
    """
    declared = getattr(fn, "accepted_kwargs", None)
    if isinstance(declared, Accepts):
        return declared
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return _ACCEPTS_NOTHING
    names, any_other, positional = set(), False, 0
    for p in signature.parameters.values():
        if p.kind is inspect.Parameter.POSITIONAL_ONLY:
            positional += 1
        elif p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            positional += 1
            if positional > 2:
                names.add(p.name)
        elif p.kind is inspect.Parameter.VAR_POSITIONAL:
            positional = max(positional, 2)
        elif p.kind is inspect.Parameter.KEYWORD_ONLY:
            names.add(p.name)
        elif p.kind is inspect.Parameter.VAR_KEYWORD:
            any_other = True
    if positional < 2:
        raise TypeError(
            f"loss term {_describe(fn)}: expected a function of (predictions, labels, ...); "
            f"its signature is {signature}"
        )
    return Accepts(frozenset(names), any_other)


def _describe(fn: LossFn) -> str:
    name = getattr(fn, "__name__", None)
    if name is None and isinstance(fn, functools.partial):
        name = getattr(fn.func, "__name__", None)
    return repr(name) if name is not None else repr(fn)


def check_weight(weight: Any, name: str = "weight") -> None:
    """A weight is a finite number, a scalar array or a callable schedule (checked at build)."""
    if callable(weight):
        return
    if isinstance(weight, (bool, str, bytes)) or weight is None:
        raise TypeError(f"{name}: expected a number or an optax schedule; got {weight!r}")
    try:
        value = jnp.asarray(weight)
    except TypeError:
        raise TypeError(
            f"{name}: expected a number or an optax schedule; got {weight!r}"
        ) from None
    if value.ndim != 0 or not jnp.issubdtype(value.dtype, jnp.number):
        raise TypeError(f"{name}: expected a scalar number; got {weight!r}")
    if is_concrete(value) and not bool(jnp.isfinite(value)):
        raise ValueError(f"{name}: expected a finite number; got {weight!r}")


def weight_value(
    weight: optax.ScalarOrSchedule, step: jax.typing.ArrayLike, *, name: str = "weight"
) -> jax.Array:
    """The float32 value of a weight at ``step``: ``weight(step)`` for a schedule, else itself.

    A non-finite value (a NaN schedule, a NaN step) raises ``ValueError`` naming ``name``
    eagerly, and is a checkify check under ``jit`` (the sum is then NaN).

    Args:
      weight: a number or an optax schedule.
      step: the step count (may be traced).
      name: how errors name the weight.

    Returns:
      A float32 scalar.

    Example:
      >>> import optax
      >>> float(weight_value(optax.linear_schedule(0.0, 1.0, 10), 5))
      0.5
    """
    if callable(weight):
        value_check(jnp.all(jnp.isfinite(jnp.asarray(step, jnp.float32))),
                    f"step: expected a finite step count for {name}; got {{step}}", step=step)
        weight = weight(step)
    if weight is None or isinstance(weight, (str, bytes)):
        raise TypeError(f"{name}: expected a number; got {weight!r}")
    value = jnp.asarray(weight, jnp.float32)
    if value.ndim != 0:
        raise ValueError(f"{name}: expected a scalar; got shape {shape_str(value.shape)}")
    value_check(jnp.isfinite(value), f"{name}: expected a finite value; got {{value}}",
                value=value)
    return value


def _check_term(fn: Any, where: str) -> Accepts:
    """A loss term is a callable of ``(predictions, labels, ...)``: ``TypeError`` now otherwise
    (not at the first call). Returns the keywords it accepts."""
    if not callable(fn):
        raise TypeError(
            f"{where}: expected a loss term, a callable (predictions, labels, **options) -> (B,); "
            f"got {fn!r} ({type(fn).__name__})"
        )
    return accepted_kwargs(fn)


def _bind(fn: LossFn, options: Mapping[str, Any], where: str) -> LossFn:
    accepts = _check_term(fn, where)
    if not options:
        return fn
    options = translate_options(fn, options, stacklevel=4)  # user, weighted (or ...), _bind
    unknown = sorted(k for k in options if k not in accepts)
    if unknown:
        raise TypeError(f"loss term {_describe(fn)}: does not accept option(s) {unknown}")
    check_boolean_keywords(fn, options)  # a bad flag fails now, not at the first step
    return functools.partial(fn, **options)


def weighted(fn: LossFn, weight: optax.ScalarOrSchedule, **options: Any) -> Term:
    """A :class:`Term`: ``fn`` with keyword ``options`` bound and a fixed or scheduled weight.

    Args:
      fn: a loss term.
      weight: a number or an optax schedule of the step (use ``fn`` itself for weight 1).
      **options: keyword options bound to ``fn`` (checked against its signature now).

    Returns:
      A :class:`Term` ``(fn, weight)`` for :func:`named_sum`.

    Example:
      >>> from jaxseg_losses import cross_entropy
      >>> term = weighted(cross_entropy, 0.5, label_smoothing=0.1)
      >>> term.weight
      0.5
    """
    check_weight(weight)
    return Term(_bind(fn, options, "weighted"), weight)


def scheduled(fn: LossFn, schedule: optax.Schedule, **options: Any) -> Term:
    """A :class:`Term` whose weight follows ``schedule(step)`` (any optax schedule).

    Same as :func:`weighted`, but insists on a schedule, for readable recipes.

    Args:
      fn: a loss term.
      schedule: an optax schedule, ``step -> weight``.
      **options: keyword options bound to ``fn`` (checked against its signature now).

    Returns:
      A :class:`Term` ``(fn, schedule)`` for :func:`named_sum`.

    Example:
      >>> import optax
      >>> from jaxseg_losses import cross_entropy
      >>> term = scheduled(cross_entropy, optax.linear_schedule(0.0, 1.0, 100))
      >>> float(weight_value(term.weight, 50))
      0.5
    """
    if not callable(schedule):
        raise TypeError(
            f"schedule: expected a callable step -> weight (an optax schedule); got {schedule!r}. "
            "Use weighted(fn, weight) for a fixed weight"
        )
    return Term(_bind(fn, options, "scheduled"), schedule)


def _as_term(item: Any) -> tuple[str, Term]:
    if not isinstance(item, tuple) or len(item) not in (2, 3) or not isinstance(item[0], str):
        raise TypeError(
            "named_sum: each term is (name, fn), (name, fn, weight) or (name, Term); "
            f"got {item!r}"
        )
    name = item[0]
    if len(item) == 3:
        term = Term(item[1], item[2])
    elif isinstance(item[1], Term):
        term = item[1]
    else:
        term = Term(item[1], 1.0)
    if not callable(term.fn):
        raise TypeError(f"named_sum: term {name!r} is not callable; got {term.fn!r}")
    check_weight(term.weight, f"named_sum: the weight of term {name!r}")
    if not name or "/" in name or name == "weight":
        raise ValueError(
            f"named_sum: term names must be non-empty, contain no '/' and not be 'weight' "
            f"(reserved); got {name!r}"
        )
    return name, term


class CombinedLoss:
    """A named, weighted sum of loss terms; build it with :func:`named_sum`.

    Calling it: ``loss(predictions, labels, *, step=0, **kwargs) -> (total (B,), aux dict)``.

    Attributes:
      names: the term names, in order.
      terms: the :class:`Term` of each name, in order.
      accepted_kwargs: the keywords it routes (union over its terms, plus ``step``).
    """

    def __init__(self, named_terms: Sequence[tuple[str, Term]]):
        self.names = tuple(name for name, _ in named_terms)
        self.terms = tuple(term for _, term in named_terms)
        self._accepts = tuple(accepted_kwargs(term.fn) for term in self.terms)
        names = frozenset().union(*(a.names for a in self._accepts)) | {"step"}
        self.accepted_kwargs = Accepts(names, any(a.any_other for a in self._accepts))

    def __repr__(self) -> str:
        inner = ", ".join(
            f"({name!r}, {_describe(t.fn)}, {'<schedule>' if callable(t.weight) else t.weight})"
            for name, t in zip(self.names, self.terms, strict=True)
        )
        return f"named_sum({inner})"

    def __call__(
        self,
        predictions: Any,
        labels: Any,
        *,
        step: jax.typing.ArrayLike = 0,
        **kwargs: Any,
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        unused = sorted(k for k in kwargs if k not in self.accepted_kwargs)
        if unused:
            raise TypeError(
                f"{self!r}: keyword argument(s) {unused} accepted by no term "
                f"(terms: {list(self.names)})"
            )
        total = None
        aux: dict[str, jax.Array] = {}
        for name, term, accepts in zip(self.names, self.terms, self._accepts, strict=True):
            routed = {k: v for k, v in kwargs.items() if k in accepts}
            if "step" in accepts:
                routed["step"] = step
            out = term.fn(predictions, labels, **routed)
            nested: Mapping[str, jax.Array] = {}
            if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], Mapping):
                out, nested = out
            if out is None or isinstance(out, (str, bytes)):
                raise TypeError(f"term {name!r}: expected an array of losses; got {out!r}")
            value = jnp.asarray(out, jnp.float32)
            if value.ndim != 1 or (total is not None and value.shape != total.shape):
                expected = "(B,)" if total is None else shape_str(total.shape)
                raise ValueError(
                    f"term {name!r}: expected a per-example loss of shape {expected}; got shape "
                    f"{shape_str(value.shape)} (use reduction='example')"
                )
            value_check(~jnp.any(jnp.isnan(value)), f"term {name!r}: returned NaN")
            weight = weight_value(term.weight, step, name=f"the weight of term {name!r}")
            total = weight * value if total is None else total + weight * value
            aux[name] = value
            aux[f"{name}/weight"] = weight
            for key, entry in nested.items():
                aux[f"{name}/{key}"] = entry
        assert total is not None
        return total, aux


def named_sum(*terms: tuple) -> CombinedLoss:
    r"""Weighted sum of uniquely named loss terms, each weight a number or an optax schedule.

    .. math::
        L(\hat y, y;\ t) = \sum_k w_k(t)\, L_k(\hat y, y)

    Args:
      *terms: each ``(name, fn)`` (weight 1), ``(name, fn, weight)`` or ``(name, Term)``, where
        ``fn(predictions, labels, **options)`` returns ``(B,)`` (or a nested ``(total, aux)``) and
        ``weight`` is a number, a scalar array or an optax schedule ``step -> weight``.

    Returns:
      A :class:`CombinedLoss` ``loss(predictions, labels, *, step=0, **kwargs)`` returning
      ``(total, aux)``: ``total`` ``(B,)`` float32; ``aux[name]`` the unweighted ``(B,)`` value of
      each term and ``aux[name + "/weight"]`` its weight at ``step``; nested entries as
      ``"name/inner"``. Keyword arguments reach the terms that accept them (see the module
      docstring).

    Raises:
      ValueError: duplicate or malformed names. TypeError: a term that is not a function of
        ``(predictions, labels, ...)``.

    Example:
      >>> import jax.numpy as jnp, optax
      >>> from jaxseg_losses import cross_entropy, focal_loss
      >>> loss = named_sum(
      ...     ("ce", cross_entropy),
      ...     ("focal", focal_loss, optax.linear_schedule(0.0, 2.0, 10)),
      ... )
      >>> logits, labels = jnp.zeros((2, 4, 4, 3)), jnp.zeros((2, 4, 4), int)
      >>> total, aux = loss(logits, labels, step=5)
      >>> sorted(aux)
      ['ce', 'ce/weight', 'focal', 'focal/weight']
      >>> aux["focal/weight"]
      Array(1., dtype=float32)
      >>> bool(jnp.allclose(total, aux["ce"] + aux["focal"]))
      True
    """
    if not terms:
        raise ValueError("named_sum: expected at least one (name, fn[, weight]) term")
    named = [_as_term(item) for item in terms]
    names = [name for name, _ in named]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"named_sum: term names must be unique; repeated: {duplicates}")
    return CombinedLoss(named)


def masked(
    fn: LossFn,
    mask: Callable[[Any, Any], jax.typing.ArrayLike] | jax.typing.ArrayLike,
) -> LossFn:
    """Restricts a term to a mask: ``fn(predictions, labels, mask=m * given_mask, ...)``.

    Args:
      fn: a loss term that accepts ``mask`` (every loss of this library does).
      mask: ``(B, *spatial)`` pixel weights, or a function ``mask(predictions, labels)`` returning
        them (e.g. a region of interest derived from the labels). It is multiplied with the
        ``mask`` given at call time, if any.

    Returns:
      A loss term with the same keywords as ``fn``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import cross_entropy
      >>> top_row = masked(cross_entropy, lambda p, y: jnp.zeros(y.shape).at[:, 0].set(1.0))
      >>> logits = jnp.zeros((1, 2, 2, 2)).at[0, 1, :, 0].set(10.0)  # row 1 is wrong
      >>> top_row(logits, jnp.ones((1, 2, 2), int))  # only row 0 counts: log 2
      Array([0.6931472], dtype=float32)
    """
    accepts = _check_term(fn, "masked")
    if "mask" not in accepts:
        raise TypeError(f"masked: loss term {_describe(fn)} does not accept mask=")

    def masked_term(predictions, labels, **kwargs):
        m = mask(predictions, labels) if callable(mask) else mask
        m = jnp.asarray(m, jnp.float32)
        given = kwargs.pop("mask", None)
        if given is not None:
            m = m * jnp.asarray(given, jnp.float32)
        return fn(predictions, labels, mask=m, **kwargs)

    masked_term.accepted_kwargs = accepts
    masked_term.__name__ = f"masked({getattr(fn, '__name__', 'term')})"
    return masked_term


def on_classes(fn: LossFn, classes: Sequence[int]) -> LossFn:
    """Averages a region loss over the given classes only (the ``idc`` of Kervadec et al.'s code).

    Calls ``fn(predictions, labels, reduction="class", include_background=True, ...)``, whose
    ``(B, C)`` per-class values are averaged over ``classes``. The softmax (or sigmoid) still
    covers every class: only the average is restricted. ``fn`` must offer ``reduction="class"``
    (the region losses of :mod:`jaxseg_losses.region`, Lovász, the Hausdorff DT losses and
    clDice do). A pixel-wise loss has no per-class values (its value at a pixel couples the
    classes), so a class subset of it is not defined: the pixel-wise losses of
    :mod:`jaxseg_losses.pixelwise` declare their reductions (``fn.reductions``) and are refused
    when the term is built (``TypeError``); use their ``class_weights`` instead. A callable that
    is not a function of ``(predictions, labels, ...)`` is refused when built too.

    Args:
      fn: a loss term with ``reduction="class"``.
      classes: class indices (of the full ``C`` channels), at least one, no repeats.

    Returns:
      A loss term ``(predictions, labels, **options) -> (B,)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.region import dice_loss
      >>> probs = jnp.array([[[[1.0, 0.0], [0.0, 1.0]]]])  # (1, 1, 2, 2)
      >>> labels = jnp.array([[[0, 0]]])  # class 1 is predicted but absent
      >>> on_classes(dice_loss, [0])(probs, labels, from_logits=False, smooth=0.0)  # 1 - 2/3
      Array([0.33...], dtype=float32)
    """
    chosen = tuple(int(c) for c in classes)
    if not chosen or len(set(chosen)) != len(chosen) or min(chosen) < 0:
        raise ValueError(
            f"classes: expected distinct non-negative class indices, at least one; got {classes!r}"
        )
    accepts = _check_term(fn, "on_classes")
    if "reduction" not in accepts:
        raise TypeError(
            f"on_classes: loss term {_describe(fn)} has no reduction= option "
            "(it needs reduction='class')"
        )
    declared = getattr(fn.func if isinstance(fn, functools.partial) else fn, "reductions", None)
    if declared is not None and "class" not in declared:
        raise TypeError(
            f"on_classes: loss term {_describe(fn)} is pixel-wise (reduction in "
            f"{tuple(declared)}): its value at a pixel couples the classes (the softmax "
            "cross-entropy reads only the labelled class), so it has no per-class values to "
            "average over a subset. Weight its classes with class_weights= (0 for the others) "
            "or restrict its pixels with mask= / masked() instead"
        )
    pinned = {"reduction": "class"}
    if "include_background" in accepts:
        pinned["include_background"] = True

    def class_term(predictions, labels, **kwargs):
        per_class = jnp.asarray(fn(predictions, labels, **{**kwargs, **pinned}))
        if per_class.ndim != 2:
            raise ValueError(
                f"on_classes: {_describe(fn)} with reduction='class' returned shape "
                f"{shape_str(per_class.shape)}; expected (B, C)"
            )
        if max(chosen) >= per_class.shape[-1]:
            raise ValueError(
                f"classes: indices must be < C = {per_class.shape[-1]}; got {list(chosen)}"
            )
        return jnp.mean(per_class[:, jnp.asarray(chosen)], axis=-1)

    class_term.accepted_kwargs = Accepts(accepts.names - set(pinned), accepts.any_other)
    class_term.__name__ = f"on_classes({getattr(fn, '__name__', 'term')}, {list(chosen)})"
    return class_term
