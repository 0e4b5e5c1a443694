"""Peak temporary memory of clDice value+grad, from XLA's compile-time memory analysis.

Run: ``python benchmarks/cldice_memory.py [iterations ...]``. Compiles (does not run)
``jax.value_and_grad`` of :func:`jaxseg_losses.topology.cldice_loss` on a (2, 128, 128, 128, 1)
binary volume, with the library's checkpointed ``lax.scan`` skeleton and with a plain unrolled
Python loop (no checkpoint) for comparison, and prints ``temp_size_in_bytes``.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp

from jaxseg_losses import topology

SHAPE = (2, 128, 128, 128, 1)


def unrolled_skeleton(x, iterations=3):
    """The textbook loop (MONAI's structure): every intermediate is kept for the backward pass."""
    x = jnp.asarray(x, jnp.float32)
    opened = topology.soft_dilate(topology.soft_erode(x))
    skel = jax.nn.relu(x - opened)
    for _ in range(iterations):
        x = topology.soft_erode(x)
        delta = jax.nn.relu(x - topology.soft_dilate(topology.soft_erode(x)))
        skel = skel + jax.nn.relu(delta - skel * delta)
    return skel


def temp_mib(iterations: int, unrolled: bool) -> float:
    z = jax.ShapeDtypeStruct(SHAPE, jnp.float32)
    y = jax.ShapeDtypeStruct(SHAPE[:-1], jnp.int32)

    def loss(z, y):
        return topology.cldice_loss(z, y, mode="binary", iterations=iterations).mean()

    saved = topology.soft_skeleton
    if unrolled:
        topology.soft_skeleton = unrolled_skeleton
    try:
        compiled = jax.jit(jax.value_and_grad(loss)).lower(z, y).compile()
    finally:
        topology.soft_skeleton = saved
    return compiled.memory_analysis().temp_size_in_bytes / 2**20


if __name__ == "__main__":
    iters = [int(a) for a in sys.argv[1:]] or [3, 10]
    one = 2 * 128**3 * 4 / 2**20
    print(f"backend {jax.default_backend()}, shape {SHAPE}, one f32 array = {one:.0f} MiB")
    print(f"{'iterations':>10} {'scan+checkpoint MiB':>20} {'unrolled MiB':>14}")
    for k in iters:
        print(f"{k:>10} {temp_mib(k, False):>20.0f} {temp_mib(k, True):>14.0f}")
