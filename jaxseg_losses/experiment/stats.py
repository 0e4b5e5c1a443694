r"""Statistics over the seeds of a comparison: summaries, and the verdict of each loss.

Each loss is trained once per seed, and seed ``s`` uses the same initialisation and the same
batches for every loss, so two losses are compared *paired*: the per-seed differences remove
the part of the spread that comes from the seed itself. The interval of a mean is Student's t
interval, ``mean ± t(1 - alpha/2, n - 1) · std / sqrt(n)`` with the sample standard deviation
(``ddof=1``); with one seed there is no interval (NaN bounds).

**The verdict** (:func:`rank`). The *best* is the loss with the highest mean Dice. For every
other loss, ``d_i`` = (this loss − best) on seed ``i`` (seeds where either diverged are left
out), ``n`` pairs, mean ``d``, standard deviation ``s``, ``se = s / sqrt(n)``, ``F`` the t
distribution function with ``n - 1`` degrees of freedom, level ``alpha`` (0.05) and margin
``delta`` (a Dice of 0.02):

- ``p_worse = F(d / se)``: the one-sided paired t-test of "mean difference < 0".
- ``p_equivalent = min(1, 2 max(1 - F((d + delta) / se), F((d - delta) / se)))``: two
  one-sided tests (TOST) of "mean difference > −delta" and "< +delta", each at ``alpha / 2``.
- Holm's step-down correction of each family, counted over every pair of losses, since the
  best is picked by the same data and the comparisons made could be those of any pair. With
  the ``K - 1`` p-values sorted, ``p_(1) <= ... <= p_(K-1)``, the adjusted value of the
  ``j``-th is ``max_{k<=j} min(1, (M - k + 1) p_(k))``, with ``M = K (K - 1)`` for ``p_worse``
  (the hypotheses "loss i is not worse than loss j", one per ordered pair) and ``M = K (K -
  1) / 2`` for ``p_equivalent`` ("|mean i − mean j| >= delta", one per pair). This is Holm's
  procedure on the whole family of ``M`` hypotheses with the untested ones at p = 1, so it
  keeps the probability of *any* false verdict of the family at or below ``alpha``, whichever
  loss comes out best and whatever the dependence between the comparisons (Holm's proof: with
  ``T`` the true hypotheses, the first false rejection comes at a step ``j <= M - |T| + 1``,
  so needs a p-value ``<= alpha / |T|``, whose probability is ``<= alpha`` by the union bound
  over ``T``). Counting only the ``K - 1`` comparisons with the best is not enough: simulated
  with 6 equally good losses, two-sided tests with Holm over 5 called some loss worse in 7-10 %
  of runs at ``alpha = 0.05``.
- **worse**: adjusted ``p_worse <= alpha``; **equivalent**: adjusted ``p_equivalent <= alpha``
  (and not worse; a loss that is both is *worse*, by less than the margin);
  **inconclusive**: neither.

Every Holm multiplier of ``p_worse`` is at least 2 (``M - k + 1 >= K (K - 1) - K + 2``), so
*worse* implies ``2 p_worse <= alpha``: the ``1 - alpha`` (95 %) interval of the mean difference
lies below 0; *equivalent* implies ``p_equivalent <= alpha``: the interval lies within
``±delta``. With two losses these are exactly the verdicts; with more, Holm makes them stricter.
So a loss called equivalent always has its 95 % interval inside the margin, and the table shows
that interval. The best itself is **best** when no other loss is inconclusive, and
**best by mean** otherwise (its lead over the inconclusive ones is not established).

**Seeds that would likely decide** an inconclusive loss: the smallest ``N`` for which a
t-test with the observed ``d`` and ``s`` taken as the truth reaches a power of 80 % at the
most stringent Holm level ``a = alpha / (K (K - 1))`` per side: ``sqrt(N) e / s >= t(1 - a,
N - 1) + t(0.8, N - 1)`` with ``e = |d|`` (to show it worse, if ``d < 0``) or ``e = delta - |d|``
(to show it equivalent, if ``|d| < delta``), the smaller ``N`` of the two. It is a rough
plug-in estimate (``d`` and ``s`` from few seeds are themselves uncertain).

**Collapse counts**: ``k`` of ``n`` runs collapsed, with the exact (Clopper-Pearson) interval
``[B(alpha/2; k, n-k+1), B(1-alpha/2; k+1, n-k)]`` (``B`` the beta quantile; 0 when ``k = 0``, 1
when ``k = n``).

**Sequential** (``--seeds auto``): seeds are added in rounds and the verdicts computed after
each round (a *look*). With ``L`` planned looks (:func:`sequential_plan`), every look uses
level ``alpha / L`` (a Bonferroni split of alpha over the looks, fixed in advance): the
probability of a false verdict at *any* look is at most the sum over the looks, ``L · alpha / L
= alpha``, whatever the dependence between looks and however the run stops (all decided, out
of seeds, out of time). The run stops at the first look where every loss is decided.

Only NumPy and ``jax.scipy.special.betainc`` are used (t and beta quantiles by bisection on
it), so the experiment needs no SciPy.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence

import numpy as np

ALPHA = 0.05
MARGIN = 0.02
POWER = 0.8
MAX_SEEDS_ESTIMATE = 1000
VERDICTS = ("best", "best by mean", "equivalent", "inconclusive", "worse")
CORRECTION = "Holm"


# --------------------------------------------------------------------------- distributions


@functools.lru_cache(maxsize=1)
def _kernels():
    """Jitted, vectorised ``betainc`` and beta quantile (bisection, 60 halvings)."""
    import jax
    import jax.numpy as jnp
    from jax.scipy.special import betainc

    def quantile(q, a, b):
        def body(_, bounds):
            low, high = bounds
            mid = 0.5 * (low + high)
            below = betainc(a, b, mid) < q
            return jnp.where(below, mid, low), jnp.where(below, high, mid)

        low, high = jax.lax.fori_loop(0, 60, body, (jnp.zeros_like(q), jnp.ones_like(q)))
        return 0.5 * (low + high)

    return jax.jit(betainc), jax.jit(quantile)


def _call(kernel: int, *args) -> np.ndarray:
    """Runs a kernel on broadcast float32 arrays padded to a power of two (few compilations)."""
    arrays = np.broadcast_arrays(*(np.asarray(a, np.float64) for a in args))
    shape, size = arrays[0].shape, arrays[0].size
    padded = 8 if size <= 8 else 1 << (size - 1).bit_length()
    flat = [np.pad(a.ravel(), (0, padded - size), constant_values=0.5).astype(np.float32)
            for a in arrays]
    out = np.asarray(_kernels()[kernel](*flat), np.float64)
    return out[:size].reshape(shape)


def beta_quantile(q, a, b) -> np.ndarray:
    """Quantile ``q`` of the Beta(``a``, ``b``) distribution (arrays broadcast), by bisection on
    the regularised incomplete beta function (float32: good to about 1e-6 absolute)."""
    return _call(1, q, a, b)


def t_cdf(t, df) -> np.ndarray:
    """Distribution function of Student's t with ``df`` degrees of freedom (arrays broadcast;
    ``t`` may be ±inf): ``1 - I_x(df/2, 1/2) / 2`` for ``t >= 0``, ``x = df / (df + t^2)``."""
    t, df = np.broadcast_arrays(np.asarray(t, np.float64), np.asarray(df, np.float64))
    with np.errstate(over="ignore", invalid="ignore"):
        x = np.where(np.isinf(t), 0.0, df / (df + t * t))
    tail = 0.5 * _call(0, df / 2.0, 0.5, x)
    return np.where(t >= 0, 1.0 - tail, tail)


def t_quantiles(p, df) -> np.ndarray:
    """Quantiles ``p`` in (0.5, 1) of Student's t (arrays broadcast). With ``y = t^2 / (df +
    t^2)``, ``I_y(1/2, df/2) = 2p - 1`` and ``I_{1-y}(df/2, 1/2) = 2 - 2p``: each is solved for
    its variable, and the one that is the smaller of ``y`` and ``1 - y`` gives ``t`` (float32
    keeps its relative precision near 0, not near 1)."""
    p, df = np.broadcast_arrays(np.asarray(p, np.float64), np.asarray(df, np.float64))
    if np.any(~(p > 0.5) | ~(p < 1.0)) or np.any(~(df >= 1)):
        raise ValueError(f"t_quantile: expected 0.5 < p < 1 and df >= 1; got p={p}, df={df}")
    y = beta_quantile(2.0 * p - 1.0, 0.5, df / 2.0)
    x = beta_quantile(2.0 - 2.0 * p, df / 2.0, 0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y < 0.5, np.sqrt(df * y / (1.0 - y)), np.sqrt(df * (1.0 - x) / x))


def t_quantile(p: float, df: int) -> float:
    """Quantile ``p`` in (0.5, 1) of Student's t with ``df`` >= 1 degrees of freedom."""
    return float(t_quantiles(p, df))


def clopper_pearson(k: int, n: int, alpha: float = ALPHA) -> tuple[float, float]:
    """Exact ``1 - alpha`` interval of a binomial proportion, ``k`` successes in ``n`` trials
    (NaN bounds when ``n == 0``)."""
    if n == 0:
        return math.nan, math.nan
    if not 0 <= k <= n:
        raise ValueError(f"clopper_pearson: expected 0 <= k <= n; got k={k}, n={n}")
    low, high = beta_quantile([alpha / 2, 1 - alpha / 2], [max(k, 1), k + 1],
                              [n - k + 1, max(n - k, 1)])
    return (0.0 if k == 0 else float(low)), (1.0 if k == n else float(high))


def holm(p_values: Sequence[float], m: int | None = None) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given; NaN counts as 1).

    ``m``: the size of the family (default: the number of p-values); with more hypotheses than
    p-values given, the missing ones count as untested (p = 1), which keeps the control of the
    family-wise error over all ``m`` whichever subset was tested.
    """
    p = np.nan_to_num(np.asarray(p_values, np.float64), nan=1.0)
    m = p.size if m is None else m
    if m < p.size:
        raise ValueError(f"holm: the family (m={m}) is smaller than the {p.size} p-values")
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(p.size)) * p[order]))
    out = np.empty(p.size)
    out[order] = adjusted
    return out.tolist()


# --------------------------------------------------------------------------- summaries


@dataclasses.dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation and ``1 - alpha`` (95 %) t interval of ``n`` values."""

    mean: float
    std: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "std": self.std, "ci95_low": self.low,
                "ci95_high": self.high, "n": self.n}


def summarize(values: Sequence[float], bounds: tuple[float, float] = (-math.inf, math.inf),
              alpha: float = ALPHA) -> Summary:
    """Summary of the finite entries of ``values`` (a diverged seed is NaN and left out).

    ``bounds``: the range of the metric (Dice: ``(0, 1)``); the interval is intersected with it,
    since the mean cannot leave it (with few seeds the t interval easily would).
    """
    x = np.asarray(values, np.float64)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Summary(math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n == 1:
        return Summary(mean, math.nan, math.nan, math.nan, 1)
    std = float(x.std(ddof=1))
    half = t_quantile(1 - alpha / 2, n - 1) * std / math.sqrt(n)
    return Summary(mean, std, max(mean - half, bounds[0]), min(mean + half, bounds[1]), n)


@dataclasses.dataclass(frozen=True)
class Collapse:
    """``count`` of ``n`` runs collapsed, the exact interval of the rate, and the mean of the
    metric over the runs that did not collapse (NaN if none)."""

    count: int
    n: int
    low: float
    high: float
    others_mean: float

    @property
    def split(self) -> bool:
        """Some runs collapsed and some did not: a mean over all of them describes none."""
        return 0 < self.count < self.n

    def as_dict(self) -> dict[str, float]:
        return {"count": self.count, "n": self.n, "ci95_low": self.low, "ci95_high": self.high,
                "others_mean": self.others_mean}


def collapse(collapsed: Sequence[float], metric: Sequence[float],
             alpha: float = ALPHA) -> Collapse:
    """Collapse count (runs with ``collapsed == 1``; NaN runs, which diverged, left out) with its
    Clopper-Pearson interval, and the mean ``metric`` of the others."""
    c = np.asarray(collapsed, np.float64)
    x = np.asarray(metric, np.float64)
    keep = np.isfinite(c)
    count, n = int(c[keep].sum()), int(keep.sum())
    others = x[keep & (c == 0) & np.isfinite(x)]
    low, high = clopper_pearson(count, n, alpha)
    return Collapse(count, n, low, high, float(others.mean()) if others.size else math.nan)


# --------------------------------------------------------------------------- verdicts


@dataclasses.dataclass(frozen=True)
class Standing:
    """Where one loss stands against the best by the mean of a metric.

    ``difference`` summarises the paired per-seed differences (this loss minus the best; for a
    metric where lower is better, best minus this loss), with the ``1 - alpha`` interval. The
    p-values are defined in the module docstring (``*_holm``: Holm-adjusted); ``verdict`` is
    one of :data:`VERDICTS`; ``within_margin``: a *worse* loss that is also equivalent;
    ``seeds_needed``: the seeds that would likely decide an inconclusive loss (``inf``: more
    than :data:`MAX_SEEDS_ESTIMATE`; NaN: not estimated, because decided or fewer than 2 seeds).
    """

    rank: int
    verdict: str
    difference: Summary
    p_worse: float = math.nan
    p_equivalent: float = math.nan
    p_worse_holm: float = math.nan
    p_equivalent_holm: float = math.nan
    within_margin: bool = False
    seeds_needed: float = math.nan

    @property
    def decided(self) -> bool:
        return self.verdict in ("best", "equivalent", "worse")

    def as_dict(self) -> dict[str, object]:
        return {"rank": self.rank, "verdict": self.verdict,
                "difference": self.difference.as_dict(), "p_worse": self.p_worse,
                "p_equivalent": self.p_equivalent, "p_worse_holm": self.p_worse_holm,
                "p_equivalent_holm": self.p_equivalent_holm,
                "within_margin": self.within_margin, "seeds_needed": self.seeds_needed}


def _ratio(numerator: float, se: float) -> float:
    """``numerator / se`` with a zero spread: ±inf, or 0 for 0 / 0."""
    if se > 0:
        return numerator / se
    return 0.0 if numerator == 0 else math.copysign(math.inf, numerator)


@functools.lru_cache(maxsize=32)
def _t_table(p: float) -> np.ndarray:
    """``t(p, N - 1)`` for ``N = 2 .. MAX_SEEDS_ESTIMATE`` (one computation per level)."""
    table = t_quantiles(p, np.arange(1, MAX_SEEDS_ESTIMATE))
    table.setflags(write=False)
    return table


def seeds_needed(mean: float, std: float, *, margin: float, level: float,
                 power: float = POWER) -> float:
    """Seeds with which a t-test at one-sided ``level`` would likely (``power``) decide a loss
    whose paired differences have this ``mean`` and ``std`` (see the module docstring)."""
    effects = [e for e in (-mean if mean < 0 else 0.0, margin - abs(mean)) if e > 0]
    if not effects or not (std > 0):
        return math.nan
    n = np.arange(2, MAX_SEEDS_ESTIMATE + 1)
    needed = _t_table(1.0 - level) + _t_table(power)
    best = math.inf
    for effect in effects:
        enough = np.flatnonzero(np.sqrt(n) * effect / std >= needed)
        if enough.size:
            best = min(best, float(n[enough[0]]))
    return best


def rank(per_seed: Mapping[str, Sequence[float]], *, higher_is_better: bool = True,
         span: float = math.inf, alpha: float = ALPHA, margin: float = MARGIN
         ) -> dict[str, Standing]:
    """The verdict of each loss against the best, on paired per-seed differences.

    Args:
      per_seed: loss label -> values per seed (the same seeds, in the same order, for every
        loss; NaN for a seed that diverged, which drops that seed from the pair).
      higher_is_better: True for Dice/IoU, False for distances.
      span: the width of the metric's range (1 for Dice); differences stay within +-span.
      alpha: the family-wise error level of each family of verdicts (Holm).
      margin: the equivalence margin, in units of the metric.

    Returns:
      label -> :class:`Standing`, rules in the module docstring. Rank 1 is the best mean.
      With one seed nothing is decided (every other loss inconclusive, the best "best by mean").
    """
    if not 0.0 < alpha < 1.0 or not margin > 0.0:
        raise ValueError(f"rank: expected 0 < alpha < 1 and margin > 0; got alpha={alpha}, "
                         f"margin={margin}")
    sign = 1.0 if higher_is_better else -1.0
    bounds = (-span, span)
    values = {k: sign * np.asarray(v, np.float64) for k, v in per_seed.items()}
    means = {k: np.nanmean(v) if np.isfinite(v).any() else -np.inf for k, v in values.items()}
    order = sorted(values, key=lambda k: -means[k])
    best = values[order[0]]
    others = order[1:]
    pairs = max(len(values) * (len(values) - 1) // 2, 1)
    raw: dict[str, tuple[Summary, float, float]] = {}
    for label in others:
        difference = summarize(values[label] - best, bounds, alpha)
        p_worse = p_equivalent = 1.0
        if difference.n >= 2:
            se = difference.std / math.sqrt(difference.n)
            d = difference.mean
            cdf = t_cdf([_ratio(d, se), _ratio(d + margin, se), _ratio(d - margin, se)],
                        difference.n - 1)
            p_worse = float(cdf[0])
            p_equivalent = min(1.0, 2.0 * max(1.0 - float(cdf[1]), float(cdf[2])))
        raw[label] = (difference, p_worse, p_equivalent)
    worse_holm = dict(zip(others, holm([raw[k][1] for k in others], 2 * pairs), strict=True))
    equivalent_holm = dict(zip(others, holm([raw[k][2] for k in others], pairs), strict=True))
    standings = {}
    for position, label in enumerate(others, start=2):
        difference, p_worse, p_equivalent = raw[label]
        worse = worse_holm[label] <= alpha
        equivalent = equivalent_holm[label] <= alpha
        verdict = "worse" if worse else ("equivalent" if equivalent else "inconclusive")
        needed = math.nan
        if verdict == "inconclusive" and difference.n >= 2:
            needed = seeds_needed(difference.mean, difference.std, margin=margin,
                                  level=alpha / (2 * pairs))
        standings[label] = Standing(position, verdict, difference, p_worse, p_equivalent,
                                    worse_holm[label], equivalent_holm[label],
                                    worse and equivalent, needed)
    undecided = any(s.verdict == "inconclusive" for s in standings.values())
    n_best = int(np.isfinite(best).sum())
    zero = Summary(0.0, 0.0, 0.0, 0.0, n_best) if n_best > 1 else Summary(
        0.0, math.nan, math.nan, math.nan, n_best)
    head = Standing(1, "best by mean" if undecided or not others and n_best < 2 else "best",
                    zero)
    return {order[0]: head, **standings}


def sort_key(standing: Standing) -> tuple[int, int]:
    """Table order: the best, then equivalent, inconclusive, worse; by mean within each."""
    group = {"best": 0, "best by mean": 0, "equivalent": 1, "inconclusive": 2, "worse": 3}
    return group[standing.verdict], standing.rank


# --------------------------------------------------------------------------- sequential


def sequential_plan(max_seeds: int, first: int = 3, step: int = 3) -> list[int]:
    """The seed counts at which a ``--seeds auto`` run looks: ``first``, ``first + step``, ...,
    ``max_seeds`` (the last round may be shorter). ``len(plan)`` is the number of planned looks
    ``L``; every look uses level ``alpha / L``."""
    if max_seeds < 2 or first < 2 or step < 1:
        raise ValueError(f"sequential_plan: expected max_seeds >= 2, first >= 2, step >= 1; got "
                         f"{max_seeds}, {first}, {step}")
    plan = [min(first, max_seeds)]
    while plan[-1] < max_seeds:
        plan.append(min(plan[-1] + step, max_seeds))
    return plan


def all_decided(standings: Mapping[str, Standing]) -> bool:
    """Every loss decided: the stopping rule of a sequential run."""
    return all(s.decided for s in standings.values())


def sequential_verdicts(per_seed: Mapping[str, Sequence[float]], plan: Sequence[int], *,
                        alpha: float = ALPHA, margin: float = MARGIN, span: float = 1.0
                        ) -> tuple[int, dict[str, Standing]]:
    """Replays a sequential run on complete per-seed values: the look (index into ``plan``) at
    which it stops and the verdicts there, each look at level ``alpha / len(plan)``."""
    level = alpha / len(plan)
    for look, n in enumerate(plan):
        standings = rank({k: np.asarray(v)[:n] for k, v in per_seed.items()}, span=span,
                         alpha=level, margin=margin)
        if all_decided(standings) or look == len(plan) - 1:
            return look, standings
    raise ValueError("sequential_verdicts: empty plan")


@dataclasses.dataclass(frozen=True)
class DecisionRule:
    """How the verdicts are reached: family-wise level ``alpha`` (Holm within a look), the
    equivalence ``margin``, and the number of planned ``looks`` (1 for a fixed number of seeds;
    a sequential run spends ``alpha / looks`` at each)."""

    alpha: float = ALPHA
    margin: float = MARGIN
    looks: int = 1

    def __post_init__(self):
        if not 0.0 < self.alpha < 0.5:
            raise ValueError(f"alpha: expected a value in (0, 0.5); got {self.alpha}")
        if not 0.0 < self.margin < 1.0:
            raise ValueError(f"margin: expected a Dice difference in (0, 1); got {self.margin}")
        if self.looks < 1:
            raise ValueError(f"looks: expected an integer >= 1; got {self.looks}")

    @property
    def level(self) -> float:
        """The level of the verdicts of one look."""
        return self.alpha / self.looks

    def as_dict(self) -> dict[str, object]:
        return {"alpha": self.alpha, "margin": self.margin, "looks": self.looks,
                "level_per_look": self.level, "correction": CORRECTION,
                "worse": "Holm-adjusted one-sided paired t p-value <= level",
                "equivalent": "Holm-adjusted TOST p-value (each side at level/2) <= level",
                "family": "worse: K(K-1) ordered pairs; equivalent: K(K-1)/2 pairs",
                "seeds_needed": f"t-test power {POWER:.0%} at level/(K(K-1)) per side, "
                                "observed mean and SD of the paired differences"}


DEFAULT_RULE = DecisionRule()


@dataclasses.dataclass
class SequentialLog:
    """What a ``--seeds auto`` run did: the planned seed counts, one entry per look taken
    (``seeds``, ``decided``, ``undecided``: labels, ``elapsed_s``), why it stopped
    (``"all decided"``, ``"max seeds"``, ``"time budget"``) and its budgets."""

    plan: list[int]
    max_seeds: int
    time_budget: float | None = None
    looks: list[dict[str, object]] = dataclasses.field(default_factory=list)
    stopped: str = ""

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)
