# ---
# jupyter:
#   accelerator: GPU
#   colab:
#     gpuType: T4
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: accelerator,colab
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jaxseg-losses/jaxseg_losses/blob/main/notebooks/04_accelerators.ipynb)
#
# # Running on a GPU or TPU
#
# In Colab choose **Runtime > Change runtime type** and pick a GPU (e.g. T4) or a TPU. This
# notebook
#
# 1. checks which devices JAX sees;
# 2. shards a batch over all available devices and checks the losses give the same values as on
#    one device (including batch-global Dice statistics across devices with `shard_map`);
# 3. times the exact EDT and a combined loss (value and gradient) on the accelerator and on the
#    CPU, and the EDT against SciPy on the host.
#
# Colab notes:
#
# * Colab runtimes ship a JAX build for their accelerator. Do **not** `pip install jax[cuda]` or
#   `jax[tpu]` there, and do not call `jax.tools.colab_tpu.setup_tpu()` (that was for the old
#   TPU-node runtimes). The install cell below only adds this library.
# * A Colab TPU runtime is a single v5e chip: one device. To see a real multi-device mesh use a
#   multi-chip TPU (e.g. a Kaggle v5e-8) or, as this notebook does on a CPU-only runtime,
#   virtual CPU devices (`jax_num_cpu_devices`).
#
# Set `JAXSEG_NOTEBOOK_TEST=1` to run on tiny arrays (that is what CI does).

# %%
# On Colab: install the library (Colab already ships JAX; the library needs jax>=0.7.1).
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    # %pip install -q "jaxseg_losses @ git+https://github.com/jaxseg-losses/jaxseg_losses"
    print("installed jaxseg_losses")

# %%
import os
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
import scipy.ndimage as ndi
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import jaxseg_losses as jsl

# Four virtual CPU devices, so that the sharding below has something to shard over on a CPU-only
# machine. This must run before JAX first touches a device; it changes nothing on a GPU or TPU.
try:
    jax.config.update("jax_num_cpu_devices", 4)
except RuntimeError:  # the backends were already initialised (e.g. the cell was run twice)
    pass

TEST_MODE = os.environ.get("JAXSEG_NOTEBOOK_TEST") == "1"
REPEATS = 2 if TEST_MODE else 10

# %% [markdown]
# ## 1. Devices

# %%
print("jax", jax.__version__)
print("default backend:", jax.default_backend())
print("devices:", jax.devices())
accelerator = jax.devices()[0]
cpu = jax.devices("cpu")[0]
ON_ACCELERATOR = accelerator.platform != "cpu"
if not ON_ACCELERATOR:
    print("No GPU/TPU: everything below runs on the CPU (fine for CI; slow for real sizes).")

# %% [markdown]
# ## 2. Sharding the batch over the devices
#
# The losses are per example, so sharding the batch axis needs nothing from the user: put the
# arrays on a mesh with `jax.device_put` and call the jitted loss. The values match the
# single-device ones.

# %%
n_devices = jax.device_count()
per_device = 2
BATCH = per_device * n_devices
SIZE = 16 if TEST_MODE else 128
NUM_CLASSES = 3

rng = np.random.default_rng(0)
labels = rng.integers(0, NUM_CLASSES, (BATCH, SIZE // 4, SIZE // 4))
labels = np.repeat(np.repeat(labels, 4, axis=1), 4, axis=2).astype(np.int32)  # blocky regions
logits = (3.0 * np.eye(NUM_CLASSES, dtype=np.float32)[labels]
          + rng.normal(0.0, 1.5, labels.shape + (NUM_CLASSES,)).astype(np.float32))

mesh = jax.make_mesh((n_devices,), ("batch",), axis_types=(jax.sharding.AxisType.Auto,))
batch_sharding = NamedSharding(mesh, P("batch"))
sharded_logits = jax.device_put(logits, batch_sharding)
sharded_labels = jax.device_put(labels, batch_sharding)
print("logits", sharded_logits.shape, "sharded as", sharded_logits.sharding.spec,
      "over", n_devices, "device(s)")

objective = jsl.named_sum(
    ("ce", jsl.cross_entropy),
    ("dice", jsl.dice_loss),
    ("boundary", jsl.boundary_loss, 0.5),
)


@jax.jit
def per_example_loss(logits, labels):
    total, _ = objective(logits, labels)
    return total


sharded = per_example_loss(sharded_logits, sharded_labels)
single = per_example_loss(jax.device_put(logits, accelerator), jax.device_put(labels, accelerator))
print("output sharding:", sharded.sharding.spec)
sharded, single = np.asarray(sharded), np.asarray(single)  # gather both to the host
print("max |sharded - single device| =", float(np.abs(sharded - single).max()))
assert np.allclose(sharded, single, rtol=1e-5, atol=1e-6)

# %% [markdown]
# ### Batch-global statistics across devices
#
# With `per_image=False` the region losses sum their statistics over the whole batch before the
# ratio (the "batch Dice"). Inside `jax.shard_map` each device sees only its part of the batch;
# `axis_name="batch"` makes the loss `psum` its statistics over the devices, so the result is
# the global one.

# %%
def local_dice(logits, labels):
    return jsl.dice_loss(logits, labels, per_image=False, axis_name="batch")


global_dice = jax.jit(jax.shard_map(local_dice, mesh=mesh, in_specs=(P("batch"), P("batch")),
                                    out_specs=P("batch")))
across_devices = global_dice(sharded_logits, sharded_labels)
reference = jsl.dice_loss(logits, labels, per_image=False)
print("batch Dice over", n_devices, "device(s):", float(across_devices[0]),
      "| on one device:", float(reference[0]))
assert np.allclose(np.asarray(across_devices), np.asarray(reference), rtol=1e-5)

# %% [markdown]
# ## 3. Timing: accelerator vs CPU vs SciPy
#
# `distance_transform_edt` is one jitted function with two formulations inside, and XLA keeps
# the one for the backend it compiles for (`jax.lax.platform_dependent`):
#
# * **CPU**: scans along the first axis, then a blocked brute force (axes up to 128) or the
#   linear-time Felzenszwalb-Huttenlocher envelope. Loops of about n steps per axis, which are
#   cheap on a CPU; O(N) work per long axis and O(N) extra memory.
# * **GPU and TPU**: cumulative max/min along the first axis, then one fused min-plus reduction
#   per other axis (a banded search with an exact fallback on axes longer than 1024). A few
#   kernels per axis and no loops; N x (sum of the other axes' lengths) work, O(N) memory. The
#   signed map and the Hausdorff field (distances on both sides of the boundary) cost one EDT.
#
# On an H100 the GPU program for a (16, 512, 512) batch is one CUDA graph with no host
# synchronisation, estimated at 0.5-1.3 ms from its compiled form (BENCHMARKS.md in the
# repository); SciPy needs about 130 ms for the same batch on one CPU core. The work grows with
# the side length, so the advantage shrinks for very large images (about 3-8 ms estimated at
# 4096 x 4096, still well ahead of SciPy).
#
# The same jitted functions are run below with their inputs committed to the accelerator and to
# the CPU (computations follow their inputs), and SciPy runs on the host for the EDT rows. Each
# timing excludes the compilation and waits for the result (`block_until_ready`). On a CPU-only
# runtime the "accelerator" rows are absent.

# %%
def best_time(fn, *args, repeats=REPEATS):
    jax.block_until_ready(fn(*args))  # compile and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return min(times)


if TEST_MODE:
    edt_shapes = {"2D": (4, 32, 32), "3D": (1, 8, 16, 16)}
    loss_shape = (4, 32, 32)
else:
    edt_shapes = {"2D": (16, 256, 256), "3D": (2, 64, 128, 128)}
    loss_shape = (16, 256, 256)

edt = jax.jit(jsl.distance_transform_edt)
combined = jsl.named_sum(
    ("ce", jsl.cross_entropy, optax.linear_schedule(1.0, 0.1, 1000)),
    ("dice", jsl.dice_loss),
    ("boundary", jsl.boundary_loss, optax.linear_schedule(0.0, 1.0, 1000)),
)


@jax.jit
def loss_and_grad(logits, labels, step):
    return jax.value_and_grad(lambda z: combined(z, labels, step=step)[0].mean())(logits)


def scipy_edt(masks):
    return [ndi.distance_transform_edt(m) for m in masks]


rows = []
edt_masks = {name: rng.random(shape) < 0.97 for name, shape in edt_shapes.items()}  # sparse bg
for name, masks in edt_masks.items():
    rows.append((f"EDT {name} {masks.shape}", "SciPy (host)", best_time(scipy_edt, masks)))
devices = {"accelerator": accelerator, "cpu": cpu} if ON_ACCELERATOR else {"cpu": cpu}
for where, device in devices.items():
    for name, masks in edt_masks.items():
        rows.append((f"EDT {name} {masks.shape}", where,
                     best_time(edt, jax.device_put(masks, device))))
    y = jax.device_put(rng.integers(0, NUM_CLASSES, loss_shape).astype(np.int32), device)
    z = jax.device_put(rng.normal(size=loss_shape + (NUM_CLASSES,)).astype(np.float32), device)
    rows.append((f"CE+Dice+boundary, value and grad {loss_shape + (NUM_CLASSES,)}", where,
                 best_time(loss_and_grad, z, y, jnp.int32(10))))

print(f"{'what':<58} {'device':<12} {'ms':>9}")
for what, where, seconds in rows:
    print(f"{what:<58} {where:<12} {1e3 * seconds:>9.2f}")

# The same rows as bars, on a log scale: where each computation is cheapest.
fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1))
colours = {"SciPy (host)": "tab:grey", "cpu": "tab:blue", "accelerator": "tab:orange"}
milliseconds = [1e3 * s for _, _, s in rows]
ax.barh([f"{what} [{where}]" for what, where, _ in rows], milliseconds,
        color=[colours[where] for _, where, _ in rows])
for i, ms in enumerate(milliseconds):
    ax.text(ms, i, f" {ms:.3g} ms", va="center", fontsize=8)
ax.set_xscale("log")
ax.set_xlim(min(milliseconds) / 10, max(milliseconds) * 5)  # bars start well left of the data
ax.set_xlabel("ms (best of the repeats, log scale)")
ax.invert_yaxis()
plt.show()

# %% [markdown]
# The EDT and the losses that use it are ordinary XLA programs with static shapes: they run where
# the data is, and inside a sharded train step each device computes the distance maps of its own
# examples.
