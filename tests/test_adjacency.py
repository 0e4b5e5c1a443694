"""Adjacency matrices, the adjacency prior and the non-adjacency loss (Ganaye et al.).

The NumPy references below are written from the definitions (loops over neighbour offsets,
overlapping windows without padding), not from the JAX code (padding and shifted slices).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.experimental import checkify
from jax.test_util import check_grads

from jaxseg_losses.adjacency import (
    AdjacencyPriorState,
    adjacency_matrix,
    adjacency_prior,
    allowed_pairs,
    forbidden_pairs,
    nonadjacency_term,
    soft_adjacency,
)
from tests.helpers import one_hot_np, random_labels, random_logits, sigmoid_np, softmax_np
from tests.jit_cache import eager_calls, jl

# Compiled once per options and shapes (tests/jit_cache.py): eager calls cost seconds.

C = 4
IGNORE = 255
# Neighbour count -> largest number of non-zero offset components, per number of spatial axes.
NEIGHBOURHOODS = {1: {2: 1}, 2: {4: 1, 8: 2}, 3: {6: 1, 18: 2, 26: 3}}

# --------------------------------------------------------------------------- NumPy references


def offsets_np(num_spatial, connectivity, include_self=False):
    max_nonzero = NEIGHBOURHOODS[num_spatial][connectivity]
    out = []
    for index in np.ndindex(*(3,) * num_spatial):
        d = tuple(int(i) - 1 for i in index)
        nonzero = sum(v != 0 for v in d)
        if 0 < nonzero <= max_nonzero or (include_self and nonzero == 0):
            out.append(d)
    return out


def pair_windows(shape, d):
    """Index windows of the pixels x and x + d, both inside an image of ``shape``."""
    src = tuple(slice(max(0, -di), s - max(0, di)) for s, di in zip(shape, d, strict=True))
    dst = tuple(slice(max(0, di), s - max(0, -di)) for s, di in zip(shape, d, strict=True))
    return src, dst


def label_adjacency_np(y, num_classes, offsets, ignore_index=None):
    """Ordered neighbour-pair counts per example, by np.add.at over each offset's window."""
    out = np.zeros((y.shape[0], num_classes, num_classes), np.int64)
    for b in range(y.shape[0]):
        for d in offsets:
            src, dst = pair_windows(y.shape[1:], d)
            a, c = y[b][src].ravel(), y[b][dst].ravel()
            ok = np.ones_like(a, bool) if ignore_index is None else (a != ignore_index) & (
                c != ignore_index
            )
            np.add.at(out[b], (a[ok], c[ok]), 1)
    return out


def soft_adjacency_np(p, offsets, valid=None):
    """sum_x v(x) p_i(x) v(x+d) p_j(x+d), float64, per example."""
    p = np.asarray(p, np.float64)
    valid = np.ones(p.shape[:-1]) if valid is None else np.asarray(valid, np.float64)
    q = p * valid[..., None]
    out = np.zeros((p.shape[0], p.shape[-1], p.shape[-1]))
    for b in range(p.shape[0]):
        for d in offsets:
            src, dst = pair_windows(p.shape[1:-1], d)
            a = q[b][src].reshape(-1, p.shape[-1])
            c = q[b][dst].reshape(-1, p.shape[-1])
            out[b] += a.T @ c
    return out


def normalised_np(counts, offsets, valid):
    pixels = np.asarray(valid, np.float64).reshape(len(counts), -1).sum(1)
    return counts / (len(offsets) * pixels)[:, None, None]


def loss_np(z, prior, offsets, *, mode="multiclass", valid=None, weight=1.0):
    p = softmax_np(z) if mode == "multiclass" else sigmoid_np(z)
    valid = np.ones(z.shape[:-1]) if valid is None else valid
    a = normalised_np(soft_adjacency_np(p, offsets, valid), offsets, valid)
    f = (np.asarray(prior) == 0).astype(np.float64)
    return weight * (a * f).sum((1, 2)) / f.sum()


def reference_code_estimator_np(p):
    """trypag/NonAdjLoss AdjacencyEstimator on (B, H, W, K): zero-padded 3x3 box mean / 9."""
    box = np.stack(
        [
            [scipy.ndimage.convolve(p[b, ..., k], np.ones((3, 3)), mode="constant") / 9
             for k in range(p.shape[-1])]
            for b in range(p.shape[0])
        ]
    )  # (B, K, H, W)
    return np.einsum("bhwi,bjhw->ij", p, box) / (p.shape[0] * p.shape[1] * p.shape[2])


def two_regions(shape, num_classes=3, left=1, right=2):
    """Labels (1, *shape): ``left`` on the first half of the last axis, ``right`` after it."""
    y = np.full((1, *shape), left, np.int32)
    y[..., shape[-1] // 2 :] = right
    return y


# --------------------------------------------------------------------------- adjacency counts

# (shape, connectivity, include_self): the separable full box (2, 8, 26) and the shifted
# slices (4, 6, 18), with and without the centre pixel.
CASES = [((2, 9), 2, True), ((2, 5, 6), 4, False), ((2, 5, 6), 8, True), ((2, 3, 4, 5), 6, False),
         ((2, 3, 4, 5), 18, True), ((2, 3, 4, 5), 26, False)]


@pytest.mark.parametrize("shape, connectivity, include_self", CASES)
def test_label_adjacency_matches_numpy_and_soft_adjacency_of_one_hot(
    shape, connectivity, include_self
):
    y = random_labels(len(shape) + connectivity, shape, C)
    y[0].flat[:3] = IGNORE
    kept = y != IGNORE
    offsets = offsets_np(len(shape) - 1, connectivity, include_self)
    ref = label_adjacency_np(y, C, offsets, IGNORE)
    counts = adjacency_matrix(
        y, num_classes=C, connectivity=connectivity, ignore_index=IGNORE,
        include_self=include_self,
    )
    assert counts.dtype == jnp.int32 and counts.shape == (2, C, C)
    np.testing.assert_array_equal(counts, ref)
    np.testing.assert_array_equal(counts, np.swapaxes(counts, 1, 2))  # symmetric
    normalised = adjacency_matrix(
        y, num_classes=C, connectivity=connectivity, ignore_index=IGNORE,
        include_self=include_self, normalize=True,
    )
    np.testing.assert_allclose(normalised, normalised_np(ref, offsets, kept), rtol=1e-6)
    # One-hot "prediction" (ignored pixels masked out): the same matrices, exactly.
    one_hot = (one_hot_np(np.where(kept, y, 0), C) * kept[..., None]).astype(np.float32)
    for normalize, expected in ((False, counts), (True, normalised)):
        soft = soft_adjacency(
            one_hot, connectivity=connectivity, include_self=include_self, mask=kept,
            normalize=normalize,
        )
        assert soft.dtype == jnp.float32
        np.testing.assert_array_equal(soft, np.asarray(expected, np.float32))
    # Dense one-hot labels count the same pairs (float32).
    dense = adjacency_matrix(one_hot, connectivity=connectivity, include_self=include_self)
    unmasked = label_adjacency_np(np.where(kept, y, -1), C + 1, offsets, -1)[:, :C, :C]
    np.testing.assert_array_equal(dense, unmasked.astype(np.float32))


def test_default_connectivity_is_the_full_neighbourhood():
    y2, y3 = random_labels(1, (1, 4, 5), 3), random_labels(2, (1, 3, 3, 4), 3)
    np.testing.assert_array_equal(
        adjacency_matrix(y2, num_classes=3), adjacency_matrix(y2, num_classes=3, connectivity=8)
    )
    np.testing.assert_array_equal(
        adjacency_matrix(y3, num_classes=3), adjacency_matrix(y3, num_classes=3, connectivity=26)
    )
    # 4-connectivity sees no diagonal contact; 8-connectivity does.
    diagonal = np.array([[[1, 0], [0, 2]]])
    assert adjacency_matrix(diagonal, num_classes=3, connectivity=4)[0, 1, 2] == 0
    assert adjacency_matrix(diagonal, num_classes=3)[0, 1, 2] == 1


@settings(max_examples=8, deadline=None)
@given(
    dims=st.sampled_from([(3, 4), (2, 3, 3)]),
    seed=st.integers(0, 10_000),
    full=st.booleans(),
)
def test_property_one_hot_soft_equals_counts_and_totals(dims, seed, full):
    connectivity = {2: (4, 8), 3: (6, 26)}[len(dims)][int(full)]
    y = random_labels(seed, (1, *dims), 3)
    counts = np.asarray(adjacency_matrix(y, num_classes=3, connectivity=connectivity))
    soft = soft_adjacency(one_hot_np(y, 3).astype(np.float32), connectivity=connectivity)
    np.testing.assert_array_equal(soft, counts.astype(np.float32))
    np.testing.assert_array_equal(counts, np.swapaxes(counts, 1, 2))
    # Total = number of ordered in-image neighbour pairs, whatever the labels.
    pairs = sum(
        np.prod([s - abs(di) for s, di in zip(dims, d, strict=True)])
        for d in offsets_np(len(dims), connectivity)
    )
    assert counts.sum() == pairs


def test_soft_adjacency_matches_reference_and_is_symmetric():
    rng = np.random.default_rng(3)
    for shape, connectivity in (((2, 5, 6), 4), ((2, 5, 6), 8), ((1, 3, 4, 4), 18)):
        p = softmax_np(random_logits(4, shape + (C,))).astype(np.float32)
        valid = rng.random(shape).astype(np.float32) * (rng.random(shape) > 0.2)
        offsets = offsets_np(len(shape) - 1, connectivity)
        for normalize in (False, True):
            ours = soft_adjacency(p, connectivity=connectivity, mask=valid, normalize=normalize)
            ref = soft_adjacency_np(p, offsets, valid)
            if normalize:
                ref = normalised_np(ref, offsets, valid)
            np.testing.assert_allclose(ours, ref, rtol=2e-5, atol=1e-7)
            np.testing.assert_allclose(ours, np.swapaxes(ours, 1, 2), rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------- the prior


def labelled_set():
    """(4, 6, 7) maps: classes 1 and 2 always separated by background 0; class 3 absent."""
    y = np.zeros((4, 6, 7), np.int32)
    for b in range(4):
        y[b, 1 : 3 + b % 2, 0:2] = 1
        y[b, 1:4, 4 : 6 + b % 2] = 2
    return y


def test_prior_accumulates_a_stream_of_batches():
    y = labelled_set()
    y[3, 5, :] = IGNORE
    prior = adjacency_prior(C, ignore_index=IGNORE)
    state = prior.init()
    assert isinstance(state, AdjacencyPriorState) and state.counts.shape == (C, C)
    for batch in (y[:2], y[2:]):  # NumPy batches, eagerly
        state = prior.update(state, batch)
    total = label_adjacency_np(y, C, offsets_np(2, 8), IGNORE).sum(0)
    np.testing.assert_array_equal(state.counts, total.astype(np.float32))
    assert float(state.num_pixels) == (y != IGNORE).sum()
    expected_forbidden = total == 0
    assert expected_forbidden[1, 2] and expected_forbidden[3].all() and not expected_forbidden[0, 1]
    np.testing.assert_array_equal(forbidden_pairs(state), expected_forbidden)
    np.testing.assert_array_equal(allowed_pairs(state), ~expected_forbidden)
    np.testing.assert_array_equal(allowed_pairs(state.counts), ~expected_forbidden)
    rare = total.min(where=total > 0, initial=10**9)  # the rarest contact seen
    np.testing.assert_array_equal(allowed_pairs(state, count_threshold=rare), total > rare)
    assert allowed_pairs(state, count_threshold=rare).sum() < allowed_pairs(state).sum()
    # jit(update) gives the same state; so do dense (one-hot) label batches.
    jitted = jax.jit(prior.update)
    state_jit = jitted(jitted(prior.init(), y[:2]), y[2:])
    np.testing.assert_array_equal(state_jit.counts, state.counts)
    dense = adjacency_prior(C)
    clean = np.where(y == IGNORE, 0, y)
    dense_state = dense.update(dense.init(), one_hot_np(clean[:2], C).astype(np.float32))
    int_state = dense.update(dense.init(), clean[:2])
    np.testing.assert_array_equal(dense_state.counts, int_state.counts)
    # 3D volumes: 26-neighbourhood by default.
    vol = np.stack([y[:2, :3], y[2:, :3]])  # (2, 2, 3, 7)
    vol = np.where(vol == IGNORE, 0, vol)
    vol_state = dense.update(dense.init(), vol)
    np.testing.assert_array_equal(
        vol_state.counts, label_adjacency_np(vol, C, offsets_np(3, 26)).sum(0)
    )


# --------------------------------------------------------------------------- the loss


@pytest.mark.parametrize("shape", [(2, 6, 7), (2, 3, 6, 7)])
def test_prediction_respecting_the_prior_has_zero_loss(shape):
    y = np.zeros(shape, np.int32)
    y[..., 1:3, 0:2] = 1
    y[..., 1:4, 4:6] = 2
    y[1, ..., 5, :] = 3  # class 3 touches 0 only
    prior = adjacency_prior(C).update(adjacency_prior(C).init(), y)
    assert forbidden_pairs(prior)[1, 2]
    one_hot = one_hot_np(y, C).astype(np.float32)
    loss = jl.nonadjacency_loss(one_hot, prior, from_logits=False)
    assert loss.shape == (2,) and np.all(np.asarray(loss) == 0.0)
    logits = (1e4 * (2 * one_hot - 1)).astype(np.float32)
    value, grad = jax.value_and_grad(lambda z: jl.nonadjacency_loss(z, prior).sum())(logits)
    assert float(value) == 0.0 and np.all(np.isfinite(grad))


@pytest.mark.parametrize("spatial", [(4, 6), (2, 4, 6)])
def test_forbidden_contact_is_penalised_and_gradient_pushes_apart(spatial):
    y = two_regions(spatial)  # class 1 | class 2, touching along the middle of the last axis
    prior = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 1]])
    logits = (4.0 * one_hot_np(y, 3)).astype(np.float32)
    loss_fn = lambda z: jl.nonadjacency_loss(z, prior)[0]
    value, grad = jax.value_and_grad(loss_fn)(logits)
    assert float(value) > 0
    grad = np.asarray(grad)[0]
    mid = spatial[-1] // 2
    left, right = grad[..., mid - 1, :], grad[..., mid, :]  # the contact pixels
    assert np.all(left[..., 1] > 0) and np.all(right[..., 2] > 0)  # less of the touching class
    assert np.all(left[..., 0] < 0) and np.all(right[..., 0] < 0)  # more of the allowed one
    # The background (allowed next to both) is pushed up most at the contact.
    background = grad[..., 0].reshape(-1, spatial[-1]).mean(0)
    assert np.argmin(background) in (mid - 1, mid)
    step = 2.0 / np.abs(grad).max()
    stepped = logits - step * np.asarray(jax.grad(loss_fn)(logits))
    assert float(loss_fn(stepped)) < float(value)
    p_before = softmax_np(logits)[0, ..., mid - 1 : mid + 1, 0]
    p_after = softmax_np(stepped)[0, ..., mid - 1 : mid + 1, 0]
    assert np.all(p_after > p_before)  # a background margin opens between the two classes


def test_loss_matches_numpy_reference():
    rng = np.random.default_rng(7)
    prior = np.ones((C, C))
    prior[0, 3] = prior[3, 0] = prior[1, 2] = prior[2, 1] = prior[2, 2] = 0
    for shape, connectivity in (((2, 5, 6), 4), ((2, 5, 6), 8), ((2, 3, 4, 4), 26)):
        z = random_logits(8, shape + (C,))
        valid = (rng.random(shape) > 0.3).astype(np.float32)
        offsets = offsets_np(len(shape) - 1, connectivity)
        for mode in ("multiclass", "multilabel"):
            ours = jl.nonadjacency_loss(
                z, prior, mode=mode, connectivity=connectivity, mask=valid, weight=2.5
            )
            ref = loss_np(z, prior, offsets, mode=mode, valid=valid, weight=2.5)
            np.testing.assert_allclose(ours, ref, rtol=1e-5)
            assert np.all(np.asarray(ours) >= 0) and np.all(np.asarray(ours) <= 2.5)


def test_reference_code_estimator_and_uniform_values():
    prior = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 1]])
    forbidden = (prior == 0).astype(np.float64)
    # include_self=True in 2D is the reference estimator (3x3 box / 9, zero padding).
    z = random_logits(9, (2, 5, 6, 3))
    a_ref = reference_code_estimator_np(softmax_np(z))
    ours = jl.nonadjacency_loss(z, prior, include_self=True)
    np.testing.assert_allclose(ours.mean(), (forbidden * a_ref).sum() / forbidden.sum(), rtol=1e-5)
    # LOSS_SPECS section 20 sanity value: uniform p = 1/3 on 8x8, reference estimator.
    uniform = np.zeros((1, 8, 8, 3), np.float32)
    np.testing.assert_allclose(jl.nonadjacency_loss(uniform, prior, include_self=True), 0.093364,
                               atol=1e-6)
    # Adapted to the default (centre excluded): (1/K^2) mean_x n(x) / |N|, n(x) = in-image
    # neighbours (counted by the windows), for 2D 8x8 / 8 and a 3D 3x4x5 volume / 26.
    for spatial, slots in (((8, 8), 8), ((3, 4, 5), 26)):
        ones = np.ones((1, *spatial))
        neighbours = sum(ones[0][pair_windows(spatial, d)[0]].sum()
                         for d in offsets_np(len(spatial), slots))
        expected = neighbours / ones.size / slots / 9
        got = jl.nonadjacency_loss(np.zeros((1, *spatial, 3), np.float32), prior)
        np.testing.assert_allclose(got, [expected], rtol=1e-6)
    np.testing.assert_allclose(expected, loss_np(np.zeros((1, 3, 4, 5, 3)), prior,
                                                 offsets_np(3, 26)), rtol=1e-12)
    np.testing.assert_allclose(
        jl.nonadjacency_loss(np.zeros((1, 8, 8, 3), np.float32), prior), 6.5625 / 8 / 9, rtol=1e-6
    )


def test_loss_properties_weight_mask_and_empty_cases():
    prior = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 1]])
    z = random_logits(10, (2, 5, 6, 3))
    base = jl.nonadjacency_loss(z, prior)
    np.testing.assert_allclose(jl.nonadjacency_loss(z, prior, weight=3.0), 3.0 * base, rtol=1e-6)
    assert np.all(np.asarray(jl.nonadjacency_loss(z, np.ones((3, 3)))) == 0)  # nothing forbidden
    # A bool prior (allowed pairs) and an AdjacencyPriorState mean the same thing.
    np.testing.assert_array_equal(jl.nonadjacency_loss(z, prior > 0), base)
    state = AdjacencyPriorState(jnp.asarray(prior, jnp.float32), jnp.asarray(1.0))
    np.testing.assert_array_equal(jl.nonadjacency_loss(z, state), base)
    # Masked pixels change neither the value nor the gradient.
    mask = np.ones((2, 5, 6), np.float32)
    mask[:, :, :2] = 0
    fn = lambda zz: jl.nonadjacency_loss(zz, prior, mask=mask).sum()
    z2 = z.copy()
    z2[:, :, :2] = random_logits(11, z2[:, :, :2].shape)
    np.testing.assert_allclose(fn(z2), fn(z), rtol=1e-6)
    grad = np.asarray(jax.grad(fn)(z))
    assert np.all(grad[:, :, :2] == 0) and np.any(grad[:, :, 2:] != 0)
    # An all-masked example: 0 with a zero gradient.
    empty = mask.copy()
    empty[1] = 0
    assert float(jl.nonadjacency_loss(z, prior, mask=empty)[1]) == 0
    grad = jax.grad(lambda zz: jl.nonadjacency_loss(zz, prior, mask=empty)[1])(z)
    assert np.all(np.asarray(grad) == 0)
    # Extreme logits: finite value and gradient.
    extreme = (np.sign(z) * 1e4).astype(np.float32)
    value, grad = jax.value_and_grad(lambda zz: jl.nonadjacency_loss(zz, prior).sum())(extreme)
    assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad)))


def test_jit_vmap_bf16_and_gradients():
    prior = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 1]], np.float32)
    z = random_logits(12, (2, 5, 6, 3))
    eager = jl.nonadjacency_loss(z, prior)
    jitted = jax.jit(jl.nonadjacency_loss, static_argnames=("connectivity",))
    np.testing.assert_allclose(jitted(z, prior), eager, rtol=1e-6)
    stacked = np.stack([z, z[::-1]])
    batched = jax.vmap(lambda zz: jl.nonadjacency_loss(zz, prior))(stacked)
    np.testing.assert_allclose(batched[0], eager, rtol=1e-6)
    np.testing.assert_allclose(batched[1], eager[::-1], rtol=1e-6)
    half = jl.nonadjacency_loss(z.astype(jnp.bfloat16), prior)
    assert half.dtype == jnp.float32
    np.testing.assert_allclose(half, eager, rtol=3e-2)
    counts = jax.jit(adjacency_matrix, static_argnames=("num_classes", "normalize"))(
        random_labels(12, (2, 5, 6), 3), num_classes=3, normalize=True
    )
    assert counts.shape == (2, 3, 3)
    small = random_logits(13, (1, 3, 3, 3), scale=1.0)
    check_grads(jax.jit(lambda zz: jl.nonadjacency_loss(zz, prior)), (small,), order=1,
                modes=("fwd", "rev"))



def test_nonadjacency_term_ignores_labels():
    prior = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 1]])
    z = random_logits(15, (2, 5, 6, 3))
    term = nonadjacency_term(prior, connectivity=4, weight=2.0)
    np.testing.assert_array_equal(
        term(z, random_labels(0, (2, 5, 6), 3)),
        jl.nonadjacency_loss(z, prior, connectivity=4, weight=2.0),
    )
    mask = np.pad(np.ones((2, 4, 6)), ((0, 0), (1, 0), (0, 0)))  # first row masked
    np.testing.assert_array_equal(
        term(z, None, mask=mask, weight=1.0),
        jl.nonadjacency_loss(z, prior, connectivity=4, mask=mask),
    )


# --------------------------------------------------------------------------- bad input


@eager_calls()  # value errors are raised by eager calls
def test_bad_inputs_raise_with_shapes():
    z = random_logits(16, (2, 4, 5, 3))
    with pytest.raises(ValueError, match=r"prior: .*\(3, 3\).*got shape \(4, 4\)"):
        jl.nonadjacency_loss(z, np.ones((4, 4)))
    with pytest.raises(ValueError, match=r"prior: .*square.*got shape \(3, 4\)"):
        jl.nonadjacency_loss(z, np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"got shape \(9\)"):
        jl.nonadjacency_loss(z, np.ones(9))
    with pytest.raises(ValueError, match="prior: adjacency counts must be >= 0"):
        jl.nonadjacency_loss(z, -np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"connectivity: expected one of \(4, 8\) for 2 spatial"):
        jl.nonadjacency_loss(z, np.ones((3, 3)), connectivity=6)
    with pytest.raises(ValueError, match=r"\(6, 18, 26\) for 3 spatial"):
        soft_adjacency(np.full((1, 2, 2, 2, 3), 1 / 3, np.float32), connectivity=8)
    with pytest.raises(ValueError, match="connectivity"):
        adjacency_matrix(np.zeros((1, 3, 3), int), num_classes=2, connectivity=True)
    with pytest.raises(ValueError, match="mode"):
        jl.nonadjacency_loss(z[..., :1], np.ones((1, 1)), mode="binary")
    with pytest.raises(ValueError, match="weight"):
        jl.nonadjacency_loss(z, np.ones((3, 3)), weight=-1.0)
    with pytest.raises(ValueError, match=r"predictions: expected shape .*got shape \(4, 5\)"):
        jl.nonadjacency_loss(z[0, ..., 0], np.ones((3, 3)))
    with pytest.raises(ValueError, match="num_classes: required"):
        adjacency_matrix(np.zeros((1, 3, 3), int))
    with pytest.raises(ValueError, match=r"num_classes = 4 .*got shape \(1, 3, 3, 3\)"):
        adjacency_matrix(np.zeros((1, 3, 3, 3), np.float32), num_classes=4)
    with pytest.raises(ValueError, match="ignore_index"):
        adjacency_matrix(np.zeros((1, 3, 3, 3), np.float32), ignore_index=0)
    with pytest.raises(ValueError, match=r"integer class indices must have shape .*\(3\)"):
        adjacency_matrix(np.zeros(3, int), num_classes=2)
    with pytest.raises(ValueError, match="mask"):
        soft_adjacency(np.full((1, 3, 3, 2), 0.5, np.float32), mask=np.ones((1, 4, 4)))
    with pytest.raises(ValueError, match="num_classes"):
        adjacency_prior(0)


@eager_calls()  # value errors are raised by eager calls
def test_value_errors_eager_and_checkify_under_jit():
    y = random_labels(17, (2, 4, 5), 3)
    bad = y.copy()
    bad[0, 0, 0] = 5
    with pytest.raises(ValueError, match=r"class indices must lie in \[0, 2\]"):
        adjacency_matrix(bad, num_classes=3)
    prior = adjacency_prior(3)
    with pytest.raises(ValueError, match=r"class indices must lie in \[0, 2\]"):
        prior.update(prior.init(), bad)
    with pytest.raises(ValueError, match="probabilities in"):
        soft_adjacency(np.full((1, 3, 3, 2), 1.5, np.float32))
    with pytest.raises(ValueError, match="dense targets must lie in"):
        adjacency_matrix(np.full((1, 3, 3, 2), 2.0, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        jl.nonadjacency_loss(np.full((1, 3, 3, 2), np.nan, np.float32), np.eye(2))
    checked = checkify.checkify(
        jax.jit(lambda labels: adjacency_matrix(labels, num_classes=3)),
        errors=checkify.user_checks,
    )
    err, _ = checked(bad)
    assert "class indices must lie" in err.get()
    err, counts = checked(y)
    assert err.get() is None
    np.testing.assert_array_equal(counts, adjacency_matrix(y, num_classes=3))
    # Unchecked under jit, an out-of-range pixel is left out of the counts (not background).
    out = jax.jit(lambda labels: adjacency_matrix(labels, num_classes=3))(bad)
    assert int(out.sum()) < int(adjacency_matrix(np.where(bad > 2, 0, bad), num_classes=3).sum())


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(2, 7, 6, 3), (1, 4, 5, 3, 4)])
@pytest.mark.parametrize("max_nonzero", [1, None])
@pytest.mark.parametrize("include_self", [False, True])
def test_pair_sums_written_out_backward_equals_autodiff(shape, max_nonzero, include_self):
    """The written-out derivative of the pair sums (one product and its transpose, N symmetric)
    gives JAX's forward and backward derivatives of the former formulation (the einsum of q and
    its neighbour sum)."""
    from jaxseg_losses import adjacency  # noqa: PLC0415

    nonzero = len(shape) - 2 if max_nonzero is None else max_nonzero
    rng = np.random.default_rng(21)
    q = jnp.asarray(rng.random(shape, np.float32))
    g = jnp.asarray(rng.standard_normal((shape[0], shape[-1], shape[-1]), np.float32))

    def autodiff(q):
        s = adjacency._neighbour_sum(q, nonzero, include_self)
        return jnp.einsum("b...i,b...j->bij", q, s, precision=jax.lax.Precision.HIGHEST)

    (value, vjp), (want, want_vjp) = (
        jax.vjp(f, q) for f in (lambda q: adjacency._pair_sums(q, nonzero, include_self),
                                autodiff))
    np.testing.assert_allclose(value, want, rtol=1e-6)
    np.testing.assert_allclose(vjp(g)[0], want_vjp(g)[0], rtol=1e-5, atol=1e-5)
    dq = jnp.asarray(rng.standard_normal(shape, np.float32))
    tangent, want_tangent = (
        jax.jvp(f, (q,), (dq,))[1]
        for f in (lambda q: adjacency._pair_sums(q, nonzero, include_self), autodiff))
    np.testing.assert_allclose(tangent, want_tangent, rtol=1e-5, atol=1e-5)
