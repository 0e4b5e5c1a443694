"""What the blob loss compiles to on an H100 and a TPU v5e (estimates, no device needed).

Run (in the venv with jax's CUDA plugin and libtpu, from the repository root)::

    PYTHONPATH=$PWD python benchmarks/blob_accelerator.py --tools DIR

``jax.value_and_grad`` of :func:`~jaxseg_losses.blob.blob_loss` (multiclass, Dice, the
components of classes 1..C-1 labelled inside the step) and of ``dice_loss`` beside it, at
(8, 256, 256, 4) and (2, 64, 64, 64, 4), with ``accelerator_proxy``'s readers: H100 kernel
launches, CUDA-graph launches, host-synchronised loop iterations (the components' union-find
rounds), temporary memory; TPU v5e temporary memory and estimate.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jax  # noqa: E402
from accelerator_proxy import Targets  # noqa: E402
from noisy_region_losses import SHAPES, inputs, value_and_grad  # noqa: E402

from jaxseg_losses.blob import blob_loss  # noqa: E402
from jaxseg_losses.region.dice import dice_loss  # noqa: E402

LOSSES = {"dice_loss (reference)": dice_loss,
          "blob_loss multiclass": functools.partial(blob_loss, mode="multiclass")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", required=True, help="folder of the accelerator tools")
    targets = Targets(parser.parse_args().tools)
    print(f"jax {jax.__version__}; compiled for a described H100 and TPU v5e (estimates)\n"
          "| loss | shape | H100 launches | graphs | host syncs | H100 temp MiB | "
          "v5e temp MiB | v5e est. ms |\n|---|---|---|---|---|---|---|---|")
    for shape in SHAPES:
        args = tuple(jax.ShapeDtypeStruct(a.shape, a.dtype) for a in inputs(shape))
        for index, (name, loss) in enumerate(LOSSES.items()):
            program = f"blob{index}_{len(shape) - 2}d"
            g = targets.h100(program, value_and_grad(loss), args)
            t = targets.v5e(program, value_and_grad(loss), args)
            print(f"| {name} | {shape} | {g['launches']} | {g['graphs']} | {g['syncs']} | "
                  f"{g['temp_mib']:.0f} | {t['temp_mib']:.0f} | "
                  f"{t['ms'][0]:.2f}-{t['ms'][1]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
