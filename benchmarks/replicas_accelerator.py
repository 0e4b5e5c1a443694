"""What the comparison's train step compiles to on an H100 and a TPU v5e, one seed or K vmapped.

Run (in the venv with jax's CUDA plugin and libtpu, see ``accelerator_proxy.py``)::

    python benchmarks/replicas_accelerator.py --tools DIR [--seeds 1,3,5] [--loss dice]

The train step of ``jaxseg-losses compare`` (default U-Net, ``blobs`` at 64x64, batch 8) is
compiled for a *described* device, once for one replica and once per K with ``jax.vmap`` over
the replica axis (``--replicas vmap``), and read back: H100 kernel launches per call and
temporary memory, the TPU v5e's ``estimated_cycles`` (ms at 1.5 GHz). The question it answers:
does one vmapped program for K seeds cost less than K calls of the one-seed step on an
accelerator (on XLA:CPU it costs more: the vmapped convolution becomes a grouped one)?
Estimates from the compiler, not measurements on a device.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("JAX_SKIP_CUDA_CONSTRAINTS_CHECK", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from accelerator_proxy import Targets  # noqa: E402
from flax import nnx  # noqa: E402

from jaxseg_losses.experiment.build import BuildContext, build_loss  # noqa: E402
from jaxseg_losses.experiment.data import make_dataset  # noqa: E402
from jaxseg_losses.experiment.model import UNet  # noqa: E402
from jaxseg_losses.experiment.registry import parse  # noqa: E402
from jaxseg_losses.experiment.train import TrainConfig, make_train_step  # noqa: E402


def _abstract_state(dataset, config: TrainConfig, seeds: int):
    """Graph definition and the abstract (shape-only) state of ``seeds`` stacked replicas."""

    def create():
        model = UNet(dataset.channels, dataset.num_classes, ndim=dataset.ndim,
                     features=config.features, depth=config.depth, rngs=nnx.Rngs(0))
        return model, nnx.Optimizer(model, optax.adam(config.learning_rate), wrt=nnx.Param)

    graphdef, state = nnx.split(nnx.eval_shape(create))
    stacked = jax.tree.map(lambda a: jax.ShapeDtypeStruct((seeds, *a.shape), a.dtype), state)
    return graphdef, state, stacked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tools", required=True, help="folder with h100.txtpb, thunks.py, "
                                                       "tpu_cost.py")
    parser.add_argument("--seeds", default="1,3,5")
    parser.add_argument("--loss", default="dice")
    args = parser.parse_args()
    targets = Targets(args.tools)
    config = TrainConfig(steps=150)
    dataset = make_dataset("blobs", n_train=48, n_test=16)
    ctx = BuildContext(dataset.num_classes, config.steps, dataset.spacing, dataset.train_labels)
    loss_fn = build_loss(parse(args.loss), ctx)
    images = jax.ShapeDtypeStruct(dataset.train_images.shape, jnp.float32)
    labels = jax.ShapeDtypeStruct(dataset.train_labels.shape, jnp.int32)
    step_i = jax.ShapeDtypeStruct((), jnp.int32)
    print(f"train step of `{args.loss}`, blobs 64x64, batch {config.batch_size}, U-Net "
          f"{config.features} features, depth {config.depth}")
    print("| seeds | program | H100 launches | H100 temp MiB | v5e estimate ms | v5e ms per seed |")
    print("|---:|:---|---:|---:|---:|---:|")
    for k in (int(s) for s in args.seeds.split(",")):
        graphdef, state, stacked = _abstract_state(dataset, config, k)
        step = make_train_step(loss_fn, graphdef, dataset.ndim)
        if k == 1:
            fn, name = step, "one seed"
            arrays = (state, images, labels,
                      jax.ShapeDtypeStruct((config.steps, config.batch_size), jnp.int32),
                      jax.ShapeDtypeStruct((config.steps, dataset.ndim), jnp.bool_), step_i)
        else:
            fn = jax.vmap(step, in_axes=(0, None, None, 0, 0, None))
            name = "vmap"
            arrays = (stacked, images, labels,
                      jax.ShapeDtypeStruct((k, config.steps, config.batch_size), jnp.int32),
                      jax.ShapeDtypeStruct((k, config.steps, dataset.ndim), jnp.bool_), step_i)

        def wrapped(*a, fn=fn):
            return fn(*a)

        gpu = targets.h100(f"replicas{k}", wrapped, arrays)
        tpu = targets.v5e(f"replicas{k}", wrapped, arrays)
        ms = np.mean(tpu["ms"])
        print(f"| {k} | {name} | {gpu['launches']} | {gpu['temp_mib']:.1f} | {ms:.2f} | "
              f"{ms / k:.2f} |")


if __name__ == "__main__":
    main()
