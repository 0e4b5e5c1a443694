"""Tests for jaxseg_losses.distance against SciPy and the boundary-loss / MONAI references."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from jax import export

import jaxseg_losses as jsl
from jaxseg_losses import _numerics, _scans
from jaxseg_losses import distance as dist_mod
from jaxseg_losses.distance import distance_field, distance_transform_edt, signed_distance_map

RNG = np.random.default_rng(1234)


def scipy_edt(mask, sampling=None):
    """Per-image SciPy EDT; +inf for images without a zero (our documented value)."""
    mask = np.asarray(mask)
    out = [
        ndi.distance_transform_edt(m, sampling=sampling)
        if (m == 0).any()
        else np.full(m.shape, np.inf)
        for m in mask
    ]
    return np.stack(out).astype(np.float32)


def one_hot2dist(seg, resolution=None):
    """NumPy+SciPy port of LIVIAETS boundary-loss `utils.one_hot2dist` for one image (K, *sp)."""
    res = np.zeros_like(seg, dtype=np.float64)
    for k in range(len(seg)):
        posmask = seg[k].astype(bool)
        if posmask.any():
            negmask = ~posmask
            res[k] = (
                ndi.distance_transform_edt(negmask, sampling=resolution) * negmask
                - (ndi.distance_transform_edt(posmask, sampling=resolution) - 1) * posmask
            )
    return res


def assert_edt_equal(mask, sampling=None, **kw):
    got = np.asarray(distance_transform_edt(mask, sampling=sampling, **kw))
    ref = scipy_edt(mask, sampling)
    assert got.dtype == np.float32
    if sampling is None:
        np.testing.assert_array_equal(got, ref)  # squared distances are exact integers
        finite = np.isfinite(ref)
        np.testing.assert_array_equal(np.rint(got[finite] ** 2), np.rint(ref[finite] ** 2))
    else:
        np.testing.assert_allclose(got, ref, rtol=2e-6, atol=0)


@pytest.mark.parametrize("density", [0.02, 0.5, 0.98])
@pytest.mark.parametrize("shape", [(3, 37, 53), (2, 64, 64), (1, 130, 101), (2, 13, 17, 9)])
def test_random_masks_match_scipy(shape, density):
    assert_edt_equal(RNG.random(shape) < density)


@pytest.mark.parametrize(
    "shape", [(2, 1, 70), (2, 70, 1), (1, 1, 1), (3, 5), (2, 200, 3), (1, 3, 2, 150), (2, 1, 1, 9)]
)
def test_thin_and_odd_shapes(shape):
    assert_edt_equal(RNG.random(shape) < 0.7)


def test_single_pixels_and_lines():
    m = np.ones((4, 40, 33), bool)
    m[0, 0, 0] = False  # single background pixel in a corner
    m[1, 20, 16] = False  # ... in the middle
    m[2, :, 7] = False  # background column
    m[3, 39, :] = False  # background row
    assert_edt_equal(m)
    assert_edt_equal(~m)  # single foreground pixel / lines of foreground


@pytest.mark.parametrize("sampling", [(2.5, 0.7), (1.0, 3.0), (0.3, 0.3)])
def test_anisotropic_2d(sampling):
    assert_edt_equal(RNG.random((2, 45, 38)) < 0.9, sampling)


def test_anisotropic_3d():
    assert_edt_equal(RNG.random((2, 12, 19, 15)) < 0.95, (3.0, 1.0, 0.5))


def test_scalar_sampling_broadcasts():
    m = RNG.random((1, 20, 20)) < 0.8
    np.testing.assert_array_equal(
        distance_transform_edt(m, sampling=2.0), distance_transform_edt(m, sampling=(2.0, 2.0))
    )


def test_long_axis_envelope_path():
    """Axes longer than the brute-force limit take the linear-time envelope pass."""
    assert 600 > dist_mod._BRUTE_MAX_LEN
    line = np.ones((2, 600), bool)
    line[0, 100] = False
    line[1, [0, 599]] = False
    assert_edt_equal(line)
    m = RNG.random((2, 7, 700)) < 0.999
    m[:, 0, 0] = False
    assert_edt_equal(m)  # pass 0 on the long axis, brute force on the short one
    m = RNG.random((1, 300, 5)) < 0.97
    assert_edt_equal(m.transpose(0, 2, 1))  # envelope pass on a 300-long axis
    assert_edt_equal(m.transpose(0, 2, 1), (0.7, 1.3))
    # 600 lines of length 130: the envelope runs in blocks of lines, the last one padded.
    assert 600 > dist_mod._ENVELOPE_BLOCK_LINES and 130 > dist_mod._BRUTE_MAX_LEN
    assert_edt_equal(RNG.random((2, 300, 130)) < 0.97)


@pytest.mark.slow
def test_envelope_equals_brute_force(monkeypatch):
    f = np.asarray(dist_mod._pass0(jnp.asarray(RNG.random((150, 40)) > 0.9), 1.0))
    f = np.where(RNG.random(f.shape) < 0.2, np.inf, f + RNG.integers(0, 50, f.shape))
    f = jnp.asarray(f, jnp.float32)
    for s in (1.0, 0.37, 2.9):
        envelope = dist_mod._minplus_envelope(f, s)  # (n, L) layout; brute force takes (L, n)
        np.testing.assert_allclose(envelope, dist_mod._minplus_brute(f.T, s).T, rtol=1e-6)
    # Several blocks of lines, the last one padded (150 lines of length 40 in blocks of 7).
    monkeypatch.setattr(dist_mod, "_BRUTE_BLOCK_ELEMS", 7 * 40 * 40)
    np.testing.assert_array_equal(dist_mod._minplus_brute(f.T, 1.0).T, envelope_unit(f))


def envelope_unit(f):
    return np.asarray(dist_mod._minplus_envelope(f, 1.0))


# ---------------------------------------------------------------- GPU/TPU formulation on CPU
# `_squared_edt_dense` is the program GPU and TPU run (`lax.platform_dependent`); called
# directly it runs on CPU too, where XLA materialises its broadcast: axes stay <= 64 here.


def _dense_edt(nsp, two_sided):
    return jax.jit(lambda m, s: dist_mod._squared_edt_dense(m, s, nsp, two_sided))


_cached_dense_edt = functools.cache(_dense_edt)


def accelerator_edt(mask, sampling=None, two_sided=False, *, cached=False):
    """The dense (GPU/TPU) squared-EDT formulation run here. By default a new function each
    call: traced now, so it sees the monkeypatched module constants; ``cached``: one compiled
    function per (rank, sidedness, shape) for the tests that patch nothing."""
    mask = jnp.asarray(mask) != 0
    nsp = mask.ndim - 1
    spacing = jnp.asarray(sampling if sampling is not None else (1.0,) * nsp, jnp.float32)
    fn = (_cached_dense_edt if cached else _dense_edt)(nsp, two_sided)
    return np.sqrt(np.asarray(fn(mask, spacing)))


def scipy_two_sided(mask, sampling=None):
    """Distance to the other side: edt(fg) on the foreground, edt(~fg) on the background."""
    mask = np.asarray(mask) != 0
    return np.where(mask, scipy_edt(mask, sampling), scipy_edt(~mask, sampling))


def assert_accelerator_equal(mask, sampling=None):
    for two_sided, reference in ((False, scipy_edt), (True, scipy_two_sided)):
        _assert_equal_to(accelerator_edt(mask, sampling, two_sided), reference(mask, sampling),
                         sampling)


def _assert_equal_to(got, ref, sampling):
    assert got.dtype == np.float32
    if sampling is None:
        np.testing.assert_array_equal(got, ref)  # bit-equal: exact integer squares
    else:
        np.testing.assert_array_max_ulp(got[np.isfinite(ref)], ref[np.isfinite(ref)], maxulp=2)
        np.testing.assert_array_equal(np.isinf(got), np.isinf(ref))


def segmentation_like(shape, rng):
    """A few random ellipses (ellipsoids) per image over background."""
    grids = np.meshgrid(*[np.arange(n) for n in shape[1:]], indexing="ij", sparse=True)
    out = np.zeros(shape, bool)
    for b in range(shape[0]):
        for _ in range(3):
            c = rng.uniform(0.2, 0.8, len(grids)) * shape[1:]
            r = rng.uniform(0.1, 0.4, len(grids)) * shape[1:]
            out[b] |= sum(((g - ci) / ri) ** 2 for g, ci, ri in zip(grids, c, r, strict=True)) <= 1
    return out


def special_masks(shape):
    """Empty, full, one foreground pixel, one background pixel (in that batch order)."""
    m = np.zeros((4, *shape), bool)
    m[1] = True
    m[2][tuple(n // 2 for n in shape)] = True
    m[3] = True
    m[3][tuple(n - 1 for n in shape)] = False
    return m


# `running` per backend, forced here: the CPU branch runs by default; "gpu" is XLA's own
# cumulative ops, "tpu" their two-level form.
_RUNNING = {
    "gpu": lambda op, x, axis, reverse=False, **_: _scans._NATIVE[op](x, axis=axis,
                                                                      reverse=reverse),
    "tpu": lambda op, x, axis, reverse=False, **_: _scans._two_level(op, x, axis, reverse),
}


@pytest.mark.parametrize("running", [None, "gpu", "tpu"])
@pytest.mark.parametrize("spatial", [(64,), (37, 53), (64, 9), (13, 17, 9), (16, 16, 16)])
def test_accelerator_formulation_equals_scipy(spatial, running, monkeypatch):
    if running is not None:
        monkeypatch.setattr(dist_mod, "running", _RUNNING[running])
    rng = np.random.default_rng(len(spatial) * 100 + spatial[0])
    assert_accelerator_equal(np.concatenate([
        rng.random((2, *spatial)) < 0.5,
        rng.random((2, *spatial)) < 0.97,
        segmentation_like((2, *spatial), rng),
        special_masks(spatial),
    ]))


@pytest.mark.parametrize("sampling", [(2.5, 0.7), (0.3, 0.3), (1.0, 3.0, 0.45)])
def test_accelerator_formulation_anisotropic(sampling):
    rng = np.random.default_rng(7)
    shape = (3, 23, 41) if len(sampling) == 2 else (3, 11, 14, 9)
    mask = np.concatenate([rng.random(shape) < 0.9, segmentation_like(shape, rng)])
    mask[:, 0, 0] = False
    assert_accelerator_equal(mask, sampling)


def test_accelerator_banded_pass_and_its_fallback(monkeypatch):
    """Axes longer than `_ACCEL_DENSE_MAX_LEN` use the banded search; an output it cannot
    prove exact sends the whole pass to the dense fallback."""
    monkeypatch.setattr(dist_mod, "_ACCEL_DENSE_MAX_LEN", 8)
    monkeypatch.setattr(dist_mod, "_ACCEL_BAND", 5)
    rng = np.random.default_rng(3)
    near = rng.random((3, 29, 47)) < 0.6  # every distance within the band
    far = np.ones((2, 29, 47), bool)
    far[0, 3, 5] = False  # distances up to ~50 along the banded axes
    far[1, :, 40] = False
    assert_accelerator_equal(near)
    assert_accelerator_equal(far)
    assert_accelerator_equal(special_masks((20, 31)))
    assert_accelerator_equal(far, (0.4, 2.2))
    # Which branch ran: a poisoned fallback shows up only where it was needed.
    poison = lambda f, axis, s, fg=None: jnp.full_like(f, jnp.nan)  # noqa: E731
    monkeypatch.setattr(dist_mod, "_minplus_dense", poison)
    np.testing.assert_array_equal(accelerator_edt(near), scipy_edt(near))
    empty_and_full = special_masks((20, 31))[:2]  # lines without any site need no fallback
    np.testing.assert_array_equal(accelerator_edt(empty_and_full), scipy_edt(empty_and_full))
    assert np.isnan(accelerator_edt(far)).all()
    assert np.isnan(accelerator_edt(far, two_sided=True)).all()
    np.testing.assert_array_equal(accelerator_edt(near, two_sided=True), scipy_two_sided(near))


@settings(max_examples=20, deadline=None)
@given(st.one_of(masks_2d := hnp.arrays(np.bool_, st.sampled_from([(2, 1, 23), (2, 31, 40)])),
                 hnp.arrays(np.bool_, st.just((1, 7, 5, 9)))))
def test_property_accelerator_equals_cpu(mask):
    np.testing.assert_array_equal(accelerator_edt(mask, cached=True), distance_transform_edt(mask))
    field = np.where(mask.all(axis=tuple(range(1, mask.ndim)), keepdims=True)
                     | ~mask.any(axis=tuple(range(1, mask.ndim)), keepdims=True),
                     0.0, accelerator_edt(mask, two_sided=True, cached=True))
    np.testing.assert_array_equal(field, distance_field(mask))


S = jax.ShapeDtypeStruct


def _value_and_grad(loss):
    return jax.value_and_grad(lambda z, y: jnp.mean(loss(z, y)))


def _with_indices(mask):
    return distance_transform_edt(mask, return_indices=True)


_DISTANCE_PROGRAMS = {
    "edt (16, 512, 512)": (distance_transform_edt, (S((16, 512, 512), jnp.bool_),)),
    "edt (1, 1024, 1024)": (distance_transform_edt, (S((1, 1024, 1024), jnp.bool_),)),
    "edt (2, 128, 128, 128)": (distance_transform_edt, (S((2, 128, 128, 128), jnp.bool_),)),
    "edt indices (8, 256, 256)": (_with_indices, (S((8, 256, 256), jnp.bool_),)),
    "edt indices (2, 64, 64, 64)": (_with_indices, (S((2, 64, 64, 64), jnp.bool_),)),
    "edt indices (1, 1536, 64)": (_with_indices, (S((1, 1536, 64), jnp.bool_),)),
    **{
        f"{name} value+grad (8, 256, 256, 4)": (
            _value_and_grad(getattr(jsl, name)),
            (S((8, 256, 256, 4), jnp.float32), S((8, 256, 256), jnp.int32)),
        )
        for name in ("boundary_loss", "hausdorff_dt_loss", "distance_penalized_cross_entropy")
    },
}


@pytest.mark.parametrize("program", list(_DISTANCE_PROGRAMS))
def test_accelerator_exports_have_no_loops(program, monkeypatch):
    """Exported for GPU and TPU (no device needed), the distance programs hold no while loop:
    on XLA:GPU every loop step is a kernel launch, and a loop without a known trip count a host
    round trip. The CPU export keeps its scans and the envelope's pop loop. The losses may run
    their (example, class) planes in chunks (``_numerics.map_planes``: a ``lax.map`` of known
    trip count, forward and backward); with one chunk they hold no loop at all."""
    fn, args = _DISTANCE_PROGRAMS[program]
    if "value+grad" in program:
        chunked = export.export(jax.jit(fn), platforms=["cuda", "tpu"])(*args).mlir_module()
        assert chunked.count("stablehlo.while") <= 2  # the plane loop and its transpose
        monkeypatch.setattr(_numerics, "PLANE_CHUNK_PIXELS", 2**40)
        fn = functools.partial(fn)  # a new function: not the trace cached above
    text = export.export(jax.jit(fn), platforms=["cuda", "tpu"])(*args).mlir_module()
    assert "stablehlo.while" not in text
    assert "stablehlo.reduce" in text  # the min-plus passes are there
    if program.startswith("edt (1, 1024"):
        cpu = export.export(jax.jit(fn), platforms=["cpu"])(*args).mlir_module()
        assert "stablehlo.while" in cpu


def test_no_background_and_no_foreground():
    m = np.zeros((3, 8, 9), np.int32)
    m[0] = 1  # no zero: nothing to measure to
    m[2, 3, 4] = 1
    out = np.asarray(distance_transform_edt(m))
    assert np.all(np.isposinf(out[0])) and not np.isnan(out).any()
    np.testing.assert_array_equal(out[1], 0)
    np.testing.assert_array_equal(out[2], scipy_edt(m[2:])[0])
    filled = np.asarray(distance_transform_edt(m, fill_value=-1.0))
    np.testing.assert_array_equal(filled[0], -1.0)
    np.testing.assert_array_equal(filled[1:], out[1:])


@pytest.mark.parametrize("dtype", [bool, np.int32, np.uint8, np.float32, np.float16])
def test_input_dtypes(dtype):
    m = RNG.random((2, 15, 11)) < 0.6
    vals = np.where(m, 3, 0).astype(dtype) if dtype is not bool else m
    out = distance_transform_edt(jnp.asarray(vals))
    assert out.dtype == jnp.float32
    np.testing.assert_array_equal(out, scipy_edt(m))


def test_jit_vmap_batch_and_spatial_dims():
    m = jnp.asarray(RNG.random((4, 24, 31)) < 0.8)
    eager = distance_transform_edt(m)
    np.testing.assert_array_equal(jax.jit(distance_transform_edt)(m), eager)
    per_image = jax.vmap(lambda x: distance_transform_edt(x[None])[0])(m)
    np.testing.assert_array_equal(per_image, eager)
    # spatial_dims: extra leading batch axes, or none at all
    np.testing.assert_array_equal(
        distance_transform_edt(m.reshape(2, 2, 24, 31), spatial_dims=2).reshape(4, 24, 31), eager
    )
    np.testing.assert_array_equal(distance_transform_edt(m[0], spatial_dims=2), eager[0])
    np.testing.assert_array_equal(distance_transform_edt(m[:, None], spatial_dims=3)[:, 0], eager)


def test_memory_bounded():
    for shape in [(2, 64, 64, 64), (2, 256, 256)]:
        x = jax.ShapeDtypeStruct(shape, jnp.bool_)
        compiled = jax.jit(distance_transform_edt).lower(x).compile()
        mem = compiled.memory_analysis()
        if mem is None:
            pytest.skip("memory_analysis unavailable on this backend")
        n = int(np.prod(shape))
        assert mem.temp_size_in_bytes <= 16 * 4 * n, (shape, mem.temp_size_in_bytes)


def test_grad_through_caller_is_finite():
    labels = jnp.asarray(RNG.random((2, 16, 16)) < 0.3)

    def loss(logits):
        probs = jax.nn.sigmoid(logits)
        d = distance_transform_edt(probs > 0.5) + distance_field(probs)
        sdm = signed_distance_map(labels.astype(jnp.int32), num_classes=2)[..., 1]
        return jnp.mean(probs * (d + sdm))

    logits = jnp.asarray(RNG.normal(size=(2, 16, 16)), jnp.float32)
    g = jax.jit(jax.grad(loss))(logits)
    assert np.isfinite(np.asarray(g)).all()


def test_bad_inputs():
    with pytest.raises(ValueError, match="rank >= 2"):
        distance_transform_edt(jnp.ones((5,)))
    with pytest.raises(ValueError, match="one entry per spatial axis"):
        distance_transform_edt(jnp.ones((1, 4, 4)), sampling=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="positive"):
        distance_transform_edt(jnp.ones((1, 4, 4)), sampling=(1.0, 0.0))
    with pytest.raises(ValueError, match="positive"):
        distance_transform_edt(jnp.ones((1, 4, 4)), sampling=(1.0, -2.0))
    with pytest.raises(ValueError, match="spatial_dims"):
        distance_transform_edt(jnp.ones((1, 4, 4)), spatial_dims=4)
    with pytest.raises(ValueError, match="rank >= 3"):
        signed_distance_map(jnp.ones((4, 4)))
    with pytest.raises(ValueError, match="rank >= 2"):
        distance_field(jnp.ones((4,)))


# ---------------------------------------------------------------- hypothesis properties

# A few fixed shapes (each shape compiles once); contents are drawn freely.
masks_2d = hnp.arrays(np.bool_, st.sampled_from([(2, 1, 23), (1, 17, 9), (2, 31, 40)]))
masks_3d = hnp.arrays(np.bool_, st.sampled_from([(1, 7, 5, 9), (2, 4, 9, 3)]))
spacing = st.floats(0.1, 10.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=25, deadline=None)
@given(st.one_of(masks_2d, masks_3d))
def test_property_equals_scipy(mask):
    assert_edt_equal(mask)


@settings(max_examples=25, deadline=None)
@given(masks_2d, spacing, spacing)
def test_property_anisotropic_equals_scipy(mask, s0, s1):
    mask[:, 0, 0] = False  # keep at least one background pixel per image
    assert_edt_equal(mask, (s0, s1))


@settings(max_examples=25, deadline=None)
@given(masks_2d)
def test_property_lipschitz_and_zero_on_background(mask):
    mask[:, -1, -1] = False
    d = np.asarray(distance_transform_edt(mask))
    assert np.all(d[~mask] == 0) and np.all(d[mask] >= 1)
    for axis in (1, 2):
        assert np.all(np.abs(np.diff(d, axis=axis)) <= 1 + 1e-6)


# ---------------------------------------------------------------- signed map and HD field


def box_labels(size, lo, hi):
    lab = np.zeros((1, size, size), np.int32)
    lab[0, lo:hi, lo:hi] = 1
    return lab


def test_sdm_matches_one_hot2dist():
    lab = RNG.integers(0, 3, (3, 29, 23))
    lab[2] = 0
    lab[2, 5:15, 4:9] = 1  # class 2 absent from image 2
    got = np.asarray(signed_distance_map(lab, num_classes=3))
    assert got.shape == (3, 29, 23, 3)
    for b in range(3):
        ref = one_hot2dist(np.moveaxis(np.eye(3)[lab[b]], -1, 0))
        np.testing.assert_allclose(np.moveaxis(got[b], -1, 0), ref, rtol=1e-6, atol=1e-5)
    # dense one-hot input gives the same map
    onehot = jax.nn.one_hot(lab, 3)
    np.testing.assert_array_equal(signed_distance_map(onehot), got)


def test_sdm_with_resolution_and_offsets():
    lab = np.zeros((1, 12, 10), np.int32)
    lab[0, 3:9, 2:7] = 1
    ref = one_hot2dist(np.moveaxis(np.eye(2)[lab[0]], -1, 0), resolution=(1.0, 0.5))
    legacy = np.asarray(
        signed_distance_map(lab, num_classes=2, sampling=(1.0, 0.5), inside_offset=1.0)
    )
    np.testing.assert_allclose(np.moveaxis(legacy[0], -1, 0), ref, rtol=1e-6, atol=1e-6)
    default = np.asarray(signed_distance_map(lab, num_classes=2, sampling=(1.0, 0.5)))
    inside = lab[0] == 1
    assert np.all(default[0, ..., 1][inside] <= 0)  # offset min(sampling) keeps the sign
    shift = np.where(np.stack([~inside, inside], -1), -0.5, 0.0)[None]
    np.testing.assert_allclose(default - legacy, shift)


def test_sdm_reference_tests():
    """LIVIAETS test.py::TestDistMap, box in 64^2 instead of 256^2."""
    size = 64
    res = np.asarray(signed_distance_map(box_labels(size, 1, size - 2), num_classes=2))[0]
    c = (size - 2) // 2  # centre of the box [1, size-2)
    assert res[..., 0].max() == c and res[c, c, 0] == c
    assert res[..., 1].min() == -(c - 1) and res[c, c, 1] == -(c - 1)
    for side in (1, 2, 5, 10):
        res = np.asarray(signed_distance_map(box_labels(size, 20, 20 + side), num_classes=2))[0]
        assert (res[..., 1] == 0).sum() == max(4 * (side - 1), 1)
        assert (res[..., 1] <= 0).sum() == side * side
    empty = np.asarray(signed_distance_map(np.zeros((1, 16, 16), np.int32), num_classes=2))
    assert empty[..., 1].sum() == 0


def test_sdm_degenerate_classes_are_zero():
    lab = np.zeros((2, 8, 8), np.int32)
    lab[1, 2:4, 2:4] = 1
    out = np.asarray(signed_distance_map(lab, num_classes=3))
    np.testing.assert_array_equal(out[0], 0)  # class 0 fills image 0; classes 1, 2 are empty
    np.testing.assert_array_equal(out[1, ..., 2], 0)
    assert np.isfinite(out).all()


def test_sdm_3d():
    lab = (RNG.random((2, 9, 11, 7)) < 0.3).astype(np.int32)
    got = np.asarray(signed_distance_map(lab, num_classes=2, sampling=(1.0, 1.0, 1.0)))
    for b in range(2):
        ref = one_hot2dist(np.moveaxis(np.eye(2)[lab[b]], -1, 0))
        np.testing.assert_allclose(np.moveaxis(got[b], -1, 0), ref, rtol=1e-6, atol=1e-5)


@pytest.mark.slow
def test_distance_field_matches_monai_semantics():
    probs = RNG.random((4, 21, 17)).astype(np.float32)
    probs[2] = 0.2  # empty
    probs[3] = 0.9  # full
    got = np.asarray(distance_field(probs))
    for b in range(4):
        fg = probs[b] > 0.5
        if fg.any() and not fg.all():
            ref = ndi.distance_transform_edt(fg) + ndi.distance_transform_edt(~fg)
        else:
            ref = np.zeros(fg.shape)
        np.testing.assert_allclose(got[b], ref, rtol=1e-6)
    try:
        import torch
        from monai.losses.hausdorff_loss import HausdorffDTLoss
    except ImportError:
        return
    monai = HausdorffDTLoss().distance_field(torch.from_numpy(probs[:, None])).numpy()[:, 0]
    np.testing.assert_allclose(got, monai, rtol=1e-6)


# ------------------------------------------------------------------- chessboard and taxicab


def cdt_reference(mask, metric, sampling):
    """Brute force from the definition: min over zero elements of sum_k / max_k s_k |d_k|."""
    zeros = np.argwhere(~mask)
    if len(zeros) == 0:
        return np.full(mask.shape, np.inf)
    steps = np.abs(np.argwhere(np.ones_like(mask))[:, None, :] - zeros[None]) * np.asarray(sampling)
    dist = steps.sum(-1) if metric == "taxicab" else steps.max(-1)
    return dist.min(1).reshape(mask.shape)


@pytest.mark.parametrize("metric", ["taxicab", "chessboard"])
@pytest.mark.parametrize("shape", [(3, 19, 23), (2, 9, 7, 11), (2, 1, 6), (2, 40)])
def test_cdt_matches_scipy(shape, metric):
    """Unit spacing: SciPy's distance_transform_cdt, exactly (its -1 without a zero -> +inf)."""
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    masks = rng.random(shape) < np.linspace(0.5, 0.99, shape[0]).reshape((-1,) + (1,) * (
        len(shape) - 1))
    masks[-1] = True  # no zero at all
    ours = np.asarray(jsl.distance_transform_cdt(masks, distance_metric=metric))
    for b in range(shape[0]):
        ref = ndi.distance_transform_cdt(masks[b], metric=metric).astype(np.float64)
        ref[ref < 0] = np.inf
        np.testing.assert_array_equal(ours[b], ref, err_msg=f"{metric} {b}")
    zero = jsl.distance_transform_cdt(masks, distance_metric=metric, fill_value=0.0)
    assert np.all(np.asarray(zero)[-1] == 0)


@pytest.mark.parametrize("metric", ["taxicab", "chessboard"])
@pytest.mark.parametrize("sampling", [(1.5, 0.7), (2.0, 1.0, 0.3)])
def test_cdt_anisotropic_matches_definition(metric, sampling):
    shape = (2, 11, 9) if len(sampling) == 2 else (2, 6, 7, 5)
    masks = np.random.default_rng(7).random(shape) < 0.9
    ours = np.asarray(jsl.distance_transform_cdt(masks, distance_metric=metric,
                                                 sampling=sampling))
    for b in range(shape[0]):
        np.testing.assert_allclose(ours[b], cdt_reference(masks[b], metric, sampling),
                                   rtol=1e-6, atol=1e-6)


def test_cdt_jit_vmap_errors_and_loop_free_programs():
    masks = np.random.default_rng(8).random((2, 3, 8, 9)) < 0.8
    for metric in ("taxicab", "chessboard"):
        eager = jsl.distance_transform_cdt(masks, distance_metric=metric, spatial_dims=2)
        vmapped = jax.jit(jax.vmap(lambda m, metric=metric: jsl.distance_transform_cdt(
            m, distance_metric=metric)))(masks)
        np.testing.assert_array_equal(eager, vmapped)
        for platforms in (["cpu"], ["cuda", "tpu"]):  # no while loop on any backend
            text = export.export(
                jax.jit(lambda m, metric=metric: jsl.distance_transform_cdt(
                    m, distance_metric=metric)),
                platforms=platforms,
            )(S((16, 512, 512), jnp.bool_)).mlir_module()
            assert "stablehlo.while" not in text, (metric, platforms)
    with pytest.raises(ValueError, match="^distance_metric: expected one of"):
        jsl.distance_transform_cdt(masks, distance_metric="euclidean")
    with pytest.raises(ValueError, match="sampling must be finite and positive"):
        jsl.distance_transform_cdt(masks[0], sampling=(1.0, 0.0))


# ------------------------------------------------------------------ feature transform (indices)

# The mask of SciPy's test_distance_transform_edt01..04 and _bf05/_bf06 (test_morphology.py).
SCIPY_DATA = np.array([[0, 0, 0, 0, 0, 0, 0, 0, 0],
                       [0, 0, 0, 0, 0, 0, 0, 0, 0],
                       [0, 0, 0, 1, 1, 1, 0, 0, 0],
                       [0, 0, 1, 1, 1, 1, 1, 0, 0],
                       [0, 0, 1, 1, 1, 1, 1, 0, 0],
                       [0, 0, 1, 1, 1, 1, 1, 0, 0],
                       [0, 0, 0, 1, 1, 1, 0, 0, 0],
                       [0, 0, 0, 0, 0, 0, 0, 0, 0],
                       [0, 0, 0, 0, 0, 0, 0, 0, 0]])


def site_distance(indices, sampling=None):
    """Distance from each element of one image to the site ``indices`` (nsp, *spatial) names,
    in float64: SciPy's own check of a feature transform (test_distance_transform_edt01)."""
    spatial = indices.shape[1:]
    s = np.ones(len(spatial)) if sampling is None else np.asarray(sampling, np.float64)
    offset = (indices - np.indices(spatial)) * s.reshape((-1,) + (1,) * len(spatial))
    return np.sqrt((offset.astype(np.float64) ** 2).sum(0))


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.float32, np.float64, np.bool_])
def test_scipy_edt01_02_feature_transform(dtype):
    """SciPy's test_distance_transform_edt01 (the distances the feature transform implies equal
    the brute-force transform) and _edt02 (distances and indices equal SciPy's; its variants
    with preallocated ``distances=`` / ``indices=`` outputs have no JAX counterpart)."""
    data = SCIPY_DATA.astype(dtype)
    out, ft = distance_transform_edt(data[None], return_indices=True)
    out, ft = np.asarray(out[0]), np.asarray(ft[0])
    bf = ndi.distance_transform_bf(data, "euclidean")
    np.testing.assert_array_almost_equal(bf, out)
    np.testing.assert_array_almost_equal(bf, site_distance(ft))
    tdt, tft = ndi.distance_transform_edt(data, return_indices=True)
    np.testing.assert_array_almost_equal(tdt, out)
    np.testing.assert_array_equal(tft, ft)
    assert ft.dtype == np.int32


@pytest.mark.parametrize(
    ("sampling", "expected_sq"),
    [
        ([2, 2], [[0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0],
                  [0, 0, 0, 4, 4, 4, 0, 0, 0], [0, 0, 4, 8, 16, 8, 4, 0, 0],
                  [0, 0, 4, 16, 32, 16, 4, 0, 0], [0, 0, 4, 8, 16, 8, 4, 0, 0],
                  [0, 0, 0, 4, 4, 4, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0],
                  [0, 0, 0, 0, 0, 0, 0, 0, 0]]),
        ([2, 1], [[0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0],
                  [0, 0, 0, 1, 4, 1, 0, 0, 0], [0, 0, 1, 4, 8, 4, 1, 0, 0],
                  [0, 0, 1, 4, 9, 4, 1, 0, 0], [0, 0, 1, 4, 8, 4, 1, 0, 0],
                  [0, 0, 0, 1, 4, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0],
                  [0, 0, 0, 0, 0, 0, 0, 0, 0]]),
    ],
)
def test_scipy_edt03_04_bf05_06_anisotropic(sampling, expected_sq):
    """SciPy's _edt03/_edt04 (anisotropic distances equal the brute force) and _bf05/_bf06 (the
    squared distances written out), with the feature transform: its sites are at those
    distances, at the distance of the brute force's own sites, and equal SciPy's EDT sites
    (SciPy's brute force breaks some ties differently from its EDT, so its expected index
    arrays are compared by distance)."""
    out, ft = distance_transform_edt(SCIPY_DATA[None], sampling=sampling, return_indices=True)
    out, ft = np.asarray(out[0]), np.asarray(ft[0])
    np.testing.assert_array_almost_equal(out * out, expected_sq, decimal=5)
    np.testing.assert_array_almost_equal(site_distance(ft, sampling) ** 2, expected_sq)
    _, bf_ft = ndi.distance_transform_bf(SCIPY_DATA, "euclidean", sampling=sampling,
                                         return_indices=True)
    np.testing.assert_array_almost_equal(site_distance(bf_ft, sampling), site_distance(ft,
                                                                                   sampling))
    np.testing.assert_array_equal(
        ndi.distance_transform_edt(SCIPY_DATA, sampling=sampling, return_indices=True)[1], ft
    )


def check_feature_transform(mask, sampling=None, spatial_dims=None):
    """Distances and indices equal SciPy's per image; every site is a zero element at exactly
    the returned distance."""
    dist, idx = distance_transform_edt(mask, sampling=sampling, spatial_dims=spatial_dims,
                                       return_indices=True)
    dist, idx = np.asarray(dist), np.asarray(idx)
    nsp = mask.ndim - 1 if spatial_dims is None else spatial_dims
    spatial = mask.shape[mask.ndim - nsp:]
    assert idx.shape == mask.shape[: mask.ndim - nsp] + (nsp, *spatial)
    assert idx.dtype == np.int32 and dist.dtype == np.float32
    images = mask.reshape((-1, *spatial))
    dist, idx = dist.reshape((-1, *spatial)), idx.reshape((-1, nsp, *spatial))
    for m, d, ft in zip(images, dist, idx, strict=True):
        ref_d, ref_ft = ndi.distance_transform_edt(m, sampling=sampling, return_indices=True)
        np.testing.assert_allclose(d, ref_d, rtol=1e-6)
        np.testing.assert_array_equal(ft, ref_ft)
        assert not m[tuple(ft)].any()  # the sites are background
        np.testing.assert_allclose(site_distance(ft, sampling), d, rtol=1e-6)


@pytest.mark.parametrize(
    ("shape", "sampling", "density"),
    [
        ((3, 13, 17), None, 0.9),  # many ties on unit spacing
        ((2, 20, 14), (1.5, 0.7), 0.8),
        ((2, 9, 10, 11), (2.0, 1.0, 0.5), 0.8),
        ((2, 6, 7, 8), None, 0.95),
        ((1, 5, 200), None, 0.9),  # a long axis: the CPU envelope's sites
        ((1, 150, 6), (0.5, 1.0), 0.97),  # a long first axis: pass 0 only
        ((2, 31), None, 0.8),  # 1-D
    ],
)
def test_feature_transform_equals_scipy(shape, sampling, density):
    mask = np.random.default_rng(sum(shape)).random(shape) < density
    check_feature_transform(mask, sampling)


@pytest.mark.parametrize("running", ["gpu", "tpu"])
def test_feature_transform_first_pass_per_backend(running, monkeypatch):
    """Pass 0 of the feature transform gives the same distances and sites with each backend's
    running max / min as with the CPU's (which the SciPy comparisons above run)."""
    mask = jnp.asarray(np.random.default_rng(5).random((3, 37, 11)) < 0.85)
    want = jax.jit(lambda m: dist_mod._pass0_sites(m, 1, 0.7))(mask)
    monkeypatch.setattr(dist_mod, "running", _RUNNING[running])
    got = jax.jit(lambda m: dist_mod._pass0_sites(m, 1, 0.7))(mask)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_feature_transform_extra_batch_axes_layout():
    mask = np.random.default_rng(7).random((2, 3, 6, 9)) < 0.8  # two batch axes
    check_feature_transform(mask, spatial_dims=2)


def test_feature_transform_without_background_and_without_foreground():
    """No zero element: ``fill_value`` and indices -1 on every axis (SciPy: a phantom site at
    -1 on its first axis). All zero: every element is its own site."""
    mask = np.zeros((3, 4, 5), np.int32)
    mask[0] = 1
    mask[2, 1, 2] = 1
    dist, idx = distance_transform_edt(mask, return_indices=True)
    dist, idx = np.asarray(dist), np.asarray(idx)
    assert np.all(np.isposinf(dist[0])) and np.all(idx[0] == -1)
    np.testing.assert_array_equal(dist[1], 0)
    np.testing.assert_array_equal(idx[1], np.indices((4, 5)))
    check_feature_transform(mask[1:])
    dist, idx = distance_transform_edt(mask[:1], return_indices=True, fill_value=-1.0)
    assert np.all(np.asarray(dist) == -1.0) and np.all(np.asarray(idx) == -1)
    dist, idx = distance_transform_edt(np.zeros((0, 4, 5)), return_indices=True)
    assert dist.shape == (0, 4, 5) and idx.shape == (0, 2, 4, 5)


def test_feature_transform_jit_vmap_and_flag():
    mask = np.random.default_rng(8).random((2, 3, 8, 9)) < 0.8
    fn = jax.jit(lambda m: distance_transform_edt(m, return_indices=True))
    d_map, i_map = jax.vmap(fn)(mask)
    for v in range(mask.shape[0]):
        d, i = fn(mask[v])
        np.testing.assert_array_equal(d_map[v], d)
        np.testing.assert_array_equal(i_map[v], i)
    np.testing.assert_array_equal(  # the distances do not depend on the flag
        distance_transform_edt(mask[0], return_indices=True)[0], distance_transform_edt(mask[0])
    )
    with pytest.raises(TypeError, match="return_indices"):
        distance_transform_edt(mask[0], return_indices=1)


@pytest.mark.parametrize("n", [5, 40, 200])
def test_accelerator_argmin_equals_cpu_argmin(n):
    """The GPU/TPU argmin pass (dense reduction) and the CPU one (brute force up to
    ``_BRUTE_MAX_LEN``, the reversed envelope above) pick the same site, ties included; the
    lines hold integers with many ties and whole lines without a site (+inf)."""
    rng = np.random.default_rng(n)
    f = rng.integers(0, 4, size=(n, 12)).astype(np.float32) ** 2
    f[:, 3] = np.inf
    f[rng.random(f.shape) < 0.3] = np.inf
    # Compiled, the spacing traced: one program per pass for both spacings.
    argmin_dense, argmin_cpu = (jax.jit(fn, static_argnums=1)
                                for fn in (dist_mod._argmin_dense, dist_mod._argmin_cpu))
    for s in (1.0, 0.5):
        dense = argmin_dense(jnp.asarray(f), 0, jnp.float32(s))
        cpu = argmin_cpu(jnp.asarray(f), 0, jnp.float32(s))
        finite = np.isfinite(f).any(0)
        np.testing.assert_array_equal(np.asarray(dense)[:, finite], np.asarray(cpu)[:, finite])
        values = f + ((np.arange(n)[:, None, None] - np.arange(n)[None, :, None]) * s) ** 2
        np.testing.assert_array_equal(np.asarray(dense)[:, finite],
                                      np.argmin(values, axis=1)[:, finite])
