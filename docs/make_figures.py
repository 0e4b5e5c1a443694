"""Draws the small figures of the documentation pages into docs/figures/ (committed PNGs).

Run from the repository root after changing a loss: ``python docs/make_figures.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxseg_losses import (  # noqa: E402
    boundary_loss,
    boundary_weight_schedules,
    conservative_loss,
    cross_entropy,
    distance_transform_edt,
    focal_loss,
    hausdorff_dt_loss,
    lovasz,
    region,
    signed_distance_map,
    topology,
)

OUT = Path(__file__).parent / "figures"
OUT.mkdir(exist_ok=True)


def save(fig, name):
    fig.savefig(OUT / name, dpi=80, bbox_inches="tight")
    plt.close(fig)
    print("wrote", OUT / name)


def disc(size, center, radius):
    yy, xx = np.mgrid[:size, :size]
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2


def pixelwise():
    p = jnp.linspace(0.01, 0.99, 99)
    probs = jnp.stack([1 - p, p], -1)[None, None]  # (1, 1, N, 2): true class 1 has prob p
    labels = jnp.ones((1, 1, p.size), jnp.int32)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(p, cross_entropy(probs, labels, from_logits=False, reduction="pixel")[0, 0],
            label="cross-entropy")
    for gamma in (1.0, 2.0, 5.0):
        ax.plot(p, focal_loss(probs, labels, from_logits=False, gamma=gamma,
                              reduction="pixel")[0, 0], label=f"focal, gamma={gamma:g}")
    ax.plot(p, conservative_loss(probs, labels, from_logits=False, reduction="pixel")[0, 0] / 10,
            label="conservative / 10")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("probability of the true class $p_t$")
    ax.set_ylabel("per-pixel loss")
    ax.set_ylim(-1, 4)
    ax.legend(fontsize=8)
    save(fig, "pixelwise.png")


def overlap_curves():
    size = 32
    truth = disc(size, (16, 16), 8)
    labels = jnp.asarray(truth[None].astype(np.int32))
    shifts = np.arange(0, 17)
    curves = {"dice": [], "jaccard": [], "tversky (0.3, 0.7)": [], "focal tversky": [],
              "lovasz softmax": []}
    for s in shifts:
        guess = jax.nn.one_hot(jnp.asarray(disc(size, (16, 16 + s), 8))[None].astype(int), 2)
        kw = dict(from_logits=False, include_background=False)
        curves["dice"].append(region.dice_loss(guess, labels, **kw)[0])
        curves["jaccard"].append(region.jaccard_loss(guess, labels, **kw)[0])
        curves["tversky (0.3, 0.7)"].append(
            region.tversky_loss(guess, labels, alpha=0.3, beta=0.7, **kw)[0])
        curves["focal tversky"].append(region.focal_tversky_loss(guess, labels, **kw)[0])
        curves["lovasz softmax"].append(
            lovasz.lovasz_softmax_loss(guess, labels, from_logits=False,
                                       include_background=False)[0])
    # Two pairs coincide on this example; drawn wide under a dotted twin so both stay visible:
    # Tversky with alpha + beta = 1 equals Dice when FP = FN (a sliding disc), and Lovász-softmax
    # equals Jaccard on hard (one-hot) predictions.
    styles = {"dice": dict(lw=4, alpha=0.5), "jaccard": dict(lw=4, alpha=0.5),
              "tversky (0.3, 0.7)": dict(ls=":", lw=2), "lovasz softmax": dict(ls=":", lw=2)}
    labels_shown = {"tversky (0.3, 0.7)": "tversky (0.3, 0.7) = dice here (FP = FN)",
                    "lovasz softmax": "lovasz softmax = jaccard here (hard masks)"}
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name, values in curves.items():
        ax.plot(shifts, values, label=labels_shown.get(name, name), **styles.get(name, {}))
    ax.set_xlabel("shift of the predicted disc (pixels, radius 8)")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    save(fig, "overlap.png")


def distance():
    size = 48
    mask = disc(size, (24, 24), 16) & ~disc(size, (24, 30), 6)
    edt = distance_transform_edt(mask[None])[0]
    sdm = signed_distance_map(jnp.asarray(mask[None].astype(int)), num_classes=2)[0, ..., 1]
    fig, axes = plt.subplots(1, 3, figsize=(9, 3))
    axes[0].imshow(mask, cmap="gray")
    axes[0].set_title("mask")
    axes[1].imshow(edt, cmap="magma")
    axes[1].set_title("distance_transform_edt")
    limit = float(jnp.abs(sdm).max())
    axes[2].imshow(sdm, cmap="RdBu_r", vmin=-limit, vmax=limit)
    axes[2].contour(sdm, levels=[0], colors="k", linewidths=0.8)
    axes[2].set_title("signed_distance_map")
    for ax in axes:
        ax.axis("off")
    save(fig, "distance.png")


def boundary():
    size = 48
    truth = disc(size, (24, 24), 14)
    guess = disc(size, (29, 28), 11)
    y = jnp.asarray(truth[None].astype(np.int32))
    z = jnp.stack([jnp.zeros((1, size, size)), jnp.where(guess, 2.0, -2.0)[None]], -1)
    g_b = jax.grad(lambda z: boundary_loss(z, y, include_background=False).sum())(z)[0, ..., 1]
    g_h = jax.grad(lambda z: hausdorff_dt_loss(z, y, include_background=False).sum())(z)[0, ..., 1]
    fig, axes = plt.subplots(1, 2, figsize=(6.5, 3))
    for ax, g, title in zip(axes, (g_b, g_h), ("boundary_loss", "hausdorff_dt_loss"), strict=True):
        limit = float(jnp.abs(g).max())
        ax.imshow(g, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.contour(truth, levels=[0.5], colors="k", linewidths=0.8)
        ax.contour(guess, levels=[0.5], colors="g", linewidths=0.8)
        ax.set_title(f"d {title} / d logit", fontsize=9)
        ax.axis("off")
    save(fig, "boundary.png")


def topology_figure():
    size = 40
    yy, xx = np.mgrid[:size, :size]
    vessel = (np.abs(yy - 20 - 8 * np.sin(xx / 6)) < 3).astype(np.float32)
    skeleton = topology.soft_skeleton(jnp.asarray(vessel)[None, ..., None], iterations=5)
    fig, axes = plt.subplots(1, 2, figsize=(6, 3))
    axes[0].imshow(vessel, cmap="gray")
    axes[0].set_title("mask")
    axes[1].imshow(skeleton[0, ..., 0], cmap="magma")
    axes[1].set_title("soft_skeleton")
    for ax in axes:
        ax.axis("off")
    save(fig, "topology.png")


def schedules():
    region, bound = boundary_weight_schedules(variant="code", steps_per_epoch=1)
    steps = np.arange(0, 150)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(steps, [float(region(s)) for s in steps], label="region weight")
    ax.plot(steps, [float(bound(s)) for s in steps], label="boundary weight")
    ax.set_xlabel("epoch")
    ax.legend(fontsize=8)
    ax.set_title("boundary_weight_schedules('code')", fontsize=9)
    save(fig, "schedules.png")


if __name__ == "__main__":
    pixelwise()
    overlap_curves()
    distance()
    boundary()
    topology_figure()
    schedules()
