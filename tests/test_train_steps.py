"""The train-step snippets of docs/train_steps.md (Flax NNX, Flax Linen, Equinox) run as written."""

from __future__ import annotations

import pathlib
import re

import pytest

PAGE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "train_steps.md"
SNIPPETS = dict(re.findall(r"^## (.+?)\n.*?```python\n(.*?)```", PAGE.read_text(),
                           re.DOTALL | re.MULTILINE))


def test_the_page_has_the_three_frameworks():
    assert [title.split()[0:2] for title in SNIPPETS] == [
        ["Flax", "NNX"], ["Flax", "Linen"], ["Equinox", "(channels"]]


@pytest.mark.parametrize("title", list(SNIPPETS))
def test_snippet_runs(title):
    exec(compile(SNIPPETS[title], f"{PAGE.name}: {title}", "exec"), {})  # asserts inside
