"""A parsed loss spec -> the combined loss of the training step (the combinators do the work).

The terms become a :func:`jaxseg_losses.combine.named_sum`, so the training loop gets
``loss(logits, labels, step=step) -> (total (B,), aux)`` with every term's value and weight in
``aux``; a schedule becomes an optax-style function of the step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxseg_losses._inputs import translate_options
from jaxseg_losses.adjacency import adjacency_prior, nonadjacency_loss, nonadjacency_term
from jaxseg_losses.combine import CombinedLoss, accepted_kwargs, named_sum
from jaxseg_losses.experiment.registry import LossEntry, lookup, parse
from jaxseg_losses.experiment.spec import LossSpec, Schedule, SpecError, closest, value_str


@dataclasses.dataclass(frozen=True)
class BuildContext:
    """What a loss needs from the experiment.

    Attributes:
      num_classes: channels of the logits.
      total_steps: length of the run (for schedules).
      spacing: voxel spacing (``sampling=`` of the distance-based losses).
      train_labels: ``(N, *spatial)`` training labels, for the adjacency prior.
    """

    num_classes: int
    total_steps: int
    spacing: Sequence[float] | None = None
    train_labels: np.ndarray | None = None


def build_schedule(schedule: Schedule, total_steps: int, scale: float = 1.0) -> Callable:
    """An optax-style schedule ``step -> weight`` for a run of ``total_steps`` steps."""
    kind, args = schedule.kind, schedule.args
    if kind == "const":
        (w,) = args
        return optax.constant_schedule(scale * w)
    a, b = scale * args[0], scale * args[1]
    fraction = args[2] if len(args) > 2 else 1.0
    span = max(1, int(round(fraction * total_steps)))
    if kind == "linear":
        return optax.linear_schedule(a, b, span)
    if kind == "cosine":
        def cosine(step):
            t = jnp.clip(jnp.asarray(step, jnp.float32) / span, 0.0, 1.0)
            return a + (b - a) * 0.5 * (1.0 - jnp.cos(jnp.pi * t))
        return cosine

    def stepped(step):  # kind == "step"
        return jnp.where(jnp.asarray(step) < span, a, b).astype(jnp.float32)
    return stepped


def _term_fn(entry: LossEntry, options: Mapping[str, Any], ctx: BuildContext) -> Callable:
    options = translate_options(entry.fn, options)  # a former option name: a warning, for now
    accepts = accepted_kwargs(entry.fn)
    unknown = sorted(k for k in options if k not in accepts)
    if unknown:
        close = [(k, closest(k, accepts.names, n=1)) for k in unknown]
        hint = ", ".join(f"{c[0]!r} for {k!r}" for k, c in close if c)
        raise SpecError(f"loss {entry.name!r} ({entry.qualified_name}): unknown option(s) "
                        f"{unknown}{f' (did you mean {hint}?)' if hint else ''}; it accepts "
                        f"{sorted(accepts.names)}")
    _check_option_types(entry, options)
    bound = dict(entry.defaults)
    if "mode" in accepts:
        bound["mode"] = "multiclass"
    if "sampling" in accepts and ctx.spacing is not None:
        bound["sampling"] = tuple(float(s) for s in ctx.spacing)
    bound.update(options)
    if entry.fn is nonadjacency_loss:
        # Unsupervised: the prior is counted once on the training labels (the offline step).
        if ctx.train_labels is None:
            raise SpecError("loss 'nonadjacency' needs the training labels to estimate its prior")
        accumulator = adjacency_prior(ctx.num_classes, connectivity=bound.get("connectivity"))
        return nonadjacency_term(accumulator.update(accumulator.init(), ctx.train_labels), **bound)
    fn = entry.fn

    def term(predictions, labels):
        return fn(predictions, labels, **bound)

    term.__name__ = fn.__name__
    return term


def _check_option_types(entry: LossEntry, options: Mapping[str, Any]) -> None:
    """An option whose default is ``True``/``False`` takes ``true`` or ``false`` only.

    Any other value (``per_image=maybe``, ``per_image=1``) would be truthy or falsy in the loss
    and train under a label that says something else. Numbers and choices are checked by the
    loss itself (``check_number``, ``check_choice``) when :func:`check_loss` traces it.
    """
    defaults = entry.options()
    for key, value in options.items():
        if isinstance(defaults.get(key), bool) and not isinstance(value, bool):
            raise SpecError(f"loss {entry.name!r}: option {key}: expected true or false; got "
                            f"{value_str(value)!r}")


def build_loss(spec: LossSpec | str, ctx: BuildContext) -> CombinedLoss:
    """The combined loss of a spec: ``loss(logits, labels, *, step) -> (total (B,), aux)``.

    One named term per spec term (a repeated name gets ``_2``, ``_3``...), its weight a float
    or a schedule over ``total_steps``.
    """
    if isinstance(spec, str):
        spec = parse(spec)
    named, seen = [], {}
    for term in spec.terms:
        entry = lookup(term.name)
        fn = _term_fn(entry, dict(term.options), ctx)
        if term.schedule is None:
            weight: Any = term.weight
        else:
            weight = build_schedule(term.schedule, ctx.total_steps, scale=term.weight)
        seen[term.name] = seen.get(term.name, 0) + 1
        name = term.name if seen[term.name] == 1 else f"{term.name}_{seen[term.name]}"
        named.append((name, fn, weight))
    return named_sum(*named)


def check_loss(spec: LossSpec | str, ctx: BuildContext,
               spatial_shape: Sequence[int]) -> CombinedLoss:
    """Builds the loss and traces it once on zeros of the right shapes (no compilation).

    Bad option values (``focal(gamma=-1)``, ``dice(smooth=abc)``) then fail before any training.
    Returns the combined loss; raises :class:`SpecError` naming the spec.
    """
    if isinstance(spec, str):
        spec = parse(spec)
    loss = build_loss(spec, ctx)
    logits = jax.ShapeDtypeStruct((1, *spatial_shape, ctx.num_classes), jnp.float32)
    labels = jax.ShapeDtypeStruct((1, *spatial_shape), jnp.int32)
    try:
        jax.eval_shape(lambda p, y: loss(p, y, step=0), logits, labels)
    except (ValueError, TypeError) as exc:
        raise SpecError(f"loss spec {spec.label!r}: {exc}") from exc
    return loss
