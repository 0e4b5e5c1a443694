"""Which part of a loss XLA:TPU compiles slowly: sub-programs of a loss compiled for a v5e.

Run (in the accelerator venv, see the team's accelerator tools; from the repository root)::

    python benchmarks/tpu_bisect.py --tools DIR \\
        --parts lovasz_sort,lovasz_unsort,lovasz_sort_back --classes 4,150
    python benchmarks/tpu_bisect.py --tools DIR --parts nonadjacency,pairs_vg,softmax_pairs_vg,\\
softmax_pairs_fwd,softmax_pairs_elementwise --classes 4,14,19,150

Each part is a jitted function of ``(4, 128, 128, C)`` float32 logits (the Lovász parts: of the
``(4, C, 16384)`` rows the loss sorts), compiled once for a described TPU v5e after a warm-up;
prints the compile seconds, temporaries (x the input) and XLA:TPU's run-time estimate (which
leaves sorts out: compare it between programs with the same sorts only). Results:
``benchmarks/results/tpu_bisect.md``.
"""

from __future__ import annotations

import argparse
import sys
import time

import compile_memory as cm  # sets the environment for deviceless TPU compiles
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxseg_losses as jsl
from jaxseg_losses import adjacency, lovasz
from jaxseg_losses._activations import probabilities


def _rows_parts():
    """Lovász: the sort, the sort + unsort (scatter), and the unsort as a sort back."""

    def sort_grad(k, fg):
        _, fg_sorted = lax.sort((k, fg), num_keys=1, is_stable=True)
        return lovasz._lovasz_grad(fg_sorted)

    def sorted_and_perm(k, fg):
        pixel = lax.broadcasted_iota(jnp.int32, k.shape, k.ndim - 1)
        _, perm, fg_sorted = lax.sort((k, pixel, fg), num_keys=1, is_stable=True)
        return lovasz._lovasz_grad(fg_sorted), perm

    def unsort(k, fg):
        return lovasz._unsort(*sorted_and_perm(k, fg))

    def sort_back(k, fg):
        grad, perm = sorted_and_perm(k, fg)
        return lax.sort((perm, grad), num_keys=1)[1]

    return {"lovasz_sort": sort_grad, "lovasz_unsort": unsort, "lovasz_sort_back": sort_back}


def _pixel_parts():
    """Non-adjacency: the loss, its pair sums with and without the softmax before them, and
    the pair sums as elementwise products (no dot)."""

    def softmax(x):
        return probabilities(x, mode="multiclass", from_logits=True)

    def pair_sums(q):
        return adjacency._soft_pair_sums(q, jnp.ones(q.shape[:-1]), 2, False)

    def elementwise(q):  # sum_x q_i(x) s_j(x) without a dot
        s = adjacency._neighbour_sum(q, 2, False)
        b, c = q.shape[0], q.shape[-1]
        return jnp.sum(q.reshape(b, -1, c, 1) * s.reshape(b, -1, 1, c), axis=1)

    def nonadjacency(x):
        prior = jnp.asarray(np.eye(x.shape[-1]))
        return jax.value_and_grad(lambda v: jsl.nonadjacency_loss(v, prior).mean())(x)

    return {
        "nonadjacency": nonadjacency,
        "pairs_vg": jax.value_and_grad(lambda q: (pair_sums(q) ** 2).sum()),
        "softmax_pairs_fwd": lambda x: pair_sums(softmax(x)),
        "softmax_pairs_vg": jax.value_and_grad(lambda x: pair_sums(softmax(x)).sum()),
        "softmax_pairs_elementwise": jax.value_and_grad(lambda x: elementwise(softmax(x)).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tools", required=True, help="the team's accelerator tools")
    parser.add_argument("--parts", required=True)
    parser.add_argument("--classes", default="4,14,150")
    args = parser.parse_args()
    sys.path.insert(0, args.tools)
    device = cm.devices(args.tools, ["v5e"])["v5e"]
    sharding = jax.sharding.SingleDeviceSharding(device)
    rows, pixels = _rows_parts(), _pixel_parts()
    jax.jit(pixels["softmax_pairs_fwd"]).lower(
        jax.ShapeDtypeStruct((1, 8, 8, 3), jnp.float32, sharding=sharding)).compile()  # warm-up
    print("| part | C | v5e compile s | temp x | est ms |\n|---|---|---|---|---|")
    for part in args.parts.split(","):
        for c in (int(v) for v in args.classes.split(",")):
            if part in rows:
                shapes, fn = [(4, c, 128 * 128)] * 2, rows[part]
            else:
                shapes, fn = [(4, 128, 128, c)], pixels[part]
            lowered = jax.jit(fn).lower(
                *[jax.ShapeDtypeStruct(s, jnp.float32, sharding=sharding) for s in shapes])
            start = time.perf_counter()
            compiled = lowered.compile()
            seconds = time.perf_counter() - start
            temp = compiled.memory_analysis().temp_size_in_bytes / (4 * np.prod(shapes[0]))
            print(f"| {part} | {c} | {seconds:.2f} | {temp:.2f} | "
                  f"{cm.tpu_estimate_ms(compiled.as_text()):.2f} |", flush=True)


if __name__ == "__main__":
    main()
