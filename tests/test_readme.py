"""The README's first example runs as printed."""

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_readme_example_runs():
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert namespace["loss"].shape == (2,)
    assert set(namespace["aux"]) >= {"dice", "boundary", "boundary/weight"}
    assert np.all(np.isfinite(np.asarray(namespace["total"])))
