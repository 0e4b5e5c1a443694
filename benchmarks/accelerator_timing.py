"""The programs of ``accelerator_proxy.py``, timed on a real GPU or TPU (and SciPy on the host).

Run on a machine with an accelerator (jax with its CUDA or TPU backend, SciPy beside it)::

    python benchmarks/accelerator_timing.py [--only REGEX] [--repeats 20] [--out FILE]

Inputs are concrete versions of the abstract shapes: segmentation-like masks (1-3 ellipses per
image, ``benchmarks/edt.py``), integer labels of 4 classes made of such masks, standard-normal
logits and parameters. Each program is compiled and run once before timing; the table gives the
median ms of ``--repeats`` calls (``jax.block_until_ready``) on the default device, and for the
EDT rows SciPy's ``distance_transform_edt`` over the batch on one host core with the ratio.
Put the figures beside the estimates of BENCHMARKS.md section 4, naming the device.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _distance_programs import programs, scipy_cells  # noqa: E402
from edt import seg_masks  # noqa: E402  (benchmarks/edt.py)

NUM_CLASSES = 4


def concrete(leaf, rng: np.random.Generator):
    """A realistic array for an abstract leaf: masks, labels, logits/parameters, counters."""
    shape, dtype = leaf.shape, leaf.dtype
    if dtype == jnp.bool_:
        return jnp.asarray(seg_masks(shape, rng))
    if jnp.issubdtype(dtype, jnp.integer):
        if len(shape) < 2:  # an optimiser's step count
            return jnp.zeros(shape, dtype)
        labels = np.zeros(shape, np.int32)
        for k in range(1, NUM_CLASSES):
            labels[~seg_masks(shape, rng)] = k
        return jnp.asarray(labels)
    return jnp.asarray(rng.standard_normal(shape).astype(np.float32))


def median_ms(fn, args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile and warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="regex: the programs to time")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-scipy", action="store_true", help="skip the SciPy column")
    parser.add_argument("--out", default=None, help="also write the table to this file")
    args = parser.parse_args()
    device = jax.devices()[0]
    lines = [f"device: {device.device_kind} ({device.platform}); jax {jax.__version__}; "
             f"median of {args.repeats} calls after warm-up", "",
             "| program | device ms | SciPy 1 core ms | SciPy / device |", "|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    rng = np.random.default_rng(0)
    for label, _, fn, abstract in programs():
        if args.only and not re.search(args.only, label):
            continue
        inputs = jax.tree.map(lambda leaf: concrete(leaf, rng), abstract)
        ms = median_ms(jax.jit(fn), inputs, args.repeats)
        row = f"| {label} | {ms:.3f} |"
        row += " | |" if args.no_scipy else scipy_cells(label, abstract[0].shape, ms, ms)
        lines.append(row)
        print(row, flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
