"""Deep supervision: nearest-exact resizing against PyTorch, weights and values against MONAI's
DeepSupervisionLoss, composition with the combinators, and the test standard."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from jaxseg_losses.combine import named_sum
from jaxseg_losses.multiscale import (
    deep_supervision,
    deep_supervision_weights,
    resize_nearest,
)
from jaxseg_losses.pixelwise import cross_entropy
from jaxseg_losses.region import dice_loss
from tests.helpers import assert_finite_value_and_grad, one_hot_np, random_labels, random_logits

C = 3


def np_resize(x, shape):
    """Output i reads input floor((i + 0.5) * n / m), clipped (PyTorch nearest-exact)."""
    for axis, m in enumerate(shape, start=1):
        n = x.shape[axis]
        idx = np.minimum(np.floor((np.arange(m) + 0.5) * n / m).astype(int), n - 1)
        x = np.take(x, idx, axis=axis)
    return x


def outputs(seed, shapes, batch=2):
    return [jnp.asarray(random_logits(seed + i, (batch, *s, C))) for i, s in enumerate(shapes)]


@pytest.mark.parametrize(("src", "dst"), [((8, 6), (4, 3)), ((7, 5), (3, 2)), ((3, 4), (7, 9)),
                                          ((6, 5, 4), (3, 3, 2))])
def test_resize_nearest_matches_reference_and_torch(src, dst):
    y = random_labels(0, (2, *src), C)
    np.testing.assert_array_equal(resize_nearest(y, dst), np_resize(y, dst))
    dense = one_hot_np(y, C).astype(np.float32)
    np.testing.assert_array_equal(resize_nearest(dense, dst, channels_last=True),
                                  np_resize(dense, dst))
    torch = pytest.importorskip("torch")
    ref = torch.nn.functional.interpolate(torch.tensor(y[:, None].astype(np.float32)), size=dst,
                                          mode="nearest-exact")[:, 0].numpy()
    np.testing.assert_array_equal(resize_nearest(y, dst), ref)
    assert resize_nearest(y, dst).dtype == jnp.int32


def test_weights_follow_monai():
    assert deep_supervision_weights(6) == [1.0, 0.5, 0.25, 0.125, 0.0625, 0.0625]
    assert deep_supervision_weights(3, weight_mode="two") == [1.0, 0.5, 0.5]
    assert deep_supervision_weights(2, weight_mode="same") == [1.0, 1.0]
    assert deep_supervision_weights(2, weights=[0.7, 0.2, 0.1]) == [0.7, 0.2]
    pytest.importorskip("torch")
    losses = pytest.importorskip("monai.losses")
    for mode in ("exp", "two", "same"):
        ds = losses.DeepSupervisionLoss(losses.DiceLoss(), weight_mode=mode)
        assert ds.get_weights(5) == deep_supervision_weights(5, weight_mode=mode)


@pytest.mark.parametrize("weight_mode", ["exp", "two"])
def test_equals_weighted_sum_of_resized_losses(weight_mode):
    shapes = [(8, 6), (4, 3), (2, 2)]
    preds = outputs(1, shapes)
    y = random_labels(1, (2, 8, 6), C)
    w = deep_supervision_weights(3, weight_mode=weight_mode)
    want = sum(wi * dice_loss(p, np_resize(y, s)) for wi, p, s in zip(w, preds, shapes,
                                                                       strict=True))
    ds = deep_supervision(dice_loss, weight_mode=weight_mode)
    np.testing.assert_allclose(ds(preds, y), want, rtol=1e-6)
    # Dense labels, a single array, explicit weights, keywords passed through.
    dense = one_hot_np(y, C).astype(np.float32)
    np.testing.assert_allclose(ds(preds, dense), want, rtol=1e-6)
    np.testing.assert_allclose(ds(preds[0], y), dice_loss(preds[0], y), rtol=1e-6)
    explicit = deep_supervision(dice_loss, weights=[0.5, 0.3, 0.2])
    want = sum(wi * dice_loss(p, np_resize(y, s), smooth=1.0) for wi, p, s in zip(
        [0.5, 0.3, 0.2], preds, shapes, strict=True))
    np.testing.assert_allclose(explicit(preds, y, smooth=1.0), want, rtol=1e-6)


def test_mask_is_resized_and_ignore_index_passed():
    shapes = [(8, 6), (4, 3)]
    preds = outputs(2, shapes)
    y = random_labels(2, (2, 8, 6), C)
    mask = np.random.default_rng(2).uniform(size=y.shape) > 0.3
    want = cross_entropy(preds[0], y, mask=mask) + 0.5 * cross_entropy(
        preds[1], np_resize(y, (4, 3)), mask=np_resize(mask, (4, 3)))
    np.testing.assert_allclose(deep_supervision(cross_entropy)(preds, y, mask=mask), want,
                               rtol=1e-6)
    y_ign = np.where(mask, y, 9)
    want = cross_entropy(preds[0], y_ign, ignore_index=9) + 0.5 * cross_entropy(
        preds[1], np_resize(y_ign, (4, 3)), ignore_index=9)
    np.testing.assert_allclose(deep_supervision(cross_entropy)(preds, y_ign, ignore_index=9), want,
                               rtol=1e-6)


def test_matches_monai_deep_supervision_loss():
    torch = pytest.importorskip("torch")
    losses = pytest.importorskip("monai.losses")
    shapes = [(8, 6), (4, 3), (3, 2)]
    preds = outputs(3, shapes)
    y = random_labels(3, (2, 8, 6), C)
    monai_loss = losses.DeepSupervisionLoss(
        losses.DiceLoss(softmax=True, to_onehot_y=True, reduction="mean"), weight_mode="exp")
    ref = monai_loss([torch.tensor(np.asarray(p)).movedim(-1, 1) for p in preds],
                     torch.tensor(y[:, None].astype(np.float32))).numpy()
    np.testing.assert_allclose(deep_supervision(dice_loss)(preds, y).mean(), ref, rtol=1e-5)


def test_composes_with_named_sum():
    preds = outputs(4, [(8, 6), (4, 3)])
    y = random_labels(4, (2, 8, 6), C)
    combined = named_sum(("dice", dice_loss), ("ce", cross_entropy))
    ds = deep_supervision(combined)
    total, aux = ds(preds, y)
    want = (dice_loss(preds[0], y) + cross_entropy(preds[0], y)
            + 0.5 * (dice_loss(preds[1], np_resize(y, (4, 3)))
                     + cross_entropy(preds[1], np_resize(y, (4, 3)))))
    np.testing.assert_allclose(total, want, rtol=1e-6)
    assert {"scale0/dice", "scale1/ce", "scale1", "scale1/weight"} <= set(aux)
    # ... and the other way round: a deep-supervision loss is a term of a named sum.
    outer = named_sum(("ds", deep_supervision(dice_loss)))
    total, aux = outer(preds, y)
    np.testing.assert_allclose(total, deep_supervision(dice_loss)(preds, y), rtol=1e-6)


def test_grads_jit_vmap_bf16():
    preds = outputs(5, [(6, 4), (3, 2)])
    y = random_labels(5, (2, 6, 4), C)
    ds = deep_supervision(dice_loss)
    compiled = jax.jit(ds)  # one compilation per input shape instead of eager primitives
    value = compiled(preds, y)
    np.testing.assert_allclose(value, ds(preds, y), rtol=1e-6)
    check_grads(lambda a, b: compiled([a, b], y), tuple(preds), order=1, modes=["rev"],
                atol=1e-2, rtol=1e-2)
    mapped = jax.jit(jax.vmap(lambda a, b, t: ds([a[None], b[None]], t[None])[0]))(*preds, y)
    np.testing.assert_allclose(mapped, value, rtol=1e-5)
    low = compiled([p.astype(jnp.bfloat16) for p in preds], y)
    assert low.dtype == jnp.float32 and low.shape == (2,)
    np.testing.assert_allclose(low, value, rtol=0.05, atol=0.02)
    extreme = [jnp.sign(p) * 1e4 for p in preds]
    assert_finite_value_and_grad(lambda a, t: compiled([a, extreme[1]], t), extreme[0], y)
    assert_finite_value_and_grad(lambda b, t: compiled([extreme[0], b], t), extreme[1], y)
    # Empty truth at every scale: perfect empty predictions give 0.
    empty = np.zeros((2, 6, 4), np.int32)
    perfect = [jnp.asarray(one_hot_np(np.zeros((2, *s), int), C) * 2e4 - 1e4, jnp.float32)
               for s in [(6, 4), (3, 2)]]
    np.testing.assert_allclose(compiled(perfect, empty), 0.0, atol=1e-6)


def test_bad_calls_raise_clear_errors():
    preds = outputs(6, [(6, 4), (3, 2)])
    y = random_labels(6, (2, 6, 4), C)
    with pytest.raises(ValueError, match="weight_mode: expected one of"):
        deep_supervision(dice_loss, weight_mode="exponential")
    with pytest.raises(TypeError, match="loss: expected a callable"):
        deep_supervision("dice")
    with pytest.raises(ValueError, match=r"weights: expected at least one weight per level \(2\)"):
        deep_supervision(dice_loss, weights=[1.0])(preds, y)
    with pytest.raises(ValueError, match="predictions: expected at least one output scale"):
        deep_supervision(dice_loss)([], y)
    with pytest.raises(ValueError, match=r"predictions\[1\]: expected shape \(B, \*spatial, C\)"):
        deep_supervision(dice_loss)([preds[0], preds[1][:1]], y)
    with pytest.raises(ValueError, match="labels: expected"):
        deep_supervision(dice_loss)(preds, y[..., None, None])
    with pytest.raises(ValueError, match="spatial_shape: expected 2 sizes"):
        resize_nearest(y, (3,))


@settings(max_examples=20, deadline=None)
@given(src=st.lists(st.integers(1, 9), min_size=1, max_size=3),
       dst=st.lists(st.integers(1, 9), min_size=3, max_size=3), levels=st.integers(1, 7))
def test_properties(src, dst, levels):
    dst = dst[:len(src)]
    y = random_labels(len(src), (2, *src), C)
    out = np.asarray(resize_nearest(y, dst))
    np.testing.assert_array_equal(out, np_resize(y, dst))
    assert set(np.unique(out)) <= set(np.unique(y))  # nearest neighbour never invents labels
    np.testing.assert_array_equal(resize_nearest(y, src), y)  # same size: identity
    w = deep_supervision_weights(levels)
    assert w[0] == 1.0 and all(a >= b for a, b in zip(w, w[1:], strict=False))
    assert min(w) >= 0.0625
