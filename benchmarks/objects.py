"""CPU time of the blob loss (value+grad) and of the object-level metrics, against references
measured in the same process (interleaved rounds, medians: ``_timing.py``).

Run: ``python benchmarks/objects.py [--repeats N]``. Prints markdown tables.

Inputs: lesion-like truth, ``objects()``: per foreground class, thresholded smoothed noise (a few
dozen components per image and class), multiclass integer labels with C = 4; logits = 3 x the
one-hot truth of a perturbed copy + noise.

Blob loss rows (``value_and_grad`` of ``loss(...).mean()``, jitted):

* ``blob_loss`` (Dice, the paper's setting; multiclass: components of classes 1..3);
* ``blob_loss`` with ``bce_weight=1``;
* ``dice_loss`` (the global term alone) and ``connected_components`` of the truth planes alone;
* the authors' formulation in torch: a Python loop over examples, classes and components, MONAI
  ``DiceLoss`` on the masked probabilities, eager forward + backward (their code's algorithm).

Metric rows (2-D (8, 256, 256) and 3-D (2, 64, 64, 64), one foreground class, jitted):
``panoptic_quality`` and ``lesion_detection`` on the binary masks (components included),
``instance_panoptic_quality`` on instance maps, and MONAI ``PanopticQualityMetric`` (eager, its
loop over instances) on the same instance maps (labelling excluded from MONAI's time).
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import torch
from scipy import ndimage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleaved_medians, load_average, machine_line  # noqa: E402

from jaxseg_losses.blob import blob_loss  # noqa: E402
from jaxseg_losses.components import connected_components  # noqa: E402
from jaxseg_losses.metrics.objects import (  # noqa: E402
    instance_panoptic_quality,
    lesion_detection,
    panoptic_quality,
)
from jaxseg_losses.region import dice_loss  # noqa: E402

SHAPES = [(8, 256, 256, 4), (2, 64, 64, 64, 4)]


def objects(seed, shape, density=0.04, sigma=2.0):
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.normal(size=shape), [0] + [sigma] * (len(shape) - 1))
    return noise > np.quantile(noise, 1 - density)


def labels_and_logits(shape):
    spatial = shape[:-1]
    labels = np.zeros(spatial, np.int32)
    for c in range(1, shape[-1]):
        labels = np.where(objects(c, spatial) & (labels == 0), c, labels)
    rng = np.random.default_rng(0)
    logits = 3.0 * np.eye(shape[-1], dtype=np.float32)[labels] + rng.normal(size=shape)
    return labels, logits.astype(np.float32)


def authors_blob(logits_t, multi, dice):
    """Their loop: per example, per class, per component; mean over the components, then the
    classes with components, then the examples with components."""
    probs = torch.softmax(logits_t, dim=1)
    element_losses = []
    for e in range(probs.shape[0]):
        class_losses = []
        for c in range(1, probs.shape[1]):
            label = multi[c - 1][e:e + 1]
            out = probs[e:e + 1, c:c + 1]
            losses = []
            for ula in torch.unique(label):
                if ula == 0:
                    continue
                label_mask = ~(label > 0)
                label_mask[label == ula] = 1
                losses.append(dice(out * label_mask, (label == ula).int()))
            if losses:
                class_losses.append(sum(losses) / len(losses))
        if class_losses:
            element_losses.append(sum(class_losses) / len(class_losses))
    return sum(element_losses) / len(element_losses)


def blob_table(shape, repeats, authors_loop=True):
    import monai.losses as ml

    labels, logits = labels_and_logits(shape)
    ndim = len(shape) - 2
    full = np.ones((3,) * ndim)
    planes = np.stack([labels == c for c in range(1, shape[-1])], 1).reshape(
        (-1,) + shape[1:-1])
    counts = [ndimage.label(p, full)[1] for p in planes]
    y, z = jnp.asarray(labels), jnp.asarray(logits)
    grad = lambda f: jax.jit(jax.value_and_grad(lambda x: f(x).mean()))  # noqa: E731
    blob = grad(lambda x: blob_loss(x, y, mode="multiclass"))
    blob_bce = grad(lambda x: blob_loss(x, y, mode="multiclass", bce_weight=1.0))
    dice = grad(lambda x: dice_loss(x, y))
    cc = jax.jit(lambda t: connected_components(t))
    planes_j = jnp.asarray(planes)
    dice_t = ml.DiceLoss(include_background=True, sigmoid=False)
    multi = [torch.from_numpy(np.stack([ndimage.label(labels[b] == c, full)[0]
                                        for b in range(shape[0])]))[:, None]
             for c in range(1, shape[-1])]
    logits_t = torch.from_numpy(np.moveaxis(logits, -1, 1).copy())

    def authors():
        x = logits_t.clone().requires_grad_(True)
        authors_blob(x, multi, dice_t).backward()
        return x.grad

    cands = {"blob_loss (Dice)": lambda: blob(z), "blob_loss (Dice + BCE)": lambda: blob_bce(z),
             "dice_loss (global term only)": lambda: dice(z),
             "connected_components of the truth planes": lambda: cc(planes_j)}
    ms = interleaved_medians(cands, repeats, warmup=1)
    if authors_loop:  # slow (one MONAI call per component): timed apart, once, no warm-up
        name = "authors' loop, torch + MONAI DiceLoss (eager; timed apart, one call)"
        ms[name] = interleaved_medians({name: authors}, 1, warmup=0, settle=0)[name]
    rows = [f"| {k} | {v:.1f} | {v / ms['dice_loss (global term only)']:.1f} |"
            for k, v in ms.items()]
    head = (f"\n### blob loss value+grad, {shape}, components per (image, class): "
            f"{min(counts)}..{max(counts)} (total {sum(counts)})\n\n"
            "| candidate | median ms | x dice_loss |\n|---|---|---|")
    return "\n".join([head] + rows)


def metric_table(spatial, repeats):
    import monai.metrics as mm

    truth = objects(1, spatial, density=0.05)
    rng = np.random.default_rng(3)
    pred = ndimage.gaussian_filter(truth + 0.5 * rng.normal(size=spatial),
                                   [0] + [1.0] * (len(spatial) - 1)) > 0.5
    full = np.ones((3,) * (len(spatial) - 1))
    t_inst = np.stack([ndimage.label(t, full)[0] for t in truth]).astype(np.int32)
    p_inst = np.stack([ndimage.label(p, full)[0] for p in pred]).astype(np.int32)
    n = int(max(t_inst.max(), p_inst.max()))
    bound = 1 << max(8, int(np.ceil(np.log2(n + 1))))  # next power of two above the objects
    bound -= 1
    tj, pj = jnp.asarray(truth.astype(np.int32)), jnp.asarray(pred[..., None])
    ti, pi = jnp.asarray(t_inst), jnp.asarray(p_inst)
    pq = jax.jit(lambda p, t: panoptic_quality(p, t, mode="binary", max_objects=bound).pq)
    det = jax.jit(lambda p, t: lesion_detection(p, t, mode="binary", max_objects=bound).f1)
    ipq = jax.jit(lambda p, t: instance_panoptic_quality(p, t, max_objects=bound).pq)
    monai = mm.PanopticQualityMetric(num_classes=1, reduction="none")
    cls_t, cls_p = (t_inst > 0).astype(np.int32), (p_inst > 0).astype(np.int32)
    y = torch.from_numpy(np.stack([t_inst, cls_t], 1))
    y_pred = torch.from_numpy(np.stack([p_inst, cls_p], 1))

    def monai_call():
        monai.reset()
        monai(y_pred, y)
        return monai.aggregate()

    cands = {"panoptic_quality (masks, components included)": lambda: pq(pj, tj),
             "lesion_detection (masks, components included)": lambda: det(pj, tj),
             "instance_panoptic_quality (instance maps)": lambda: ipq(pi, ti),
             "MONAI PanopticQualityMetric (instance maps, eager)": monai_call}
    ms = interleaved_medians(cands, repeats, warmup=1)
    ours = np.asarray(ipq(pi, ti))[:, 0]
    theirs = np.asarray(monai_call()).reshape(-1)
    head = (f"\n### object metrics, {spatial}, objects per image: truth up to {t_inst.max()}, "
            f"prediction up to {p_inst.max()}; max_objects={bound}; "
            f"max |PQ ours - MONAI| = {np.max(np.abs(ours - theirs)):.2e}\n\n"
            "| candidate | median ms |\n|---|---|")
    return "\n".join([head] + [f"| {k} | {v:.1f} |" for k, v in ms.items()])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-authors", action="store_true",
                        help="skip the authors' torch loop (minutes per call on a loaded CPU)")
    parser.add_argument("--part", choices=("all", "blob", "metrics"), default="all")
    args = parser.parse_args()
    print(machine_line(), f"load {load_average():.1f}")
    for shape in SHAPES if args.part != "metrics" else []:
        print(blob_table(shape, args.repeats, not args.no_authors), flush=True)
    for spatial in [(8, 256, 256), (2, 64, 64, 64)] if args.part != "blob" else []:
        print(metric_table(spatial, args.repeats), flush=True)
    print(f"\nload average at the end: {load_average():.1f}")


if __name__ == "__main__":
    main()
