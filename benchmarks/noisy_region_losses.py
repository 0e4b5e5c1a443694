"""Value+grad cost of the issue-31 losses: bi-tempered, T-loss, Boundary DoU, region-wise.

CPU (this machine): median ms of ``jax.jit(jax.value_and_grad(mean loss))`` over interleaved
rounds (``_timing.interleaved_medians``), with the cross-entropy and the Dice loss timed in the
same rounds as the reference::

    python benchmarks/noisy_region_losses.py cpu [--repeats 5] [--shapes 8,256,256,4 ...]

Accelerators (a venv with jax's CUDA plugin and libtpu; the team's accelerator tools): kernel
launches, host-synchronised loop iterations and temporary memory of the same programs compiled
for a described H100, and temporary memory and XLA:TPU's cycle estimate for a TPU v5e
(``accelerator_proxy.Targets``; estimates, not measurements)::

    python benchmarks/noisy_region_losses.py accel --tools DIR
"""

from __future__ import annotations

import argparse
import functools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SHAPES = ((8, 256, 256, 4), (2, 64, 64, 64, 4))


def losses() -> dict:
    from jaxseg_losses.pixelwise.cross_entropies import cross_entropy
    from jaxseg_losses.pixelwise.noisy_labels import bi_tempered_loss, t_loss
    from jaxseg_losses.region.boundary_dou import boundary_dou_loss
    from jaxseg_losses.region.dice import dice_loss
    from jaxseg_losses.region_wise import region_wise_loss

    return {
        "cross_entropy (reference)": cross_entropy,
        "dice_loss (reference)": dice_loss,
        "bi_tempered t1=.8 t2=1.2 (5 fixed-point)": bi_tempered_loss,
        "bi_tempered t1=.8 t2=.7 (30 bisections)": functools.partial(bi_tempered_loss, t2=0.7),
        "t_loss": t_loss,
        "boundary_dou_loss": boundary_dou_loss,
        "region_wise_loss rrw": region_wise_loss,
        "region_wise_loss boundary": functools.partial(region_wise_loss, kind="boundary"),
    }


def value_and_grad(loss):
    import jax

    return jax.value_and_grad(lambda x, y: loss(x, y).mean())


def inputs(shape, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(np.float32)
    y = rng.integers(0, shape[-1], size=shape[:-1]).astype(np.int32)
    return x, y


def cpu(args) -> None:
    import jax
    from _timing import interleaved_medians, load_average, machine_line

    print(machine_line())
    for shape in args.shapes:
        x, y = (jax.device_put(a) for a in inputs(shape))
        fns = {name: jax.jit(value_and_grad(loss)) for name, loss in losses().items()}
        cands = {name: functools.partial(fn, x, y) for name, fn in fns.items()}
        medians = interleaved_medians(cands, repeats=args.repeats)
        base = medians["cross_entropy (reference)"]
        print(f"\nshape {shape}, int labels, {args.repeats} interleaved rounds, load "
              f"{load_average():.1f}\n| loss | value+grad ms (median) | / cross-entropy |\n"
              "|---|---|---|")
        for name, ms in medians.items():
            print(f"| {name} | {ms:.1f} | {ms / base:.2f} |", flush=True)


def accel(args) -> None:
    import jax
    from accelerator_proxy import Targets

    targets = Targets(args.tools)
    print(f"jax {jax.__version__}; compiled for a described H100 and TPU v5e (estimates)\n"
          "| loss | shape | H100 launches | graphs | host syncs | H100 temp MiB | "
          "v5e temp MiB | v5e est. ms |\n|---|---|---|---|---|---|---|---|")
    for shape in args.shapes:
        args_ = tuple(jax.ShapeDtypeStruct(a.shape, a.dtype) for a in inputs(shape))
        for index, (name, loss) in enumerate(losses().items()):
            program = f"loss{index}_{len(shape) - 2}d"
            g = targets.h100(program, value_and_grad(loss), args_)
            t = targets.v5e(program, value_and_grad(loss), args_)
            print(f"| {name} | {shape} | {g['launches']} | {g['graphs']} | {g['syncs']} | "
                  f"{g['temp_mib']:.0f} | {t['temp_mib']:.0f} | "
                  f"{t['ms'][0]:.2f}-{t['ms'][1]:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=("cpu", "accel"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tools", default=None, help="accel: folder of the accelerator tools")
    parser.add_argument("--shapes", nargs="*", default=None,
                        help="comma-separated (B, *spatial, C) shapes")
    args = parser.parse_args()
    args.shapes = (SHAPES if not args.shapes
                   else [tuple(int(s) for s in text.split(",")) for text in args.shapes])
    (cpu if args.target == "cpu" else accel)(args)


if __name__ == "__main__":
    main()
