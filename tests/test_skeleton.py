"""The hard skeleton (jaxseg_losses.skeleton) against scikit-image and the definitions.

2-D: equal to ``skimage.morphology.skeletonize`` pixel for pixel. 3-D: Lee's algorithm with the
sequential re-check run subfield by subfield, so the voxels can differ from scikit-image's
raster order; on the shapes below (numbers at 24^3, measured when this was written):

======== ============ ============= =======================================================
shape    voxels diff  ours / skimage  topology (Euler number, 26-components: input/ours/sk)
======== ============ ============= =======================================================
tubes, torus, ball, hollow sphere, diagonal tube, plates: 0 voxels differ
bar 6x8x20   11       11 / 0          input 1/1; skimage deletes the whole bar
blob 0       60       206 / 206       same; ours within 1.4 voxels of skimage's
blob 1       115      232 / 225       same; ours within 5.8 voxels (a different branch)
blob 2       58       218 / 218       Euler -2/-2/-4, components 7/7/5: skimage loses two
======== ============ ============= =======================================================

scikit-image's re-check tests only that the neighbours stay one 26-component, so a candidate
whose neighbours were all deleted (an isolated voxel) or one that opens a tunnel is deleted;
ours re-checks the full simple-point test and keeps the topology of the input on every shape.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage as ndi

from jaxseg_losses.skeleton import _OFFSETS, _simple_and_endpoint, skeletonize
from tests.jit_cache import run_heavy_jit

skimage_morphology = pytest.importorskip("skimage.morphology")
skimage_measure = pytest.importorskip("skimage.measure")

_skel = run_heavy_jit(skeletonize)


def _blobs(rng, shape, sigma, quantile):
    field = ndi.gaussian_filter(rng.random(shape), sigma)
    return field > np.quantile(field, quantile)


def _shapes_2d() -> dict[str, np.ndarray]:
    n = 48
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:n, :n]
    r = np.hypot(yy - 24, xx - 23)
    shapes = {f"blob{i}": _blobs(rng, (n, n), 2.5 + i, 0.4 + 0.1 * i) for i in range(4)}
    shapes["ring"] = (r < 18) & (r > 9)
    shapes["two_rings"] = ((r < 8) & (r > 4)) | ((r < 22) & (r > 15))
    bar = np.zeros((n, n), bool)
    bar[8:26, 3:45] = True
    shapes["thick_bar"] = bar
    shapes["border_bar"] = np.zeros((n, n), bool)
    shapes["border_bar"][:, :12] = True  # touches three image borders
    shapes["noise"] = rng.random((n, n)) > 0.5
    shapes["disk"] = r < 20
    shapes["empty"] = np.zeros((n, n), bool)
    shapes["full"] = np.ones((n, n), bool)
    shapes["pixel"] = np.zeros((n, n), bool)
    shapes["pixel"][5, 7] = True
    return shapes


def _shapes_3d() -> dict[str, np.ndarray]:
    n = 24
    z, y, x = np.mgrid[:n, :n, :n]
    sphere = np.hypot(np.hypot(z - 12, y - 12), x - 12)
    axis = np.ones(3) / np.sqrt(3)
    centred = np.stack([z - 12, y - 12, x - 12], -1)
    return {
        "tube_z": np.hypot(y - 12, x - 11) < 4,
        "tube_x": np.hypot(z - 12, y - 11) < 3.5,
        "tube_diagonal": np.linalg.norm(np.cross(centred, axis), axis=-1) < 3,
        "torus": np.hypot(np.hypot(y - 12, x - 12) - 7, z - 12) < 3,
        "hollow_sphere": (sphere < 10) & (sphere > 6),
        "ball": sphere < 8,
    }


def _other_3d() -> dict[str, np.ndarray]:
    """Blobs, a thick bar and plates thinned from each side (same 24^3 shape: one compile)."""
    n = 24
    rng = np.random.default_rng(1)
    shapes = {f"blob{i}": _blobs(rng, (n, n, n), 2.0, 0.6) for i in range(3)}
    shapes["bar"] = np.zeros((n, n, n), bool)
    shapes["bar"][4:10, 6:14, 2:22] = True
    for axis in range(3):
        index = [slice(2, 7)] * 3
        index[axis] = slice(1, 8)
        shapes[f"plate{axis}"] = np.zeros((n, n, n), bool)
        shapes[f"plate{axis}"][tuple(index)] = True
    return shapes


@functools.cache
def _thinned_3d() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    shapes = {**_shapes_3d(), **_other_3d()}
    ours = np.asarray(_skel(np.stack(list(shapes.values()))))
    return {name: (mask, mine) for (name, mask), mine in zip(shapes.items(), ours, strict=True)}


def _topology(mask: np.ndarray) -> tuple[int, int]:
    """Euler number and 26-connected component count (3-D; 8-connected in 2-D)."""
    conn = mask.ndim
    return (
        int(skimage_measure.euler_number(mask, connectivity=conn)),
        int(skimage_measure.label(mask, connectivity=conn).max()),
    )


def test_2d_equals_skimage():
    shapes = _shapes_2d()
    masks = np.stack(list(shapes.values()))
    ours = np.asarray(_skel(masks))
    for name, mine, mask in zip(shapes, ours, masks, strict=True):
        ref = skimage_morphology.skeletonize(mask)
        assert np.array_equal(mine, ref), (name, int((mine != ref).sum()))
    assert ours[list(shapes).index("ring")].sum() > 0


@pytest.mark.slow
def test_3d_equals_skimage_on_tubes_and_plates():
    thinned = _thinned_3d()
    for name in [*_shapes_3d(), "plate0", "plate1", "plate2"]:
        mask, mine = thinned[name]
        ref = skimage_morphology.skeletonize(mask)
        assert np.array_equal(mine, ref), (name, int((mine != ref).sum()))
        assert 0 < mine.sum() < mask.sum() / 4


def test_3d_blobs_keep_topology_and_stay_close_to_skimage():
    thinned = _thinned_3d()
    close = []
    for name in ["blob0", "blob1", "blob2", "bar"]:
        mask, mine = thinned[name]
        assert not (mine & ~mask).any()
        assert _topology(mine) == _topology(mask)  # the thinning is topology-preserving
        ref = skimage_morphology.skeletonize(mask)
        if ref.any():
            # The mean distance from our voxels to scikit-image's skeleton: most coincide.
            close.append(ndi.distance_transform_edt(~ref)[mine].mean())
        assert abs(int(mine.sum()) - int(ref.sum())) <= 0.1 * mask.sum()
    assert max(close) < 0.5, close
    # Thin: a second thinning changes nothing (no deletable voxel is left).
    ours = np.stack([mine for _, mine in thinned.values()])
    np.testing.assert_array_equal(np.asarray(_skel(ours)), ours)


def _reference_simple(cube: np.ndarray) -> bool:
    """Simple point of a 26-connected object (6-connected background), by the definition
    (Bertrand & Malandain 1994): one 26-component of the object in N26 minus the centre, and one
    6-component of the background in N18 minus the centre that is 6-adjacent to the centre."""
    obj = cube.copy()
    obj[1, 1, 1] = False
    _, n_obj = ndi.label(obj, structure=np.ones((3, 3, 3)))
    n18 = np.array([[[sum(abs(v - 1) for v in (i, j, k)) <= 2 for k in range(3)]
                     for j in range(3)] for i in range(3)])
    bg = ~cube & n18
    bg[1, 1, 1] = False
    labels, _ = ndi.label(bg)  # 6-connectivity
    faces = [(0, 1, 1), (2, 1, 1), (1, 0, 1), (1, 2, 1), (1, 1, 0), (1, 1, 2)]
    touching = {labels[f] for f in faces if labels[f] > 0}
    return n_obj == 1 and len(touching) == 1


def test_simple_point_test_matches_the_definition():
    rng = np.random.default_rng(2)
    cubes = []
    for density in (0.2, 0.4, 0.6, 0.8):
        cubes += [rng.random((3, 3, 3)) < density for _ in range(500)]
    cubes = np.stack(cubes)
    cubes[:, 1, 1, 1] = True
    nb = {d: jnp.asarray(cubes[:, 1 + d[0], 1 + d[1], 1 + d[2]]) for d in _OFFSETS}
    simple, endpoint = jax.jit(_simple_and_endpoint)(nb)
    expected = np.array([_reference_simple(c) for c in cubes])
    assert 0.1 < expected.mean() < 0.9
    np.testing.assert_array_equal(np.asarray(simple), expected)
    np.testing.assert_array_equal(np.asarray(endpoint), cubes.sum(axis=(1, 2, 3)) == 2)


def test_jit_eager_vmap_and_dtypes():
    shapes = _shapes_2d()
    masks = np.stack([shapes["ring"], shapes["blob1"], shapes["thick_bar"]])
    jitted = np.asarray(_skel(masks))
    np.testing.assert_array_equal(np.asarray(skeletonize(masks.astype(np.float32))), jitted)
    np.testing.assert_array_equal(np.asarray(skeletonize(masks.astype(np.int32) * 3)), jitted)
    stacked = np.asarray(jax.vmap(_skel)(masks[:, None]))[:, 0]
    np.testing.assert_array_equal(stacked, jitted)
    assert _skel(masks).dtype == jnp.bool_


def test_no_gradient():
    masks = jnp.asarray(_shapes_2d()["ring"][None], jnp.float32)

    def f(x):
        return jnp.sum(skeletonize(x).astype(jnp.float32) * x)

    grad = jax.grad(f)(masks)
    # Only the explicit factor x carries a gradient: the skeleton itself is a constant.
    np.testing.assert_array_equal(np.asarray(grad), np.asarray(skeletonize(masks), np.float32))


@pytest.mark.parametrize("max_iterations", [0, 1, 3])
def test_truncated_thinning_keeps_topology(max_iterations):
    shapes = _shapes_2d()
    masks = np.stack([shapes["ring"], shapes["two_rings"], shapes["blob0"]])
    out = np.asarray(skeletonize(masks, max_iterations=max_iterations))
    full = np.asarray(_skel(masks))
    for partial, mask, skel in zip(out, masks, full, strict=True):
        assert _topology(partial) == _topology(mask)
        assert not (partial & ~mask).any() and not (skel & ~partial).any()
    if max_iterations == 0:
        np.testing.assert_array_equal(out, masks)


def test_bad_input():
    with pytest.raises(ValueError, match="masks"):
        skeletonize(jnp.zeros((4, 4)))
    with pytest.raises(ValueError, match="masks"):
        skeletonize(jnp.zeros((1, 2, 2, 2, 2)))
    with pytest.raises(TypeError, match="max_iterations"):
        skeletonize(jnp.zeros((1, 4, 4)), max_iterations=2.0)
    with pytest.raises(ValueError, match="max_iterations"):
        skeletonize(jnp.zeros((1, 4, 4)), max_iterations=-1)


@pytest.mark.parametrize("shape", [(2, 6, 8, 10), (1, 7, 5, 9)])
def test_tpu_subfield_forms_equal_the_reshapes(shape):
    """The TPU's strided-slice and interior-padding forms of the subfield split and merge (run
    here on the CPU) equal the reshape-and-transpose forms, odd sides included."""
    from jaxseg_losses import skeleton  # noqa: PLC0415

    x = np.random.default_rng(sum(shape)).random(shape) > 0.5
    padded = jnp.pad(x, [(0, 0)] + [(0, n % 2) for n in shape[1:]])
    fields = skeleton._to_subfields_reshaped(padded)
    np.testing.assert_array_equal(skeleton._to_subfields_strided(padded), fields)
    merged = skeleton._from_subfields_reshaped(fields)
    np.testing.assert_array_equal(skeleton._from_subfields_dilated(fields), merged)
    np.testing.assert_array_equal(merged[:, : shape[1], : shape[2], : shape[3]], x)


def test_accelerator_neighbour_starts_equal_the_per_offset_ones():
    """GPU/TPU compute the neighbour slices' starts per axis (9 scalars), the CPU per offset:
    the same starts for every parity, and the same 3-D skeleton with the accelerator form (run
    here on the CPU)."""
    from jaxseg_losses import skeleton  # noqa: PLC0415

    for parity in skeleton._PARITIES:
        p = jnp.asarray(parity, jnp.int32)
        per_offset = [[int(v) for v in s] for s in skeleton._starts_per_offset(p)]
        per_axis = [[int(v) for v in s] for s in skeleton._starts_per_axis(p)]
        assert per_axis == per_offset, parity
    masks = np.random.default_rng(7).random((2, 9, 10, 11)) > 0.4
    want = jax.jit(skeletonize)(masks)
    calls = []

    def accelerator_form(*args, cpu, accelerator, tpu=None):
        calls.append(accelerator)
        return accelerator(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(skeleton, "per_platform", accelerator_form)
        got = jax.jit(lambda m: skeletonize(m))(masks)
    assert calls and all(form is skeleton._starts_per_axis for form in calls)
    np.testing.assert_array_equal(got, want)
    assert 0 < int(want.sum()) < int(masks.sum())
