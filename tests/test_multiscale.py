"""Deep supervision: nearest-exact resizing against PyTorch, weights and values against MONAI's
DeepSupervisionLoss, composition with the combinators, and the test standard. Multi-scale
smoothing: a NumPy/SciPy reference of the blur and the Dice, MONAI's MultiScaleLoss, the
combinators, the test standard."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads
from scipy import ndimage

from jaxseg_losses._filters import separable_filter
from jaxseg_losses.combine import accepted_kwargs, named_sum
from jaxseg_losses.multiscale import (
    deep_supervision,
    deep_supervision_weights,
    multi_scale,
    resize_nearest,
)
from jaxseg_losses.pixelwise import cross_entropy, focal_loss
from jaxseg_losses.region import dice_loss
from tests.helpers import (
    assert_finite_value_and_grad,
    channels_first,
    one_hot_np,
    random_labels,
    random_logits,
    softmax_np,
)

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
    assert deep_supervision_weights(3, level_weighting="two") == [1.0, 0.5, 0.5]
    assert deep_supervision_weights(2, level_weighting="same") == [1.0, 1.0]
    assert deep_supervision_weights(2, level_weights=[0.7, 0.2, 0.1]) == [0.7, 0.2]
    pytest.importorskip("torch")
    losses = pytest.importorskip("monai.losses")
    for mode in ("exp", "two", "same"):
        ds = losses.DeepSupervisionLoss(losses.DiceLoss(), weight_mode=mode)
        assert ds.get_weights(5) == deep_supervision_weights(5, level_weighting=mode)


@pytest.mark.slow
@pytest.mark.parametrize("weight_mode", ["exp", "two"])
def test_equals_weighted_sum_of_resized_losses(weight_mode):
    shapes = [(8, 6), (4, 3), (2, 2)]
    preds = outputs(1, shapes)
    y = random_labels(1, (2, 8, 6), C)
    w = deep_supervision_weights(3, level_weighting=weight_mode)
    want = sum(wi * dice_loss(p, np_resize(y, s)) for wi, p, s in zip(w, preds, shapes,
                                                                       strict=True))
    ds = deep_supervision(dice_loss, level_weighting=weight_mode)
    np.testing.assert_allclose(ds(preds, y), want, rtol=1e-6)
    # Dense labels, a single array, explicit weights, keywords passed through.
    dense = one_hot_np(y, C).astype(np.float32)
    np.testing.assert_allclose(ds(preds, dense), want, rtol=1e-6)
    np.testing.assert_allclose(ds(preds[0], y), dice_loss(preds[0], y), rtol=1e-6)
    explicit = deep_supervision(dice_loss, level_weights=[0.5, 0.3, 0.2])
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
    # It declares what the wrapped loss accepts, so a keyword meant for another term (here
    # `step` of a schedule, `alpha` of focal) is not forwarded to it.
    assert accepted_kwargs(deep_supervision(dice_loss)) == accepted_kwargs(dice_loss)
    mixed = named_sum(("dice", deep_supervision(dice_loss)),
                      ("focal", deep_supervision(focal_loss)))
    total, _ = mixed(preds, y, alpha=0.25, step=3)
    np.testing.assert_allclose(total, deep_supervision(dice_loss)(preds, y)
                               + deep_supervision(focal_loss)(preds, y, alpha=0.25), rtol=1e-6)


@pytest.mark.slow
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
    with pytest.raises(ValueError, match="level_weighting: expected one of"):
        deep_supervision(dice_loss, level_weighting="exponential")
    with pytest.raises(TypeError, match="loss: expected a callable"):
        deep_supervision("dice")
    with pytest.raises(ValueError,
                       match=r"level_weights: expected at least one weight per level \(2\)"):
        deep_supervision(dice_loss, level_weights=[1.0])(preds, y)
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


# --------------------------------------------------------------------------- multi-scale


def ref_scale_kernel(scale, kernel):
    """Sampled Gaussian on |x| <= floor(3 s + 1/2), not normalised; Cauchy 1 / (1 + (x/s)^2) on
    |x| <= floor(5 s), normalised."""
    if kernel == "gaussian":
        tail = int(max(3 * scale, 0.5) + 0.5)
        x = np.arange(-tail, tail + 1)
        return np.exp(-(x**2) / (2 * scale**2)) / (np.sqrt(2 * np.pi) * scale)
    tail = int(5 * scale)
    k = 1 / (1 + (np.arange(-tail, tail + 1) / scale) ** 2)
    return k / k.sum()


def np_blur(x, scale, kernel):
    """Correlation along every spatial axis of (B, *spatial, C), zeros outside (SciPy)."""
    if scale == 0:
        return x
    w = ref_scale_kernel(scale, kernel)
    for axis in range(1, x.ndim - 1):
        x = ndimage.correlate1d(x, w, axis=axis, mode="constant", cval=0.0)
    return x


def ref_dice(p, g, v, s=1e-5):
    """Mean over classes of 1 - (2 sum v p g + s) / (sum v p + sum v g + s), per example."""
    axes = tuple(range(1, p.ndim - 1))
    v = v[..., None]
    inter = (v * p * g).sum(axes)
    return (1 - (2 * inter + s) / ((v * p).sum(axes) + (v * g).sum(axes) + s)).mean(-1)


@pytest.mark.parametrize("spatial", [(7,), (6, 5), (5, 4, 6)], ids=["1d", "2d", "3d"])
def test_separable_filter_matches_scipy(spatial):
    """Correlation along every spatial axis, zeros outside, PyTorch's "same" offset: a kernel of
    size k reads (k - 1) // 2 pixels before (SciPy's origin -1 for an even k); sizes 1 to 5."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, *spatial, C)).astype(np.float32)
    kernels = [rng.random(size) for size in (1, 2, 3, 4, 5)[: len(spatial)]]
    kernels = kernels if len(spatial) > 1 else [rng.random(4)]
    want = x.astype(np.float64)
    for axis, w in enumerate(kernels, start=1):
        want = ndimage.correlate1d(want, w, axis=axis, mode="constant", cval=0.0,
                                   origin=(w.size - 1) // 2 - w.size // 2)
    got = jax.jit(lambda a: separable_filter(a, kernels))(jnp.asarray(x))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    check_grads(lambda a: separable_filter(a, kernels), (jnp.asarray(x),), order=1,
                modes=("rev",), atol=1e-2, rtol=1e-2)


SCALES = [0, 1, 1.5]


@pytest.mark.parametrize("kernel", ["gaussian", "cauchy"])
@pytest.mark.parametrize("spatial", [(9, 8), (6, 5, 4)], ids=["2d", "3d"])
def test_multi_scale_matches_reference(kernel, spatial):
    z = random_logits(10, (2, *spatial, C), scale=2.0)
    y = random_labels(10, (2, *spatial), C)
    g = one_hot_np(y, C)
    mask = (np.random.default_rng(10).random(y.shape) > 0.3).astype(np.float32)
    on_logits = jax.jit(lambda p, t, m: multi_scale(dice_loss, scales=SCALES, kernel=kernel)(
        p, t, mask=m))
    on_probabilities = jax.jit(lambda p, t, m: multi_scale(
        dice_loss, scales=SCALES, kernel=kernel, mode="multiclass")(p, t, mask=m))
    # Masked pixels are zeroed in predictions and targets before the blur (scale 0: no blur).
    kept = mask[..., None]

    def blur(x, s):
        return np_blur(x * kept, s, kernel) if s else x

    # mode=None: the logits are blurred, then the loss's softmax (MONAI's order).
    want = np.mean([ref_dice(softmax_np(blur(z, s)), blur(g, s), mask) for s in SCALES], axis=0)
    np.testing.assert_allclose(on_logits(z, y, mask), want, rtol=1e-5, atol=1e-6)
    # mode="multiclass": softmax, then the blur of the probabilities.
    want = np.mean([ref_dice(blur(softmax_np(z), s), blur(g, s), mask) for s in SCALES], axis=0)
    np.testing.assert_allclose(on_probabilities(z, y, mask), want, rtol=1e-5, atol=1e-6)
    # Dense labels are blurred as they are: one-hot labels give the same values.
    np.testing.assert_allclose(on_probabilities(z, g.astype(np.float32), mask), want,
                               rtol=1e-5, atol=1e-6)


def test_multi_scale_ignore_index_and_out_of_range_labels_are_excluded():
    z = random_logits(11, (2, 8, 7, C), scale=2.0)
    y = random_labels(11, (2, 8, 7), C)
    ignored = np.zeros(y.shape, bool)
    ignored[:, 2:4, 3] = True
    y_ign = np.where(ignored, 9, y)
    g = one_hot_np(y, C) * ~ignored[..., None]  # an ignored pixel adds nothing to its neighbours
    keep = (~ignored).astype(float)
    loss = multi_scale(dice_loss, scales=[1, 2], mode="multiclass")
    probs = softmax_np(z) * keep[..., None]  # an ignored pixel's prediction reaches no neighbour
    want = np.mean([ref_dice(np_blur(probs, s, "gaussian"), np_blur(g, s, "gaussian"),
                             keep) for s in (1, 2)], axis=0)
    compiled = jax.jit(lambda p, t: loss(p, t, ignore_index=9))
    np.testing.assert_allclose(compiled(z, y_ign), want, rtol=1e-5, atol=1e-6)
    # Under jit an out-of-range label is excluded like ignore_index (never background).
    np.testing.assert_allclose(jax.jit(loss)(z, np.where(ignored, C, y)), want, rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(ValueError, match=r"labels: class indices must lie in \[0, 2\]"):
        loss(z, np.where(ignored, C, y))


@pytest.mark.slow
def test_multi_scale_excluded_pixels_change_nothing_and_mode_reaches_every_scale():
    z = random_logits(14, (1, 8, 8, C), scale=2.0)
    y = random_labels(14, (1, 8, 8), C)
    y[0, 3, 3] = 255
    for mode in (None, "multiclass"):
        loss = multi_scale(dice_loss, scales=[0, 1.0], mode=mode)

        def value(logits, loss=loss):
            return loss(logits, y, ignore_index=255).sum()

        grad = np.asarray(jax.grad(value)(jnp.asarray(z)))
        np.testing.assert_array_equal(grad[0, 3, 3], 0.0)
        assert np.abs(grad).sum() > 0
        moved = z.copy()
        moved[0, 3, 3] = 50.0
        np.testing.assert_allclose(value(moved), value(z), rtol=1e-6)
    # mode= is the activation of every scale, the unsmoothed one included.
    labels = random_labels(15, (2, 8, 6), C)
    logits = random_logits(15, (2, 8, 6, C))
    wrapped = multi_scale(dice_loss, scales=[0, 1.0], mode="multilabel")
    want = 0.5 * (dice_loss(logits, labels, mode="multilabel")
                  + multi_scale(dice_loss, scales=[1.0], mode="multilabel")(logits, labels))
    np.testing.assert_allclose(wrapped(logits, labels), want, rtol=1e-6)
    np.testing.assert_allclose(wrapped(logits, labels, mode="multilabel"), want, rtol=1e-6)
    with pytest.raises(ValueError, match="built with mode='multilabel'"):
        wrapped(logits, labels, mode="multiclass")


@pytest.mark.slow
@pytest.mark.parametrize("spatial", [(9, 8), (6, 7, 5)], ids=["2d", "3d"])
def test_multi_scale_matches_monai(spatial):
    pytest.importorskip("torch")
    losses = pytest.importorskip("monai.losses")
    z = random_logits(12, (2, *spatial, C), scale=2.0)
    y = random_labels(12, (2, *spatial), C)
    g = channels_first(one_hot_np(y, C), np.float32)
    p = channels_first(softmax_np(z), np.float32)
    worst = 0.0
    for kernel in ("gaussian", "cauchy"):
        scales = [0, 1, 2]
        # MONAI blurs what it is given: logits before DiceLoss's softmax ...
        ref = losses.MultiScaleLoss(losses.DiceLoss(softmax=True), scales=scales, kernel=kernel)
        got = multi_scale(dice_loss, scales=scales, kernel=kernel)(z, y)
        worst = max(worst, abs(float(got.mean()) / ref(g, channels_first(z)).item() - 1))
        # ... or probabilities, which mode="multiclass" blurs from the logits.
        ref = losses.MultiScaleLoss(losses.DiceLoss(), scales=scales, kernel=kernel)
        got = multi_scale(dice_loss, scales=scales, kernel=kernel, mode="multiclass")(z, y)
        worst = max(worst, abs(float(got.mean()) / ref(g, p).item() - 1))
    assert worst < 1e-5, worst
    # scales=None: the loss itself.
    ref = losses.MultiScaleLoss(losses.DiceLoss(softmax=True))(g, channels_first(z)).item()
    np.testing.assert_allclose(multi_scale(dice_loss)(z, y).mean(), ref, rtol=1e-5)


def test_multi_scale_composes_with_named_sum():
    z = jnp.asarray(random_logits(13, (2, 8, 6, C)))
    y = random_labels(13, (2, 8, 6), C)
    mask = np.random.default_rng(13).random(y.shape) > 0.2
    inner = named_sum(("dice", dice_loss), ("ce", cross_entropy))
    total, aux = multi_scale(inner, scales=[0, 1])(z, y, mask=mask)
    smoothed_dice = multi_scale(dice_loss, scales=[0, 1])(z, y, mask=mask)
    smoothed_ce = multi_scale(cross_entropy, scales=[0, 1])(z, y, mask=mask)
    np.testing.assert_allclose(total, smoothed_dice + smoothed_ce, rtol=1e-6)
    assert {"scale0/dice", "scale1/ce", "scale1", "scale1/weight"} <= set(aux)
    np.testing.assert_allclose(aux["scale1/weight"], 0.5)
    # A multi-scale loss is a term: the mask reaches it; with mode= it takes no from_logits.
    wrapped = multi_scale(dice_loss, scales=[0, 1], mode="multiclass")
    assert "mask" in wrapped.accepted_kwargs and "from_logits" not in wrapped.accepted_kwargs
    outer = named_sum(("ms", wrapped), ("ce", cross_entropy))
    total, aux = outer(z, y, mask=mask)
    np.testing.assert_allclose(aux["ms"], wrapped(z, y, mask=mask), rtol=1e-6)


@pytest.mark.slow
def test_multi_scale_grads_jit_vmap_bf16():
    z = jnp.asarray(random_logits(14, (2, 6, 5, C)))
    y = random_labels(14, (2, 6, 5), C)
    loss = multi_scale(dice_loss, scales=[0, 1], mode="multiclass")
    compiled = jax.jit(loss)
    value = compiled(z, y)
    np.testing.assert_allclose(value, loss(z, y), rtol=1e-6)
    check_grads(lambda p: compiled(p, y), (z,), order=1, modes=["rev"], atol=1e-2, rtol=1e-2)
    mapped = jax.jit(jax.vmap(lambda p, t: loss(p[None], t[None])[0]))(z, y)
    np.testing.assert_allclose(mapped, value, rtol=1e-5)
    low = compiled(z.astype(jnp.bfloat16), y)
    assert low.dtype == jnp.float32 and low.shape == (2,)
    np.testing.assert_allclose(low, value, rtol=0.05, atol=0.02)
    assert_finite_value_and_grad(compiled, jnp.sign(z) * 1e4, y)
    # Empty truth, empty prediction: 0 at every scale with the soft-label Dice.
    empty = np.zeros((2, 6, 5), np.int32)
    perfect = jnp.asarray(one_hot_np(empty, C) * 2e4 - 1e4, jnp.float32)
    np.testing.assert_allclose(loss(perfect, empty, soft_label=True), 0.0, atol=1e-6)


def test_multi_scale_bad_calls_raise_clear_errors():
    z = random_logits(15, (2, 6, 5, C))
    y = random_labels(15, (2, 6, 5), C)
    with pytest.raises(ValueError, match=r"scales: the sampled Gaussian of sigma=0.5 sums to"):
        multi_scale(dice_loss, scales=[0, 0.5])
    multi_scale(dice_loss, scales=[0.5], kernel="cauchy")  # a normalised kernel: fine
    for bad in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="scales: expected a value >= 0"):
            multi_scale(dice_loss, scales=[bad])
    with pytest.raises(ValueError, match="scales: expected at least one scale"):
        multi_scale(dice_loss, scales=[])
    with pytest.raises(ValueError, match="kernel: expected one of"):
        multi_scale(dice_loss, kernel="box")
    with pytest.raises(ValueError, match="mode: expected one of"):
        multi_scale(dice_loss, mode="softmax")
    with pytest.raises(TypeError, match="loss: expected a callable"):
        multi_scale("dice")

    def no_options(p, t):
        return dice_loss(p, t)

    with pytest.raises(TypeError, match="the wrapped loss must take from_logits"):
        multi_scale(no_options, scales=[1], mode="multiclass")
    with pytest.raises(TypeError, match="mask/ignore_index: the wrapped loss takes no mask"):
        multi_scale(no_options, scales=[1])(z, y, ignore_index=9)
    with pytest.raises(TypeError, match="from_logits: set by multi_scale"):
        multi_scale(dice_loss, scales=[1], mode="multiclass")(z, y, from_logits=False)
    with pytest.raises(ValueError, match="labels: expected"):
        multi_scale(dice_loss, scales=[1])(z, y[..., None, None])
    with pytest.raises(ValueError, match="predictions: logits must be finite"):
        multi_scale(dice_loss, scales=[1])(np.where(y[..., None] == 0, np.nan, z), y)
    with pytest.raises(ValueError, match="expects probabilities in"):
        multi_scale(dice_loss, scales=[1])(z, y, from_logits=False)
    with pytest.raises(ValueError, match=r"labels: dense targets must lie in \[0, 1\]"):
        multi_scale(dice_loss, scales=[1])(z, one_hot_np(y, C) * 1.5)
    with pytest.raises(ValueError, match="mode='binary' expects predictions with C == 1"):
        multi_scale(dice_loss, scales=[1], mode="binary")(z, y)
