"""Griffe extension for the docs build: the library's reST-flavoured docstrings -> Markdown.

The docstrings follow optax (Google sections, ``.. math::`` blocks, ``:math:`` and ``:func:``
roles) so that they read well in a terminal and run as doctests. mkdocstrings renders Markdown,
so this extension rewrites, in every docstring it loads:

* ``.. math::`` blocks -> ``$$ ... $$`` (MathJax through ``pymdownx.arithmatex``);
* ``:math:`x``` -> ``$x$``;
* ``:func:`~a.b```, ``:class:``, ``:mod:``, ``:data:``, ``:attr:``, ``:meth:`` -> `` `b` ``;
* runs of ``>>>`` lines (with their outputs) -> fenced ``pycon`` code blocks;
* grouped arguments (``mask, ignore_index: as in ...``) in ``Args:`` -> one entry per name, so
  that every parameter gets its row in the rendered table;
* numbered-list items continued at the reST indent (3 spaces after ``1. ``) -> 4 spaces, which
  Python-Markdown needs to keep a block (a formula) and the paragraphs after it in the item.

Used by ``mkdocs.yml`` only; nothing in the library imports it.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|mod|data|attr|meth|obj|exc):`~?([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")


def _role(match: re.Match) -> str:
    target = match.group(1)
    name = target.split(".")[-1] if match.group(0).find("`~") >= 0 else target
    return f"`{name}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


_SECTION = re.compile(r"^(Args|Arguments|Parameters):\s*$")
_GROUP = re.compile(r"^((?:\*{0,2}\w+\s*,\s*)+\*{0,2}\w+)\s*:(?:\s+(.*))?$", re.DOTALL)


def _split_groups(lines: list[str]) -> list[str]:
    """Expands ``a, b: text`` items of ``Args:`` sections into ``a: text`` and ``b: text``."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        if not _SECTION.match(line.strip()):
            continue
        base = _indent(line)
        items: list[list[str]] = []
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > base):
            if not lines[i].strip():
                items.append([lines[i]])  # a blank line is its own "item"
            elif not items or not items[-1][0].strip() or _indent(lines[i]) <= _indent(
                items[-1][0]
            ):
                items.append([lines[i]])
            else:
                items[-1].append(lines[i])
            i += 1
        for item in items:
            joined = " ".join(part.strip() for part in item)
            match = _GROUP.match(joined)
            if not item[0].strip() or match is None:
                out += item
                continue
            pad = " " * _indent(item[0])
            text = match.group(2) or ""
            for name in (n.strip() for n in match.group(1).split(",")):
                out.append(f"{pad}{name}: {text}".rstrip())
    return out


_NUMBERED_ITEM = re.compile(r"^(\s*)(\d+\.)\s+\S")


def _indent_numbered_items(lines: list[str]) -> list[str]:
    """Shifts the continuation lines of ``1. text`` items to 4 spaces past the marker's indent."""
    out: list[str] = []
    shift = None  # spaces to add to the open item's continuation lines
    content = 0
    for line in lines:
        match = _NUMBERED_ITEM.match(line)
        if match:
            if shift is not None and out and out[-1].strip():
                out.append("")  # else the item is read as a lazy line of the previous one
            base = len(match.group(1))
            content = base + len(match.group(2)) + 1
            shift = base + 4 - content
        elif shift is not None and line.strip():
            if _indent(line) >= content:
                line = " " * shift + line
            else:
                shift = None
        out.append(line)
    return out


def convert(text: str) -> str:
    """Returns ``text`` with the reST constructs above replaced by Markdown."""
    lines = _indent_numbered_items(_split_groups(text.splitlines()))
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith(".. math::"):
            base = _indent(line)
            pad = " " * base
            body = [stripped[len(".. math::"):].strip()] if stripped != ".. math::" else []
            i += 1
            while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > base):
                body.append(lines[i].strip())
                i += 1
            body = [b for b in body if b]
            out += ["", pad + "$$", *(pad + b for b in body), pad + "$$", ""]
            continue
        if stripped.startswith(">>>"):
            base = _indent(line)
            pad = " " * base
            block = []
            while i < len(lines) and lines[i].strip() and _indent(lines[i]) >= base:
                block.append(lines[i][base:])
                i += 1
            out += ["", pad + "```pycon", *(pad + b for b in block), pad + "```", ""]
            continue
        out.append(line)
        i += 1
    result = "\n".join(out)
    result = _MATH_ROLE.sub(lambda m: f"${m.group(1)}$", result)
    return _ROLE.sub(_role, result)


class RstToMarkdown(griffe.Extension):
    """Rewrites every loaded docstring with :func:`convert`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
