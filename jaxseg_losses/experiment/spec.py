r"""The loss-spec grammar of the command line; plain Python (no JAX import).

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

The names come from :mod:`jaxseg_losses.experiment.registry`, and
:mod:`jaxseg_losses.experiment.build` turns a parsed spec into a combined loss.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Mapping
from typing import Any


class SpecError(ValueError):
    """A loss spec that cannot be parsed or built; the message points at the problem."""


SCHEDULES: dict[str, str] = {
    "const": "const(w): the weight w at every step",
    "linear": "linear(a, b[, f]): a -> b linearly over the fraction f of the run (default 1)",
    "cosine": "cosine(a, b[, f]): a -> b along a half cosine over the fraction f of the run",
    "step": "step(a, b, f): a before the fraction f of the run, b after",
}


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A parsed weight schedule: ``kind`` in :data:`SCHEDULES` and its numeric arguments."""

    kind: str
    args: tuple[float, ...]

    def __str__(self) -> str:
        return f"{self.kind}({', '.join(_num(a) for a in self.args)})"



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
            text += "(" + ", ".join(f"{k}={value_str(v)}" for k, v in self.options) + ")"
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
            hint = (" (terms are added: 'dice + 0.5*ce'; weights are positive)"
                    if text[pos] == "-" else "")
            raise SpecError(_point(text, pos, f"unexpected character {text[pos]!r}{hint}"))
        kind = match.lastgroup
        start = match.start(kind)
        tokens.append((kind, match.group(kind), start))
        pos = match.end()
    return tokens


def closest(word: str, choices, n: int = 3) -> list[str]:
    """The names of ``choices`` closest to ``word`` (:func:`difflib.get_close_matches`)."""
    return difflib.get_close_matches(str(word).lower(), sorted({str(c) for c in choices}), n=n,
                                     cutoff=0.6)


def suggest(word: str, choices, n: int = 3) -> str:
    """``"; did you mean 'dice'?"`` (or ``'dice' or 'dpce'``) for the names of ``choices``
    closest to ``word``, else ``";"`` (to be followed by the list of known names)."""
    close = closest(word, choices, n)
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?" if close else ";"


def _point(text: str, pos: int, message: str) -> str:
    return f"loss spec {text!r}: {message} at position {pos}\n  {text}\n  {' ' * pos}^"


class _Parser:
    def __init__(self, text: str, names: Mapping[str, str]):
        self.text = text
        self.names = {k.lower(): v for k, v in names.items()}
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
            weight_pos = self.tokens[self.i][2]
            weight = float(self.take(kind="number"))
            self.take("*", what="'*' after the weight")
            if not (math.isfinite(weight) and weight > 0):
                raise SpecError(_point(self.text, weight_pos, f"a weight must be > 0; got "
                                       f"{_num(weight)} (a negative weight would maximise that "
                                       "loss; for less influence write a smaller positive "
                                       "weight, as in '0.1*dice + ce')"))
        name_pos = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)
        name = self.take(kind="name", what="a loss name")
        canonical = self.names.get(name.lower())
        if canonical is None:
            known = ", ".join(dict.fromkeys(self.names.values()))
            hint = suggest(name, self.names)
            raise SpecError(_point(self.text, name_pos, f"unknown loss {name!r}{hint} known: "
                                                        f"{known} (`jaxseg-losses list` "
                                                        "describes them)"))
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
        return TermSpec(canonical, weight, tuple(options), schedule)

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
            raise SpecError(_point(self.text, pos, f"unknown schedule {kind!r}"
                                                   f"{suggest(kind, SCHEDULES)} known: "
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


def parse_spec(text: str, names: Mapping[str, str]) -> LossSpec:
    """Parses a loss spec (module docstring); raises :class:`SpecError` pointing at the error.

    ``names`` maps every accepted loss name (aliases included, any case) to its canonical name:
    the experiment's is :data:`jaxseg_losses.experiment.registry.NAMES`.

    Example:
      >>> names = {"gdl": "gdl", "boundary": "boundary", "focal": "focal"}
      >>> spec = parse_spec("gdl + 0.5*boundary@linear(0.01, 1)", names)
      >>> [(t.name, t.weight, str(t.schedule)) for t in spec.terms]
      [('gdl', 1.0, 'None'), ('boundary', 0.5, 'linear(0.01, 1)')]
      >>> parse_spec("focal(gamma=1, alpha=0.25)", names).terms[0].options
      (('gamma', 1), ('alpha', 0.25))
    """
    return _Parser(text, names).spec()


def _num(x: float) -> str:
    return f"{x:g}"


def value_str(v: Any) -> str:
    """An option value as a spec writes it (``true``, ``none``, ``0.5``, a word)."""
    if isinstance(v, bool) or v is None:
        return str(v).lower()
    if isinstance(v, float):
        return _num(v)
    return str(v)
