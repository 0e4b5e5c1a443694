"""connected_components: equal to scipy.ndimage.label (labels and numbering), to
connected-components-3d and scikit-image up to the numbering, and to a flood fill written here
from the definition; adversarial paths (spiral, serpentines), edge cases, jit / vmap, bad input."""

from __future__ import annotations

import collections
import itertools

import cc3d
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from skimage import measure

from jaxseg_losses.components import _label, connected_components
from tests.shapes import serpentine, spiral

# neighbour count -> (spatial dims, largest number of non-zero offset components)
CONNECTIVITIES = {4: (2, 1), 8: (2, 2), 6: (3, 1), 18: (3, 2), 26: (3, 3)}


def flood_fill(image: np.ndarray, nonzero: int) -> tuple[np.ndarray, int]:
    """Reference from the definition: breadth-first search from each unlabelled foreground
    element in raster order, over offsets with at most ``nonzero`` non-zero components."""
    offsets = [d for d in itertools.product((-1, 0, 1), repeat=image.ndim)
               if 0 < sum(map(abs, d)) <= nonzero]
    labels = np.zeros(image.shape, np.int32)
    count = 0
    for start in zip(*np.nonzero(image), strict=True):
        if labels[start]:
            continue
        count += 1
        labels[start] = count
        queue = collections.deque([start])
        while queue:
            u = queue.popleft()
            for d in offsets:
                v = tuple(a + b for a, b in zip(u, d, strict=True))
                inside = all(0 <= a < n for a, n in zip(v, image.shape, strict=True))
                if inside and image[v] and not labels[v]:
                    labels[v] = count
                    queue.append(v)
    return labels, count


def first_occurrence(labels: np.ndarray) -> np.ndarray:
    """Renumbers a label map 1..n in raster order of each label's first element (0 kept)."""
    flat = labels.reshape(-1)
    values, first = np.unique(flat[flat > 0], return_index=True)
    order = values[np.argsort(first)]
    table = np.zeros(flat.max() + 1, np.int32)
    table[order] = np.arange(1, len(order) + 1)
    return table[labels]


def blobs(seed: int, shape, density: float, sigma: float = 1.0) -> np.ndarray:
    """Random blobs: smoothed noise thresholded to the given foreground fraction."""
    noise = np.random.default_rng(seed).normal(size=shape)
    smooth = ndimage.gaussian_filter(noise, [0] + [sigma] * (len(shape) - 1))
    return smooth > np.quantile(smooth, 1 - density)


def serpentine_3d(n: int) -> np.ndarray:
    """Serpentine planes (odd ``n``: each ends in the corner opposite its start), every other
    one rotated by 180 degrees and joined through one element: one path through the volume."""
    assert n % 2 == 1
    volume = np.zeros((n, n, n), bool)
    plane = serpentine(n)
    for z in range(0, n, 2):
        volume[z] = plane if (z // 2) % 2 == 0 else plane[::-1, ::-1]
    for z in range(1, n, 2):
        corner = n - 1 if (z // 2) % 2 == 0 else 0
        volume[z, corner, corner] = True
    return volume


def check_against_peers(mask: np.ndarray, connectivity: int) -> None:
    labels, counts = connected_components(mask, connectivity=connectivity)
    labels, counts = np.asarray(labels), np.asarray(counts)
    assert labels.dtype == np.int32 and counts.dtype == np.int32
    assert counts.shape == (mask.shape[0],)
    nsp, nonzero = CONNECTIVITIES[connectivity] if mask.ndim > 2 else (1, 1)
    structure = ndimage.generate_binary_structure(mask.ndim - 1, nonzero)
    for b, image in enumerate(mask):
        expected, n = ndimage.label(image, structure)
        np.testing.assert_array_equal(labels[b], expected)  # SciPy's numbering exactly
        assert counts[b] == n
        if mask.ndim > 2:
            peer = cc3d.connected_components(image.astype(np.uint8), connectivity=connectivity)
            np.testing.assert_array_equal(labels[b], first_occurrence(peer))
            sk = measure.label(image, connectivity=nonzero, background=0)
            np.testing.assert_array_equal(labels[b], first_occurrence(sk))


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("density", [0.3, 0.5, 0.6, 0.8])
def test_2d_random_equals_scipy_cc3d_skimage(connectivity, density):
    mask = np.random.default_rng(int(density * 10)).random((3, 19, 23)) < density
    check_against_peers(mask, connectivity)


@pytest.mark.parametrize("connectivity", [6, 18, 26])
@pytest.mark.parametrize("density", [0.2, 0.35, 0.5])
def test_3d_random_equals_scipy_cc3d_skimage(connectivity, density):
    mask = np.random.default_rng(int(density * 10)).random((2, 9, 11, 10)) < density
    check_against_peers(mask, connectivity)


@pytest.mark.parametrize("connectivity", [4, 8, 6, 26])
def test_blobs_equal_scipy_and_flood_fill(connectivity):
    nsp = CONNECTIVITIES[connectivity][0]
    shape = (2, 40, 37) if nsp == 2 else (2, 14, 15, 13)
    mask = blobs(connectivity, shape, 0.4)
    check_against_peers(mask, connectivity)
    labels, counts = connected_components(mask, connectivity=connectivity)
    for b in range(shape[0]):
        expected, n = flood_fill(mask[b], CONNECTIVITIES[connectivity][1])
        np.testing.assert_array_equal(np.asarray(labels[b]), expected)
        assert int(counts[b]) == n


@pytest.mark.parametrize("make", [spiral, serpentine, lambda n: serpentine(n).T,
                                  lambda n: spiral(n)[::-1]])
def test_adversarial_paths_2d(make):
    """Single paths of ~n^2/2 elements in every orientation: one component, exact labels, and
    few rounds (logarithmic in the path length, not proportional to it)."""
    image = make(64)
    mask = np.stack([image, ~image])
    for connectivity in (4, 8):
        check_against_peers(mask, connectivity)
        _, counts, rounds = _label(jnp.asarray(mask), CONNECTIVITIES[connectivity][1])
        assert counts[0] == 1
        assert int(rounds) <= 20, int(rounds)  # the path has ~2000 elements


def test_adversarial_path_3d():
    volume = serpentine_3d(13)
    mask = np.stack([volume, ~volume])
    for connectivity in (6, 26):
        check_against_peers(mask, connectivity)
    labels, counts = connected_components(volume[None], connectivity=6)
    assert int(counts[0]) == 1


def test_large_adversarial_inputs_few_rounds():
    """At 128^2 the spiral is a path of ~8k elements; the rounds stay below 2 log2 of it."""
    for image in (spiral(128), serpentine(128).T):
        labels, counts, rounds = _label(jnp.asarray(image[None]), 2)
        np.testing.assert_array_equal(np.asarray(labels[0]), ndimage.label(image)[0])
        assert int(counts[0]) == 1 and int(rounds) <= 2 * np.log2(image.sum())


def test_empty_full_single_and_mixed_batch():
    mask = np.zeros((4, 6, 7), bool)
    mask[1] = True
    mask[2, 3, 4] = True
    mask[3, 0, 0] = mask[3, 5, 6] = True
    labels, counts = connected_components(mask)
    labels = np.asarray(labels)
    np.testing.assert_array_equal(counts, [0, 1, 1, 2])
    np.testing.assert_array_equal(labels[0], 0)
    np.testing.assert_array_equal(labels[1], 1)
    assert labels[2].sum() == 1 and labels[2, 3, 4] == 1
    assert labels[3, 0, 0] == 1 and labels[3, 5, 6] == 2  # numbering restarts per image


def test_zero_size_and_one_dimensional():
    labels, counts = connected_components(np.zeros((0, 5, 5), bool))
    assert labels.shape == (0, 5, 5) and counts.shape == (0,)
    row = np.array([[1, 1, 0, 1, 0, 0, 1, 1, 1]])
    labels, counts = connected_components(row, connectivity=2)
    np.testing.assert_array_equal(labels, ndimage.label(row[0])[0][None])
    assert counts.tolist() == [3]


def test_default_is_full_connectivity_and_input_dtypes():
    mask = np.random.default_rng(3).random((2, 12, 13)) < 0.45
    full = np.asarray(connected_components(mask)[0])
    np.testing.assert_array_equal(full, np.asarray(connected_components(mask, connectivity=8)[0]))
    for as_dtype in (np.int32, np.float32, np.uint8):
        np.testing.assert_array_equal(
            np.asarray(connected_components(mask.astype(as_dtype) * 3)[0]), full
        )
    volume = np.random.default_rng(4).random((1, 6, 7, 8)) < 0.3
    np.testing.assert_array_equal(np.asarray(connected_components(volume)[0]),
                                  np.asarray(connected_components(volume, connectivity=26)[0]))


def test_jit_and_vmap():
    mask = np.random.default_rng(5).random((3, 2, 10, 11)) < 0.5  # (V, B, H, W)
    eager = [connected_components(m, connectivity=4) for m in mask]
    jitted = jax.jit(lambda m: connected_components(m, connectivity=4))
    mapped = jax.vmap(jitted)(mask)
    for v in range(mask.shape[0]):
        np.testing.assert_array_equal(mapped[0][v], eager[v][0])
        np.testing.assert_array_equal(mapped[1][v], eager[v][1])
    np.testing.assert_array_equal(jitted(mask[0])[0], eager[0][0])


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 2**31 - 1),
    st.sampled_from([(2, 1, 9), (1, 7, 8), (1, 5, 4, 6)]),
    st.floats(0.1, 0.9),
)
def test_property_equals_flood_fill(seed, shape, density):
    mask = np.random.default_rng(seed).random(shape) < density
    for nonzero in range(1, len(shape)):
        labels, counts, _ = _label(jnp.asarray(mask), nonzero)
        for b in range(shape[0]):
            expected, n = flood_fill(mask[b], nonzero)
            np.testing.assert_array_equal(np.asarray(labels[b]), expected)
            assert int(counts[b]) == n


@pytest.mark.parametrize(
    ("mask", "kwargs", "match"),
    [
        (np.ones(5), {}, "rank >= 2"),
        (np.ones((1, 4, 4)), {"connectivity": 6}, "connectivity"),
        (np.ones((1, 4, 4, 4)), {"connectivity": 8}, "connectivity"),
        (np.ones((1, 4, 4)), {"connectivity": True}, "connectivity"),
    ],
)
def test_bad_input(mask, kwargs, match):
    with pytest.raises(ValueError, match=match):
        connected_components(mask, **kwargs)


@pytest.mark.parametrize("limit", [1, 437, 1000, 10**6])
def test_tpu_hooking_in_pieces_equals_the_default(limit, monkeypatch):
    """The TPU's segment minimum in pieces of whole images (one image, two, a piece larger than
    the batch) equals one segment minimum over the batch, for pointers within their image; the
    labelling with every ``platform_dependent`` taking its ``tpu`` branch (run here on the CPU)
    gives the default form's labels and counts."""
    import jaxseg_losses.components as components  # noqa: PLC0415
    from jaxseg_losses import _numerics  # noqa: PLC0415

    rng = np.random.default_rng(limit)
    image, batch = 19 * 23, 5
    base = np.repeat(np.arange(batch) * image, image)
    f = jnp.asarray(base + rng.integers(0, image, batch * image), jnp.int32)
    m = jnp.asarray(rng.integers(0, batch * image, batch * image), jnp.int32)
    monkeypatch.setattr(_numerics, "TPU_PIECE_ELEMENTS", limit)
    want_min = jax.ops.segment_min(m, f, num_segments=f.shape[0])
    np.testing.assert_array_equal(components._segment_min(m, f, image), want_min)
    np.testing.assert_array_equal(components._segment_min(m, f), want_min)
    mask = rng.random((batch, 19, 23)) < 0.55
    want = components._label(jnp.asarray(mask), 2)
    monkeypatch.setattr(components.lax, "platform_dependent",
                        lambda *args, tpu=None, default=None, **_: (tpu or default)(*args))
    got = components._label.__wrapped__(jnp.asarray(mask), 2)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize(("shape", "nonzero"), [((4, 19, 23), 1), ((4, 19, 23), 2),
                                                 ((2, 9, 8, 7), 1), ((2, 9, 8, 7), 3)])
def test_gpu_hooking_in_place_equals_the_default(shape, nonzero, monkeypatch):
    """XLA:GPU's round (a scatter-minimum onto ``min(f, m)``, run here on the CPU with every
    ``platform_dependent`` taking its ``cuda`` branch) gives the default form's labels, counts
    and number of rounds, for the cross and the full neighbourhood."""
    import jaxseg_losses.components as components  # noqa: PLC0415

    mask = jnp.asarray(np.random.default_rng(len(shape) + nonzero).random(shape) < 0.55)
    want = components._label(mask, nonzero)
    monkeypatch.setattr(components.lax, "platform_dependent",
                        lambda *args, cuda=None, default=None, **_: (cuda or default)(*args))
    got = components._label.__wrapped__(mask, nonzero)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    # 4 rounds per stop test on GPU, 1 on the CPU: the same rounds, rounded up to 4.
    assert got[2] == -(-want[2] // 4) * 4
