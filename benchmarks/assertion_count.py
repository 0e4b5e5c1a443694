"""pytest plugin: count the checks a test run makes, to compare two layouts of the suite.

    PYTHONPATH=. pytest -p benchmarks.assertion_count -o enable_assertion_pass_hook=true \
        -p no:cacheprovider            # then: python benchmarks/assertion_count.py

Counts passing ``assert`` statements (pytest's assertion-pass hook; delete stale
``__pycache__`` first so test modules are re-rewritten), calls of the ``numpy.testing``
assertions and of ``pytest.raises`` / ``pytest.warns``. Each xdist worker writes its own
tally under ``$ASSERTION_COUNT_DIR`` (default ``.assertion-count``); running this file sums them.
"""

from __future__ import annotations

import collections
import functools
import json
import os
import pathlib

_DIR = pathlib.Path(os.environ.get("ASSERTION_COUNT_DIR", ".assertion-count"))
_TALLY: collections.Counter = collections.Counter()


def _counting(name, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _TALLY[name] += 1
        return fn(*args, **kwargs)

    return wrapper


def pytest_configure(config):
    import numpy.testing
    import pytest

    for name in dir(numpy.testing):
        if name.startswith("assert_"):
            setattr(numpy.testing, name, _counting(f"numpy.{name}", getattr(numpy.testing, name)))
    pytest.raises = _counting("pytest.raises", pytest.raises)
    pytest.warns = _counting("pytest.warns", pytest.warns)


def pytest_assertion_pass(item, lineno, orig, expl):
    _TALLY["assert"] += 1


def pytest_runtest_logreport(report):
    if report.when == "call":
        _TALLY[f"tests.{report.outcome}"] += 1


def pytest_unconfigure(config):
    worker = getattr(config, "workerinput", {}).get("workerid", "main")
    _DIR.mkdir(exist_ok=True)
    (_DIR / f"{worker}.json").write_text(json.dumps(dict(_TALLY)))


if __name__ == "__main__":
    total: collections.Counter = collections.Counter()
    # Under xdist the controller sees the workers' reports again: count the workers only.
    paths = sorted(_DIR.glob("gw*.json")) or sorted(_DIR.glob("main.json"))
    for path in paths:
        total.update(json.loads(path.read_text()))
    for key in sorted(total):
        print(f"{key:40s} {total[key]:>9,}")
    checks = sum(v for k, v in total.items() if not k.startswith("tests."))
    print(f"{'checks (all but tests.*)':40s} {checks:>9,}")
