"""Statistics over the seeds of a comparison: mean, spread, 95 % intervals, paired ranking.

Each loss is trained once per seed, and seed ``s`` uses the same initialisation and the same
batches for every loss, so two losses are compared *paired*: the per-seed differences remove
the part of the spread that comes from the seed itself. The interval of a mean is Student's t
interval, ``mean ± t(0.975, n - 1) · std / sqrt(n)`` with the sample standard deviation
(``ddof=1``); with one seed there is no interval (NaN bounds).

Only NumPy and ``jax.scipy.special.betainc`` (for the t quantile) are used, so the experiment
needs no SciPy.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np


def t_quantile(p: float, df: int) -> float:
    """Quantile ``p`` in (0.5, 1) of Student's t with ``df`` >= 1 degrees of freedom.

    Bisection on the distribution function ``F(t) = 1 - I_x(df/2, 1/2) / 2``,
    ``x = df / (df + t^2)`` (regularised incomplete beta, evaluated in float32: the quantile is
    good to about 1e-4 relative, ample for an interval).
    """
    from jax.scipy.special import betainc

    if not 0.5 < p < 1.0 or df < 1:
        raise ValueError(f"t_quantile: expected 0.5 < p < 1 and df >= 1; got p={p}, df={df}")

    def cdf(t: float) -> float:
        return 1.0 - 0.5 * float(betainc(df / 2.0, 0.5, df / (df + t * t)))

    low, high = 0.0, 1.0
    while cdf(high) < p:
        high *= 2.0
    while high - low > 1e-7 * max(1.0, high):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if cdf(mid) < p else (low, mid)
    return 0.5 * (low + high)


@dataclasses.dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation and 95 % t interval of ``n`` finite values."""

    mean: float
    std: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "std": self.std, "ci95_low": self.low,
                "ci95_high": self.high, "n": self.n}


def summarize(values: Sequence[float], bounds: tuple[float, float] = (-math.inf, math.inf)
              ) -> Summary:
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
    half = t_quantile(0.975, n - 1) * std / math.sqrt(n)
    return Summary(mean, std, max(mean - half, bounds[0]), min(mean + half, bounds[1]), n)


@dataclasses.dataclass(frozen=True)
class Standing:
    """Where one loss stands against the best by the mean of a metric.

    ``difference`` summarises the paired per-seed differences (this loss minus the best; for a
    metric where lower is better, best minus this loss), so it is <= 0 on average. ``tied`` is
    true when its 95 % interval contains 0 (and for the best itself).
    """

    rank: int
    difference: Summary
    tied: bool


def rank(per_seed: Mapping[str, Sequence[float]], *, higher_is_better: bool = True,
         span: float = math.inf) -> dict[str, Standing]:
    """Ranks losses by the mean of a per-seed metric; ties are judged on paired differences.

    Args:
      per_seed: loss label -> values per seed (the same seeds, in the same order, for every
        loss; NaN for a seed that diverged, which drops that seed from the pair).
      higher_is_better: True for Dice/IoU, False for distances.
      span: the width of the metric's range (1 for Dice); differences stay within +-span.

    Returns:
      label -> :class:`Standing`. Rank 1 is the best mean; a loss whose paired difference to
      the best has a 95 % interval containing 0 is ``tied`` (with one seed no loss but the best
      is tied: there is no interval).
    """
    sign = 1.0 if higher_is_better else -1.0
    bounds = (-span, span)
    values = {k: sign * np.asarray(v, np.float64) for k, v in per_seed.items()}
    means = {k: np.nanmean(v) if np.isfinite(v).any() else -np.inf for k, v in values.items()}
    order = sorted(values, key=lambda k: -means[k])
    best = values[order[0]]
    standings = {}
    for position, label in enumerate(order, start=1):
        difference = summarize(values[label] - best, bounds)
        tied = position == 1 or (difference.n > 1 and difference.low <= 0.0 <= difference.high)
        standings[label] = Standing(position, difference, tied)
    return standings
