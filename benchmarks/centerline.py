"""Value+grad time of the centerline losses (Skeleton Recall, cbDice) on CPU, with references.

Run: ``python benchmarks/centerline.py [--repeats N] [--shapes 2d,3d]``. Times
``jax.jit(jax.value_and_grad(sum of loss))`` at (8, 256, 256, 4) and (2, 64, 64, 64, 4) logits
with integer labels of vessel-like structures (thresholded smooth noise, 4 classes), interleaved
medians (``_timing.interleaved_medians``), next to ``dice_loss`` and ``cldice_loss`` (the soft
skeleton, 10 iterations) measured in the same rounds, and the hard skeleton alone
(``skeletonize`` of the labels' foreground) with its number of thinning passes.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from _timing import interleaved_medians, load_average, machine_line
from scipy import ndimage as ndi

from jaxseg_losses.centerline import cbdice_loss, skeleton_recall_loss
from jaxseg_losses.region.dice import dice_loss
from jaxseg_losses.skeleton import skeletonize
from jaxseg_losses.topology import cldice_loss

SHAPES = {"2d": (8, 256, 256, 4), "3d": (2, 64, 64, 64, 4)}


def vessel_labels(shape, classes, seed=0) -> np.ndarray:
    """Tubular structures a few pixels thick: a band of smooth noise, split into classes."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(shape[0]):
        field = ndi.gaussian_filter(rng.standard_normal(shape[1:]), 4.0)
        band = np.abs(field) < 0.25 * field.std()
        part = ndi.gaussian_filter(rng.random(shape[1:]), 8.0)
        cut = np.quantile(part, np.linspace(0, 1, classes)[1:-1])
        out.append(np.where(band, 1 + np.searchsorted(cut, part), 0))
    return np.stack(out).astype(np.int32)


def passes(fg: np.ndarray) -> int:
    """Thinning passes until stable (the loop's trip count on CPU)."""
    x = jnp.asarray(fg)
    for i in range(1, 200):
        y = skeletonize(x, max_iterations=1)
        if bool(jnp.all(y == x)):
            return i
        x = y
    return -1


def candidates(logits, labels, fg) -> dict:
    """The timed programs: value+grad of each loss, and the skeleton alone."""

    def vg(loss, **kw):
        fn = jax.jit(jax.value_and_grad(lambda x: jnp.sum(loss(x, labels, **kw))))
        return lambda: fn(logits)

    skel = jax.jit(skeletonize)
    return {
        "dice_loss": vg(dice_loss),
        "cldice_loss(iterations=10)": vg(cldice_loss, iterations=10),
        "skeleton_recall_loss": vg(skeleton_recall_loss),
        "cbdice_loss": vg(cbdice_loss),
        "cbdice_loss(hard_skeleton=True)": vg(cbdice_loss, hard_skeleton=True),
        "skeletonize(labels > 0)": lambda: skel(fg),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--shapes", default="2d,3d")
    args = ap.parse_args()
    print(machine_line(), f"load {load_average():.1f}")
    for key in args.shapes.split(","):
        shape = SHAPES[key]
        labels = jnp.asarray(vessel_labels(shape[:-1], shape[-1]))
        rng = np.random.default_rng(1)
        logits = jnp.asarray(rng.normal(size=shape).astype(np.float32))
        fg = labels > 0

        cands = candidates(logits, labels, fg)
        medians = interleaved_medians(cands, args.repeats, warmup=1, settle=0)
        print(f"\n{key} {shape}: foreground {float(fg.mean()):.3f}, "
              f"thinning passes {passes(fg[:1])} (first image)")
        base = medians["dice_loss"]
        for name, ms in medians.items():
            print(f"  {name:34s} {ms:9.1f} ms  {ms / base:6.1f}x dice")


if __name__ == "__main__":
    main()
