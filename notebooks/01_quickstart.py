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
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jaxseg-losses/jaxseg_losses/blob/main/notebooks/01_quickstart.ipynb)
#
# # jaxseg_losses quickstart
#
# Every loss family of the library on **one batch**: values, gradients, `jit`, `vmap`, and a
# summary table. All losses share one calling convention:
#
# ```python
# loss(predictions, labels, *, mode=..., from_logits=True, mask=None, ...) -> (B,)
# ```
#
# * `predictions`: `(B, *spatial, C)` logits, channels last;
# * `labels`: integer classes `(B, *spatial)` or one-hot/soft targets `(B, *spatial, C)`;
# * the result has one value per example, shape `(B,)`: take `.mean()` in the train step.
#
# Set `JAXSEG_NOTEBOOK_TEST=1` to run on tiny arrays (that is what CI does).
#
# On Colab any runtime type works (CPU is enough here). The install cell only adds this library;
# if pip ever upgrades JAX itself, restart the session (**Runtime > Restart session**) before
# running the next cell, so the new JAX is the one imported.

# %%
# On Colab: install the library (Colab already ships JAX; the library needs jax>=0.7.1).
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    # %pip install -q "jaxseg_losses @ git+https://github.com/jaxseg-losses/jaxseg_losses"
    print("installed jaxseg_losses")

# %%
import functools
import os
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

import jaxseg_losses as jsl

TEST_MODE = os.environ.get("JAXSEG_NOTEBOOK_TEST") == "1"
SIZE = 16 if TEST_MODE else 64  # image side
BATCH = 2 if TEST_MODE else 8
NUM_CLASSES = 3
print(f"jax {jax.__version__} on {jax.default_backend()} ({jax.device_count()} device(s)); "
      f"jaxseg_losses {jsl.__version__}; test mode: {TEST_MODE}")

# %% [markdown]
# ## One batch
#
# Synthetic label maps (a disc of class 1 and a square of class 2 on background 0) and noisy
# logits that mostly agree with them.

# %%
rng = np.random.default_rng(0)


def make_labels(batch: int, size: int) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    labels = np.zeros((batch, size, size), np.int32)
    for b in range(batch):
        cy, cx = rng.integers(size // 4, 3 * size // 4, size=2)
        radius = rng.integers(size // 8, size // 4)
        labels[b][(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = 1
        top, left = rng.integers(0, size // 2, size=2)
        labels[b, top : top + size // 4, left : left + size // 4] = 2
    return labels


labels = jnp.asarray(make_labels(BATCH, SIZE))  # (B, H, W) int
one_hot = jax.nn.one_hot(labels, NUM_CLASSES)  # (B, H, W, C)
logits = 3.0 * one_hot + jnp.asarray(rng.normal(0.0, 1.5, one_hot.shape), jnp.float32)

# The binary version of the task (foreground vs background) for the sigmoid losses.
binary_labels = (labels > 0).astype(jnp.int32)  # (B, H, W)
binary_logits = logits[..., 1:].max(-1, keepdims=True) - logits[..., :1]  # (B, H, W, 1)
print("logits", logits.shape, "labels", labels.shape, "binary logits", binary_logits.shape)

# %% [markdown]
# The adjacency prior of the non-adjacency loss is learnt offline from labelled data: here the
# classes 1 and 2 are declared never to touch.

# %%
prior = jnp.array([[1, 1, 1], [1, 1, 0], [1, 0, 1]])  # 0 = "these two classes never touch"

# %% [markdown]
# ## Every loss family
#
# Each entry: the family, the loss with its options bound, and whether it takes the multiclass
# (softmax, 3 channels) or the binary (sigmoid, 1 channel) batch.

# %%
MULTICLASS, BINARY = "multiclass", "binary"
LOSSES = [
    # family, name, function, task
    ("pixel-wise", "cross_entropy", jsl.cross_entropy, MULTICLASS),
    ("pixel-wise", "binary_cross_entropy", jsl.binary_cross_entropy, BINARY),
    ("pixel-wise", "weighted_cross_entropy", jsl.weighted_cross_entropy, MULTICLASS),
    ("pixel-wise", "focal_loss", jsl.focal_loss, MULTICLASS),
    ("pixel-wise", "conservative_loss", jsl.conservative_loss, MULTICLASS),
    ("overlap", "dice_loss", jsl.dice_loss, MULTICLASS),
    ("overlap", "jaccard_loss", jsl.jaccard_loss, MULTICLASS),
    ("overlap", "tversky_loss", functools.partial(jsl.tversky_loss, alpha=0.3, beta=0.7),
     MULTICLASS),
    ("overlap", "focal_tversky_loss", jsl.focal_tversky_loss, MULTICLASS),
    ("overlap", "sensitivity_specificity_loss", jsl.sensitivity_specificity_loss, MULTICLASS),
    ("overlap", "generalized_dice_loss", jsl.generalized_dice_loss, MULTICLASS),
    ("overlap", "exp_log_loss", jsl.exp_log_loss, MULTICLASS),
    ("Lovász", "lovasz_softmax_loss", jsl.lovasz_softmax_loss, MULTICLASS),
    ("Lovász", "lovasz_hinge_loss", jsl.lovasz_hinge_loss, BINARY),
    ("distance", "boundary_loss", jsl.boundary_loss, MULTICLASS),
    ("distance", "hausdorff_dt_loss", jsl.hausdorff_dt_loss, MULTICLASS),
    ("distance", "log_hausdorff_dt_loss", jsl.log_hausdorff_dt_loss, MULTICLASS),
    ("distance", "distance_penalized_cross_entropy", jsl.distance_penalized_cross_entropy,
     MULTICLASS),
    ("distance", "active_contour_loss", jsl.active_contour_loss, BINARY),
    ("adjacency", "nonadjacency_loss", lambda z, y: jsl.nonadjacency_loss(z, prior), MULTICLASS),
    ("compound", "bce_dice_loss", jsl.bce_dice_loss, BINARY),
    ("compound", "dice_ce_loss", jsl.dice_ce_loss, MULTICLASS),
    ("compound", "dice_focal_loss", jsl.dice_focal_loss, MULTICLASS),
    ("compound", "combo_loss", jsl.combo_loss, BINARY),
]
BATCHES = {MULTICLASS: (logits, labels), BINARY: (binary_logits, binary_labels)}

# %% [markdown]
# ## Values, gradients, `jit` and `vmap`
#
# For each loss, one compiled function returns
#
# * the per-example values `(B,)`;
# * the gradient of the batch mean with respect to the logits (`jax.grad`);
# * the same values computed by `jax.vmap` over single examples (each call sees a batch of one),
#   which must agree with the batched call because the losses are per example by default.
#
# The eager (un-jitted) call is compared with the compiled one.


# %%
@functools.partial(jax.jit, static_argnums=0)
def evaluate(loss_fn, predictions, targets):
    values = loss_fn(predictions, targets)
    grads = jax.grad(lambda z: loss_fn(z, targets).mean())(predictions)
    per_example = jax.vmap(lambda z, y: loss_fn(z[None], y[None])[0])(predictions, targets)
    return values, grads, per_example


# In test mode (CI on a small CPU) only the first loss of every family is compiled.
selected = LOSSES
if TEST_MODE:
    selected = [entry for i, entry in enumerate(LOSSES) if entry[0] not in
                {family for family, *_ in LOSSES[:i]}]

rows = []
start = time.perf_counter()
for family, name, loss_fn, task in selected:
    predictions, targets = BATCHES[task]
    values, grads, per_example = evaluate(loss_fn, predictions, targets)
    eager = loss_fn(predictions, targets)
    assert values.shape == (BATCH,), (name, values.shape)
    assert bool(jnp.all(jnp.isfinite(grads))), name
    rows.append({
        "family": family,
        "loss": name,
        "mean value": float(values.mean()),
        "|grad|": float(jnp.linalg.norm(grads)),
        "jit vs eager": float(jnp.max(jnp.abs(values - eager))),
        "vmap vs batch": float(jnp.max(jnp.abs(values - per_example))),
    })
print(f"{len(rows)} losses evaluated in {time.perf_counter() - start:.1f} s")

# %% [markdown]
# ## The table

# %%
header = f"{'family':<11} {'loss':<34} {'mean':>9} {'|grad|':>9} {'jit-eager':>9} {'vmap':>9}"
print(header)
print("-" * len(header))
for r in rows:
    print(f"{r['family']:<11} {r['loss']:<34} {r['mean value']:>9.4f} {r['|grad|']:>9.2e} "
          f"{r['jit vs eager']:>9.1e} {r['vmap vs batch']:>9.1e}")

# %% [markdown]
# `jit` and eager agree to float32 rounding, and `vmap` over single examples gives the batched
# values. (`per_image=False` on the region losses switches to batch-global statistics: then the
# value of one example depends on the others, and only the batched call is meaningful.)

# %%
for r in rows:
    assert r["jit vs eager"] < 1e-4 * max(1.0, abs(r["mean value"])), r
    assert r["vmap vs batch"] < 1e-4 * max(1.0, abs(r["mean value"])), r

# %% [markdown]
# ## How the families respond as the prediction sharpens
#
# The same batch with the logits scaled from unsure (0) to very confident (8 x the one-hot
# truth, no noise). Pixel-wise losses fall towards 0 on every pixel; the region losses measure
# overlap, so they reach 0 only when the soft prediction covers the truth; focal loss goes flat
# early (it stops caring about pixels that are already right); the boundary loss (a signed
# distance, Kervadec et al.) becomes negative as the prediction fills the object.

# %%
scales = np.linspace(0.0, 8.0, 9 if TEST_MODE else 33)
sweep = {
    "cross-entropy": jsl.cross_entropy,
    "focal (gamma=2)": jsl.focal_loss,
    "Dice": jsl.dice_loss,
    "Lovász-softmax": jsl.lovasz_softmax_loss,
    "boundary": jsl.boundary_loss,
}
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
for name, loss in sweep.items():
    compiled = jax.jit(lambda z, loss=loss: loss(z, labels).mean())
    ax = right if name == "boundary" else left  # its scale is the objects' size in pixels
    ax.plot(scales, [float(compiled(s * (2.0 * one_hot - 1.0))) for s in scales], label=name)
for ax, title in ((left, "pixel-wise and region losses"), (right, "boundary loss")):
    ax.axhline(0.0, color="grey", lw=0.5)
    ax.set_xlabel("logit scale s (logits = s * (2 * one-hot - 1))")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
left.set_ylabel("mean loss over the batch")
plt.show()

# %% [markdown]
# ## Options shared by every loss
#
# * `mask` `(B, *spatial)` and `ignore_index` remove pixels from the value **and** the gradient;
# * `reduction="pixel"` (pixel-wise losses) returns the per-pixel map, `reduction="class"`
#   (region losses) the per-class values;
# * probabilities instead of logits: `from_logits=False`.

# %%
keep_left = jnp.zeros(labels.shape).at[:, :, : SIZE // 2].set(1.0)  # only the left half counts
g = jax.jit(jax.grad(lambda z: jsl.dice_loss(z, labels, mask=keep_left).mean()))(logits)
print("gradient on masked-out pixels:", float(jnp.abs(g[:, :, SIZE // 2 :]).max()))

pixel_map = jsl.cross_entropy(logits, labels, reduction="pixel")
per_class = jsl.dice_loss(logits, labels, reduction="class")
print("per-pixel CE map", pixel_map.shape, "| per-class Dice", per_class.shape)

probs = jax.nn.softmax(logits)
same = jsl.dice_loss(probs, labels, from_logits=False) - jsl.dice_loss(logits, labels)
print("logits vs probabilities:", float(jnp.abs(same).max()))

# %% [markdown]
# ## Mixing losses
#
# `named_sum` mixes losses like `optax.named_chain` mixes transformations; a weight can be an
# optax schedule of the training step, and every term's value is returned for logging.
# Notebook 03 trains a Flax model with it.

# %%
objective = jsl.named_sum(
    ("ce", jsl.cross_entropy),
    ("dice", jsl.dice_loss, 1.0),
    ("boundary", jsl.boundary_loss, optax.linear_schedule(0.0, 0.5, transition_steps=1000)),
)
total, aux = jax.jit(objective)(logits, labels, step=500)
print("total", total)
for key, value in aux.items():
    print(f"  {key:<16} {value}")

# %% [markdown]
# ## Metrics
#
# Hard-prediction metrics run on the device too: Dice, IoU, Hausdorff (and HD95) and average
# surface distance, `(B, C)` per example and class.

# %%
@jax.jit
def metrics(logits, labels):
    prediction = jnp.argmax(logits, axis=-1)
    return {
        "Dice": jsl.dice_score(prediction, labels, num_classes=NUM_CLASSES),
        "IoU": jsl.iou_score(prediction, labels, num_classes=NUM_CLASSES),
        "HD95": jsl.hausdorff_distance(prediction, labels, num_classes=NUM_CLASSES,
                                       percentile=95),
    }


for name, value in metrics(logits, labels).items():
    print(name, value, sep="\n")
