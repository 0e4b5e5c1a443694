"""Blob loss (Kofler et al. 2023): a NumPy reference written from the paper's formula (a loop
over the components of scipy.ndimage.label, the prediction multiplied by the mask of each), the
authors' formulation (their per-element, per-blob loop with MONAI's DiceLoss on the masked
probabilities), edge cases, options, jit / grad, the component bound."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify
from jax.test_util import check_grads
from scipy import ndimage

from jaxseg_losses.blob import blob_loss
from tests.helpers import one_hot_np, random_logits, sigmoid_np, softmax_np
from tests.jit_cache import jl

FULL = {2: np.ones((3, 3)), 3: np.ones((3, 3, 3))}


def sparse_objects(seed: int, shape, density=0.08) -> np.ndarray:
    """Bool (B, *spatial) masks with several objects of different sizes per image."""
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.normal(size=shape), [0] + [1.2] * (len(shape) - 1))
    return noise > np.quantile(noise, 1 - density)


def ref_dice(p, y, s):
    return 1.0 - (2 * np.sum(p * y) + s) / (np.sum(p) + np.sum(y) + s)


def ref_bce(p, y, n):
    eps = 1e-300
    return np.sum(-(y * np.log(np.maximum(p, eps)) + (1 - y) * np.log(np.maximum(1 - p, eps)))) / n


def ref_blob(prob, truth, *, alpha=2.0, beta=1.0, wd=1.0, wb=0.0, s=1e-5, fg_from=0,
             include_background=True):
    """From the paper: per example, per class channel, L = alpha l(p, y) + beta mean_n
    l(p * mu_n, Omega_n); l = wd (1 - Dice) + wb BCE (mean over all pixels)."""
    out = []
    for b in range(prob.shape[0]):
        n_pix = prob[b, ..., 0].size
        classes = range(prob.shape[-1])

        def crit(p, y, n_pix=n_pix):
            return wd * ref_dice(p, y, s) + (wb * ref_bce(p, y, n_pix) if wb else 0.0)

        glob = [crit(prob[b, ..., c], truth[b, ..., c]) for c in classes
                if include_background or c > 0 or prob.shape[-1] == 1]
        per_class = []
        for c in classes:
            if c < fg_from:
                continue
            comp, n = ndimage.label(truth[b, ..., c] > 0.5, FULL[truth.ndim - 2])
            losses = []
            for k in range(1, n + 1):
                mu = (comp == 0) | (comp == k)
                losses.append(crit(prob[b, ..., c] * mu, (comp == k) * truth[b, ..., c]))
            if losses:
                per_class.append(np.mean(losses))
        blob = np.mean(per_class) if per_class else 0.0
        out.append(alpha * np.mean(glob) + beta * blob)
    return np.array(out)


@pytest.mark.parametrize("shape", [(2, 24, 20), (2, 10, 9, 8)])
@pytest.mark.parametrize("wb", [0.0, 0.7])
def test_binary_matches_paper_reference(shape, wb):
    truth = sparse_objects(1, shape)
    logits = random_logits(2, shape + (1,))
    got = jl.blob_loss(logits, truth.astype(np.int32), bce_weight=wb)
    want = ref_blob(sigmoid_np(logits), truth[..., None].astype(float), wb=wb)
    np.testing.assert_allclose(np.asarray(got), want, rtol=2e-5, atol=1e-5)


def test_multiclass_and_multilabel_match_reference():
    shape = (2, 20, 22)
    a = sparse_objects(3, shape, 0.1)
    b = sparse_objects(4, shape, 0.1) & ~a
    labels = np.where(a, 1, np.where(b, 2, 0)).astype(np.int32)
    logits = random_logits(5, shape + (3,))
    got = jl.blob_loss(logits, labels, mode="multiclass", bce_weight=0.5, include_background=False)
    want = ref_blob(softmax_np(logits), one_hot_np(labels, 3), wb=0.5, fg_from=1,
                    include_background=False)
    np.testing.assert_allclose(np.asarray(got), want, rtol=2e-5, atol=1e-5)
    dense = np.stack([a, b], -1).astype(np.float32)  # overlapping channels: multilabel
    logits2 = random_logits(6, shape + (2,))
    got = jl.blob_loss(logits2, dense, mode="multilabel", main_weight=1.0, blob_weight=3.0)
    want = ref_blob(sigmoid_np(logits2), dense, alpha=1.0, beta=3.0)
    np.testing.assert_allclose(np.asarray(got), want, rtol=2e-5, atol=1e-5)


@pytest.mark.slow
def test_authors_formulation_with_monai():
    """The authors' compute_blob_loss_multi loop (per element, per unique instance label: the
    output times ``label_mask``, MONAI DiceLoss against ``label == ula``), with the
    probabilities as criterion input (their ``"sigmoid": True`` entry), and their batch
    combination (mean over the elements that have blobs), against blob_loss's (B,) terms."""
    torch = pytest.importorskip("torch")
    monai_losses = pytest.importorskip("monai.losses")
    shape = (3, 20, 18)
    truth = sparse_objects(7, shape)
    truth[1] = False  # an element without blobs: left out of their batch mean
    logits = random_logits(8, shape + (1,))
    dice = monai_losses.DiceLoss(include_background=True, sigmoid=False)
    probs = torch.sigmoid(torch.from_numpy(logits)).permute(0, 3, 1, 2)  # B1HW
    multi = torch.from_numpy(np.stack([ndimage.label(t, FULL[2])[0] for t in truth]))[:, None]
    element_losses = []
    for e in range(shape[0]):
        label, out = multi[e:e + 1], probs[e:e + 1]
        losses = []
        for ula in torch.unique(label):
            if ula == 0:
                continue
            label_mask = ~(label > 0)
            label_mask[label == ula] = 1
            losses.append(dice(out * label_mask, (label == ula).int()))
        if losses:
            element_losses.append(sum(losses) / len(losses))
    theirs = float(sum(element_losses) / len(element_losses))
    ours = np.asarray(jl.blob_loss(logits, truth.astype(np.int32), main_weight=0.0))
    with_blobs = truth.reshape(shape[0], -1).any(1)
    np.testing.assert_allclose(ours.sum() / with_blobs.sum(), theirs, rtol=1e-5)
    assert ours[1] == 0.0
    # The global term: MONAI's Dice on the whole mask, weighted by main_weight.
    glob = np.asarray(jl.blob_loss(logits, truth.astype(np.int32), main_weight=1.0,
                                   blob_weight=0.0))
    theirs_main = [float(dice(probs[e:e + 1], torch.from_numpy(truth[e:e + 1, None]).int()))
                   for e in range(shape[0])]
    np.testing.assert_allclose(glob, theirs_main, rtol=1e-5, atol=1e-6)


def test_small_object_weighs_as_much_as_a_large_one():
    truth = np.zeros((1, 16, 16), np.int32)
    truth[0, 1:11, 1:11] = 1  # 100 pixels
    truth[0, 14, 14] = 1  # 1 pixel
    probs = truth.astype(np.float32)[..., None].copy()
    probs[0, 14, 14] = 0.0  # the small one missed
    blob = float(jl.blob_loss(probs, truth, from_logits=False, main_weight=0.0, smooth=0.0)[0])
    glob = float(jl.dice_loss(probs, truth, mode="binary", from_logits=False, smooth=0.0)[0])
    assert blob == pytest.approx(0.5)  # (0 + 1) / 2
    assert glob == pytest.approx(1 - 200 / 201, rel=1e-5)


def test_edge_cases_empty_full_touching():
    shape = (4, 12, 12)
    truth = np.zeros(shape, np.int32)
    probs = np.zeros(shape + (1,), np.float32)
    truth[1] = 1  # full image: one component
    probs[1] = 1.0
    truth[2, 2:5, 2:5] = 1
    truth[2, 5:8, 5:8] = 1  # touching diagonally: one component with 8-connectivity, two with 4
    probs[3] = 1.0  # empty truth, full prediction
    out = np.asarray(jl.blob_loss(probs, truth, from_logits=False))
    assert out[0] == 0.0 and out[1] == pytest.approx(0.0, abs=1e-6)
    assert out[3] == pytest.approx(2.0, abs=1e-6)  # global Dice loss ~1, blob term 0
    ref8 = ref_blob(probs, truth[..., None].astype(float))
    np.testing.assert_allclose(out, ref8, rtol=1e-5, atol=1e-6)
    four = np.asarray(jl.blob_loss(probs, truth, from_logits=False, connectivity=4,
                                main_weight=0.0))
    # two components, each: prediction empty -> Dice loss ~1
    assert four[2] == pytest.approx(1.0, abs=1e-5)


def test_mask_and_ignore_index():
    shape = (2, 16, 16)
    truth = sparse_objects(9, shape).astype(np.int32)
    logits = random_logits(10, shape + (1,))
    ignored = truth.copy()
    ignored[:, :, :3] = 255
    keep = ~(ignored == 255)
    a = jl.blob_loss(logits, ignored, ignore_index=255)
    b = jl.blob_loss(logits, np.where(keep, truth, 0), mask=keep)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
    # the masked pixels change neither the value nor the gradient
    grad = jax.jit(jax.grad(lambda z: jnp.sum(blob_loss(z, ignored, ignore_index=255,
                                                        bce_weight=1.0))))(
        jnp.asarray(logits))
    assert np.all(np.asarray(grad)[:, :, :3] == 0.0)


@pytest.mark.slow
def test_jit_grad_and_bound():
    shape = (2, 12, 12)
    truth = sparse_objects(11, shape).astype(np.int32)
    logits = jnp.asarray(random_logits(12, shape + (1,), scale=1.0))
    fn = jax.jit(lambda z: blob_loss(z, truth, bce_weight=0.5))
    np.testing.assert_allclose(np.asarray(fn(logits)),
                               np.asarray(blob_loss(logits, truth, bce_weight=0.5)), rtol=1e-6)
    check_grads(jax.jit(lambda z: blob_loss(z, truth, bce_weight=0.5)), (logits,), order=1,
                modes=["rev"], atol=2e-2, rtol=2e-2)
    stacked = jax.jit(jax.vmap(lambda z, t: blob_loss(z, t, bce_weight=0.5)))(
        jnp.stack([logits, logits[::-1]]), jnp.stack([truth, truth[::-1]]))
    np.testing.assert_allclose(np.asarray(stacked[1]), np.asarray(
        jl.blob_loss(logits[::-1], truth[::-1], bce_weight=0.5)), rtol=1e-6)
    value, grad = jax.jit(jax.value_and_grad(lambda z: jnp.sum(blob_loss(z * 1e4, truth))))(
        logits)
    assert np.isfinite(value) and np.all(np.isfinite(np.asarray(grad)))
    # Bound: a checkerboard of isolated pixels (4-connectivity) has 72 components per image.
    board = (np.indices((12, 12)).sum(0) % 2 == 0)[None].repeat(2, 0).astype(np.int32)
    with pytest.raises(ValueError, match="max_objects"):
        blob_loss(logits, board, connectivity=4, max_objects=10)
    checked = checkify.checkify(
        jax.jit(lambda z: blob_loss(z, board, connectivity=4, max_objects=10)),
        errors=checkify.user_checks)
    err, out = checked(logits)
    assert err.get() is not None and "max_objects" in err.get()
    assert np.all(np.isnan(np.asarray(out)))
    fine = jl.blob_loss(logits, board, connectivity=4, max_objects=72)
    assert np.all(np.isfinite(np.asarray(fine)))


@pytest.mark.parametrize("mode,shape", [("binary", (2, 12, 12)), ("multiclass", (2, 6, 7, 5))])
def test_tpu_column_sums_equal_the_stacked_sums(mode, shape, monkeypatch):
    """The TPU's per-column scatter-adds (every ``platform_dependent`` taking its ``tpu``
    branch, run here on the CPU) give the value and gradient of the stacked scatter-add."""
    from jaxseg_losses import blob  # noqa: PLC0415

    classes = 1 if mode == "binary" else 3
    truth = sparse_objects(5, shape).astype(np.int32) * (1 if mode == "binary" else 2)
    logits = jnp.asarray(random_logits(6, shape + (classes,), scale=1.0))

    def value_and_grad():
        return jax.jit(jax.value_and_grad(
            lambda z: jnp.sum(blob.blob_loss(z, truth, mode=mode, bce_weight=0.5))))(logits)

    want = value_and_grad()
    monkeypatch.setattr(blob.jax.lax, "platform_dependent",
                        lambda *args, tpu=None, default=None, **_: (tpu or default)(*args))
    got = value_and_grad()
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-7)
    assert np.abs(np.asarray(want[1])).max() > 0


def test_bad_options():
    z, t = np.zeros((1, 4, 4, 1), np.float32), np.zeros((1, 4, 4), np.int32)
    for kwargs, name in [({"max_objects": 0}, "max_objects"),
                         ({"max_objects": 3.0}, "max_objects"),
                         ({"main_weight": -1.0}, "main_weight"),
                         ({"bce_weight": float("nan")}, "bce_weight"),
                         ({"connectivity": 6}, "connectivity")]:
        with pytest.raises((ValueError, TypeError), match=name):
            blob_loss(z, t, **kwargs)
    with pytest.raises(TypeError, match="from_logits"):
        blob_loss(z, t, from_logits=1)
