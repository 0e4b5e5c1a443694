"""The comparison's training loop: seeds as replicas, devices, and the statistics over seeds.

Tiny configurations (16x16 images, a one-level U-Net, three steps): four compilations in all.
The suite runs with 8 virtual CPU devices (tests/conftest.py).
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
import scipy.stats

from jaxseg_losses.experiment.data import make_dataset
from jaxseg_losses.experiment.stats import rank, summarize, t_quantile
from jaxseg_losses.experiment.train import (
    TrainConfig,
    device_layout,
    merge_rounds,
    run_comparison,
    train_one,
)

# per_image=False: the Dice statistics pool the whole batch, so splitting the batch over the
# devices must still give batch-global statistics.
SPEC = "dice(per_image=false) + ce"
TINY = dict(steps=3, batch_size=8, features=4, depth=1, eval_every=2, seed=5)


@pytest.fixture(scope="module")
def dataset():
    return make_dataset("blobs", n_train=4, n_test=2, size=16, seed=0)


def _run(dataset, devices, **config):
    config = TrainConfig(**{**TINY, **config})
    return run_comparison([SPEC], dataset, config, progress=False, devices=devices)[0], config


def _assert_same_replica(a, i, b, j):
    """Replica ``i`` of run ``a`` equals replica ``j`` of run ``b`` (curves and metrics)."""
    np.testing.assert_allclose(a.train_loss[i], b.train_loss[j], rtol=2e-5)
    np.testing.assert_allclose(a.curve_dice[i], b.curve_dice[j], atol=1e-6)
    for key, values in a.per_seed.items():
        np.testing.assert_allclose(values[i], b.per_seed[key][j], rtol=1e-5, err_msg=key)


@pytest.mark.slow
@pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 devices (tests/conftest.py)")
def test_seeds_are_replicas_and_devices_do_not_change_the_numbers(dataset):
    one, eight = jax.devices()[:1], jax.devices()[:8]
    # Two seeds in one run, one compiled single-replica step called per replica, one device.
    pair, config = _run(dataset, one, seeds=2, replicas="loop")
    assert pair.seeds == [5, 6] and np.shape(pair.train_loss) == (2, 3)
    assert pair.train_loss[0] != pair.train_loss[1]  # different initialisations and batches
    # The same two seeds in two rounds (--seeds auto): the second reuses the compiled step.
    compiled: dict = {}
    rounds = [train_one(SPEC, dataset, TrainConfig(**{**TINY, "seed": s}, replicas="loop"),
                        progress=False, devices=one, compiled=compiled) for s in (5, 6)]
    assert len(compiled) == 1
    merged = merge_rounds(rounds)
    assert merged.seeds == [5, 6]
    for r in range(2):
        _assert_same_replica(pair, r, merged, r)
    # One seed alone equals the same seed inside the pair.
    first, _ = _run(dataset, one, seeds=1, replicas="loop")
    _assert_same_replica(pair, 0, first, 0)
    # Seed 6 alone, vmapped, its batch of 8 split over 8 devices.
    second, config = _run(dataset, eight, seed=6, seeds=1, replicas="vmap")
    assert device_layout(config, eight) == "batch"
    _assert_same_replica(pair, 1, second, 0)
    # Eight seeds in one vmapped program, the replica axis split over 8 devices.
    octet, config = _run(dataset, eight, seeds=8, replicas="vmap")
    assert device_layout(config, eight) == "replicas" and octet.seeds == list(range(5, 13))
    for r in range(2):
        _assert_same_replica(pair, r, octet, r)
    assert octet.ms_per_step > 0 and octet.compile_s > 0 and octet.error is None
    assert len(octet.curve_steps) == len(octet.curve_dice[0]) == 3  # steps 0, 2, 3
    assert octet.predictions.shape == dataset.test_labels.shape


def test_config_errors():
    for bad, message in [(dict(seeds=0), "seeds"), (dict(learning_rate=0.0), "learning rate"),
                         (dict(learning_rate=float("nan")), "learning rate"),
                         (dict(replicas="pmap"), "replicas")]:
        with pytest.raises(ValueError, match=message):
            TrainConfig(**bad)


# --------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("df", [1, 2, 4, 9, 30, 200])
def test_t_quantile_matches_scipy(df):
    for p in (0.9, 0.975, 0.995):
        assert t_quantile(p, df) == pytest.approx(scipy.stats.t.ppf(p, df), rel=1e-4)


def test_summarize_is_the_t_interval():
    values = [0.81, 0.85, 0.79, np.nan, 0.88]  # a diverged seed (NaN) is left out
    summary = summarize(values)
    finite = np.array([0.81, 0.85, 0.79, 0.88])
    low, high = scipy.stats.t.interval(0.95, 3, loc=finite.mean(), scale=scipy.stats.sem(finite))
    assert summary.n == 4 and summary.mean == pytest.approx(finite.mean())
    assert summary.std == pytest.approx(finite.std(ddof=1))
    assert (summary.low, summary.high) == pytest.approx((low, high))
    single = summarize([0.5])
    assert single.mean == 0.5 and np.isnan(single.std) and np.isnan(single.low)
    assert summarize([np.nan]).n == 0


def test_rank_uses_paired_differences():
    # b trails a by a steady 0.03 on every seed: not separable by the spreads of the means
    # alone, but the paired difference is clearly below 0. c is level with a up to seed noise
    # and within the margin (0.02); d, reversed seeds, cannot be told apart yet.
    a = np.array([0.60, 0.80, 0.70, 0.90])
    noise = np.array([0, 1e-3, -1e-3, 0])
    per_seed = {"a": a, "b": a - 0.03 + noise, "c": a - 0.001 + noise[::-1],
                "d": a[[1, 0, 3, 2]] - 0.002}
    standings = rank(per_seed)
    assert [standings[k].rank for k in "acdb"] == [1, 2, 3, 4]
    assert {k: s.verdict for k, s in standings.items()} == {
        "a": "best by mean", "b": "worse", "c": "equivalent", "d": "inconclusive"}
    assert standings["b"].difference.mean == pytest.approx(-0.03)
    # Lower is better: the smallest mean ranks first, differences are still <= 0.
    distances = rank({"near": [1.0, 2.0, 1.5], "far": [3.0, 4.0, 3.5]}, higher_is_better=False)
    assert distances["near"].rank == 1 and distances["far"].difference.mean == pytest.approx(-2)
    assert distances["far"].verdict == "worse" and distances["near"].verdict == "best"
    one_seed = rank({"x": [0.5], "y": [0.4]})  # no interval with one seed: nothing decided
    assert one_seed["x"].verdict == "best by mean" and one_seed["y"].verdict == "inconclusive"
