"""Tests of the compound losses (jaxseg_losses.recipes), built with the combinators."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxseg_losses.recipes import (
    boundary_recipe,
    boundary_weight_schedules,
)
from tests.helpers import (
    channels_first,
    one_hot_np,
    random_labels,
    random_logits,
    sigmoid_np,
    softmax_np,
)
from tests.jit_cache import jl

# Compiled once per options and shapes (tests/jit_cache.py): eager calls cost seconds.

B, H, W, C = 2, 6, 5, 3
LOGITS = random_logits(0, (B, H, W, C))
LABELS = random_labels(0, (B, H, W), C)
BIN_LOGITS = random_logits(1, (B, H, W, 1))
BIN_LABELS = random_labels(1, (B, H, W), 2)


# --------------------------------------------------------------------------- NumPy references


def dice_np(p, g, smooth, batch=False):
    """Per-(example, class) soft Dice score from the formula, (B or 1, C)."""
    axes = (0, 1, 2) if batch else (1, 2)
    inter = (p * g).sum(axes)
    return (2 * inter + smooth) / (p.sum(axes) + g.sum(axes) + smooth)


def bce_np(z, y):
    p = sigmoid_np(z)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean((1, 2, 3))


def softmax_focal_np(z, labels, gamma):
    p = softmax_np(z)
    g = one_hot_np(labels, z.shape[-1])
    return (-(g * (1 - p) ** gamma * np.log(p)).sum(-1)).mean((1, 2))


def combo_np(p, t, alpha, beta, smooth, batch=False):
    """Taghanaki et al. 2019, Eq. (1)-(3), channels averaged in the CE, Dice summed over K."""
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    ce = -(beta * t * np.log(p) + (1 - beta) * (1 - t) * np.log(1 - p)).mean((1, 2, 3))
    dice = dice_np(p, t, smooth, batch=batch).sum(-1)
    return alpha * ce - (1 - alpha) * dice


# --------------------------------------------------------------------------- bce + dice


def test_bce_dice_is_the_sum_of_its_terms():
    total, aux = jl.bce_dice_loss(BIN_LOGITS, BIN_LABELS, bce_weight=0.3, return_aux=True)
    bce = jl.binary_cross_entropy(BIN_LOGITS, BIN_LABELS)
    dice = jl.dice_loss(BIN_LOGITS, BIN_LABELS, mode="binary")
    np.testing.assert_allclose(total, 0.3 * bce + dice, rtol=1e-6)
    np.testing.assert_allclose(aux["bce"], bce, rtol=1e-6)
    np.testing.assert_allclose(aux["dice"], dice, rtol=1e-6)
    assert float(aux["bce/weight"]) == pytest.approx(0.3)
    y = BIN_LABELS[..., None].astype(np.float64)
    ref = 0.3 * bce_np(BIN_LOGITS, y) + 1 - dice_np(sigmoid_np(BIN_LOGITS), y, 1e-5)[:, 0]
    np.testing.assert_allclose(total, ref, rtol=1e-5)


def test_bce_dice_options_are_routed():
    mask = np.random.default_rng(2).random((B, H, W)) > 0.3
    total = jl.bce_dice_loss(
        LOGITS, LABELS, mode="multilabel", smooth=0.5, per_image=False, mask=mask,
        pos_weight=2.0, include_background=False,
    )
    expected = jl.binary_cross_entropy(LOGITS, LABELS, pos_weight=2.0, mask=mask) + jl.dice_loss(
        LOGITS, LABELS, mode="multilabel", smooth=0.5, per_image=False, mask=mask,
        include_background=False,
    )
    np.testing.assert_allclose(total, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="mode"):
        jl.bce_dice_loss(LOGITS, LABELS, mode="multiclass")


# --------------------------------------------------------------------------- dice + ce (MONAI)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"per_image": False, "smooth": 1e-3},
        {"include_background": False, "dice_weight": 0.7, "ce_weight": 1.5},
        {"squared": True, "label_smoothing": 0.1},
    ],
)
def test_dice_ce_matches_monai(options):
    monai_losses = pytest.importorskip("monai.losses")
    torch = pytest.importorskip("torch")
    ours = jl.dice_ce_loss(LOGITS, LABELS, **options)
    smooth = options.get("smooth", 1e-5)
    reference = monai_losses.DiceCELoss(
        to_onehot_y=True, softmax=True, smooth_nr=smooth, smooth_dr=smooth,
        batch=not options.get("per_image", True),
        include_background=options.get("include_background", True),
        squared_pred=options.get("squared", False),
        lambda_dice=options.get("dice_weight", 1.0), lambda_ce=options.get("ce_weight", 1.0),
        label_smoothing=options.get("label_smoothing", 0.0),
    )(channels_first(LOGITS, np.float32), torch.as_tensor(LABELS[:, None].astype(np.int64)))
    np.testing.assert_allclose(float(ours.mean()), float(reference), rtol=1e-5)


def test_dice_ce_matches_monai_with_class_weights():
    monai_losses = pytest.importorskip("monai.losses")
    torch = pytest.importorskip("torch")
    # MONAI: Dice weights multiply the per-class values before a plain mean (equal to the
    # weighted mean when the weights average to 1); the weighted CE is normalised over the whole
    # batch (equal to the per-example form for one example).
    weights = np.array([0.5, 1.0, 1.5], np.float32)
    logits, labels = LOGITS[:1], LABELS[:1]
    ours = jl.dice_ce_loss(logits, labels, class_weights=weights)
    reference = monai_losses.DiceCELoss(
        to_onehot_y=True, softmax=True, weight=torch.as_tensor(weights)
    )(channels_first(logits, np.float32), torch.as_tensor(labels[:, None].astype(np.int64)))
    np.testing.assert_allclose(float(ours[0]), float(reference), rtol=1e-5)


def test_dice_ce_binary_matches_monai_sigmoid():
    monai_losses = pytest.importorskip("monai.losses")
    torch = pytest.importorskip("torch")
    ours = jl.dice_ce_loss(BIN_LOGITS, BIN_LABELS, mode="binary", class_weights=[2.0])
    reference = monai_losses.DiceCELoss(sigmoid=True, weight=torch.tensor([2.0]))(
        channels_first(BIN_LOGITS, np.float32),
        torch.as_tensor(BIN_LABELS[:, None].astype(np.float32))
    )
    np.testing.assert_allclose(float(ours.mean()), float(reference), rtol=1e-5)


def test_dice_activation_reproduces_monai_dice_ce_flags():
    monai_losses = pytest.importorskip("monai.losses")
    torch = pytest.importorskip("torch")
    labels_t = torch.as_tensor(LABELS[:, None].astype(np.int64))
    # softmax=False on probabilities q: MONAI's Dice reads q, its CE softmaxes q once more.
    probs = softmax_np(LOGITS).astype(np.float32)
    reference = monai_losses.DiceCELoss(to_onehot_y=True, softmax=False)(
        channels_first(probs, np.float32), labels_t)
    total, aux = jl.dice_ce_loss(probs, LABELS, dice_activation="none", return_aux=True)
    np.testing.assert_allclose(float(total.mean()), float(reference), rtol=1e-5)
    np.testing.assert_allclose(aux["dice"], jl.dice_loss(probs, LABELS, from_logits=False),
                               rtol=1e-6)
    np.testing.assert_allclose(aux["ce"], jl.cross_entropy(probs, LABELS), rtol=1e-6)
    # sigmoid=True with C > 1: a sigmoid Dice and MONAI's softmax CE.
    reference = monai_losses.DiceCELoss(to_onehot_y=True, sigmoid=True)(
        channels_first(LOGITS, np.float32), labels_t)
    total = jl.dice_ce_loss(LOGITS, LABELS, dice_activation="sigmoid")
    np.testing.assert_allclose(float(total.mean()), float(reference), rtol=1e-5)
    # softmax: the default.
    np.testing.assert_allclose(jl.dice_ce_loss(LOGITS, LABELS, dice_activation="softmax"),
                               jl.dice_ce_loss(LOGITS, LABELS), rtol=1e-6)
    # from_logits=False: every term reads probabilities; the activation only picks the mode.
    _, aux = jl.dice_ce_loss(probs, LABELS, from_logits=False, dice_activation="sigmoid",
                          return_aux=True)
    np.testing.assert_allclose(
        aux["dice"], jl.dice_loss(probs, LABELS, mode="multilabel", from_logits=False), rtol=1e-6)
    np.testing.assert_allclose(aux["ce"], jl.cross_entropy(probs, LABELS, from_logits=False),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="dice_activation: expected one of"):
        jl.dice_ce_loss(LOGITS, LABELS, dice_activation="relu")


def test_dice_ce_terms_and_modes():
    total, aux = jl.dice_ce_loss(LOGITS, LABELS, ignore_index=2, return_aux=True)
    np.testing.assert_allclose(aux["ce"], jl.cross_entropy(LOGITS, LABELS, ignore_index=2),
                               rtol=1e-6)
    np.testing.assert_allclose(
        aux["dice"], jl.dice_loss(LOGITS, LABELS, ignore_index=2), rtol=1e-6
    )
    np.testing.assert_allclose(total, aux["ce"] + aux["dice"], rtol=1e-6)
    _, aux = jl.dice_ce_loss(LOGITS, LABELS, mode="multilabel", return_aux=True)
    np.testing.assert_allclose(aux["ce"], jl.binary_cross_entropy(LOGITS, LABELS), rtol=1e-6)
    with pytest.raises(ValueError, match="label_smoothing"):
        jl.dice_ce_loss(LOGITS, LABELS, mode="multilabel", label_smoothing=0.1)


# --------------------------------------------------------------------------- dice + focal


def test_dice_focal_multiclass_uses_the_softmax_focal():
    total, aux = jl.dice_focal_loss(LOGITS, LABELS, gamma=2.0, focal_weight=0.5, return_aux=True)
    reference_focal = softmax_focal_np(LOGITS, LABELS, 2.0)
    np.testing.assert_allclose(aux["focal"], reference_focal, rtol=1e-5)
    np.testing.assert_allclose(aux["focal"], jl.focal_loss(LOGITS, LABELS), rtol=1e-6)
    g = one_hot_np(LABELS, C)
    reference_dice = 1 - dice_np(softmax_np(LOGITS), g, 1e-5).mean(-1)
    np.testing.assert_allclose(total, reference_dice + 0.5 * reference_focal, rtol=1e-5)


def test_dice_focal_passes_class_options_to_both_terms():
    weights = np.linspace(0.5, 2.0, C, dtype=np.float32)
    options = dict(include_background=False, class_weights=weights)
    _, aux = jl.dice_focal_loss(LOGITS, LABELS, return_aux=True, **options)
    np.testing.assert_allclose(aux["focal"], jl.focal_loss(LOGITS, LABELS, **options), rtol=1e-6)
    np.testing.assert_allclose(aux["dice"], jl.dice_loss(LOGITS, LABELS, **options), rtol=1e-6)


def test_dice_focal_differs_from_monai_multiclass_activation():
    """MONAI's DiceFocalLoss(softmax=True) feeds its focal part the sigmoid of the logits: not
    our default, but dice_activation="softmax" with mode="multilabel"."""
    monai_losses = pytest.importorskip("monai.losses")
    torch = pytest.importorskip("torch")
    logits_t = channels_first(LOGITS, np.float32)
    labels_t = torch.as_tensor(LABELS[:, None].astype(np.int64))
    monai_total = float(
        monai_losses.DiceFocalLoss(to_onehot_y=True, softmax=True)(logits_t, labels_t)
    )
    monai_dice = float(monai_losses.DiceLoss(to_onehot_y=True, softmax=True)(logits_t, labels_t))
    target = torch.as_tensor(np.moveaxis(one_hot_np(LABELS, C), -1, 1).astype(np.float32))
    sigmoid_focal = float(monai_losses.FocalLoss(use_softmax=False)(logits_t, target))
    np.testing.assert_allclose(monai_total, monai_dice + sigmoid_focal, rtol=1e-5)
    # Ours: the same Dice plus the softmax focal (MONAI's softmax FocalLoss averages over C too).
    softmax_focal = float(monai_losses.FocalLoss(use_softmax=True)(logits_t, target))
    _, aux = jl.dice_focal_loss(LOGITS, LABELS, return_aux=True)
    np.testing.assert_allclose(float(aux["dice"].mean()), monai_dice, rtol=1e-5)
    np.testing.assert_allclose(float(aux["focal"].mean()) / C, softmax_focal, rtol=1e-5)
    assert abs(float(aux["focal"].mean()) - sigmoid_focal) > 1e-2
    # dice_activation reproduces MONAI: softmax Dice, one-vs-rest sigmoid focal.
    ours = jl.dice_focal_loss(LOGITS, LABELS, mode="multilabel", dice_activation="softmax")
    np.testing.assert_allclose(float(ours.mean()), monai_total, rtol=1e-5)
    weights = np.array([0.5, 0.8, 1.2], np.float32)  # kept ones average to 1: MONAI agrees
    reference = monai_losses.DiceFocalLoss(
        to_onehot_y=True, softmax=True, include_background=False, weight=weights[1:])(
        logits_t, labels_t)
    ours = jl.dice_focal_loss(LOGITS, LABELS, mode="multilabel", dice_activation="softmax",
                           include_background=False, class_weights=weights)
    np.testing.assert_allclose(float(ours.mean()), float(reference), rtol=1e-5)


def test_dice_focal_binary_matches_monai():
    monai_losses = pytest.importorskip("monai.losses")
    torch = pytest.importorskip("torch")
    ours = jl.dice_focal_loss(BIN_LOGITS, BIN_LABELS, mode="binary", gamma=1.5, focal_weight=2.0)
    reference = monai_losses.DiceFocalLoss(sigmoid=True, gamma=1.5, lambda_focal=2.0)(
        channels_first(BIN_LOGITS, np.float32),
        torch.as_tensor(BIN_LABELS[:, None].astype(np.float32))
    )
    np.testing.assert_allclose(float(ours.mean()), float(reference), rtol=1e-5)


def test_dice_focal_gamma_zero_is_dice_ce():
    np.testing.assert_allclose(
        jl.dice_focal_loss(LOGITS, LABELS, gamma=0.0), jl.dice_ce_loss(LOGITS, LABELS), rtol=1e-5
    )


# --------------------------------------------------------------------------- combo


@pytest.mark.parametrize("alpha, beta", [(0.5, 0.5), (0.3, 0.8), (0.9, 0.2)])
@pytest.mark.parametrize("per_image", [True, False])
def test_combo_matches_the_paper_formula(alpha, beta, per_image):
    p = sigmoid_np(BIN_LOGITS)
    t = BIN_LABELS[..., None].astype(np.float64)
    ours = jl.combo_loss(BIN_LOGITS, BIN_LABELS, alpha=alpha, beta=beta, per_image=per_image)
    reference = combo_np(p, t, alpha, beta, 1.0, batch=not per_image)
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-6)


def test_combo_multilabel_sums_dice_over_channels():
    p = sigmoid_np(LOGITS)
    t = one_hot_np(LABELS, C)
    ours = jl.combo_loss(LOGITS, LABELS, mode="multilabel", alpha=0.4, beta=0.6)
    np.testing.assert_allclose(ours, combo_np(p, t, 0.4, 0.6, 1.0), rtol=1e-5)
    ours_softmax = jl.combo_loss(LOGITS, LABELS, mode="multiclass", alpha=0.4, beta=0.6)
    np.testing.assert_allclose(ours_softmax, combo_np(softmax_np(LOGITS), t, 0.4, 0.6, 1.0),
                               rtol=1e-5)


def test_combo_special_cases():
    # alpha = 1, beta = 0.5: half the BCE.
    np.testing.assert_allclose(
        jl.combo_loss(BIN_LOGITS, BIN_LABELS, alpha=1.0),
        0.5 * jl.binary_cross_entropy(BIN_LOGITS, BIN_LABELS), rtol=1e-6,
    )
    # alpha = 0: minus the Dice score, in [-1, 0] for one channel.
    minus_dice = jl.combo_loss(BIN_LOGITS, BIN_LABELS, alpha=0.0)
    np.testing.assert_allclose(
        minus_dice, jl.dice_loss(BIN_LOGITS, BIN_LABELS, mode="binary", smooth=1.0) - 1, rtol=1e-6
    )
    # A perfect prediction: about -(1 - alpha) K.
    perfect = one_hot_np(LABELS, C).astype(np.float32)
    np.testing.assert_allclose(
        jl.combo_loss(perfect, LABELS, from_logits=False, mode="multilabel", alpha=0.3),
        -0.7 * C, atol=1e-5,
    )
    total, aux = jl.combo_loss(BIN_LOGITS, BIN_LABELS, alpha=0.3, return_aux=True)
    assert set(aux) == {"wce", "wce/weight", "dice_score", "dice_score/weight"}
    np.testing.assert_allclose(aux["dice_score/weight"], -0.7, rtol=1e-6)


def _fn_fp_predictions():
    """One image, 4 positive pixels: a prediction with 2 missed positives (p = 0.1 there) and
    one with 2 false-positive background pixels (p = 0.9 there); otherwise exact."""
    t = np.zeros((1, 4, 4), np.int32)
    t[0, :2, :2] = 1
    base = np.where(t == 1, 0.999, 0.001)
    fn_only = base.copy()
    fn_only[0, 0, :2] = 0.1
    fp_only = base.copy()
    fp_only[0, 3, :2] = 0.9
    return t, fn_only[..., None], fp_only[..., None]


def test_combo_beta_above_half_penalises_false_negatives():
    t, fn_only, fp_only = _fn_fp_predictions()

    def loss(p, beta, alpha=0.5):
        return float(jl.combo_loss(p, t, from_logits=False, alpha=alpha, beta=beta)[0])

    betas = [0.2, 0.5, 0.8]
    fn_losses = [loss(fn_only, b) for b in betas]
    fp_losses = [loss(fp_only, b) for b in betas]
    assert fn_losses == sorted(fn_losses)  # rises with beta
    assert fp_losses == sorted(fp_losses, reverse=True)  # falls with beta
    # The cross-entropy part alone (alpha = 1): beta = 0.5 treats the symmetric errors alike,
    # beta > 0.5 makes the false negatives cost more, beta < 0.5 the false positives.
    assert loss(fn_only, 0.5, alpha=1.0) == pytest.approx(loss(fp_only, 0.5, alpha=1.0), rel=1e-5)
    assert loss(fn_only, 0.8, alpha=1.0) > loss(fp_only, 0.8, alpha=1.0)
    assert loss(fn_only, 0.2, alpha=1.0) < loss(fp_only, 0.2, alpha=1.0)


def test_combo_does_not_reward_background_positives():
    """The reference code's sign error makes raising p on background lower the loss."""
    labels = np.zeros((1, 3, 3), np.int32)
    labels[0, 1, 1] = 1

    grad_fn = jax.jit(jax.grad(lambda q: jl.combo_loss(q, labels, from_logits=False, alpha=1.0)[0]))

    def background_grad(p_value):
        return float(grad_fn(np.full((1, 3, 3, 1), p_value, np.float32))[0, 0, 0, 0])

    assert background_grad(0.3) > 0 and background_grad(0.9) > 0  # raising p costs
    t = labels[..., None].astype(np.float64)
    p = np.full((1, 3, 3, 1), 0.5)
    buggy = (-(0.5 * t * np.log(p)) + (0.5 * (1 - t) * np.log(1 - p))).mean()
    assert buggy < combo_np(p, t, 1.0, 0.5, 1.0)[0]  # the bug's value is lower (wrong sign)


def test_combo_errors():
    with pytest.raises(ValueError, match="alpha"):
        jl.combo_loss(BIN_LOGITS, BIN_LABELS, alpha=1.5)
    with pytest.raises(ValueError, match="beta"):
        jl.combo_loss(BIN_LOGITS, BIN_LABELS, beta=-0.1)


# --------------------------------------------------------------------------- common checks


# --------------------------------------------------------------------------- boundary recipe


def _blob_labels():
    labels = np.zeros((B, 8, 8), np.int32)
    labels[0, 2:5, 2:6] = 1
    labels[1, 4:7, 1:4] = 1
    return labels


def test_boundary_recipe_weights_and_terms():
    labels = _blob_labels()
    logits = random_logits(5, (B, 8, 8, 2))
    loss = boundary_recipe(steps_per_epoch=10)
    total, aux = jax.jit(lambda p: loss(p, labels, step=35, sampling=(1.0, 2.0)))(logits)
    np.testing.assert_allclose(aux["region/weight"], 0.97, rtol=1e-6)
    np.testing.assert_allclose(aux["boundary/weight"], 0.04, rtol=1e-6)
    gdl = jax.jit(jl.generalized_dice_loss)(logits, labels)
    bl = jax.jit(
        lambda p: jl.boundary_loss(p, labels, sampling=(1.0, 2.0), include_background=False)
    )(logits)
    np.testing.assert_allclose(aux["region"], gdl, rtol=1e-6)
    np.testing.assert_allclose(aux["boundary"], bl, rtol=1e-5)
    np.testing.assert_allclose(total, 0.97 * gdl + 0.04 * bl, rtol=1e-5)
    paper = boundary_recipe(variant="paper")
    _, aux = jax.jit(lambda p: paper(p, labels, step=0))(logits)
    assert float(aux["boundary/weight"]) == 0.0 and float(aux["region/weight"]) == 1.0


def test_boundary_recipe_compiles_once():
    labels = _blob_labels()
    logits = jnp.asarray(random_logits(6, (B, 8, 8, 2)))
    loss = boundary_recipe()
    traces = []

    @jax.jit
    def objective(p, step):
        traces.append(1)
        total, aux = loss(p, labels, step=step)
        return total.mean(), aux["boundary/weight"]

    weights = [float(objective(logits, jnp.asarray(s))[1]) for s in (0, 1, 50)]
    assert len(traces) == 1
    np.testing.assert_allclose(weights, [0.01, 0.02, 0.51], rtol=1e-5)
    grad = jax.jit(jax.grad(lambda p: loss(p, labels, step=3)[0].mean()))(logits)
    assert np.all(np.isfinite(np.asarray(grad)))


def test_boundary_recipe_custom_terms():
    def region(p, y, *, mask=None):
        return jl.dice_loss(p, y, mask=mask)

    def boundary(p, y):  # no include_background keyword: nothing is bound
        return jnp.zeros(p.shape[0])

    loss = boundary_recipe(region_loss=region, boundary=boundary, variant="paper")
    total, aux = loss(LOGITS, LABELS, step=10)
    np.testing.assert_allclose(total, 0.9 * jl.dice_loss(LOGITS, LABELS), rtol=1e-6)
    assert float(aux["boundary/weight"]) == pytest.approx(0.1)


# --------------------------------------------------------------------------- schedules


def _steal_weight_reference(epochs):
    """LIVIAETS/boundary-loss scheduler.StealWeight(to_steal=0.01), applied after each epoch."""
    weights, out = [1.0, 0.01], []
    for _ in range(epochs):
        out.append(tuple(weights))
        a, b = weights
        weights = [max(0.1, a - 0.01), b + 0.01]
    return np.array(out)


def test_code_schedule_matches_steal_weight():
    region, boundary = boundary_weight_schedules(variant="code")
    epochs = np.arange(100)
    reference = _steal_weight_reference(100)
    np.testing.assert_allclose(jax.vmap(region)(epochs), reference[:, 0], atol=1e-6)
    np.testing.assert_allclose(jax.vmap(boundary)(epochs), reference[:, 1], atol=1e-6)
    assert float(boundary(99)) == pytest.approx(1.0) and float(boundary(500)) == 1.0
    assert float(region(500)) == pytest.approx(0.1)


def test_paper_schedule():
    region, boundary = boundary_weight_schedules(variant="paper", steps_per_epoch=4, rate=0.02)
    steps = np.arange(0, 400, 3)
    epochs = steps // 4
    alpha = np.maximum(0.01, 1.0 - 0.02 * epochs)
    np.testing.assert_allclose(jax.vmap(region)(steps), alpha, atol=1e-6)
    np.testing.assert_allclose(jax.vmap(boundary)(steps), 1.0 - alpha, atol=1e-6)


def test_schedules_are_staircases_and_jit():
    region, boundary = boundary_weight_schedules(steps_per_epoch=10)
    jitted = jax.jit(boundary)
    values = [round(float(jitted(s)), 4) for s in (0, 9, 10, 19, 20)]
    assert values == [0.01, 0.01, 0.02, 0.02, 0.03]
    joined = optax.join_schedules([optax.constant_schedule(0.0), boundary], [100])
    # optax restarts the count at the boundary: step 150 is epoch 5 of the boundary schedule.
    np.testing.assert_allclose(joined(150), 0.06, atol=1e-7)
    np.testing.assert_allclose(joined(99), 0.0)


def test_schedule_errors():
    with pytest.raises(ValueError, match="variant"):
        boundary_weight_schedules(variant="linear")
    with pytest.raises(ValueError, match="steps_per_epoch"):
        boundary_weight_schedules(steps_per_epoch=0)
    with pytest.raises(ValueError, match="rate"):
        boundary_weight_schedules(rate=0.0)
