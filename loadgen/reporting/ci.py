"""Distribution-free confidence intervals on percentiles (order statistics, binomial).

For ``n`` independent samples and the true ``q``-quantile ``xi``, the number ``K`` of samples
below ``xi`` is Binomial(n, q) whatever the distribution.  The interval between the order
statistics ``x(l)`` and ``x(u)`` (1-based ranks) covers ``xi`` with probability
``P(l <= K < u)``; we take the equal-tailed ranks

- ``l = 1 + max{k : P(K <= k) <= alpha/2}``  (none when ``P(K = 0) > alpha/2``: no lower bound),
- ``u = 1 + min{k : P(K <= k) >= 1 - alpha/2}`` (none when ``u > n``: no upper bound),

so the coverage is at least ``1 - alpha``.  A percentile with no upper bound has *too few
samples to bound*: e.g. p99.9 needs at least 3,688 samples at 95 % (``q**n <= alpha/2``), p99
needs 368.  The binomial CDF is evaluated exactly (log-space recurrence over a window of
mode +- 12 sd, outside which the mass is below 1e-30), with numpy, and cached.

Values at the ranks are read from the same merged HDR histogram as the point estimate
(``value_at_percentile(100 * rank / n)`` returns the ``rank``-th smallest value, within the
histogram's 0.1 % resolution).  See docs/metrics.md, "Confidence intervals".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from collectors.hdr_read import value_at_percentile

DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True)
class QuantileCI:
    """A percentile's point estimate and its distribution-free interval (ms; None: unbounded)."""

    percentile: float
    samples: int
    confidence: float
    value_ms: float | None
    lo_ms: float | None
    hi_ms: float | None

    @property
    def bounded(self) -> bool:
        """False when there are too few samples to bound the percentile from above."""
        return self.hi_ms is not None


def min_samples_for_upper_bound(percentile: float, confidence: float = DEFAULT_CONFIDENCE) -> int:
    """Fewest samples for which ``percentile`` has an upper bound at ``confidence`` (q**n <= alpha/2)."""
    q = percentile / 100.0
    alpha = 1.0 - confidence
    return max(1, math.ceil(math.log(alpha / 2.0) / math.log(q)))


@lru_cache(maxsize=4096)
def order_stat_ranks(n: int, percentile: float, confidence: float = DEFAULT_CONFIDENCE) -> tuple[int | None, int | None]:
    """1-based ranks ``(l, u)`` of the order statistics bounding the ``percentile`` (None: unbounded)."""
    if n <= 0:
        return None, None
    q = percentile / 100.0
    if not 0.0 < q < 1.0:
        raise ValueError(f"percentile must be in (0, 100), got {percentile}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    half = (1.0 - confidence) / 2.0
    mu = n * q
    sd = math.sqrt(n * q * (1.0 - q))
    lo = max(0, math.floor(mu - 12.0 * sd - 10.0))
    hi = min(n, math.ceil(mu + 12.0 * sd + 10.0))
    k = np.arange(lo, hi + 1, dtype=np.float64)
    log0 = (
        math.lgamma(n + 1) - math.lgamma(lo + 1) - math.lgamma(n - lo + 1)
        + lo * math.log(q) + (n - lo) * math.log1p(-q)
    )
    steps = np.log((n - k[:-1]) / (k[:-1] + 1.0)) + (math.log(q) - math.log1p(-q))
    logpmf = log0 + np.concatenate(([0.0], np.cumsum(steps)))
    cdf = np.cumsum(np.exp(logpmf))  # P(K <= k) for k in [lo, hi]; mass below lo is < 1e-30
    below = np.nonzero(cdf <= half)[0]
    # no k in the window: below lo, P(K <= lo - 1) is negligible, so rank lo is safe (None when lo = 0)
    lower = int(lo + below[-1]) + 1 if below.size else (lo if lo > 0 else None)
    above = np.nonzero(cdf >= 1.0 - half)[0]
    upper_k = int(lo + above[0]) if above.size else hi
    upper = upper_k + 1 if upper_k + 1 <= n else None
    return lower, upper


def quantile_ci(hist: Any, percentile: float, confidence: float = DEFAULT_CONFIDENCE) -> QuantileCI:
    """Point estimate and interval of ``percentile`` from an HDR histogram of microseconds."""
    n = int(hist.get_total_count())
    if n == 0:
        return QuantileCI(percentile, 0, confidence, None, None, None)
    lower, upper = order_stat_ranks(n, percentile, confidence)

    def at_rank(rank: int) -> float:
        return value_at_percentile(hist, 100.0 * rank / n) / 1000.0

    value = value_at_percentile(hist, percentile) / 1000.0
    return QuantileCI(
        percentile, n, confidence, value,
        None if lower is None else at_rank(lower),
        None if upper is None else at_rank(upper),
    )


def ci_key(percentile: float) -> str:
    """The summary.json key of a percentile's interval, e.g. ``p99_9_ci_ms``."""
    return f"p{percentile:g}".replace(".", "_") + "_ci_ms"


def add_cis(block: dict[str, Any], hist: Any, percentiles: tuple[float, ...], confidence: float) -> None:
    """Add ``ci_confidence``, ``pXX_ci_ms: [lo, hi]`` (null: unbounded) and ``too_few_samples`` to a latency block."""
    if not block.get("count"):
        return
    block["ci_confidence"] = confidence
    few: list[str] = []
    for p in percentiles:
        ci = quantile_ci(hist, p, confidence)
        block[ci_key(p)] = [ci.lo_ms, ci.hi_ms]
        if not ci.bounded:
            few.append(f"p{p:g}".replace(".", "_"))
    block["too_few_samples"] = few




@dataclass(frozen=True, slots=True)
class Judged:
    """What an SLO objective is judged on: the point estimate, or (``slo.confidence``) the upper bound."""

    ci: QuantileCI
    on: str  # "point" | "upper_bound"
    value_ms: float | None  # the number compared with the threshold; None: nothing to judge on

    def reason(self) -> str:
        """Why there is no value to judge on (empty when there is one)."""
        if self.ci.samples == 0:
            return "no samples"
        if self.value_ms is None:
            need = min_samples_for_upper_bound(self.ci.percentile, self.ci.confidence)
            return (f"too few samples to bound at {self.ci.confidence:.0%} "
                    f"({self.ci.samples}, need >= {need})")
        return ""


def judged_value(hist: Any, percentile: float, confidence: float | None) -> Judged:
    """The interval at ``confidence`` (default 95 % for display) and the value an objective is judged on."""
    ci = quantile_ci(hist, percentile, confidence or DEFAULT_CONFIDENCE)
    if confidence is None:
        return Judged(ci, "point", ci.value_ms)
    return Judged(ci, "upper_bound", ci.hi_ms)


__all__ = [
    "DEFAULT_CONFIDENCE",
    "Judged",
    "QuantileCI",
    "add_cis",
    "ci_key",
    "judged_value",
    "min_samples_for_upper_bound",
    "order_stat_ranks",
    "quantile_ci",
]
