"""Peak temporary memory of clDice value+grad, from XLA's compile-time memory analysis.

Run: ``python benchmarks/cldice_memory.py [iterations ...]``. Compiles (does not run)
``jax.value_and_grad`` of :func:`jaxseg_losses.topology.cldice_loss` on a (2, 128, 128, 128, 1)
binary volume and prints ``temp_size_in_bytes`` for three implementations of the soft skeleton:

* ``library``: the library's (shifted-slice pools, checkpointed ``lax.scan``);
* ``reduce_window``: the same scan with ``lax.reduce_window`` min/max pools;
* ``unrolled``: the textbook Python loop (MONAI's structure), no checkpointing.
"""

from __future__ import annotations

import contextlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxseg_losses import topology

SHAPE = (2, 128, 128, 128, 1)


def _rw_pool(x, minimum, window):
    dims = (1, *window, 1)
    pads = ((0, 0), *(((w - 1) // 2, (w - 1) // 2) for w in window), (0, 0))
    init, op = (np.float32(np.inf), lax.min) if minimum else (np.float32(-np.inf), lax.max)
    return lax.reduce_window(x, init, op, dims, (1,) * x.ndim, pads)


def rw_erode(x):
    n = x.ndim - 2
    pools = [_rw_pool(x, True, tuple(3 if a == i else 1 for a in range(n))) for i in range(n)]
    out = pools[0]
    for p in pools[1:]:
        out = jnp.minimum(out, p)
    return out


def rw_dilate(x):
    return _rw_pool(x, False, (3,) * (x.ndim - 2))


def unrolled_skeleton(x, iterations=3):
    x = jnp.asarray(x, jnp.float32)
    skel = jax.nn.relu(x - topology.soft_dilate(topology.soft_erode(x)))
    for _ in range(iterations):
        x = topology.soft_erode(x)
        delta = jax.nn.relu(x - topology.soft_dilate(topology.soft_erode(x)))
        skel = skel + jax.nn.relu(delta - skel * delta)
    return skel


@contextlib.contextmanager
def patched(**replacements):
    saved = {k: getattr(topology, k) for k in replacements}
    for k, v in replacements.items():
        setattr(topology, k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(topology, k, v)


def temp_mib(iterations: int, variant: str) -> float:
    z = jax.ShapeDtypeStruct(SHAPE, jnp.float32)
    y = jax.ShapeDtypeStruct(SHAPE[:-1], jnp.int32)

    def loss(z, y):
        return topology.cldice_loss(z, y, mode="binary", iterations=iterations).mean()

    replacements = {
        "library": {},
        "reduce_window": {"soft_erode": rw_erode, "soft_dilate": rw_dilate},
        "unrolled": {"soft_skeleton": unrolled_skeleton},
    }[variant]
    with patched(**replacements):
        compiled = jax.jit(jax.value_and_grad(loss)).lower(z, y).compile()
    return compiled.memory_analysis().temp_size_in_bytes / 2**20


if __name__ == "__main__":
    iters = [int(a) for a in sys.argv[1:]] or [3, 10]
    one = np.prod(SHAPE) * 4 / 2**20
    print(f"backend {jax.default_backend()}, shape {SHAPE}, one f32 array = {one:.0f} MiB")
    variants = ("library", "reduce_window", "unrolled")
    print(f"{'iterations':>10}" + "".join(f"{v + ' MiB':>20}" for v in variants))
    for k in iters:
        print(f"{k:>10}" + "".join(f"{temp_mib(k, v):>20.0f}" for v in variants))
