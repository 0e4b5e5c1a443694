"""Benchmark of jaxseg_losses.components.connected_components against SciPy and cc3d.

Run: ``python benchmarks/components.py [--quick]`` (CPU timings, writes
``benchmarks/results/components.md``) or ``python benchmarks/components.py --tools DIR``
(accelerator structure, writes ``benchmarks/results/components_accelerator.md``).

* CPU: median ms (interleaved rounds after warm-up, ``block_until_ready``) of one jitted call
  on the batch, against ``scipy.ndimage.label`` and ``cc3d.connected_components`` looping over
  the images on the host (one core), full connectivity (8 / 26). Masks: random blobs
  (smoothed noise thresholded at 30% foreground) and the adversarial single paths (spirals /
  serpentines of one-element width in every image); the "rounds" column is the number of
  union-find rounds the CPU program ran (the stop test included).
* ``--tools DIR`` (run in a venv with jax's CUDA plugin and libtpu; DIR holds ``h100.txtpb``,
  ``thunks.py`` and ``tpu_cost.py``): the same programs compiled for a described H100 and TPU
  v5e: while loops, kernel launches, CUDA-graph launches and host-synchronised loop iterations
  per call at the measured round count, temporary memory, XLA:TPU's cycle estimate. Estimates
  from the compiler, not measurements on a device.
"""

from __future__ import annotations

import argparse
import glob
import math
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleaved_medians, machine_line  # noqa: E402

from jaxseg_losses import components  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests.shapes
from tests.shapes import serpentine, spiral  # noqa: E402

SHAPES = [(8, 256, 256), (2, 64, 64, 64)]


def blobs(shape, seed=0, density=0.3, sigma=2.0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(size=shape)
    smooth = ndimage.gaussian_filter(noise, [0] + [sigma] * (len(shape) - 1))
    return smooth > np.quantile(smooth, 1 - density)


def column_serpentine(shape) -> np.ndarray:
    """Columns (along axis 1: the row runs of the start do not help) joined at alternating
    ends, in every image / plane."""
    return np.broadcast_to(serpentine(shape[-1]).T, shape).copy()


def masks(shape):
    yield "blobs 30%", blobs(shape)
    if len(shape) == 3:
        yield "spiral", np.broadcast_to(spiral(shape[1]), shape).copy()
    yield "serpentine", column_serpentine(shape)


def time_mask(shape, name: str, mask: np.ndarray, repeats: int) -> dict:
    import cc3d  # noqa: PLC0415 (not needed for --tools, whose venv may lack it)

    nonzero = len(shape) - 1
    structure = np.ones((3,) * nonzero, bool)
    conn = 8 if nonzero == 2 else 26
    dev = jnp.asarray(mask)
    ours = jax.jit(components.connected_components)
    labels, _ = ours(dev)
    for b in range(shape[0]):  # the benchmark checks what it times
        assert (np.asarray(labels[b]) == ndimage.label(mask[b], structure)[0]).all()
    rounds = int(components._label(dev, nonzero)[2])
    med = interleaved_medians({
        "ours": lambda: ours(dev),
        "scipy": lambda: [ndimage.label(m, structure) for m in mask],
        "cc3d": lambda: [cc3d.connected_components(m, connectivity=conn) for m in mask],
    }, repeats)
    print(shape, name, rounds, {k: round(v, 2) for k, v in med.items()}, flush=True)
    return dict(shape=shape, name=name, rounds=rounds, **med)


def cpu_rows(repeats: int):
    return [time_mask(shape, name, mask, repeats)
            for shape in SHAPES for name, mask in masks(shape)]


def accelerator_cells(rows, targets):
    """Per row: the compiled program's structure on the described H100 and TPU v5e."""
    from accelerator_proxy import _DUMP  # noqa: PLC0415

    cells = {}
    for row in rows:
        shape = row["shape"]
        # GPU/TPU test the stop condition every _ROUNDS_PER_CHECK rounds.
        iterations = math.ceil(row["rounds"] / components._ROUNDS_PER_CHECK)
        key = (shape, iterations)
        if key not in cells:
            name = "cc_" + "x".join(map(str, shape))
            arg = jax.ShapeDtypeStruct(shape, jnp.bool_)
            compiled = targets.compile("h100", name, components.connected_components, (arg,))
            prefix = glob.glob(f"{_DUMP}/*jit_{name}_h100.thunk_sequence.txt")[-1][
                : -len("thunk_sequence.txt")]
            acc = targets.thunks.summarize(prefix, pops=(iterations,))[0][iterations]
            whiles = compiled.as_text().count(" while(")
            temp = compiled.memory_analysis().temp_size_in_bytes / 2**20
            tpu = targets.compile("v5e", name, components.connected_components, (arg,))
            path = os.path.join(_DUMP, f"{name}_v5e.txt")
            with open(path, "w") as fh:
                fh.write(tpu.as_text())
            parsed = targets.tpu_cost.parse(path)
            cycles = targets.tpu_cost.cost(parsed, "__entry__", iterations,
                                           {"cycles": 0.0, "ops": 0.0, "loops": []})["cycles"]
            lo = (acc["launches"] * 3 + acc["graphs"] * 5 + acc["syncs"] * 10) / 1e3
            hi = (acc["launches"] * 10 + acc["graphs"] * 10 + acc["syncs"] * 30) / 1e3
            cells[key] = (f"{whiles} | {acc['launches']} | {acc['graphs']} "
                          f"({acc.get('graph_kernels', 0)} kernels) | {acc['syncs']} | "
                          f"{temp:.1f} | {lo:.2f}-{hi:.2f} | "
                          f"{tpu.memory_analysis().temp_size_in_bytes / 2**20:.1f} | "
                          f"{cycles / 1.5e6:.2f}")
            print(shape, iterations, cells[key], flush=True)
        row["accel"] = cells[key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--tools", default=None, help="accelerator tools folder (see above)")
    parser.add_argument("--out", default=None, help="default: benchmarks/results/"
                        "components.md (components_accelerator.md with --tools)")
    args = parser.parse_args()
    repeats = 5 if args.quick else 11
    if args.tools:
        # Before any computation: the accelerator plugins start with the first backend.
        from accelerator_proxy import Targets  # noqa: PLC0415 (sets the dump flags)

        targets = Targets(args.tools)
        rows = [dict(shape=shape, name=name,
                     rounds=int(components._label(jnp.asarray(mask), len(shape) - 1)[2]))
                for shape in SHAPES for name, mask in masks(shape)]
        accelerator_cells(rows, targets)
        lines = [
            "# connected_components compiled for a described H100 and TPU v5e",
            "",
            f"Command: `python benchmarks/components.py --tools DIR`; jax {jax.__version__}. "
            "rounds: union-find rounds the CPU program ran on the mask (stop test included); "
            f"GPU/TPU loop iterations = ceil(rounds / {components._ROUNDS_PER_CHECK}). "
            "H100 est. = launches x 3-10 us + graphs x 5-10 us + host syncs x 10-30 us "
            "(launch-bound: a round moves a few MB). Estimates from the compiler, not "
            "measurements.",
            "",
            "| shape | mask | rounds | while loops | H100 launches | CUDA graphs | host syncs "
            "| H100 temp MiB | H100 est. ms | v5e temp MiB | v5e est. ms |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        lines += [f"| {r['shape']} | {r['name']} | {r['rounds']} | {r['accel']} |" for r in rows]
    else:
        rows = cpu_rows(repeats)
        lines = [
            "# connected_components benchmark (CPU)",
            "",
            f"Command: `python benchmarks/components.py{' --quick' if args.quick else ''}`; "
            f"{machine_line()}; 1-min load {os.getloadavg()[0]:.1f} at the end. Median ms of "
            f"{repeats} interleaved rounds; SciPy and cc3d loop over the images (one core); "
            "full connectivity (8 / 26).",
            "",
            "| shape | mask | rounds | ours ms | SciPy ms | cc3d ms | ours / SciPy "
            "| ours / cc3d |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(f"| {r['shape']} | {r['name']} | {r['rounds']} | {r['ours']:.2f} | "
                         f"{r['scipy']:.2f} | {r['cc3d']:.2f} | {r['ours'] / r['scipy']:.1f} | "
                         f"{r['ours'] / r['cc3d']:.1f} |")
    text = "\n".join(lines)
    print(text)
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                   "components_accelerator.md" if args.tools else "components.md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as fh:
        fh.write(text + "\n")


if __name__ == "__main__":
    main()
