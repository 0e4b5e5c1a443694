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
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jaxseg-losses/jaxseg_losses/blob/main/notebooks/02_distance_transforms.ipynb)
#
# # Distance transforms and distance-based losses
#
# The boundary, Hausdorff-DT and distance-penalised losses need the Euclidean distance transform
# (EDT) of the labels. jaxseg_losses computes it **exactly, in JAX, on the device**, inside the
# compiled train step: no SciPy call in the data loader, no host callback. This notebook
#
# 1. compares `jsl.distance_transform_edt` with `scipy.ndimage.distance_transform_edt`;
# 2. shows signed distance maps (the boundary-loss convention);
# 3. uses anisotropic voxel spacing and a 3D volume;
# 4. draws where the boundary and Hausdorff losses put their weight, pixel by pixel.
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

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from scipy import ndimage

import jaxseg_losses as jsl

TEST_MODE = os.environ.get("JAXSEG_NOTEBOOK_TEST") == "1"
SIZE = 24 if TEST_MODE else 128  # 2D image side
DEPTH = 8 if TEST_MODE else 48  # 3D volume side
plt.rcParams["figure.dpi"] = 64  # the notebook is stored with its figures: keep them small
print(f"jax {jax.__version__} on {jax.default_backend()}; test mode: {TEST_MODE}")


def disc(size, center, radius, scale=(1.0, 1.0)):
    yy, xx = np.mgrid[:size, :size]
    return ((yy - center[0]) * scale[0]) ** 2 + ((xx - center[1]) * scale[1]) ** 2 <= radius**2


# %% [markdown]
# ## 1. The EDT against SciPy
#
# Every foreground (non-zero) pixel gets the distance to the nearest background pixel of the
# same image; background pixels get 0. The input is a batch `(B, *spatial)`.

# %%
masks = np.stack([
    disc(SIZE, (SIZE // 2, SIZE // 2), SIZE // 3) & ~disc(SIZE, (SIZE // 2, SIZE // 2), SIZE // 8),
    disc(SIZE, (SIZE // 3, SIZE // 3), SIZE // 4) | disc(SIZE, (2 * SIZE // 3, 2 * SIZE // 3),
                                                         SIZE // 5),
])  # (2, H, W) bool: a ring and two overlapping discs

ours = jsl.distance_transform_edt(masks)
scipy_edt = np.stack([ndimage.distance_transform_edt(m) for m in masks])
print("max |ours - scipy| =", float(np.abs(np.asarray(ours) - scipy_edt).max()))
assert np.allclose(ours, scipy_edt, atol=1e-5)

fig, axes = plt.subplots(2, 3, figsize=(9, 6))
for row in range(2):
    for ax, image, title in zip(axes[row], (masks[row], ours[row], scipy_edt[row]),
                                ("mask", "jsl.distance_transform_edt", "scipy"), strict=True):
        ax.imshow(image, cmap="magma")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# The EDT runs under `jit` (static shapes, bounded memory) and carries no gradient: it is a
# function of the labels only. One difference with SciPy, by design: an image **without any
# background pixel** has nothing to measure to. SciPy then returns distances to a phantom pixel
# outside the array; jaxseg_losses returns `fill_value` (default `+inf`, never NaN).

# %%
full = np.ones((1, 4, 4), bool)
print("jsl  :", jsl.distance_transform_edt(full)[0, 0])
print("jsl, fill_value=0:", jsl.distance_transform_edt(full, fill_value=0.0)[0, 0])
print("scipy:", ndimage.distance_transform_edt(full[0])[0])
print("under jit:", jax.jit(jsl.distance_transform_edt)(masks).shape)

# %% [markdown]
# ## 2. Signed distance maps
#
# The boundary loss (Kervadec et al.) weights the predicted probabilities by the signed distance
# map of the ground truth: **negative inside** the object, **positive outside**, and **0 on the
# object pixels of the boundary**. `signed_distance_map` returns one map per class,
# `(B, *spatial, C)`; a class that is absent or fills the image gets an all-zero map.

# %%
labels = jnp.asarray(masks.astype(np.int32))  # (B, H, W): class 1 = the mask
sdm = jsl.signed_distance_map(labels, num_classes=2)  # (B, H, W, 2)
phi = np.asarray(sdm[..., 1])

cross = ndimage.generate_binary_structure(2, 1)[None]  # face neighbours, within each image
edge = masks & ~ndimage.binary_erosion(masks, structure=cross, border_value=0)
print("inside max:", phi[masks].max(), "| on the boundary:", np.unique(phi[edge]),
      "| outside min:", phi[~masks].min())

fig, axes = plt.subplots(1, 2, figsize=(8, 4))
for ax, image in zip(axes, phi, strict=True):
    limit = np.abs(image).max()
    im = ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.contour(image, levels=[0], colors="k", linewidths=0.8)
    ax.axis("off")
    fig.colorbar(im, ax=ax, fraction=0.046)
fig.suptitle("signed distance map of class 1 (blue: inside, red: outside)")
plt.show()

# %% [markdown]
# ## 3. Anisotropic spacing
#
# Medical volumes often have thick slices: with `sampling=(3.0, 1.0)` one step along the first
# axis is 3 units, so distances are physical. The spacing is data for the compiled function:
# changing it does not recompile.

# %%
spacing = (3.0, 1.0)
ours_aniso = jsl.distance_transform_edt(masks, sampling=spacing)
scipy_aniso = np.stack([ndimage.distance_transform_edt(m, sampling=spacing) for m in masks])
print("max |ours - scipy| with sampling", spacing, "=",
      float(np.abs(np.asarray(ours_aniso) - scipy_aniso).max()))
assert np.allclose(ours_aniso, scipy_aniso, atol=1e-4)

fig, axes = plt.subplots(1, 2, figsize=(8, 4))
axes[0].imshow(ours[1], cmap="magma")
axes[0].set_title("sampling (1, 1)")
axes[1].imshow(ours_aniso[1], cmap="magma")
axes[1].set_title(f"sampling {spacing}")
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 4. A 3D volume
#
# The same functions take `(B, D, H, W)` volumes. Here a sphere with slices 2.5 times thicker than
# the in-plane pixels, compared with SciPy, and its signed map shown on three orthogonal slices.

# %%
zz, yy, xx = np.mgrid[:DEPTH, :DEPTH, :DEPTH]
c = DEPTH / 2
sphere = ((zz - c) * 2.5) ** 2 + (yy - c) ** 2 + (xx - c) ** 2 <= (DEPTH / 2.5) ** 2
volume = sphere[None]  # (1, D, H, W)
spacing3d = (2.5, 1.0, 1.0)

edt3d = jsl.distance_transform_edt(volume, sampling=spacing3d)
scipy3d = ndimage.distance_transform_edt(sphere, sampling=spacing3d)
print("3D: max |ours - scipy| =", float(np.abs(np.asarray(edt3d[0]) - scipy3d).max()))
assert np.allclose(edt3d[0], scipy3d, atol=1e-4)

sdm3d = np.asarray(jsl.signed_distance_map(volume.astype(np.int32), num_classes=2,
                                           sampling=spacing3d)[0, ..., 1])
mid = DEPTH // 2
fig, axes = plt.subplots(1, 3, figsize=(10, 3.5))
for ax, (image, title) in zip(axes, [(sdm3d[mid], "axial (H, W)"), (sdm3d[:, mid], "(D, W)"),
                                     (sdm3d[:, :, mid], "(D, H)")], strict=True):
    limit = np.abs(sdm3d).max()
    ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.contour(image, levels=[0], colors="k", linewidths=0.8)
    ax.set_title(title)
    ax.axis("off")
fig.suptitle("3D signed distance map, middle slices")
plt.show()

# %% [markdown]
# ## 5. Where the distance losses put their weight
#
# A prediction that is a shifted, smaller disc. Per pixel and class, with $N$ pixels and $K$ the
# kept classes (here the foreground only, `include_background=False`):
#
# * **boundary loss**: $\phi_k(x)\,p_k(x) / (N|K|)$, with $\phi$ the signed map: probability
#   placed far outside the object costs a lot, probability inside the object earns a reward;
# * **Hausdorff-DT loss**: $(p_k - y_k)^2 (d_{p,k}^\alpha + d_{y,k}^\alpha) / (N|K|)$, with
#   $d$ the distance fields (distance to the other side of the boundary) of the truth and of the
#   thresholded prediction: errors far from both boundaries dominate.
#
# The maps below sum to the values returned by the library; the gradients with respect to the
# logits (computed by `jax.grad` through the losses) are shown next to them.

# %%
truth = disc(SIZE, (SIZE // 2, SIZE // 2), SIZE // 3)
guess = disc(SIZE, (SIZE // 2 + SIZE // 8, SIZE // 2 + SIZE // 10), SIZE // 4)
y = jnp.asarray(truth[None].astype(np.int32))  # (1, H, W)
rng = np.random.default_rng(0)
z = np.where(guess, 2.0, -2.0)[None] + rng.normal(0, 0.5, (1, SIZE, SIZE))
z = jnp.stack([jnp.zeros_like(z), z], axis=-1).astype(jnp.float32)  # (1, H, W, 2) logits
p = jax.nn.softmax(z)[..., 1]  # foreground probability
n = SIZE * SIZE

phi = jsl.signed_distance_map(y, num_classes=2)[..., 1]
boundary_map = phi * p / n
boundary_value = jsl.boundary_loss(z, y, include_background=False)

alpha = 2.0
d_truth = jsl.distance_field(y.astype(jnp.float32))
d_pred = jsl.distance_field((p > 0.5).astype(jnp.float32))
hd_map = (p - y) ** 2 * (d_pred**alpha + d_truth**alpha) / n
hd_value = jsl.hausdorff_dt_loss(z, y, include_background=False, alpha=alpha)

print(f"boundary: sum of map {float(boundary_map.sum()):.5f} | loss {float(boundary_value[0]):.5f}")
print(f"Hausdorff: sum of map {float(hd_map.sum()):.5f} | loss {float(hd_value[0]):.5f}")
assert np.allclose(boundary_map.sum(), boundary_value[0], rtol=1e-4, atol=1e-6)
assert np.allclose(hd_map.sum(), hd_value[0], rtol=1e-4, atol=1e-6)

grad_boundary = jax.jit(jax.grad(
    lambda z: jsl.boundary_loss(z, y, include_background=False).sum()))(z)
grad_hd = jax.jit(jax.grad(
    lambda z: jsl.hausdorff_dt_loss(z, y, include_background=False).sum()))(z)


def show(ax, image, title, diverging=True):
    image = np.asarray(image)
    if diverging:
        limit = np.abs(image).max() or 1.0
        im = ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
    else:
        im = ax.imshow(image, cmap="magma")
    ax.contour(truth, levels=[0.5], colors="k", linewidths=0.8)
    ax.contour(guess, levels=[0.5], colors="lime", linewidths=0.8)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    plt.colorbar(im, ax=ax, fraction=0.046)


fig, axes = plt.subplots(2, 3, figsize=(11, 7))
show(axes[0, 0], p[0], "p (foreground); black: truth, green: guess", diverging=False)
show(axes[0, 1], boundary_map[0], "boundary loss per pixel")
show(axes[0, 2], grad_boundary[0, ..., 1], "d boundary / d logit")
show(axes[1, 0], d_truth[0], "distance field of the truth", diverging=False)
show(axes[1, 1], hd_map[0], "Hausdorff-DT loss per pixel", diverging=False)
show(axes[1, 2], grad_hd[0, ..., 1], "d Hausdorff-DT / d logit")
plt.tight_layout()
plt.show()

# %% [markdown]
# Everything above, EDTs included, can run inside one `jax.jit`-compiled train step: the maps
# are recomputed from the labels of each batch, on the device. Notebook 03 trains a model with a
# boundary term whose weight rises with an optax schedule, and notebook 04 times the EDT on an
# accelerator.
