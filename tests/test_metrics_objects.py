"""Object-level metrics: lesion-wise detection and panoptic quality against a NumPy reference
written from the definitions (scipy.ndimage.label, the IoU table by loops, greedy matching by a
sorted list), against panoptica's numbers on stored binary masks (tests/data, written by
tests/data/make_panoptica_reference.py in panoptica's own environment) and against MONAI's
PanopticQualityMetric on instance maps; edge cases, options, jit, the object bound."""

from __future__ import annotations

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify
from scipy import ndimage

from jaxseg_losses.metrics.objects import (
    instance_panoptic_quality,
    lesion_detection,
    panoptic_quality,
)
from tests.jit_cache import jl

DATA = pathlib.Path(__file__).parent / "data"
STRUCTURE = {(2, 4): np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]]), (2, 8): np.ones((3, 3)),
             (3, 6): ndimage.generate_binary_structure(3, 1), (3, 26): np.ones((3, 3, 3))}


# --------------------------------------------------------------------------- NumPy reference


def ref_objects(pred, true, *, connectivity, threshold, strict, match="iou"):
    """One (image, class): (matched truth, matched predicted, n truth, n predicted, IoU sum)."""
    structure = STRUCTURE[(true.ndim, connectivity)]
    g, n = ndimage.label(true, structure)
    p, m = ndimage.label(pred, structure)
    passes = (lambda x: x > threshold) if strict else (lambda x: x >= threshold)
    if match == "coverage":
        hit_true = sum(passes(np.sum((g == i) & pred) / np.sum(g == i)) for i in range(1, n + 1))
        hit_pred = sum(passes(np.sum((p == j) & true) / np.sum(p == j)) for j in range(1, m + 1))
        return hit_true, hit_pred, n, m, 0.0
    pairs = []
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            inter = np.sum((g == i) & (p == j))
            iou = inter / np.sum((g == i) | (p == j))
            if inter > 0 and passes(iou):
                pairs.append((-iou, j, i))
    used_i, used_j, total = set(), set(), 0.0
    for neg_iou, j, i in sorted(pairs):
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
            total += -neg_iou
    return len(used_i), len(used_j), n, m, total


def ref_scores(counts, empty=1.0):
    tp_t, tp_p, n, m, iou_sum = counts
    if n + m == 0:
        return dict(precision=empty, recall=empty, f1=empty, pq=empty, sq=empty, rq=empty)
    precision = tp_p / m if m else 0.0
    recall = tp_t / n if n else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    fp, fn = m - tp_p, n - tp_t
    rq = tp_t / (tp_t + fp / 2 + fn / 2)
    sq = iou_sum / tp_t if tp_t else 0.0
    return dict(precision=precision, recall=recall, f1=f1, pq=sq * rq, sq=sq, rq=rq,
                tp=tp_t, fp=fp, fn=fn)


def objects(seed, shape, density=0.15, sigma=1.2):
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.normal(size=shape), [0] + [sigma] * (len(shape) - 1))
    return noise > np.quantile(noise, 1 - density)


def perturbed(seed, truth):
    rng = np.random.default_rng(seed)
    wobble = ndimage.gaussian_filter(truth + 0.6 * rng.normal(size=truth.shape),
                                     [0] + [0.8] * (truth.ndim - 1))
    return wobble > 0.45


# --------------------------------------------------------------------------- reference tests


@pytest.mark.parametrize("spatial,connectivity", [((20, 22), 8), ((20, 22), 4), ((9, 10, 8), 26)])
@pytest.mark.parametrize("threshold,strict", [(0.5, True), (0.3, False), (0.0, True)])
def test_multiclass_matches_numpy_reference(spatial, connectivity, threshold, strict):
    shape = (2,) + spatial
    a, b = objects(1, shape), objects(2, shape)
    truth = np.where(a, 1, np.where(b, 2, 0)).astype(np.int32)
    pa, pb = perturbed(3, a), perturbed(4, b)
    pred = np.where(pa, 1, np.where(pb, 2, 0)).astype(np.int32)
    opts = dict(num_classes=3, connectivity=connectivity, match_threshold=threshold,
                strict_threshold=strict)
    det = jl.lesion_detection(pred, truth, **opts)
    pq = jl.panoptic_quality(pred, truth, **opts)
    for bi in range(2):
        for c in (1, 2):
            counts = ref_objects(pred[bi] == c, truth[bi] == c, connectivity=connectivity,
                                 threshold=threshold, strict=strict)
            want = ref_scores(counts)
            got = {k: float(getattr(det, k)[bi, c - 1]) for k in ("tp", "fp", "fn", "precision",
                                                                   "recall", "f1")}
            got.update({k: float(getattr(pq, k)[bi, c - 1]) for k in ("pq", "sq", "rq")})
            for k, v in got.items():
                assert v == pytest.approx(want[k], rel=1e-5, abs=1e-6), (bi, c, k)


@pytest.mark.slow
@pytest.mark.parametrize("threshold", [0.0, 0.5])
def test_coverage_matches_numpy_reference(threshold):
    shape = (2, 18, 16)
    truth = objects(5, shape)
    pred = perturbed(6, truth)
    det = jl.lesion_detection(pred[..., None], truth.astype(np.int32), mode="binary",
                           match="coverage", match_threshold=threshold)
    for bi in range(2):
        want = ref_scores(ref_objects(pred[bi], truth[bi], connectivity=8, threshold=threshold,
                                      strict=True, match="coverage"))
        for k in ("tp", "fp", "fn", "precision", "recall", "f1"):
            assert float(getattr(det, k)[bi, 0]) == pytest.approx(want[k], rel=1e-6), k


@pytest.mark.slow
def test_panoptica_reference_numbers():
    """panoptica 2.1.7 (semantic input, connected components, NaiveThresholdMatching with its
    ``>=`` comparison) on stored masks; empty cases: panoptica's NaN = empty_score=nan, its
    ZeroDivisionError for precision / recall of no object = our 0 (one side empty)."""
    meta = json.loads((DATA / "panoptica_reference.json").read_text())
    masks = {name: np.load(DATA / f"panoptica_masks_{name}.npy") for name in ("2d", "3d")}
    connectivity = {"2d": 4, "3d": 26}  # panoptica's default backends: scipy 2-D, cc3d 3-D
    results = {}
    for name, m in masks.items():
        for t in sorted({r["threshold"] for r in meta["records"]}):
            opts = dict(mode="binary", connectivity=connectivity[name], match_threshold=t,
                        strict_threshold=False, empty_score=float("nan"))
            results[name, t] = (jl.panoptic_quality(m[0][..., None], m[1][..., None], **opts),
                                jl.lesion_detection(m[0][..., None], m[1][..., None], **opts))
    checked = 0
    for r in meta["records"]:
        pq, det = results[r["set"], r["threshold"]]
        i = r["index"]
        got = {"tp": det.tp, "fp": det.fp, "fn": det.fn, "sq": pq.sq, "rq": pq.rq, "pq": pq.pq,
               "prec": det.precision, "rec": det.recall}
        for k, arr in got.items():
            value = float(arr[i, 0])
            if r[k] == "raises":
                assert value == 0.0 or np.isnan(value)
            elif r[k] is None:
                assert np.isnan(value), (r, k)
            else:
                assert value == pytest.approx(r[k], rel=1e-5, abs=1e-7), (r, k, value)
                checked += 1
    assert checked > 300


def monai_instances(seed, shape, num_classes=2):
    """Instance ids with gaps and a class per instance, MONAI's two channels."""
    truth = objects(seed, shape, density=0.25, sigma=1.0)
    inst = np.stack([ndimage.label(t, np.ones((3,) * t.ndim))[0] for t in truth])
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.arange(1, 500))[: inst.max() + 1] * 3
    ids[0] = 0
    cls_of = np.concatenate([[0], rng.integers(1, num_classes + 1, size=inst.max())])
    return ids[inst].astype(np.int32), cls_of[inst].astype(np.int32)


@pytest.mark.parametrize("spatial", [(24, 24), (10, 9, 8)])
@pytest.mark.parametrize("iou_threshold", [0.5, 0.7])
def test_monai_panoptic_quality_on_instance_maps(spatial, iou_threshold):
    torch = pytest.importorskip("torch")
    monai_metrics = pytest.importorskip("monai.metrics")
    shape = (3,) + spatial
    true_inst, true_cls = monai_instances(11, shape)
    # prediction: a perturbed copy, instances relabelled by components of each class
    pred_fg = perturbed(12, true_inst > 0)
    pred_cls = np.where(pred_fg, np.maximum(ndimage.grey_dilation(true_cls, size=(1,) +
                                                                  (3,) * len(spatial)), 1), 0)
    pred_inst = np.zeros_like(true_inst)
    for b in range(shape[0]):
        for c in (1, 2):
            lab, _ = ndimage.label(pred_cls[b] == c)
            pred_inst[b] = np.where(lab > 0, lab + 100 * c, pred_inst[b])
    metric = monai_metrics.PanopticQualityMetric(
        num_classes=2, metric_name=("pq", "sq", "rq"), reduction="none",
        match_iou_threshold=iou_threshold)
    y_pred = torch.from_numpy(np.stack([pred_inst, pred_cls], 1))
    y = torch.from_numpy(np.stack([true_inst, true_cls], 1))
    metric(y_pred, y)
    monai_pq, monai_sq, monai_rq = (np.asarray(v) for v in metric.aggregate())
    ours = jl.instance_panoptic_quality(pred_inst, true_inst, pred_classes=pred_cls,
                                     true_classes=true_cls, num_classes=2,
                                     match_threshold=iou_threshold, smooth_numerator=1e-6)
    np.testing.assert_allclose(np.asarray(ours.pq), monai_pq, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(ours.sq), monai_sq, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(ours.rq), monai_rq, rtol=1e-5, atol=1e-7)


def test_greedy_versus_hungarian_below_half():
    """Below IoU 0.5 an object can have several candidates. Greedy (panoptica, here) takes the
    best pair first; MONAI's Hungarian assignment maximises the total IoU. Truth A (6 px), B
    (1 px); prediction P covers A's right half and B, Q the rest of A's left half."""
    truth = np.zeros((1, 1, 12), np.int32)
    pred = np.zeros((1, 1, 12), np.int32)
    truth[0, 0, 0:6] = 1  # A
    truth[0, 0, 7] = 2  # B
    pred[0, 0, 3:8] = 1  # P: 3 px of A, the gap and B -> IoU(A,P) = 3/8, IoU(B,P) = 1/5
    pred[0, 0, 0:2] = 2  # Q: 2 px of A -> IoU(A,Q) = 2/6
    greedy = jl.instance_panoptic_quality(pred, truth, match_threshold=0.1)
    assert float(greedy.tp[0, 0]) == 1 and float(greedy.iou_sum[0, 0]) == pytest.approx(3 / 8)
    torch = pytest.importorskip("torch")
    monai_metrics = pytest.importorskip("monai.metrics")
    hungarian = monai_metrics.compute_panoptic_quality(
        torch.from_numpy(pred[0]), torch.from_numpy(truth[0]), match_iou_threshold=0.1,
        output_confusion_matrix=True)
    assert float(hungarian[0]) == 2  # A-Q and B-P: total IoU 2/6 + 1/5 > 3/8
    assert float(hungarian[3]) == pytest.approx(2 / 6 + 1 / 5)


# --------------------------------------------------------------------------- edge cases


def test_empty_cases_and_touching_objects():
    shape = (4, 10, 10)
    truth = np.zeros(shape, np.int32)
    pred = np.zeros(shape, np.int32)
    truth[1, 2:4, 2:4] = 1  # truth only
    pred[2, 5:7, 5:7] = 1  # prediction only
    truth[3, 1:3, 1:3] = 1
    truth[3, 3:5, 3:5] = 1  # touching diagonally
    pred[3] = truth[3]
    det = jl.lesion_detection(pred, truth, mode="binary")
    pq = jl.panoptic_quality(pred, truth, mode="binary")
    np.testing.assert_array_equal(np.asarray(det.f1)[:, 0], [1.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(np.asarray(pq.pq)[:, 0], [1.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(np.asarray(pq.sq)[:, 0], [1.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(np.asarray(det.tp)[:, 0], [0, 0, 0, 1])  # one object at 8
    four = jl.lesion_detection(pred, truth, mode="binary", connectivity=4)
    assert float(four.tp[3, 0]) == 2
    monai_like = jl.panoptic_quality(pred, truth, mode="binary", smooth_numerator=1e-6)
    assert float(monai_like.pq[0, 0]) == 0.0  # MONAI: both empty -> 0
    nan_empty = jl.panoptic_quality(pred, truth, mode="binary", empty_score=float("nan"))
    assert np.isnan(float(nan_empty.pq[0, 0]))  # panoptica: NaN


@pytest.mark.slow
def test_mask_ignore_index_and_jit():
    shape = (2, 16, 16)
    truth = objects(21, shape).astype(np.int32)
    pred = perturbed(22, truth > 0).astype(np.int32)
    ignored = truth.copy()
    ignored[:, :4] = 255
    keep = ignored != 255
    a = jl.panoptic_quality(pred, ignored, mode="binary", ignore_index=255)
    b = jl.panoptic_quality(np.where(keep, pred, 0), np.where(keep, truth, 0), mode="binary")
    np.testing.assert_allclose(np.asarray(a.pq), np.asarray(b.pq))
    c = jl.panoptic_quality(pred, truth, mode="binary", mask=keep)
    np.testing.assert_allclose(np.asarray(c.pq), np.asarray(b.pq))
    logits = jnp.where(jnp.asarray(pred)[..., None] > 0, 3.0, -3.0)
    fn = jax.jit(lambda z: lesion_detection(z, truth, mode="binary", match_threshold=0.2,
                                            strict_threshold=False))
    eager = lesion_detection(logits, truth, mode="binary", match_threshold=0.2,
                             strict_threshold=False)
    for x, y in zip(fn(logits), eager, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    stacked = jax.jit(jax.vmap(lambda p, t: panoptic_quality(p, t, mode="binary").pq))(
        jnp.stack([pred, pred[::-1]]), jnp.stack([truth, truth[::-1]]))
    np.testing.assert_array_equal(np.asarray(stacked[1]), np.asarray(
        jl.panoptic_quality(pred[::-1], truth[::-1], mode="binary").pq))


@pytest.mark.slow
def test_object_bound():
    board = (np.indices((10, 10)).sum(0) % 2 == 0)[None].astype(np.int32)  # 50 isolated pixels
    with pytest.raises(ValueError, match="max_objects"):
        panoptic_quality(board, board, mode="binary", connectivity=4, max_objects=20)
    checked = checkify.checkify(jax.jit(lambda t: lesion_detection(
        t, t, mode="binary", connectivity=4, max_objects=20).f1), errors=checkify.user_checks)
    err, out = checked(jnp.asarray(board))
    assert "max_objects" in err.get() and np.isnan(np.asarray(out)).all()
    ok = jl.panoptic_quality(board, board, mode="binary", connectivity=4, max_objects=50)
    assert float(ok.pq[0, 0]) == 1.0 and float(ok.tp[0, 0]) == 50
    with pytest.raises(ValueError, match="max_objects"):
        instance_panoptic_quality(board * np.arange(100).reshape(1, 10, 10), board,
                                  max_objects=20)


def test_bad_options():
    t = np.zeros((1, 4, 4), np.int32)
    for kwargs, err, name in [({"match": "dice"}, ValueError, "match"),
                              ({"match_threshold": 1.5}, ValueError, "match_threshold"),
                              ({"match_threshold": jnp.float32(0.5)}, TypeError,
                               "match_threshold"),
                              ({"max_objects": 0}, ValueError, "max_objects"),
                              ({"strict_threshold": 1}, TypeError, "strict_threshold"),
                              ({"connectivity": 26}, ValueError, "connectivity")]:
        with pytest.raises(err, match=name):
            lesion_detection(t, t, mode="binary", **kwargs)
    with pytest.raises(ValueError, match="num_classes"):
        panoptic_quality(t, t)
    with pytest.raises(ValueError, match="true_classes"):
        instance_panoptic_quality(t, t, pred_classes=t)
    with pytest.raises(ValueError, match="num_classes"):
        instance_panoptic_quality(t, t, num_classes=2)
    with pytest.raises(ValueError, match="pred_instances"):
        instance_panoptic_quality(t.astype(np.float32), t)
