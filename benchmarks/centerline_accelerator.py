"""What the centerline losses and the hard skeleton compile to on an H100 and a TPU v5e.

Run (in the venv with jax's CUDA plugin and libtpu, from the repository root)::

    PYTHONPATH=$PWD python benchmarks/centerline_accelerator.py --tools DIR [--shapes 2d,3d]

Compiles ``jax.value_and_grad`` of :func:`~jaxseg_losses.centerline.skeleton_recall_loss`,
:func:`~jaxseg_losses.centerline.cbdice_loss` (soft skeleton, and ``hard_skeleton=True``) and
``skeletonize`` alone at (8, 256, 256, 4) and (2, 64, 64, 64, 4), with ``accelerator_proxy``'s
readers: H100 kernel launches, CUDA-graph launches, host-synchronised loop iterations,
temporary memory and a time range from its stated model; TPU v5e temporary memory and XLA's
``estimated_cycles`` summed with the thinning loop run for the number of passes the benchmark
labels need (measured here on CPU; the TPU loop stops there, the GPU loop runs
``max_iterations`` passes, whose trip count is known). All figures are compiler estimates.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import accelerator_proxy as proxy  # noqa: E402  (sets the dump folder before jax starts)
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from centerline import SHAPES, passes, vessel_labels  # noqa: E402

from jaxseg_losses.centerline import cbdice_loss, skeleton_recall_loss  # noqa: E402
from jaxseg_losses.skeleton import skeletonize  # noqa: E402


def programs(shape):
    labels = jax.ShapeDtypeStruct(shape[:-1], jnp.int32)
    logits = jax.ShapeDtypeStruct(shape, jnp.float32)
    masks = jax.ShapeDtypeStruct(shape[:-1], jnp.bool_)

    def vg(loss, **kw):
        return lambda x, y: jax.value_and_grad(lambda x: jnp.sum(loss(x, y, **kw)))(x)

    return {
        "skeletonize": (lambda m: skeletonize(m), (masks,)),
        "skeleton_recall": (vg(skeleton_recall_loss), (logits, labels)),
        "cbdice_soft": (vg(cbdice_loss), (logits, labels)),
        "cbdice_hard": (vg(cbdice_loss, hard_skeleton=True), (logits, labels)),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tools", required=True)
    ap.add_argument("--shapes", default="2d,3d")
    args = ap.parse_args()
    targets = proxy.Targets(args.tools)
    for key in args.shapes.split(","):
        shape = SHAPES[key]
        n_pass = passes(jnp.asarray(vessel_labels(shape[:-1], shape[-1])[:1] > 0))
        print(f"\n{key} {shape}: thinning passes to converge {n_pass}; GPU fixed trip "
              f"{-(-max(shape[1:-1]) // 2) + 1}")
        for name, (fn, fargs) in programs(shape).items():
            h = targets.h100(f"{name}_{key}", fn, fargs)
            compiled = targets.compile("v5e", f"{name}_{key}", fn, fargs)
            path = os.path.join(proxy._DUMP, f"{name}_{key}_v5e.txt")
            text = compiled.as_text()
            with open(path, "w") as fh:
                fh.write(text)
            comps = targets.tpu_cost.parse(path)
            acc = targets.tpu_cost.cost(comps, "__entry__", float(n_pass),
                                        {"cycles": 0.0, "ops": 0.0, "loops": []})
            tpu_whiles = len(re.findall(r" while\(", text))
            print(f"  {name:16s} H100: launches {h['launches']}, graphs {h['graphs']}, "
                  f"host syncs {h['syncs']}, temp {h['temp_mib']:.0f} MiB, "
                  f"est {h['ms'][0]:.1f}-{h['ms'][1]:.1f} ms | v5e: temp "
                  f"{compiled.memory_analysis().temp_size_in_bytes / 2**20:.0f} MiB, "
                  f"{tpu_whiles} while ops, est {acc['cycles'] / 1.5e6:.1f} ms")


if __name__ == "__main__":
    main()
