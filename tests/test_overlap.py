"""Overlap losses against NumPy references, MONAI and optax, plus the test standard."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.experimental import checkify

from jaxseg_losses.region import (
    OverlapStatistics,
    dice_loss,
    exp_log_loss,
    focal_tversky_loss,
    generalized_dice_loss,
    jaccard_loss,
    overlap_statistics,
    sensitivity_specificity_loss,
    tversky_loss,
)
from tests.helpers import (
    C,
    assert_finite_value_and_grad,
    channels_first,
    groups,
    inputs,
    one_hot_np,
    ones_valid,
    random_logits,
    ref_gdl,
    smp_module,
    softmax_np,
)

SHAPE_2D = (2, 4, 3)  # one small shape for most tests: shared compilation caches
SHAPE_3D = (2, 2, 3, 2)

# --------------------------------------------------------------------------- NumPy references
# Written from the papers' formulas in float64. `groups` yields one (N, C) block of pixels per
# example (per_image=True) or one block for the whole batch (per_image=False).


def np_counts(p, g, v, per_image):
    """(TP, FP, FN) per group and class, from the definitions."""
    out = []
    for pb, gb, vb in zip(groups(p, per_image), groups(g, per_image), groups(v, per_image),
                          strict=True):
        out.append([(vb * pb * gb).sum(0), (vb * pb * (1 - gb)).sum(0),
                    (vb * (1 - pb) * gb).sum(0)])
    return np.array(out)  # (G, 3, C)


def ref_dice(p, g, v=None, s=1e-5, per_image=True, squared=False, soft=False):
    v = ones_valid(p) if v is None else v
    out = []
    for pb, gb, vb in zip(groups(p, per_image), groups(g, per_image), groups(v, per_image),
                          strict=True):
        if squared:
            inter, vol = (vb * pb * gb).sum(0), (vb * (pb**2 + gb**2)).sum(0)
        elif soft:  # |p|_1 + |g|_1 - |p - g|_1 = 2 I
            inter = ((vb * pb).sum(0) + (vb * gb).sum(0) - (vb * np.abs(pb - gb)).sum(0)) / 2
            vol = (vb * (pb + gb)).sum(0)
        else:
            inter, vol = (vb * pb * gb).sum(0), (vb * (pb + gb)).sum(0)
        out.append(1 - (2 * inter + s) / (vol + s))
    return np.array(out)


def ref_jaccard(p, g, v=None, s=1e-5, per_image=True):
    v = ones_valid(p) if v is None else v
    out = []
    for pb, gb, vb in zip(groups(p, per_image), groups(g, per_image), groups(v, per_image),
                          strict=True):
        inter = (vb * pb * gb).sum(0)
        union = (vb * (pb + gb - pb * gb)).sum(0)
        out.append(1 - (inter + s) / (union + s))
    return np.array(out)


def ref_tversky(p, g, v=None, alpha=0.3, beta=0.7, s=1e-5, per_image=True):
    v = ones_valid(p) if v is None else v
    tp, fp, fn = np.moveaxis(np_counts(p, g, v, per_image), 1, 0)
    return 1 - (tp + s) / (tp + alpha * fp + beta * fn + s)


def ref_focal_tversky(p, g, v=None, gamma=4 / 3, **kw):
    return ref_tversky(p, g, v, **kw) ** (1 / gamma)


def ref_ss(p, g, v=None, r=0.05, per_image=True):
    v = ones_valid(p) if v is None else v
    out = []
    for pb, gb, vb in zip(groups(p, per_image), groups(g, per_image), groups(v, per_image),
                          strict=True):
        err = vb * (gb - pb) ** 2
        fg, nfg = (err * gb).sum(0), (vb * gb).sum(0)
        bg, nbg = (err * (1 - gb)).sum(0), (vb * (1 - gb)).sum(0)
        sens = np.divide(fg, nfg, out=np.zeros_like(fg), where=nfg > 0)
        spec = np.divide(bg, nbg, out=np.zeros_like(bg), where=nbg > 0)
        out.append(r * sens + (1 - r) * spec)
    return np.array(out)


def ref_ell(p, g, v=None, s=1.0, per_image=True, label_weights=None, wd=0.8, wc=0.2,
            gd=0.3, gc=0.3):
    """Wong et al. 2018 (softmax), default label weights from the current label volumes."""
    v = ones_valid(p) if v is None else v
    out = []
    for pb, gb, vb in zip(groups(p, per_image), groups(g, per_image), groups(v, per_image),
                          strict=True):
        dice = (2 * (vb * pb * gb).sum(0) + s) / ((vb * (pb + gb)).sum(0) + s)
        vol = (vb * gb).sum(0)
        if label_weights is None:
            w = np.sqrt(np.divide(vol.sum(), vol, out=np.zeros_like(vol), where=vol > 0))
        else:
            w = np.asarray(label_weights, np.float64)
        cross = (vb * w * gb * (-np.log(pb)) ** gc).sum() / vb.sum()
        out.append(wd * np.mean((-np.log(dice)) ** gd) + wc * cross)
    return np.array(out)


def expand(ref_values, batch):
    """(G, ...) reference -> (B, ...) (the global value repeated when G == 1)."""
    return np.broadcast_to(ref_values, (batch,) + ref_values.shape[1:])


# --------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("per_image", [True, False])
def test_statistics_match_definitions(per_image):
    z, y, p, g = inputs(0, SHAPE_2D)
    mask = np.random.default_rng(0).random(SHAPE_2D) > 0.3
    s = overlap_statistics(z, y, mask=mask, per_image=per_image)
    assert isinstance(s, OverlapStatistics)
    assert s.tp.shape == ((2, C) if per_image else (1, C)) and s.tp.dtype == jnp.float32
    tp, fp, fn = np.moveaxis(np_counts(p, g, mask[..., None], per_image), 1, 0)
    for got, want in [(s.tp, tp), (s.fp, fp), (s.fn, fn), (s.sum_p, tp + fp), (s.sum_y, tp + fn)]:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    sq = overlap_statistics(z, y, per_image=per_image, squared=True)
    np.testing.assert_allclose(sq.sum_p, [b.sum(0) for b in groups(p**2, per_image)], rtol=1e-5)
    np.testing.assert_allclose(sq.fp, sq.sum_p - sq.tp, rtol=1e-5, atol=1e-6)


def test_soft_label_statistics_equal_product_form_on_hard_labels():
    z, y, _, _ = inputs(1, SHAPE_3D)
    hard, soft = overlap_statistics(z, y), overlap_statistics(z, y, soft_label=True)
    for a, b in zip(hard, soft, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- values


REFERENCES = {
    "dice": (dice_loss, ref_dice, {}),
    "jaccard": (jaccard_loss, ref_jaccard, {}),
    "tversky": (tversky_loss, ref_tversky, {}),
    "focal_tversky": (focal_tversky_loss, ref_focal_tversky, {}),
    "sensitivity_specificity": (sensitivity_specificity_loss, ref_ss, {}),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
@pytest.mark.parametrize("shape", [SHAPE_2D, SHAPE_3D], ids=["2d", "3d"])
@pytest.mark.parametrize("per_image", [True, False])
def test_region_losses_match_reference(name, shape, per_image):
    fn, ref, _ = REFERENCES[name]
    z, y, p, g = inputs(2, shape)
    mask = np.random.default_rng(2).random(shape) > 0.2
    want = expand(ref(p, g, mask[..., None].astype(float), per_image=per_image), 2)
    per_class = fn(z, y, mask=mask, per_image=per_image, reduction="class")
    assert per_class.shape == (2, C)
    np.testing.assert_allclose(per_class, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fn(z, y, mask=mask, per_image=per_image), want.mean(-1),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["binary", "multilabel"])
def test_sigmoid_modes_match_reference(mode):
    z, y, p, g = inputs(3, SHAPE_2D, mode=mode)
    if mode == "multilabel":  # independent channels with soft targets
        y = np.random.default_rng(3).random(p.shape).astype(np.float32)
        g = y.astype(np.float64)
    np.testing.assert_allclose(dice_loss(z, y, mode=mode, reduction="class"), ref_dice(p, g),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tversky_loss(z, y, mode=mode, reduction="class"),
                               ref_tversky(p, g), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sensitivity_specificity_loss(z, y, mode=mode, reduction="class"),
                               ref_ss(p, g), rtol=1e-5, atol=1e-6)


def test_dice_squared_and_soft_label_match_reference():
    z, _, p, _ = inputs(4, SHAPE_2D)
    soft = np.random.default_rng(4).dirichlet(np.ones(C), size=SHAPE_2D)
    y = soft.astype(np.float32)
    for kw in [{"squared": True}, {"soft": True}]:
        ours = dice_loss(z, y, reduction="class", squared=kw.get("squared", False),
                         soft_label=kw.get("soft", False))
        np.testing.assert_allclose(ours, ref_dice(p, soft, **kw), rtol=1e-5, atol=1e-6)
    # With soft targets the L1 form differs from the product form (which is not 0 at p == y).
    at_target = dice_loss(y, y, from_logits=False, soft_label=True, smooth=0.0)
    np.testing.assert_allclose(at_target, 0.0, atol=1e-6)
    assert np.all(np.asarray(dice_loss(y, y, from_logits=False, smooth=0.0)) > 0.1)


@pytest.mark.parametrize("weight_type", ["square", "simple", "uniform"])
@pytest.mark.parametrize("per_image", [True, False])
def test_generalized_dice_matches_reference(weight_type, per_image):
    z, y, p, g = inputs(5, SHAPE_2D)
    y = np.where(y == 2, 1, y)  # class 2 absent from the truth
    g = one_hot_np(y, C)
    ours = generalized_dice_loss(z, y, class_weighting=weight_type, per_image=per_image)
    want = expand(ref_gdl(p, g, per_image=per_image, class_weighting=weight_type), 2)
    np.testing.assert_allclose(ours, want, rtol=1e-5, atol=1e-6)
    assert_finite_value_and_grad(generalized_dice_loss, jnp.asarray(z), y,
                                 class_weighting=weight_type, per_image=per_image)


@pytest.mark.parametrize("per_image", [True, False])
def test_exp_log_matches_reference(per_image):
    z, y, p, g = inputs(6, SHAPE_2D)
    want = expand(ref_ell(p, g, per_image=per_image), 2)
    np.testing.assert_allclose(exp_log_loss(z, y, per_image=per_image), want, rtol=1e-5)
    lw = np.array([0.5, 1.0, 2.0])
    want = ref_ell(p, g, per_image=per_image, label_weights=lw, s=1e-5, gd=1.0)
    np.testing.assert_allclose(
        exp_log_loss(z, y, per_image=per_image, label_weights=lw, smooth=1e-5, gamma_dice=1.0),
        expand(want, 2), rtol=1e-5)


def test_exp_log_documented_reductions():
    z, y, p, g = inputs(7, SHAPE_2D)
    ones = np.ones(C)
    # gamma = 1, w_dice = 1, w_cross = 0: mean of -ln Dice_c.
    dice = 1 - ref_dice(p, g, s=1.0)
    np.testing.assert_allclose(
        exp_log_loss(z, y, gamma_dice=1.0, w_cross=0.0, w_dice=1.0), (-np.log(dice)).mean(-1),
        rtol=1e-5)
    # gamma = 1, w_cross = 1, unit label weights: cross-entropy.
    ce = -(g * np.log(p)).sum(-1).reshape(2, -1).mean(-1)
    np.testing.assert_allclose(
        exp_log_loss(z, y, gamma_cross=1.0, w_cross=1.0, w_dice=0.0, label_weights=ones), ce,
        rtol=1e-5)
    # include_background=False: class 0 leaves the Dice mean and the cross term.
    no_bg = exp_log_loss(z, y, include_background=False, label_weights=ones)
    lw0 = np.array([0.0, 1.0, 1.0])
    cross = (lw0 * g * (-np.log(p)) ** 0.3).sum(-1).reshape(2, -1).mean(-1)
    dice_term = ((-np.log(dice[:, 1:])) ** 0.3).mean(-1)
    np.testing.assert_allclose(no_bg, 0.8 * dice_term + 0.2 * cross, rtol=1e-5)
    # Sigmoid modes: per channel y(-ln p)^g + (1-y)(-ln(1-p))^g, averaged over channels.
    zb, yb, pb, gb = inputs(7, SHAPE_2D, mode="binary")
    cross_b = (gb * (-np.log(pb)) ** 0.3 + (1 - gb) * (-np.log(1 - pb)) ** 0.3)
    want = cross_b.reshape(2, -1).mean(-1)
    got = exp_log_loss(zb, yb, mode="binary", w_dice=0.0, w_cross=1.0, label_weights=[1.0])
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_class_weights_and_include_background():
    z, y, p, g = inputs(8, SHAPE_2D)
    per_class = ref_tversky(p, g)
    w = np.array([0.0, 1.0, 3.0])
    np.testing.assert_allclose(tversky_loss(z, y, class_weights=w),
                               (per_class * w).sum(-1) / w.sum(), rtol=1e-5)
    np.testing.assert_allclose(tversky_loss(z, y, include_background=False),
                               per_class[:, 1:].mean(-1), rtol=1e-5)
    np.testing.assert_allclose(tversky_loss(z, y, include_background=False, class_weights=w),
                               (per_class[:, 1:] * w[1:]).sum(-1) / 4.0, rtol=1e-5)
    assert tversky_loss(z, y, include_background=False, reduction="class").shape == (2, C - 1)
    # Binary (C == 1): the only channel is the foreground; include_background has no effect.
    zb, yb, _, _ = inputs(8, SHAPE_2D, mode="binary")
    np.testing.assert_allclose(dice_loss(zb, yb, mode="binary", include_background=False),
                               dice_loss(zb, yb, mode="binary"))
    # GDL without background drops class 0 from both sums.
    np.testing.assert_allclose(generalized_dice_loss(z, y, include_background=False),
                               ref_gdl(p[..., 1:], g[..., 1:]), rtol=1e-5)


def test_documented_identities():
    z, y, p, g = inputs(9, SHAPE_2D)
    s = 0.3
    np.testing.assert_allclose(tversky_loss(z, y, alpha=0.5, beta=0.5, smooth=s),
                               dice_loss(z, y, smooth=2 * s), rtol=1e-5)
    np.testing.assert_allclose(tversky_loss(z, y, alpha=1.0, beta=1.0, smooth=s),
                               jaccard_loss(z, y, smooth=s), rtol=1e-5)
    np.testing.assert_allclose(focal_tversky_loss(z, y, gamma=1.0), tversky_loss(z, y),
                               rtol=1e-5)
    np.testing.assert_allclose(generalized_dice_loss(z, y, class_weighting="uniform"),
                               ref_dice(p.reshape(2, -1, 1), g.reshape(2, -1, 1), s=0)[:, 0],
                               rtol=1e-5)  # uniform weights: the pooled Dice
    # Separate numerator/denominator smoothing.
    np.testing.assert_allclose(dice_loss(z, y, smooth=(0.0, 1.0), reduction="class"),
                               1 - (2 * (p * g).sum((1, 2))) / ((p + g).sum((1, 2)) + 1.0),
                               rtol=1e-5)
    # Sensitivity-specificity: predicting nothing costs r, predicting everything 1 - r.
    zb, yb, _, _ = inputs(9, SHAPE_2D, mode="binary")
    zeros, ones = np.zeros(zb.shape, np.float32), np.ones(zb.shape, np.float32)
    kw = {"mode": "binary", "from_logits": False, "r": 0.1}
    np.testing.assert_allclose(sensitivity_specificity_loss(zeros, yb, **kw), 0.1, rtol=1e-6)
    np.testing.assert_allclose(sensitivity_specificity_loss(ones, yb, **kw), 0.9, rtol=1e-6)


# --------------------------------------------------------------------------- cross-checks


def _monai_inputs(z, g):
    pytest.importorskip("monai")
    return channels_first(z, np.float64), channels_first(g, np.float64)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"batch": True},
        {"include_background": False},
        {"squared_pred": True},
        {"jaccard": True},
        {"soft_label": True, "soft": True},
        {"smooth_nr": 0.0, "smooth_dr": 1.0},
        {"smooth_nr": 1.0, "smooth_dr": 1.0, "batch": True, "include_background": False},
    ],
)
def test_dice_matches_monai(options):
    options = dict(options)
    soft = options.pop("soft", False)
    z, y, _, g = inputs(10, SHAPE_3D)
    if soft:
        g = np.random.default_rng(10).dirichlet(np.ones(C), size=SHAPE_3D)
        y = g.astype(np.float32)
    zt, gt = _monai_inputs(z, g)
    from monai.losses import DiceLoss

    kw = {"smooth_nr": 1e-5, "smooth_dr": 1e-5, **options}
    want = float(DiceLoss(softmax=True, reduction="mean", **kw)(zt, gt))
    nr, dr = kw["smooth_nr"], kw["smooth_dr"]
    ours = dict(
        per_image=not kw.get("batch", False),
        include_background=kw.get("include_background", True),
        soft_label=kw.get("soft_label", False),
    )
    if kw.get("jaccard"):  # MONAI's (2TP + s) / (2(TP + FP + FN) + s)
        got = jaccard_loss(z, y, smooth=(nr / 2, dr / 2), **ours)
    else:
        got = dice_loss(z, y, smooth=(nr, dr), squared=kw.get("squared_pred", False), **ours)
    np.testing.assert_allclose(float(got.mean()), want, rtol=1e-5)
    if not kw.get("batch"):  # per (example, class) values as well
        per = DiceLoss(softmax=True, reduction="none", **kw)(zt, gt).numpy().reshape(2, -1)
        fn = jaccard_loss if kw.get("jaccard") else dice_loss
        extra = {} if kw.get("jaccard") else {"squared": kw.get("squared_pred", False)}
        smooth = (nr / 2, dr / 2) if kw.get("jaccard") else (nr, dr)
        np.testing.assert_allclose(fn(z, y, smooth=smooth, reduction="class", **ours, **extra),
                                   per, rtol=1e-5, atol=1e-6)


def test_dice_class_weights_and_ignore_index_match_monai():
    z, y, _, g = inputs(11, SHAPE_2D)
    zt, gt = _monai_inputs(z, g)
    import torch
    from monai.losses import DiceLoss

    w = np.array([0.5, 1.0, 2.0])
    want = DiceLoss(softmax=True, weight=torch.tensor(w), reduction="none")(zt, gt)
    want = want.numpy().reshape(2, C).sum(-1) / w.sum()  # MONAI multiplies, we renormalise
    np.testing.assert_allclose(dice_loss(z, y, class_weights=w), want, rtol=1e-5)
    y_ign = y.copy()
    y_ign[:, :2] = 9
    labels_t = torch.from_numpy(y_ign[:, None].astype(np.int64))
    monai_ign = DiceLoss(softmax=True, to_onehot_y=True, ignore_index=9)(zt, labels_t)
    np.testing.assert_allclose(float(dice_loss(z, y_ign, ignore_index=9).mean()),
                               float(monai_ign), rtol=1e-5)


@pytest.mark.parametrize("options", [{}, {"batch": True}, {"include_background": False},
                                     {"soft_label": True}, {"alpha": 0.6, "beta": 0.2}])
def test_tversky_matches_monai(options):
    z, y, _, g = inputs(12, SHAPE_2D)
    if options.get("soft_label"):
        g = np.random.default_rng(12).dirichlet(np.ones(C), size=SHAPE_2D)
        y = g.astype(np.float32)
    zt, gt = _monai_inputs(z, g)
    from monai.losses import TverskyLoss

    kw = {"alpha": 0.3, "beta": 0.7, **options}
    want = float(TverskyLoss(softmax=True, smooth_nr=1e-5, smooth_dr=1e-5, **kw)(zt, gt))
    got = tversky_loss(
        z, y, alpha=kw["alpha"], beta=kw["beta"], per_image=not kw.get("batch", False),
        include_background=kw.get("include_background", True),
        soft_label=kw.get("soft_label", False),
    )
    np.testing.assert_allclose(float(got.mean()), want, rtol=1e-5)


@pytest.mark.parametrize("w_type", ["square", "simple", "uniform"])
@pytest.mark.parametrize("batch", [False, True])
def test_generalized_dice_matches_monai(w_type, batch):
    z, y, _, _ = inputs(13, SHAPE_2D)
    y = np.where(y == 1, 0, y)  # class 1 absent: MONAI's max-weight replacement
    g = one_hot_np(y, C)
    zt, gt = _monai_inputs(z, g)
    from monai.losses import GeneralizedDiceLoss

    for s in (1e-5, 0.0):
        loss = GeneralizedDiceLoss(softmax=True, w_type=w_type, batch=batch, smooth_nr=s,
                                   smooth_dr=s)
        got = generalized_dice_loss(z, y, class_weighting=w_type, per_image=not batch, smooth=s)
        np.testing.assert_allclose(float(got.mean()), float(loss(zt, gt)), rtol=1e-5)


# --------------------------------------------------------------------------- smp's options

SCORE_REFERENCES = {"dice": (dice_loss, ref_dice), "jaccard": (jaccard_loss, ref_jaccard),
                    "tversky": (tversky_loss, ref_tversky)}


@pytest.mark.parametrize("per_image", [True, False])
def test_log_loss_is_minus_log_of_the_clamped_score(per_image):
    z, y, p, g = inputs(30, SHAPE_2D)
    mask = np.random.default_rng(30).random(SHAPE_2D) > 0.2
    for name, (fn, ref) in SCORE_REFERENCES.items():
        score = 1 - ref(p, g, mask[..., None].astype(float), per_image=per_image)
        want = expand(-np.log(np.maximum(score, 1e-7)), 2)
        got = fn(z, y, log_loss=True, per_image=per_image, mask=mask, reduction="class")
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
    # A class with score 0 is clamped at eps = 1e-7 (smp's), an empty class on empty truth is 0.
    labels = np.array([[[0, 0], [0, 1]]])
    wrong = np.eye(3, dtype=np.float32)[np.array([[[1, 1], [1, 0]]])]
    got = dice_loss(wrong, labels, from_logits=False, smooth=0.0, log_loss=True,
                    reduction="class")
    np.testing.assert_allclose(got, [[-np.log(1e-7), -np.log(1e-7), 0.0]], rtol=1e-6)
    assert_finite_value_and_grad(dice_loss, z, y, log_loss=True, smooth=0.0)


def test_log_loss_matches_smp():
    losses = smp_module("losses")
    torch = pytest.importorskip("torch")
    z, y, _, _ = inputs(31, SHAPE_2D)
    assert len(np.unique(y)) == C  # smp zeroes classes absent from the batch
    zt, yt = channels_first(z), torch.from_numpy(y.astype(np.int64))
    # smp pools the batch, uses the L1 (soft-label) overlap and writes Dice in the Tversky form
    # with smooth s: our smooth 2 s.
    cases = [
        (losses.DiceLoss("multiclass", log_loss=True, smooth=0.5),
         dice_loss(z, y, smooth=1.0, log_loss=True, soft_label=True, per_image=False)),
        (losses.JaccardLoss("multiclass", log_loss=True, smooth=0.5),
         jaccard_loss(z, y, smooth=0.5, log_loss=True, soft_label=True, per_image=False)),
        (losses.TverskyLoss("multiclass", log_loss=True, smooth=0.5, alpha=0.3, beta=0.7),
         tversky_loss(z, y, smooth=0.5, log_loss=True, soft_label=True, per_image=False)),
    ]
    for loss, ours in cases:
        np.testing.assert_allclose(float(ours.mean()), float(loss(zt, yt)), rtol=1e-5)


# --------------------------------------------------------------------------- micro averaging


def ref_micro(p, g, v, weights, per_image, s, alpha, beta, dice=False):
    """Counts summed over classes (weighted) before one ratio (TP + s)/(TP + a FP + b FN + s);
    Dice (a = b = 1) doubles TP."""
    tp, fp, fn = (np.sum(np.asarray(weights) * c, -1) for c in
                  np.moveaxis(np_counts(p, g, v, per_image), 1, 0))
    k = 2.0 if dice else 1.0
    return 1 - (k * tp + s[0]) / (k * tp + alpha * fp + beta * fn + s[1])


def kornia_dice_micro(z, labels, weight, eps=1e-8, ignore_index=-100):
    """kornia.losses.dice_loss(average="micro") per example, written from its source
    (kornia/losses/dice.py): softmax, one-hot, ignored pixels zeroed in both, p and y scaled by
    the class weight, sums over (C, H, W), 1 - 2 I / (card + eps)."""
    p = softmax_np(np.asarray(z, np.float64))
    keep = (labels != ignore_index)[..., None]
    y = one_hot_np(np.where(labels == ignore_index, 0, labels), p.shape[-1]) * keep
    p = p * keep * weight
    y = y * weight
    axes = tuple(range(1, p.ndim))
    return 1 - 2 * (p * y).sum(axes) / ((p + y).sum(axes) + eps)


def kornia_tversky(z, labels, alpha, beta, eps=1e-8):
    """kornia.losses.tversky_loss per example from its source (kornia/losses/tversky.py): the
    softmax probability of the true class summed (I) over the N pixels,
    1 - I / (I + (alpha + beta)(N - I) + eps)."""
    p = softmax_np(np.asarray(z, np.float64))
    inter = np.take_along_axis(p, labels[..., None], -1).reshape(len(z), -1).sum(-1)
    total = np.prod(labels.shape[1:])
    return 1 - inter / (inter + (alpha + beta) * (total - inter) + eps)


@pytest.mark.parametrize("per_image", [True, False])
def test_micro_average_matches_reference(per_image):
    z, y, p, g = inputs(32, SHAPE_2D)
    mask = np.random.default_rng(32).random(SHAPE_2D) > 0.2
    v = mask[..., None].astype(float)
    w = np.array([0.5, 2.0, 1.0])
    cases = [(dice_loss, 1.0, 1.0, True), (jaccard_loss, 1.0, 1.0, False),
             (tversky_loss, 0.3, 0.7, False)]
    for fn, alpha, beta, dice in cases:
        for weights, include_background in ((None, True), (w, True), (w, False)):
            kept = np.ones(C) if weights is None else weights.copy()
            if not include_background:
                kept[0] = 0.0
            want = ref_micro(p, g, v, kept, per_image, (1e-5, 1e-5), alpha, beta, dice)
            got = fn(z, y, average="micro", mask=mask, per_image=per_image,
                     class_weights=weights, include_background=include_background)
            np.testing.assert_allclose(got, expand(want, 2), rtol=1e-5, err_msg=fn.__name__)
    # Dice: the generalized Dice loss with uniform weights is the micro Dice.
    np.testing.assert_allclose(
        dice_loss(z, y, average="micro", smooth=0.3, per_image=per_image, mask=mask),
        generalized_dice_loss(z, y, class_weighting="uniform", smooth=0.3, per_image=per_image,
                              mask=mask), rtol=1e-5)


def test_micro_average_matches_kornia_formula():
    z, y, _, _ = inputs(33, SHAPE_2D)
    y[0, 0, :2] = -100  # kornia's default ignore_index
    for weight, include_background in ((np.ones(C), True), (np.array([0.0, 1.0, 1.0]), False)):
        ours = dice_loss(z, y, average="micro", smooth=(0.0, 1e-8), ignore_index=-100,
                         include_background=include_background)
        np.testing.assert_allclose(ours, kornia_dice_micro(z, y, weight), rtol=1e-5)
    z, y, _, _ = inputs(34, SHAPE_2D)
    ours = tversky_loss(z, y, alpha=0.4, beta=0.6, average="micro", smooth=(0.0, 1e-8))
    np.testing.assert_allclose(ours, kornia_tversky(z, y, 0.4, 0.6), rtol=1e-5)


def test_micro_average_options():
    z, y, _, _ = inputs(35, SHAPE_2D, mode="binary")
    # One channel: pooling changes nothing.
    np.testing.assert_allclose(dice_loss(z, y, mode="binary", average="micro"),
                               dice_loss(z, y, mode="binary"), rtol=1e-6)
    with pytest.raises(ValueError, match="reduction='class'.*average='micro'"):
        dice_loss(z, y, mode="binary", average="micro", reduction="class")
    with pytest.raises(ValueError, match="average: expected one of"):
        tversky_loss(z, y, mode="binary", average="weighted")
    assert_finite_value_and_grad(jaccard_loss, z, y, mode="binary", average="micro")


# --------------------------------------------------------------------------- absent classes


def absent_reference(per_class, g, v, per_image, rule, weights=None, first_class=0):
    """Class mean of ``(G, C)`` per-class losses under the absent-class rule: ``"zero"`` sets
    the loss of a class without truth (in the group) to 0, ``"exclude"`` also drops its
    weight."""
    present = np.array([(vb * gb).sum(0) > 0 for gb, vb in
                        zip(groups(g, per_image), groups(v, per_image), strict=True)])
    w = np.ones(per_class.shape[-1]) if weights is None else np.asarray(weights, np.float64)
    w = np.broadcast_to(w, per_class.shape).copy()
    losses = per_class * present
    if rule == "exclude":
        w = w * present
    losses, w = losses[:, first_class:], w[:, first_class:]
    total = w.sum(-1)
    return np.where(total > 0, (losses * w).sum(-1) / np.where(total > 0, total, 1), 0.0)


@pytest.mark.parametrize("per_image", [True, False])
@pytest.mark.parametrize("rule", ["zero", "exclude"])
def test_absent_classes_match_reference(per_image, rule):
    z, y, p, g = inputs(36, SHAPE_2D)
    y[0][y[0] == 2] = 0  # class 2 absent from example 0
    if not per_image:
        y[1][y[1] == 2] = 1  # ... and from the batch
    g = one_hot_np(y, C)
    mask = np.random.default_rng(36).random(SHAPE_2D) > 0.1
    v = mask[..., None].astype(float)
    w = np.array([0.5, 2.0, 1.0])
    fns = [(dice_loss, ref_dice), (jaccard_loss, ref_jaccard), (tversky_loss, ref_tversky),
           (focal_tversky_loss, ref_focal_tversky)]
    for fn, ref in fns:
        per_class = ref(p, g, v, per_image=per_image)
        for weights, include_background in ((None, True), (w, False)):
            want = absent_reference(per_class, g, v, per_image, rule, weights,
                                    first_class=0 if include_background else 1)
            got = fn(z, y, absent_classes=rule, per_image=per_image, mask=mask,
                     class_weights=weights, include_background=include_background)
            np.testing.assert_allclose(got, expand(want, 2), rtol=1e-5, atol=1e-7,
                                       err_msg=fn.__name__)
        shown = fn(z, y, absent_classes=rule, per_image=per_image, mask=mask, reduction="class")
        present = np.array([(vb * gb).sum(0) > 0 for gb, vb in
                            zip(groups(g, per_image), groups(v, per_image), strict=True)])
        np.testing.assert_allclose(shown, expand(per_class * present, 2), rtol=1e-5, atol=1e-7)
    # micro: the absent classes' counts leave the pool.
    present = np.array([(vb * gb).sum(0) > 0 for gb, vb in
                        zip(groups(g, per_image), groups(v, per_image), strict=True)])
    want = ref_micro(p, g, v, present * w, per_image, (1e-5, 1e-5), 1.0, 1.0, dice=True)
    got = dice_loss(z, y, absent_classes=rule, average="micro", class_weights=w, mask=mask,
                    per_image=per_image)
    np.testing.assert_allclose(got, expand(want, 2), rtol=1e-5)


def test_absent_classes_match_smp():
    losses = smp_module("losses")
    torch = pytest.importorskip("torch")
    z, y, _, _ = inputs(37, SHAPE_2D)
    y[y == 1] = 0  # class 1 absent from the whole batch; smp pools the batch
    zt, yt = channels_first(z), torch.from_numpy(y.astype(np.int64))
    w = [0.5, 2.0, 1.0]
    common = dict(absent_classes="zero", soft_label=True, per_image=False)
    for log_loss in (False, True):
        cases = [
            (losses.DiceLoss("multiclass", log_loss=log_loss, smooth=0.5, class_weights=w),
             dice_loss(z, y, smooth=1.0, log_loss=log_loss, class_weights=w, **common)),
            (losses.JaccardLoss("multiclass", log_loss=log_loss, smooth=0.5),
             jaccard_loss(z, y, smooth=0.5, log_loss=log_loss, **common)),
            (losses.TverskyLoss("multiclass", log_loss=log_loss, alpha=0.3, beta=0.7),
             tversky_loss(z, y, smooth=0.0, log_loss=log_loss, **common)),
        ]
        for loss, ours in cases:
            np.testing.assert_allclose(float(ours.mean()), float(loss(zt, yt)), rtol=1e-5)
    # The default rule scores the absent class: a predicted mass there costs about 1.
    assert float(dice_loss(z, y, per_image=False)[0]) > float(
        dice_loss(z, y, per_image=False, absent_classes="zero")[0])


def test_absent_classes_bad_value_and_nan_targets():
    z, y, _, g = inputs(38, SHAPE_2D)
    with pytest.raises(ValueError, match="absent_classes: expected one of"):
        dice_loss(z, y, absent_classes="ignore")
    dense = g.astype(np.float32)
    dense[0, 0, 0, 2] = np.nan  # unchecked under jit: the NaN must not be hidden by the rule
    for rule in ("zero", "exclude"):
        for average in ("macro", "micro"):
            got = jax.jit(functools.partial(dice_loss, absent_classes=rule, average=average))(
                z, dense)
            assert np.isnan(got[0]) and np.isfinite(got[1]), (rule, average)


def test_dice_and_tversky_match_optax():
    z, y, _, g = inputs(14, SHAPE_2D)
    t = g.astype(np.float32)
    for s in (1.0, 0.0):
        # optax puts `smooth` on the Tversky form: dice_loss(smooth=2s) here.
        np.testing.assert_allclose(dice_loss(z, y, smooth=2 * s),
                                   optax.losses.dice_loss(z, t, smooth=s), rtol=1e-5)
        np.testing.assert_allclose(
            tversky_loss(z, y, smooth=s, include_background=False),
            optax.losses.dice_loss(z, t, smooth=s, alpha=0.3, beta=0.7, ignore_background=True),
            rtol=1e-5)
    zb, yb, _, gb = inputs(14, SHAPE_2D, mode="binary")
    np.testing.assert_allclose(dice_loss(zb, yb, mode="binary", smooth=2.0),
                               optax.losses.dice_loss(zb, gb.astype(np.float32)), rtol=1e-5)


# --------------------------------------------------------------------------- empty masks
# The conventions every loss shares (grad, jit, vmap, bf16, masks, batch-global) are checked
# from tests/cases.py (tests/conventions.py); here what is particular to the family.

ALL_LOSSES = {
    "dice": (dice_loss, {}),
    "dice_squared": (dice_loss, {"squared": True}),
    "jaccard": (jaccard_loss, {}),
    "tversky": (tversky_loss, {}),
    "focal_tversky": (focal_tversky_loss, {}),
    "sensitivity_specificity": (sensitivity_specificity_loss, {}),
    "generalized_dice": (generalized_dice_loss, {}),
    "exp_log": (exp_log_loss, {}),
}


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_empty_truth(name):
    fn, options = ALL_LOSSES[name]
    loss_case = functools.partial(fn, **options)
    shape = SHAPE_2D
    empty = np.zeros(shape, np.int32)
    nothing = np.zeros(shape + (1,), np.float32)
    kw = {"mode": "binary", "from_logits": False}
    # Empty prediction on empty truth: a perfect score, also from -1e4 logits.
    np.testing.assert_allclose(loss_case(nothing, empty, **kw), 0.0, atol=1e-7)
    np.testing.assert_allclose(loss_case(nothing - 1e4, empty, mode="binary"), 0.0, atol=1e-7)
    np.testing.assert_allclose(loss_case(nothing, empty, **kw, per_image=False), 0.0, atol=1e-7)
    # A full false-positive prediction on an empty truth is penalised.
    assert np.all(np.asarray(loss_case(nothing + 1.0, empty, **kw)) > 0.9 * 0.2)
    assert_finite_value_and_grad(loss_case, jnp.asarray(nothing), empty, mode="binary")
    # Multiclass with a class absent from one example and an all-background example.
    _, y, _, _ = inputs(20, shape)
    y[0] = np.where(y[0] == 2, 1, y[0])
    y[1] = 0
    z = random_logits(20, shape + (C,))
    assert_finite_value_and_grad(loss_case, jnp.asarray(z), y)
    assert_finite_value_and_grad(loss_case, jnp.asarray(z), y, include_background=False)


@pytest.mark.parametrize("loss", [dice_loss, tversky_loss, jaccard_loss], ids=lambda f: f.__name__)
def test_empty_truth_smoothing_and_zero_smoothing(loss):
    empty = np.zeros(SHAPE_2D, np.int32)
    nothing = np.zeros(SHAPE_2D + (1,), np.float32)
    kw = {"mode": "binary", "from_logits": False}
    for s in (0.0, 1e-5, 1.0, (0.0, 1.0)):
        expected = 1.0 if s == (0.0, 1.0) else 0.0  # NiftyNet-style denominator-only smoothing
        value, grad = jax.value_and_grad(lambda p, s=s: loss(p, empty, smooth=s, **kw).mean())(
            jnp.asarray(nothing))
        np.testing.assert_allclose(value, expected, atol=1e-7)
        assert np.all(np.isfinite(np.asarray(grad)))
    # Non-empty prediction on empty truth: s / (sum p + s).
    half = nothing + 0.5
    np.testing.assert_allclose(loss(half, empty, smooth=1.0, **kw), 1 - 1 / (6.0 * _w(loss) + 1),
                               rtol=1e-6)


def _w(loss):
    """FP weight of each loss in its denominator (Dice's FP counts once against 2TP)."""
    return {"tversky_loss": 0.3}.get(loss.__name__, 1.0)


def test_generalized_dice_absent_class_policy():
    z, _, _, _ = inputs(21, SHAPE_2D)
    y = np.zeros(SHAPE_2D, np.int32)
    y[:, :2] = 1  # class 2 absent
    g = one_hot_np(y, C)
    s = overlap_statistics(z, y)
    vol = np.asarray(s.sum_y)[0]
    w = 1 / vol[:2] ** 2
    w = np.array([w[0], w[1], w.max()])
    tp, tot = np.asarray(s.tp)[0], np.asarray(s.sum_p + s.sum_y)[0]
    np.testing.assert_allclose(generalized_dice_loss(z, y)[0],
                               1 - 2 * (w * tp).sum() / (w * tot).sum(), rtol=1e-5)
    np.testing.assert_allclose(generalized_dice_loss(z, y), ref_gdl(softmax_np(z), g), rtol=1e-5)
    # No class present (binary, empty truth): weights 1, so false positives cost ~1.
    zb = np.full(SHAPE_2D + (1,), 3.0, np.float32)
    np.testing.assert_allclose(generalized_dice_loss(zb, np.zeros(SHAPE_2D, np.int32),
                                                     mode="binary"), 1.0, atol=1e-6)


# --------------------------------------------------------------------------- errors


def test_bad_calls_raise_clear_errors():
    z, y, _, _ = inputs(24, SHAPE_2D)
    with pytest.raises(ValueError, match=r"predictions: expected shape \(B, \*spatial, C\)"):
        dice_loss(z[0, 0], y[0, 0])
    with pytest.raises(ValueError, match=r"labels: expected class indices of shape"):
        tversky_loss(z, y[:, :3])
    with pytest.raises(ValueError, match="reduction: expected one of"):
        dice_loss(z, y, reduction="mean")
    with pytest.raises(ValueError, match="class_weights: only used by reduction='example'"):
        dice_loss(z, y, reduction="class", class_weights=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"class_weights: expected a scalar or shape \(3,\)"):
        jaccard_loss(z, y, class_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="alpha: expected a value >= 0"):
        tversky_loss(z, y, alpha=-0.1)
    with pytest.raises(ValueError, match="gamma: expected a value > 0"):
        focal_tversky_loss(z, y, gamma=0.0)
    with pytest.raises(ValueError, match=r"r: expected a value >= 0.0 and <= 1.0"):
        sensitivity_specificity_loss(z, y, r=1.5)
    with pytest.raises(ValueError, match="class_weighting: expected one of"):
        generalized_dice_loss(z, y, class_weighting="Square")
    with pytest.raises(ValueError, match="smooth"):
        dice_loss(z, y, smooth=-1.0)
    with pytest.raises(ValueError, match="smooth: expected a number or a pair"):
        dice_loss(z, y, smooth=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="gamma_dice"):
        exp_log_loss(z, y, gamma_dice=-0.3)
    with pytest.raises(ValueError, match=r"label_weights: expected a scalar or shape \(3,\)"):
        exp_log_loss(z, y, label_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="C == 1"):
        dice_loss(z, y, mode="binary")
    with pytest.raises(ValueError, match="mask: expected shape"):
        sensitivity_specificity_loss(z, y, mask=np.ones((2, 3), bool))


def test_value_errors_eager_and_checkify_under_jit():
    z, y, _, _ = inputs(25, SHAPE_2D)
    bad = y.copy()
    bad[0, 0, 0] = 5
    with pytest.raises(ValueError, match=r"class indices must lie in \[0, 2\]"):
        dice_loss(z, bad)
    with pytest.raises(ValueError, match="probabilities in"):
        generalized_dice_loss(z, y, from_logits=False)
    checked = checkify.checkify(jax.jit(dice_loss), errors=checkify.user_checks)
    err, _ = checked(z, bad)
    assert "class indices must lie" in err.get()
    err, value = checked(z, y)
    assert err.get() is None
    np.testing.assert_allclose(value, dice_loss(z, y), rtol=1e-6)


# --------------------------------------------------------------------------- properties


_BOUNDED = (dice_loss, jaccard_loss, tversky_loss, focal_tversky_loss,
            sensitivity_specificity_loss, generalized_dice_loss)


@jax.jit
def _property_values(z, y, g, s):
    """Everything the property test compares, in one compiled call (smooth traced)."""
    zb, yb = z[..., :1], (y > 0).astype(jnp.int32)
    return {
        "dice_2s": dice_loss(z, y, smooth=2 * s),
        "tversky_half": tversky_loss(z, y, alpha=0.5, beta=0.5, smooth=s),
        "tversky_one": tversky_loss(z, y, alpha=1.0, beta=1.0, smooth=s),
        "jaccard": jaccard_loss(z, y, smooth=s),
        "bounded": jnp.stack([fn(z, y) for fn in _BOUNDED]),
        "perfect": jnp.stack([fn(g, y, from_logits=False) for fn in _BOUNDED + (exp_log_loss,)]),
        "exp_log": exp_log_loss(z, y),
        "gdl_one_class": generalized_dice_loss(zb, yb, mode="binary"),
        "dice_one_class": dice_loss(zb, yb, mode="binary", smooth=0.0),
    }


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 20.0), s=st.floats(0.0, 2.0),
       empty=st.booleans())
def test_properties(seed, scale, s, empty):
    z, y, _, _ = inputs(seed, SHAPE_2D, scale=scale)
    if empty:
        y[0] = 0  # an all-background example (classes 1, 2 absent)
    g = one_hot_np(y, C).astype(np.float32)
    out = {k: np.asarray(v) for k, v in _property_values(z, y, g, np.float32(s)).items()}
    # Tversky(0.5, 0.5) is Dice (smoothing on the Tversky form counts double); (1, 1) is Jaccard.
    np.testing.assert_allclose(out["tversky_half"], out["dice_2s"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["tversky_one"], out["jaccard"], rtol=1e-5, atol=1e-6)
    assert np.all((out["bounded"] >= -1e-6) & (out["bounded"] <= 1 + 1e-6)), out["bounded"]
    np.testing.assert_allclose(out["perfect"], 0.0, atol=1e-6)
    assert np.all(out["exp_log"] >= 0)
    # GDL with one class is the Dice loss (the weight cancels), empty truths included.
    np.testing.assert_allclose(out["gdl_one_class"], out["dice_one_class"], rtol=1e-5, atol=1e-6)
