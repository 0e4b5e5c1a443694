"""XLA:TPU compile time, temporaries and estimated run time of the distance-transform losses
against the plane-chunk bound of the TPU EDT (``distance._TPU_EDT_CHUNK_ELEMS``).

Run (in the accelerator venv, see the team's accelerator tools; from the repository root)::

    python benchmarks/tpu_edt_chunks.py --losses case:boundary,case:hausdorff_dt \\
        --shapes 4x128x128x4,4x128x128x150 --bounds none,17,18,19,20

For every loss, shape and bound (``none``: no chunks, one program over every plane, as before
the bound; ``k``: chunks of at most ``2**k`` elements, planes larger than that one program) it
compiles ``jax.value_and_grad(lambda x, y: loss(x, y).mean())`` (integer labels) for a described
TPU v5e (no device), once after a warm-up, and prints the compile seconds, XLA's temporary bytes
(in units of the logits' bytes) and the run time XLA:TPU estimates (the sum of its per-op
``estimated_cycles`` over the executed program, loop bodies times their trip counts: the tools'
``tpu_cost.py``, at 1.5 GHz).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time

import compile_memory as cm  # sets the environment for a deviceless TPU compile
from _timing import load_average

from jaxseg_losses import distance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tools", default="/work/shared/tools/accel")
    parser.add_argument("--losses", default="case:boundary,case:hausdorff_dt")
    parser.add_argument("--shapes", default="4x128x128x4,4x128x128x150")
    parser.add_argument("--bounds", default="none,18")
    args = parser.parse_args()
    sys.path.insert(0, args.tools)
    import tpu_cost  # noqa: PLC0415  (the team's accelerator tools, not a package)

    device = cm.devices(args.tools, ["v5e"])["v5e"]
    cm.lower(cm.program(cm.resolve("dice_loss"), "warm"), device, (1, 8, 8, 2), "int").compile()
    print(f"load average {load_average()}")
    print("| loss | shape | bound | v5e compile s | v5e temp x | estimated ms | loops (trips) |")
    print("|---|---|---|---|---|---|---|")
    for name in args.losses.split(","):
        for text in args.shapes.split(","):
            shape = tuple(int(n) for n in text.split("x"))
            for bound in args.bounds.split(","):
                distance._TPU_EDT_CHUNK_ELEMS = 2**40 if bound == "none" else 2 ** int(bound)
                distance._edt.clear_cache()  # a new trace with this bound
                lowered = cm.lower(cm.program(cm.resolve(name, classes=shape[-1]), "prog"),
                                   device, shape, "int")
                start = time.perf_counter()
                compiled = lowered.compile()
                seconds = time.perf_counter() - start
                temp = compiled.memory_analysis().temp_size_in_bytes / (4 * math.prod(shape))
                with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
                    fh.write(compiled.as_text())
                acc = tpu_cost.cost(tpu_cost.parse(fh.name), "__entry__", 0.0,
                                    {"cycles": 0.0, "ops": 0.0, "loops": []})
                os.unlink(fh.name)
                trips = ",".join(str(t) for _, t, _, _ in acc["loops"]) or "-"
                label = bound if bound == "none" else f"2^{bound}"
                print(f"| {name} | {text} | {label} | {seconds:.2f} | {temp:.2f} | "
                      f"{acc['cycles'] / 1.5e6:.2f} | {trips} |", flush=True)


if __name__ == "__main__":
    main()
