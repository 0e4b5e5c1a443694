"""The field's definitions of the surface metrics as options (#27), each against a NumPy
reference written from the definition and the peer that defines it: DeepMind
``surface-distance`` (surface elements), medpy (pooled HD95, ASD, ASSD), MONAI
(``use_subvoxels``) and torchmetrics (generalized Dice's absent classes)."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import sys
import types
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from jaxseg_losses import (
    average_surface_distance,
    generalized_dice_score,
    hausdorff_distance,
    surface_dice,
)
from jaxseg_losses.metrics._elements import element_sizes
from tests.helpers import blobs, one_hot_np

CASES = [((2, 14, 13), (1.5, 0.7)), ((2, 9, 8, 7), (2.0, 1.0, 0.5))]  # 2-D and 3-D, anisotropic


@functools.cache
def jitted(metric, **options):
    return jax.jit(functools.partial(metric, **options))


def call(metric, pred, true, **options):
    return np.asarray(jitted(metric, **{k: (tuple(v) if isinstance(v, list) else v)
                                        for k, v in options.items()})(pred, true))


def inputs(seed, shape, empty=True):
    """Blobs with empty cases: example 0 misses class 2 in the prediction; example 1 has class 2
    in neither mask."""
    pred, true = blobs(seed, shape), blobs(seed + 1, shape)
    if empty:
        pred[0][pred[0] == 2] = 0
        pred[1][pred[1] == 2] = 1
        true[1][true[1] == 2] = 1
    return pred, true


# ----------------------------------------------------------------- NumPy references


def contour_table_2d(spacing):
    """Marching-squares contour length of each 2 x 2 code, from the definition: corner
    ``(a, b)`` is bit ``2a + b``; segments join the midpoints of the sides whose corners differ."""
    h, w = spacing
    half_diagonal = 0.5 * np.hypot(h, w)
    table = np.zeros(16)
    for code in range(1, 15):
        inside = [(code >> k) & 1 for k in range(4)]  # (0,0), (0,1), (1,0), (1,1)
        count = sum(inside)
        if count in (1, 3):
            table[code] = half_diagonal
        elif inside[0] == inside[1]:  # one row inside: a segment across the columns
            table[code] = w
        elif inside[0] == inside[2]:  # one column inside
            table[code] = h
        else:  # diagonal corners: two corner cuts
            table[code] = 2 * half_diagonal
    return table


def elements_reference(mask, spacing, table):
    """(surface element mask, element sizes) on the corner grid: pad, code the 2^d blocks."""
    padded = np.pad(mask.astype(int), 1)
    dims = mask.ndim
    code = np.zeros(tuple(n + 1 for n in mask.shape), int)
    for k in range(2**dims):
        corner = [(k >> (dims - 1 - a)) & 1 for a in range(dims)]
        block = tuple(slice(c, c + n + 1) for c, n in zip(corner, mask.shape, strict=True))
        code += padded[block] << k
    border = (code != 0) & (code != 2**(2**dims) - 1)
    return border, table[code]


def surface_pixels(mask):
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def directed(pred, true, spacing, surface):
    """Distances and weights of both directions, from the definition (SciPy's EDT)."""
    if surface == "pixels":
        sp, st = surface_pixels(pred), surface_pixels(true)
        wp, wt = sp.astype(float), st.astype(float)
    else:
        table = (contour_table_2d(spacing) if pred.ndim == 2 else
                 element_sizes_deepmind(spacing))
        (sp, wp), (st, wt) = (elements_reference(pred, spacing, table),
                              elements_reference(true, spacing, table))
    d_pt = ndimage.distance_transform_edt(~st, sampling=spacing)[sp]
    d_tp = ndimage.distance_transform_edt(~sp, sampling=spacing)[st]
    return d_pt, wp[sp], d_tp, wt[st]


def element_sizes_deepmind(spacing):
    """DeepMind's 3-D area table in our bit order (the 3-D reference's only borrowed part)."""
    lookup = pytest.importorskip("surface_distance.lookup_tables")
    theirs = lookup.create_table_neighbour_code_to_surface_area(spacing)
    return theirs[[int(f"{c:08b}"[::-1], 2) for c in range(256)]]


def weighted_percentile(d, w, q):
    """The first sorted distance whose cumulative weight share reaches q (Nikolov et al.)."""
    order = np.argsort(d, kind="stable")
    share = np.cumsum(w[order]) / w.sum()
    return d[order][min(np.searchsorted(share, q / 100), len(d) - 1)]


def reference(pred, true, spacing, *, surface="pixels", percentile=None,
              percentile_of="each_direction", average_of="pooled", missed=np.inf,
              tolerance=1.0):
    """(HD, ASD, NSD) from the definitions; empty conventions of the library."""
    if not pred.any() and not true.any():
        return 0.0, 0.0, 1.0
    if not pred.any() or not true.any():
        return missed, missed, 0.0
    d_pt, w_p, d_tp, w_t = directed(pred, true, spacing, surface)
    if percentile is None:
        hd = max(d_pt.max(), d_tp.max())
    elif surface == "elements" and percentile_of == "each_direction":
        hd = max(weighted_percentile(d_pt, w_p, percentile),
                 weighted_percentile(d_tp, w_t, percentile))
    elif surface == "elements":
        hd = weighted_percentile(np.r_[d_pt, d_tp], np.r_[w_p, w_t], percentile)
    elif percentile_of == "each_direction":
        hd = max(np.percentile(d_pt, percentile), np.percentile(d_tp, percentile))
    else:
        hd = np.percentile(np.r_[d_pt, d_tp], percentile)
    if average_of == "pooled":
        asd = ((d_pt * w_p).sum() + (d_tp * w_t).sum()) / (w_p.sum() + w_t.sum())
    else:
        asd = 0.5 * ((d_pt * w_p).sum() / w_p.sum() + (d_tp * w_t).sum() / w_t.sum())
    nsd = (w_p[d_pt <= tolerance].sum() + w_t[d_tp <= tolerance].sum()) / (w_p.sum() + w_t.sum())
    return hd, asd, nsd


def ours(pred, true, spacing, percentile=None, tolerance=1.0, **options):
    base = dict(num_classes=3, sampling=spacing)
    surface = {k: v for k, v in options.items() if k == "surface"}
    hd_options = {k: v for k, v in options.items() if k != "average_of"}
    asd_options = {k: v for k, v in options.items() if k != "percentile_of"}
    return (call(hausdorff_distance, pred, true, percentile=percentile, **base, **hd_options),
            call(average_surface_distance, pred, true, **base, **asd_options),
            call(surface_dice, pred, true, tolerance=tolerance, **base, **surface))


# ----------------------------------------------------------------- surface elements


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (1.5, 0.7)])
def test_contour_lengths_match_definition_and_deepmind(spacing):
    np.testing.assert_allclose(element_sizes(spacing), contour_table_2d(spacing), rtol=1e-12)
    lookup = pytest.importorskip("surface_distance.lookup_tables")
    theirs = lookup.create_table_neighbour_code_to_contour_length(spacing)
    np.testing.assert_allclose(element_sizes(spacing),
                               theirs[[int(f"{c:04b}"[::-1], 2) for c in range(16)]], rtol=1e-12)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.0, 1.0, 0.5), (0.3, 1.7, 1.1)])
def test_surface_areas_match_deepmind_for_all_256_codes(spacing):
    np.testing.assert_allclose(element_sizes(spacing), element_sizes_deepmind(spacing),
                               rtol=1e-12, atol=1e-15)
    areas = element_sizes(spacing)
    assert areas[0] == areas[255] == 0 and (areas[1:255] > 0).all()
    np.testing.assert_allclose(areas, areas[255 - np.arange(256)])  # complement: same surface


@pytest.mark.parametrize("shape, spacing", CASES)
@pytest.mark.parametrize("percentile", [None, 95])
def test_elements_match_reference_and_deepmind(shape, spacing, percentile):
    sd = pytest.importorskip("surface_distance")
    pred, true = inputs(20, shape)
    hd, asd, nsd = ours(pred, true, spacing, percentile, surface="elements",
                        average_of="each_direction")
    for b in range(2):
        for c in range(3):
            p, t = pred[b] == c, true[b] == c
            ref = reference(p, t, spacing, surface="elements", percentile=percentile,
                            average_of="each_direction")
            np.testing.assert_allclose([hd[b, c], asd[b, c], nsd[b, c]], ref, rtol=2e-5)
            if not (p.any() and t.any()):
                continue  # the empty conventions differ: see test_deepmind_empty_conventions
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dist = sd.compute_surface_distances(t, p, spacing)
            peer = [sd.compute_robust_hausdorff(dist, 100 if percentile is None else percentile),
                    np.mean(sd.compute_average_surface_distance(dist)),
                    sd.compute_surface_dice_at_tolerance(dist, 1.0)]
            np.testing.assert_allclose([hd[b, c], asd[b, c], nsd[b, c]], peer, rtol=2e-5)


def test_deepmind_empty_conventions(monkeypatch):
    """DeepMind: both empty -> HD inf, ASD and NSD NaN; one empty -> HD inf, NSD 0. Ours:
    0 / 0 / empty_score, and empty_distance / 0."""
    sd = pytest.importorskip("surface_distance")
    monkeypatch.setattr(np, "Inf", np.inf, raising=False)  # surface-distance 0.1 on NumPy 2
    empty = np.zeros((6, 7), bool)
    some = empty.copy()
    some[2:4, 2:5] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        both = sd.compute_surface_distances(empty, empty, (1.0, 2.0))
        one = sd.compute_surface_distances(some, empty, (1.0, 2.0))
        assert np.isinf(sd.compute_robust_hausdorff(both, 95))
        assert np.isnan(sd.compute_surface_dice_at_tolerance(both, 1.0))
        assert np.isinf(sd.compute_robust_hausdorff(one, 95))
        assert sd.compute_surface_dice_at_tolerance(one, 1.0) == 0
    pair = np.stack([empty, empty]).astype(np.int32), np.stack([empty, some]).astype(np.int32)
    hd, asd, nsd = ours(*pair, (1.0, 2.0), 95, surface="elements")
    np.testing.assert_array_equal(hd[:, 1], [0, np.inf])
    np.testing.assert_array_equal(asd[:, 1], [0, np.inf])
    np.testing.assert_array_equal(nsd[:, 1], [1, 0])


def test_elements_match_monai_use_subvoxels():
    """MONAI's compute_surface_dice(use_subvoxels=True) builds the same elements."""
    torch = pytest.importorskip("torch")
    monai_metrics = pytest.importorskip("monai.metrics")
    for shape, spacing in CASES:
        pred, true = inputs(30, shape, empty=False)
        p = torch.tensor(one_hot_np(pred, 3)).movedim(-1, 1)
        t = torch.tensor(one_hot_np(true, 3)).movedim(-1, 1)
        peer = monai_metrics.compute_surface_dice(
            p, t, [0.5, 1.0, 2.0], include_background=True, spacing=list(spacing),
            use_subvoxels=True).numpy()
        mine = call(surface_dice, pred, true, num_classes=3, tolerance=(0.5, 1.0, 2.0),
                    sampling=spacing, surface="elements")
        np.testing.assert_allclose(mine, peer, rtol=2e-5)


# ----------------------------------------------------------------- medpy's definitions


@pytest.mark.parametrize("shape, spacing", CASES)
def test_pooled_percentile_and_assd_match_reference_and_medpy(shape, spacing):
    """medpy 0.5: hd95 pools both directions; assd is the pooled mean (MONAI's, our default;
    medpy < 0.5 averaged the two directed means: average_of="each_direction")."""
    binary = pytest.importorskip("medpy.metric.binary")
    pred, true = inputs(40, shape)
    hd95, assd, _ = ours(pred, true, spacing, 95, percentile_of="pooled")
    hd = call(hausdorff_distance, pred, true, num_classes=3, sampling=spacing,
              percentile_of="pooled")
    asd = call(average_surface_distance, pred, true, num_classes=3, sampling=spacing,
               symmetric=False)
    for b in range(2):
        for c in range(3):
            p, t = pred[b] == c, true[b] == c
            ref = reference(p, t, spacing, percentile=95, percentile_of="pooled")
            np.testing.assert_allclose([hd95[b, c], assd[b, c]], ref[:2], rtol=1e-5)
            if not (p.any() and t.any()):
                with pytest.raises(RuntimeError):  # medpy: no value for an empty mask
                    binary.hd95(p, t, voxelspacing=spacing)
                continue
            peer = [binary.hd95(p, t, voxelspacing=spacing), binary.assd(p, t, spacing),
                    binary.hd(p, t, spacing), binary.asd(p, t, spacing)]
            np.testing.assert_allclose([hd95[b, c], assd[b, c], hd[b, c], asd[b, c]], peer,
                                       rtol=1e-5)


def test_pooled_differs_from_each_direction():
    pred, true = inputs(40, CASES[0][0], empty=False)
    one = call(hausdorff_distance, pred, true, num_classes=3, percentile=95)
    two = call(hausdorff_distance, pred, true, num_classes=3, percentile=95,
               percentile_of="pooled")
    assert (two <= one + 1e-6).all() and (two < one).any()


# ----------------------------------------------------------------- missed objects


@pytest.mark.parametrize("empty_distance", ["inf", "nan", "diagonal", 7.5])
@pytest.mark.parametrize("surface", ["pixels", "elements"])
def test_empty_distance(empty_distance, surface):
    shape, spacing = CASES[1]
    pred, true = inputs(50, shape)
    pred[1][pred[1] == 1] = 0  # example 1, class 1: a missed object; class 2: both empty
    diagonal = np.sqrt(sum((n * s) ** 2 for n, s in zip(shape[1:], spacing, strict=True)))
    missed = {"inf": np.inf, "nan": np.nan, "diagonal": diagonal}.get(empty_distance,
                                                                      empty_distance)
    options = dict(num_classes=3, sampling=spacing, surface=surface,
                   empty_distance=empty_distance)
    values = [call(hausdorff_distance, pred, true, percentile=95, **options),
              call(hausdorff_distance, pred, true, **options),
              call(average_surface_distance, pred, true, **options)]
    for value in values:
        np.testing.assert_allclose(value[:, 2], [missed, 0.0], rtol=1e-6)  # missed, both empty
        np.testing.assert_allclose(value[1, 1], missed, rtol=1e-6)
        assert np.isfinite(value[:, 0]).all() and np.isfinite(value[0, 1])
    hd = values[1]
    for b, c in [(0, 0), (0, 1), (1, 0)]:
        ref = reference(pred[b] == c, true[b] == c, spacing, surface=surface)[0]
        np.testing.assert_allclose(hd[b, c], ref, rtol=1e-5)


def test_empty_distance_rejects_bad_values():
    pred, true = inputs(50, CASES[0][0])
    for bad, error in [("zero", ValueError), (-1.0, ValueError), (None, TypeError),
                       (True, TypeError), (float("nan"), ValueError)]:
        with pytest.raises(error, match="empty_distance"):
            hausdorff_distance(pred, true, num_classes=3, empty_distance=bad)
    with pytest.raises(ValueError, match="surface: expected one of"):
        surface_dice(pred, true, num_classes=3, tolerance=1.0, surface="subvoxels")
    with pytest.raises(ValueError, match="percentile_of"):
        hausdorff_distance(pred, true, num_classes=3, percentile=95, percentile_of="both")
    with pytest.raises(ValueError, match="average_of"):
        average_surface_distance(pred, true, num_classes=3, average_of="mean")
    with pytest.raises(ValueError, match="2-D and 3-D"):
        hausdorff_distance(pred[:, 0], true[:, 0], num_classes=3, surface="elements")


def test_monai_empty_conventions_are_documented():
    """MONAI 1.6: both empty -> NaN, one empty -> inf (ours: 0 and empty_distance)."""
    torch = pytest.importorskip("torch")
    monai_metrics = pytest.importorskip("monai.metrics")
    empty = torch.zeros(1, 1, 6, 6)
    some = empty.clone()
    some[0, 0, 2:4, 2:4] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(monai_metrics.compute_hausdorff_distance(empty, empty).item())
        assert np.isinf(monai_metrics.compute_hausdorff_distance(empty, some).item())


# ----------------------------------------------------------------- jit, vmap, accelerators


@pytest.mark.slow
@pytest.mark.parametrize("shape, spacing", CASES)
def test_elements_vmap_equals_batch(shape, spacing):
    pred, true = inputs(60, (4,) + shape[1:])
    pred, true = pred.reshape((2,) + shape), true.reshape((2,) + shape)  # vmap over 2 batches
    options = dict(num_classes=3, sampling=spacing, surface="elements")
    metrics = [functools.partial(hausdorff_distance, percentile=95, **options),
               functools.partial(average_surface_distance, **options),
               functools.partial(surface_dice, tolerance=1.0, **options)]
    for metric in metrics:
        mapped = jax.jit(jax.vmap(metric))(pred, true)
        # the batch call eager once (the 2-D Hausdorff distance: jit == eager), compiled otherwise
        eager = metric is metrics[0] and len(shape) == 3
        flat = (metric if eager else jax.jit(metric))(pred.reshape((-1,) + shape[1:]),
                                                     true.reshape((-1,) + shape[1:]))
        np.testing.assert_allclose(np.asarray(mapped).reshape(flat.shape), flat, rtol=1e-6)


def _count_while(text: str) -> int:
    return text.count("stablehlo.while")


@pytest.mark.parametrize("shape, spacing", CASES)
def test_elements_add_no_while_loop(shape, spacing):
    """The element path (codes, gather, sort, cumsum) adds no loop: the CPU program has the
    EDT's loops only (the pixel path's count), and the CUDA export has none."""
    pred, true = inputs(70, shape)

    def program(surface, platform):
        f = jax.jit(functools.partial(hausdorff_distance, num_classes=3, sampling=spacing,
                                      percentile=95, surface=surface))
        if platform == "cpu":
            return f.lower(pred, true).as_text()
        exported = jax.export.export(f, platforms=(platform,))(
            jax.ShapeDtypeStruct(pred.shape, jnp.int32), jax.ShapeDtypeStruct(true.shape,
                                                                              jnp.int32))
        return exported.mlir_module()

    assert _count_while(program("elements", "cpu")) == _count_while(program("pixels", "cpu"))
    try:
        cuda = program("elements", "cuda")
    except Exception as exc:  # noqa: BLE001 - an export for CUDA needs nothing but jaxlib
        pytest.skip(f"no CUDA export here: {exc}")
    assert _count_while(cuda) == 0


# ----------------------------------------------------------------- generalized Dice


def torchmetrics_module(name):
    """``torchmetrics.<name>`` without the package root (whose import pulls torchvision,
    broken beside the installed torch here); ``sys.modules`` left as found."""
    pytest.importorskip("torch")
    spec = importlib.util.find_spec("torchmetrics")
    if spec is None:
        pytest.skip("torchmetrics is not installed")
    root = spec.submodule_search_locations[0]
    before = dict(sys.modules)
    stub = types.ModuleType("torchmetrics")
    stub.__path__, stub._logger = [root], logging.getLogger("torchmetrics")
    functional = types.ModuleType("torchmetrics.functional")
    functional.__path__ = [root + "/functional"]
    sys.modules.update({"torchmetrics": stub, "torchmetrics.functional": functional})
    try:
        return importlib.import_module(f"torchmetrics.{name}")
    finally:
        for key in set(sys.modules) - set(before):
            if key.startswith("torchmetrics"):
                del sys.modules[key]
        for key in ("torchmetrics", "torchmetrics.functional"):
            if key in before:
                sys.modules[key] = before[key]
            else:
                sys.modules.pop(key, None)


def gds_torchmetrics_reference(pred, true, num_classes, weight_type, include_background):
    """NumPy, from torchmetrics' rule: absent classes take the class-wise batch maximum at the
    (C, B)-order flat index."""
    p, t = one_hot_np(pred, num_classes), one_hot_np(true, num_classes)
    if not include_background:
        p, t = p[..., 1:], t[..., 1:]
    batch, classes = p.shape[0], p.shape[-1]
    p, t = p.reshape(batch, -1, classes), t.reshape(batch, -1, classes)
    volume = t.sum(1).astype(float)
    with np.errstate(divide="ignore"):
        w = {"square": 1 / volume**2, "simple": 1 / volume, "uniform": np.ones_like(volume)}[
            weight_type]
    absent = ~np.isfinite(w)
    w[absent] = 0
    class_max = w.max(0)
    flat = np.arange(batch * classes).reshape(batch, classes)
    w[absent] = class_max[flat // batch][absent]
    numerator = 2 * (w * (p * t).sum(1)).sum(1)
    denominator = (w * (p.sum(1) + t.sum(1))).sum(1)
    return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), 0)


@pytest.mark.parametrize("weight_type", ["square", "simple", "uniform"])
@pytest.mark.parametrize("batch", [1, 3])
def test_generalized_dice_torchmetrics_absent_weight(weight_type, batch):
    torch = pytest.importorskip("torch")
    gds = torchmetrics_module("functional.segmentation.generalized_dice").generalized_dice_score
    for shape in [(batch, 12, 11), (batch, 7, 6, 5)]:
        pred, true = blobs(80, shape), blobs(81, shape)
        true[0][true[0] == 2] = 1  # class 2 absent from example 0's truth
        for include_background in (True, False):
            mine = call(generalized_dice_score, pred, true, num_classes=3,
                        class_weighting=weight_type, absent_weight="torchmetrics", empty_score=0.0,
                        include_background=include_background)
            ref = gds_torchmetrics_reference(pred, true, 3, weight_type, include_background)
            np.testing.assert_allclose(mine, ref, rtol=1e-5)
            peer = gds(torch.tensor(pred).long(), torch.tensor(true).long(), num_classes=3,
                       include_background=include_background, input_format="index",
                       weight_type="linear" if weight_type == "uniform" else weight_type)
            np.testing.assert_allclose(mine, peer.numpy(), rtol=1e-5)
    empty = np.zeros((1, 5, 5), np.int32)
    peer = gds(torch.tensor(empty).long(), torch.tensor(empty).long(), num_classes=2,
               include_background=False, input_format="index")
    mine = call(generalized_dice_score, empty, empty, num_classes=2, include_background=False,
                absent_weight="torchmetrics", empty_score=0.0)
    np.testing.assert_allclose(mine, peer.numpy())
    with pytest.raises(ValueError, match="absent_weight"):
        generalized_dice_score(empty, empty, num_classes=2, absent_weight="zero")


def test_fan_starts_are_derived_from_deepminds_areas():
    """How ``_elements._FAN_STARTS`` was found, rerun: per code, the first fan starts whose
    areas equal ``surface_distance``'s table at three anisotropic spacings."""
    pytest.importorskip("surface_distance")
    import itertools

    from surface_distance import lookup_tables

    from jaxseg_losses.metrics._elements import _FAN_STARTS, _polygons, _triangle_vectors

    def search() -> str:
        spacings = [(1.0, 1.0, 1.0), (1.3, 0.7, 2.1), (0.5, 1.9, 1.1)]
        table = lookup_tables.create_table_neighbour_code_to_surface_area
        references = [table(s) for s in spacings]
        tokens = []
        for code in range(256):
            theirs = int(f"{code:08b}"[::-1], 2)  # their corner k is our corner 7 - k
            polygons = _polygons(code)
            for starts in itertools.product(*[range(len(p)) for p in polygons]):
                token = "".join(map(str, starts))
                vectors = _triangle_vectors(code, token)
                if all(np.isclose(np.linalg.norm(vectors * np.array(
                        [s[1] * s[2], s[0] * s[2], s[0] * s[1]]), axis=-1).sum(), ref[theirs])
                        for s, ref in zip(spacings, references, strict=True)):
                    tokens.append(token)
                    break
            else:
                raise AssertionError(f"no fan of code {code} matches")
        return " ".join(tokens)

    assert search() == _FAN_STARTS


@pytest.mark.parametrize("shape", [(2, 9, 11, 3), (1, 6, 7, 5, 3)])
def test_tpu_plane_layout_equals_the_default(shape, monkeypatch):
    """XLA:TPU's form (every class plane an image of one channel, ``per_platform`` taking its
    ``tpu`` branch, run here on the CPU) gives the default form's distances, for surface pixels
    and elements, anisotropic sampling and a dropped background."""
    from jaxseg_losses.metrics import surface  # noqa: PLC0415

    rng = np.random.default_rng(len(shape))
    pred = jnp.asarray(rng.normal(size=shape), jnp.float32)
    labels = jnp.asarray(rng.integers(0, shape[-1], shape[:-1]))
    sampling = (1.0, 0.5, 2.0)[: len(shape) - 2]
    calls = [
        lambda: surface.hausdorff_distance(pred, labels, percentile=95, surface="elements",
                                           sampling=sampling),
        lambda: surface.hausdorff_distance(pred, labels, include_background=False),
        lambda: surface.average_surface_distance(pred, labels, surface="elements"),
        lambda: surface.surface_dice(pred, labels, tolerance=1.0, surface="elements",
                                     sampling=sampling),
    ]
    want = [np.asarray(call()) for call in calls]
    monkeypatch.setattr(surface, "per_platform",
                        lambda *args, cpu, accelerator, tpu: tpu(*args))
    for call, expected in zip(calls, want, strict=True):
        np.testing.assert_array_equal(np.asarray(call()), expected)
