"""The distance programs of the accelerator benchmarks, as abstract shapes (not a test).

Shared by ``accelerator_proxy.py`` (compiled for a described device) and
``accelerator_timing.py`` (run on a real one).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.ndimage as ndi
from _tiny_net import apply_net, init_net  # benchmarks/_tiny_net.py
from edt import seg_masks  # benchmarks/edt.py

import jaxseg_losses as jsl


def _f32(*shape):
    return jax.ShapeDtypeStruct(shape, jnp.float32)


def _i32(*shape):
    return jax.ShapeDtypeStruct(shape, jnp.int32)


def value_and_grad(loss):
    return jax.value_and_grad(lambda z, y: jnp.mean(loss(z, y)))


def train_step(shape, in_graph: bool):
    """Value+grad and an adam update of the tiny conv net of benchmarks/boundary_step.py."""
    nsp, nc = len(shape) - 2, shape[-1]
    params = jax.eval_shape(lambda: init_net(jax.random.key(0), 1, nc, nsp))
    opt = optax.adam(1e-3)
    opt_state = jax.eval_shape(opt.init, params)

    def loss_fn(p, x, y, maps):
        maps = None if in_graph else maps
        return jnp.mean(jsl.boundary_loss(apply_net(p, x), y, distance_maps=maps))

    def step(p, s, x, y, maps):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y, maps)
        upd, s = opt.update(g, s, p)
        return optax.apply_updates(p, upd), s, loss

    args = (params, opt_state, _f32(*shape[:-1], 1), _i32(*shape[:-1]), _f32(*shape))
    return step, args


def programs():
    edt = [(16, 512, 512), (1, 1024, 1024), (1, 2048, 2048), (1, 4096, 4096),
           (2, 128, 128, 128), (1, 256, 256, 256), (1, 512, 512, 512)]
    out = [(f"EDT {s}", f"edt_{'x'.join(map(str, s))}", jsl.distance_transform_edt,
            (jax.ShapeDtypeStruct(s, jnp.bool_),)) for s in edt]
    for s in [(8, 256, 256, 4), (2, 96, 96, 96, 4)]:
        tag = "x".join(map(str, s))
        zy = (_f32(*s), _i32(*s[:-1]))
        out += [
            (f"boundary value+grad {s}", f"boundary_{tag}", value_and_grad(jsl.boundary_loss), zy),
            (f"Hausdorff-DT value+grad {s}", f"hd_{tag}", value_and_grad(jsl.hausdorff_dt_loss),
             zy),
            (f"distance-penalised CE value+grad {s}", f"dpce_{tag}",
             value_and_grad(jsl.distance_penalized_cross_entropy), zy),
        ]
    for in_graph in (True, False):
        label = "EDT in graph" if in_graph else "precomputed maps"
        step, args = train_step((8, 256, 256, 4), in_graph)
        out.append((f"boundary train step (8, 256, 256, 4), {label}",
                    f"step_{'graph' if in_graph else 'maps'}", step, args))
    return out


def scipy_cells(label: str, shape: tuple[int, ...], ms_lo: float, ms_hi: float) -> str:
    """The last two cells of a table row: SciPy's ms on one core and SciPy / ours, for the EDT
    rows (``ms_lo``-``ms_hi``: our time or its estimated range); empty cells otherwise."""
    if not label.startswith("EDT"):
        return " | |"
    ref = scipy_ms(shape, repeats=1 if np.prod(shape) > 5e7 else 3)
    ratio = f"{ref / ms_lo:.0f}x" if ms_lo == ms_hi else f"{ref / ms_hi:.0f}-{ref / ms_lo:.0f}x"
    return f" {ref:.0f} | {ratio} |"


def scipy_ms(shape: tuple[int, ...], repeats: int = 3) -> float:
    """Median ms of SciPy's EDT over the batch (one core) on segmentation-like masks."""
    masks = seg_masks(shape, np.random.default_rng(0))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for m in masks:
            ndi.distance_transform_edt(m)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))
