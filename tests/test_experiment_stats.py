"""The comparison's verdicts (#28), against reference computations with SciPy and a Holm written
here from its definition. No training: per-seed results are built by hand."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import scipy.stats

from jaxseg_losses.experiment.report import headline, markdown_table
from jaxseg_losses.experiment.stats import (
    DecisionRule,
    beta_quantile,
    clopper_pearson,
    collapse,
    holm,
    rank,
    seeds_needed,
    sequential_plan,
    sequential_verdicts,
    sort_key,
    t_cdf,
    t_quantile,
)
from jaxseg_losses.experiment.train import RunResult, merge_rounds

ALPHA, MARGIN = 0.05, 0.02


# --------------------------------------------------------------------------- references


def holm_reference(p, m=None):
    """Holm's step-down procedure from its definition: reject the j-th smallest while every
    p_(k), k <= j, is <= alpha / (m - k + 1); here as adjusted p-values, by brute force. ``m``:
    the family's size, the untested hypotheses at p = 1 (they sort last)."""
    given = len(p)
    m = given if m is None else m
    p = [1.0 if math.isnan(v) else v for v in p] + [1.0] * (m - given)
    order = sorted(range(m), key=lambda i: p[i])
    adjusted = [0.0] * m
    for j, i in enumerate(order):
        adjusted[i] = min(1.0, max((m - k) * p[order[k]] for k in range(j + 1)))
    return adjusted[:given]


def verdict_reference(per_seed, alpha=ALPHA, margin=MARGIN):
    """The verdict rules of the module docstring, computed with scipy.stats.t: Holm over the
    K (K - 1) ordered pairs for 'worse', the K (K - 1) / 2 pairs for 'equivalent'."""
    means = {k: np.nanmean(v) for k, v in per_seed.items()}
    best = max(means, key=means.get)
    others = [k for k in sorted(means, key=means.get, reverse=True) if k != best]
    p_worse, p_equiv, diffs = [], [], {}
    for k in others:
        d = np.asarray(per_seed[k], float) - np.asarray(per_seed[best], float)
        d = d[np.isfinite(d)]
        diffs[k] = d
        if d.size < 2:
            p_worse.append(1.0)
            p_equiv.append(1.0)
            continue
        se = d.std(ddof=1) / math.sqrt(d.size)
        t = scipy.stats.t(d.size - 1)
        p_worse.append(t.cdf(d.mean() / se))
        p_equiv.append(min(1.0, 2 * max(t.sf((d.mean() + margin) / se),
                                        t.cdf((d.mean() - margin) / se))))
    k = len(per_seed)
    worse = holm_reference(p_worse, k * (k - 1))
    equiv = holm_reference(p_equiv, k * (k - 1) // 2)
    verdicts = {}
    for i, k in enumerate(others):
        verdicts[k] = ("worse" if worse[i] <= alpha else
                       "equivalent" if equiv[i] <= alpha else "inconclusive")
    undecided = "inconclusive" in verdicts.values()
    verdicts[best] = "best by mean" if undecided else "best"
    return verdicts, dict(zip(others, worse, strict=True)), dict(zip(others, equiv, strict=True))


# Per-seed Dice of six losses over 6 seeds: the kinds of outcome the issue lists.
BASE = np.array([0.855, 0.848, 0.862, 0.851, 0.858, 0.853])
NOISE = np.array([0.002, -0.003, 0.001, -0.001, 0.003, -0.002])
PER_SEED = {
    "dice": BASE,                                             # the best
    "gdl": BASE + NOISE,                                      # equal: equivalent
    "wce": BASE - 0.15 + 2 * NOISE,                           # clearly worse
    "ce": np.zeros(6),                                        # collapsed: worse
    "dice + ce": np.array([0.0, 0.85, 0.86, 0.0, 0.85, 0.85]),  # split: inconclusive
    "focal": BASE - 0.01 + NOISE[::-1] / 3,                   # worse, by less than the margin
}


def test_t_distribution_matches_scipy():
    t = np.array([-np.inf, -40.0, -3.0, -0.5, 0.0, 0.7, 2.0, 12.0, np.inf])
    for df in (1, 2, 5, 9, 60):
        np.testing.assert_allclose(t_cdf(t, df), scipy.stats.t.cdf(t, df), rtol=2e-4,
                                   atol=1e-7)
        for p in (0.6, 0.8, 0.975, 0.9975):
            assert t_quantile(p, df) == pytest.approx(scipy.stats.t.ppf(p, df), rel=1e-4)


@pytest.mark.parametrize("n", [1, 3, 6, 10, 25])
def test_clopper_pearson_matches_scipy(n):
    for k in range(n + 1):
        low, high = clopper_pearson(k, n)
        ref = scipy.stats.binomtest(k, n).proportion_ci(0.95, method="exact")
        assert (low, high) == pytest.approx((ref.low, ref.high), abs=2e-6)
        if 0 < k:
            assert low == pytest.approx(scipy.stats.beta.ppf(0.025, k, n - k + 1), abs=2e-6)
    q = np.array([0.01, 0.5, 0.99])
    np.testing.assert_allclose(beta_quantile(q, 2.5, 7.0), scipy.stats.beta.ppf(q, 2.5, 7.0),
                               atol=2e-6)
    assert all(math.isnan(v) for v in clopper_pearson(0, 0))


def test_holm_matches_reference():
    rng = np.random.default_rng(0)
    for m in (1, 2, 5, 8):
        for _ in range(20):
            p = rng.uniform(0, 0.2, m) ** rng.uniform(0.5, 3)
            if m > 2:
                p[1] = p[0]  # ties
            assert holm(p) == pytest.approx(holm_reference(list(p)), abs=1e-12)
    assert holm([0.01, float("nan")]) == [0.02, 1.0]
    assert holm([0.01, 0.02], m=6) == pytest.approx([0.06, 0.1])
    assert holm([0.01, 0.02], m=6) == pytest.approx(holm_reference([0.01, 0.02], 6))
    with pytest.raises(ValueError):
        holm([0.1, 0.2], m=1)


def test_each_outcome_gets_its_label():
    standings = rank(PER_SEED, span=1.0)
    verdicts, worse, equiv = verdict_reference(PER_SEED)
    assert {k: s.verdict for k, s in standings.items()} == verdicts == {
        "dice": "best by mean", "gdl": "equivalent", "wce": "worse", "ce": "worse",
        "dice + ce": "inconclusive", "focal": "worse"}
    for label, s in standings.items():
        if s.rank == 1:
            continue
        assert s.p_worse_holm == pytest.approx(worse[label], rel=1e-3, abs=1e-7), label
        assert s.p_equivalent_holm == pytest.approx(equiv[label], rel=1e-3, abs=1e-7), label
    assert standings["focal"].within_margin and not standings["wce"].within_margin
    # The split loss: its Holm-adjusted p-values are above alpha, and its seeds estimate is the
    # t-power formula (reference: scipy's t quantiles, level alpha / (K (K - 1)) per side).
    split = standings["dice + ce"]
    d = PER_SEED["dice + ce"] - BASE
    n = np.arange(2, 1001)
    ok = (np.sqrt(n) * abs(d.mean()) / d.std(ddof=1)
          >= scipy.stats.t.ppf(1 - ALPHA / 30, n - 1) + scipy.stats.t.ppf(0.8, n - 1))
    assert split.seeds_needed == n[ok][0] > 6
    # Without the inconclusive loss, the leader is simply "best".
    decided = rank({k: v for k, v in PER_SEED.items() if k != "dice + ce"}, span=1.0)
    assert decided["dice"].verdict == "best"
    # Table order: best, equivalent, inconclusive, worse (by mean within a group).
    order = sorted(standings, key=lambda k: sort_key(standings[k]))
    assert order == ["dice", "gdl", "dice + ce", "focal", "wce", "ce"]


def test_the_issue_run_is_inconclusive_not_tied():
    """The default run of the issue: `ce` 2 of 3 seeds collapsed, the third level with the best."""
    per_seed = {"dice": [0.855, 0.85, 0.86], "ce": [0.0, 0.858, 0.0],
                "dice + ce": [0.0, 0.85, 0.86], "wce": [0.70, 0.69, 0.71]}
    standings = rank(per_seed, span=1.0)
    assert standings["ce"].verdict == standings["dice + ce"].verdict == "inconclusive"
    assert standings["wce"].verdict == "worse" and standings["dice"].verdict == "best by mean"
    assert verdict_reference(per_seed)[0] == {k: s.verdict for k, s in standings.items()}


def test_one_seed_decides_nothing():
    standings = rank({"a": [0.8], "b": [0.2], "c": [0.79]}, span=1.0)
    assert [standings[k].verdict for k in "abc"] == ["best by mean", "inconclusive",
                                                     "inconclusive"]
    assert all(math.isnan(standings[k].seeds_needed) for k in "bc")
    results = [_result(k, v) for k, v in {"a": [0.8], "b": [0.2]}.items()]
    assert "**Nothing is decided**: one seed" in headline(results)


def test_zero_spread():
    same = rank({"a": [0.8, 0.7, 0.9], "b": [0.8, 0.7, 0.9], "c": [0.7, 0.6, 0.8]}, span=1.0)
    assert same["b"].verdict == "equivalent" and same["c"].verdict == "worse"
    assert same["a"].verdict == "best"


@pytest.mark.slow
def test_equivalent_and_worse_always_match_the_shown_interval():
    """An 'equivalent' loss has its interval inside the margin; a 'worse' one below 0."""
    rng = np.random.default_rng(1)
    labels = 0
    for _ in range(30):
        n = int(rng.integers(2, 8))
        k = int(rng.integers(2, 5))
        base = rng.uniform(0.5, 0.9, n)
        per_seed = {f"l{i}": base + rng.normal(-abs(rng.normal(0, 0.02)), 0.01, n)
                    for i in range(k)}
        for rule in (DecisionRule(), DecisionRule(alpha=0.1, margin=0.05, looks=3)):
            standings = rank(per_seed, span=1.0, alpha=rule.level, margin=rule.margin)
            for s in standings.values():
                labels += s.verdict in ("worse", "equivalent")
                if s.verdict == "equivalent" or s.within_margin:
                    assert -rule.margin < s.difference.low <= s.difference.high < rule.margin
                if s.verdict == "worse":
                    assert s.difference.high < 0
    assert labels > 10  # the draws did reach verdicts


def test_seeds_needed_reference():
    level = ALPHA / 2
    for mean, std in [(-0.05, 0.1), (-0.005, 0.01), (0.0, 0.01), (-0.3, 0.5)]:
        n = np.arange(2, 1001)
        need = scipy.stats.t.ppf(1 - level, n - 1) + scipy.stats.t.ppf(0.8, n - 1)
        candidates = [n[np.sqrt(n) * e / std >= need] for e in (-mean, MARGIN - abs(mean))
                      if e > 0]
        expected = min((c[0] for c in candidates if c.size), default=math.inf)
        assert seeds_needed(mean, std, margin=MARGIN, level=level) == expected
    assert math.isinf(seeds_needed(-0.02, 0.5, margin=MARGIN, level=level))  # at the margin


def test_collapse_count_and_others():
    c = collapse([1, 1, 0, float("nan")], [0.0, 0.0, 0.858, float("nan")])
    ref = scipy.stats.binomtest(2, 3).proportion_ci(method="exact")
    assert (c.count, c.n, c.split) == (2, 3, True) and c.others_mean == pytest.approx(0.858)
    assert (c.low, c.high) == pytest.approx((ref.low, ref.high), abs=2e-6)


# --------------------------------------------------------------------------- sequential


def test_sequential_plan_and_levels():
    assert sequential_plan(10) == [3, 6, 9, 10]
    assert sequential_plan(2) == [2] and sequential_plan(6) == [3, 6]
    assert sequential_plan(7, first=2, step=2) == [2, 4, 6, 7]
    rule = DecisionRule(alpha=0.05, looks=len(sequential_plan(10)))
    assert rule.level == pytest.approx(0.0125)
    for bad in (dict(alpha=0.0), dict(alpha=0.5), dict(margin=0.0), dict(margin=1.0),
                dict(looks=0)):
        with pytest.raises(ValueError):
            DecisionRule(**bad)
    with pytest.raises(ValueError):
        sequential_plan(1)


def test_sequential_stopping_rule_matches_reference():
    """Looks at 3, 6, 9, 10 seeds, each at alpha / 4: stop at the first look where every loss
    is decided (reference: the scipy verdicts of each prefix of the seeds)."""
    rng = np.random.default_rng(3)
    base = rng.uniform(0.8, 0.9, 10)
    per_seed = {"best": base, "worse": base - 0.05 + rng.normal(0, 0.02, 10),
                "equal": base + rng.normal(0, 0.004, 10)}
    plan = sequential_plan(10)
    look, standings = sequential_verdicts(per_seed, plan)
    reference_look = None
    for i, n in enumerate(plan):
        verdicts, _, _ = verdict_reference({k: v[:n] for k, v in per_seed.items()},
                                           alpha=ALPHA / len(plan))
        if "inconclusive" not in verdicts.values():
            reference_look = i
            break
    assert reference_look is not None and reference_look > 0  # undecided at 3 seeds
    assert look == reference_look
    assert {k: s.verdict for k, s in standings.items()} == verdicts
    # A loss that never separates: the run goes to the last look and reports it undecided.
    per_seed["split"] = np.where(np.arange(10) % 2 == 0, 0.0, base)
    look, standings = sequential_verdicts(per_seed, plan)
    assert look == len(plan) - 1 and standings["split"].verdict == "inconclusive"


# --------------------------------------------------------------------------- report


def _result(label, dice, seeds=None):
    dice = [float(v) for v in dice]
    n = len(dice)
    return RunResult(label, seeds=list(seeds or range(n)), per_seed={
        "dice": dice, "iou": dice, "hd95": [2.0] * n, "assd": [1.0] * n, "missed": [0.0] * n,
        "collapsed": [1.0 if v == 0 else 0.0 for v in dice]}, ms_per_step=5.0, compile_s=1.0,
        train_loss=[[1.0, 0.5]] * n, curve_steps=[0, 2], curve_dice=[[0.0, v] for v in dice],
        final_terms={"ce": 0.5})


def test_table_labels_sorts_and_explains():
    results = [_result(k, v) for k, v in PER_SEED.items()]
    table = markdown_table(results)
    assert "≈1" not in table and "tied" not in table
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert [re.match(r"\| `([^`]*)`", r).group(1) for r in rows] == [
        "dice", "gdl", "dice + ce", "focal", "wce", "ce"]
    assert "| **best by mean** |" in rows[0] and "| equivalent |" in rows[1]
    assert "| inconclusive |" in rows[2] and "| worse (within ±0.02) |" in rows[3]
    assert "(2 of 6 collapsed; the others 0.853)" in rows[2]
    assert "0.000 ± 0.000 (all 6 collapsed)" in rows[5] and "6/6 [0.54, 1.00]" in rows[5]
    assert table.startswith("**Undecided**: with 6 seeds, 1 of 5 losses")
    assert "`dice + ce`" in table.split("\n\n")[0] and "not a tie" in table
    assert "Holm's correction" in table and "TOST" in table and "Clopper-Pearson" in table
    # The done criterion: no 'equivalent' row whose interval is wider than the margin.
    for row in rows:
        if "| equivalent |" in row:
            low, high = map(float, re.search(r"\| [-+][.\d]+ \[([-+.\d]+), ([-+.\d]+)\] \|",
                                                row).groups())
            assert -MARGIN < low and high < MARGIN
    decided = markdown_table([_result(k, PER_SEED[k]) for k in ("dice", "gdl", "wce")])
    assert decided.startswith("**Decided** with 6 seeds: best `dice`; equivalent: `gdl`; "
                              "worse: `wce`.")


def test_merge_rounds_appends_seeds():
    a, b = _result("ce", [0.8, 0.0, 0.7]), _result("ce", [0.6], seeds=[3])
    b.error = "seed 3: non-finite loss at step 1"
    merged = merge_rounds([a, b])
    assert merged.seeds == [0, 1, 2, 3] and merged.per_seed["dice"] == [0.8, 0.0, 0.7, 0.6]
    assert merged.per_seed["collapsed"] == [0.0, 1.0, 0.0, 0.0]
    assert np.shape(merged.train_loss) == (4, 2) and np.shape(merged.curve_dice) == (4, 2)
    assert merged.ms_per_step == 10.0 and merged.compile_s == 2.0
    assert merged.error == b.error and a.seeds == [0, 1, 2]  # the rounds are not changed
