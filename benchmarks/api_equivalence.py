"""Check that two git revisions of jaxseg_losses give the same results on a grid of inputs.

Run: ``python benchmarks/api_equivalence.py REV_A REV_B [--tol 0] [--only REGEX] [--cache DIR]
[--rename [FUNCTION:]OLD=NEW ...]``

A revision is anything git resolves (commit, ``HEAD~3``, tag) or ``WORK``, the working tree
(copied when the script starts, so edits made during the run do not leak in). The package of each
revision is exported (``git archive REV jaxseg_losses``) to a temporary directory and evaluated in
a subprocess of its own (``PYTHONPATH`` = that directory, ``JAX_PLATFORMS=cpu``, ``XLA_FLAGS`` and
the rest of the environment as given) that saves every outcome to an ``.npz`` file; the two
subprocesses run side by side and the parent compares the files case by case.

Cases are named ``function|variant|value`` (or ``|grad``), the same in both revisions:

* Every name of ``jaxseg_losses.__all__`` (found at run time: moved or renamed modules do not
  matter, only the public names) whose signature starts with ``(predictions, labels)``.
  Losses, on seeded random 2-D inputs ``(2, 12, 10, C)`` (C = 3, or 1 where the default mode is
  binary): the value for integer and one-hot labels, each ``mode`` (binary: C = 1; multilabel:
  dense 0/1 targets; C = 1 and dense targets for losses without ``mode``), probabilities
  (``from_logits=False``), ``mask``, ``ignore_index`` (labels holding it), ``class_weights``,
  ``per_image=False``, ``include_background=False``, each ``reduction`` of ``REDUCTIONS`` (an
  unsupported one raises, an outcome too), the other options (booleans flipped, ``OTHER_VALUES``,
  other numbers halved, integers + 1) and bfloat16 predictions; ``jax.grad`` of the mean w.r.t.
  the predictions for the default call, the modes, probabilities, ``mask``, ``ignore_index`` and
  ``class_weights``; and 3-D inputs ``(2, 6, 5, 4, C)`` under ``jax.jit`` (output, mean and
  gradient). Options required without a default come from ``REQUIRED``. Metrics (a
  ``num_classes`` option and no ``mode``): integer maps, one-hot and bool masks, empty masks,
  their options and 3-D.
* A hand-written section for the other public functions: the combinators (``named_sum`` with
  ``weighted``, ``scheduled``, ``weight_value``, ``masked``, ``on_classes``, nested sums),
  ``deep_supervision``, ``boundary_recipe`` and its schedules, the distance transforms, soft
  morphology, surfaces, resizing, the adjacency prior and the non-adjacency loss.
* ``api|__all__|value``: the sorted public names.

An option renamed between the revisions gives its cases other names (``f|weight_type='simple'``
in A, ``f|class_weighting='simple'`` in B): ``--rename weight_type=class_weighting`` (one per
renamed option; ``FUNCTION:`` limits it to one public name) reads A's case names with the new
option name, so that the two are compared.
The hand-written section keeps the old spellings: in a revision that renamed them, they go
through the deprecated aliases (a ``DeprecationWarning``) and must still give the same results.

An outcome is the output (any pytree, flattened to arrays) or, when the call raises, the name of
the exception type. Two outcomes are equal when both raised the same type, or both gave the same
leaves with the same shapes and dtypes and ``np.testing.assert_allclose(rtol=tol, atol=tol,
equal_nan=True)`` holds: ``--tol 0`` (default) asks for identical values, NaN and inf at the same
places. The script prints the coverage of ``__all__``, a table per public name and every
differing case with its largest absolute difference; exit status 1 when any case differs, 2 when
a revision cannot be exported or evaluated.

Compiling is most of the time (about 200 s of CPU per revision on a cold start), so the workers
share a persistent XLA compilation cache (``--cache``, in the temporary directory by default;
``--cache ''`` turns it off): a program already compiled, by the other revision or an earlier
run, is loaded instead (about 60 s per revision when all are cached). The cache is keyed by the
program itself, so it changes no result.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "jaxseg_losses"
PREDICTIONS = ("predictions", "logits")
LABELS = ("labels", "targets")
IGNORE = 255  # the ignore_index of the ignore_index cases
CACHE_NAME = "jaxseg_losses_api_equivalence_xla_cache"
REDUCTIONS = ("example", "class", "pixel", "mean", "sum")
GRID_OPTIONS = {"mode", "from_logits", "mask", "ignore_index", "per_image", "reduction",
                "include_background", "class_weights", "axis_name", "num_classes"}
OTHER_VALUES = {
    "sampling": (1.0, 0.5), "label_smoothing": 0.1, "pos_weight": 2.0, "smooth": 0.5,
    "iterations": 2, "classes": "all", "weight_type": "simple", "weighting_mode": "GDL",
    "percentile": 95.0, "empty_score": 0.0, "aggregate": "sum", "pixel_reduction": "sum",
    "class_weighting": {"square": "simple", "default": "GDL"},  # {default: other value}
}


def _distance_matrix(c: int) -> np.ndarray:
    m = 1.0 - np.eye(c, dtype=np.float32)
    if c == 3:
        m[1, 2] = m[2, 1] = 0.5
    return m


REQUIRED = {"distance_matrix": _distance_matrix}  # option -> value for C classes


# ----------------------------------------------------------------------------- worker side


def _inputs(nd: int) -> SimpleNamespace:
    rng = np.random.default_rng(nd)
    shape = (2, 12, 10) if nd == 2 else (2, 6, 5, 4)
    z = {c: (rng.normal(size=(*shape, c)) * 3).astype(np.float32) for c in (1, 3)}
    y = {c: rng.integers(0, max(c, 2), shape).astype(np.int32) for c in (1, 3)}
    dropped = rng.random(shape) < 0.15
    return SimpleNamespace(
        z=z, y=y, dense=(rng.random((*shape, 3)) < 0.4).astype(np.float32),
        mask=(rng.random(shape) < 0.7).astype(np.float32),
        ignored={c: np.where(dropped, IGNORE, y[c]).astype(np.int32) for c in y},
    )


def _one_hot(y: np.ndarray, c: int) -> np.ndarray:
    return np.eye(c, dtype=np.float32)[y] if c > 1 else y[..., None].astype(np.float32)


def _probabilities(z: np.ndarray) -> np.ndarray:
    if z.shape[-1] == 1:
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
    e = np.exp(z - z.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def _scalar(out):
    """What ``jax.grad`` differentiates: the sum of the means of the float leaves (the total
    alone for a ``(total, aux)`` pair)."""
    import jax
    import jax.numpy as jnp

    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict):
        out = out[0]
    leaves = [jnp.mean(x.astype(jnp.float32)) for x in jax.tree_util.tree_leaves(out)
              if jnp.issubdtype(jnp.result_type(x), jnp.floating)]
    return sum(leaves)


def _signature(obj) -> dict[str, inspect.Parameter] | None:
    try:
        return dict(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        return None


def _classes(params) -> int:
    """C of the default call: 1 where the default mode is binary, else 3."""
    return 1 if "mode" in params and params["mode"].default == "binary" else 3


def _loss_variants(params, g2):
    """``(variant, predictions, labels, options, with_gradient)`` of the 2-D loss grid."""
    import jax.numpy as jnp

    c = _classes(params)
    z, y = g2.z[c], g2.y[c]
    out = [("default", z, y, {}, True), ("one-hot", z, _one_hot(y, c), {}, False)]
    if "mode" in params:
        out += [("mode=multiclass", g2.z[3], g2.y[3], {"mode": "multiclass"}, False),
                ("mode=multilabel", g2.z[3], g2.dense, {"mode": "multilabel"}, True),
                ("mode=binary", g2.z[1], g2.y[1], {"mode": "binary"}, True)]
    else:
        out += [("C=1", g2.z[1], g2.y[1], {}, True), ("dense-targets", g2.z[3], g2.dense, {}, True)]
    options = {
        "from_logits": ("from_logits=False", _probabilities(z), y, {"from_logits": False}, True),
        "mask": ("mask", z, y, {"mask": g2.mask}, True),
        "ignore_index": ("ignore_index", z, g2.ignored[c], {"ignore_index": IGNORE}, True),
        "class_weights": ("class_weights", z, y,
                          {"class_weights": np.array([0.2, 1.0, 2.5], np.float32)[:c]}, True),
        "per_image": ("per_image=False", z, y, {"per_image": False}, False),
        "include_background": ("include_background=False", z, y, {"include_background": False},
                               False),
    }
    out += [variant for option, variant in options.items() if option in params]
    if "reduction" in params:
        out += [(f"reduction={r}", z, y, {"reduction": r}, False) for r in REDUCTIONS]
    out += [(*v, False) for v in _option_variants(params, z, y)]
    return out + [("bfloat16", z.astype(jnp.bfloat16), y, {}, False)]


def _option_variants(params, z, y):
    """Options outside the grid: booleans flipped, ``OTHER_VALUES``, other numbers halved
    (integers + 1)."""
    out = []
    for name, p in params.items():
        if name in GRID_OPTIONS:
            continue
        if isinstance(p.default, bool):
            other = not p.default
        elif name in OTHER_VALUES:
            other = OTHER_VALUES[name]
            if isinstance(other, dict):
                other = other.get(p.default, p.default)
        elif isinstance(p.default, int | float):
            other = p.default + 1 if isinstance(p.default, int) else p.default / 2 or 0.25
        else:
            continue
        if other != p.default:
            out.append((f"{name}={other!r}", z, y, {name: other}))
    return out


def _metric_variants(params, g2, g3):
    pred, y = np.argmax(g2.z[3], -1).astype(np.int32), g2.y[3]
    n3, zeros = {"num_classes": 3}, np.zeros_like(y)
    oh_pred, oh_y = _one_hot(pred, 3), _one_hot(y, 3)
    out = [("labels", pred, y, n3), ("one-hot", oh_pred, oh_y, {}),
           ("bool", oh_pred > 0.5, oh_y > 0.5, {}),
           ("empty-prediction", zeros, y, n3), ("both-empty", zeros, zeros, n3),
           ("3-D", np.argmax(g3.z[3], -1).astype(np.int32), g3.y[3], n3)]
    if "include_background" in params:
        out.append(("include_background=False", pred, y, {**n3, "include_background": False}))
    return out + [(v, p, t, {**n3, **kw}) for v, p, t, kw in _option_variants(params, pred, y)]


def _generic_cases(J, name, params, g2, g3, cases):
    """Adds the grid cases of a (predictions, labels) function; returns a reason to skip it."""
    import jax

    fn = getattr(J, name)
    missing = [k for k, p in list(params.items())[2:] if p.default is inspect.Parameter.empty
               and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and k not in REQUIRED]
    if missing:
        return f"required option(s) {missing} with no value in REQUIRED"
    required = lambda c: {k: REQUIRED[k](c) for k in params if k in REQUIRED}
    if "num_classes" in params and "mode" not in params:  # a metric of hard segmentations
        for variant, z, y, kw in _metric_variants(params, g2, g3):
            cases[f"{name}|{variant}|value"] = lambda z=z, y=y, kw=kw: fn(z, y, **kw)
        return None
    for variant, z, y, kw, with_gradient in _loss_variants(params, g2):
        kw = {**required(z.shape[-1]), **kw}
        cases[f"{name}|{variant}|value"] = lambda z=z, y=y, kw=kw: fn(z, y, **kw)
        if with_gradient:
            cases[f"{name}|{variant}|grad"] = (
                lambda z=z, y=y, kw=kw: jax.grad(lambda p: _scalar(fn(p, y, **kw)))(z))
    # 3-D under jit: one compilation for the output, the mean and its gradient.
    c = _classes(params)
    kw = required(c)
    with_output = lambda p, t: (_scalar(out := fn(p, t, **kw)), out)
    cases[f"{name}|3-D|jit|value_and_grad"] = lambda: jax.jit(
        jax.value_and_grad(with_output, has_aux=True))(g3.z[c], g3.y[c])
    return None


class _Recorder:
    """The package, recording which public names the hand-written cases use."""

    def __init__(self, module):
        self._module, self.used = module, set()

    def __getattr__(self, name):
        self.used.add(name)
        return getattr(self._module, name)


def _hand_cases(J, g2, g3, cases):
    """Combinators, transforms and the adjacency prior. Public names are looked up when a case
    runs, so a missing one is an outcome (AttributeError)."""
    import jax
    import optax

    z, y, m, yi = g2.z[3], g2.y[3], g2.mask, g2.ignored[3]
    p, p3, oh, fg = _probabilities(z), _probabilities(g3.z[3]), _one_hot(y, 3), g2.y[1] > 0
    oh3, half, quarter = _one_hot(g3.y[3], 3), z[:, ::2, ::2], z[:, ::4, ::4]
    prior = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 1]], np.float32)
    schedule = optax.linear_schedule(0.0, 1.0, 10)
    steps = np.array([0, 9, 10, 250, 5000])

    def value(key, thunk):
        cases[f"{key}|value"] = thunk

    def pair(key, fn, x, grad=True):  # value and gradient of fn(x)
        cases[f"{key}|value"] = lambda: fn(x)
        if grad:
            cases[f"{key}|grad"] = lambda: jax.grad(lambda q: _scalar(fn(q)))(x)

    def loss(key, make, zz=z, yy=y, grad=True, **kw):  # make(): the loss, built in the case
        pair(key, lambda q: make()(q, yy, **kw), zz, grad)

    def call(key, *args, **kw):  # the function named by the key, called with plain inputs
        value(key, lambda: getattr(J, key.split("|")[0])(*args, **kw))

    dice_ce = lambda: J.named_sum(("dice", J.dice_loss), ("ce", J.cross_entropy))
    nested = lambda: J.named_sum(
        ("outer", J.named_sum(("dice", J.dice_loss), ("jaccard", J.jaccard_loss, 0.5))),
        ("ce", J.cross_entropy, schedule))
    with_schedule = lambda: J.named_sum(
        ("ce", J.cross_entropy), ("dice", J.scheduled(J.dice_loss, schedule, smooth=1.0)))
    with_weights = lambda: J.named_sum(
        ("ce", J.weighted(J.cross_entropy, 0.5, label_smoothing=0.1)), ("focal", J.focal_loss, 2))
    foreground = lambda q, t: (t > 0).astype(np.float32)
    loss("named_sum|dice+ce", dice_ce)
    loss("named_sum|dice+ce|mask", dice_ce, mask=m)
    loss("named_sum|dice+ce|ignore_index", dice_ce, yy=yi, ignore_index=IGNORE)
    loss("named_sum|dice+ce|one-hot+step", dice_ce, yy=oh, step=3)
    loss("named_sum|nested", nested, step=4)
    value("named_sum|option-no-term-takes", lambda: dice_ce()(z, y, sampling=(1.0, 1.0)))
    value("named_sum|accepted_kwargs", lambda: sorted(dice_ce().accepted_kwargs.names))
    value("named_sum|duplicate-names", lambda: J.named_sum(("a", J.dice_loss), ("a", J.dice_loss)))
    for step in (0, 5):
        loss(f"scheduled|step={step}", with_schedule, step=step)
    value("scheduled|not-a-schedule", lambda: J.scheduled(J.dice_loss, 0.5).weight)
    loss("weighted", with_weights)
    value("weighted|unknown-option", lambda: J.weighted(J.dice_loss, 1, label_smoothing=0.1).weight)
    call("weight_value|schedule", schedule, 4)
    call("weight_value|number", 0.25, 0)
    call("weight_value|not-scalar", schedule, steps)
    loss("masked|callable", lambda: J.masked(J.cross_entropy, foreground))
    loss("masked|callable+mask", lambda: J.masked(J.cross_entropy, foreground), mask=m)
    loss("masked|array", lambda: J.masked(J.dice_loss, m))
    loss("on_classes|dice_loss[1,2]", lambda: J.on_classes(J.dice_loss, [1, 2]))
    loss("on_classes|lovasz_softmax_loss[0]+mask",
         lambda: J.on_classes(J.lovasz_softmax_loss, [0]), mask=m)
    value("on_classes|cross_entropy", lambda: J.on_classes(J.cross_entropy, [0])(z, y))
    value("on_classes|out-of-range", lambda: J.on_classes(J.dice_loss, [3])(z, y))
    loss("deep_supervision|dice_loss", lambda: J.deep_supervision(J.dice_loss), zz=[z, half])
    loss("deep_supervision|weights+mask", lambda: J.deep_supervision(
        J.cross_entropy, weights=[1.0, 0.3]), zz=[z, half], mask=m)
    loss("deep_supervision|two|one-hot", lambda: J.deep_supervision(
        J.focal_loss, weight_mode="two"), zz=[z, half], yy=oh, grad=False)
    loss("deep_supervision|named_sum", lambda: J.deep_supervision(
        dice_ce(), weight_mode="same"), zz=[z, half, quarter], grad=False)
    call("deep_supervision_weights|6", 6)
    call("deep_supervision_weights|3|two", 3, weight_mode="two")
    call("deep_supervision_weights|2|weights", 2, weights=[0.5, 0.25, 1.0])
    call("deep_supervision_weights|4|bad-mode", 4, weight_mode="half")
    for variant, kw in (("code", {}), ("paper", {"variant": "paper", "rate": 0.05}),
                        ("steps_per_epoch=10", {"steps_per_epoch": 10})):
        value(f"boundary_weight_schedules|{variant}",
              lambda kw=kw: [s(steps) for s in J.boundary_weight_schedules(**kw)])
    for variant, step in (("code", 0), ("code", 250), ("paper", 250)):
        loss(f"boundary_recipe|{variant}|step={step}",
             lambda v=variant: J.boundary_recipe(variant=v, steps_per_epoch=100), step=step)
    loss("boundary_recipe|include_background+sampling",
         lambda: J.boundary_recipe(boundary_include_background=True), sampling=(1.0, 0.5), step=50)

    full = np.stack([fg[0], np.ones_like(fg[0])])  # the second image has no background
    call("distance_transform_edt|2-D", fg)
    call("distance_transform_edt|sampling", fg, sampling=(1.0, 0.5))
    call("distance_transform_edt|sampling=2", fg, sampling=2.0)
    call("distance_transform_edt|full", full)
    call("distance_transform_edt|full|fill_value", full, fill_value=-1.0)
    call("distance_transform_edt|spatial_dims=1", fg, spatial_dims=1)
    call("distance_transform_edt|int", y)
    call("distance_transform_edt|3-D", g3.y[1] > 0)
    call("distance_transform_edt|bad-sampling", fg, sampling=(1.0,))
    call("signed_distance_map|labels", y, num_classes=3)
    call("signed_distance_map|one-hot", oh)
    call("signed_distance_map|sampling", y, num_classes=3, sampling=(1.0, 0.5))
    call("signed_distance_map|inside_offset", y, num_classes=3, sampling=(1.0, 0.5),
         inside_offset=1.0)
    call("signed_distance_map|3-D", g3.y[3], num_classes=3)
    call("signed_distance_map|rank-1", y[0, 0], num_classes=3)
    call("distance_field|probabilities", p[..., 1])
    call("distance_field|threshold", p[..., 1], threshold=0.2)
    call("distance_field|sampling", fg, sampling=(0.5, 2.0))
    call("distance_field|spatial_dims=1", p[..., 0], spatial_dims=1)
    call("distance_field|3-D", p3[..., 2])
    call("boundary_weight_map|2-D", oh > 0.5)
    call("boundary_weight_map|sampling", oh > 0.5, sampling=(1.0, 0.5))
    call("boundary_weight_map|3-D", oh3 > 0.5)
    call("surface_mask|2-D", oh > 0.5)
    call("surface_mask|3-D", oh3 > 0.5)
    call("resize_nearest|labels", y, (6, 5))
    call("resize_nearest|channels_last", z, (7, 13), channels_last=True)
    call("resize_nearest|3-D", g3.y[3], (3, 7, 2))
    for name in ("soft_erode", "soft_dilate", "soft_skeleton"):
        pair(name, lambda q, name=name: getattr(J, name)(q), p)
        pair(f"{name}|3-D", lambda q, name=name: getattr(J, name)(q), p3, grad=False)
    pair("soft_skeleton|iterations=5", lambda q: J.soft_skeleton(q, iterations=5), p)
    value("overlap_statistics|sum_p", lambda: J.overlap_statistics(z, y).sum_p)

    call("adjacency_matrix|labels", y, num_classes=3)
    call("adjacency_matrix|connectivity=4", y, num_classes=3, connectivity=4)
    call("adjacency_matrix|include_self+normalize", y, num_classes=3, include_self=True,
         normalize=True)
    call("adjacency_matrix|ignore_index", yi, num_classes=3, ignore_index=IGNORE)
    call("adjacency_matrix|one-hot", oh)
    call("adjacency_matrix|3-D|connectivity=6", g3.y[3], num_classes=3, connectivity=6)
    call("adjacency_matrix|bad-connectivity", y, num_classes=3, connectivity=5)

    def accumulated(batches=(y, g3.y[3]), **kw):
        accumulator = J.adjacency_prior(3, **kw)
        state = accumulator.init()
        for batch in batches:
            state = accumulator.update(state, batch)
        return state

    value("adjacency_prior|2-D+3-D", accumulated)
    value("adjacency_prior|connectivity=4", lambda: accumulated((y,), connectivity=4))
    value("adjacency_prior|ignore_index+include_self",
          lambda: accumulated((yi,), ignore_index=IGNORE, include_self=True))
    value("allowed_pairs|state", lambda: J.allowed_pairs(accumulated()))
    call("allowed_pairs|matrix", prior)
    value("forbidden_pairs|threshold", lambda: J.forbidden_pairs(accumulated(), threshold=40.0))
    pair("soft_adjacency", lambda q: J.soft_adjacency(q), p)
    pair("soft_adjacency|normalize+mask", lambda q: J.soft_adjacency(q, normalize=True, mask=m), p)
    pair("soft_adjacency|connectivity=4+include_self",
         lambda q: J.soft_adjacency(q, connectivity=4, include_self=True), p)
    pair("soft_adjacency|3-D", lambda q: J.soft_adjacency(q), p3)
    nonadjacency = lambda: J.nonadjacency_loss  # (predictions, prior): prior in the labels' place
    for key, kw in (("default", {}), ("mask", {"mask": m}), ("weight=0.5", {"weight": 0.5}),
                    ("mode=multilabel", {"mode": "multilabel"})):
        loss(f"nonadjacency_loss|{key}", nonadjacency, yy=prior, **kw)
    for key, kw in (("connectivity=4", {"connectivity": 4}),
                    ("include_self", {"include_self": True})):
        loss(f"nonadjacency_loss|{key}", nonadjacency, yy=prior, grad=False, **kw)
    loss("nonadjacency_loss|from_logits=False", nonadjacency, zz=p, yy=prior, from_logits=False)
    loss("nonadjacency_loss|3-D", nonadjacency, zz=g3.z[3], yy=prior, grad=False)
    value("nonadjacency_loss|state", lambda: J.nonadjacency_loss(z, accumulated()))
    call("nonadjacency_loss|mode=binary", g2.z[1], prior[:1, :1], mode="binary")
    loss("nonadjacency_term", lambda: J.nonadjacency_term(prior, connectivity=4), yy=None)
    loss("nonadjacency_term|named_sum", lambda: J.named_sum(
        ("ce", J.cross_entropy), ("adjacency", J.nonadjacency_term(prior), 0.1)), mask=m)


def _flatten(out, path=""):
    """(path, numpy array) leaves of an output; objects that are not arrays as their type."""
    if isinstance(out, dict):
        return [leaf for k in sorted(out) for leaf in _flatten(out[k], f"{path}/{k}")]
    if isinstance(out, tuple) and hasattr(out, "_fields"):
        return [leaf for k in out._fields for leaf in _flatten(getattr(out, k), f"{path}/{k}")]
    if isinstance(out, (tuple, list)):
        return [leaf for i, x in enumerate(out) for leaf in _flatten(x, f"{path}/{i}")]
    arr = np.asarray(out)
    return [(path.lstrip("/"), arr if arr.dtype != object else np.array(f"<{type(out).__name__}>"))]


def worker(out_path: str, only: str, expected_root: str, cache: str) -> None:
    """Evaluates every case with the package on PYTHONPATH and saves the outcomes."""
    import warnings

    import jax

    warnings.filterwarnings("ignore")
    if cache:  # compiled programs keyed by their HLO: a program already compiled is loaded
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_compilation_cache_max_size", 2**31)  # LRU, with a file lock

    import jaxseg_losses as J

    if not Path(J.__file__).resolve().is_relative_to(Path(expected_root).resolve()):
        raise SystemExit(f"imported {J.__file__}, not the package under {expected_root}")
    g2, g3 = _inputs(2), _inputs(3)
    names = sorted(J.__all__)
    cases, skipped, takes_predictions = {"api|__all__|value": lambda: names}, {}, []
    for name in names:
        obj = getattr(J, name)
        params = _signature(obj) if callable(obj) else None
        if inspect.isclass(obj):
            skipped[name] = "class (exercised through the functions that build or return it)"
            continue
        first = list(params)[:2] if params else []
        if first and first[0] in PREDICTIONS + ("probabilities",):
            takes_predictions.append(name)
        if len(first) == 2 and first[0] in PREDICTIONS and first[1] in LABELS:
            reason = _generic_cases(J, name, params, g2, g3, cases)
            if reason:
                skipped[name] = reason
    recorder = _Recorder(J)
    _hand_cases(recorder, g2, g3, cases)
    selected = {k: v for k, v in cases.items() if re.search(only, k)}
    manifest, arrays, start, cpu = {}, {}, time.perf_counter(), time.process_time()
    for case, thunk in selected.items():
        try:
            leaves = _flatten(thunk())
        except Exception as e:  # noqa: BLE001 (an exception is an outcome)
            manifest[case] = {"raised": type(e).__name__}
            continue
        entry = manifest[case] = {"leaves": {}}
        for path, arr in leaves:
            key = f"a{len(arrays)}"
            entry["leaves"][path] = [key, arr.dtype.name]
            # bfloat16 & co. are stored as float32 (exact); the manifest keeps the dtype.
            arrays[key] = arr if arr.dtype.kind in "biufcUS" else arr.astype(np.float32)
    used = recorder.used | {case.split("|")[0] for case in selected}
    for name in names:
        if name not in used and name not in skipped:
            skipped[name] = "not exercised by the grid or the hand-written cases"
    meta = {"file": J.__file__, "seconds": time.perf_counter() - start, "names": names,
            "cpu_seconds": time.process_time() - cpu,
            "takes_predictions": takes_predictions, "covered": sorted(used & set(names)),
            "skipped": {k: v for k, v in skipped.items() if k not in used}}
    np.savez(out_path, __manifest__=np.array(json.dumps({"cases": manifest, "meta": meta})),
             **arrays)


# ----------------------------------------------------------------------------- parent side


def _export(rev: str, dest: Path) -> str:
    """Writes the package of ``rev`` under ``dest``; returns a description of the revision."""
    dest.mkdir(parents=True)
    if rev == "WORK":
        shutil.copytree(ROOT / PACKAGE, dest / PACKAGE,
                        ignore=shutil.ignore_patterns("__pycache__"))
        return "working tree"
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", f"{rev}^{{commit}}"],
                            capture_output=True, check=True).stdout.decode().strip()
    archive = subprocess.run([*git, "archive", commit, PACKAGE], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return commit


def _leaf_diff(a: np.ndarray, b: np.ndarray, tol: float) -> tuple[str, float] | None:
    """``None`` when equal, else a description and the largest finite absolute difference."""
    if a.shape != b.shape:
        return f"shape {a.shape} vs {b.shape}", np.nan
    if a.dtype.kind in "USO" or b.dtype.kind in "USO":
        return None if np.array_equal(a, b) else ("values differ", np.nan)
    a, b = a.astype(np.float64), b.astype(np.float64)
    try:
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol, equal_nan=True)
        return None
    except AssertionError:
        pass
    finite = np.isfinite(a) & np.isfinite(b)
    delta = np.abs(a - b)[finite]
    worst = float(delta.max()) if delta.size else np.nan
    bad = int(np.sum(~np.isclose(a, b, rtol=tol, atol=tol, equal_nan=True)))
    text = f"max abs diff {worst:.3g} ({bad}/{a.size} elements)"
    if not np.array_equal(np.where(finite, 0, a), np.where(finite, 0, b), equal_nan=True):
        text += ", NaN/inf positions differ"
    return text, worst


def compare_case(a, b, data_a, data_b, tol: float) -> tuple[str, float] | None:
    """``None`` when the two outcomes of a case are equal, else (description, max abs diff)."""
    if a is None or b is None:
        return ("only in " + ("B" if a is None else "A")), np.nan
    if "raised" in a or "raised" in b:
        if a.get("raised") == b.get("raised"):
            return None
        describe = lambda o: f"raised {o['raised']}" if "raised" in o else "returned"
        return f"A {describe(a)}, B {describe(b)}", np.nan
    if a["leaves"].keys() != b["leaves"].keys():
        return f"output structure {sorted(a['leaves'])} vs {sorted(b['leaves'])}", np.nan
    problems, worst = [], np.nan
    for path, (key_a, dtype_a) in a["leaves"].items():
        key_b, dtype_b = b["leaves"][path]
        if dtype_a != dtype_b:
            problems.append(f"{path or 'output'}: dtype {dtype_a} vs {dtype_b}")
            continue
        diff = _leaf_diff(data_a[key_a], data_b[key_b], tol)
        if diff:
            problems.append(f"{path or 'output'}: {diff[0]}")
            worst = np.fmax(worst, diff[1])
    return ("; ".join(problems), worst) if problems else None


def _coverage_lines(meta: dict) -> list[str]:
    covered, names, takes = set(meta["covered"]), meta["names"], meta["takes_predictions"]
    lines = [f"covered: {len(covered & set(takes))}/{len(takes)} public names taking "
             f"predictions, {len(covered)}/{len(names)} names of __all__"]
    return lines + [f"  skipped {name}: {why}" for name, why in sorted(meta["skipped"].items())]


def _renamed_cases(cases: dict, renames: list[str]) -> dict:
    """``cases`` with each ``|OLD=`` of a case name (an option variant) read as ``|NEW=``, for
    every function or, after ``FUNCTION:``, for that one."""
    pairs = []
    for r in renames:
        where, _, rename = r.rpartition(":")
        old, _, new = rename.partition("=")
        if not (old and new):
            _fail(f"--rename: expected [FUNCTION:]OLD=NEW; got {r!r}")
        pairs.append((where, old, new))
    out = {}
    for case, outcome in cases.items():
        for where, old, new in pairs:
            if not where or case.split("|", 1)[0] == where:
                case = case.replace(f"|{old}=", f"|{new}=")
        out[case] = outcome
    return out


def _fail(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(2)


def _evaluate(revs, only: str, cache: str):
    """Exports both revisions and runs a worker for each, side by side; returns the loaded
    outcomes and the revision descriptions."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp, described, running = Path(tmp), [], []
        for i, rev in enumerate(revs):
            src = tmp / f"src{i}"
            try:
                described.append(_export(rev, src))
            except subprocess.CalledProcessError as e:
                _fail(f"cannot export {rev!r}: {(e.stderr or b'').decode().strip()}")
            env = {**os.environ, "PYTHONPATH": str(src), "JAX_PLATFORMS": "cpu"}
            with open(tmp / f"log{i}.txt", "w") as log:
                running.append(subprocess.Popen(
                    [sys.executable, __file__, "--worker", str(tmp / f"out{i}.npz"), only,
                     str(src), cache], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp))
        for i, proc in enumerate(running):
            if proc.wait():
                log = (tmp / f"log{i}.txt").read_text()[-3000:]
                _fail(f"evaluation of {revs[i]} failed (exit {proc.returncode}):\n{log}")
        loaded = []
        for i in range(2):
            with np.load(tmp / f"out{i}.npz") as data:
                manifest = json.loads(str(data["__manifest__"]))
                loaded.append((manifest["cases"], manifest["meta"],
                                {k: data[k] for k in data.files if k != "__manifest__"}))
    return loaded, described


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        worker(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev_a", help="git revision, or WORK for the working tree")
    parser.add_argument("rev_b", help="git revision, or WORK for the working tree")
    parser.add_argument("--tol", type=float, default=0.0,
                        help="rtol = atol of assert_allclose; 0 (default): identical values")
    parser.add_argument("--only", default="", help="regular expression: the cases to run")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / CACHE_NAME),
                        help="XLA compilation cache directory, '' for none (default: %(default)s)")
    parser.add_argument("--rename", action="append", default=[], metavar="[FUNCTION:]OLD=NEW",
                        help="an option renamed from A to B: A's cases read with the new name")
    args = parser.parse_args()
    revs, start = (args.rev_a, args.rev_b), time.perf_counter()
    ((cases_a, meta_a, data_a), (cases_b, meta_b, data_b)), described = _evaluate(
        revs, args.only, args.cache)
    cases_a = _renamed_cases(cases_a, args.rename)
    results = {case: compare_case(cases_a.get(case), cases_b.get(case), data_a, data_b, args.tol)
               for case in sorted(cases_a.keys() | cases_b.keys())}

    print(f"A = {revs[0]} ({described[0]}), B = {revs[1]} ({described[1]}); tol {args.tol:g}"
          f"{' (identical values)' if args.tol == 0 else ''}"
          f"{f'; cases matching {args.only!r}' if args.only else ''}")
    lines_a, lines_b = _coverage_lines(meta_a), _coverage_lines(meta_b)
    for label, lines in ((("A and B", lines_a),) if lines_a == lines_b
                         else (("A", lines_a), ("B", lines_b))):
        print(f"{label} " + "\n".join(lines))
    print(f"evaluation (side by side): A {meta_a['seconds']:.0f} s ({meta_a['cpu_seconds']:.0f} s "
          f"CPU), B {meta_b['seconds']:.0f} s ({meta_b['cpu_seconds']:.0f} s CPU); "
          f"total {time.perf_counter() - start:.0f} s\n")

    rows = defaultdict(lambda: [0, 0, 0, 0, np.nan])  # cases, equal, raised in both, differ, diff
    for case, diff in results.items():
        row = rows[case.split("|")[0]]
        row[0] += 1
        if diff is None:
            row[1] += 1
            row[2] += "raised" in cases_a[case]
        else:
            row[3] += 1
            row[4] = np.fmax(row[4], diff[1])
    print("| name | cases | equal | raised in both | differ | max abs diff |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (n, equal, raised, differ, worst) in sorted(rows.items()):
        print(f"| {name} | {n} | {equal} | {raised} | {differ} | "
              f"{'-' if np.isnan(worst) else f'{worst:.3g}'} |")
    differing = {case: diff for case, diff in results.items() if diff is not None}
    print(f"\n{len(results)} cases: {len(results) - len(differing)} equal, "
          f"{len(differing)} differ")
    for case, (text, _) in differing.items():
        print(f"  {case}: {text}")
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
