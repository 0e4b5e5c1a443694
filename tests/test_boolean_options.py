"""Boolean options take ``True``/``False`` only (issue #27).

Every public function of ``jaxseg_losses.__all__`` is enumerated and every boolean option found
from its signature (annotated ``bool`` or ``bool | None``, or unannotated with a ``bool``
default), so a new function or option is covered without editing this file: it only needs a
way to be called (the loss table ``tests/cases.py``, or ``EXTRA_CALLS`` below). For each
option, ``"no"``, ``"false"``, ``None`` (unless ``bool | None``), ``1`` and ``jnp.array(True)``
raise ``TypeError`` naming the option, eagerly and under ``jax.jit`` (the bad value closed
over); a traced flag is refused as not static; ``True`` and ``False`` still work (checked with
``jax.eval_shape``: traced, not compiled, to stay fast).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxseg_losses as jsl
from jaxseg_losses._inputs import boolean_options
from tests.cases import ADJACENCY_PRIOR, CASES

# Public callables with a boolean parameter that this test does not call, and why.
NOT_CALLED = {
    "Accepts": "a NamedTuple record that accepted_kwargs builds (any_other is data, not an "
               "option of a computation); NamedTuple fields cannot be checked on construction",
}

B, H, W = 1, 4, 4
LABELS = np.array([[[0, 0, 1, 1], [0, 2, 2, 1], [0, 2, 2, 1], [0, 0, 1, 1]]], np.int32)


def _boolean_parameters(fn) -> dict[str, bool]:
    """``{name: None allowed}`` of the boolean options in ``fn``'s signature (this test's own
    reading, independent of the decorator's)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return {}
    found = {}
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        annotation = p.annotation
        text = annotation if isinstance(annotation, str) else getattr(
            annotation, "__forward_arg__", getattr(annotation, "__name__", ""))
        parts = set(re.sub(r"\s|typing\.|Optional\[|\]", "", str(text)).split("|"))
        if "Optional[" in str(text):
            parts.add("None")
        if "bool" in parts or isinstance(p.default, bool):
            found[p.name] = "None" in parts
    return found


PUBLIC = {name: getattr(jsl, name) for name in jsl.__all__}
BOOLEAN = {name: opts for name, obj in PUBLIC.items()
           if callable(obj) and (opts := _boolean_parameters(obj))}


def _predictions(channels: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(size=(B, H, W, channels)).astype(np.float32)


def _loss_call(case) -> tuple[tuple, Callable]:
    """``case`` with the option under test taking precedence over the row's own options."""
    second = (np.minimum(LABELS, 1) if case.binary else LABELS) if case.labels else ADJACENCY_PRIOR
    return (_predictions(case.channels), second), lambda z, y, **o: case.fn(
        z, y, **{**case.options, **o})


def _table_calls() -> dict[str, tuple[tuple, Callable]]:
    """The first row of the loss table for every loss (its base configuration)."""
    calls = {}
    for case in CASES.values():
        name = getattr(case.fn, "__name__", None)
        if name in BOOLEAN and PUBLIC[name] is case.fn and name not in calls:
            calls[name] = _loss_call(case)
    return calls


# Everything with a boolean option that the loss table does not hold: (arrays, call).
EXTRA_CALLS: dict[str, tuple[tuple, Callable]] = {
    "overlap_statistics": (
        (_predictions(3), LABELS), lambda z, y, **o: jsl.overlap_statistics(z, y, **o)),
    "adjacency_matrix": (
        (LABELS,), lambda y, **o: jsl.adjacency_matrix(y, num_classes=3, **o)),
    "soft_adjacency": (
        (jax.nn.softmax(_predictions(3)),), lambda p, **o: jsl.soft_adjacency(p, **o)),
    "resize_nearest": (  # (B, *spatial) or, channels_last=True, (B, *spatial, C)
        (_predictions(3),), lambda x, **o: jsl.resize_nearest(
            x, (2, 2) if o.get("channels_last") is True else (2, 2, 2), **o)),
    "distance_transform_edt": (  # return_indices: the distances, or (distances, indices)
        (LABELS,), lambda m, **o: jsl.distance_transform_edt(m, **o)),
    # Builders: no arrays; their result is a function (checked eagerly, not under eval_shape).
    "adjacency_prior": ((), lambda **o: jsl.adjacency_prior(3, **o)),
    "boundary_recipe": ((), lambda **o: jsl.boundary_recipe(**o)),
}
# The metrics: logits and integer labels (surface_dice also needs its tolerance).
for _metric in jsl.metrics.__all__:
    if _metric != "surface_mask":
        EXTRA_CALLS[_metric] = ((_predictions(3), LABELS), functools.partial(
            getattr(jsl, _metric), **({"tolerance": 1.0} if _metric == "surface_dice" else {})))
# Instance maps, not predictions: integer ids for both arguments.
EXTRA_CALLS["instance_panoptic_quality"] = (
    (LABELS, LABELS), lambda p, t, **o: jsl.instance_panoptic_quality(p, t, **o))

CALLS = {**_table_calls(), **EXTRA_CALLS}

OPTIONS = [
    pytest.param(name, option, id=f"{name}-{option}")
    for name in sorted(BOOLEAN)
    if name not in NOT_CALLED
    for option in BOOLEAN[name]
]

BAD_VALUES = ["no", "false", None, 1, jnp.array(True)]


def _spec(name):
    assert name in CALLS, (
        f"{name} has boolean options {sorted(BOOLEAN[name])} but this test cannot call it: add "
        "a row to tests/cases.py (losses) or an entry to EXTRA_CALLS (other functions)"
    )
    return CALLS[name]


def _expect_error(option, bad):
    what = "a static Python bool" if isinstance(bad, jax.Array) else "True or False"
    return pytest.raises(TypeError, match=rf"^{re.escape(option)}: expected {what}")


def test_every_boolean_option_is_covered():
    """Every public function with a boolean option is called here, pending or listed."""
    assert BOOLEAN, "the signature scan found no boolean option at all"
    missing = set(BOOLEAN) - set(CALLS) - set(NOT_CALLED)
    assert not missing, f"no call recipe for {sorted(missing)}: add it to EXTRA_CALLS"
    stale = set(NOT_CALLED) - set(BOOLEAN)
    assert not stale, f"listed but without a boolean option (remove them): {sorted(stale)}"


@pytest.mark.parametrize("name", sorted(set(BOOLEAN) - set(NOT_CALLED)))
def test_decorated(name):
    """The shared check is what rejects the values (not a per-function ``if``)."""
    fn = PUBLIC[name]
    assert getattr(fn, "boolean_options", None) == BOOLEAN[name], (
        f"{name}: decorate it with jaxseg_losses._inputs.boolean_options"
    )
    assert fn.__wrapped__.__name__ == name


@pytest.mark.parametrize(("name", "option"), OPTIONS)
def test_non_bool_is_an_error(name, option):
    arrays, call = _spec(name)
    optional = BOOLEAN[name][option]
    for bad in BAD_VALUES:
        if bad is None and optional:
            continue
        with _expect_error(option, bad):
            call(*arrays, **{option: bad})
        if arrays:  # under jit, the bad value closed over
            with _expect_error(option, bad):
                jax.jit(lambda *a, bad=bad: call(*a, **{option: bad}))(*arrays)
    if arrays:  # a traced flag cannot choose the computation
        with pytest.raises(TypeError, match=rf"^{re.escape(option)}: .*traced value"):
            jax.jit(lambda flag, *a: call(*a, **{option: flag}))(True, *arrays)


@pytest.mark.parametrize(("name", "option"), OPTIONS)
def test_true_and_false_work(name, option):
    arrays, call = _spec(name)
    for flag in (True, False):
        if arrays:
            out = jax.eval_shape(lambda *a, flag=flag: call(*a, **{option: flag}), *arrays)
            assert all(leaf.shape[:1] in ((B,), ()) for leaf in jax.tree.leaves(out))
        else:
            assert call(**{option: flag}) is not None


def test_numpy_bool_is_a_bool():
    def values(z, y):  # one compilation
        return [jsl.dice_loss(z, y, log_loss=flag) for flag in (np.True_, True, np.False_, False)]

    numpy_true, true, numpy_false, false = jax.jit(values)(_predictions(3), LABELS)
    np.testing.assert_array_equal(numpy_true, true)
    np.testing.assert_array_equal(numpy_false, false)
    assert not np.array_equal(true, false)
    seen = []

    @boolean_options
    def probe(x, flag: bool = False, *, other: bool | None = None):
        seen.append((flag, other))
        return x

    probe(0, np.bool_(True), other=np.False_)
    assert seen == [(True, False)] and all(type(v) is bool for v in seen[0])


def test_decorator_keeps_the_function_and_reads_positional_and_optional_flags():
    @boolean_options
    def probe(x, flag: bool = False, *, other: bool | None = None, count: int = 0):
        """Doc."""
        return flag

    assert probe.__name__ == "probe" and probe.__doc__ == "Doc."
    assert list(inspect.signature(probe).parameters) == ["x", "flag", "other", "count"]
    assert probe.boolean_options == {"flag": False, "other": True}
    assert probe(0, True, other=None, count=3) is True
    with pytest.raises(TypeError, match=r"^flag: expected True or False; got 'no' \(str\)$"):
        probe(0, "no")
    with pytest.raises(TypeError, match=r"^other: expected True, False or None; got 0 \(int\)$"):
        probe(0, other=0)
    assert boolean_options(lambda x, flag=True: x).boolean_options == {"flag": False}
    with pytest.raises(TypeError, match="no boolean option"):
        boolean_options(lambda x, n=1: x)


def test_ambiguous_annotation_is_refused_at_decoration():
    def fn(x, flag: int | bool = True):
        return x

    with pytest.raises(TypeError, match="flag: a bool default"):
        boolean_options(fn)


# --- Combinators: they have no boolean option of their own; what they build passes the
# options on to the (checked) losses, or checks bound options when built.

Z, Y = _predictions(3), LABELS


def _combined_products() -> dict[str, Callable]:
    return {
        "named_sum": jsl.named_sum(("dice", jsl.dice_loss), ("ce", jsl.cross_entropy, 0.5)),
        "masked": jsl.masked(jsl.dice_loss, np.ones((B, H, W), np.float32)),
        "on_classes": jsl.on_classes(jsl.dice_loss, [1, 2]),
        "multi_scale": jsl.multi_scale(jsl.dice_loss, scales=[0, 1]),
        "deep_supervision": jsl.deep_supervision(jsl.dice_loss),
        "boundary_recipe": jsl.boundary_recipe(),
    }


def test_combinator_products_have_no_boolean_option_of_their_own():
    own = {name: _boolean_parameters(fn) for name, fn in _combined_products().items()}
    # A product that grows one gets the decorator and a row in EXTRA_CALLS.
    assert not any(own.values()), own


@pytest.mark.parametrize("name", sorted(_combined_products()))
def test_combinator_products_reject_bad_flags(name):
    loss = _combined_products()[name]
    option = "include_background" if name == "boundary_recipe" else "from_logits"
    if name == "on_classes":
        option = "per_image"
    with _expect_error(option, "false"):
        loss(Z, Y, **{option: "false"})
    with _expect_error(option, "false"):
        jax.jit(lambda z, y: loss(z, y, **{option: "false"}))(Z, Y)


def test_bound_flags_are_checked_when_built():
    with _expect_error("log_loss", "yes"):
        jsl.weighted(jsl.dice_loss, 0.5, log_loss="yes")
    with _expect_error("soft_label", None):
        jsl.scheduled(jsl.dice_loss, lambda step: 1.0, soft_label=None)
    with _expect_error("from_logits", "no"):
        jsl.nonadjacency_term(np.eye(3, dtype=np.float32), from_logits="no")
    with _expect_error("boundary_include_background", "no"):
        jsl.boundary_recipe(boundary_include_background="no")
