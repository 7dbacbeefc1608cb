"""Drift and leak detection (issue 13 §4): the trend fit, bounded bins, the detector's verdicts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from collectors import schema
from collectors.counters import C_REQUESTS, ERROR_PREFIX, Counters
from collectors.histograms import HistogramSet
from collectors.point import Point
from loadgen.drift import DriftDetector
from loadgen.trend import MAX_BINS, BinnedSeries, fit_trend, t_quantile

T0 = 1_800_000_000.0
TAGS = {"run_id": "r1", "scenario": "soak"}


class _Phase:
    def __init__(self, name: str, start_s: float, end_s: float) -> None:
        self.name, self.start_s, self.end_s = name, start_s, end_s


@pytest.mark.parametrize("df", [1, 2, 3, 5, 10, 30, 200])
@pytest.mark.parametrize("p", [0.9, 0.975, 0.995])
def test_t_quantile_matches_scipy(df: int, p: float) -> None:
    assert t_quantile(p, df) == pytest.approx(float(stats.t.ppf(p, df)), rel=1e-2 if df == 3 else 1e-3)


def test_fit_recovers_a_known_slope_and_its_interval_covers_it() -> None:
    rng = np.random.default_rng(1)
    t = np.linspace(0, 10, 400)
    y = 0.2 + 0.03 * t + rng.normal(0, 0.01, t.size)
    tr = fit_trend(t, y)
    assert tr is not None
    assert tr.ci_lo_per_h < 0.03 < tr.ci_hi_per_h
    assert tr.slope_per_h == pytest.approx(0.03, rel=0.05)
    assert tr.start == pytest.approx(0.2, abs=0.005)


def test_interval_widens_for_autocorrelated_noise() -> None:
    """AR(1) noise (neighbouring intervals of a soak are alike): the interval must not be too narrow."""
    rng = np.random.default_rng(7)
    covered = 0
    for _ in range(200):
        e = np.zeros(300)
        for i in range(1, 300):
            e[i] = 0.8 * e[i - 1] + rng.normal(0, 1)
        tr = fit_trend(np.arange(300) / 60.0, 5.0 + e)
        assert tr is not None
        covered += tr.ci_lo_per_h <= 0.0 <= tr.ci_hi_per_h
    assert covered >= 170  # ~95 % nominal; plain OLS covers only ~60 % here


def test_fit_needs_three_points_and_a_span() -> None:
    assert fit_trend([0.0, 1.0], [1.0, 2.0]) is None
    assert fit_trend([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None


def test_bins_stay_bounded_and_keep_the_trend() -> None:
    b = BinnedSeries()
    for i in range(100_000):  # 72 h of 2.6 s intervals
        b.add(i / 1000.0, 2.0 + 0.5 * i / 1000.0)
    assert len(b) <= MAX_BINS
    assert b.values == 100_000
    tr = fit_trend(*b.arrays())
    assert tr is not None and tr.slope_per_h == pytest.approx(0.5, rel=1e-6)


def _interval(ttft_s: float, itl_s: float, n: int = 200, errors: int = 0, phase: str = "soak") -> tuple[HistogramSet, Counters]:
    hs, c = HistogramSet(), Counters()
    rng = np.random.default_rng(int(ttft_s * 1e6))
    hs.record_many(schema.M_TTFT, phase, "default", (ttft_s * rng.uniform(0.9, 1.1, n)).tolist())
    hs.record_many(schema.M_ITL, phase, "default", (itl_s * rng.uniform(0.9, 1.1, n)).tolist())
    c.add(phase, "default", C_REQUESTS, n)
    if errors:
        c.add(phase, "default", ERROR_PREFIX + "http_5xx", errors)
    return hs, c


def _detector() -> DriftDetector:
    d = DriftDetector(phases=["soak"], run_tags=TAGS)
    d.start(T0, [_Phase("warmup", 0, 600), _Phase("soak", 600, 6 * 3600)])
    return d


def test_latency_creep_is_flagged_once_with_a_drift_event() -> None:
    d = _detector()
    events: list[Point] = []
    for k in range(240):  # 4 h of 1-minute intervals, TTFT +30 %/h
        now = T0 + 600 + 60 * (k + 1)
        hs, c = _interval(0.2 * (1 + 0.3 * k / 60), 0.02)
        events += d.on_interval(now, hs, c)
    events += d.close(T0 + 600 + 60 * 240)
    kinds = sorted(p.tags[schema.T_OBJECTIVE.name] for p in events)
    assert "ttft_p99" in kinds and "ttft_p50" in kinds
    assert not {"itl_p50", "itl_p99", "error_rate"} & set(kinds)
    ev = next(p for p in events if p.tags[schema.T_OBJECTIVE.name] == "ttft_p99")
    assert ev.measurement == schema.RUN_EVENT.name
    assert ev.tags[schema.T_EVENT.name] == schema.EVENT_DRIFT
    assert ev.fields[schema.EF_VALUE.name] == pytest.approx(0.06, rel=0.15)  # s per hour
    s = d.summary()
    assert s["flagged"] == ["ttft_p50", "ttft_p99"]
    row = s["series"]["ttft_p99"]
    assert row["ci_lo_per_h"] > 0 and row["drifting"]
    assert len(events) == 2  # once per series, not every interval


@pytest.mark.parametrize("seed", [3, 4, 5, *(pytest.param(s, marks=pytest.mark.statistical) for s in range(6, 23))])
def test_a_stable_soak_is_not_flagged(seed: int) -> None:
    """No false alarm on 6 h of trendless but autocorrelated (AR(1), phi 0.8) latency and random errors."""
    d = _detector()
    rng = np.random.default_rng(seed)
    events: list[Point] = []
    level = 0.0
    for k in range(720):  # 12 h-equivalent of noisy, autocorrelated but trendless latency
        level = 0.8 * level + rng.normal(0, 0.015)
        hs, c = _interval(0.2 + level, 0.02 + level / 10, errors=int(rng.integers(0, 2)))
        events += d.on_interval(T0 + 600 + 30 * (k + 1), hs, c)
    events += d.close(T0 + 600 + 30 * 720)
    assert events == []
    assert d.summary()["flagged"] == []


def test_server_kv_leak_counts_only_inside_drift_phases() -> None:
    d = _detector()

    def server(wall: float, kv: float, waiting: float = 0.0) -> Point:
        return Point(schema.SERVER.name, {"host": "h"},
                     {schema.SF_KV_CACHE_USAGE.name: kv, schema.SF_WAITING.name: waiting}, int(wall * 1e9))

    tap_sink: list[Point] = []

    class Sink:
        def write_points(self, points: list[Point]) -> None:
            tap_sink.extend(points)

    tap = d.tap(Sink())
    # warmup: KV fills from 0 to 0.3 (a ramp, not a leak): ignored
    tap.write_points([server(T0 + 10 * i, 0.3 * i / 60) for i in range(60)])
    assert d.summary()["series"] == {}
    # soak: KV usage leaks 0.2 per hour from 0.3
    tap.write_points([server(T0 + 600 + 10 * i, 0.3 + 0.2 * i * 10 / 3600) for i in range(720)])
    assert len(tap_sink) == 780  # every point forwarded
    events = d.evaluate(T0 + 8000) + d.evaluate(T0 + 9000) + d.evaluate(T0 + 10000)
    assert [p.tags[schema.T_OBJECTIVE.name] for p in events] == ["kv_cache_usage"]
    assert d.summary()["series"]["kv_cache_usage"]["slope_per_h"] == pytest.approx(0.2, rel=1e-3)
    assert d.summary()["series"]["server_waiting"]["drifting"] is False


def test_values_before_start_are_ignored() -> None:
    d = DriftDetector(phases=["soak"], run_tags=TAGS)
    d.add("ttft_p99", T0, 1.0)
    d.observe_points([Point(schema.SERVER.name, {}, {schema.SF_KV_CACHE_USAGE.name: 0.5}, int(T0 * 1e9))])
    assert d.summary()["series"] == {}
