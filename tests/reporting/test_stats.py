"""compare's significance tests agree with scipy (loadgen/reporting/stats.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import mannwhitneyu, norm
from scipy.stats import rankdata as scipy_rankdata

from loadgen.reporting.stats import mann_whitney, rankdata, two_proportions


@pytest.mark.parametrize("seed", range(5))
def test_mann_whitney_matches_scipy_asymptotic(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0, 1, 60 + seed * 30)
    b = rng.lognormal(0.2 * seed, 1, 80)
    ours = mann_whitney(a, b)
    ref = mannwhitneyu(a, b, alternative="two-sided", method="asymptotic", use_continuity=True)
    assert ours.statistic == pytest.approx(ref.statistic) and ours.p_value == pytest.approx(ref.pvalue, rel=1e-9)


def test_mann_whitney_with_ties_matches_scipy() -> None:
    rng = np.random.default_rng(9)
    a, b = rng.integers(0, 6, 50).astype(float), rng.integers(1, 7, 45).astype(float)
    ref = mannwhitneyu(a, b, alternative="two-sided", method="asymptotic", use_continuity=True)
    assert mann_whitney(a, b).p_value == pytest.approx(ref.pvalue, rel=1e-9)
    ranks, _ = rankdata(np.concatenate([a, b]))
    assert np.allclose(ranks, scipy_rankdata(np.concatenate([a, b])))


def test_too_few_samples_are_not_tested() -> None:
    assert mann_whitney(np.ones(5), np.ones(50)).p_value is None
    assert two_proportions(0, 5, 1, 50).p_value is None


def test_two_proportions() -> None:
    r = two_proportions(10, 1000, 30, 1000)
    p = 40 / 2000
    z = (0.03 - 0.01) / math.sqrt(p * (1 - p) * (2 / 1000))
    assert r.p_value is not None and r.p_value == pytest.approx(2 * norm.sf(z), rel=1e-9) and r.p_value < 0.01
    assert two_proportions(0, 100, 0, 100).p_value == 1.0
