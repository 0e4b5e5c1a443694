"""Value+grad time of every softmax-based loss: ours (jit) vs MONAI (torch eager) and optax.

Run: ``python benchmarks/losses.py [--quick]``. Prints a table and writes
``benchmarks/results/losses.md`` (``--quick``: ``losses_quick.md``).

Shapes (8, 256, 256, 4) and (2, 64, 64, 64, 4) (``--quick``: the 2-D shape only, a subset of
losses, fewer repeats). Logits are standard-normal, labels random class indices. Each row is
``value_and_grad`` of ``loss(...).mean()`` with respect to the logits:

* ours: ``jax.jit(jax.value_and_grad(...))``, default options, multiclass (softmax), integer
  labels;
* MONAI: the matching ``monai.losses`` class (``softmax=True, to_onehot_y=True``) on a
  channels-first float32 torch tensor with ``requires_grad``, eager on the CPU, timed as
  forward + ``backward()``;
* optax: the ``optax.losses`` function where optax has the loss, jitted like ours.

The "softmax floor" is value+grad of ``sum(logsumexp(logits, -1))`` (jit), which every
softmax-based loss pays; every time is also given as a multiple of it. All candidates of one
shape are timed in the same process, interleaved round by round (``_timing.py``); medians.
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import monai.losses as ml
import numpy as np
import optax
import torch

import jaxseg_losses as jsl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleaved_medians, load_average, machine_line  # noqa: E402

SHAPES = [(8, 256, 256, 4), (2, 64, 64, 64, 4)]


def _mk(cls, **kw):
    return lambda: cls(softmax=True, to_onehot_y=True, **kw)


# name -> (ours, MONAI factory or None, optax fn(logits, int_labels, onehot) or None)
LOSSES = {
    "cross_entropy": (jsl.cross_entropy, lambda: _TorchCE(), lambda z, y, oh:
                      optax.losses.softmax_cross_entropy_with_integer_labels(z, y)),
    "focal_loss": (jsl.focal_loss,
                   lambda: ml.FocalLoss(use_softmax=True, to_onehot_y=True, gamma=2.0), None),
    "dice_loss": (jsl.dice_loss, _mk(ml.DiceLoss),
                  lambda z, y, oh: optax.losses.dice_loss(z, oh)),
    "jaccard_loss": (jsl.jaccard_loss, _mk(ml.DiceLoss, jaccard=True), None),
    "tversky_loss": (jsl.tversky_loss, _mk(ml.TverskyLoss, alpha=0.3, beta=0.7), None),
    "focal_tversky_loss": (jsl.focal_tversky_loss, None, None),
    "generalized_dice_loss": (jsl.generalized_dice_loss, _mk(ml.GeneralizedDiceLoss),
                              lambda z, y, oh:
                              optax.losses.multiclass_generalized_dice_loss(z, oh)),
    "sensitivity_specificity_loss": (jsl.sensitivity_specificity_loss, None, None),
    "exp_log_loss": (jsl.exp_log_loss, None, None),
    "dice_ce_loss": (jsl.dice_ce_loss, _mk(ml.DiceCELoss), None),
    "dice_focal_loss": (jsl.dice_focal_loss, _mk(ml.DiceFocalLoss), None),
    "weighted_cross_entropy": (jsl.weighted_cross_entropy, None, None),
    "poly_cross_entropy": (jsl.poly_cross_entropy, None, lambda z, y, oh:
                           optax.losses.poly_loss_cross_entropy(z, oh, epsilon=2.0)),
    "conservative_loss": (jsl.conservative_loss, None, None),
    "topk_cross_entropy": (jsl.topk_cross_entropy, None, None),
    "lovasz_softmax_loss": (jsl.lovasz_softmax_loss, None, None),
}
QUICK = ["cross_entropy", "focal_loss", "dice_loss", "tversky_loss", "dice_ce_loss",
         "lovasz_softmax_loss"]


class _TorchCE(torch.nn.Module):
    """torch cross-entropy with MONAI's target layout (B, 1, *spatial): what DiceCELoss uses."""

    def forward(self, x, y):
        return torch.nn.functional.cross_entropy(x, y[:, 0].long())


def jax_vg(fn):
    return jax.jit(jax.value_and_grad(lambda z, *a: jnp.mean(fn(z, *a))))


def floor_fn(z):
    return jnp.sum(jax.nn.logsumexp(z, axis=-1))


def torch_call(loss, x, y):
    def run():
        x.grad = None
        out = loss(x, y)
        out.backward()
        return out

    return run


def bench_shape(shape, names, repeats):
    rng = np.random.default_rng(0)
    nc = shape[-1]
    logits = rng.standard_normal(shape, np.float32)
    labels = rng.integers(0, nc, shape[:-1]).astype(np.int32)
    z, y = jnp.asarray(logits), jnp.asarray(labels)
    oh = jax.nn.one_hot(y, nc)
    xt = torch.from_numpy(np.ascontiguousarray(np.moveaxis(logits, -1, 1))).requires_grad_(True)
    yt = torch.from_numpy(labels[:, None].astype(np.float32))

    floor = jax_vg(floor_fn)
    cands = {"floor": lambda: floor(z)}
    for name in names:
        ours, monai_f, optax_f = LOSSES[name]
        f = jax_vg(ours)
        cands[f"ours/{name}"] = (lambda f=f: f(z, y))
        if monai_f is not None:
            cands[f"monai/{name}"] = torch_call(monai_f(), xt, yt)
        if optax_f is not None:
            g = jax_vg(optax_f)
            cands[f"optax/{name}"] = (lambda g=g: g(z, y, oh))
    load0 = load_average()
    med = interleaved_medians(cands, repeats)
    return med, (load0, load_average())


def table(shape, med, names, loads) -> list[str]:
    fl = med["floor"]
    out = [f"### {shape}: softmax floor {fl:.2f} ms (load average {loads[0]:.1f} -> "
           f"{loads[1]:.1f})", "",
           "| loss | ours jit (ms) | ours / floor | MONAI eager (ms) | MONAI / floor | "
           "optax jit (ms) | optax / floor | ours / MONAI |",
           "|---|---|---|---|---|---|---|---|"]

    def cell(key):
        if key not in med:
            return "-", "-"
        return f"{med[key]:.2f}", f"{med[key] / fl:.2f}"

    for name in names:
        o, m, x = cell(f"ours/{name}"), cell(f"monai/{name}"), cell(f"optax/{name}")
        ratio = (f"{med[f'ours/{name}'] / med[f'monai/{name}']:.2f}"
                 if f"monai/{name}" in med else "-")
        out.append(f"| {name} | {o[0]} | {o[1]} | {m[0]} | {m[1]} | {x[0]} | {x[1]} | {ratio} |")
    return out + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2-D shape, 6 losses, 5 repeats")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    names = QUICK if args.quick else list(LOSSES)
    shapes = SHAPES[:1] if args.quick else SHAPES
    repeats = args.repeats or (5 if args.quick else 15)
    out_path = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                        "losses_quick.md" if args.quick else "losses.md")
    lines = ["# Loss value+grad benchmark", "",
             f"Command: `python benchmarks/losses.py{' --quick' if args.quick else ''}`; "
             f"{machine_line()}. Median ms of {repeats} interleaved rounds after warm-up; "
             "multiples of the softmax floor (value+grad of sum(logsumexp(logits, -1)), jit) "
             "measured in the same run.", ""]
    for shape in shapes:
        med, loads = bench_shape(shape, names, repeats)
        block_lines = table(shape, med, names, loads)
        print("\n".join(block_lines), flush=True)
        lines += block_lines
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as fh:
        fh.write("\n".join(lines))
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
