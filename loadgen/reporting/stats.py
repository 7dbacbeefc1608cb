"""Significance tests used by ``compare`` (numpy only; checked against scipy in the tests).

- :func:`mann_whitney`: two-sided Mann–Whitney U test (Wilcoxon rank-sum) with mid-ranks for
  ties, the tie-corrected normal approximation and a continuity correction (scipy's
  ``mannwhitneyu(..., method="asymptotic")``).  It asks whether one run's values tend to be
  larger than the other's; it makes no assumption about the distributions' shape.
- :func:`two_proportions`: two-sided z test of two rates with the pooled variance (error rates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_SAMPLES = 8  # per side; fewer: not tested


@dataclass(frozen=True, slots=True)
class TestResult:
    test: str
    p_value: float | None  # None: not tested (too few samples)
    n_a: int
    n_b: int
    statistic: float | None = None


def rankdata(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Mid-ranks (1-based) of ``x`` and the tie term ``sum(t^3 - t)`` over tie groups."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    mid = ends - (counts - 1) / 2.0
    c = counts.astype(np.float64)
    return mid[inverse], float(np.sum(c**3 - c))


def mann_whitney(a: np.ndarray, b: np.ndarray) -> TestResult:
    n1, n2 = int(a.size), int(b.size)
    if n1 < MIN_SAMPLES or n2 < MIN_SAMPLES:
        return TestResult("mann-whitney", None, n1, n2)
    ranks, ties = rankdata(np.concatenate([a, b]))
    r1 = float(ranks[:n1].sum())
    u1 = r1 - n1 * (n1 + 1) / 2.0
    mu = n1 * n2 / 2.0
    n = n1 + n2
    var = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return TestResult("mann-whitney", 1.0, n1, n2, u1)
    z = (abs(u1 - mu) - 0.5) / math.sqrt(var)
    p = math.erfc(max(z, 0.0) / math.sqrt(2.0))
    return TestResult("mann-whitney", min(1.0, p), n1, n2, u1)


def two_proportions(k1: int, n1: int, k2: int, n2: int) -> TestResult:
    if n1 < MIN_SAMPLES or n2 < MIN_SAMPLES:
        return TestResult("two-proportion z", None, n1, n2)
    p = (k1 + k2) / (n1 + n2)
    if p in (0.0, 1.0):
        return TestResult("two-proportion z", 1.0, n1, n2, 0.0)
    z = (k2 / n2 - k1 / n1) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    return TestResult("two-proportion z", math.erfc(abs(z) / math.sqrt(2.0)), n1, n2, z)


__all__ = ["MIN_SAMPLES", "TestResult", "mann_whitney", "rankdata", "two_proportions"]
