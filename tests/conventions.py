"""The conventions every loss shares, checked once from the table in ``tests/cases.py``.

The checks live here; ``tests/test_conventions_region.py`` and
``tests/test_conventions_pixel_spatial.py`` run them on two halves of the table (the module's
``CASE_NAMES``), so that the halves go to different workers (``--dist loadfile``).

Each case is compiled once: :func:`_probe` evaluates everything the checks below compare (value,
gradient, finite differences, vmap, bfloat16, extreme logits, perfect / empty / full / one-pixel
labels, masks, ``ignore_index``, batch-global forms, one-hot labels, 3-D) in one jitted call,
and each test asserts one convention on its result. The eager call is compared
with the compiled one. Family files keep the papers' references and peer cross-checks.
"""

from __future__ import annotations

import contextlib
import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxseg_losses
from jaxseg_losses._namespace import family_of
from tests.cases import CASES, SPATIAL, SPATIAL_3D, LossCase
from tests.helpers import random_labels, random_logits

FD_EPS = 1e-3  # finite-difference step (float32, logits of scale 1)


def _finite(x) -> jax.Array:
    return jnp.all(jnp.isfinite(x))


def _data(case: LossCase, seed: int = 0) -> dict[str, np.ndarray]:
    classes = 2 if case.binary else case.channels
    y = random_labels(seed, (2, *SPATIAL), classes)
    g = (y[..., None] if case.binary else np.eye(classes)[y]).astype(np.float32)
    ignored = np.zeros(y.shape, bool)
    ignored[:, 0] = True
    one_pixel = np.zeros_like(y)
    one_pixel[:, 2, 2] = 1
    rng = np.random.default_rng(seed)
    return {
        "z": random_logits(seed, (2, *SPATIAL, case.channels), scale=1.0),
        "y": y,
        "g": g,
        "ignored": ignored,
        "direction": rng.normal(size=(2, *SPATIAL, case.channels)).astype(np.float32),
        "empty": np.zeros_like(y),
        "full": np.full_like(y, classes - 1),
        "one_pixel": one_pixel,
        "z3": random_logits(seed + 1, (2, *SPATIAL_3D, case.channels), scale=1.0),
        "y3": random_labels(seed + 1, (2, *SPATIAL_3D), classes),
    }


def _probe(case: LossCase, d: dict) -> dict:
    """Everything the checks compare, for one case, in one program.

    Calls with inputs of one shape are stacked and evaluated by one ``vmap`` of the loss and
    its gradient, so the program holds a few copies of the loss rather than one per check.
    """
    z, y, g = d["z"], d["y"], d["g"]
    ignored = d["ignored"]

    def stacked(calls: dict, **options) -> dict:
        """``{name: (predictions, labels[, mask])}`` -> values and gradients, one vmap."""
        def one(p, t, m=None):
            values = case(p, t, mask=m, **options)
            return jnp.sum(values), values

        args = [jnp.stack(a) for a in zip(*calls.values(), strict=True)]
        (_, values), grads = jax.vmap(jax.value_and_grad(one, has_aux=True))(*args)
        return {name: (values[i], grads[i]) for i, name in enumerate(calls)}

    out = {}
    step = FD_EPS * d["direction"]
    perfect = (2 * g - 1) * 1e4
    results = stacked({
        "value": (z, y), "plus": (z + step, y), "minus": (z - step, y),
        "extreme_sign": (jnp.sign(z) * 1e4, y), "extreme_perfect": (perfect, y),
        "extreme_opposite": (-perfect, y), "empty": (z, d["empty"]), "full": (z, d["full"]),
        "one_pixel": (z, d["one_pixel"]),
    })
    for name, (value, grad) in results.items():
        out[name], out[f"{name}_grad"] = value, grad
        if name not in ("value", "plus", "minus"):
            out[f"{name}_finite"] = _finite(value) & _finite(grad)
    out["grad"], out["perfect"] = out["value_grad"], out["extreme_perfect"]
    out["finite_difference"] = (out["plus"].sum() - out["minus"].sum()) / (2 * FD_EPS)
    out["directional"] = jnp.sum(out["grad"] * d["direction"])

    changed = jnp.where(ignored[..., None], -5 * z, z)
    nothing, keep, everything = jnp.zeros(y.shape, bool), ~ignored, jnp.ones(y.shape, bool)
    masked = {"masked": (z, y, nothing), "keep_mask": (z, y, keep),
              "keep_mask_changed": (changed, y, keep)}
    if case.labels:  # labels without 7 under ignore_index=7 are the plain calls
        y_ign = jnp.where(ignored, 7, y)
        masked |= {"ignore": (z, y_ign, everything), "ignore_changed": (changed, y_ign, everything)}
    for name, (value, grad) in stacked(masked, **({"ignore_index": 7} if case.labels else {})
                                       ).items():
        out[name], out[f"{name}_grad"] = value, grad

    out["vmap"] = jax.vmap(lambda a, b: case(a[None], b[None])[0])(z, y)
    out["bf16"] = case(z.astype(jnp.bfloat16), y)
    ((value, grad),) = stacked({"3d": (d["z3"], d["y3"])}).values()
    out["3d"], out["3d_grad_finite"] = value, _finite(grad)
    if case.labels:
        out["crop"] = case(z[:, 1:], y[:, 1:])
        ((out["one_hot"], out["one_hot_grad"]),) = stacked({"one_hot": (z, g)}).values()
    if case.perfect is not None and case.takes("from_logits") and case.probabilities:
        ((value, grad),) = stacked({"p": (g, y)}, from_logits=False).values()
        out["perfect_probabilities"] = value
        out["perfect_probabilities_grad_finite"] = _finite(grad)
    if case.global_form:
        out["global"] = case(z, y, per_image=False)
        joined = (z.reshape(1, -1, *z.shape[2:]), y.reshape(1, -1, *y.shape[2:]))
        out["global_joined"] = case(*joined)
    if case.global_form == "axis_name":
        out["axis_name"] = jax.vmap(
            lambda a, b: case(a[None], b[None], per_image=False, axis_name="d")[0],
            axis_name="d")(z, y)
    return out


@contextlib.contextmanager
def strict_promotion():
    """No silent broadcasting between ranks and no implicit dtype mixing (bool or int with
    float): every call of the probe and the eager call run under it, so each check below also
    checks that the loss's code (value and gradient, every option the probe uses) promotes
    nothing implicitly."""
    with jax.numpy_rank_promotion("raise"), jax.numpy_dtype_promotion("strict"):
        yield


@functools.cache
def _results(name: str) -> tuple[dict, dict, np.ndarray]:
    """(compiled probe outputs, inputs, eager value) of one case, computed once per process."""
    case = CASES[name]
    data = _data(case)
    probe = jax.jit(functools.partial(_probe, case))
    with strict_promotion():
        out = jax.tree.map(np.asarray, probe({k: jnp.asarray(v) for k, v in data.items()}))
        eager = np.asarray(case(data["z"], data["y"]))
    return out, data, eager


# The families run by tests/test_conventions_region.py and tests/test_conventions_pixel_spatial.py.
REGION_FAMILIES = ("region", "lovasz", "recipes", "blob")
PIXEL_SPATIAL_FAMILIES = (
    "pixelwise", "boundary", "region_wise", "contour", "topology", "centerline", "adjacency",
)


def cases_of(*families: str) -> list[str]:
    """The table's cases whose loss is in one of these families (``family_of``: the module or
    family package of the package that defines it)."""
    return sorted(name for name, case in CASES.items() if family_of(case.fn) in families)


def applies_to(predicate):
    """Marks a check as applying to the cases where ``predicate(case)`` holds."""
    def mark(check):
        check.applies_to = predicate
        return check
    return mark


def pytest_generate_tests(metafunc):
    """``name``: the cases of the test module's ``CASE_NAMES`` that the check applies to."""
    if "name" in metafunc.fixturenames:
        predicate = getattr(metafunc.function, "applies_to", lambda case: True)
        names = [n for n in metafunc.module.CASE_NAMES if predicate(CASES[n])]
        metafunc.parametrize("name", [
            pytest.param(n, id=n, marks=[pytest.mark.slow] if CASES[n].slow else [])
            for n in names])


def _is_loss(name: str) -> bool:
    return name.endswith("_loss") or name.endswith("cross_entropy")


def check_every_public_loss_is_in_the_table():
    public = {getattr(jaxseg_losses, n) for n in jaxseg_losses.__all__ if _is_loss(n)}
    covered = {case.fn for case in CASES.values()}
    missing = sorted(fn.__name__ for fn in public - covered)
    assert not missing, f"add these losses to tests/cases.py: {missing}"
    halves = cases_of(*REGION_FAMILIES), cases_of(*PIXEL_SPATIAL_FAMILIES)
    assert sorted(halves[0] + halves[1]) == sorted(CASES), "a case in neither conventions file"
    for name, case in CASES.items():  # every option of a row is a real keyword
        params = inspect.signature(case.fn).parameters
        assert set(case.options) <= set(params), name
        if case.global_form:
            assert "per_image" in params, name
        if case.global_form == "axis_name":
            assert "axis_name" in params, name


def test_shape_dtype_and_jit_equals_eager(name):
    out, _, eager = _results(name)
    assert out["value"].shape == (2,) and out["value"].dtype == np.float32
    assert eager.shape == (2,) and eager.dtype == np.float32
    np.testing.assert_allclose(out["value"], eager, rtol=1e-5, atol=1e-6)
    assert np.all(np.isfinite(out["value"])) and np.all(np.isfinite(out["grad"]))


def test_gradient_matches_finite_differences(name):
    out, _, _ = _results(name)
    np.testing.assert_allclose(out["directional"], out["finite_difference"], rtol=1e-2,
                               atol=1e-2)


def test_vmap_over_examples(name):
    out, _, _ = _results(name)
    np.testing.assert_allclose(out["vmap"], out["value"], rtol=1e-5, atol=1e-6)


def test_bfloat16_predictions_compute_in_float32(name):
    out, _, _ = _results(name)
    assert out["bf16"].dtype == np.float32 and out["bf16"].shape == (2,)
    np.testing.assert_allclose(out["bf16"], out["value"], rtol=0.05, atol=0.05)


def test_extreme_logits_and_degenerate_labels_are_finite(name):
    out, _, _ = _results(name)
    flags = [k for k in out if k.endswith("_finite")]
    failed = [k for k in flags if not bool(out[k])]
    assert not failed, f"non-finite value or gradient: {failed}"
    assert len(flags) >= 7


@applies_to(lambda c: c.perfect is not None)
def test_perfect_prediction(name):
    out, _, _ = _results(name)
    np.testing.assert_allclose(out["perfect"], CASES[name].perfect, atol=1e-6)
    if "perfect_probabilities" in out:  # one-hot probabilities (from_logits=False)
        np.testing.assert_allclose(out["perfect_probabilities"], CASES[name].perfect, atol=1e-6)
        assert out["perfect_probabilities_grad_finite"]


@applies_to(lambda c: c.masked_zero)
def test_everything_masked_is_zero_with_zero_gradient(name):
    out, _, _ = _results(name)
    assert np.all(out["masked"] == 0.0), out["masked"]
    assert np.all(out["masked_grad"] == 0.0)


@applies_to(lambda c: c.labels)
def test_excluded_pixels_change_neither_value_nor_gradient(name):
    out, data, _ = _results(name)
    np.testing.assert_allclose(out["ignore_changed"], out["ignore"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out["keep_mask_changed"], out["keep_mask"], rtol=1e-6, atol=1e-7)
    assert np.all(out["ignore_grad"][data["ignored"]] == 0.0)
    assert np.all(out["keep_mask_grad"][data["ignored"]] == 0.0)
    assert np.all(np.isfinite(out["ignore_grad"]))


@applies_to(lambda c: c.labels and c.mask_is_ignore)
def test_mask_equals_ignore_index(name):
    out, _, _ = _results(name)
    np.testing.assert_allclose(out["keep_mask"], out["ignore"], rtol=1e-6, atol=1e-7)


@applies_to(lambda c: c.labels and c.local)
def test_masking_a_row_equals_cropping_it(name):
    out, _, _ = _results(name)
    np.testing.assert_allclose(out["crop"], out["keep_mask"], rtol=1e-5, atol=1e-6)


@applies_to(lambda c: c.labels)
def test_integer_labels_equal_one_hot(name):
    out, _, _ = _results(name)
    np.testing.assert_allclose(out["one_hot"], out["value"], rtol=2e-5, atol=1e-5)
    np.testing.assert_allclose(out["one_hot_grad"], out["grad"], rtol=2e-4, atol=1e-6)


@applies_to(lambda c: c.global_form)
def test_batch_global_form(name):
    out, _, _ = _results(name)
    assert out["global"].shape == (2,) and np.all(np.isfinite(out["global"]))
    if not CASES[name].one_value:
        return  # only the region term is pooled: covered by the axis_name check
    np.testing.assert_allclose(out["global"], out["global"][0], rtol=1e-6)
    if CASES[name].local:
        np.testing.assert_allclose(out["global"][0], out["global_joined"][0], rtol=1e-5,
                                   atol=1e-6)


@applies_to(lambda c: c.global_form == "axis_name")
def test_axis_name_pools_statistics_over_the_named_axis(name):
    out, _, _ = _results(name)
    np.testing.assert_allclose(out["axis_name"], out["global"], rtol=1e-5, atol=1e-6)


def test_three_spatial_axes(name):
    out, _, _ = _results(name)
    assert out["3d"].shape == (2,) and np.all(np.isfinite(out["3d"]))


def test_no_implicit_rank_or_dtype_promotion(name):
    """The probe and the eager call ran under :func:`strict_promotion` (``_results``): an
    implicit rank or dtype promotion in the loss would have raised there."""
    out, _, eager = _results(name)
    assert np.all(np.isfinite(eager)) and np.all(np.isfinite(out["grad"]))
