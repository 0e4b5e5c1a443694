"""Skeleton Recall and cbDice (jaxseg_losses.centerline) against NumPy references.

The references use scikit-image's skeleton and dilation, SciPy's distance transform and a NumPy
soft skeleton written from Shit et al.'s Alg. 1; the losses' own formulas are written from the
papers and the authors' code (MIC-DKFZ/Skeleton-Recall ``SoftSkeletonRecallLoss`` with
``SkeletonTransform``; PengchengShi1220/cbDice ``SoftcbDiceLoss`` with ``get_weights`` and
``combine_tensors``), including the authors' sign, batch pooling and clipping.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy import ndimage as ndi

from jaxseg_losses.centerline import cbdice_loss, skeleton_recall_loss

skimage_morphology = pytest.importorskip("skimage.morphology")

# ``smooth`` traced: one compilation serves every smoothing of a test.
_recall = jax.jit(skeleton_recall_loss, static_argnames=(
    "mode", "from_logits", "tube_radius", "per_image", "reduction", "ignore_index"))
_cbdice = jax.jit(cbdice_loss, static_argnames=(
    "mode", "from_logits", "iterations", "hard_skeleton", "per_image", "ignore_index"))


# ----------------------------------------------------------------------------- inputs

def _vessels(rng, shape, classes) -> np.ndarray:
    """Integer labels: thick and thin tubes / blobs of classes 1 .. classes - 1."""
    field = ndi.gaussian_filter(rng.random(shape), 2.0)
    fg = field > np.quantile(field, 0.6)
    part = ndi.gaussian_filter(rng.random(shape), 4.0)
    cut = np.quantile(part, np.linspace(0, 1, classes)[1:-1])
    return np.where(fg, 1 + np.searchsorted(cut, part), 0).astype(np.int32)


def _batch(shape, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.stack([_vessels(rng, shape[1:], classes) for _ in range(shape[0])])
    logits = rng.normal(size=labels.shape + (classes,)) * 2.0
    logits += 2.5 * np.eye(classes)[np.where(rng.random(labels.shape) < 0.7, labels, 0)]
    return logits.astype(np.float32), labels


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# ----------------------------------------------------------------------------- Skeleton Recall

def _tubed_skeleton(labels_one: np.ndarray, radius: int) -> np.ndarray:
    """The authors' SkeletonTransform: skeleton of seg > 0, dilated twice, times the labels."""
    fg = labels_one > 0
    if not fg.any():
        return np.zeros_like(labels_one)
    tube = skimage_morphology.skeletonize(fg)
    for _ in range(radius):
        tube = skimage_morphology.dilation(tube)
    return tube.astype(labels_one.dtype) * labels_one


def _recall_reference(probs, labels, smooth, radius=2, per_image=True):
    """1 - mean over classes 1.. of (sum p_c W_c + s) / (sum W_c + s), W = the tubed skeleton."""
    classes = probs.shape[-1]
    skel = np.stack([_tubed_skeleton(lab, radius) for lab in labels])
    w = np.eye(classes)[skel] * (skel > 0)[..., None]
    axes = tuple(range(1, labels.ndim))
    num, den = (probs * w).sum(axes), w.sum(axes)
    if not per_image:
        num, den = num.sum(0, keepdims=True), den.sum(0, keepdims=True)
    rec = (num + smooth) / (den + smooth)
    return np.broadcast_to(1.0 - rec[:, 1:].mean(-1), (labels.shape[0],))


def _recall_authors_form(probs, labels, smooth):
    """The authors' forward: -(mean over batch and foreground classes of the recall), with
    their clip of the denominator at 1e-8."""
    skel = np.stack([_tubed_skeleton(lab, 2) for lab in labels])
    onehot = np.eye(probs.shape[-1])[skel][..., 1:]
    axes = tuple(range(1, labels.ndim))
    inter = (probs[..., 1:] * onehot).sum(axes)
    rec = (inter + smooth) / np.clip(onehot.sum(axes) + smooth, 1e-8, None)
    return -rec.mean()


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(3, 40, 40), (2, 20, 20, 20)], ids=["2d", "3d"])
def test_skeleton_recall_matches_reference(shape):
    logits, labels = _batch(shape)
    probs = _softmax(logits.astype(np.float64))
    if len(shape) == 4:
        # 3-D: compare on tubes, where the skeleton equals scikit-image's (tests/test_skeleton.py).
        z, y, x = np.mgrid[: shape[1], : shape[2], : shape[3]]
        labels = np.stack([(np.hypot(y - 10, x - 9) < 4) * 1 + (np.hypot(z - 6, y - 9) < 2.5) * 2,
                           (np.hypot(z - 10, x - 10) < 3) * 2]).astype(np.int32)
        labels = np.minimum(labels, 2)
    for smooth in (1.0, 1e-5):
        for per_image in (True, False):
            got = _recall(logits, labels, smooth=smooth, per_image=per_image)
            want = _recall_reference(probs, labels, smooth, per_image=per_image)
            np.testing.assert_allclose(np.asarray(got), want, rtol=2e-5, atol=2e-6)
        authors = _recall_authors_form(probs, labels, smooth)
        got = _recall(logits, labels, smooth=smooth)
        np.testing.assert_allclose(float(jnp.mean(got)) - 1.0, authors, rtol=2e-5, atol=2e-6)


def test_skeleton_recall_tube_radius_binary_and_class_reduction():
    logits, labels = _batch((2, 32, 32), classes=2, seed=3)
    probs = _softmax(logits.astype(np.float64))
    for radius in (0, 1, 3):
        got = _recall(logits, labels, tube_radius=radius, smooth=1e-5)
        want = _recall_reference(probs, labels, 1e-5, radius=radius)
        np.testing.assert_allclose(np.asarray(got), want, rtol=2e-5, atol=2e-6)
    # Binary (sigmoid, one channel) scores the same tube with p = sigmoid(l1 - l0).
    binary = logits[..., 1:] - logits[..., :1]
    np.testing.assert_allclose(
        np.asarray(_recall(binary, labels, mode="binary")), np.asarray(_recall(logits, labels)),
        rtol=1e-5,
    )
    per_class = _recall(logits, labels, reduction="class")
    assert per_class.shape == (2, 1)


def test_skeleton_recall_onehot_equals_integer_and_perfect_prediction():
    logits, labels = _batch((2, 32, 32), classes=3, seed=4)
    onehot = jax.nn.one_hot(labels, 3)
    np.testing.assert_allclose(
        np.asarray(_recall(logits, onehot)), np.asarray(_recall(logits, labels)), rtol=1e-6
    )
    perfect = np.asarray(_recall(onehot, labels, from_logits=False))
    np.testing.assert_allclose(perfect, 0.0, atol=1e-6)


# ----------------------------------------------------------------------------- cbDice

def _np_soft_skeleton(img: np.ndarray, iterations: int) -> np.ndarray:
    """Shit et al. Alg. 1 in NumPy: erosion = min of the axis 3-windows (padding +inf),
    dilation = 3^d max (padding -inf)."""

    def erode(x):
        return np.min([ndi.minimum_filter1d(x, 3, axis=a, mode="constant", cval=np.inf)
                       for a in range(x.ndim)], axis=0)

    def dilate(x):
        return ndi.maximum_filter(x, size=3, mode="constant", cval=-np.inf)

    skel = np.maximum(img - dilate(erode(img)), 0)
    for _ in range(iterations):
        img = erode(img)
        delta = np.maximum(img - dilate(erode(img)), 0)
        skel = skel + np.maximum(delta - skel * delta, 0)
    return skel


def _np_weights(mask, skel, values, dim):
    """get_weights of the cbDice code, one image: (q_v, q_sv, q_s)."""
    dist = ndi.distance_transform_edt(mask) if mask.any() else np.zeros(mask.shape)
    radius = dist * skel
    r_max, r_min = max(radius.max(), 1.0), max(radius.min(), 1.0)
    inverse = ((r_max - radius + r_min) / r_max) ** (1 if dim == 2 else 2) * skel
    return np.minimum(dist, r_max) / r_max * values, radius / r_max * values, inverse * values


def _combine(a, b, c):
    return np.where((a != 0) & (b == 0), a * c, b * c)


def _cbdice_reference(logits, labels, *, iterations=10, smooth=1.0, hard=False, per_image=True):
    """The cbDice formula on the binary foreground, sums per image or pooled over the batch."""
    two = np.stack([logits[..., 0], logits[..., 1:].max(-1)], -1).astype(np.float64)
    p = _softmax(two)[..., 1]
    y = (labels > 0).astype(np.float64)
    dim = labels.ndim - 1
    sums = []
    for b in range(labels.shape[0]):
        ph = (p[b] > 0.5).astype(np.float64)
        if hard:
            sl = skimage_morphology.skeletonize(y[b] > 0).astype(np.float64)
            sp = skimage_morphology.skeletonize(ph > 0).astype(np.float64)
        else:
            sl, sp = _np_soft_skeleton(y[b], iterations), _np_soft_skeleton(ph, iterations)
        q_vl, q_slvl, q_sl = _np_weights(y[b] > 0, sl, y[b], dim)
        q_vp, q_spvp, q_sp = _np_weights(ph > 0, sp, p[b], dim)
        sums.append([np.sum(q_sp * q_vl), np.sum(_combine(q_spvp, q_slvl, q_sp)),
                     np.sum(q_sl * q_vp), np.sum(_combine(q_slvl, q_spvp, q_sl))])
    sums = np.array(sums)
    if not per_image:
        sums = sums.sum(0, keepdims=True)
    t_prec = (sums[:, 0] + smooth) / (sums[:, 1] + smooth)
    t_sens = (sums[:, 2] + smooth) / (sums[:, 3] + smooth)
    loss = 1.0 - 2.0 * t_prec * t_sens / (t_prec + t_sens)
    return np.broadcast_to(loss, (labels.shape[0],))


@pytest.mark.parametrize("shape", [(3, 40, 40), (2, 20, 20, 20)], ids=["2d", "3d"])
def test_cbdice_matches_reference(shape):
    logits, labels = _batch(shape)
    for smooth, per_image in ((1.0, True), (1e-3, False), (1e-3, True)):
        got = _cbdice(logits, labels, smooth=smooth, per_image=per_image)
        want = _cbdice_reference(logits, labels, smooth=smooth, per_image=per_image)
        np.testing.assert_allclose(np.asarray(got), want, rtol=2e-5, atol=2e-6)
    got = _cbdice(logits, labels, iterations=3)
    np.testing.assert_allclose(
        np.asarray(got), _cbdice_reference(logits, labels, iterations=3), rtol=2e-5, atol=2e-6
    )


def test_cbdice_hard_skeleton_2d():
    logits, labels = _batch((3, 40, 40), seed=5)
    got = _cbdice(logits, labels, hard_skeleton=True, smooth=1e-3)
    want = _cbdice_reference(logits, labels, hard=True, smooth=1e-3)
    np.testing.assert_allclose(np.asarray(got), want, rtol=2e-5, atol=2e-6)


def test_cbdice_probabilities_binary_and_onehot_agree():
    logits, labels = _batch((2, 32, 32), seed=6)
    base = np.asarray(_cbdice(logits, labels))
    probs = jax.nn.softmax(logits)
    np.testing.assert_allclose(np.asarray(_cbdice(probs, labels, from_logits=False)), base,
                               rtol=1e-5)
    np.testing.assert_allclose(np.asarray(_cbdice(logits, jax.nn.one_hot(labels, 3))), base,
                               rtol=1e-6)
    binary = logits[..., 1:].max(-1, keepdims=True) - logits[..., :1]
    np.testing.assert_allclose(np.asarray(_cbdice(binary, labels > 0, mode="binary")), base,
                               rtol=1e-5)
    perfect = np.asarray(_cbdice(jax.nn.one_hot(labels, 3), labels, from_logits=False))
    np.testing.assert_allclose(perfect, 0.0, atol=1e-6)


# ----------------------------------------------------------------------------- shared rules

_LOSSES = {"skeleton_recall": _recall, "cbdice": _cbdice}


def _away_from_threshold(logits):
    """Logits whose foreground probability stays off 0.5 (cbDice thresholds it), so that the
    finite differences of check_grads do not cross a threshold."""
    z = logits[..., 1:].max(-1) - logits[..., 0]
    push = np.where(np.abs(z) < 0.3, np.sign(z + 1e-9) * 0.3 - z, 0.0)
    return logits.at[..., 0].add(-push) if isinstance(logits, jax.Array) else (
        logits - np.eye(logits.shape[-1])[0] * push[..., None])


@pytest.mark.slow
@pytest.mark.parametrize("name", list(_LOSSES))
@pytest.mark.parametrize("shape", [(2, 12, 12), (1, 8, 8, 8)], ids=["2d", "3d"])
def test_gradients(name, shape):
    logits, labels = _batch(shape, seed=7)
    logits = _away_from_threshold(logits.astype(np.float64)).astype(np.float32)
    fn = _LOSSES[name]
    check_grads(lambda x: jnp.sum(fn(x, labels)), (jnp.asarray(logits),), order=1,
                modes=("rev",), atol=2e-2, rtol=2e-2, eps=1e-3)
    grad = jax.grad(lambda x: jnp.sum(fn(x, labels)))(jnp.asarray(logits))
    assert np.all(np.isfinite(np.asarray(grad))) and np.any(np.asarray(grad) != 0)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(_LOSSES))
def test_jit_equals_eager_and_vmap(name):
    logits, labels = _batch((2, 16, 16), seed=8)
    eager = {"skeleton_recall": skeleton_recall_loss, "cbdice": cbdice_loss}[name]
    jitted = np.asarray(_LOSSES[name](logits, labels))
    np.testing.assert_allclose(np.asarray(eager(logits, labels)), jitted, rtol=1e-6)
    mapped = jax.vmap(lambda x, y: _LOSSES[name](x[None], y[None])[0])(logits, labels)
    np.testing.assert_allclose(np.asarray(mapped), jitted, rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(_LOSSES))
@pytest.mark.parametrize("shape", [(2, 16, 16), (2, 8, 8, 8)], ids=["2d", "3d"])
def test_empty_masks_and_extreme_logits(name, shape):
    fn = _LOSSES[name]
    empty = np.zeros(shape, np.int32)
    background = np.zeros(shape + (3,), np.float32)
    background[..., 0] = 1.0
    # Empty prediction on empty truth: a perfect score.
    np.testing.assert_allclose(np.asarray(fn(background, empty, from_logits=False)), 0.0,
                               atol=1e-6)
    # Empty prediction on a non-empty truth: the loss is near its maximum.
    truth = empty.copy()
    truth[(slice(None),) + (slice(3, 6),) * (len(shape) - 1)] = 1
    truth[:, :2] = 2  # every foreground class present (an absent class has recall 1)
    missed = np.asarray(fn(background, truth, from_logits=False, smooth=1e-5))
    assert np.all(missed > 0.9), missed
    for scale in (1e4, -1e4):
        logits = np.full(shape + (3,), 0.0, np.float32)
        logits[..., 1] = scale
        value, grad = jax.value_and_grad(lambda x: jnp.sum(fn(x, truth)))(jnp.asarray(logits))
        assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad)))
        assert 0.0 <= float(value) <= 2.0 + 1e-6


@pytest.mark.parametrize("name", list(_LOSSES))
def test_ignored_pixels_change_nothing(name):
    logits, labels = _batch((2, 24, 24), seed=9)
    fn = _LOSSES[name]
    ignored = np.zeros(labels.shape, bool)
    ignored[:, :6] = True
    marked = np.where(ignored, 255, labels)
    noisy = np.where(ignored[..., None], logits * -3.0 + 1.0, logits)

    def value_grad(x):
        return jax.value_and_grad(lambda x: jnp.sum(fn(x, marked, ignore_index=255)))(x)

    v1, g1 = value_grad(jnp.asarray(logits))
    v2, g2 = value_grad(jnp.asarray(noisy))
    np.testing.assert_allclose(float(v1), float(v2), rtol=1e-6)
    assert np.all(np.asarray(g1)[ignored] == 0)
    np.testing.assert_allclose(np.asarray(g1), np.asarray(g2), atol=1e-7)
    # The same through mask=0 with the labels as background there.
    masked = fn(logits, np.where(ignored, 0, labels), mask=~ignored)
    np.testing.assert_allclose(np.asarray(masked), np.asarray(fn(logits, marked,
                                                                 ignore_index=255)), rtol=1e-6)


def test_bad_options():
    logits, labels = _batch((1, 8, 8))
    with pytest.raises(ValueError, match="tube_radius"):
        skeleton_recall_loss(logits, labels, tube_radius=-1)
    with pytest.raises(TypeError, match="tube_radius"):
        skeleton_recall_loss(logits, labels, tube_radius=1.5)
    with pytest.raises(TypeError, match="iterations"):
        cbdice_loss(logits, labels, iterations=True)
    with pytest.raises(TypeError, match="hard_skeleton"):
        cbdice_loss(logits, labels, hard_skeleton=1)
    with pytest.raises(ValueError, match="smooth"):
        cbdice_loss(logits, labels, smooth=-1.0)
    with pytest.raises(ValueError, match="predictions|labels"):
        skeleton_recall_loss(logits, labels[:, :4])
