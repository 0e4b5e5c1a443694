"""XLA:TPU compile time of one elementwise chain vs the element count, whatever the shape.

Run (in the accelerator venv, see the team's accelerator tools)::

    python benchmarks/tpu_compile_size.py 4x128x128x4 150x128x128x4 4x128x128x150 9830400

Compiles ``mean(chain(x))`` (a sigmoid-focal-like chain of about 15 elementwise ops), value+grad
and forward alone, for a described TPU v5e (no device) at each shape given, once each after a
warm-up, and prints the seconds. Used to tell a class-count effect from a size effect: a
(150, 128, 128, 4) and a (4, 128, 128, 150) tensor (the same element count) compile alike.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.update(TPU_SKIP_MDS_QUERY="1", TPU_WORKER_HOSTNAMES="localhost")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax.experimental import topologies  # noqa: E402


def chain(x):
    p = jax.nn.sigmoid(x)
    log_p = -(jnp.log1p(jnp.exp(-jnp.abs(x))) + jnp.maximum(-x, 0))
    return log_p * (1 - p) ** 2 * jnp.exp(x * 0.3) / (1 + p * p)


def compile_seconds(shape, device, grad: bool) -> float:
    fn = (lambda x: jnp.mean(chain(x)))
    program = jax.jit(jax.value_and_grad(fn) if grad else fn)
    x = jax.ShapeDtypeStruct(shape, jnp.float32,
                             sharding=jax.sharding.SingleDeviceSharding(device))
    lowered = program.lower(x)
    start = time.perf_counter()
    lowered.compile()
    return time.perf_counter() - start


def main() -> None:
    device = topologies.get_topology_desc(topology_name="v5e:2x2", platform="tpu").devices[0]
    compile_seconds((1, 8, 8, 2), device, True)  # warm-up
    print("| shape | elements | value+grad s | forward s |\n|---|---|---|---|")
    for text in sys.argv[1:] or ["4x128x128x4", "4x128x128x150", "150x128x128x4"]:
        shape = tuple(int(n) for n in text.split("x"))
        elements = 1
        for n in shape:
            elements *= n
        print(f"| {shape} | {elements} | {compile_seconds(shape, device, True):.2f} | "
              f"{compile_seconds(shape, device, False):.2f} |", flush=True)


if __name__ == "__main__":
    main()
