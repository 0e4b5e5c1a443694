# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
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
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jaxseg-losses/jaxseg_losses/blob/main/notebooks/03_flax_training.ipynb)
#
# # Training a Flax NNX model with a combined, scheduled objective
#
# A small convolutional network learns to segment synthetic images. The objective mixes three
# losses with `jsl.named_sum`, in the style of `optax.named_chain`:
#
# $$L(t) = w_\text{ce}(t)\,L_\text{CE} + w_\text{dice}\,L_\text{Dice}
#          + w_\text{boundary}(t)\,L_\text{boundary}$$
#
# where the weights $w(t)$ are **optax schedules of the optimiser step** $t$: the cross-entropy
# fades, the boundary loss (Kervadec et al.) switches on after a warm-up and rises. The step is
# an explicit, traced argument (`step=optimizer.step[...]`), so one compilation serves the
# whole run, and the combined loss returns every term's value and weight for logging.
#
# Set `JAXSEG_NOTEBOOK_TEST=1` to run a few steps on tiny arrays (that is what CI does).

# %%
# On Colab: install the library (Colab already ships JAX and Flax; the library needs
# jax>=0.7.1 and flax>=0.11).
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
from flax import nnx

import jaxseg_losses as jsl

TEST_MODE = os.environ.get("JAXSEG_NOTEBOOK_TEST") == "1"
SIZE = 16 if TEST_MODE else 64
BATCH = 4 if TEST_MODE else 16
STEPS = 4 if TEST_MODE else 400
WIDTH = 4 if TEST_MODE else 16  # channels of the first convolution
NUM_CLASSES = 3
if TEST_MODE:
    # CI speed only: the default threefry PRNG takes seconds to compile the initialisers on a
    # small CPU; the "rbg" generator compiles fast. Leave the default for real runs.
    jax.config.update("jax_default_prng_impl", "rbg")
print(f"jax {jax.__version__} on {jax.default_backend()}; test mode: {TEST_MODE}")

# %% [markdown]
# ## Data
#
# Grey-level images with a bright disc (class 1) and a dimmer square (class 2) on a noisy
# background (class 0). Every training step draws a fresh batch.

# %%
def make_batch(rng: np.random.Generator, batch: int = BATCH, size: int = SIZE):
    yy, xx = np.mgrid[:size, :size]
    labels = np.zeros((batch, size, size), np.int32)
    for b in range(batch):
        cy, cx = rng.integers(size // 4, 3 * size // 4, size=2)
        radius = rng.integers(size // 8, size // 4 + 1)
        labels[b][(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = 1
        top, left = rng.integers(0, 3 * size // 4, size=2)
        side = rng.integers(size // 8, size // 4 + 1)
        labels[b, top : top + side, left : left + side] = 2
    intensity = np.array([0.0, 1.0, 0.5], np.float32)[labels]
    images = intensity + rng.normal(0.0, 0.35, labels.shape).astype(np.float32)
    return jnp.asarray(images[..., None]), jnp.asarray(labels)  # (B, H, W, 1), (B, H, W)


rng = np.random.default_rng(0)
images, labels = make_batch(rng)
fig, axes = plt.subplots(2, 4, figsize=(8, 4))
for i in range(4):
    axes[0, i].imshow(images[i, ..., 0], cmap="gray")
    axes[1, i].imshow(labels[i], cmap="viridis", vmin=0, vmax=NUM_CLASSES - 1)
for ax in axes.flat:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Model
#
# A two-level encoder-decoder (a very small U-Net) in Flax NNX, channels last like the losses.

# %%
class TinyUNet(nnx.Module):
    def __init__(self, width: int, num_classes: int, *, rngs: nnx.Rngs):
        conv = lambda cin, cout: nnx.Conv(cin, cout, kernel_size=(3, 3), rngs=rngs)
        self.enc1, self.enc2 = conv(1, width), conv(width, width)
        self.mid1, self.mid2 = conv(width, 2 * width), conv(2 * width, 2 * width)
        self.dec1, self.dec2 = conv(3 * width, width), conv(width, width)
        self.head = nnx.Conv(width, num_classes, kernel_size=(1, 1), rngs=rngs)

    def __call__(self, x):
        skip = nnx.relu(self.enc2(nnx.relu(self.enc1(x))))
        h = nnx.avg_pool(skip, window_shape=(2, 2), strides=(2, 2))
        h = nnx.relu(self.mid2(nnx.relu(self.mid1(h))))
        h = jax.image.resize(h, skip.shape[:-1] + h.shape[-1:], method="nearest")
        h = jnp.concatenate([h, skip], axis=-1)
        h = nnx.relu(self.dec2(nnx.relu(self.dec1(h))))
        return self.head(h)  # (B, H, W, C) logits


# Built under nnx.jit: the parameter initialisers then compile once instead of op by op.
model = nnx.jit(lambda: TinyUNet(WIDTH, NUM_CLASSES, rngs=nnx.Rngs(0)))()
print("parameters:", sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param))))

# %% [markdown]
# ## The objective: three losses, two of them scheduled
#
# * cross-entropy, weight decaying linearly from 1 to 0.1 (`optax.linear_schedule`);
# * Dice, weight 1;
# * boundary loss on the foreground classes (`include_background=False`, bound with
#   `jsl.scheduled`), weight 0 for the first 20 % of the steps, then rising to 0.5
#   (`optax.join_schedules`).
#
# `jsl.named_sum` returns a loss `objective(logits, labels, *, step) -> (total, aux)` with
# `total` of shape `(B,)` and `aux` holding every term's unweighted value and its weight.

# %%
warmup = max(1, STEPS // 5)
boundary_weight = optax.join_schedules(
    [optax.constant_schedule(0.0), optax.linear_schedule(0.0, 0.5, STEPS - warmup)],
    boundaries=[warmup],
)
objective = jsl.named_sum(
    ("ce", jsl.cross_entropy, optax.linear_schedule(1.0, 0.1, STEPS)),
    ("dice", jsl.dice_loss, 1.0),
    ("boundary", jsl.scheduled(jsl.boundary_loss, boundary_weight, include_background=False)),
)
print(objective)
for step in (0, warmup, STEPS - 1):
    weights = {name: float(jsl.weight_value(term.weight, step))
               for name, term in zip(objective.names, objective.terms, strict=True)}
    print(f"weights at step {step}:", weights)

# %% [markdown]
# ## The train step
#
# The canonical NNX step: `nnx.value_and_grad` with `has_aux=True` carries the logged terms out;
# the objective gets the optimiser's step count. The signed distance maps of the boundary loss
# are computed from the labels inside this compiled function.

# %%
optimizer = nnx.Optimizer(model, optax.adam(3e-3), wrt=nnx.Param)


@nnx.jit
def train_step(model, optimizer, images, labels):
    def loss_fn(model):
        logits = model(images)
        total, aux = objective(logits, labels, step=optimizer.step[...])
        return total.mean(), aux

    (loss, aux), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
    optimizer.update(model, grads)
    return loss, {name: jnp.mean(value) for name, value in aux.items()}


history = []
start = time.perf_counter()
for step in range(STEPS):
    images, labels = make_batch(rng)
    loss, logged = train_step(model, optimizer, images, labels)
    history.append({"loss": float(loss), **{k: float(v) for k, v in logged.items()}})
    if step % max(1, STEPS // 8) == 0 or step == STEPS - 1:
        print(f"step {step:4d}  loss {float(loss):7.4f}  "
              + "  ".join(f"{k} {float(v):.3f}" for k, v in logged.items() if "/" not in k))
print(f"{STEPS} steps in {time.perf_counter() - start:.1f} s (first step includes compilation)")
assert all(np.isfinite(h["loss"]) for h in history)

# %% [markdown]
# ## Training curves
#
# Left: the total and the unweighted terms (the boundary loss is negative when the prediction
# is good: its minimum is reached by the ground truth). Right: the weights, as the schedules
# dictated them at each step.

# %%
steps = np.arange(len(history))
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
for key in ("loss", "ce", "dice", "boundary"):
    left.plot(steps, [h[key] for h in history], label=key)
left.set_xlabel("step")
left.legend()
left.set_title("loss terms (unweighted)")
for key in ("ce/weight", "dice/weight", "boundary/weight"):
    right.plot(steps, [h[key] for h in history], label=key)
right.set_xlabel("step")
right.legend()
right.set_title("weights (optax schedules)")
plt.show()

# %% [markdown]
# ## Evaluation
#
# Dice score and 95th-percentile Hausdorff distance per class on a held-out batch, computed on
# the device with the library's metrics.
#
# HD95 is `inf` for a class that is missing from the prediction or from the truth of an example
# (the distance to a surface that does not exist; MONAI gives inf or NaN there). The mean below
# skips those examples and prints `inf` only for a class the model never predicted at all,
# typically a class still at Dice 0 after a short run.

# %%
@nnx.jit
def evaluate(model, images, labels):
    prediction = jnp.argmax(model(images), axis=-1)
    dice = jsl.dice_score(prediction, labels, num_classes=NUM_CLASSES)
    hd95 = jsl.hausdorff_distance(prediction, labels, num_classes=NUM_CLASSES, percentile=95)
    return prediction, dice, hd95


test_images, test_labels = make_batch(np.random.default_rng(1))
prediction, dice, hd95 = evaluate(model, test_images, test_labels)
hd95 = np.asarray(hd95)
finite = np.isfinite(hd95)  # inf: the class is missing from the prediction or the truth
mean_hd95 = np.where(finite, hd95, 0.0).sum(0) / np.maximum(finite.sum(0), 1)
print("mean Dice per class :", np.round(np.asarray(dice.mean(0)), 3))
print("mean HD95 per class :", np.round(np.where(finite.any(0), mean_hd95, np.inf), 2),
      "(over the examples where it is finite)")

fig, axes = plt.subplots(3, 4, figsize=(8, 6))
for i in range(4):
    axes[0, i].imshow(test_images[i, ..., 0], cmap="gray")
    axes[1, i].imshow(test_labels[i], cmap="viridis", vmin=0, vmax=NUM_CLASSES - 1)
    axes[2, i].imshow(prediction[i], cmap="viridis", vmin=0, vmax=NUM_CLASSES - 1)
for ax, title in zip(axes[:, 0], ("image", "truth", "prediction"), strict=True):
    ax.set_ylabel(title)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()
