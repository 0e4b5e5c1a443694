"""Whether a change leaves the compiled program of a loss unchanged, per target.

Run (in the accelerator venv, see the team's accelerator tools; from the repository root)::

    python benchmarks/program_identity.py --revs 88fbd99,WORK \\
        --losses case:boundary,case:hausdorff_dt --shapes 4x128x128x150,2x96x96x96x14 \\
        --targets cpu,h100,v5e

For every loss, shape and target it compiles ``jax.value_and_grad(lambda x, y: loss(x,
y).mean())`` (integer labels) from each revision (``WORK`` = the working tree) and compares the
optimised HLO text with its metadata, stack frames and instruction / computation numbering
removed (an extra ``lax.platform_dependent`` branch shifts the numbering only). Prints
``identical`` or ``differ`` with the instruction count, fusions and temporary bytes of each.
"""

from __future__ import annotations

import argparse
import collections
import difflib
import pathlib
import re
import sys
import tempfile

import compile_memory as cm  # sets the environment for deviceless GPU / TPU compiles
from loss_revisions import load_package


def normalised(hlo: str) -> str:
    """The optimised HLO without what differs between equal programs."""
    hlo = re.sub(r", metadata=\{[^}]*\}", "", hlo)
    hlo = "\n".join(line for line in hlo.splitlines()
                    if line.startswith(("%", "ENTRY", "}", " ", "ROOT")))
    hlo = re.sub(r",? ?stack_frame_id=\d+", "", hlo)
    hlo = re.sub(r"(%[A-Za-z][\w\-.]*?)(?:[._]\d+)+\b", r"\1", hlo)  # %constant_57_5, %add.3
    return re.sub(r"(?<=[A-Za-z_])(\.\d+)+", "", hlo)  # wide.region.78.clone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tools", required=True, help="the team's accelerator tools")
    parser.add_argument("--revs", default="HEAD,WORK", help="two git revisions (WORK: the tree)")
    parser.add_argument("--losses", default="case:boundary")
    parser.add_argument("--shapes", default="4x128x128x150")
    parser.add_argument("--targets", default="cpu,h100")
    parser.add_argument("--diff", type=int, default=0, help="print this many lines of the diff")
    args = parser.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="program_identity_"))
    sys.path.insert(0, str(tmp))
    packages = {rev: load_package(rev, i, tmp) for i, rev in enumerate(args.revs.split(","))}
    devices = cm.devices(args.tools, args.targets.split(","))
    for name in args.losses.split(","):
        for text in args.shapes.split(","):
            shape = tuple(int(n) for n in text.split("x"))
            for target, device in devices.items():
                found = {}
                for rev, package in packages.items():
                    loss = cm.resolve(name, package, shape[-1])
                    compiled = cm.lower(cm.program(loss, "prog"), device, shape, "int").compile()
                    hlo = normalised(compiled.as_text())
                    ops = collections.Counter(re.findall(r"= \S+ ([\w-]+)\(", hlo))
                    found[rev] = (hlo, f"{sum(ops.values())} ops, {ops['fusion']} fusions, "
                                  f"{compiled.memory_analysis().temp_size_in_bytes} temp bytes")
                same = len({hlo for hlo, _ in found.values()}) == 1
                print(f"{name} {text} {target}: {'identical' if same else 'differ'} "
                      f"({'; '.join(f'{rev}: {info}' for rev, (_, info) in found.items())})",
                      flush=True)
                if not same and args.diff:
                    first, second = (hlo.splitlines() for hlo, _ in found.values())
                    lines = difflib.unified_diff(first, second, lineterm="", n=0)
                    print("\n".join(line[:300] for line in list(lines)[: args.diff]))


if __name__ == "__main__":
    main()
