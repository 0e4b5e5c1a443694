"""Where XLA:TPU spends a loss's compile: seconds of code generation per fusion.

Run (in the accelerator venv, see the team's accelerator tools; from the repository root)::

    python benchmarks/tpu_codegen.py --tools DIR --loss case:nonadjacency --shape 4x128x128x14

Compiles ``jax.value_and_grad`` of the loss (as ``compile_memory.py`` does: integer labels, or
the (C, C) prior of the non-adjacency loss) for a described TPU v5e with libtpu's code
generation dumps on (``--xla_jf_dump_to``), and attributes the time between consecutive dump
files to the fusion whose file ends the gap. Prints the compile seconds (the dumps slow it
2-3x: compare fusions within one run, not with ``compile_memory.py``), the fusions with the
most codegen time, how many variants of each were generated, and the fused computation's ops
from the optimised HLO. The dumps (gigabytes for a 3-D loss) are deleted at the end. On the v5e
almost all of a slow compile is code generation after buffer assignment, not HLO passes (issue
29: 13.5 of 13.8 s for the non-adjacency loss at C = 14).
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import re
import shutil
import sys
import tempfile
import time

_JF_DUMP = tempfile.mkdtemp(prefix="tpu_codegen_")
os.environ["LIBTPU_INIT_ARGS"] = (
    f"{os.environ.get('LIBTPU_INIT_ARGS', '')} --xla_jf_dump_to={_JF_DUMP} "
    "--xla_jf_dump_llo_text=true").strip()

import compile_memory as cm  # noqa: E402  (sets the rest of the environment)

_FILE = re.compile(r"(\d+)-(.+?)-\d+-")


def codegen_seconds(directory: str) -> tuple[collections.Counter, dict]:
    """Seconds and number of generated variants per fusion, from the dump files' times."""
    files = sorted((os.stat(p).st_mtime, os.path.basename(p))
                   for p in glob.glob(f"{directory}/**/*", recursive=True) if os.path.isfile(p))
    seconds, variants = collections.Counter(), collections.defaultdict(set)
    for (before, _), (after, name) in zip(files, files[1:], strict=False):
        found = _FILE.match(name)
        key = found[2] if found else name
        seconds[key] += after - before
        if found:
            variants[key].add(found[1])
    return seconds, variants


def fused_ops(hlo: str, fusion: str) -> str:
    """The ops of the computation that ``fusion`` calls, in the optimised HLO."""
    call = re.search(rf"%{re.escape(fusion)} = .*?calls=%([\w.-]+)", hlo)
    if call is None:
        return ""
    body = re.search(rf"\n%{re.escape(call[1])} .*?\n}}", hlo, re.S)
    ops = re.findall(r"= \S+ ([a-z][\w-]*)\(", body[0]) if body else []
    return ", ".join(f"{op} x{n}" if n > 1 else op for op, n in collections.Counter(ops).items()
                     if op not in ("parameter", "constant", "bitcast"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tools", required=True, help="the team's accelerator tools")
    parser.add_argument("--loss", required=True, help="a loss name or case:NAME")
    parser.add_argument("--shape", default="4x128x128x14")
    parser.add_argument("--top", type=int, default=6)
    args = parser.parse_args()
    sys.path.insert(0, args.tools)
    shape = tuple(int(v) for v in args.shape.split("x"))
    labels = "prior" if "nonadjacency" in args.loss else "int"
    device = cm.devices(args.tools, ["v5e"])["v5e"]
    lowered = cm.lower(cm.program(cm.resolve(args.loss, classes=shape[-1]), "codegen"), device,
                       shape, labels)
    start = time.perf_counter()
    compiled = lowered.compile()
    print(f"{args.loss} {args.shape}: v5e compile {time.perf_counter() - start:.2f} s with dumps")
    seconds, variants = codegen_seconds(_JF_DUMP)
    shutil.rmtree(_JF_DUMP, ignore_errors=True)  # gigabytes for a 3-D loss
    hlo = compiled.as_text()
    print("| fusion | codegen s | variants | fused ops |\n|---|---|---|---|")
    for fusion, secs in seconds.most_common(args.top):
        count = len(variants[fusion]) or ""
        print(f"| {fusion} | {secs:.2f} | {count} | {fused_ops(hlo, fusion)} |")


if __name__ == "__main__":
    main()
