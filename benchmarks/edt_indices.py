"""Benchmark of ``distance_transform_edt(..., return_indices=True)`` (the feature transform).

Run: ``python benchmarks/edt_indices.py [--quick]`` (CPU, writes
``benchmarks/results/edt_indices.md``) or ``python benchmarks/edt_indices.py --tools DIR`` in a
venv with jax's CUDA plugin and libtpu (DIR: ``h100.txtpb``, ``thunks.py``, ``tpu_cost.py``;
writes ``benchmarks/results/edt_indices_accelerator.md``).

* CPU: median ms of one jitted call on the batch with indices, without (the distances alone),
  and ``scipy.ndimage.distance_transform_edt(..., return_indices=True)`` looping over the images
  (one core), interleaved after warm-up; the masks of ``benchmarks/edt.py``.
* ``--tools``: both programs compiled for a described H100 and TPU v5e: while loops, kernel
  launches, CUDA graphs, host syncs, temporary memory, XLA:TPU's cycle estimate (estimates from
  the compiler, not measurements).
"""

from __future__ import annotations

import argparse
import glob
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleaved_medians, machine_line  # noqa: E402
from edt import seg_masks  # noqa: E402

from jaxseg_losses.distance import distance_transform_edt  # noqa: E402

SHAPES = [(8, 256, 256), (2, 64, 64, 64), (1, 1024, 1024)]


def with_indices(mask):
    return distance_transform_edt(mask, return_indices=True)


def cpu_table(repeats: int) -> list[str]:
    from scipy import ndimage  # noqa: PLC0415

    lines = [
        "| shape | with indices ms | distances only ms | SciPy with indices ms "
        "| ours / SciPy | indices / distances |",
        "|---|---|---|---|---|---|",
    ]
    for shape in SHAPES:
        mask = seg_masks(shape, np.random.default_rng(0))
        dev = jnp.asarray(mask)
        ours, plain = jax.jit(with_indices), jax.jit(distance_transform_edt)
        _, idx = ours(dev)
        for b in range(shape[0]):  # the benchmark checks what it times
            assert (np.asarray(idx[b]) == ndimage.distance_transform_edt(
                mask[b], return_indices=True)[1]).all()
        med = interleaved_medians({
            "ours": lambda: ours(dev),  # noqa: B023 (called within this iteration)
            "plain": lambda: plain(dev),  # noqa: B023
            "scipy": lambda: [ndimage.distance_transform_edt(m, return_indices=True)
                              for m in mask],  # noqa: B023
        }, repeats)
        lines.append(f"| {shape} | {med['ours']:.1f} | {med['plain']:.1f} | {med['scipy']:.1f} "
                     f"| {med['ours'] / med['scipy']:.2f} | {med['ours'] / med['plain']:.2f} |")
        print(lines[-1], flush=True)
    return lines


def accelerator_table(tools: str) -> list[str]:
    from accelerator_proxy import _DUMP, Targets  # noqa: PLC0415 (sets the dump flags)

    targets = Targets(tools)
    lines = [
        "| shape | program | while loops | H100 launches | CUDA graphs | host syncs "
        "| H100 temp MiB | v5e temp MiB | v5e est. ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for shape in SHAPES:
        arg = jax.ShapeDtypeStruct(shape, jnp.bool_)
        for label, fn in (("with indices", with_indices), ("distances", distance_transform_edt)):
            name = ("idx_" if fn is with_indices else "edt_") + "x".join(map(str, shape))
            gpu = targets.compile("h100", name, fn, (arg,))
            prefix = glob.glob(f"{_DUMP}/*jit_{name}_h100.thunk_sequence.txt")[-1][
                : -len("thunk_sequence.txt")]
            acc = targets.thunks.summarize(prefix, pops=(0.0,))[0][0.0]
            tpu = targets.compile("v5e", name, fn, (arg,))
            path = os.path.join(_DUMP, f"{name}_v5e.txt")
            with open(path, "w") as fh:
                fh.write(tpu.as_text())
            cycles = targets.tpu_cost.cost(targets.tpu_cost.parse(path), "__entry__", 0.0,
                                           {"cycles": 0.0, "ops": 0.0, "loops": []})["cycles"]
            lines.append(
                f"| {shape} | {label} | {gpu.as_text().count(' while(')} | {acc['launches']} | "
                f"{acc['graphs']} ({acc.get('graph_kernels', 0)} kernels) | {acc['syncs']} | "
                f"{gpu.memory_analysis().temp_size_in_bytes / 2**20:.1f} | "
                f"{tpu.memory_analysis().temp_size_in_bytes / 2**20:.1f} | {cycles / 1.5e6:.2f} |")
            print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--tools", default=None, help="accelerator tools folder (see above)")
    args = parser.parse_args()
    repeats = 5 if args.quick else 11
    if args.tools:
        title = "# EDT feature transform compiled for a described H100 and TPU v5e"
        head = (f"Command: `python benchmarks/edt_indices.py --tools DIR`; jax {jax.__version__}; "
                "estimates from the compiler, not measurements.")
        table, out = accelerator_table(args.tools), "edt_indices_accelerator.md"
    else:
        title = "# EDT feature transform (CPU)"
        head = (f"Command: `python benchmarks/edt_indices.py{' --quick' if args.quick else ''}`;"
                f" {machine_line()}; 1-min load {os.getloadavg()[0]:.1f} at the end. Median ms of "
                f"{repeats} interleaved rounds; SciPy loops over the images (one core).")
        table, out = cpu_table(repeats), "edt_indices.md"
    text = "\n".join([title, "", head, "", *table])
    print(text)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", out)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text + "\n")


if __name__ == "__main__":
    main()
