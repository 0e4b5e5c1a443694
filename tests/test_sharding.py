"""Losses and combinators with the batch sharded over 8 (forced CPU) devices.

Three settings, each compared with the unsharded computation (values and gradients, 1e-6):

* ``jax.jit`` on inputs placed with ``NamedSharding(mesh, P("data"))``, under meshes of both axis
  types (``AxisType.Explicit``, the ``jax.make_mesh`` default, and ``AxisType.Auto``);
* ``jax.shard_map`` with ``axis_name`` for the batch-global statistics (``per_image=False``);
* the combinators and compound losses, with ``axis_name`` routed to their region terms.

The labels split the classes unevenly over the devices (an empty image, images without class 2,
images dominated by it), so a mean of per-device ratios would differ from the global ratio.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxseg_losses import (
    boundary,
    combine,
    contour,
    distance,
    lovasz,
    pixelwise,
    recipes,
    region,
    topology,
)
from tests.helpers import random_logits

NDEV = 8
B, H, W, C = 8, 8, 8, 3
ATOL = RTOL = 1e-6

pytestmark = pytest.mark.skipif(
    jax.device_count() < NDEV, reason="needs 8 devices (tests/conftest.py forces 8 CPU devices)"
)


def _uneven_labels() -> np.ndarray:
    """One example per device; the class content differs a lot between devices."""
    rng = np.random.default_rng(7)
    labels = np.zeros((B, H, W), np.int32)  # example 0: background only
    labels[1, 2:4, 3:6] = 1  # a small object of class 1
    labels[2, 1:7, 1:7] = 1
    labels[3] = (rng.random((H, W)) > 0.7).astype(np.int32)
    for b in range(4, B):  # class 2 dominates the second half of the batch
        labels[b] = rng.choice(3, size=(H, W), p=[0.2, 0.1, 0.7])
    labels[7, :, :] = 2  # a class filling the whole image
    return labels


LOGITS = random_logits(11, (B, H, W, C), scale=2.0)
LABELS = _uneven_labels()
BIN_LOGITS = LOGITS[..., :1]
BIN_LABELS = (LABELS > 0).astype(np.int32)
MASK = (np.random.default_rng(3).random((B, H, W)) > 0.2).astype(np.float32)


def _mesh(axis_type: str):
    kind = AxisType.Explicit if axis_type == "explicit" else AxisType.Auto
    return jax.make_mesh((NDEV,), ("data",), axis_types=(kind,))


def _put(mesh, *arrays):
    sharding = NamedSharding(mesh, P("data"))
    return tuple(jax.device_put(jnp.asarray(a), sharding) for a in arrays)


def _value_and_grad(loss):
    """Jitted ``(p, y) -> (loss(p, y), d sum(loss) / dp)`` for a ``(B,)`` loss."""

    def both(p, y):
        value, vjp = jax.vjp(lambda q: loss(q, y), p)
        return value, vjp(jnp.ones_like(value))[0]

    return jax.jit(both)


# --------------------------------------------------------------------------- loss cases

# (id, loss(predictions, labels) -> (B,), predictions, labels). Each has a gradient.
CASES = {
    # pixel-wise
    "cross_entropy": (functools.partial(pixelwise.cross_entropy, mask=MASK), LOGITS, LABELS),
    "bce_multilabel": (pixelwise.binary_cross_entropy, LOGITS, LABELS),
    "focal_softmax": (pixelwise.focal_loss, LOGITS, LABELS),
    "weighted_ce_balanced": (pixelwise.weighted_cross_entropy, LOGITS, LABELS),
    # NACL: its target is a convolution of the labels over the (unsharded) spatial axes
    "nacl_gaussian": (functools.partial(pixelwise.nacl_loss, kernel="gaussian", mask=MASK),
                      LOGITS, LABELS),
    # region (region.py), per image and batch-global
    "dice": (region.dice_loss, LOGITS, LABELS),
    "dice_global_masked": (
        functools.partial(region.dice_loss, per_image=False, mask=MASK), LOGITS, LABELS
    ),
    "jaccard_global": (functools.partial(region.jaccard_loss, per_image=False), LOGITS, LABELS),
    "tversky_global": (functools.partial(region.tversky_loss, per_image=False), LOGITS, LABELS),
    "sens_spec_global": (
        functools.partial(region.sensitivity_specificity_loss, per_image=False), LOGITS, LABELS
    ),
    "gdl": (region.generalized_dice_loss, LOGITS, LABELS),
    "gdl_global": (
        functools.partial(region.generalized_dice_loss, per_image=False), LOGITS, LABELS
    ),
    "exp_log_global": (functools.partial(region.exp_log_loss, per_image=False), LOGITS, LABELS),
    "mcc_global": (functools.partial(region.mcc_loss, per_image=False), LOGITS, LABELS),
    "cldice": (topology.cldice_loss, LOGITS, LABELS),
    "distance_penalized_dice": (boundary.distance_penalized_dice_loss, LOGITS, LABELS),
    # Lovász, per image (batch mode: see the dedicated tests below)
    "lovasz_softmax": (lovasz.lovasz_softmax_loss, LOGITS, LABELS),
    "lovasz_hinge": (lovasz.lovasz_hinge_loss, BIN_LOGITS, BIN_LABELS),
    # distance-based (EDT on device)
    "boundary": (boundary.boundary_loss, LOGITS, LABELS),
    "boundary_aniso": (
        functools.partial(boundary.boundary_loss, sampling=(1.0, 2.5), include_background=False),
        LOGITS, LABELS,
    ),
    "hausdorff_dt": (boundary.hausdorff_dt_loss, LOGITS, LABELS),
    "distance_penalized_ce": (boundary.distance_penalized_cross_entropy, LOGITS, LABELS),
    "active_contour": (contour.active_contour_loss, BIN_LOGITS, BIN_LABELS),
    # combinators and compound losses
    "named_sum": (
        lambda p, y: combine.named_sum(
            ("dice", region.dice_loss),
            ("ce", pixelwise.cross_entropy, 0.5),
            ("focal", pixelwise.focal_loss, lambda s: 0.01 * (s + 1)),
            ("fg", combine.on_classes(region.jaccard_loss, [1, 2])),
        )(p, y, step=4, per_image=False, mask=MASK)[0],
        LOGITS, LABELS,
    ),
    "dice_ce_global": (
        functools.partial(recipes.dice_ce_loss, per_image=False), LOGITS, LABELS
    ),
    "combo": (recipes.combo_loss, BIN_LOGITS, BIN_LABELS),
    "boundary_recipe": (
        lambda p, y: recipes.boundary_recipe(steps_per_epoch=2)(p, y, step=9)[0], LOGITS, LABELS
    ),
}

def _assert_close(actual, expected, name=""):
    value, grad = actual
    np.testing.assert_allclose(
        np.asarray(value), np.asarray(expected[0]), rtol=RTOL, atol=ATOL, err_msg=f"{name} value"
    )
    np.testing.assert_allclose(
        np.asarray(grad), np.asarray(expected[1]), rtol=RTOL, atol=ATOL, err_msg=f"{name} grad"
    )


def _many_values_and_grads(losses):
    """One jitted program: ``{name: (p, y)} -> {name: (loss(p, y), d sum(loss) / dp)}``.

    Compiling a family at once keeps the file fast (a compile per case dominates the runtime).
    """

    def run(inputs):
        out = {}
        for name, (p, y) in inputs.items():
            value, vjp = jax.vjp(lambda q, fn=losses[name], y=y: fn(q, y), p)
            out[name] = (value, vjp(jnp.ones_like(value))[0])
        return out

    return jax.jit(run)


# Families compiled together. Under an Explicit mesh the distance transform runs per device in
# a shard_map (distance._edt), since its flattened line layout cannot merge a sharded batch axis.
GROUPS = {
    "pixelwise": ("cross_entropy", "bce_multilabel", "focal_softmax", "weighted_ce_balanced",
                  "nacl_gaussian"),
    "region": (
        "dice", "dice_global_masked", "jaccard_global", "tversky_global", "sens_spec_global",
        "gdl", "gdl_global", "exp_log_global", "mcc_global",
    ),
    "lovasz": ("lovasz_softmax", "lovasz_hinge"),
    "contour_topology": ("active_contour", "cldice"),
    "combinators": ("named_sum", "dice_ce_global", "combo"),
    "distance_edt": (
        "boundary", "boundary_aniso", "hausdorff_dt", "distance_penalized_ce",
        "distance_penalized_dice", "boundary_recipe",
    ),
}
assert sorted(sum(GROUPS.values(), ())) == sorted(CASES), "every case belongs to one group"

_REFERENCE: dict[str, dict] = {}


def _group_reference(group):
    """Unsharded values and gradients of a family, computed once."""
    if group not in _REFERENCE:
        names = GROUPS[group]
        run = _many_values_and_grads({n: CASES[n][0] for n in names})
        _REFERENCE[group] = run({n: (jnp.asarray(CASES[n][1]), CASES[n][2]) for n in names})
    return _REFERENCE[group]


# Every family under the Explicit mesh (the default of jax.make_mesh, where sharding errors
# surface); under Auto, which accepts every op, the families most likely to differ.
AUTO_GROUPS = ("region", "combinators", "distance_edt")


@pytest.mark.slow
@pytest.mark.parametrize(
    "group, axis_type",
    [pytest.param(g, "explicit", marks=[])
     for g in GROUPS]
    + [(g, "auto") for g in AUTO_GROUPS],
)
def test_batch_sharded_jit_matches_unsharded(group, axis_type):
    names = GROUPS[group]
    expected = _group_reference(group)
    mesh = _mesh(axis_type)
    with jax.set_mesh(mesh):
        inputs = {n: _put(mesh, CASES[n][1], CASES[n][2]) for n in names}
        actual = _many_values_and_grads({n: CASES[n][0] for n in names})(inputs)
    for name in names:
        _assert_close(actual[name], expected[name], name)
        if axis_type == "explicit":
            assert actual[name][1].sharding.spec[0] == "data", name  # the gradient stays sharded


# --------------------------------------------------------------------------- shard_map


def _shard_mapped(loss, mesh):
    """``loss`` run per device on its batch shard; the ``(B,)`` outputs are concatenated."""
    return jax.shard_map(loss, mesh=mesh, in_specs=(P("data"), P("data")), out_specs=P("data"))


# (loss, options, masked): masked cases pass a mask, which travels with the labels.
GLOBAL_CASES = {
    "dice": (region.dice_loss, {}, False),
    "dice_masked_squared": (region.dice_loss, {"squared": True}, True),
    "sens_spec": (region.sensitivity_specificity_loss, {}, False),
    "gdl_masked": (region.generalized_dice_loss, {}, True),
    "exp_log": (region.exp_log_loss, {}, False),
    "mcc": (region.mcc_loss, {}, False),
    "wasserstein_dice": (
        region.generalized_wasserstein_dice_loss,
        {"distance_matrix": 1.0 - np.eye(C, dtype=np.float32)}, False,
    ),
    "penalty_gdl": (region.penalty_generalized_dice_loss, {}, False),
    "dice_ce": (recipes.dice_ce_loss, {}, False),
    "bce_dice": (recipes.bce_dice_loss, {"mode": "multilabel"}, False),
    "dice_focal_masked": (recipes.dice_focal_loss, {}, True),
    "combo_multilabel": (recipes.combo_loss, {"mode": "multilabel"}, False),
}


def _bind(fn, options, masked):
    """``(p, y) -> (B,)``; with ``masked`` the labels carry the mask as a second channel."""
    if not masked:
        return lambda p, y: fn(p, y, **options)
    return lambda p, y: fn(p, y[..., 0].astype(jnp.int32), mask=y[..., 1], **options)


def _global_inputs():
    masked_labels = np.stack([LABELS, MASK], -1).astype(np.float32)
    return {
        name: (LOGITS, masked_labels if masked else LABELS)
        for name, (_, _, masked) in GLOBAL_CASES.items()
    }


_GLOBAL_REFERENCE: dict = {}


def _global_reference():
    """Unsharded batch-global values and gradients of GLOBAL_CASES, computed once."""
    if not _GLOBAL_REFERENCE:
        losses = {
            name: _bind(fn, {**options, "per_image": False}, masked)
            for name, (fn, options, masked) in GLOBAL_CASES.items()
        }
        inputs = {n: (jnp.asarray(p), jnp.asarray(y)) for n, (p, y) in _global_inputs().items()}
        _GLOBAL_REFERENCE.update(_many_values_and_grads(losses)(inputs))
    return _GLOBAL_REFERENCE


@pytest.mark.slow
@pytest.mark.parametrize(
    "axis_type, names",
    [("explicit", tuple(GLOBAL_CASES)), ("auto", ("dice_masked_squared", "dice_ce"))],
)
def test_shard_map_axis_name_gives_batch_global_statistics(axis_type, names):
    mesh = _mesh(axis_type)
    expected = _global_reference()
    local_losses = {}
    for name in names:
        fn, options, masked = GLOBAL_CASES[name]
        local = _bind(fn, {**options, "per_image": False, "axis_name": "data"}, masked)
        local_losses[name] = _shard_mapped(local, mesh)
    inputs = _global_inputs()
    actual = _many_values_and_grads(local_losses)({n: _put(mesh, *inputs[n]) for n in names})
    for name in names:
        _assert_close(actual[name], expected[name], name)


def test_shard_map_without_axis_name_is_a_mean_of_ratios():
    """Sanity check of the data: per-device batch statistics differ from the global ones."""
    mesh = _mesh("auto")
    per_device = _shard_mapped(lambda p, y: region.dice_loss(p, y, per_image=False), mesh)
    local = jax.jit(per_device)(*_put(mesh, LOGITS, LABELS))
    global_value = jax.jit(lambda p, y: region.dice_loss(p, y, per_image=False))(LOGITS, LABELS)
    assert abs(float(local.mean()) - float(global_value[0])) > 1e-2


@pytest.mark.parametrize("axis_type", ["explicit"])
def test_combinator_routes_axis_name_in_shard_map(axis_type):
    loss = combine.named_sum(
        ("dice", region.dice_loss),
        ("gdl", region.generalized_dice_loss, 0.5),
        ("ce", pixelwise.cross_entropy, lambda step: 0.1 * step),
        ("fg", combine.on_classes(region.dice_loss, [1, 2]), 2.0),
    )

    def unsharded(p, y, step):
        return loss(p, y, step=step, per_image=False)

    def local(p, y, step):
        return loss(p, y, step=step, per_image=False, axis_name="data")

    mesh = _mesh(axis_type)
    names = jax.eval_shape(unsharded, LOGITS, LABELS, 0)[1]  # the aux keys, nothing run
    aux_specs = {k: P() if k.endswith("/weight") else P("data") for k in names}
    sharded = jax.shard_map(
        local, mesh=mesh, in_specs=(P("data"), P("data"), P()), out_specs=(P("data"), aux_specs)
    )
    p, y = _put(mesh, LOGITS, LABELS)
    traces = []

    @jax.jit
    def step_fn(p, y, step):
        traces.append(1)
        (total, aux), grad = jax.value_and_grad(
            lambda q: (lambda t_a: (t_a[0].sum(), t_a))(sharded(q, y, step)), has_aux=True
        )(p)
        return aux[0], aux[1], grad

    reference = jax.jit(
        lambda p, y, s: (unsharded(p, y, s), jax.grad(lambda q: unsharded(q, y, s)[0].sum())(p))
    )
    for step in (0, 3):
        total, aux, grad = step_fn(p, y, jnp.asarray(step))
        (ref_total, ref_aux), ref_grad = reference(LOGITS, LABELS, jnp.asarray(step))
        _assert_close((total, grad), (np.asarray(ref_total), np.asarray(ref_grad)))
        for key in ("dice", "gdl", "fg"):
            np.testing.assert_allclose(aux[key], ref_aux[key], rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(aux["ce/weight"], 0.1 * step, rtol=1e-6)
    assert len(traces) == 1


# --------------------------------------------------------------------------- Lovász batch mode


def _lovasz_global(p, y):
    return lovasz.lovasz_softmax_loss(p, y, per_image=False)


@functools.cache
def _lovasz_reference():
    """Unsharded value and gradient of the batch-mode Lovász loss, computed once."""
    return _value_and_grad(_lovasz_global)(LOGITS, LABELS)


@pytest.mark.parametrize("name", ["cldice_loss", "hausdorff_dt_loss", "hausdorff_erosion_loss"])
def test_plane_loop_losses_on_volumes_explicit_mesh(name, monkeypatch):
    """The plane-by-plane losses on volumes large enough for their plane loop
    (``_numerics.map_planes``), batch sharded over an Explicit mesh: the loop's planes-major
    reshape would merge the sharded batch axis with the classes (a ShardingTypeError), so
    there the planes run at once; value and gradient as unsharded."""
    from jaxseg_losses import _numerics  # noqa: PLC0415

    shape = (B, 5, 6, 4, C)
    monkeypatch.setattr(_numerics, "PLANE_CHUNK_PIXELS", 5 * 6 * 4)  # one plane per step
    logits = random_logits(12, shape, scale=2.0)
    labels = np.random.default_rng(12).integers(0, C, shape[:-1]).astype(np.int32)
    module = {"cldice_loss": topology, "hausdorff_dt_loss": boundary}.get(name, contour)
    loss = getattr(module, name)
    want = _value_and_grad(loss)(logits, labels)
    mesh = _mesh("explicit")
    with jax.set_mesh(mesh):
        got = _value_and_grad(functools.partial(loss))(*_put(mesh, logits, labels))
    _assert_close(got, (np.asarray(want[0]), np.asarray(want[1])), name)


def test_lovasz_batch_mode_auto_mesh():
    mesh = _mesh("auto")
    with jax.set_mesh(mesh):
        value, grad = _value_and_grad(_lovasz_global)(*_put(mesh, LOGITS, LABELS))
    ref_value, ref_grad = _lovasz_reference()
    _assert_close((value, grad), (np.asarray(ref_value), np.asarray(ref_grad)))


def test_lovasz_batch_mode_explicit_mesh():
    """The batch-wide sort needs the whole batch on one device under an Explicit mesh.

    The Lovász module documents this (``jnp.argsort`` over a sharded axis raises) and the
    workaround, resharding to replicated first; both are checked here.
    """
    mesh = _mesh("explicit")
    ref_value, ref_grad = _lovasz_reference()
    with jax.set_mesh(mesh):
        p, y = _put(mesh, LOGITS, LABELS)
        try:
            result = _value_and_grad(_lovasz_global)(p, y)
        except Exception as error:  # noqa: BLE001 - the documented limitation
            assert "shard" in str(error).lower(), error
        else:  # a later JAX may handle it: then it must be right
            _assert_close(result, (np.asarray(ref_value), np.asarray(ref_grad)))

        def replicated(q, labels):
            return _lovasz_global(
                jax.sharding.reshard(q, P()), jax.sharding.reshard(labels, P())
            )

        value, grad = _value_and_grad(replicated)(p, y)
    _assert_close((value, grad), (np.asarray(ref_value), np.asarray(ref_grad)))


# --------------------------------------------------------------------------- distance maps


@functools.cache
def _distance_references():
    """Unsharded EDT, signed distance map and CDTs (one per metric) of LABELS, computed once."""
    masks = LABELS > 0
    expected_edt = jax.jit(distance.distance_transform_edt)(masks)
    expected_sdm = jax.jit(lambda y: distance.signed_distance_map(y, num_classes=C))(LABELS)
    expected_cdt = {metric: _cdt(metric)(masks) for metric in distance.CDT_METRICS}
    return expected_edt, expected_sdm, expected_cdt


def _cdt(metric):
    return jax.jit(functools.partial(distance.distance_transform_cdt, distance_metric=metric))


@pytest.mark.parametrize("axis_type", ["explicit", "auto"])
def test_distance_transforms_batch_sharded(axis_type):
    masks = LABELS > 0
    expected_edt, expected_sdm, expected_cdt = _distance_references()
    cdt = {metric: _cdt(metric) for metric in distance.CDT_METRICS}
    mesh = _mesh(axis_type)
    with jax.set_mesh(mesh):
        (m,) = _put(mesh, masks)
        (y,) = _put(mesh, LABELS)
        edt = jax.jit(distance.distance_transform_edt)(m)
        sdm = jax.jit(lambda y: distance.signed_distance_map(y, num_classes=C))(y)
        sharded_cdt = {metric: fn(m) for metric, fn in cdt.items()}
    np.testing.assert_array_equal(np.asarray(edt), np.asarray(expected_edt))
    for metric in cdt:
        np.testing.assert_array_equal(np.asarray(sharded_cdt[metric]), expected_cdt[metric])
    np.testing.assert_allclose(np.asarray(sdm), np.asarray(expected_sdm), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("axis_type", ["explicit", "auto"])
@pytest.mark.parametrize("dense_max", [1024, 4], ids=["dense", "banded"])
def test_accelerator_edt_sharded_and_in_shard_map(axis_type, dense_max, monkeypatch):
    """The GPU/TPU formulation (called directly: CPU programs use the other one) on a sharded
    batch and per device inside ``shard_map``, dense and banded, equals the unsharded result."""
    monkeypatch.setattr(distance, "_ACCEL_DENSE_MAX_LEN", dense_max)
    monkeypatch.setattr(distance, "_ACCEL_BAND", 3)
    masks = jnp.asarray(LABELS > 0)
    spacing = jnp.asarray((1.0, 0.5), jnp.float32)
    edt = lambda m, s: distance._squared_edt_dense(m, s, 2)  # noqa: E731  (a fresh trace)
    expected = np.asarray(jax.jit(edt)(masks, spacing))
    mesh = _mesh(axis_type)
    with jax.set_mesh(mesh):
        (m,) = _put(mesh, masks)
        sharded = jax.jit(edt)(m, spacing)
        local = jax.jit(jax.shard_map(edt, in_specs=(P("data"), P()), out_specs=P("data")))
        per_device = local(m, spacing)
    np.testing.assert_array_equal(np.asarray(sharded), expected)
    np.testing.assert_array_equal(np.asarray(per_device), expected)
