r"""Loss names for the command line, the loss-spec parser, and the build of a combined loss.

A loss spec is a sum of terms, each a registered loss name with optional options, weight and
weight schedule::

    spec     := term ("+" term)*
    term     := [number "*"] name ["(" option ("," option)* ")"] ["@" schedule]
    option   := key "=" value          value: number | true | false | none | word | "text"
    schedule := const(w) | linear(a, b[, f]) | cosine(a, b[, f]) | step(a, b, f)

Examples: ``ce``, ``dice+focal``, ``0.5*dice + 0.5*ce``, ``focal(gamma=1)``,
``gdl + boundary@linear(0.01, 1.0)``, ``tversky(alpha=0.3, beta=0.7)``.

Schedules are functions of the training step (optax schedules). Their fractions ``f`` are
fractions of the whole run, so a spec means the same thing for any ``--steps``:

* ``const(w)``: always ``w``;
* ``linear(a, b[, f])``: from ``a`` at step 0 to ``b`` at ``f`` of the run (default ``f=1``),
  then ``b`` (``optax.linear_schedule``);
* ``cosine(a, b[, f])``: the same path along a half cosine;
* ``step(a, b, f)``: ``a`` before ``f`` of the run, ``b`` after.

A number in front multiplies the (scheduled) weight: ``0.5*boundary@linear(0,1)`` rises to 0.5.

The terms become a :func:`jaxseg_losses.combine.named_sum`, so the training loop gets
``loss(logits, labels, step=step) -> (total (B,), aux)`` with every term's value and weight in
``aux``. Every loss runs with softmax (``mode="multiclass"``) on ``C = num_classes`` channels
(binary sets have 2 channels); options not given keep the library's defaults, except those
listed in ``defaults`` below.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

import jaxseg_losses as jsl


class SpecError(ValueError):
    """A loss spec that cannot be parsed or built; the message points at the problem."""


# --------------------------------------------------------------------------- the registry


@dataclasses.dataclass(frozen=True)
class LossEntry:
    """A loss the CLI can use.

    Attributes:
      name: the command-line name.
      fn: the loss function itself (a public name of :mod:`jaxseg_losses`).
      family: for ``list``.
      summary: one line for ``list``.
      defaults: options the experiment sets (on top of the library's defaults).
      aliases: other accepted names.
    """

    name: str
    fn: Callable
    family: str
    summary: str
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def qualified_name(self) -> str:
        """``jaxseg_losses.<name>``: the public (top-level) name of the function."""
        return f"jaxseg_losses.{self.fn.__name__}"

    def options(self) -> dict[str, Any]:
        """Keyword options of the function and their defaults (experiment defaults applied)."""
        params = inspect.signature(self.fn).parameters.values()
        found = {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}
        return {**found, **self.defaults}


_ENTRIES = (
    LossEntry("ce", jsl.cross_entropy, "pixel-wise", "softmax cross-entropy",
              aliases=("cross_entropy",)),
    LossEntry("wce", jsl.weighted_cross_entropy, "pixel-wise",
              "class-balanced cross-entropy (weights from each image's class counts)"),
    LossEntry("focal", jsl.focal_loss, "pixel-wise",
              "focal loss (Lin et al. 2017), gamma=2"),
    LossEntry("conservative", jsl.conservative_loss, "pixel-wise",
              "conservative loss (Zhu et al. 2018)"),
    LossEntry("dice", jsl.dice_loss, "overlap", "soft Dice loss"),
    LossEntry("jaccard", jsl.jaccard_loss, "overlap", "soft Jaccard (IoU) loss",
              aliases=("iou",)),
    LossEntry("tversky", jsl.tversky_loss, "overlap",
              "Tversky loss (Salehi et al. 2017), alpha=0.3 (FP), beta=0.7 (FN)"),
    LossEntry("focal_tversky", jsl.focal_tversky_loss, "overlap",
              "focal Tversky loss (Abraham & Khan 2019)", aliases=("ftl",)),
    LossEntry("ss", jsl.sensitivity_specificity_loss, "overlap",
              "sensitivity-specificity loss (Brosch et al. 2015)"),
    LossEntry("gdl", jsl.generalized_dice_loss, "overlap",
              "generalized Dice loss (Sudre et al. 2017), 1/volume^2 class weights"),
    LossEntry("explog", jsl.exp_log_loss, "overlap",
              "exponential logarithmic loss (Wong et al. 2018)"),
    LossEntry("lovasz", jsl.lovasz_softmax_loss, "Lovász",
              "Lovász-Softmax (Berman et al. 2018), convex surrogate of IoU"),
    LossEntry("boundary", jsl.boundary_loss, "distance",
              "boundary loss (Kervadec et al. 2019), mean of p * signed distance; pair it "
              "with a region loss"),
    LossEntry("hausdorff", jsl.hausdorff_dt_loss, "distance",
              "Hausdorff distance-transform loss (Karimi & Salcudean 2019)", aliases=("hd",)),
    LossEntry("loghd", jsl.log_hausdorff_dt_loss, "distance",
              "log Hausdorff-DT loss (MONAI LogHausdorffDTLoss)"),
    LossEntry("dpce", jsl.distance_penalized_cross_entropy, "distance",
              "distance-map penalised cross-entropy (Caliva et al. 2019)"),
    LossEntry("active_contour", jsl.active_contour_loss, "distance",
              "active contour loss (Chen et al. 2019), length + region", aliases=("acl",)),
    LossEntry("nonadjacency", jsl.nonadjacency_loss, "adjacency",
              "non-adjacency loss (Ganaye et al. 2018), prior from the training labels; "
              "pair it with a segmentation loss", aliases=("nonadj",)),
    LossEntry("mcc", jsl.mcc_loss, "overlap",
              "Matthews correlation coefficient loss (Abhishek & Hamarneh 2021)"),
    LossEntry("cldice", jsl.cldice_loss, "topology",
              "soft clDice (Shit et al. 2021): overlap of soft skeletons, for thin structures"),
    LossEntry("dice_cldice", jsl.dice_cldice_loss, "topology",
              "Dice + soft clDice (Shit et al. 2021)"),
    LossEntry("unified_focal", jsl.asymmetric_unified_focal_loss, "compound",
              "asymmetric unified focal loss (Yeung et al. 2022)"),
    LossEntry("hausdorff_erosion", jsl.hausdorff_erosion_loss, "distance",
              "Hausdorff loss by morphological erosion (Karimi & Salcudean 2019)"),
    LossEntry("topk_ce", jsl.topk_cross_entropy, "pixel-wise",
              "top-k cross-entropy: mean CE of the k% hardest pixels", aliases=("topk",)),
    LossEntry("poly_ce", jsl.poly_cross_entropy, "pixel-wise",
              "Poly-1 cross-entropy (Leng et al. 2022)", aliases=("poly",)),
    LossEntry("penalty_gdl", jsl.penalty_generalized_dice_loss, "overlap",
              "penalty generalized Dice loss (Yang et al.)"),
    LossEntry("asym_similarity", jsl.asymmetric_similarity_loss, "overlap",
              "asymmetric similarity (F-beta) loss (Hashemi et al. 2018)"),
    LossEntry("distance_dice", jsl.distance_penalized_dice_loss, "distance",
              "distance-penalised Dice (boundary-weighted counts)"),
    LossEntry("asym_focal", jsl.asymmetric_focal_loss, "pixel-wise",
              "asymmetric focal loss (Yeung et al. 2022)"),
    LossEntry("asym_focal_tversky", jsl.asymmetric_focal_tversky_loss, "overlap",
              "asymmetric focal Tversky loss (Yeung et al. 2022)"),
    LossEntry("combo", jsl.combo_loss, "compound",
              "Combo loss (Taghanaki et al. 2019): weighted CE + Dice"),
    LossEntry("dice_ce", jsl.dice_ce_loss, "compound", "Dice + cross-entropy"),
    LossEntry("dice_focal", jsl.dice_focal_loss, "compound", "Dice + focal"),
)

REGISTRY: dict[str, LossEntry] = {entry.name: entry for entry in _ENTRIES}
_ALIASES: dict[str, str] = {alias: e.name for e in _ENTRIES for alias in e.aliases}

SCHEDULES: dict[str, str] = {
    "const": "const(w): the weight w at every step",
    "linear": "linear(a, b[, f]): a -> b linearly over the fraction f of the run (default 1)",
    "cosine": "cosine(a, b[, f]): a -> b along a half cosine over the fraction f of the run",
    "step": "step(a, b, f): a before the fraction f of the run, b after",
}


def lookup(name: str) -> LossEntry:
    """The registry entry of a name or alias; :class:`SpecError` with suggestions otherwise."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in REGISTRY:
        raise SpecError(f"unknown loss {name!r}; known: {', '.join(REGISTRY)} "
                        "(`jaxseg-losses list` describes them)")
    return REGISTRY[key]


# --------------------------------------------------------------------------- the parser


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A parsed weight schedule: ``kind`` in :data:`SCHEDULES` and its numeric arguments."""

    kind: str
    args: tuple[float, ...]

    def __str__(self) -> str:
        return f"{self.kind}({', '.join(_num(a) for a in self.args)})"

    def build(self, total_steps: int, scale: float = 1.0) -> Callable:
        """An optax-style schedule ``step -> weight`` for a run of ``total_steps`` steps."""
        import optax

        kind, args = self.kind, self.args
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


_SCHEDULE_ARITY = {"const": (1, 1), "linear": (2, 3), "cosine": (2, 3), "step": (3, 3)}


@dataclasses.dataclass(frozen=True)
class TermSpec:
    """One parsed term: ``weight * name(options) @ schedule``."""

    name: str
    weight: float = 1.0
    options: tuple[tuple[str, Any], ...] = ()
    schedule: Schedule | None = None

    def __str__(self) -> str:
        text = self.name
        if self.options:
            text += "(" + ", ".join(f"{k}={_value_str(v)}" for k, v in self.options) + ")"
        if self.weight != 1.0:
            text = f"{_num(self.weight)}*{text}"
        if self.schedule is not None:
            text += f"@{self.schedule}"
        return text


@dataclasses.dataclass(frozen=True)
class LossSpec:
    """A parsed loss spec: its terms and a normalised label for tables and figures."""

    terms: tuple[TermSpec, ...]

    @property
    def label(self) -> str:
        return " + ".join(str(t) for t in self.terms)

    def __str__(self) -> str:
        return self.label


_TOKEN = re.compile(r"""
    \s*(?:
      (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_\-]*)
    | (?P<string>"[^"]*"|'[^']*')
    | (?P<op>[()+*@,=])
    )""", re.VERBOSE)


def _tokenise(text: str) -> list[tuple[str, str, int]]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        while pos < len(text) and text[pos].isspace():
            pos += 1
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise SpecError(_point(text, pos, f"unexpected character {text[pos]!r}"))
        kind = match.lastgroup
        start = match.start(kind)
        tokens.append((kind, match.group(kind), start))
        pos = match.end()
    return tokens


def _point(text: str, pos: int, message: str) -> str:
    return f"loss spec {text!r}: {message} at position {pos}\n  {text}\n  {' ' * pos}^"


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenise(text)
        self.i = 0

    def peek(self, value: str | None = None, kind: str | None = None) -> bool:
        if self.i >= len(self.tokens):
            return False
        tk, tv, _ = self.tokens[self.i]
        return (value is None or tv == value) and (kind is None or tk == kind)

    def take(self, value: str | None = None, kind: str | None = None, what: str = "") -> str:
        if not self.peek(value, kind):
            pos = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)
            found = repr(self.tokens[self.i][1]) if self.i < len(self.tokens) else "the end"
            raise SpecError(_point(self.text, pos, f"expected {what or value or kind}, "
                                                   f"found {found}"))
        self.i += 1
        return self.tokens[self.i - 1][1]

    def spec(self) -> LossSpec:
        if not self.tokens:
            raise SpecError("loss spec is empty; give a loss name such as 'dice' or 'ce+dice'")
        terms = [self.term()]
        while self.peek("+"):
            self.take("+")
            terms.append(self.term())
        if self.i != len(self.tokens):
            _, found, pos = self.tokens[self.i]
            raise SpecError(_point(self.text, pos, f"expected '+' or the end, found {found!r}"))
        return LossSpec(tuple(terms))

    def term(self) -> TermSpec:
        weight = 1.0
        if self.peek(kind="number"):
            weight = float(self.take(kind="number"))
            self.take("*", what="'*' after the weight")
        name_pos = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)
        name = self.take(kind="name", what="a loss name")
        try:
            entry = lookup(name)
        except SpecError as exc:
            raise SpecError(_point(self.text, name_pos, str(exc))) from None
        options: list[tuple[str, Any]] = []
        if self.peek("("):
            self.take("(")
            while not self.peek(")"):
                key = self.take(kind="name", what="an option name")
                self.take("=", what="'=' after the option name")
                options.append((key, self.value()))
                if not self.peek(")"):
                    self.take(",", what="',' or ')'")
            self.take(")")
        schedule = None
        if self.peek("@"):
            self.take("@")
            schedule = self.schedule()
        if self.peek("*"):
            pos = self.tokens[self.i][2]
            raise SpecError(_point(self.text, pos, "the weight goes before the name, as in "
                                                   "'0.5*dice'"))
        keys = [k for k, _ in options]
        if len(set(keys)) != len(keys):
            raise SpecError(f"loss spec {self.text!r}: option given twice in {name}({keys})")
        return TermSpec(entry.name, weight, tuple(options), schedule)

    def value(self) -> Any:
        if self.peek(kind="number"):
            text = self.take(kind="number")
            number = float(text)
            return int(number) if re.fullmatch(r"[+-]?\d+", text) else number
        if self.peek(kind="string"):
            return self.take(kind="string")[1:-1]
        word = self.take(kind="name", what="a value (number, true/false/none or a word)")
        return {"true": True, "false": False, "none": None}.get(word.lower(), word)

    def schedule(self) -> Schedule:
        pos = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)
        kind = self.take(kind="name", what="a schedule (const, linear, cosine, step)").lower()
        if kind not in SCHEDULES:
            raise SpecError(_point(self.text, pos, f"unknown schedule {kind!r}; known: "
                                                   f"{', '.join(SCHEDULES)}"))
        self.take("(", what=f"'(' after {kind}")
        args = []
        while not self.peek(")"):
            args.append(float(self.take(kind="number", what="a number")))
            if not self.peek(")"):
                self.take(",", what="',' or ')'")
        self.take(")")
        low, high = _SCHEDULE_ARITY[kind]
        if not low <= len(args) <= high:
            count = f"{low} to {high}" if high > low else f"{low}"
            raise SpecError(_point(self.text, pos, f"{kind} takes {count} numbers, got "
                                                   f"{len(args)} (usage: {SCHEDULES[kind]})"))
        if kind != "const" and len(args) > 2 and not 0.0 < args[2] <= 1.0:
            raise SpecError(_point(self.text, pos, f"{kind}: the fraction of the run must be "
                                                   f"in (0, 1]; got {_num(args[2])}"))
        return Schedule(kind, tuple(args))


def parse_spec(text: str) -> LossSpec:
    """Parses a loss spec (module docstring); raises :class:`SpecError` pointing at the error.

    Example:
      >>> spec = parse_spec("gdl + 0.5*boundary@linear(0.01, 1)")
      >>> [(t.name, t.weight, str(t.schedule)) for t in spec.terms]
      [('gdl', 1.0, 'None'), ('boundary', 0.5, 'linear(0.01, 1)')]
      >>> parse_spec("focal(gamma=1, alpha=0.25)").terms[0].options
      (('gamma', 1), ('alpha', 0.25))
    """
    return _Parser(text).spec()


def _num(x: float) -> str:
    return f"{x:g}"


def _value_str(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v).lower()
    if isinstance(v, float):
        return _num(v)
    return str(v)


# --------------------------------------------------------------------------- the build


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


def _term_fn(entry: LossEntry, options: Mapping[str, Any], ctx: BuildContext) -> Callable:
    fn = entry.fn
    params = inspect.signature(fn).parameters
    accepted = {n for n, p in params.items() if p.kind is p.KEYWORD_ONLY}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise SpecError(f"loss {entry.name!r} ({entry.qualified_name}): unknown option(s) "
                        f"{unknown}; it accepts {sorted(accepted)}")
    bound = dict(entry.defaults)
    if "mode" in accepted:
        bound["mode"] = "multiclass"
    if "sampling" in accepted and ctx.spacing is not None:
        bound["sampling"] = tuple(float(s) for s in ctx.spacing)
    bound.update(options)
    if entry.name == "nonadjacency":
        return _nonadjacency_term(fn, bound, ctx)

    def term(predictions, labels):
        return fn(predictions, labels, **bound)

    term.__name__ = entry.fn.__name__
    return term


def _nonadjacency_term(fn: Callable, bound: dict, ctx: BuildContext) -> Callable:
    """The non-adjacency loss with the prior counted on the training labels (offline step)."""
    from jaxseg_losses.adjacency import adjacency_prior

    if ctx.train_labels is None:
        raise SpecError("loss 'nonadjacency' needs the training labels to estimate its prior")
    accumulator = adjacency_prior(ctx.num_classes, connectivity=bound.get("connectivity"))
    prior = accumulator.update(accumulator.init(), ctx.train_labels).counts

    def term(predictions, labels):
        del labels  # unsupervised: only the prior and the prediction
        return fn(predictions, prior, **bound)

    term.__name__ = "nonadjacency_loss"
    return term


def build_loss(spec: LossSpec | str, ctx: BuildContext):
    """The combined loss of a spec: ``loss(logits, labels, *, step) -> (total (B,), aux)``.

    Built with :func:`jaxseg_losses.combine.named_sum`: one named term per spec term (a repeated
    name gets ``_2``, ``_3``...), its weight a float or an optax schedule over ``total_steps``.
    """
    from jaxseg_losses.combine import named_sum

    if isinstance(spec, str):
        spec = parse_spec(spec)
    named, seen = [], {}
    for term in spec.terms:
        entry = lookup(term.name)
        fn = _term_fn(entry, dict(term.options), ctx)
        if term.schedule is None:
            weight: Any = term.weight
        else:
            weight = term.schedule.build(ctx.total_steps, scale=term.weight)
        seen[term.name] = seen.get(term.name, 0) + 1
        name = term.name if seen[term.name] == 1 else f"{term.name}_{seen[term.name]}"
        named.append((name, fn, weight))
    return named_sum(*named)


def check_loss(spec: LossSpec | str, ctx: BuildContext, spatial_shape: Sequence[int]):
    """Builds the loss and traces it once on zeros of the right shapes (no compilation).

    Bad option values (``focal(gamma=-1)``, ``dice(smooth=abc)``) then fail before any training.
    Returns the combined loss; raises :class:`SpecError` naming the spec.
    """
    import jax

    if isinstance(spec, str):
        spec = parse_spec(spec)
    loss = build_loss(spec, ctx)
    logits = jax.ShapeDtypeStruct((1, *spatial_shape, ctx.num_classes), jnp.float32)
    labels = jax.ShapeDtypeStruct((1, *spatial_shape), jnp.int32)
    try:
        jax.eval_shape(lambda p, y: loss(p, y, step=0), logits, labels)
    except (ValueError, TypeError) as exc:
        raise SpecError(f"loss spec {spec.label!r}: {exc}") from exc
    return loss


def describe_registry() -> list[dict[str, Any]]:
    """One row per loss for ``list``: name, aliases, family, function, summary, options."""
    skip = {"mode", "from_logits", "mask", "ignore_index", "reduction", "axis_name", "sampling",
            "distance_maps"}
    rows = []
    for entry in _ENTRIES:
        rows.append({"name": entry.name, "aliases": list(entry.aliases), "family": entry.family,
                     "function": entry.qualified_name, "summary": entry.summary,
                     "options": {k: v for k, v in entry.options().items() if k not in skip}})
    return rows


def format_default(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else str(value)
    return _value_str(value) if isinstance(value, bool | type(None)) else repr(value)
