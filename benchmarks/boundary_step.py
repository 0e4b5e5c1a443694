"""Boundary / Hausdorff-DT losses with the EDT in the compiled graph vs precomputed maps vs MONAI.

Run: ``python benchmarks/boundary_step.py [--quick]``. Prints tables and writes
``benchmarks/results/boundary_step.md`` (``--quick``: ``boundary_step_quick.md``).

Shapes: (8, 256, 256, 4) and (2, 96, 96, 96, 4) (``--quick``: (2, 64, 64, 64, 4) for 3-D).
Labels are segmentation-like (1-3 random ellipses/ellipsoids per class and image, classes
1..C-1 over background 0), so the distance maps have realistic, large distances. Rows:

* ``signed_distance_map`` alone (jit): the EDT work a boundary step adds (2 EDTs per class);
* boundary loss value+grad (jit): EDT in the graph (``boundary_loss(z, y)``) vs precomputed
  maps (``boundary_loss(z, y, distance_maps=maps)``, maps made once outside the timing);
* a train step (jit): a 2-layer conv net (3x3 conv to 16 channels, ReLU, 1x1 conv to C),
  value+grad of the loss and an ``optax.adam`` update, with the EDT in the graph vs precomputed;
* Hausdorff-DT loss value+grad (jit): EDTs of the truth and of the thresholded prediction are
  both in the graph (the prediction's cannot be precomputed);
* MONAI ``BoundaryLoss`` / ``HausdorffDTLoss`` (softmax, one-hot targets; they compute the maps
  with SciPy/cuCIM inside ``forward``), torch eager on the CPU, forward + backward.

It also reports the compile time (lower + compile of value+grad, fresh process state) of a
3-term objective ``jsl.named_sum(dice, focal, boundary with an optax.linear_schedule weight)``.
All candidates of one shape are timed in the same process, interleaved; medians.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import monai.losses as ml
import numpy as np
import optax
import torch

import jaxseg_losses as jsl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleaved_medians, load_average, machine_line  # noqa: E402
from _tiny_net import apply_net, init_net  # noqa: E402


def seg_labels(shape: tuple[int, ...], nc: int, rng: np.random.Generator) -> np.ndarray:
    """Integer labels (B, *spatial): 1-3 random ellipses per foreground class over class 0."""
    batch, *spatial = shape
    grids = np.meshgrid(*[np.arange(n) for n in spatial], indexing="ij", sparse=True)
    out = np.zeros(shape, np.int32)
    for b in range(batch):
        for k in range(1, nc):
            for _ in range(rng.integers(1, 4)):
                c = rng.uniform(0.2, 0.8, len(spatial)) * spatial
                r = rng.uniform(0.05, 0.2, len(spatial)) * spatial
                inside = sum(((g - ci) / ri) ** 2 for g, ci, ri in
                             zip(grids, c, r, strict=True)) <= 1
                out[b][inside] = k
    return out


def objective():
    return jsl.named_sum(
        ("dice", jsl.dice_loss),
        ("focal", jsl.focal_loss),
        ("boundary", jsl.boundary_loss, optax.linear_schedule(0.01, 1.0, 10_000)),
    )


def compile_seconds(shape) -> dict[str, float]:
    """Trace+lower and XLA compile time of value+grad of the 3-term objective."""
    nc = shape[-1]
    z = jnp.zeros(shape, jnp.float32)
    y = jnp.zeros(shape[:-1], jnp.int32)
    obj = objective()

    def f(z, y, step):
        total, aux = obj(z, y, step=step)
        return jnp.mean(total), aux

    vg = jax.jit(jax.value_and_grad(f, has_aux=True))
    t0 = time.perf_counter()
    lowered = vg.lower(z, y, jnp.int32(0))
    t1 = time.perf_counter()
    lowered.compile()
    t2 = time.perf_counter()
    del nc
    return {"trace+lower": t1 - t0, "compile": t2 - t1, "total": t2 - t0}


def bench_shape(shape, repeats):
    rng = np.random.default_rng(0)
    nc, nsp = shape[-1], len(shape) - 2
    labels = seg_labels(shape[:-1], nc, rng)
    logits = rng.standard_normal(shape, np.float32)
    z, y = jnp.asarray(logits), jnp.asarray(labels)
    sdm = jax.jit(lambda y: jsl.signed_distance_map(y, num_classes=nc))
    maps = jax.block_until_ready(sdm(y))

    def vg(fn):
        return jax.jit(jax.value_and_grad(lambda z, *a: jnp.mean(fn(z, *a))))

    b_in = vg(lambda z, y: jsl.boundary_loss(z, y))
    b_pre = vg(lambda z, y, m: jsl.boundary_loss(z, y, distance_maps=m))
    hd = vg(lambda z, y: jsl.hausdorff_dt_loss(z, y))

    # Train step of a tiny conv net: image = noisy labels, one input channel.
    image = jnp.asarray((labels / max(nc - 1, 1) + 0.3 * rng.standard_normal(labels.shape))
                        [..., None].astype(np.float32))
    params = init_net(jax.random.key(0), 1, nc, nsp)
    opt = optax.adam(1e-3)
    opt_state = opt.init(params)

    def make_step(use_maps: bool):
        def loss_fn(p, x, y, m):
            out = apply_net(p, x)
            if use_maps:
                return jnp.mean(jsl.boundary_loss(out, y, distance_maps=m))
            return jnp.mean(jsl.boundary_loss(out, y))

        @jax.jit
        def step(p, s, x, y, m):
            loss, g = jax.value_and_grad(loss_fn)(p, x, y, m)
            upd, s = opt.update(g, s, p)
            return optax.apply_updates(p, upd), s, loss

        return step

    step_in, step_pre = make_step(False), make_step(True)

    xt = torch.from_numpy(np.ascontiguousarray(np.moveaxis(logits, -1, 1))).requires_grad_(True)
    yt = torch.from_numpy(labels[:, None].astype(np.float32))
    m_b = ml.BoundaryLoss(softmax=True, to_onehot_y=True)
    m_h = ml.HausdorffDTLoss(softmax=True, to_onehot_y=True, include_background=True)

    def torch_call(loss):
        def run():
            xt.grad = None
            out = loss(xt, yt)
            out.backward()
            return out
        return run

    cands = {
        "signed_distance_map (EDT only)": lambda: sdm(y),
        "boundary value+grad, EDT in graph": lambda: b_in(z, y),
        "boundary value+grad, precomputed maps": lambda: b_pre(z, y, maps),
        "train step, EDT in graph": lambda: step_in(params, opt_state, image, y, maps),
        "train step, precomputed maps": lambda: step_pre(params, opt_state, image, y, maps),
        "MONAI BoundaryLoss fwd+bwd": torch_call(m_b),
        "Hausdorff-DT value+grad, EDT in graph": lambda: hd(z, y),
        "MONAI HausdorffDTLoss fwd+bwd": torch_call(m_h),
    }
    load0 = load_average()
    med = interleaved_medians(cands, repeats, warmup=1)
    return med, (load0, load_average())


def table(shape, med, loads) -> list[str]:
    ref = med["boundary value+grad, precomputed maps"]
    out = [f"### {shape} (load average {loads[0]:.1f} -> {loads[1]:.1f})", "",
           "| candidate | median ms | / boundary precomputed |", "|---|---|---|"]
    out += [f"| {k} | {v:.2f} | {v / ref:.2f} |" for k, v in med.items()]
    r_vg = med["boundary value+grad, EDT in graph"] / ref
    r_step = med["train step, EDT in graph"] / med["train step, precomputed maps"]
    r_monai = med["boundary value+grad, EDT in graph"] / med["MONAI BoundaryLoss fwd+bwd"]
    out += ["", f"In-graph / precomputed: value+grad {r_vg:.2f}x, train step {r_step:.2f}x; "
            f"in-graph boundary / MONAI BoundaryLoss {r_monai:.2f}x.", ""]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3-D shape 64^3, 3 repeats")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    shapes = [(8, 256, 256, 4), (2, 64, 64, 64, 4) if args.quick else (2, 96, 96, 96, 4)]
    repeats = args.repeats or (3 if args.quick else 7)
    out_path = args.out or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "results",
        "boundary_step_quick.md" if args.quick else "boundary_step.md")
    lines = ["# Boundary-loss step benchmark", "",
             f"Command: `python benchmarks/boundary_step.py{' --quick' if args.quick else ''}`; "
             f"{machine_line()}. Median ms of {repeats} interleaved rounds after warm-up.", "",
             "## Compile time: value+grad of named_sum(dice, focal, boundary@linear_schedule)",
             "", "| shape | trace+lower (s) | XLA compile (s) | total (s) |", "|---|---|---|---|"]
    for shape in shapes:  # first, while the process's caches are cold
        c = compile_seconds(shape)
        lines.append(f"| {shape} | {c['trace+lower']:.2f} | {c['compile']:.2f} | "
                     f"{c['total']:.2f} |")
        print(lines[-1], flush=True)
    lines += ["", "## Step times", ""]
    for shape in shapes:
        med, loads = bench_shape(shape, repeats)
        block_lines = table(shape, med, loads)
        print("\n".join(block_lines), flush=True)
        lines += block_lines
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as fh:
        fh.write("\n".join(lines))
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
