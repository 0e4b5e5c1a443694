"""Metrics over a data set (issue #27, section 4): states accumulated batch by batch.

References are independent of the accumulation: pooled Dice / IoU are the metrics of one call
on all the data at once, the examples placed side by side in a single image (so the counts are
pooled by the metric itself); per-image means are NumPy means of the per-example scores. The
sharded cases follow tests/test_sharding.py: 8 forced CPU devices, meshes of both axis types,
an uneven split of the classes over the devices.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import jaxseg_losses as jsl
from jaxseg_losses.metrics import (
    ConfusionCounts,
    GlobalDice,
    GlobalIoU,
    MeanOf,
    PerExampleMean,
    PerImageDice,
    PerImageIoU,
    average_surface_distance,
    dice_score,
    hausdorff_distance,
    surface_dice,
)
from tests.helpers import random_logits
from tests.jit_cache import jl

C = 3
NDEV = 8


def _labels(shape, seed):
    """Uneven class content: an empty example, a small object, examples dominated by class 2."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(C, size=shape, p=[0.5, 0.2, 0.3]).astype(np.int32)
    labels[0] = 0
    labels[1] = 0
    labels[1, 1:3, 1:3] = 1
    labels[-1] = 2
    return labels


DATA = {
    "2d": (random_logits(1, (8, 6, 5, C), scale=2.0), _labels((8, 6, 5), 2)),
    "3d": (random_logits(3, (4, 4, 3, 5, C), scale=2.0), _labels((4, 4, 3, 5), 4)),
}


def _side_by_side(x):
    """``(N, S1, ...)`` -> ``(1, N * S1, ...)``: the data set as one example."""
    return x.reshape((1, -1) + x.shape[2:])


def _batches(n, sizes):
    starts = np.cumsum((0,) + tuple(sizes))
    assert starts[-1] == n
    return [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:], strict=True)]


def _accumulate(cls, logits, labels, sizes, **options):
    """Python loop over uneven batches, one jitted update per batch shape."""
    update = jax.jit(functools.partial(cls.from_model_output, **options))
    state = cls.empty()
    for s in _batches(len(labels), sizes):
        state = state.merge(update(logits[s], labels[s]))
    return state


# --------------------------------------------------------------------------- pooled == one call


@pytest.mark.parametrize("dims", ["2d", "3d"])
def test_pooled_dice_and_iou_equal_one_call_on_all_data(dims):
    logits, labels = DATA[dims]
    sizes = (1, 2, 1) if dims == "3d" else (3, 1, 4)
    dice = _accumulate(GlobalDice, logits, labels, sizes)
    iou = _accumulate(GlobalIoU, logits, labels, sizes)
    whole = (_side_by_side(logits), _side_by_side(labels))
    np.testing.assert_allclose(dice.compute(), jl.dice_score(*whole)[0], rtol=1e-6)
    np.testing.assert_allclose(iou.compute(), jl.iou_score(*whole)[0], rtol=1e-6)
    np.testing.assert_allclose(
        dice.compute(include_background=False, average="macro"),
        jl.dice_score(*whole, include_background=False)[0].mean(), rtol=1e-6)
    # GlobalDice and GlobalIoU hold the same counts; ConfusionCounts computes either
    assert all(map(np.array_equal, jax.tree.leaves(dice), jax.tree.leaves(iou)))
    np.testing.assert_allclose(ConfusionCounts.compute(iou, metric="iou"), iou.compute())
    # the counts themselves, against NumPy
    pred = np.argmax(logits, -1)
    tp, fp, fn, tn = dice.exact_counts()
    for c in range(C):
        p, g = pred == c, labels == c
        assert (tp[c], fp[c], fn[c], tn[c]) == (
            (p & g).sum(), (p & ~g).sum(), (~p & g).sum(), (~p & ~g).sum())


def test_pooled_mask_and_ignore_index_pass_through():
    logits, labels = DATA["2d"]
    labels = labels.copy()
    labels[2, :2] = 255  # void pixels
    keep = (np.random.default_rng(5).random(labels.shape) > 0.3).astype(np.float32)
    options = {"mask": keep, "ignore_index": 255}
    state = GlobalDice.empty()
    update = jax.jit(functools.partial(GlobalDice.from_model_output, ignore_index=255))
    for s in _batches(8, (2, 2, 4)):
        state = state.merge(update(logits[s], labels[s], mask=keep[s]))
    whole = jl.dice_score(_side_by_side(logits), _side_by_side(labels),
                          mask=_side_by_side(options["mask"]), ignore_index=255)
    np.testing.assert_allclose(state.compute(), whole[0], rtol=1e-6)
    # a class index as ignore_index: that class is NaN, as in dice_score; "mean" skips it
    state = _accumulate(GlobalDice, logits, DATA["2d"][1], (4, 4), ignore_index=2)
    whole = jl.dice_score(_side_by_side(logits), _side_by_side(DATA["2d"][1]), ignore_index=2)[0]
    np.testing.assert_allclose(state.compute(), whole, rtol=1e-6)
    assert np.isnan(state.compute()[2])
    np.testing.assert_allclose(state.compute(average="macro"), np.nanmean(whole), rtol=1e-6)


def test_pooled_other_input_forms_and_modes():
    logits, labels = DATA["2d"]
    one_hot = jax.nn.one_hot(labels, C)
    by_index = _accumulate(GlobalDice, logits, labels, (8,))
    for p, y, options in [
        (np.argmax(logits, -1), labels, {"num_classes": C}),  # integer maps
        (logits, one_hot, {}),  # dense labels
        (jax.nn.one_hot(np.argmax(logits, -1), C) > 0, one_hot > 0, {}),  # boolean masks
    ]:
        state = _accumulate(GlobalDice, p, y, (5, 3), **options)
        assert jax.tree.all(jax.tree.map(np.array_equal, state, by_index))
    binary = _accumulate(GlobalDice, logits[..., :1], (labels > 0).astype(np.int32), (2, 6),
                         mode="binary")
    whole = jl.dice_score(_side_by_side(logits[..., :1]), _side_by_side(labels > 0).astype(int),
                          mode="binary")
    np.testing.assert_allclose(binary.compute(), whole[0], rtol=1e-6)


def test_example_mask_drops_padded_examples():
    logits, labels = DATA["2d"]
    padded_logits = np.concatenate([logits, np.full_like(logits[:2], np.nan)])
    padded_labels = np.concatenate([labels, np.zeros_like(labels[:2])])
    real = np.arange(10) < 8
    for cls in (GlobalDice, PerImageDice):
        state = jax.jit(cls.from_model_output)(padded_logits, padded_labels, example_mask=real)
        expected = jax.jit(cls.from_model_output)(logits, labels)
        np.testing.assert_allclose(state.compute(), expected.compute(), rtol=1e-6)


def test_bad_values_under_jit_give_nan():
    logits, labels = DATA["2d"]
    bad = logits.copy()
    bad[3, 0, 0, 0] = np.nan
    state = jax.jit(GlobalDice.from_model_output)(bad, labels)
    assert np.all(state.nan_count == 1)
    assert np.all(np.isnan(state.merge(GlobalDice.from_model_output(logits, labels)).compute()))
    per_image = jax.jit(PerImageDice.from_model_output)(bad, labels)
    np.testing.assert_array_equal(per_image.nan_count, [1, 1, 1])
    with pytest.raises(ValueError, match="finite"):
        GlobalDice.from_model_output(bad, labels)  # eager: the metrics' value check


# --------------------------------------------------------------------------- per-example means


@pytest.mark.parametrize("dims", ["2d", "3d"])
def test_per_image_mean_is_the_mean_of_per_example_scores(dims):
    logits, labels = DATA[dims]
    sizes = (2, 2) if dims == "3d" else (1, 7)
    scores = np.asarray(jl.dice_score(logits, labels))
    state = _accumulate(PerImageDice, logits, labels, sizes)
    np.testing.assert_allclose(state.compute(), scores.mean(0), rtol=1e-6)
    np.testing.assert_allclose(state.compute(average="macro"), scores.mean(), rtol=1e-6)
    np.testing.assert_array_equal(state.count, [len(labels)] * C)
    # options pass through: MONAI's ignore_empty NaN entries are skipped and counted
    state = _accumulate(PerImageIoU, logits, labels, sizes, ignore_empty=True,
                        include_background=False)
    scores = np.asarray(jl.iou_score(logits, labels, ignore_empty=True, include_background=False))
    np.testing.assert_allclose(state.compute(), np.nanmean(scores, 0), rtol=1e-6)
    np.testing.assert_array_equal(state.nan_count, np.isnan(scores).sum(0))


@pytest.mark.slow
def test_mean_of_surface_metrics_counts_misses():
    logits, labels = DATA["2d"]
    hd95 = MeanOf(hausdorff_distance, percentile=95)
    state = _accumulate(hd95, logits, labels, (4, 4))
    values = np.asarray(jl.hausdorff_distance(logits, labels, percentile=95))
    finite = np.isfinite(values)
    assert np.isinf(values).any(), "the data should hold a missed class"
    expected = np.where(finite, values, 0).sum(0) / finite.sum(0)
    np.testing.assert_allclose(state.compute(), expected, rtol=1e-6)
    np.testing.assert_array_equal(state.inf_count, np.isinf(values).sum(0))
    np.testing.assert_array_equal(state.count, finite.sum(0))
    # options given to MeanOf and at the call; mask passes through
    keep = np.ones(labels.shape, np.float32)
    keep[:, :, -1] = 0
    assd = MeanOf(average_surface_distance, include_background=False)
    state = assd.from_model_output(logits, labels, mask=keep, sampling=(1.0, 2.0))
    values = np.asarray(jl.average_surface_distance(logits, labels, include_background=False,
                                                    mask=keep, sampling=(1.0, 2.0)))
    finite = np.isfinite(values)
    np.testing.assert_allclose(
        state.compute(), np.where(finite, values, 0).sum(0) / finite.sum(0), rtol=1e-6)
    nsd = MeanOf(surface_dice, tolerance=1.0)
    np.testing.assert_allclose(nsd.from_model_output(logits, labels).compute(),
                               np.asarray(jl.surface_dice(logits, labels, tolerance=1.0)).mean(0),
                               rtol=1e-6)
    gds = MeanOf(jsl.generalized_dice_score)  # a (B,) metric: a scalar state
    assert gds.from_model_output(logits, labels).compute().shape == ()


def test_compensated_sum_keeps_float32_precision():
    """A million values in 20000 merges: a float32 running sum drifts, the compensated state
    keeps float32 precision."""
    rng = np.random.default_rng(0)
    values = rng.random((20000, 50)).astype(np.float32)

    def step(state, batch):
        return state.merge(PerExampleMean.from_values(batch)), None

    state, _ = jax.jit(lambda v: jax.lax.scan(step, PerExampleMean.empty(), v))(values)
    exact = values.astype(np.float64).mean()
    naive = np.float32(0)
    for row in values.sum(1, dtype=np.float32):
        naive = np.float32(naive + row)
    compensated_error = abs(float(state.compute()) - exact) / exact
    assert compensated_error < 1.2e-7  # float32's half ulp: one rounding
    assert abs(naive / values.size - exact) / exact > 10 * compensated_error


# --------------------------------------------------------------------------- exact counts


def test_counts_are_exact_beyond_float32_and_int32():
    """2**30 pixels per state, merged 64 times: 2**36, exact (float32 stops at 2**24, int32
    overflows at 2**31)."""
    big = jnp.full((C,), 2**30 - 1, jnp.int32)
    words = jnp.stack([big >> 16, big & 0xFFFF], -1)
    one = ConfusionCounts(tp=words, fp=words, fn=words, tn=words,
                          nan_count=jnp.zeros((C,), jnp.int32))
    stacked = jax.tree.map(lambda x: jnp.stack([x] * 64), one)
    total = stacked.reduce()
    looped = functools.reduce(ConfusionCounts.merge, [one] * 64)
    expected = 64 * (2**30 - 1)
    for state in (total, looped):
        assert all(np.all(c == expected) for c in state.exact_counts())
        np.testing.assert_allclose(state.counts()[0], expected, rtol=1e-7)
    np.testing.assert_allclose(total.compute(), 0.5)  # 2 tp / (2 tp + fp + fn)
    # a batch whose per-example counts are near int32's limit
    from jaxseg_losses.metrics.accumulate import _exact_sum
    near = jnp.full((4, 1), 2**31 - 1, jnp.int32)
    words = _exact_sum(near)
    assert int(words[0, 0]) * 2**16 + int(words[0, 1]) == 4 * (2**31 - 1)


# --------------------------------------------------------------------------- merge algebra


def _random_states(seed, n):
    rng = np.random.default_rng(seed)
    states = []
    for _ in range(n):
        size = int(rng.integers(1, 4))
        logits = random_logits(int(rng.integers(1000)), (size, 5, 4, C))
        labels = rng.integers(0, C, (size, 5, 4)).astype(np.int32)
        states.append((GlobalDice.from_model_output(logits, labels),
                       PerImageDice.from_model_output(logits, labels)))
    return states


def test_merge_is_associative_commutative_with_a_neutral_element():
    (a, pa), (b, pb), (c, pc) = _random_states(0, 3)
    same = lambda x, y: jax.tree.all(jax.tree.map(np.array_equal, x, y))  # noqa: E731
    close = lambda x, y: jax.tree.all(jax.tree.map(  # noqa: E731
        lambda u, v: np.allclose(u, v, rtol=1e-6, atol=1e-7), x, y))
    assert same(a.merge(b).merge(c), a.merge(b.merge(c)))
    assert same(a.merge(b), b.merge(a))
    assert same(a.merge(GlobalDice.empty()), a)
    assert same(GlobalDice.empty(num_classes=C).merge(a), a)
    assert close(pa.merge(pb).merge(pc).compute(), pa.merge(pb.merge(pc)).compute())
    assert same(pa.merge(pb), pb.merge(pa))
    assert close(pa.merge(PerImageDice.empty()), pa)


# --------------------------------------------------------------------------- eval loops


def test_scan_eval_loop_and_jitted_update_compile_once():
    logits, labels = DATA["2d"]
    batches = (logits.reshape(4, 2, *logits.shape[1:]), labels.reshape(4, 2, *labels.shape[1:]))

    @jax.jit
    def evaluate(batches):
        def step(state, batch):
            dice, hd = state
            p, y = batch
            return (dice.merge(GlobalDice.from_model_output(p, y)),
                    hd.merge(PerImageDice.from_model_output(p, y))), None

        init = (GlobalDice.empty(num_classes=C), PerImageDice.empty(shape=(C,)))
        (dice, per_image), _ = jax.lax.scan(step, init, batches)
        return dice.compute(), per_image.compute()

    dice, per_image = evaluate(batches)
    np.testing.assert_allclose(dice, GlobalDice.from_model_output(logits, labels).compute(),
                               rtol=1e-6)
    np.testing.assert_allclose(per_image, jl.dice_score(logits, labels).mean(0), rtol=1e-6)

    traces = []

    @jax.jit
    def eval_step(state, p, y):  # a Flax-style eval step: the state in, the state out
        traces.append(1)
        return state.merge(GlobalDice.from_model_output(p, y))

    state = GlobalDice.empty(num_classes=C)
    for p, y in zip(*batches, strict=True):
        state = eval_step(state, p, y)
    assert len(traces) == 1
    np.testing.assert_allclose(state.compute(), dice, rtol=1e-6)


def test_vmap_over_groups_then_reduce():
    logits, labels = DATA["3d"]
    groups = (logits.reshape(2, 2, *logits.shape[1:]), labels.reshape(2, 2, *labels.shape[1:]))
    for cls in (GlobalDice, PerImageDice):
        stacked = jax.jit(jax.vmap(cls.from_model_output))(*groups)
        assert jax.tree.leaves(stacked)[0].shape[0] == 2
        np.testing.assert_allclose(stacked.reduce().compute(),
                                   jax.jit(cls.from_model_output)(logits, labels).compute(),
                                   rtol=1e-6)
    # per group: a leading axis all the way to compute
    per_group = jax.jit(lambda *g: jax.vmap(lambda s: s.compute())(
        jax.vmap(GlobalDice.from_model_output)(*g)))(*groups)
    np.testing.assert_allclose(per_group[1],
                               jax.jit(GlobalDice.from_model_output)(logits[2:], labels[2:]
                                                                     ).compute())


def test_empty_data_set():
    assert float(GlobalDice.empty().compute()) == 1.0
    np.testing.assert_array_equal(GlobalIoU.empty(num_classes=C).compute(), np.ones(C))
    np.testing.assert_array_equal(
        GlobalDice.empty(num_classes=C).compute(include_background=False, empty_score=0.0),
        np.zeros(C - 1))
    assert np.isnan(PerImageDice.empty().compute())
    assert np.all(np.isnan(PerImageDice.empty(shape=(C,)).compute()))
    assert np.isnan(PerImageDice.empty(shape=(C,)).compute(average="macro"))
    # a data set of padded examples only
    logits, labels = DATA["2d"]
    none = np.zeros(len(labels), bool)
    assert np.all(GlobalDice.from_model_output(logits, labels, example_mask=none).compute() == 1)
    assert np.all(np.isnan(PerImageDice.from_model_output(logits, labels,
                                                          example_mask=none).compute()))


def test_errors():
    logits, labels = DATA["2d"]
    state = GlobalDice.from_model_output(logits, labels)
    with pytest.raises(TypeError, match="^include_background: expected True or False"):
        state.compute(include_background="no")
    with pytest.raises(ValueError, match="average"):
        state.compute(average="sum")
    with pytest.raises(ValueError, match="metric"):
        state.compute(metric="acuracy")  # accuracy is a confusion metric
    with pytest.raises(ValueError, match="example_mask"):
        GlobalDice.from_model_output(logits, labels, example_mask=np.ones(3, bool))
    with pytest.raises(TypeError, match="unknown option"):
        GlobalDice.with_options(ignore_idx=255)
    with pytest.raises(TypeError, match="^from_logits: expected True or False"):
        GlobalDice.with_options(from_logits="no")
    with pytest.raises(TypeError, match="^include_background: expected True or False"):
        MeanOf(dice_score, include_background=1)
    with pytest.raises(TypeError, match="^from_logits: expected True or False"):
        GlobalDice.from_model_output(logits, labels, from_logits="no")
    with pytest.raises(TypeError, match="^from_logits: .*traced value"):
        jax.jit(lambda flag: GlobalDice.from_model_output(logits, labels, from_logits=flag))(True)
    with pytest.raises(TypeError, match="no metric"):
        PerExampleMean.from_model_output(logits, labels)


def test_custom_formula():
    logits, labels = DATA["2d"]
    state = ConfusionCounts.from_model_output(logits, labels)

    def sensitivity(tp, fp, fn, tn, empty_score):
        del fp, tn
        return jnp.where(tp + fn > 0, tp / jnp.maximum(tp + fn, 1), empty_score)

    tp, _, fn, _ = state.exact_counts()
    np.testing.assert_allclose(state.compute(metric=sensitivity), tp / (tp + fn), rtol=1e-6)


# --------------------------------------------------------------------------- clu protocol


class _MiniCollection:
    """What ``clu.metrics.Collection`` does with its fields (clu is not a dependency): ``empty()``
    without arguments, ``from_model_output(**model_outputs)``, ``merge``, ``reduce`` after an
    ``all_gather``, ``compute()`` without arguments."""

    def __init__(self, **metrics):
        self.metrics = metrics

    @classmethod
    def empty(cls, fields):
        return cls(**{name: metric.empty() for name, metric in fields.items()})

    @classmethod
    def from_model_output(cls, fields, **outputs):
        return cls(**{name: m.from_model_output(**outputs) for name, m in fields.items()})

    def merge(self, other):
        return _MiniCollection(**{k: m.merge(other.metrics[k]) for k, m in self.metrics.items()})

    def compute(self):
        return {name: metric.compute() for name, metric in self.metrics.items()}


@pytest.mark.slow
def test_clu_collection_protocol():
    logits, labels = DATA["2d"]
    fields = {
        "dice": GlobalDice.with_options(include_background=False, average="macro"),
        "dice_per_class": GlobalDice,
        "iou_per_image": PerImageIoU.with_options(average="macro"),
        "hd95": MeanOf(hausdorff_distance, percentile=95).with_options(include_background=False),
    }
    assert fields["dice"].__name__ == "GlobalDice"
    assert jax.tree.leaves(fields["dice"].empty())  # a registered pytree
    outputs = [{"logits": logits[s], "labels": labels[s], "loss": jnp.float32(0.5),
                "mask": np.ones(s.stop - s.start, bool)} for s in _batches(8, (4, 4))]
    outputs[1]["mask"][-1] = False  # a padded example in the last batch
    collection = _MiniCollection.empty(fields)
    for out in outputs:
        collection = collection.merge(_MiniCollection.from_model_output(
            {k: (f if k != "dice_per_class" else f.with_options()) for k, f in fields.items()},
            **out))
    result = collection.compute()
    kept_logits, kept_labels = logits[:7], labels[:7]
    whole = jl.dice_score(_side_by_side(kept_logits), _side_by_side(kept_labels))[0]
    np.testing.assert_allclose(result["dice"], whole[1:].mean(), rtol=1e-6)
    np.testing.assert_allclose(result["dice_per_class"], whole, rtol=1e-6)
    np.testing.assert_allclose(result["iou_per_image"],
                               jl.iou_score(kept_logits, kept_labels).mean(), rtol=1e-6)
    values = np.asarray(jl.hausdorff_distance(kept_logits, kept_labels, percentile=95,
                                              include_background=False))
    finite = np.isfinite(values)
    np.testing.assert_allclose(result["hd95"], np.where(finite, values, 0).sum(0) / finite.sum(0),
                               rtol=1e-6)
    # bound options stay overridable; flax.struct-style replace works on the frozen dataclass
    bound = fields["dice"].from_model_output(logits, labels)
    assert bound.compute(average="none").shape == (C - 1,)
    assert isinstance(bound, GlobalDice)


# --------------------------------------------------------------------------- sharded


needs_devices = pytest.mark.skipif(
    jax.device_count() < NDEV, reason="needs 8 devices (tests/conftest.py forces 8 CPU devices)")


def _mesh(axis_type):
    kind = AxisType.Explicit if axis_type == "explicit" else AxisType.Auto
    return jax.make_mesh((NDEV,), ("data",), axis_types=(kind,))


def _put(mesh, *arrays):
    sharding = NamedSharding(mesh, P("data"))
    return tuple(jax.device_put(jnp.asarray(a), sharding) for a in arrays)


def _update_all(p, y, keep):
    return (GlobalDice.from_model_output(p, y, mask=keep),
            PerImageDice.from_model_output(p, y, mask=keep),
            MeanOf(hausdorff_distance, percentile=95).from_model_output(p, y))


def _reference():
    logits, labels = DATA["2d"]
    keep = (np.random.default_rng(9).random(labels.shape) > 0.2).astype(np.float32)
    return (logits, labels, keep), [s.compute() for s in jax.jit(_update_all)(
        logits, labels, keep)]


@needs_devices
@pytest.mark.parametrize("axis_type", ["explicit", "auto"])
def test_batch_sharded_jit_equals_unsharded(axis_type):
    inputs, expected = _reference()
    mesh = _mesh(axis_type)
    with jax.set_mesh(mesh):
        states = jax.jit(_update_all)(*_put(mesh, *inputs))
        actual = jax.jit(lambda s: [x.compute() for x in s])(states)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-6)


@pytest.mark.slow
@needs_devices
@pytest.mark.parametrize("axis_type", ["explicit", "auto"])
def test_shard_map_reduce_over_axis_name(axis_type):
    inputs, expected = _reference()
    mesh = _mesh(axis_type)

    def by_psum(p, y, keep):  # one example per device: per-device ratios would differ
        return [s.reduce_over("data") for s in _update_all(p, y, keep)]

    def by_gather(p, y, keep):  # clu's pmap path; all_gather's output is typed device-varying
        return [jax.lax.all_gather(s, "data").reduce() for s in _update_all(p, y, keep)]

    results = []
    for local, check in ((by_psum, True), (by_gather, False)):
        results.append(jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(P("data"),) * 3,
                                             out_specs=P(), check_vma=check))(
            *_put(mesh, *inputs)))
    by_psum, by_gather = results
    for states in (by_psum, by_gather):
        for state, e in zip(states, expected, strict=True):
            np.testing.assert_allclose(state.compute(), e, rtol=1e-6)
    # without the merge, the per-device pooled Dice is not the global one
    per_device = jax.jit(jax.shard_map(
        lambda p, y: GlobalDice.from_model_output(p, y).compute()[None], mesh=mesh,
        in_specs=(P("data"),) * 2, out_specs=P("data")))(*_put(mesh, *inputs[:2]))
    assert np.abs(np.asarray(per_device).mean(0) - np.asarray(expected[0])).max() > 1e-2


@needs_devices
def test_multihost_gather_path_on_one_process():
    """``process_allgather(state).reduce()``: on one process, a leading axis of one."""
    from jax.experimental import multihost_utils

    inputs, expected = _reference()
    states = jax.jit(_update_all)(*inputs)
    for state, e in zip(states, expected, strict=True):
        gathered = multihost_utils.process_allgather(state, tiled=False)
        np.testing.assert_allclose(jax.tree.map(jnp.asarray, gathered).reduce().compute(), e,
                                   rtol=1e-6)


# --------------------------------------------------------------------------- the docs' eval loop


def test_docs_eval_loop_runs_as_written(capsys):
    """The Flax eval loop of docs/metrics.md ("Over a data set") runs and gives the one-shot
    numbers."""
    pytest.importorskip("flax")
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text()
    section = page[page.index("## Over a data set"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "docs/metrics.md", "exec"), scope)  # noqa: S102
    assert scope["eval_step"]._cache_size() == 1  # the padded last batch: one compilation
    logits = scope["model"].apply(scope["params"], scope["images"])
    labels = scope["labels"]
    np.testing.assert_allclose(
        scope["results"]["dice"], jl.dice_score(_side_by_side(logits), _side_by_side(labels))[0],
        rtol=1e-5)
    np.testing.assert_allclose(scope["results"]["dice_per_image"],
                               jl.dice_score(logits, labels).mean(0), rtol=1e-5)
    assert capsys.readouterr().out.count("\n") == 3


def test_confusion_metric_names_of_pooled_counts_equal_the_pooled_one_shot_call():
    """``compute(metric=<confusion name>)`` on accumulated counts == ``confusion_metric`` with
    ``per_image=False`` on the concatenated data."""
    from jaxseg_losses.metrics import ConfusionCounts
    from tests.helpers import blobs

    pred, true = blobs(41, (4, 9, 8)), blobs(42, (4, 9, 8))
    state = ConfusionCounts.empty()
    counts = jax.jit(functools.partial(ConfusionCounts.from_model_output, num_classes=3))
    for lo in (0, 1, 3):
        hi = {0: 1, 1: 3, 3: 4}[lo]
        state = state.merge(counts(pred[lo:hi], true[lo:hi]))
    for name in ("sensitivity", "mcc", "balanced accuracy", "fowlkes_mallows_index"):
        ours = state.compute(metric=name, empty_score=float("nan"))
        ref = jl.confusion_metric(pred, true, num_classes=3, metric=name, per_image=False)[0]
        np.testing.assert_allclose(ours, ref, rtol=1e-5, err_msg=name)
    with pytest.raises(ValueError, match="metric"):
        state.compute(metric="sensitivty")
