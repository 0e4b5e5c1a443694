"""Packaging: the licence, lean run-time requirements, one repository address."""

from __future__ import annotations

import pathlib
import re
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_licence_file_matches_the_metadata():
    assert PROJECT["license"] == "Apache-2.0" and PROJECT["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text().splitlines()[1]


def test_run_time_requirements_are_lean_and_unpinned():
    names = [re.split(r"[<>=!~\[ ]", r)[0] for r in PROJECT["dependencies"]]
    assert names == ["jax", "jaxlib", "optax"]  # flax: the experiment extra
    published = PROJECT["dependencies"] + [
        r for extra in PROJECT["optional-dependencies"].values() for r in extra]
    assert not [r for r in published if "==" in r], "exact pins go to .ci/constraints.txt"
    assert "torch==" in (ROOT / ".ci" / "constraints.txt").read_text()
    assert "-c .ci/constraints.txt" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.slow
def test_the_docs_figure_script_imports_existing_names():
    """docs/make_figures.py runs by hand; a renamed module must not break it unnoticed."""
    import ast

    import jaxseg_losses

    tree = ast.parse((ROOT / "docs" / "make_figures.py").read_text())
    names = [alias.name for node in ast.walk(tree)
             if isinstance(node, ast.ImportFrom) and node.module == "jaxseg_losses"
             for alias in node.names]
    assert names and [n for n in names if not hasattr(jaxseg_losses, n)] == []


def test_the_repository_address_is_written_once():
    repository = PROJECT["urls"]["Repository"]
    owner_name = repository.removeprefix("https://github.com/")
    files = [ROOT / "mkdocs.yml", *sorted((ROOT / "docs").glob("*.md")),
             *sorted((ROOT / "notebooks").glob("*.py")), ROOT / "README.md"]
    found = 0
    for path in files:
        text = path.read_text()
        for address in re.findall(r"github(?:\.com)?/([\w.-]+/[\w.-]+)", text):
            found += 1
            assert address == owner_name, f"{path.name}: github.com/{address}"
    assert found >= 10  # mkdocs.yml, the install command, four notebooks' badges and installs
