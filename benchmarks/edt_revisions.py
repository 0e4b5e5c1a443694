"""EDT speed of `jaxseg_losses/distance.py` at several git revisions, side by side.

Run: ``python benchmarks/edt_revisions.py REV [REV ...] [--shapes 8x128x128,...]
[--function distance_field]`` (``WORK`` = the working tree). Loads ``distance.py`` of every
revision (``git show REV:...``) as its own module, checks that all give identical results, and
times them interleaved in this process (medians after warm-up), so the effect of a change is
measured under the same load.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleaved_medians, machine_line  # noqa: E402
from edt import seg_masks  # noqa: E402  (benchmarks/edt.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = ("8x128x128,8x256x256,2x64x64x64,1x512x512,1x1024x1024,1x128x128x128,16x64x64x64,"
           "64x256x256")


def load_revision(rev: str, tmp: str):
    path = os.path.join(ROOT, "jaxseg_losses", "distance.py")
    if rev != "WORK":
        src = subprocess.run(["git", "-C", ROOT, "show", f"{rev}:jaxseg_losses/distance.py"],
                             capture_output=True, text=True, check=True).stdout
        path = os.path.join(tmp, f"distance_{rev.replace('/', '_')}.py")
        with open(path, "w") as fh:
            fh.write(src)
    spec = importlib.util.spec_from_file_location(f"distance_{len(os.listdir(tmp))}_{rev}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revs", nargs="+")
    parser.add_argument("--shapes", default=DEFAULT)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--function", default="distance_transform_edt",
                        choices=("distance_transform_edt", "distance_field"),
                        help="distance_field: the two-sided transform (signed maps, HD loss)")
    args = parser.parse_args()
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        mods = {rev: load_revision(rev, tmp) for rev in args.revs}
        print(f"`python benchmarks/edt_revisions.py {' '.join(args.revs)} --function "
              f"{args.function}`; {machine_line()}; "
              f"median ms of {args.repeats} interleaved rounds (compile s in brackets)\n")
        print("| shape | " + " | ".join(args.revs) + " | load |")
        print("|---|" + "---|" * (len(args.revs) + 1))
        for shape in shapes:
            x = jnp.asarray(seg_masks(shape, np.random.default_rng(0)))
            cands, outs, comp = {}, [], {}
            for rev, mod in mods.items():
                f = jax.jit(getattr(mod, args.function))
                t0 = time.perf_counter()
                outs.append(np.asarray(f(x)))
                comp[rev] = time.perf_counter() - t0
                cands[rev] = lambda f=f, x=x: f(x)
            if not all(np.array_equal(outs[0], o) for o in outs):
                raise AssertionError(f"revisions disagree on {shape}")
            med = interleaved_medians(cands, args.repeats, warmup=1)
            cells = " | ".join(f"{med[r]:.1f} ({comp[r]:.2f})" for r in args.revs)
            print(f"| {shape} | {cells} | {os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
