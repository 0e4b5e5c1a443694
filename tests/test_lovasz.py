"""Tests of jaxseg_losses.lovasz against an independent NumPy version of Berman et al. (2018).

The NumPy reference follows the paper, not the JAX code: excluded pixels are *removed* by boolean
indexing, errors are sorted with ``np.argsort``, and the increments :math:`g_i` are computed as
differences of :math:`\\Delta_J(M_i) = |M_i| / |G \\cup M_i|` over the top-``i`` sets ``M_i``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.experimental import checkify

from tests.helpers import smp_module
from tests.jit_cache import eager_calls, jl

# Compiled once per options and shapes (tests/jit_cache.py): eager calls cost seconds.

IGNORE = 255

# --------------------------------------------------------------------------- NumPy reference


def ref_extension(errors: np.ndarray, fg: np.ndarray, sort_key: np.ndarray | None = None) -> float:
    """Lovász extension of the Jaccard loss of one class, on the kept pixels only (1-D, float64)."""
    if errors.size == 0:
        return 0.0
    key = errors if sort_key is None else sort_key
    order = np.argsort(-key, kind="stable")
    e, g = errors[order], fg[order]
    # Delta_J of the i first pixels M_i: |M_i| / |G u M_i|; |G u M_i| = |G| + |M_i \ G|.
    delta = np.arange(1, e.size + 1) / (g.sum() + np.cumsum(1.0 - g))
    increments = np.diff(delta, prepend=0.0)
    return float(e @ increments)


def _groups(arrays, per_image: bool):
    batch = arrays[0].shape[0]
    if per_image:
        return [tuple(a[b : b + 1] for a in arrays) for b in range(batch)]
    return [tuple(arrays)]


def ref_lovasz_softmax(probs, labels, keep, *, classes="present", per_image=True, first_class=0,
                       weights=None):
    """Reference Lovász-Softmax: probabilities (B, *S, C), labels (B, *S), keep (B, *S) bool;
    ``weights`` (C,): the mean over the counted classes weighted by them."""
    probs, labels, keep = np.asarray(probs, np.float64), np.asarray(labels), np.asarray(keep, bool)
    num_classes = probs.shape[-1]
    out = []
    for p, y, k in _groups((probs, labels, keep), per_image):
        p = p.reshape(-1, num_classes)[k.reshape(-1)]  # boolean indexing: pixels removed
        y = y.reshape(-1)[k.reshape(-1)]
        losses, counted = [], []
        for c in range(first_class, num_classes):
            fg = (y == c).astype(np.float64)
            if y.size == 0 or (classes == "present" and fg.sum() == 0):
                continue
            losses.append(ref_extension(np.abs(fg - p[:, c]), fg))
            counted.append(c)
        w = np.ones(num_classes) if weights is None else np.asarray(weights, np.float64)
        out.append(np.average(losses, weights=w[counted]) if losses else 0.0)
    out = np.array(out)
    return out if per_image else np.full(probs.shape[0], out[0])


def ref_lovasz_hinge(logits, targets, keep, *, per_image=True):
    """Reference Lovász hinge, per channel: logits and dense 0/1 targets (B, *S, C)."""
    logits, targets = np.asarray(logits, np.float64), np.asarray(targets, np.float64)
    keep = np.asarray(keep, bool)
    num_channels = logits.shape[-1]
    out = []
    for z, y, k in _groups((logits, targets, keep), per_image):
        per_channel = []
        for c in range(num_channels):
            zc = z[..., c][k]
            yc = y[..., c][k]
            hinge = 1.0 - zc * (2.0 * yc - 1.0)
            per_channel.append(ref_extension(np.maximum(hinge, 0.0), yc, sort_key=hinge))
        out.append(np.mean(per_channel))
    out = np.array(out)
    return out if per_image else np.full(logits.shape[0], out[0])


def softmax_np(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def make_inputs(seed, shape=(2, 4, 5), num_classes=4, ignore_frac=0.0, scale=2.0):
    rng = np.random.default_rng(seed)
    logits = (scale * rng.standard_normal(shape + (num_classes,))).astype(np.float32)
    labels = rng.integers(0, num_classes, shape)
    if ignore_frac:
        labels = np.where(rng.random(shape) < ignore_frac, IGNORE, labels)
    return logits, labels


# Shared jitted callables: every option is always passed (static), so that equal configurations
# share one cache entry and the suite compiles each configuration once.
_softmax_jit = jax.jit(
    lambda z, y, m, *options: jl.lovasz_softmax_loss(z, y, mask=m, **dict(options)),
    static_argnums=tuple(range(3, 9)),
)
_hinge_jit = jax.jit(
    lambda z, y, m, *options: jl.lovasz_hinge_loss(z, y, mask=m, **dict(options)),
    static_argnums=(3, 4, 5),
)


def softmax_jit(predictions, labels, mask=None, *, classes="present", per_image=True,
                ignore_index=None, from_logits=True, include_background=True, reduction="example"):
    options = dict(classes=classes, per_image=per_image, ignore_index=ignore_index,
                   from_logits=from_logits, include_background=include_background,
                   reduction=reduction)
    return _softmax_jit(predictions, labels, mask, *options.items())


def hinge_jit(predictions, labels, mask=None, *, per_image=True, ignore_index=None,
              reduction="example"):
    options = dict(per_image=per_image, ignore_index=ignore_index, reduction=reduction)
    return _hinge_jit(predictions, labels, mask, *options.items())


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("shape", [(2, 4, 5), (2, 3, 3, 4)], ids=["2d", "3d"])
@pytest.mark.parametrize("classes", ["present", "all"])
@pytest.mark.parametrize("per_image", [True, False])
def test_softmax_matches_reference_with_ignored_pixels_removed(shape, classes, per_image):
    logits, labels = make_inputs(0, shape, ignore_frac=0.3)
    labels[0, 0] = IGNORE  # make sure some class is absent somewhere
    got = softmax_jit(logits, labels, classes=classes, per_image=per_image, ignore_index=IGNORE)
    want = ref_lovasz_softmax(
        softmax_np(logits), labels, labels != IGNORE, classes=classes, per_image=per_image
    )
    assert got.shape == (shape[0],) and got.dtype == jnp.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_softmax_ignored_pixels_inert_value_and_gradient():
    """Ignored pixels (error 0, fg 0, sorted last) == those pixels removed, value and gradient."""
    logits, labels = make_inputs(1, (1, 24), num_classes=3, ignore_frac=0.4)
    keep = labels[0] != IGNORE
    loss_full = jax.jit(lambda z: jl.lovasz_softmax_loss(z, labels, ignore_index=IGNORE)[0])
    loss_kept = lambda z: jl.lovasz_softmax_loss(z, labels[:, keep])[0]
    value_full, grad_full = jax.jit(jax.value_and_grad(loss_full))(logits)
    value_kept, grad_kept = jax.jit(jax.value_and_grad(loss_kept))(logits[:, keep])
    np.testing.assert_allclose(value_full, value_kept, rtol=1e-6)
    np.testing.assert_allclose(grad_full[0, keep], grad_kept[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(grad_full[0, ~keep], 0.0)
    # The logits under ignored pixels do not matter at all, even extreme ones.
    changed = np.where((~keep)[None, :, None], 1e4, logits).astype(np.float32)
    np.testing.assert_allclose(loss_full(changed), value_full, rtol=1e-6)


def test_mask_equals_ignore_index_and_binary_mask_semantics():
    logits, labels = make_inputs(2, ignore_frac=0.3)
    keep = labels != IGNORE
    clean = np.where(keep, labels, 0)
    by_ignore = softmax_jit(logits, labels, ignore_index=IGNORE)
    by_mask = softmax_jit(logits, clean, mask=keep)
    by_weights = softmax_jit(logits, clean, mask=keep * 0.3)  # any positive weight keeps
    np.testing.assert_allclose(by_mask, by_ignore, rtol=1e-6)
    np.testing.assert_allclose(by_weights, by_ignore, rtol=1e-6)
    np.testing.assert_allclose(
        hinge_jit(logits[..., :1], (clean == 1).astype(np.int32), mask=keep),
        ref_lovasz_hinge(logits[..., :1], (clean == 1)[..., None], keep),
        rtol=1e-5,
    )


def _iou_loss(pred_classes, labels, keep, num_classes, first_class=0):
    losses = []
    for c in range(first_class, num_classes):
        gt, pr = (labels == c) & keep, (pred_classes == c) & keep
        if gt.sum() == 0:
            continue
        losses.append(1.0 - (gt & pr).sum() / (gt | pr).sum())
    return np.mean(losses) if losses else 0.0


@pytest.mark.parametrize("include_background", [True, False])
def test_hard_predictions_give_mean_jaccard_loss_exactly(include_background):
    rng = np.random.default_rng(3)
    num_classes, shape = 4, (3, 5, 4)
    labels = rng.integers(0, num_classes, shape)
    labels[2] = np.where(labels[2] == 2, 1, labels[2])  # class 2 absent from example 2
    predicted = np.where(rng.random(shape) < 0.6, labels, rng.integers(0, num_classes, shape))
    probs = np.eye(num_classes, dtype=np.float32)[predicted]
    keep = rng.random(shape) < 0.8
    got = softmax_jit(probs, labels, mask=keep, from_logits=False,
                      include_background=include_background)
    first = 0 if include_background else 1
    want = [_iou_loss(predicted[b], labels[b], keep[b], num_classes, first) for b in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    # Batch mode: IoU from the statistics of the whole batch.
    got_batch = softmax_jit(probs, labels, mask=keep, from_logits=False, per_image=False,
                            include_background=include_background)
    want_batch = _iou_loss(predicted, labels, keep, num_classes, first)
    np.testing.assert_allclose(got_batch, np.full(3, want_batch), rtol=1e-6)


def test_perfect_prediction_is_zero_with_finite_gradient():
    _, labels = make_inputs(4)
    probs = np.eye(4, dtype=np.float32)[labels]
    np.testing.assert_array_equal(softmax_jit(probs, labels, from_logits=False), 0.0)
    logits = 200.0 * probs  # softmax saturates to exactly one-hot in float32
    value, grad = jax.value_and_grad(lambda z: softmax_jit(z, labels).sum())(logits)
    assert float(value) == 0.0 and np.all(np.isfinite(grad))


def test_dense_one_hot_labels_equal_integer_labels():
    logits, labels = make_inputs(5)
    dense = np.eye(4, dtype=np.float32)[labels]
    keep = np.ones(labels.shape, bool)
    for per_image in (True, False):
        np.testing.assert_allclose(
            softmax_jit(logits, dense, per_image=per_image),
            ref_lovasz_softmax(softmax_np(logits), labels, keep, per_image=per_image), rtol=1e-5,
        )


def test_all_classes_absent_class_contributes_max_probability():
    logits, labels = make_inputs(6)
    labels = np.where(labels == 3, 0, labels)  # class 3 absent
    per_class = softmax_jit(logits, labels, classes="all", reduction="class")
    np.testing.assert_allclose(per_class[:, 3], softmax_np(logits)[..., 3].max((1, 2)), rtol=1e-6)
    present = softmax_jit(logits, labels, reduction="class")
    np.testing.assert_array_equal(present[:, 3], 0.0)
    np.testing.assert_allclose(per_class[:, :3], present[:, :3], rtol=1e-6)
    np.testing.assert_allclose(
        softmax_jit(logits, labels), present[:, :3].mean(-1), rtol=1e-6
    )


def test_class_reduction_shapes_and_batch_broadcast():
    logits, labels = make_inputs(7)
    keep = np.ones(labels.shape, bool)
    out = softmax_jit(logits, labels, include_background=False, reduction="class")
    assert out.shape == (2, 3)
    np.testing.assert_allclose(
        out.mean(-1), ref_lovasz_softmax(softmax_np(logits), labels, keep, first_class=1),
        rtol=1e-5,
    )  # every class is present in both examples here
    batch = softmax_jit(logits, labels, per_image=False, reduction="class")
    assert batch.shape == (2, 4) and np.all(batch == batch[0])
    assert hinge_jit(logits, labels, reduction="class").shape == (2, 4)


@pytest.mark.parametrize("per_image", [True, False])
def test_softmax_class_weights_give_a_weighted_class_mean(per_image):
    logits, labels = make_inputs(12, ignore_frac=0.2)
    labels[0][labels[0] == 2] = 0  # class 2 absent from example 0: it has no weight there
    w = np.array([0.5, 2.0, 1.0, 3.0], np.float32)
    for classes, include_background in (("present", True), ("all", False)):
        weighted = jax.jit(functools.partial(
            jl.lovasz_softmax_loss, classes=classes, per_image=per_image, ignore_index=IGNORE,
            include_background=include_background))
        want = ref_lovasz_softmax(softmax_np(logits), labels, labels != IGNORE, classes=classes,
                                  per_image=per_image, first_class=0 if include_background else 1,
                                  weights=w)
        np.testing.assert_allclose(weighted(logits, labels, class_weights=w), want, rtol=1e-5)
        np.testing.assert_allclose(weighted(logits, labels, class_weights=np.full(4, 2.0)),
                                   weighted(logits, labels), rtol=1e-6)
    with pytest.raises(ValueError, match="class_weights: only used by reduction='example'"):
        jl.lovasz_softmax_loss(logits, labels, class_weights=w, reduction="class")
    with pytest.raises(ValueError, match=r"class_weights: expected a scalar or shape \(4,\)"):
        jl.lovasz_softmax_loss(logits, labels, class_weights=w[:3])


# --------------------------------------------------------------------------- hinge


@pytest.mark.parametrize("shape", [(2, 4, 5), (2, 2, 3, 4)], ids=["2d", "3d"])
@pytest.mark.parametrize("per_image", [True, False])
def test_hinge_binary_matches_reference(shape, per_image):
    rng = np.random.default_rng(8)
    logits = (2.0 * rng.standard_normal(shape + (1,))).astype(np.float32)
    labels = rng.integers(0, 2, shape)
    labels = np.where(rng.random(shape) < 0.25, IGNORE, labels)
    got = hinge_jit(logits, labels, per_image=per_image, ignore_index=IGNORE)
    want = ref_lovasz_hinge(logits, (labels == 1)[..., None], labels != IGNORE,
                            per_image=per_image)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_hinge_multilabel_is_mean_of_channels():
    rng = np.random.default_rng(9)
    logits = rng.standard_normal((2, 4, 4, 3)).astype(np.float32)
    targets = (rng.random((2, 4, 4, 3)) < 0.4).astype(np.float32)
    keep = np.ones((2, 4, 4), bool)
    np.testing.assert_allclose(hinge_jit(logits, targets), ref_lovasz_hinge(logits, targets, keep),
                               rtol=1e-5)
    channels = [hinge_jit(logits[..., c : c + 1], targets[..., c : c + 1]) for c in range(3)]
    np.testing.assert_allclose(hinge_jit(logits, targets), np.mean(channels, axis=0), rtol=1e-6)


def test_hinge_margins_at_least_one_give_zero():
    rng = np.random.default_rng(10)
    labels = rng.integers(0, 2, (2, 5, 5))
    margins = 1.0 + rng.random((2, 5, 5)) * 3.0
    margins[0, 0, 0] = 1.0  # exactly 1 is still 0
    logits = (margins * (2 * labels - 1))[..., None].astype(np.float32)
    np.testing.assert_array_equal(hinge_jit(logits, labels), 0.0)
    np.testing.assert_array_equal(hinge_jit(logits, labels, per_image=False), 0.0)
    empty_fg = np.full((1, 3, 3, 1), -2.0, np.float32)  # no foreground, all logits <= -1
    np.testing.assert_array_equal(hinge_jit(empty_fg, np.zeros((1, 3, 3), int)), 0.0)


# --------------------------------------------------------------------------- smp cross-check


@pytest.mark.parametrize("per_image", [True, False])
def test_cross_check_smp_lovasz_loss(per_image):
    LovaszLoss = smp_module("losses").LovaszLoss
    import torch

    logits, labels = make_inputs(11, ignore_frac=0.2)
    to_torch = lambda z: torch.from_numpy(np.moveaxis(z, -1, 1).copy())
    smp_multi = LovaszLoss("multiclass", per_image=per_image, ignore_index=IGNORE)
    want = float(smp_multi(to_torch(logits), torch.from_numpy(labels)))
    got = softmax_jit(logits, labels, per_image=per_image, ignore_index=IGNORE)
    np.testing.assert_allclose(got.mean(), want, rtol=1e-5)

    binary = np.where(labels == IGNORE, IGNORE, labels % 2)
    smp_binary = LovaszLoss("binary", per_image=per_image, ignore_index=IGNORE)
    want = float(smp_binary(to_torch(logits[..., :1])[:, 0], torch.from_numpy(binary)))
    got = hinge_jit(logits[..., :1], binary, per_image=per_image, ignore_index=IGNORE)
    np.testing.assert_allclose(got.mean(), want, rtol=1e-5)


# --------------------------------------------------------------------------- JAX transforms


def _stable_logits(seed, shape, num_classes, labels):
    """Logits whose per-class errors are pairwise >= 2e-2 apart: the sort order is stable."""
    rng = np.random.default_rng(seed)
    for _ in range(200):
        logits = rng.standard_normal(shape + (num_classes,))
        errors = np.abs(np.eye(num_classes)[labels] - softmax_np(logits))
        rows = np.sort(errors.reshape(shape[0], -1, num_classes), axis=1)
        if np.diff(rows, axis=1).min() > 2e-2:
            return logits.astype(np.float32)
    raise AssertionError("no logits with a stable sort order found")


def test_empty_and_full_masks():
    logits, labels = make_inputs(17)
    empty = np.zeros((2, 4, 5), bool)
    empty_second = np.ones((2, 4, 5), bool)
    empty_second[1] = False
    value, grad = jax.value_and_grad(lambda z: softmax_jit(z, labels, mask=empty).sum())(logits)
    assert float(value) == 0.0 and np.all(grad == 0.0)
    for classes in ("present", "all"):
        f = functools.partial(softmax_jit, labels=labels, classes=classes)
        np.testing.assert_array_equal(f(logits, mask=empty), 0.0)
        out = f(logits, mask=empty_second)
        assert float(out[1]) == 0.0
        want = ref_lovasz_softmax(softmax_np(logits), labels, ~empty, classes=classes)
        np.testing.assert_allclose(out[0], want[0], rtol=1e-5)
        np.testing.assert_allclose(f(logits, mask=~empty), want, rtol=1e-5)
    value, grad = jax.value_and_grad(lambda z: hinge_jit(z, labels % 2, mask=empty).sum())(
        logits[..., :1]
    )
    assert float(value) == 0.0 and np.all(grad == 0.0)
    # every label ignored: no present class -> 0 (PyTorch reference behaviour), in batch mode too
    all_ignored = np.full_like(labels, IGNORE)
    np.testing.assert_array_equal(softmax_jit(logits, all_ignored, ignore_index=IGNORE), 0.0)
    np.testing.assert_array_equal(
        softmax_jit(logits, all_ignored, ignore_index=IGNORE, per_image=False), 0.0
    )
    # include_background=False with only background present: empty 'present' set -> 0
    np.testing.assert_array_equal(
        softmax_jit(logits, np.zeros_like(labels), include_background=False), 0.0
    )


@eager_calls()  # value errors are raised by eager calls
def test_bad_inputs_raise():
    logits, labels = make_inputs(18, (1, 3, 3), num_classes=3)
    with pytest.raises(ValueError, match="classes"):
        jl.lovasz_softmax_loss(logits, labels, classes="some")
    with pytest.raises(ValueError, match="reduction"):
        jl.lovasz_softmax_loss(logits, labels, reduction="pixel")
    with pytest.raises(ValueError, match="reduction"):
        jl.lovasz_hinge_loss(logits, labels, reduction="mean")
    with pytest.raises(ValueError, match="C == 1"):
        jl.lovasz_softmax_loss(logits[..., :1], labels)
    with pytest.raises(ValueError, match=r"labels: expected .*\(1, 3, 3\)"):
        jl.lovasz_softmax_loss(logits, labels[:, :2])
    with pytest.raises(ValueError, match="rank"):
        jl.lovasz_hinge_loss(logits[0, 0], labels[0, 0])
    with pytest.raises(TypeError, match="integer"):
        jl.lovasz_softmax_loss(logits, labels.astype(np.float32))
    with pytest.raises(ValueError, match="ignore_index"):
        jl.lovasz_softmax_loss(logits, np.eye(3)[labels], ignore_index=0)
    with pytest.raises(ValueError, match="mask"):
        jl.lovasz_hinge_loss(logits[..., :1], labels % 2, mask=np.ones((1, 2, 3)))
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        jl.lovasz_softmax_loss(logits, labels + 3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        jl.lovasz_hinge_loss(logits[..., :1], labels + 1)  # binary labels must be 0/1
    with pytest.raises(ValueError, match="probabilities"):
        jl.lovasz_softmax_loss(logits + 5.0, labels, from_logits=False)
    # under jit the value checks are checkify checks
    checked = checkify.checkify(jax.jit(jl.lovasz_softmax_loss), errors=checkify.user_checks)
    err, _ = checked(logits, labels + 3)
    with pytest.raises(Exception, match=r"\[0, 2\]"):
        err.throw()


# --------------------------------------------------------------------------- properties

SEEDS = st.integers(0, 2**31 - 1)


@settings(max_examples=20, deadline=None)
@given(seed=SEEDS, per_image=st.booleans())
def test_property_matches_reference_and_bounded(seed, per_image):
    logits, labels = make_inputs(seed, ignore_frac=0.3, scale=3.0)
    got = np.asarray(softmax_jit(logits, labels, per_image=per_image, ignore_index=IGNORE))
    assert np.all(got >= 0.0) and np.all(got <= 1.0 + 1e-6)
    want = ref_lovasz_softmax(softmax_np(logits), labels, labels != IGNORE, per_image=per_image)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    binary = np.where(labels == IGNORE, IGNORE, labels % 2)
    hinge = np.asarray(hinge_jit(logits[..., :1], binary, per_image=per_image,
                                 ignore_index=IGNORE))
    assert np.all(hinge >= 0.0)
    want = ref_lovasz_hinge(logits[..., :1], (binary == 1)[..., None], binary != IGNORE,
                            per_image=per_image)
    np.testing.assert_allclose(hinge, want, rtol=1e-5, atol=1e-6)


@settings(max_examples=15, deadline=None)
@given(seed=SEEDS)
def test_property_pixel_permutation_invariance(seed):
    logits, labels = make_inputs(seed, ignore_frac=0.2)
    perm = np.random.default_rng(seed + 1).permutation(20)
    shuffle = lambda a: a.reshape((2, 20) + a.shape[3:])[:, perm].reshape(a.shape)
    base = softmax_jit(logits, labels, ignore_index=IGNORE)
    np.testing.assert_allclose(
        softmax_jit(shuffle(logits), shuffle(labels), ignore_index=IGNORE), base,
        rtol=1e-5, atol=1e-7,
    )


@settings(max_examples=15, deadline=None)
@given(seed=SEEDS)
def test_property_hard_predictions_are_jaccard(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, (2, 3, 4))
    predicted = np.where(rng.random(labels.shape) < 0.5, labels, rng.integers(0, 3, labels.shape))
    probs = np.eye(3, dtype=np.float32)[predicted]
    keep = np.ones(labels.shape, bool)
    want = [_iou_loss(predicted[b], labels[b], keep[b], 3) for b in range(2)]
    np.testing.assert_allclose(softmax_jit(probs, labels, from_logits=False), want,
                               rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- sort without gather


def gather_extension(errors, fg, valid, sort_key, binary_fg=False):
    """The extension as written before issue 29: argsort, then gather errors and foreground
    (``binary_fg``, the hint of integer labels, is not needed here)."""
    nan_carrier = 0.0 * jnp.sum(valid, axis=-1)
    valid = valid > 0
    key = jax.lax.stop_gradient(jnp.where(valid, sort_key, -jnp.inf))
    perm = jnp.argsort(key, axis=-1, descending=True, stable=True)
    errors_sorted = jnp.take_along_axis(jnp.where(valid, errors, 0.0), perm, axis=-1)
    fg_sorted = jnp.take_along_axis(jnp.where(valid, fg, 0.0), perm, axis=-1)
    total = jnp.sum(fg_sorted, axis=-1, keepdims=True)
    jaccard = 1.0 - (total - jnp.cumsum(fg_sorted, -1)) / (total + jnp.cumsum(1.0 - fg_sorted, -1))
    grad = jax.lax.stop_gradient(jnp.diff(jaccard, axis=-1, prepend=0.0))
    return jnp.sum(errors_sorted * grad, axis=-1) + nan_carrier


@pytest.mark.slow
@pytest.mark.parametrize("per_image", [True, False])
@pytest.mark.parametrize("shape", [(2, 9, 8, 4), (2, 5, 4, 6, 3)])
def test_sorted_foreground_and_unsorted_gradient_equal_gather_form(shape, per_image, monkeypatch):
    """Value and gradient of the gather-free extension equal the argsort + gather form (ties
    included: the logits take 3 values, so many errors tie and their order decides g), with
    integer labels (the pixel index and foreground sorted as one code) and dense ones."""
    import jaxseg_losses.lovasz as lovasz  # noqa: PLC0415

    rng = np.random.default_rng(7)
    z = rng.integers(-1, 2, shape).astype(np.float32)
    y = rng.integers(0, shape[-1], shape[:-1])
    mask = rng.random(shape[:-1]) > 0.25
    calls = {
        "softmax": lambda z: lovasz.lovasz_softmax_loss(z, y, mask=mask, per_image=per_image),
        "hinge": lambda z: lovasz.lovasz_hinge_loss(z, y, mask=mask, per_image=per_image),
        # Dense labels: the foreground is sorted as floats (no 2 pixel + fg code).
        "softmax_dense": lambda z: lovasz.lovasz_softmax_loss(
            z, np.eye(shape[-1], dtype=np.float32)[y], mask=mask, per_image=per_image),
    }
    for name, call in calls.items():
        ours = jax.jit(jax.value_and_grad(lambda z, f=call: jnp.mean(f(z))))(z)
        with monkeypatch.context() as patched:
            patched.setattr(lovasz, "_lovasz_extension", gather_extension)
            want = jax.jit(jax.value_and_grad(lambda z, f=call: jnp.mean(f(z))))(z)
        np.testing.assert_allclose(ours[0], want[0], rtol=1e-6, err_msg=name)
        np.testing.assert_array_equal(ours[1], want[1], err_msg=name)
        assert np.abs(want[1]).max() > 0, name


@pytest.mark.parametrize("shape,limit", [
    ((2, 5, 7), 1000),  # one piece of 10 rows, scattered from (rows, n) indices
    ((4, 6, 5), 60),  # pieces of 12 rows, from (rows, n) indices
    ((2, 5, 7), 30),  # pieces of 4 rows (fewer than 8: flat indices), the last one of 2
    ((3, 2, 9), 4),  # a row exceeds the limit: one row per piece
])
def test_tpu_unsort_in_pieces_inverts_the_sort(shape, limit, monkeypatch):
    """The TPU's unsort (scatters in pieces of whole rows, from (rows, n) or flat indices, run
    here on the CPU) puts every row's values back at its permutation, as the one flat scatter
    of the other backends."""
    import jaxseg_losses.lovasz as lovasz  # noqa: PLC0415
    from jaxseg_losses import _numerics  # noqa: PLC0415

    monkeypatch.setattr(_numerics, "TPU_PIECE_ELEMENTS", limit)
    rng = np.random.default_rng(limit)
    perm = np.argsort(rng.random(shape), axis=-1).astype(np.int32)
    values = rng.random(shape).astype(np.float32)
    want = np.empty_like(values)
    np.put_along_axis(want, perm, values, axis=-1)
    for in_pieces in (True, False):
        got = jax.jit(lambda v, p, f=in_pieces: lovasz._flat_unsort(v, p, in_pieces=f))(
            values, perm)
        np.testing.assert_array_equal(got, want, err_msg=f"in_pieces={in_pieces}")
