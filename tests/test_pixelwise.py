"""Pixel-wise losses against NumPy references, optax, MONAI and PyTorch, plus the test standard."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.experimental import checkify

from tests.helpers import (
    assert_finite_value_and_grad,
    one_hot_np,
    random_labels,
    random_logits,
    sigmoid_np,
    smp_module,
    softmax_np,
)
from tests.jit_cache import eager_calls, jl

# Compiled once per options and shapes (tests/jit_cache.py): eager calls cost seconds.

SHAPE_2D = (2, 6, 5)
SHAPE_3D = (2, 3, 4, 5)
C = 4

# --------------------------------------------------------------------------- NumPy references
# Written from the formulas, per example: mean over valid pixels.


def ce_reference(z, y, weights=None, smoothing=0.0, valid=None):
    p = softmax_np(z)
    t = one_hot_np(y, z.shape[-1]) if y.ndim == z.ndim - 1 else y.astype(np.float64)
    t = t * (1 - smoothing) + smoothing / z.shape[-1]
    w = np.ones(z.shape[-1]) if weights is None else np.asarray(weights, np.float64)
    valid = np.ones(z.shape[:-1]) if valid is None else valid
    out = []
    for b in range(z.shape[0]):
        pixel = -(w * t[b] * np.log(p[b])).sum(-1)
        norm = (w * t[b]).sum(-1)
        out.append((pixel * valid[b]).sum() / (norm * valid[b]).sum())
    return np.array(out)


def bce_reference(z, t, pos_weight=1.0):
    p = sigmoid_np(z)
    per = -(pos_weight * t * np.log(p) + (1 - t) * np.log(1 - p))
    return per.reshape(z.shape[0], -1).mean(-1)


def focal_reference(z, t, gamma, *, softmax, alpha=None, weights=None,
                    include_background=True, valid=None, normalized=False, threshold=None):
    """Focal loss per example from Lin et al.'s per-term formula, with the class options.

    ``t``: dense targets (B, *spatial, C) or integer labels (softmax). Softmax: class terms
    ``-w_c a_c t_c f_c log p_c`` summed, over ``sum_x v sum_c w_c t_c`` (the valid count
    without weights); sigmoid: the channel mean weighted by ``w_c / sum w`` of
    ``-a_t f log p_t``. ``include_background=False`` sets ``w_0 = 0``. ``f = (1 - p_t)^g``, or
    with ``threshold`` (Sergievskiy & Ponamarev's reduced focal loss) 1 where ``p_t < th`` and
    ``((1 - p_t) / th)^g`` elsewhere; ``normalized`` (Sofiiuk et al.) divides by the summed
    (weighted) factors ``f`` instead of the weights.
    """

    def factor(pt):
        f = (1 - pt) ** gamma
        return f if threshold is None else np.where(pt < threshold, 1.0, f / threshold**gamma)

    z = np.asarray(z, np.float64)
    num_classes = z.shape[-1]
    if softmax and t.ndim == z.ndim - 1:
        t = one_hot_np(t, num_classes)
    t = np.asarray(t, np.float64)
    w = np.ones(num_classes) if weights is None else np.array(weights, np.float64)
    weighted = weights is not None or (not include_background and num_classes > 1)
    if not include_background and num_classes > 1:
        w[0] = 0.0
    valid = np.ones(z.shape[:-1]) if valid is None else valid
    if softmax:
        p = softmax_np(z)
        a = np.ones(num_classes) if alpha is None else np.asarray(alpha, np.float64)
        if a.ndim == 0:
            a = np.array([1 - a] + [a] * (num_classes - 1))
        per = -(w * a * t * factor(p) * np.log(p)).sum(-1)
        denominator = (w * t).sum(-1) if weighted else np.ones(z.shape[:-1])
        if normalized:
            denominator = (w * t * factor(p)).sum(-1)
    else:
        p = sigmoid_np(z)
        pt = t * p + (1 - t) * (1 - p)
        at = 1.0 if alpha is None else t * alpha + (1 - t) * (1 - np.asarray(alpha))
        per = (w / w.sum() * -at * factor(pt) * np.log(pt)).sum(-1)
        denominator = (w / w.sum() * factor(pt)).sum(-1) if normalized else np.ones(z.shape[:-1])
    axes = tuple(range(1, z.ndim - 1))
    return (per * valid).sum(axes) / (denominator * valid).sum(axes)


def conservative_reference(pt, lam=5.0, a=math.e):
    log_a = lambda v: np.log(v) / np.log(a)
    return lam * (1 + log_a(pt)) ** 2 * log_a(-log_a(pt))


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("shape", [SHAPE_2D, SHAPE_3D])
def test_cross_entropy_matches_reference_and_optax(shape):
    z, y = random_logits(0, shape + (C,)), random_labels(0, shape, C)
    ours = jl.cross_entropy(z, y)
    np.testing.assert_allclose(ours, ce_reference(z, y), rtol=1e-5)
    ref = optax.softmax_cross_entropy_with_integer_labels(z, y).reshape(shape[0], -1).mean(-1)
    np.testing.assert_allclose(ours, ref, rtol=1e-5)


def test_cross_entropy_weights_smoothing_ignore_match_torch():
    torch = pytest.importorskip("torch")
    z, y = random_logits(1, SHAPE_2D + (C,)), random_labels(1, SHAPE_2D, C)
    y = y.copy()
    y[0, 0, :3] = 255
    w = np.array([0.2, 1.0, 2.0, 0.7], np.float32)
    ours = jl.cross_entropy(z, y, class_weights=w, ignore_index=255)
    for b in range(2):  # PyTorch's reduction="mean" over one example at a time
        ref = torch.nn.functional.cross_entropy(
            torch.tensor(z[b : b + 1]).movedim(-1, 1), torch.tensor(y[b : b + 1]).long(),
            weight=torch.tensor(w), ignore_index=255,
        )
        np.testing.assert_allclose(ours[b], ref.item(), rtol=1e-5)
    smoothed = jl.cross_entropy(z, np.where(y == 255, 0, y), label_smoothing=0.1)
    np.testing.assert_allclose(
        smoothed, ce_reference(z, np.where(y == 255, 0, y), smoothing=0.1), rtol=1e-5
    )


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_pixel_map_mean_is_smp_soft_cross_entropy(smoothing):
    """smp's SoftCrossEntropyLoss averages over *all* pixels, the ignored ones counting 0: the
    mean of our per-pixel map (which is 0 on excluded pixels), not our default reduction."""
    z, y = random_logits(25, SHAPE_2D + (C,)), random_labels(25, SHAPE_2D, C)
    y[0, :2] = 9
    soft_ce = smp_module("losses").SoftCrossEntropyLoss(smooth_factor=smoothing, ignore_index=9)
    torch = pytest.importorskip("torch")
    pixel_map = jl.cross_entropy(z, y, ignore_index=9, label_smoothing=smoothing, reduction="pixel")
    for b in range(2):
        want = soft_ce(torch.tensor(z[b : b + 1]).movedim(-1, 1), torch.tensor(y[b : b + 1]))
        np.testing.assert_allclose(pixel_map[b].mean(), want.item(), rtol=1e-5)
    valid_fraction = (y != 9).mean(axis=(1, 2))
    np.testing.assert_allclose(
        pixel_map.mean(axis=(1, 2)),
        jl.cross_entropy(z, y, ignore_index=9, label_smoothing=smoothing) * valid_fraction,
        rtol=1e-5)


def test_cross_entropy_soft_labels_and_probabilities():
    z = random_logits(2, SHAPE_2D + (C,))
    soft = softmax_np(random_logits(3, SHAPE_2D + (C,)))
    np.testing.assert_allclose(jl.cross_entropy(z, soft), ce_reference(z, soft), rtol=1e-5)
    probs = softmax_np(z).astype(np.float32)
    np.testing.assert_allclose(
        jl.cross_entropy(probs, soft, from_logits=False), ce_reference(z, soft), rtol=1e-4
    )


def test_binary_cross_entropy_matches_reference_and_optax():
    z = random_logits(4, SHAPE_2D + (3,))
    t = (np.random.default_rng(4).random(SHAPE_2D + (3,)) > 0.5).astype(np.float32)
    ours = jl.binary_cross_entropy(z, t)
    np.testing.assert_allclose(ours, bce_reference(z, t), rtol=1e-5)
    ref = optax.sigmoid_binary_cross_entropy(z, t).reshape(2, -1).mean(-1)
    np.testing.assert_allclose(ours, ref, rtol=1e-5)
    np.testing.assert_allclose(
        jl.binary_cross_entropy(z, t, pos_weight=3.0), bce_reference(z, t, 3.0), rtol=1e-5
    )
    # Label smoothing a: targets (1 - a) y + a / 2 (Keras; smp's smooth_factor s = a / 2).
    smoothed = 0.8 * t + 0.1
    np.testing.assert_allclose(jl.binary_cross_entropy(z, t, label_smoothing=0.2),
                               bce_reference(z, smoothed), rtol=1e-5)
    ref = optax.sigmoid_binary_cross_entropy(z, smoothed).reshape(2, -1).mean(-1)
    np.testing.assert_allclose(jl.binary_cross_entropy(z, t, label_smoothing=0.2), ref, rtol=1e-5)


def test_weighted_cross_entropy_relations():
    z1 = random_logits(5, SHAPE_2D + (1,))
    y1 = (np.random.default_rng(5).random(SHAPE_2D) > 0.8).astype(np.int32)
    np.testing.assert_allclose(
        jl.weighted_cross_entropy(z1, y1, mode="binary", beta=2.5),
        jl.binary_cross_entropy(z1, y1, pos_weight=2.5), rtol=1e-6,
    )
    # Sudre's default: beta = negatives / positives, per example.
    beta = [(y1[b] == 0).sum() / (y1[b] == 1).sum() for b in range(2)]
    expected = [
        bce_reference(z1[b : b + 1], y1[b : b + 1, ..., None], beta[b])[0] for b in range(2)
    ]
    np.testing.assert_allclose(jl.weighted_cross_entropy(z1, y1, mode="binary"), expected,
                               rtol=1e-5)
    z, y = random_logits(6, SHAPE_2D + (C,)), random_labels(6, SHAPE_2D, C)
    w = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    np.testing.assert_allclose(
        jl.weighted_cross_entropy(z, y, class_weights=w), jl.cross_entropy(z, y, class_weights=w)
    )
    # Balanced default: the mean over present classes of the per-class mean CE.
    pixel_ce = -np.log(np.take_along_axis(softmax_np(z), y[..., None], -1)[..., 0])
    balanced = [np.mean([pixel_ce[b][y[b] == c].mean() for c in np.unique(y[b])]) for b in range(2)]
    np.testing.assert_allclose(jl.weighted_cross_entropy(z, y), balanced, rtol=1e-5)


@pytest.mark.parametrize("alpha", [None, 0.25])
def test_sigmoid_focal_matches_reference_optax_and_monai(alpha):
    z = random_logits(7, SHAPE_2D + (2,))
    t = (np.random.default_rng(7).random(SHAPE_2D + (2,)) > 0.6).astype(np.float32)
    ours = jl.focal_loss(z, t, mode="multilabel", alpha=alpha)
    ref = focal_reference(z, t, 2.0, softmax=False, alpha=alpha)
    np.testing.assert_allclose(ours, ref, rtol=1e-5)
    optax_ref = optax.sigmoid_focal_loss(z, t, alpha=alpha).reshape(2, -1).mean(-1)
    np.testing.assert_allclose(ours, optax_ref, rtol=1e-5)
    monai = pytest.importorskip("monai.losses")
    torch = pytest.importorskip("torch")
    for b in range(2):
        ref = monai.FocalLoss(alpha=alpha)(
            torch.tensor(z[b : b + 1]).movedim(-1, 1), torch.tensor(t[b : b + 1]).movedim(-1, 1)
        )
        np.testing.assert_allclose(ours[b], ref.item(), rtol=1e-5)


def test_softmax_focal_matches_reference_and_monai_times_c():
    z, y = random_logits(8, SHAPE_2D + (C,)), random_labels(8, SHAPE_2D, C)
    alpha = np.array([0.1, 0.3, 0.3, 0.3], np.float32)
    ours = jl.focal_loss(z, y, alpha=alpha, gamma=1.5)
    ref = focal_reference(z, y, 1.5, softmax=True, alpha=alpha)
    np.testing.assert_allclose(ours, ref, rtol=1e-5)
    monai = pytest.importorskip("monai.losses")
    torch = pytest.importorskip("torch")
    loss = monai.FocalLoss(use_softmax=True, gamma=1.5, alpha=0.7, to_onehot_y=True)
    scalar = jl.focal_loss(z, y, alpha=0.7, gamma=1.5)
    for b in range(2):  # MONAI averages over classes too: ours = C x MONAI
        ref = loss(torch.tensor(z[b : b + 1]).movedim(-1, 1), torch.tensor(y[b : b + 1, None]))
        np.testing.assert_allclose(scalar[b], C * ref.item(), rtol=1e-5)


FOCAL_WEIGHTS = np.array([0.5, 2.0, 1.0, 0.25], np.float32)


@pytest.mark.parametrize("include_background", [True, False])
def test_sigmoid_focal_class_options_match_reference_monai_and_smp(include_background):
    z = random_logits(21, SHAPE_2D + (C,))
    t = (np.random.default_rng(21).random(SHAPE_2D + (C,)) > 0.6).astype(np.float32)
    kept = slice(None) if include_background else slice(1, None)
    monai = pytest.importorskip("monai.losses")
    torch = pytest.importorskip("torch")
    smp_focal = smp_module("losses").FocalLoss
    first = lambda x, b: torch.tensor(x[b : b + 1]).movedim(-1, 1)
    for weights in (None, FOCAL_WEIGHTS):
        options = dict(mode="multilabel", include_background=include_background,
                       class_weights=weights)
        ours = jl.focal_loss(z, t, alpha=0.25, **options)
        ref = focal_reference(z, t, 2.0, softmax=False, alpha=0.25, weights=weights,
                              include_background=include_background)
        np.testing.assert_allclose(ours, ref, rtol=1e-5)
        # MONAI's weight scales each channel without renormalising: ours times mean(w).
        monai_weight = None if weights is None else weights[kept]
        scale = 1.0 if weights is None else float(np.mean(weights[kept]))
        loss = monai.FocalLoss(include_background=include_background, alpha=0.25,
                               weight=monai_weight)
        for b in range(2):
            np.testing.assert_allclose(ours[b] * scale, loss(first(z, b), first(t, b)).item(),
                                       rtol=1e-5)
        if include_background:  # smp: the class losses' weighted mean, each over the pixels
            plain = jl.focal_loss(z, t, mode="multilabel", class_weights=weights)
            loss = smp_focal("multilabel", class_weights=weights)
            for b in range(2):
                np.testing.assert_allclose(plain[b], loss(first(z, b), first(t, b)).item(),
                                           rtol=1e-5)


def test_softmax_focal_class_options_match_reference_monai_and_cross_entropy():
    z, y = random_logits(22, SHAPE_2D + (C,)), random_labels(22, SHAPE_2D, C)
    y[0, 0, :3] = 7  # ignored pixels
    valid = (y != 7).astype(np.float64)
    dense = one_hot_np(np.where(y == 7, 0, y), C) * valid[..., None]
    monai = pytest.importorskip("monai.losses")
    torch = pytest.importorskip("torch")
    for weights in (None, FOCAL_WEIGHTS):
        for include_background in (True, False):
            options = dict(include_background=include_background, class_weights=weights,
                           ignore_index=7, gamma=1.5, alpha=0.7)
            ours = jl.focal_loss(z, y, **options)
            ref = focal_reference(z, dense, 1.5, softmax=True, alpha=0.7, weights=weights,
                                  include_background=include_background, valid=valid)
            np.testing.assert_allclose(ours, ref, rtol=1e-5)
            dense_options = {**options, "ignore_index": None}
            from_dense = jl.focal_loss(z, dense.astype(np.float32), mask=valid, **dense_options)
            np.testing.assert_allclose(from_dense, ours, rtol=1e-5)
    # gamma = 0: cross-entropy with the same (normalised) class weights, background weight 0.
    no_background = FOCAL_WEIGHTS * np.array([0, 1, 1, 1], np.float32)
    np.testing.assert_allclose(
        jl.focal_loss(z, y, gamma=0.0, class_weights=FOCAL_WEIGHTS, include_background=False,
                   ignore_index=7),
        jl.cross_entropy(z, y, class_weights=no_background, ignore_index=7), rtol=1e-5)
    # MONAI (use_softmax) multiplies class c by weight[c], as by alpha[c]: our alpha vector;
    # MONAI averages over the C channels too.
    first = lambda x, b: torch.tensor(x[b : b + 1]).movedim(-1, 1)
    labels = lambda b: torch.tensor(y[b : b + 1, None].clip(0, C - 1))
    y_plain = y.clip(0, C - 1)
    alpha_vector = jl.focal_loss(z, y_plain, alpha=FOCAL_WEIGHTS, gamma=1.5)
    weight = monai.FocalLoss(use_softmax=True, to_onehot_y=True, gamma=1.5, weight=FOCAL_WEIGHTS)
    for b in range(2):
        np.testing.assert_allclose(alpha_vector[b], C * weight(first(z, b), labels(b)).item(),
                                   rtol=1e-5)
    # include_background=False: MONAI with weight 0 on class 0 averages over all C x N terms,
    # ours over the N_fg foreground pixels.
    foreground = jl.focal_loss(z, y_plain, include_background=False, gamma=1.5)
    zero_background = monai.FocalLoss(use_softmax=True, to_onehot_y=True, gamma=1.5,
                                       weight=[0.0, 1.0, 1.0, 1.0])
    pixels = np.prod(SHAPE_2D[1:])
    for b in range(2):
        n_fg = np.sum(y_plain[b] != 0)
        want = zero_background(first(z, b), labels(b)).item() * C * pixels / n_fg
        np.testing.assert_allclose(foreground[b], want, rtol=1e-5)


@pytest.mark.parametrize("threshold", [None, 0.5, 0.3])
def test_focal_normalized_and_reduced_match_reference_and_smp(threshold):
    z, y = random_logits(23, SHAPE_2D + (C,)), random_labels(23, SHAPE_2D, C)
    t = (np.random.default_rng(23).random(SHAPE_2D + (C,)) > 0.6).astype(np.float32)
    weights = FOCAL_WEIGHTS
    options = dict(reduced_threshold=threshold, gamma=1.5)
    for normalized in (False, True):
        for softmax, labels, mode in ((True, y, "multiclass"), (False, t, "multilabel")):
            ours = jl.focal_loss(z, labels, mode=mode, normalized=normalized, alpha=0.3,
                              class_weights=weights, include_background=False, **options)
            ref = focal_reference(z, labels, 1.5, softmax=softmax, alpha=0.3, weights=weights,
                                  include_background=False, normalized=normalized,
                                  threshold=threshold)
            np.testing.assert_allclose(ours, ref, rtol=1e-5, err_msg=f"{mode} {normalized}")
    # smp's functional forms, reduction="sum" on one example: the same normalised ratio.
    functional = smp_module("losses._functional")
    torch = pytest.importorskip("torch")
    binary = jl.focal_loss(z[..., :1], t[..., :1], mode="binary", alpha=0.25, normalized=True,
                        **options)
    softmax = jl.focal_loss(z, y, normalized=True, **options)
    plain_binary = jl.focal_loss(z[..., :1], t[..., :1], mode="binary", **options)
    smp_focal = smp_module("losses").FocalLoss("binary", gamma=1.5, reduced_threshold=threshold)
    for b in range(2):
        want = functional.focal_loss_with_logits(
            torch.tensor(z[b, ..., 0]), torch.tensor(t[b, ..., 0]), gamma=1.5, alpha=0.25,
            reduction="sum", normalized=True, reduced_threshold=threshold)
        np.testing.assert_allclose(binary[b], want.item(), rtol=1e-5)
        want = functional.softmax_focal_loss_with_logits(
            torch.tensor(z[b : b + 1]).movedim(-1, 1), torch.tensor(y[b : b + 1]).long(),
            gamma=1.5, reduction="sum", normalized=True, reduced_threshold=threshold)
        np.testing.assert_allclose(softmax[b], want.item(), rtol=1e-5)
        want = smp_focal(torch.tensor(z[b : b + 1, ..., 0]), torch.tensor(t[b : b + 1, ..., 0]))
        np.testing.assert_allclose(plain_binary[b], want.item(), rtol=1e-5)


def test_focal_normalized_limits_and_bad_threshold():
    z, y = random_logits(24, SHAPE_2D + (C,)), random_labels(24, SHAPE_2D, C)
    # gamma = 0: every factor is 1, normalising changes nothing.
    np.testing.assert_allclose(jl.focal_loss(z, y, gamma=0.0, normalized=True),
                               jl.cross_entropy(z, y), rtol=1e-5)
    # threshold 1: every pixel has p_t < 1, the reduced loss is plain cross-entropy.
    np.testing.assert_allclose(jl.focal_loss(z, y, reduced_threshold=1.0), jl.cross_entropy(z, y),
                               rtol=1e-5)
    perfect = (np.eye(C)[y] * 2e4 - 1e4).astype(np.float32)
    for normalized in (False, True):
        assert_finite_value_and_grad(jl.focal_loss, perfect, y, normalized=normalized,
                                     reduced_threshold=0.5)
        np.testing.assert_allclose(jl.focal_loss(perfect, y, normalized=normalized), 0.0, atol=1e-6)
    for bad in (0.0, -0.5, 1.5, np.nan):
        with pytest.raises(ValueError, match="reduced_threshold"):
            jl.focal_loss(z, y, reduced_threshold=bad)
    with pytest.raises(ValueError, match="no per-pixel map"):  # the normaliser is per example
        jl.focal_loss(z, y, normalized=True, reduction="pixel")


def test_conservative_values_and_claimed_behaviour():
    pts = np.array([0.01, 0.2, 0.5, 0.9, 0.99], np.float32)
    probs = pts.reshape(1, 1, 5, 1)
    per_pixel = jl.conservative_loss(
        probs, np.ones((1, 1, 5), np.int32), mode="binary", from_logits=False, reduction="pixel"
    )
    np.testing.assert_allclose(per_pixel[0, 0], conservative_reference(pts.astype(np.float64)),
                               rtol=1e-4)
    np.testing.assert_allclose(per_pixel[0, 0], [99.2, 0.88, -0.1726, -9.0, -22.5], atol=0.1)
    # Zero with zero slope at p_t = 1/e; positive below (bad pixels), negative above (good ones).
    at_root = jnp.full((1, 1, 1, 1), 1 / math.e)
    fn = lambda p: jl.conservative_loss(  # noqa: E731
        p, jnp.ones((1, 1, 1), int), mode="binary", from_logits=False)
    assert abs(float(fn(at_root)[0])) < 1e-6
    assert abs(float(jax.grad(lambda p: fn(p).sum())(at_root).squeeze())) < 1e-3
    # The printed formula is decreasing everywhere: the gradient never reverses (docstring).
    grid = jnp.linspace(0.02, 0.98, 49).reshape(1, 1, 49, 1)
    grads = jax.grad(lambda p: jl.conservative_loss(
        p, jnp.ones((1, 1, 49), int), mode="binary", from_logits=False, reduction="pixel"
    ).sum())(grid)
    assert np.all(np.asarray(grads) <= 1e-6)
    # Multiclass equals the binary form on the true-class probability.
    z, y = random_logits(9, SHAPE_2D + (C,)), random_labels(9, SHAPE_2D, C)
    pt = np.take_along_axis(softmax_np(z), y[..., None], -1)[..., 0]
    np.testing.assert_allclose(
        jl.conservative_loss(z, y), conservative_reference(pt).reshape(2, -1).mean(-1), rtol=1e-4
    )


def test_conservative_is_bounded_for_confident_pixels():
    z = jnp.zeros((1, 2, 2, 2)).at[..., 0].set(1e4)
    value = jl.conservative_loss(z, jnp.zeros((1, 2, 2), int))
    expected = 5.0 * (1 - 1e-6) ** 2 * math.log(1e-6)
    np.testing.assert_allclose(value, [expected], rtol=1e-5)
    assert_finite_value_and_grad(jl.conservative_loss, z, jnp.zeros((1, 2, 2), int))


# --------------------------------------------------------------------------- the test standard

def test_pixel_map_mean_equals_example_value():
    z, y = random_logits(15, (2, 4, 3, 3)), random_labels(15, (2, 4, 3), 3)
    for fn, kwargs in [(jl.cross_entropy, {}), (jl.focal_loss, {}), (jl.conservative_loss, {}),
                       (jl.binary_cross_entropy, {}), (jl.focal_loss, {"mode": "multilabel"})]:
        pixel = fn(z, y, reduction="pixel", **kwargs)
        np.testing.assert_allclose(pixel.mean((1, 2)), fn(z, y, **kwargs), rtol=1e-5)


# --------------------------------------------------------------------------- errors


def test_bad_calls_raise_clear_errors():
    z, y = random_logits(16, (2, 4, 3, 3)), random_labels(16, (2, 4, 3), 3)
    with pytest.raises(ValueError, match=r"predictions: expected shape \(B, \*spatial, C\)"):
        jl.cross_entropy(z[0, 0], y[0, 0])
    with pytest.raises(ValueError, match=r"labels: expected class indices of shape"):
        jl.cross_entropy(z, y[:, :3])
    with pytest.raises(ValueError, match=r"\(2, 4, 3, 3\).*got shape \(2, 4, 3, 2\)"):
        jl.cross_entropy(z, np.zeros((2, 4, 3, 2), np.float32))
    with pytest.raises(TypeError, match="integer dtype"):
        jl.cross_entropy(z, y.astype(np.float32))
    with pytest.raises(ValueError, match="mode: expected one of"):
        jl.focal_loss(z, y, mode="softmax")
    with pytest.raises(ValueError, match="C == 1"):
        jl.focal_loss(z, y, mode="binary")
    with pytest.raises(ValueError, match=r"class_weights: expected a scalar or shape \(3,\)"):
        jl.cross_entropy(z, y, class_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="reduction: expected one of"):
        jl.cross_entropy(z, y, reduction="mean")
    with pytest.raises(ValueError, match="mask: expected shape"):
        jl.cross_entropy(z, y, mask=np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="ignore_index: only applies"):
        jl.cross_entropy(z, one_hot_np(y, 3).astype(np.float32), ignore_index=0)
    with pytest.raises(ValueError, match="gamma"):
        jl.focal_loss(z, y, gamma=-1.0)


@eager_calls()  # value errors are raised by eager calls
def test_value_errors_eager_and_checkify_under_jit():
    z, y = random_logits(17, (2, 4, 3, 3)), random_labels(17, (2, 4, 3), 3)
    bad = y.copy()
    bad[0, 0, 0] = 5
    with pytest.raises(ValueError, match=r"class indices must lie in \[0, 2\]"):
        jl.cross_entropy(z, bad)
    with pytest.raises(ValueError, match="probabilities in"):
        jl.cross_entropy(z, y, from_logits=False)
    with pytest.raises(ValueError, match="NaN"):
        jl.cross_entropy(np.full_like(z, np.nan), y)
    with pytest.raises(ValueError, match="dense targets must lie in"):
        jl.binary_cross_entropy(z, np.full(z.shape, 2.0, np.float32))
    # Under jit the same checks are functionalised by checkify.
    checked = checkify.checkify(jax.jit(jl.cross_entropy), errors=checkify.user_checks)
    err, _ = checked(z, bad)
    assert "class indices must lie" in err.get()
    err, value = checked(z, y)
    assert err.get() is None
    np.testing.assert_allclose(value, jl.cross_entropy(z, y))
    # Out-of-range labels are never silently background: unchecked jit still differs.
    as_background = jl.cross_entropy(z, np.where(bad > 2, 0, bad))
    assert not np.allclose(jax.jit(jl.cross_entropy)(z, bad), as_background)


# --------------------------------------------------------------------------- properties


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 20.0))
def test_properties_ce_focal(seed, scale):
    z, y = random_logits(seed, (1, 3, 3, 3), scale), random_labels(seed, (1, 3, 3), 3)
    ce = np.asarray(jl.cross_entropy(z, y))
    assert np.all(ce >= 0)
    np.testing.assert_allclose(jl.focal_loss(z, y, gamma=0.0), ce, rtol=1e-5, atol=1e-6)
    assert np.all(np.asarray(jl.focal_loss(z, y)) <= ce + 1e-6)
    perfect = one_hot_np(y, 3) * 50.0
    assert float(jl.cross_entropy(perfect.astype(np.float32), y)[0]) < 1e-6
    assert float(jl.focal_loss(perfect.astype(np.float32), y)[0]) <= float(jl.focal_loss(z, y)[0])
    np.testing.assert_allclose(jl.cross_entropy(z + 3.0, y), ce, rtol=1e-5)
