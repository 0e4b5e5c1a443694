"""API style checks over every public name (after dm-pix's ``api_test.py`` and optax's docs
coverage check).

The public names are ``jaxseg_losses.__all__`` plus the ``__all__`` of every public module and
family package (whose names the documentation lists even before they are re-exported at the top
level). For each name:

* it is callable and has a docstring;
* functions: the docstring has an ``Args:`` section naming every parameter (grouped entries
  such as ``mask, ignore_index: ...`` count), a ``Returns:`` section and a runnable ``>>>``
  example; classes: an ``Attributes:`` or ``Args:`` section;
* hyperparameters are keyword-only: a parameter with a default value may not be passed by
  position ("Prefer ``f(x, *, axis=-1)`` to ``f(x, axis=-1)``", dm-pix);
* losses (names ending in ``_loss`` or ``cross_entropy``) take ``predictions`` first and accept
  ``mask=``, the spelling shared by every loss;
* it has exactly one entry on the API page, which ``docs/_api_page.py`` generates from
  ``jaxseg_losses.MODULES`` (a ``::: dotted.path`` entry resolving to the same object), and
  every entry there resolves.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import math
import pkgutil
import re
from pathlib import Path

import pytest

import jaxseg_losses
from tests import vocabulary

ROOT = Path(__file__).resolve().parents[1]
API_PAGE = ROOT / "docs" / "api.md"


def _load_api_page_hook():
    spec = importlib.util.spec_from_file_location("_api_page", ROOT / "docs" / "_api_page.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


API_HOOK = _load_api_page_hook()

SECTION = re.compile(r"^\s*([A-Z][A-Za-z ]*):\s*$")
ITEM = re.compile(r"^((?:\*{0,2}\w+\s*,\s*)*\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:")

def _public_modules() -> list[str]:
    """Public modules and family packages (``pixelwise``, ``region`` and their modules); not the
    loss-comparison experiment, whose helpers are not library API."""
    names = []
    for info in pkgutil.walk_packages(jaxseg_losses.__path__, prefix="jaxseg_losses."):
        parts = info.name.split(".")
        if "experiment" not in parts and not any(part.startswith("_") for part in parts):
            names.append(info.name)
    return sorted(names)


def _public_objects() -> dict[str, object]:
    found = {name: getattr(jaxseg_losses, name) for name in jaxseg_losses.__all__}
    for module_name in _public_modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            found.setdefault(name, getattr(module, name))
    return found


PUBLIC = _public_objects()
NAMES = sorted(PUBLIC)


def _cases(check: str, predicate=lambda obj: True):
    """The public names ``check`` applies to (``check`` names the test for readability)."""
    del check
    return [pytest.param(name, id=name) for name in NAMES if predicate(PUBLIC[name])]


def _sections(doc: str) -> dict[str, list[str]]:
    """Google-style sections of a docstring: title -> its (dedented) lines."""
    lines = inspect.cleandoc(doc).splitlines()
    sections: dict[str, list[str]] = {}
    current = None
    for line in lines:
        match = SECTION.match(line)
        if match and not line.startswith(" "):
            current = match.group(1)
            sections[current] = []
        elif current is not None:
            if line and not line.startswith(" "):
                current = None
            else:
                sections[current].append(line)
    return sections


def _documented_args(lines: list[str]) -> set[str]:
    lines = [line for line in lines if line.strip()]
    if not lines:
        return set()
    indent = min(len(line) - len(line.lstrip()) for line in lines)
    names: set[str] = set()
    pending = ""
    for line in lines:
        if len(line) - len(line.lstrip()) != indent and not pending:
            continue  # a continuation line of a description
        text = pending + line.strip()
        if text.endswith(",") and ":" not in text:
            pending = text + " "  # a list of names that wraps onto the next line
            continue
        pending = ""
        match = ITEM.match(text)
        if match:
            names.update(n.strip().lstrip("*") for n in match.group(1).split(","))
    return names


def _is_function(obj) -> bool:
    return inspect.isfunction(obj) or (callable(obj) and not inspect.isclass(obj))


@functools.cache
def _api_page_objects() -> dict[str, object]:
    """The objects that docs/api.md lists (generating the page costs ~0.1 s: once per run)."""
    assert API_HOOK.MARKER in API_PAGE.read_text(), "docs/api.md lost its generated part"
    entries = re.findall(r"^:::\s*([\w.]+)\s*$", API_HOOK.markdown(), flags=re.MULTILINE)
    assert len(entries) == len(set(entries)), "a name is listed twice on the API page"
    resolved = {}
    for path in entries:
        module_path, _, attr = path.rpartition(".")
        resolved[path] = getattr(importlib.import_module(module_path), attr)
    return resolved


def test_all_is_sorted_out():
    """``__all__`` names exist, are unique, and nothing public is missing from the modules."""
    assert len(set(jaxseg_losses.__all__)) == len(jaxseg_losses.__all__)
    for name in jaxseg_losses.__all__:
        assert hasattr(jaxseg_losses, name), name


@pytest.mark.parametrize("name", _cases("callable"))
def test_callable(name):
    assert callable(PUBLIC[name]), f"{name} is in __all__ but is not callable"


@pytest.mark.parametrize("name", _cases("docstring", _is_function))
def test_function_docstring(name):
    fn = PUBLIC[name]
    doc = inspect.getdoc(fn)
    assert doc, f"{name}: no docstring"
    sections = _sections(doc)
    assert "Returns" in sections, f"{name}: no 'Returns:' section"
    assert ">>>" in doc, f"{name}: no runnable '>>>' example"
    params = list(inspect.signature(fn).parameters)
    if params:
        assert "Args" in sections, f"{name}: no 'Args:' section"
        documented = _documented_args(sections["Args"])
        missing = [p for p in params if p not in documented]
        assert not missing, f"{name}: arguments not documented in 'Args:': {missing}"


@pytest.mark.parametrize("name", _cases("docstring", inspect.isclass))
def test_class_docstring(name):
    cls = PUBLIC[name]
    doc = inspect.getdoc(cls)
    assert doc, f"{name}: no docstring"
    sections = _sections(doc)
    assert "Attributes" in sections or "Args" in sections, (
        f"{name}: the class docstring should list its fields ('Attributes:') or arguments"
    )


@pytest.mark.parametrize("name", _cases("keyword_only", _is_function))
def test_hyperparameters_keyword_only(name):
    signature = inspect.signature(PUBLIC[name])
    positional_with_default = [
        p.name for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is not p.empty
    ]
    first = positional_with_default[0] if positional_with_default else ""
    assert not positional_with_default, (
        f"{name}: optional arguments should be keyword-only; prefer f(x, *, {first}=...) "
        f"to f(x, {first}=...)"
    )


def _is_loss(name: str) -> bool:
    return name.endswith("_loss") or name.endswith("cross_entropy")


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in NAMES if _is_loss(n)])
def test_loss_signature(name):
    params = inspect.signature(PUBLIC[name]).parameters
    first = next(iter(params))
    assert first == "predictions", (
        f"{name}: the first argument should be 'predictions'; got {first!r}"
    )
    assert "mask" in params and params["mask"].kind is inspect.Parameter.KEYWORD_ONLY, (
        f"{name}: every loss takes a keyword-only mask="
    )


def test_api_page_entries_resolve():
    """Every ``::: path`` of docs/api.md imports (a renamed function breaks the site build)."""
    assert _api_page_objects()


@pytest.mark.parametrize("name", _cases("api_page"))
def test_listed_in_api_page(name):
    # By qualified name, not identity: pytest's doctest collection (importlib mode) may import
    # a module a second time, so the same function can exist as two objects.
    def key(obj):
        return getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)

    documented = {key(obj) for obj in _api_page_objects().values()}
    assert key(PUBLIC[name]) in documented, (
        f"{name} is public but missing from the API page: add it to its module's __all__ (and "
        "the module to jaxseg_losses.MODULES or its package's FAMILIES)"
    )


# --------------------------------------------------------------------------- one vocabulary
# Every parameter name of the public API has one meaning, one set of values and one default
# (tests/vocabulary.py, the table the "Option vocabulary" section of docs/conventions.md is
# generated from); a different default is a listed deviation with its reason.

def _signatures() -> dict[str, inspect.Signature]:
    """``{qualified name: signature}`` of every public function, class and public method of a
    public class defined in the package (each function object once, under its first name)."""
    found, seen, targets = {}, set(), [(name, PUBLIC[name]) for name in NAMES]
    for name in NAMES:  # then the methods (a function already seen keeps its public name)
        obj = PUBLIC[name]
        if inspect.isclass(obj):
            for attr in dir(obj):  # its own methods and those of its (private) bases
                member = getattr(obj, attr)
                if (not attr.startswith("_") and callable(member) and not inspect.isclass(member)
                        and getattr(member, "__module__", "").startswith("jaxseg_losses")):
                    targets.append((f"{name}.{attr}", member))
    for qualified, fn in targets:
        key = inspect.unwrap(getattr(fn, "__func__", fn))
        if key in seen:
            continue
        seen.add(key)
        try:
            found[qualified] = inspect.signature(fn)
        except (TypeError, ValueError):
            continue
    return found


SIGNATURES = _signatures()
PARAMETERS = [
    (qualified, p) for qualified, signature in SIGNATURES.items()
    for p in signature.parameters.values()
    if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in ("self", "cls")
]


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _expected_default(qualified: str, entry: vocabulary.Name):
    for deviation in entry.deviations:
        if qualified in deviation.functions:
            return deviation.default
    return entry.default


def test_vocabulary_covers_every_parameter():
    unknown = sorted({f"{p.name} ({qualified})" for qualified, p in PARAMETERS
                      if p.name not in vocabulary.VOCABULARY})
    assert not unknown, (
        f"parameter names missing from tests/vocabulary.py: {unknown}. Use a name of the table "
        "with its meaning and default, or add the name (meaning, values, default) there and "
        "rewrite the docs with `python -m tests.vocabulary --write`")
    stale = set(vocabulary.VOCABULARY) - {p.name for _, p in PARAMETERS}
    assert not stale, f"names in tests/vocabulary.py that no public function uses: {sorted(stale)}"


@pytest.mark.parametrize(("qualified", "parameter"), [
    pytest.param(q, p, id=f"{q}-{p.name}") for q, p in PARAMETERS
    if p.default is not p.empty and p.name in vocabulary.VOCABULARY])
def test_vocabulary_one_default(qualified, parameter):
    entry = vocabulary.VOCABULARY[parameter.name]
    if entry.default is vocabulary.PER_FUNCTION:
        assert qualified in entry.users, (
            f"{qualified}: {parameter.name!r} is a paper symbol used by {list(entry.users)} only; "
            "add the function to its users in tests/vocabulary.py (its docstring gives the "
            "formula) or use a name of the table")
        return
    want = _expected_default(qualified, entry)
    assert want is not vocabulary.REQUIRED, (
        f"{qualified}: {parameter.name!r} has a default ({parameter.default!r}); the table has "
        "it as a required argument")
    assert _same(parameter.default, want), (
        f"{qualified}: {parameter.name}={parameter.default!r}, but the vocabulary's default is "
        f"{want!r} ({entry.meaning}); use it, or list a deviation with its reason")


def test_vocabulary_deviations_and_users_are_current():
    by_name = {(q, p.name): p for q, p in PARAMETERS}
    for name, entry in vocabulary.VOCABULARY.items():
        for deviation in entry.deviations:
            for qualified in deviation.functions:
                p = by_name.get((qualified, name))
                assert p is not None, f"deviation of {name!r}: {qualified} has no such parameter"
                assert _same(p.default, deviation.default), (
                    f"deviation of {name!r}: {qualified}'s default is {p.default!r}, the table "
                    f"says {deviation.default!r}")
            assert deviation.why, f"deviation of {name!r} without a reason"
        users = {q for q, p in PARAMETERS if p.name == name}
        if entry.users:
            assert set(entry.users) == users, (name, sorted(users))


def test_every_loss_takes_reduction_or_says_why():
    losses = {q for q, _ in PARAMETERS if _is_loss(q)}
    without = {q for q in losses if "reduction" not in SIGNATURES[q].parameters}
    assert without == set(vocabulary.NO_REDUCTION), (
        f"losses without reduction= not listed in tests/vocabulary.py NO_REDUCTION: "
        f"{sorted(without - set(vocabulary.NO_REDUCTION))}; listed but taking it: "
        f"{sorted(set(vocabulary.NO_REDUCTION) - without)}")


def test_vocabulary_docs_table_agrees():
    text = (ROOT / "docs" / "conventions.md").read_text()
    block = vocabulary.current_docs_block(text)
    assert block is not None, "docs/conventions.md: the vocabulary table's markers are missing"
    assert block == vocabulary.docs_block(), (
        "docs/conventions.md disagrees with tests/vocabulary.py: run "
        "`python -m tests.vocabulary --write`")


# Each function with a string choice, called with its other arguments (the choice's check must
# run before anything else fails).
@functools.cache
def _choice_calls() -> dict[str, object]:
    import jax.numpy as jnp
    import numpy as np

    from tests.cases import ADJACENCY_PRIOR, CASES

    z = np.random.default_rng(0).normal(size=(1, 4, 4, 3)).astype(np.float32)
    y = np.array([[[0, 0, 1, 1], [0, 2, 2, 1], [0, 2, 2, 1], [0, 0, 1, 1]]], np.int32)
    calls = {}
    for case in CASES.values():
        name = case.fn.__name__
        if name not in calls:
            binary = case.binary
            second = (np.minimum(y, 1) if binary else y) if case.labels else ADJACENCY_PRIOR
            first = z[..., :1] if binary else z
            calls[name] = functools.partial(
                lambda c, a, b, **o: c.fn(a, b, **{**c.options, **o}), case, first, second)
    for metric in jaxseg_losses.metrics.__all__:
        fn = getattr(jaxseg_losses, metric)
        extra = {"tolerance": 1.0} if metric == "surface_dice" else {}
        calls[metric] = functools.partial(fn, z, y, **extra)
    state = jaxseg_losses.GlobalDice.from_model_output(z, y)
    mean = jaxseg_losses.MeanOf(jaxseg_losses.dice_score).from_model_output(z, y)
    calls.update({
        "confusion_from_counts": functools.partial(jaxseg_losses.confusion_from_counts,
                                                   *(jnp.ones(3),) * 4),
        "distance_transform_cdt": functools.partial(jaxseg_losses.distance_transform_cdt, y > 0),
        "region_wise_map": functools.partial(jaxseg_losses.region_wise_map,
                                             np.eye(3, dtype=np.float32)[y]),
        "deep_supervision": functools.partial(jaxseg_losses.deep_supervision,
                                              jaxseg_losses.dice_loss),
        "deep_supervision_weights": functools.partial(jaxseg_losses.deep_supervision_weights, 2),
        "multi_scale": functools.partial(jaxseg_losses.multi_scale, jaxseg_losses.dice_loss),
        "nacl_kernel": PUBLIC["nacl_kernel"],
        "boundary_recipe": jaxseg_losses.boundary_recipe,
        "boundary_weight_schedules": jaxseg_losses.boundary_weight_schedules,
        "overlap_statistics": functools.partial(jaxseg_losses.overlap_statistics, z, y),
        "ConfusionCounts.from_model_output": functools.partial(
            jaxseg_losses.ConfusionCounts.from_model_output, z, y),
        "ConfusionCounts.compute": state.compute,
        "PerExampleMean.compute": mean.compute,
    })
    return calls


CHOICES = [(q, p) for q, p in PARAMETERS if p.default is not p.empty
           and p.name in vocabulary.VOCABULARY and vocabulary.VOCABULARY[p.name].choices]


@pytest.mark.parametrize(("qualified", "parameter"), [
    pytest.param(q, p, id=f"{q}-{p.name}") for q, p in CHOICES])
def test_vocabulary_choices(qualified, parameter):
    """A choice's values (read from the error a wrong value raises) are the table's or a subset,
    and include the default."""
    calls = _choice_calls()
    assert qualified in calls, f"{qualified}: add a call to _choice_calls to check {parameter.name}"
    name = parameter.name
    with pytest.raises(ValueError) as raised:
        calls[qualified](**{name: "not-a-choice"})
    match = re.match(rf"^{name}: expected one of \(([^)]*)\)", str(raised.value))
    assert match, f"{qualified}: the error does not list the values of {name}: {raised.value}"
    accepted = set(re.findall(r"'([^']*)'", match.group(1)))
    allowed = set(vocabulary.VOCABULARY[name].choices)
    assert accepted <= allowed, (
        f"{qualified}: {name} takes {sorted(accepted - allowed)}, not in the vocabulary's "
        f"{sorted(allowed)}")
    default = parameter.default
    assert default is None or default is parameter.empty or default in accepted, (
        f"{qualified}: the default {default!r} is not among the values it accepts")



# --------------------------------------------------------------------------- renamed options

def _renamed_in_code() -> dict[tuple[str, str], str]:
    found = {}
    for qualified in SIGNATURES:
        owner, _, attr = qualified.partition(".")
        fn = getattr(PUBLIC[owner], attr) if attr else PUBLIC[owner]
        for old, new in (getattr(fn, "renamed_options", None) or {}).items():
            found[(qualified, old)] = new.name
    return found


def test_renamed_options_are_the_listed_ones():
    assert _renamed_in_code() == vocabulary.RENAMED
    changelog = (ROOT / "CHANGELOG.md").read_text()
    section = changelog.split("### Renamed options", 1)[1].split("\n## ", 1)[0].split("\n### ")[0]
    for (qualified, old), new in vocabulary.RENAMED.items():
        row = re.search(rf"^\| `{re.escape(qualified)}` \| `{old}` \| `{new}` \|", section, re.M)
        assert row, f"CHANGELOG.md: no row '| `{qualified}` | `{old}` | `{new}` |'"
        params = SIGNATURES[qualified].parameters
        assert new in params and old not in params, (qualified, old, new)
        for (q, o), values in vocabulary.RENAMED_VALUES.items():
            if (q, o) == (qualified, old):
                fn = _renamed_target(qualified)
                assert dict(fn.renamed_options[old].values) == values


def _renamed_target(qualified: str):
    owner, _, attr = qualified.partition(".")
    return getattr(PUBLIC[owner], attr) if attr else PUBLIC[owner]


# One call per renamed option: (function, old, value under the old name, the same under the
# new name) with a value other than the default, so that forwarding is seen in the result.
def _rename_calls():
    import numpy as np

    z = np.random.default_rng(1).normal(size=(2, 6, 5, 3)).astype(np.float32)
    y = np.random.default_rng(2).integers(0, 3, (2, 6, 5)).astype(np.int32)
    m = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 0.5, 0.0]], np.float32)
    J = jaxseg_losses
    prior = J.adjacency_matrix(y, num_classes=3)
    state = J.GlobalDice.from_model_output(z, y)
    mean = J.MeanOf(J.dice_score).from_model_output(z, y)
    outputs = [z, z[:, ::2, ::2]]
    return {
        ("active_contour_loss", "aggregate"): (
            lambda **o: J.active_contour_loss(z, y, mode="multiclass", **o), "sum", "sum"),
        ("poly_cross_entropy", "epsilon"): (lambda **o: J.poly_cross_entropy(z, y, **o), 1.0,
                                            1.0),
        ("cldice_loss", "epsilon"): (lambda **o: J.cldice_loss(z, y, **o), 0.1, 0.1),
        ("dice_cldice_loss", "epsilon"): (lambda **o: J.dice_cldice_loss(z, y, **o), 0.1, 0.1),
        ("asymmetric_unified_focal_loss", "weight"): (
            lambda **o: J.asymmetric_unified_focal_loss(z, y, **o), 0.3, 0.3),
        ("generalized_dice_loss", "weight_type"): (
            lambda **o: J.generalized_dice_loss(z, y, **o), "simple", "simple"),
        ("penalty_generalized_dice_loss", "weight_type"): (
            lambda **o: J.penalty_generalized_dice_loss(z, y, **o), "simple", "simple"),
        ("generalized_dice_score", "weight_type"): (
            lambda **o: J.generalized_dice_score(z, y, **o), "simple", "simple"),
        ("generalized_wasserstein_dice_loss", "weighting_mode"): (
            lambda **o: J.generalized_wasserstein_dice_loss(z, y, distance_matrix=m, **o),
            "GDL", "GDL"),
        ("deep_supervision", "weights"): (
            lambda **o: J.deep_supervision(J.dice_loss, **o)(outputs, y), [0.3, 0.7],
            [0.3, 0.7]),
        ("deep_supervision", "weight_mode"): (
            lambda **o: J.deep_supervision(J.dice_loss, **o)(outputs, y), "same", "same"),
        ("deep_supervision_weights", "weights"): (
            lambda **o: J.deep_supervision_weights(2, **o), [0.3, 0.7], [0.3, 0.7]),
        ("deep_supervision_weights", "weight_mode"): (
            lambda **o: J.deep_supervision_weights(3, **o), "two", "two"),
        ("distance_transform_cdt", "metric"): (
            lambda **o: J.distance_transform_cdt(y > 0, **o), "taxicab", "taxicab"),
        ("allowed_pairs", "threshold"): (lambda **o: J.allowed_pairs(prior, **o), 3.0, 3.0),
        ("forbidden_pairs", "threshold"): (lambda **o: J.forbidden_pairs(prior, **o), 3.0, 3.0),
        ("ConfusionCounts.compute", "reduction"): (lambda **o: state.compute(**o), "mean",
                                                   "macro"),
        ("PerExampleMean.compute", "reduction"): (lambda **o: mean.compute(**o), "mean",
                                                  "macro"),
    }


@pytest.mark.slow
def test_renamed_options_warn_and_forward():
    """The old spelling gives the new one's result, with a DeprecationWarning naming both that
    points at the caller; both spellings at once is a TypeError."""
    import warnings

    import numpy as np

    calls = _rename_calls()
    assert set(calls) == set(vocabulary.RENAMED)
    for (qualified, old), (call, old_value, new_value) in calls.items():
        new = vocabulary.RENAMED[(qualified, old)]
        want = call(**{new: new_value})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = call(**{old: old_value})
        deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
        assert len(deprecations) == 1, (qualified, old, [str(w.message) for w in caught])
        message = str(deprecations[0].message)
        assert f"'{old}' is renamed '{new}'" in message, message
        assert deprecations[0].filename == __file__, (qualified, deprecations[0].filename)
        for a, b in zip(np.atleast_1d(want), np.atleast_1d(got), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=qualified)
        with pytest.raises(TypeError, match=f"both '{old}' and its new name '{new}'"):
            call(**{old: old_value, new: new_value})


def test_renamed_options_through_combinators_and_with_options():
    """Binding an old spelling (``weighted``, ``with_options``) translates it, with a warning
    pointing at the caller."""
    import numpy as np

    z = np.random.default_rng(3).normal(size=(2, 6, 5, 3)).astype(np.float32)
    y = np.random.default_rng(4).integers(0, 3, (2, 6, 5)).astype(np.int32)
    with pytest.warns(DeprecationWarning, match="'epsilon' is renamed 'poly_epsilon'") as caught:
        term = jaxseg_losses.weighted(jaxseg_losses.poly_cross_entropy, 2.0, epsilon=0.5)
    assert caught[0].filename == __file__
    assert term.fn.keywords == {"poly_epsilon": 0.5}
    with pytest.warns(DeprecationWarning, match="'reduction' is renamed 'average'") as caught:
        bound = jaxseg_losses.GlobalIoU.with_options(reduction="mean")
    assert caught[0].filename == __file__
    state = bound.from_model_output(z, y)
    np.testing.assert_array_equal(state.compute(), jaxseg_losses.GlobalIoU.from_model_output(
        z, y).compute(average="macro"))
    assert state.compute().shape == ()


def test_renamed_options_decorator():
    from jaxseg_losses._inputs import Renamed, boolean_options, renamed_options

    @renamed_options(old="new", red=Renamed("avg", {"mean": "macro"}))
    @boolean_options
    def probe(x, *, new: int = 1, avg: str = "none", flag: bool = False):
        """Doc."""
        return x, new, avg, flag

    assert list(inspect.signature(probe).parameters) == ["x", "new", "avg", "flag"]
    assert probe.__doc__ == "Doc." and probe.boolean_options == {"flag": False}
    with pytest.warns(DeprecationWarning):
        assert probe(0, old=2, red="mean") == (0, 2, "macro", False)
    with pytest.warns(DeprecationWarning):
        assert probe(0, red="class") == (0, 1, "class", False)  # an unmapped value passes
    with pytest.raises(TypeError, match="flag: expected True or False"):
        probe(0, flag="no")
    with pytest.raises(TypeError, match="must take 'new' and not 'old'"):
        renamed_options(old="new")(lambda x, *, old=1: x)
