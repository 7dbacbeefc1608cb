"""Distribution-free percentile intervals (loadgen/reporting/ci.py) and slo.confidence judging."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pytest
from rich.console import Console
from scipy.stats import binom

from collectors import schema
from collectors.counters import Counters
from collectors.histograms import HistogramSet, new_histogram
from loadgen.report import PhaseInfo, build_summary, render
from loadgen.reporting.ci import min_samples_for_upper_bound, order_stat_ranks, quantile_ci
from loadgen.slo import RunHealth, decide_exit, judge


def reference_ranks(n: int, q: float, conf: float) -> tuple[int | None, int | None]:
    """The rule in ci.py's docstring, evaluated with scipy's binomial CDF."""
    half = (1 - conf) / 2
    cdf = binom.cdf(np.arange(n + 1), n, q)
    below = np.nonzero(cdf <= half)[0]
    above = np.nonzero(cdf >= 1 - half)[0]
    lower = int(below[-1]) + 1 if below.size else None
    upper = int(above[0]) + 1 if above.size and above[0] + 1 <= n else None
    return lower, upper


@pytest.mark.parametrize("n", [1, 2, 5, 10, 37, 100, 367, 368, 400, 1000, 3687, 3688, 20000])
@pytest.mark.parametrize("p", [50.0, 90.0, 95.0, 99.0, 99.9])
def test_ranks_match_the_binomial_rule(n: int, p: float) -> None:
    assert order_stat_ranks(n, p, 0.95) == reference_ranks(n, p / 100, 0.95)
    assert order_stat_ranks(n, p, 0.99) == reference_ranks(n, p / 100, 0.99)


def test_too_few_samples_boundary() -> None:
    # the example: p99.9 from 400 requests cannot be bounded
    assert order_stat_ranks(400, 99.9)[1] is None
    for p in (99.0, 99.9):
        need = min_samples_for_upper_bound(p)
        assert order_stat_ranks(need, p)[1] is not None
        assert order_stat_ranks(need - 1, p)[1] is None
    assert min_samples_for_upper_bound(99.9) == 3688 and min_samples_for_upper_bound(99.0) == 368


@pytest.mark.statistical
def test_coverage_is_at_least_the_confidence() -> None:
    rng = np.random.default_rng(7)
    n, reps, q = 500, 4000, 0.9
    true_q = -np.log(1 - q)  # exponential(1)
    lo, hi = order_stat_ranks(n, q * 100)
    assert lo is not None and hi is not None
    x = np.sort(rng.exponential(1.0, (reps, n)), axis=1)
    covered = (x[:, lo - 1] <= true_q) & (true_q <= x[:, hi - 1])
    # exact coverage of these ranks is >= 0.95; 4000 reps: sd 0.0035
    assert covered.mean() >= 0.94


def test_interval_from_an_hdr_histogram_is_the_order_statistics() -> None:
    rng = np.random.default_rng(1)
    values_ms = rng.lognormal(np.log(50), 0.5, 2000)
    h = new_histogram()
    for v in values_ms:
        h.record_value(int(round(v * 1000)))
    ci = quantile_ci(h, 99.0)
    lo, hi = order_stat_ranks(2000, 99.0)
    assert lo is not None and hi is not None and ci.lo_ms is not None and ci.hi_ms is not None
    s = np.sort(values_ms)
    assert ci.lo_ms == pytest.approx(s[lo - 1], rel=2e-3) and ci.hi_ms == pytest.approx(s[hi - 1], rel=2e-3)
    assert ci.lo_ms <= ci.value_ms <= ci.hi_ms  # type: ignore[operator]


@dataclass(frozen=True)
class Obj:
    metric: str
    percentile: float
    max_ms: float


def _hs(n: int) -> HistogramSet:
    hs = HistogramSet()
    for i in range(n):
        hs.record(schema.M_TTFT, "steady", "a", 0.050 + (i % 100) / 1000)  # 50..149 ms
    return hs


def _counters(n: int) -> Counters:
    c = Counters()
    c.add("steady", "a", "requests", n)
    c.add("steady", "a", "ok", n)
    return c


def test_slo_confidence_judges_the_upper_bound() -> None:
    hs, c = _hs(1000), _counters(1000)
    # p90 point estimate ~140 ms; its upper bound is higher: between them the verdicts differ
    point = judge([Obj("ttft", 90, 140.5)], None, hs, c, ["steady"])
    upper = judge([Obj("ttft", 90, 140.5)], None, hs, c, ["steady"], confidence=0.95)
    assert point.passed and not upper.passed
    o = upper.objectives[0]
    assert o.judged_on == "upper_bound" and o.ci_hi_ms is not None and o.judged_ms == o.ci_hi_ms > 140.5
    assert "upper bound (95%)" in upper.failures()[0]


def test_slo_confidence_fails_a_percentile_with_too_few_samples() -> None:
    hs, c = _hs(400), _counters(400)
    v = judge([Obj("ttft", 99.9, 10_000)], None, hs, c, ["steady"], confidence=0.95)
    assert not v.passed
    assert "too few samples to bound at 95% (400, need >= 3688)" in v.failures()[0]
    # without slo.confidence the point estimate is judged and the interval only shown
    v2 = judge([Obj("ttft", 99.9, 10_000)], None, hs, c, ["steady"])
    assert v2.passed and v2.objectives[0].ci_hi_ms is None and v2.objectives[0].judged_on == "point"


def test_summary_and_terminal_carry_intervals_and_mark_too_few_samples() -> None:
    hs, c = _hs(400), _counters(400)
    verdict = judge([Obj("ttft", 99.9, 1000)], None, hs, c, ["steady"])
    health = RunHealth()
    s = build_summary(meta={"run_id": "r", "scenario": "s"}, phases=[PhaseInfo("steady", "steady", 0, 10, "poisson(rate=40/s)")],
                      judged_phases=["steady"], hs=hs, counters=c, verdict=verdict, health=health,
                      decision=decide_exit(verdict, health))
    lb = s["phases"]["steady"]["latency"]["ttft"]
    assert lb["count"] == 400 and lb["ci_confidence"] == 0.95
    assert lb["p99_9_ci_ms"][1] is None and lb["too_few_samples"] == ["p99_9"]
    assert lb["p50_ci_ms"][0] <= lb["p50_ms"] <= lb["p50_ci_ms"][1]
    buf = io.StringIO()
    render(s, Console(file=buf, width=160, color_system=None))
    out = buf.getvalue()
    assert "too few samples to bound" in out and "* too few samples" in out


def test_terminal_summary_opens_with_the_objective() -> None:
    hs, c = _hs(10), _counters(10)
    verdict = judge([], None, hs, c, ["steady"])
    s = build_summary(meta={"run_id": "r", "scenario": "s", "objective": {"goal": "capacity", "intent": "how far?"}},
                      phases=[PhaseInfo("steady", "steady", 0, 10, "poisson(rate=1/s)")], judged_phases=["steady"],
                      hs=hs, counters=c, verdict=verdict, health=RunHealth(), decision=decide_exit(verdict, RunHealth()))
    buf = io.StringIO()
    render(s, Console(file=buf, width=160, color_system=None))
    assert buf.getvalue().startswith("objective: capacity - how far?")
