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

import importlib
import importlib.util
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import jaxseg_losses

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


def _api_page_objects() -> dict[str, object]:
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
