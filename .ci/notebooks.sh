#!/usr/bin/env bash
# CI for the notebooks and the documentation site. Needs the extras: pip install -e ".[docs,notebooks]".
#  1. each notebooks/*.ipynb holds the same cells as its jupytext py:percent source;
#  2. every notebook runs top to bottom on the CPU in test mode (JAXSEG_NOTEBOOK_TEST=1, tiny sizes);
#  3. the documentation site builds with `mkdocs build --strict` (any warning fails).
set -euo pipefail
cd "$(dirname "$0")/.."
export JAX_PLATFORMS=cpu JAXSEG_NOTEBOOK_TEST=1 MPLBACKEND=Agg NO_MKDOCS_2_WARNING=1

python - <<'PY'
import pathlib
import sys

import jupytext

stale = []
for source in sorted(pathlib.Path("notebooks").glob("*.py")):
    paired = source.with_suffix(".ipynb")
    cells = lambda nb: [(c.cell_type, c.source) for c in nb.cells]
    if not paired.exists() or cells(jupytext.read(source)) != cells(jupytext.read(paired)):
        stale.append(str(paired))
if stale:
    sys.exit(f"out of sync with their .py source: {stale}; run: jupytext --sync notebooks/*.py")
print("notebooks: .ipynb and .py in sync")
PY

# Two notebooks at a time when pytest-xdist is installed (it is in the [test] extra).
parallel=()
if python -c "import xdist" 2>/dev/null; then parallel=(-n 2); fi
pytest --nbmake --nbmake-timeout=300 -p no:cacheprovider -o addopts="" -q "${parallel[@]}" \
    notebooks/*.ipynb

site="$(mktemp -d)"
mkdocs build --strict --site-dir "$site"
rm -rf "$site"
