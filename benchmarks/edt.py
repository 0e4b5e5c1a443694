"""Benchmark of jaxseg_losses.distance.distance_transform_edt against SciPy and `edt`.

Run: ``python benchmarks/edt.py [--quick]``. Prints a table and writes
``benchmarks/results/edt.md``. Masks are segmentation-like (1-3 random ellipses/ellipsoids per
image) and the EDT is taken of the outside (large distances, as boundary/HD losses need).
SciPy and `edt` loop over the batch on the host CPU; ours is one jitted call. Times are medians
of several runs after warm-up, with ``block_until_ready``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import scipy.ndimage as ndi

from jaxseg_losses.distance import distance_transform_edt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleaved_medians, machine_line  # noqa: E402

# This script is itself named edt.py: drop its folder from the path so `import edt` finds the
# `edt` package rather than this file.
_here = os.path.dirname(os.path.abspath(__file__))
_saved_path = list(sys.path)
sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
try:
    import edt as edt_pkg
except ImportError:  # optional comparison
    edt_pkg = None
sys.path = _saved_path

SHAPES = [(8, 128, 128), (8, 256, 256), (2, 64, 64, 64), (1, 512, 512), (1, 1024, 1024),
          (1, 128, 128, 128)]
SIDES = [64, 128, 256, 512, 1024, 2048]


def seg_masks(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Background (False) = 1-3 random ellipses per image; the EDT measures outside distances."""
    batch, *spatial = shape
    grids = np.meshgrid(*[np.arange(n) for n in spatial], indexing="ij", sparse=True)
    obj = np.zeros(shape, bool)
    for b in range(batch):
        for _ in range(rng.integers(1, 4)):
            c = rng.uniform(0.2, 0.8, len(spatial)) * spatial
            r = rng.uniform(0.05, 0.25, len(spatial)) * spatial
            obj[b] |= sum(((g - ci) / ri) ** 2 for g, ci, ri in zip(grids, c, r, strict=True)) <= 1
    return ~obj


def run_shape(shape, sampling, repeats):
    """Ours, SciPy and `edt` timed interleaved in this process (medians), plus compile time and
    XLA's temporary memory for ours."""
    mask = seg_masks(shape, np.random.default_rng(0))
    nsp = len(shape) - 1
    samp = sampling[:nsp] if sampling is not None else None
    x = jnp.asarray(mask)
    ours = jax.jit(lambda m: distance_transform_edt(m, sampling=samp))
    t0 = time.perf_counter()
    compiled = ours.lower(x).compile()
    compile_s = time.perf_counter() - t0
    mem = compiled.memory_analysis()
    cands = {
        "ours": lambda: compiled(x),
        "scipy": lambda: [ndi.distance_transform_edt(a, sampling=samp) for a in mask],
    }
    if edt_pkg is not None:
        anis = samp if samp is not None else (1.0,) * nsp
        cands["edt"] = lambda: [edt_pkg.edt(a, anisotropy=anis, parallel=1) for a in mask]
    row = interleaved_medians(cands, repeats, warmup=1)
    row.update(shape=shape, sampling=samp, compile_s=compile_s,
               temp_mb=(mem.temp_size_in_bytes / 2**20) if mem is not None else float("nan"),
               load=os.getloadavg()[0])
    return row


def fmt_table(rows) -> list[str]:
    lines = ["| shape | sampling | ours jit (ms) | SciPy (ms) | edt (ms) | ours/SciPy | ours/edt | "
             "compile (s) | XLA temp (MB) | load |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        e = r.get("edt", float("nan"))
        lines.append(
            f"| {r['shape']} | {r['sampling'] or 'unit'} | {r['ours']:.2f} | {r['scipy']:.2f} | "
            f"{e:.2f} | {r['ours'] / r['scipy']:.2f} | {r['ours'] / e:.2f} | "
            f"{r['compile_s']:.2f} | {r['temp_mb']:.1f} | {r['load']:.1f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no 2048 side")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                      "edt.md"))
    args = parser.parse_args()
    repeats = 5 if args.quick else 11
    header = [
        "# EDT benchmark",
        "",
        f"Command: `python benchmarks/edt.py{' --quick' if args.quick else ''}`; "
        f"{machine_line()}. Median ms of {repeats} interleaved rounds (ours, SciPy, edt) after "
        "warm-up; `load` = 1-minute load average after the row.",
        "",
    ]
    out = list(header)
    for title, samp in [("isotropic", None), ("anisotropic", (1.5, 0.7, 2.0))]:
        rows = []
        for shape in SHAPES:
            rows.append(run_shape(shape, samp, repeats))
            print(fmt_table(rows[-1:])[-1], flush=True)
        out += [f"## {title}", "", *fmt_table(rows), ""]
    rows = []
    for side in SIDES[:-1] if args.quick else SIDES:
        rows.append(run_shape((1, side, side), None, repeats))
        print(fmt_table(rows[-1:])[-1], flush=True)
    out += ["## growth with side length (1, n, n)", "", *fmt_table(rows), ""]
    text = "\n".join(out)
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write(text)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        sides = [r["shape"][1] for r in rows]
        for key in ("ours", "scipy", "edt"):
            if all(key in r for r in rows):
                plt.loglog(sides, [r[key] for r in rows], "o-", label=key)
        plt.xlabel("side n of an n x n image")
        plt.ylabel("median ms")
        plt.legend()
        plt.savefig(os.path.splitext(args.out)[0] + "_growth.png", dpi=100)
    except ImportError:
        pass


if __name__ == "__main__":
    main()
