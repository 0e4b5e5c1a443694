"""Tests of the optax-style combinators (jaxseg_losses.combine)."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxseg_losses import combine
from jaxseg_losses.combine import (
    Term,
    masked,
    named_sum,
    on_classes,
    scheduled,
    weight_value,
    weighted,
)
from jaxseg_losses.pixelwise import cross_entropy, focal_loss
from jaxseg_losses.region import dice_loss, generalized_dice_loss, jaccard_loss
from tests.helpers import (
    assert_finite_value_and_grad,
    assert_jit_matches_eager,
    random_labels,
    random_logits,
)

B, H, W, C = 3, 5, 6, 3
LOGITS = random_logits(0, (B, H, W, C))
LABELS = random_labels(0, (B, H, W), C)
LINEAR = optax.linear_schedule(0.0, 1.0, 10)


def _objective():
    return named_sum(
        ("ce", cross_entropy),
        ("dice", dice_loss, 0.5),
        ("focal", scheduled(focal_loss, LINEAR, gamma=1.0)),
    )


# --------------------------------------------------------------------------- values and aux


def test_weighted_sum_value_and_aux():
    loss = _objective()
    total, aux = loss(LOGITS, LABELS, step=4)
    ce = cross_entropy(LOGITS, LABELS)
    dice = dice_loss(LOGITS, LABELS)
    focal = focal_loss(LOGITS, LABELS, gamma=1.0)
    np.testing.assert_allclose(total, ce + 0.5 * dice + 0.4 * focal, rtol=1e-6)
    assert list(aux) == ["ce", "ce/weight", "dice", "dice/weight", "focal", "focal/weight"]
    np.testing.assert_allclose(aux["ce"], ce, rtol=1e-6)
    np.testing.assert_allclose(aux["dice"], dice, rtol=1e-6)
    np.testing.assert_allclose(aux["focal"], focal, rtol=1e-6)
    assert aux["ce/weight"].shape == () and float(aux["ce/weight"]) == 1.0
    assert float(aux["dice/weight"]) == 0.5
    np.testing.assert_allclose(aux["focal/weight"], 0.4, rtol=1e-6)
    assert total.shape == (B,) and total.dtype == jnp.float32


def test_default_step_is_zero_and_weight_forms():
    loss = named_sum(
        ("a", cross_entropy, jnp.asarray(2.0)),  # scalar array weight
        ("b", Term(cross_entropy, LINEAR)),
        ("c", weighted(cross_entropy, 3.0)),
    )
    total, aux = loss(LOGITS, LABELS)
    np.testing.assert_allclose(total, 5.0 * cross_entropy(LOGITS, LABELS), rtol=1e-6)
    assert float(aux["b/weight"]) == 0.0


def test_negative_weights_are_allowed():
    loss = named_sum(("ce", cross_entropy, 1.0), ("neg", cross_entropy, -1.0))
    np.testing.assert_allclose(loss(LOGITS, LABELS)[0], 0.0, atol=1e-6)


def test_weight_value():
    assert float(weight_value(0.25, 3)) == 0.25
    np.testing.assert_allclose(weight_value(LINEAR, 5), 0.5)
    with pytest.raises(ValueError, match="weight: expected a scalar"):
        weight_value(jnp.ones(2), 0)


# --------------------------------------------------------------------------- tracing and jit


def test_one_compilation_for_all_steps():
    loss = _objective()

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step_fn(logits, labels, step):
        total, aux = loss(logits, labels, step=step)
        return total.mean(), aux["focal/weight"]

    for step in range(12):
        value, weight = step_fn(LOGITS, LABELS, jnp.asarray(step))
        np.testing.assert_allclose(weight, min(step / 10, 1.0), rtol=1e-6, atol=1e-7)
        eager = loss(LOGITS, LABELS, step=step)[0].mean()
        np.testing.assert_allclose(value, eager, rtol=1e-5)
    chex.clear_trace_counter()


@pytest.mark.slow
def test_jit_matches_eager_and_grads():
    loss = _objective()
    assert_jit_matches_eager(lambda p, y: loss(p, y, step=3)[0], LOGITS, LABELS)
    assert_finite_value_and_grad(lambda p, y: loss(p, y, step=3)[0], jnp.asarray(LOGITS), LABELS)
    grad = jax.grad(lambda p: loss(p, LABELS, step=3)[0].sum())(jnp.asarray(LOGITS))
    expected = jax.grad(
        lambda p: (
            cross_entropy(p, LABELS) + 0.5 * dice_loss(p, LABELS)
            + 0.3 * focal_loss(p, LABELS, gamma=1.0)
        ).sum()
    )(jnp.asarray(LOGITS))
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)


def test_check_grads():
    loss = named_sum(("ce", cross_entropy), ("dice", dice_loss, 0.5))
    logits = jnp.asarray(random_logits(3, (2, 3, 3, 2), scale=1.0))
    labels = random_labels(3, (2, 3, 3), 2)
    jax.test_util.check_grads(
        jax.jit(lambda p: loss(p, labels)[0]), (logits,), order=1, modes=("rev",),
        atol=1e-2, rtol=1e-2,
    )


def test_value_and_grad_has_aux():
    loss = _objective()

    def objective(p):
        total, aux = loss(p, LABELS, step=2)
        return total.mean(), aux

    (value, aux), grad = jax.value_and_grad(objective, has_aux=True)(jnp.asarray(LOGITS))
    assert np.isfinite(value) and grad.shape == LOGITS.shape
    assert set(aux) >= {"ce", "dice", "focal"}


def test_vmap_over_an_extra_axis():
    loss = _objective()
    stacked = jnp.stack([LOGITS, 2 * LOGITS])
    totals, aux = jax.jit(jax.vmap(lambda p: loss(p, LABELS, step=5)))(stacked)
    assert totals.shape == (2, B)
    single = jax.jit(lambda p: loss(p, LABELS, step=5)[0])(2 * LOGITS)
    np.testing.assert_allclose(totals[1], single, rtol=1e-5)
    assert aux["focal/weight"].shape == (2,)
    # vmap over the step as well: one weight per step.
    per_step = jax.jit(
        jax.vmap(lambda s: loss(LOGITS, LABELS, step=s)[1]["focal/weight"])
    )(jnp.arange(3))
    np.testing.assert_allclose(per_step, [0.0, 0.1, 0.2], rtol=1e-6)


def test_bfloat16_inputs_give_float32():
    total, aux = _objective()(jnp.asarray(LOGITS, jnp.bfloat16), LABELS, step=1)
    assert total.dtype == jnp.float32 and aux["dice"].dtype == jnp.float32
    np.testing.assert_allclose(total, _objective()(LOGITS, LABELS, step=1)[0], rtol=2e-2)


# --------------------------------------------------------------------------- keyword routing


def _recorder(log, name):
    def term(predictions, labels, *, mask=None, sampling=None):
        log.append((name, {"mask": mask is not None, "sampling": sampling}))
        return jnp.zeros(predictions.shape[0])

    return term


def test_keywords_reach_only_the_terms_that_accept_them():
    log = []

    def var_kw(predictions, labels, **kwargs):
        log.append(("var", sorted(kwargs)))
        return jnp.zeros(predictions.shape[0])

    def no_kw(predictions, labels):
        log.append(("none", None))
        return jnp.zeros(predictions.shape[0])

    def wants_step(predictions, labels, step):
        log.append(("step", int(step)))
        return jnp.zeros(predictions.shape[0])

    loss = named_sum(
        ("rec", _recorder(log, "rec")), ("var", var_kw), ("none", no_kw), ("step", wants_step)
    )
    loss(LOGITS, LABELS, step=7, mask=np.ones((B, H, W)), sampling=(1.0, 2.0))
    assert log == [
        ("rec", {"mask": True, "sampling": (1.0, 2.0)}),
        ("var", ["mask", "sampling"]),  # **kwargs gets every keyword but not the step
        ("none", None),
        ("step", 7),
    ]


def test_mask_forwarded_to_library_losses():
    mask = np.random.default_rng(0).random((B, H, W)) > 0.4
    loss = named_sum(("ce", cross_entropy), ("dice", dice_loss))
    total, aux = loss(LOGITS, LABELS, mask=mask, smooth=0.1)
    np.testing.assert_allclose(aux["ce"], cross_entropy(LOGITS, LABELS, mask=mask), rtol=1e-6)
    np.testing.assert_allclose(
        aux["dice"], dice_loss(LOGITS, LABELS, mask=mask, smooth=0.1), rtol=1e-6
    )


def test_unknown_keyword_raises():
    with pytest.raises(TypeError, match=r"\['smoth'\] accepted by no term"):
        named_sum(("ce", cross_entropy), ("dice", dice_loss))(LOGITS, LABELS, smoth=1.0)


def test_signatures_are_inspected_at_build_time_only(monkeypatch):
    calls = []
    original = combine.accepted_kwargs
    monkeypatch.setattr(combine, "accepted_kwargs", lambda fn: calls.append(fn) or original(fn))
    loss = named_sum(("ce", cross_entropy), ("dice", functools.partial(dice_loss, smooth=0.5)))
    assert len(calls) == 2
    first = loss(LOGITS, LABELS, mask=np.ones((B, H, W)))[0]
    again = loss(LOGITS, LABELS, mask=np.ones((B, H, W)))[0]
    jitted = jax.jit(lambda p, y: loss(p, y, mask=np.ones((B, H, W)))[0])(LOGITS, LABELS)
    assert len(calls) == 2
    np.testing.assert_allclose(again, first)
    np.testing.assert_allclose(jitted, first, rtol=1e-5)


def test_partial_and_jitted_terms():
    jitted_dice = jax.jit(dice_loss, static_argnames=("mode", "smooth"))
    loss = named_sum(("d", jitted_dice), ("p", functools.partial(dice_loss, smooth=1.0)))
    _, aux = loss(LOGITS, LABELS, smooth=1.0)
    np.testing.assert_allclose(aux["d"], dice_loss(LOGITS, LABELS, smooth=1.0), rtol=1e-6)
    np.testing.assert_allclose(aux["p"], aux["d"], rtol=1e-6)


# --------------------------------------------------------------------------- composition


def test_nested_combinations():
    inner = named_sum(("dice", dice_loss), ("focal", focal_loss, LINEAR))
    outer = named_sum(("ce", cross_entropy, 2.0), ("region", inner, 0.5))
    total, aux = outer(LOGITS, LABELS, step=5, mask=np.ones((B, H, W)))
    inner_total, inner_aux = inner(LOGITS, LABELS, step=5)
    np.testing.assert_allclose(
        total, 2.0 * cross_entropy(LOGITS, LABELS) + 0.5 * inner_total, rtol=1e-6
    )
    assert list(aux) == [
        "ce", "ce/weight", "region", "region/weight",
        "region/dice", "region/dice/weight", "region/focal", "region/focal/weight",
    ]
    np.testing.assert_allclose(aux["region"], inner_total, rtol=1e-6)
    np.testing.assert_allclose(aux["region/focal/weight"], 0.5)  # the step reached the inner sum
    np.testing.assert_allclose(aux["region/dice"], inner_aux["dice"], rtol=1e-6)
    # Three levels, jitted with a traced step.
    top = named_sum(("outer", outer), ("extra", jaccard_loss, 0.1))
    value = jax.jit(lambda s: top(LOGITS, LABELS, step=s)[1]["outer/region/focal/weight"])(8)
    np.testing.assert_allclose(value, 0.8, rtol=1e-6)


def test_combined_loss_attributes_and_repr():
    loss = _objective()
    assert loss.names == ("ce", "dice", "focal")
    assert "step" in loss.accepted_kwargs and "mask" in loss.accepted_kwargs
    assert "named_sum(('ce', 'cross_entropy', 1.0)" in repr(loss)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("name", ["", "a/b", "weight"])
def test_bad_names(name):
    with pytest.raises(ValueError, match="term names"):
        named_sum((name, cross_entropy))


def test_duplicate_names():
    with pytest.raises(ValueError, match=r"unique; repeated: \['ce'\]"):
        named_sum(("ce", cross_entropy), ("ce", dice_loss))


def test_malformed_terms():
    with pytest.raises(ValueError, match="at least one"):
        named_sum()
    with pytest.raises(TypeError, match="each term is"):
        named_sum((cross_entropy, "ce"))
    with pytest.raises(TypeError, match="not callable"):
        named_sum(("ce", 3.0))
    with pytest.raises(TypeError, match=r"function of \(predictions, labels"):
        named_sum(("one", lambda p: p))


def test_term_output_shapes_are_checked():
    scalar = named_sum(("mean", lambda p, y: cross_entropy(p, y).mean()))
    with pytest.raises(ValueError, match=r"term 'mean': expected a per-example loss of shape"):
        scalar(LOGITS, LABELS)
    pixel = named_sum(("ce", cross_entropy), ("px", lambda p, y: cross_entropy(p, y)[:2]))
    with pytest.raises(ValueError, match=r"term 'px'.*shape \(3\); got shape \(2\)"):
        pixel(LOGITS, LABELS)


def test_weighted_and_scheduled_validate_options():
    with pytest.raises(TypeError, match=r"does not accept option\(s\) \['gama'\]"):
        weighted(focal_loss, 1.0, gama=2.0)
    with pytest.raises(TypeError, match="expected a callable"):
        scheduled(focal_loss, 0.5)
    term = weighted(focal_loss, 2.0, gamma=0.0)
    np.testing.assert_allclose(
        term.fn(LOGITS, LABELS), cross_entropy(LOGITS, LABELS), rtol=1e-5
    )


# --------------------------------------------------------------------------- masked, on_classes


def test_masked_term():
    roi = np.zeros((B, H, W), np.float32)
    roi[:, 1:4, 2:5] = 1.0

    def roi_fn(predictions, labels):
        return roi

    term = masked(cross_entropy, roi_fn)
    np.testing.assert_allclose(
        term(LOGITS, LABELS), cross_entropy(LOGITS, LABELS, mask=roi), rtol=1e-6
    )
    extra = np.random.default_rng(1).random((B, H, W)).astype(np.float32)
    np.testing.assert_allclose(
        term(LOGITS, LABELS, mask=extra),
        cross_entropy(LOGITS, LABELS, mask=roi * extra), rtol=1e-6,
    )
    # A fixed array works too, and the wrapper routes the same keywords as its loss.
    fixed = masked(dice_loss, roi)
    loss = named_sum(("dice_roi", fixed), ("ce", cross_entropy))
    _, aux = loss(LOGITS, LABELS, smooth=0.3)
    np.testing.assert_allclose(
        aux["dice_roi"], dice_loss(LOGITS, LABELS, mask=roi, smooth=0.3), rtol=1e-6
    )
    jitted = jax.jit(lambda p: term(p, LABELS))(LOGITS)
    np.testing.assert_allclose(jitted, term(LOGITS, LABELS), rtol=1e-5)


def test_masked_needs_a_mask_keyword():
    with pytest.raises(TypeError, match="does not accept mask"):
        masked(lambda p, y: p.sum((1, 2, 3)), np.ones((B, H, W)))


def test_on_classes_averages_the_chosen_classes():
    term = on_classes(dice_loss, [1, 2])
    per_class = dice_loss(LOGITS, LABELS, reduction="class")
    np.testing.assert_allclose(term(LOGITS, LABELS), per_class[:, 1:].mean(-1), rtol=1e-6)
    # Equal to the class-weighted mean with 0/1 weights.
    np.testing.assert_allclose(
        term(LOGITS, LABELS), dice_loss(LOGITS, LABELS, class_weights=[0.0, 1.0, 1.0]), rtol=1e-6
    )
    # include_background is pinned to True: the class indices are those of the C channels.
    np.testing.assert_allclose(
        term(LOGITS, LABELS, include_background=False), term(LOGITS, LABELS), rtol=1e-6
    )
    # Routed keywords and the traced batch-global form.
    loss = named_sum(("fg", term), ("ce", cross_entropy))
    _, aux = jax.jit(lambda p: loss(p, LABELS, per_image=False, smooth=0.5))(LOGITS)
    per_class = dice_loss(LOGITS, LABELS, reduction="class", per_image=False, smooth=0.5)
    np.testing.assert_allclose(aux["fg"], per_class[:, 1:].mean(-1), rtol=1e-5)
    assert "reduction" not in term.accepted_kwargs


def test_on_classes_errors():
    with pytest.raises(ValueError, match="classes: expected distinct"):
        on_classes(dice_loss, [])
    with pytest.raises(ValueError, match="classes: expected distinct"):
        on_classes(dice_loss, [1, 1])
    with pytest.raises(TypeError, match="no reduction= option"):
        on_classes(generalized_dice_loss, [1])
    with pytest.raises(ValueError, match="must be < C = 3"):
        on_classes(dice_loss, [3])(LOGITS, LABELS)
    with pytest.raises(TypeError, match="'cross_entropy' is pixel-wise"):
        on_classes(cross_entropy, [0])  # declares no reduction="class": refused when built
    with pytest.raises(ValueError, match="reduction: expected one of"):  # undeclared: at call
        on_classes(lambda p, y, *, reduction: cross_entropy(p, y, reduction=reduction),
                   [0])(LOGITS, LABELS)
    with pytest.raises(ValueError, match=r"returned shape \(3,?\); expected \(B, C\)"):
        on_classes(lambda p, y, *, reduction: cross_entropy(p, y), [0])(LOGITS, LABELS)


def test_module_exports():
    for name in combine.__all__:
        assert hasattr(combine, name)
