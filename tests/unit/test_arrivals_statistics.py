"""Statistics of every arrival process (seeded, >= 10k samples): rate, CV, KS on gaps, lag-1
autocorrelation, index of dispersion of counts, and uniform arrival phase within each second.

The phase check is the one that catches the class of bug where a peer's Poisson timer rescaled
each second's gaps to sum to exactly 1 s, putting ~20 % of arrivals on whole-second boundaries
while mean and CV still looked right (see code-style-anchors.md, inference-perf load_timer);
``test_phase_check_catches_the_whole_second_boundary_bug`` proves the check fails on it.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from loadgen.arrivals import make_process
from loadgen.config import (
    ArrivalConfig,
    ConstantArrivals,
    GammaArrivals,
    OnOffArrivals,
    PoissonArrivals,
    RampArrivals,
    SpikeArrivals,
)

pytestmark = pytest.mark.statistical

P_MIN = 1e-3  # seeded, so deterministic; a real defect drives these p-values to ~0


def _times(cfg: ArrivalConfig, duration: float, seed: int = 12345, start: float = 0.0) -> np.ndarray:
    proc = make_process(cfg)
    t = np.fromiter(proc.times(start, start + duration, np.random.default_rng(seed)), dtype=np.float64)
    assert np.all(np.diff(t) >= 0), "times must be non-decreasing"
    assert t.size == 0 or (t[0] >= start and t[-1] < start + duration)
    return t


def _cv(gaps: np.ndarray) -> float:
    return float(gaps.std() / gaps.mean())


def _lag1(gaps: np.ndarray) -> float:
    return float(np.corrcoef(gaps[:-1], gaps[1:])[0, 1])


def _iod(times: np.ndarray, duration: float, window: float, start: float = 0.0) -> float:
    counts, _ = np.histogram(times, bins=np.arange(start, start + duration + 1e-9, window))
    return float(counts.var() / counts.mean())


def _phase_p(times: np.ndarray) -> float:
    """KS p-value of the arrival phase within each second against Uniform(0, 1)."""
    return float(stats.kstest(np.mod(times, 1.0), "uniform").pvalue)


def _on_boundary(times: np.ndarray) -> float:
    frac = np.mod(times, 1.0)
    return float(np.mean((frac < 1e-9) | (frac > 1 - 1e-9)))


def _assert_uniform_phase(times: np.ndarray) -> None:
    assert _on_boundary(times) == 0.0
    assert _phase_p(times) > P_MIN


# ---- the regression test for the check itself ---------------------------------------------


def _boundary_bug_timer(rate: float, duration: int, rng: np.random.Generator) -> np.ndarray:
    """A re-implementation of the defective timer: a Poisson count per second, then N
    exponential gaps rescaled to sum to exactly one second (so the last lands on the boundary)."""
    out: list[float] = []
    for second in range(duration):
        n = int(rng.poisson(rate))
        if n:
            gaps = rng.exponential(1 / rate, n)
            out.extend(second + np.cumsum(gaps * (1.0 / gaps.sum())))
    return np.asarray(out)


def test_phase_check_catches_the_whole_second_boundary_bug() -> None:
    buggy = _boundary_bug_timer(5.0, 3000, np.random.default_rng(7))
    assert buggy.size > 10_000
    gaps = np.diff(buggy)
    assert 0.85 < _cv(gaps) < 1.05  # a mean/CV test would NOT catch it...
    assert _on_boundary(buggy) > 0.15  # ...but ~20 % sit on whole seconds
    assert _phase_p(buggy) < 1e-6
    good = _times(PoissonArrivals(process="poisson", rate=5.0), 3000.0, seed=7)
    _assert_uniform_phase(good)


# ---- renewal processes ----------------------------------------------------------------------


def test_poisson() -> None:
    rate, duration = 5.0, 4000.0
    t = _times(PoissonArrivals(process="poisson", rate=rate), duration)
    n = t.size
    assert n > 10_000
    assert abs(n - rate * duration) < 4 * np.sqrt(rate * duration)
    gaps = np.diff(t)
    assert abs(_cv(gaps) - 1.0) < 0.04
    assert stats.kstest(gaps, "expon", args=(0, 1 / rate)).pvalue > P_MIN
    assert abs(_lag1(gaps)) < 0.03
    assert abs(_iod(t, duration, 1.0) - 1.0) < 0.08
    _assert_uniform_phase(t)


@pytest.mark.parametrize("burstiness", [0.25, 1.0, 4.0])
def test_gamma(burstiness: float) -> None:
    rate, duration = 10.0, 2000.0
    t = _times(GammaArrivals(process="gamma", rate=rate, burstiness=burstiness), duration)
    n = t.size
    assert n > 10_000
    cv = 1 / np.sqrt(burstiness)
    assert abs(n / (rate * duration) - 1) < 4 * cv / np.sqrt(rate * duration)
    gaps = np.diff(t)
    assert abs(_cv(gaps) / cv - 1) < 0.05
    assert stats.kstest(gaps, "gamma", args=(burstiness, 0, 1 / (rate * burstiness))).pvalue > P_MIN
    assert abs(_lag1(gaps)) < 0.03
    # counts in windows much longer than a gap: index of dispersion -> CV^2 for a renewal process
    assert abs(_iod(t, duration, 20.0) / cv**2 - 1) < 0.25
    _assert_uniform_phase(t)


def test_gamma_burstiness_one_is_poisson_in_law() -> None:
    g = np.diff(_times(GammaArrivals(process="gamma", rate=5.0, burstiness=1.0), 3000.0, seed=1))
    p = np.diff(_times(PoissonArrivals(process="poisson", rate=5.0), 3000.0, seed=2))
    assert stats.ks_2samp(g, p).pvalue > P_MIN


def test_constant() -> None:
    rate, duration = 7.3, 2000.0
    t = _times(ConstantArrivals(process="constant", rate=rate), duration, start=3.0)
    assert t.size == int(np.ceil(duration * rate))
    assert t[0] == 3.0
    gaps = np.diff(t)
    assert np.allclose(gaps, 1 / rate, rtol=0, atol=1e-9)
    assert _cv(gaps) < 1e-6
    assert _iod(t, duration, 10.0, start=3.0) < 0.05  # 73 every 10 s, nearly no variance
    # a non-integer rate walks through every phase of the second evenly
    hist, _ = np.histogram(np.mod(t, 1.0), bins=10, range=(0, 1))
    assert hist.min() / hist.max() > 0.85  # 73 distinct phases in 10 bins: 7 or 8 each


# ---- modulated processes ----------------------------------------------------------------------


def _reference_mmpp(rate_on: float, rate_off: float, on_s: float, off_s: float, duration: float,
                    rng: np.random.Generator) -> np.ndarray:
    """Independent reference: the two-state chain simulated event by event (competing exponentials)."""
    t, on, out = 0.0, True, []
    while t < duration:
        rate = rate_on if on else rate_off
        leave = 1 / (on_s if on else off_s)
        t += rng.exponential(1 / (rate + leave))
        if t >= duration:
            break
        if rng.random() < rate / (rate + leave):
            out.append(t)
        else:
            on = not on
    return np.asarray(out)


def test_onoff() -> None:
    cfg = OnOffArrivals(process="onoff", rate_on=20.0, rate_off=2.0, on_s=2.0, off_s=3.0)
    duration = 2000.0
    t = _times(cfg, duration)
    n = t.size
    assert n > 10_000
    expected = make_process(cfg).expected_count(duration)
    assert abs(expected / duration - (20 * 2 + 2 * 3) / 5) < 0.01
    assert abs(n / expected - 1) < 0.05
    gaps = np.diff(t)
    assert _cv(gaps) > 1.3  # bursty
    assert _lag1(gaps) > 0.05  # short gaps cluster (ON), long gaps cluster (OFF)
    assert _iod(t, duration, 5.0) > 5  # far more variable than Poisson
    ref = _reference_mmpp(20.0, 2.0, 2.0, 3.0, duration, np.random.default_rng(99))
    assert stats.ks_2samp(gaps, np.diff(ref)).pvalue > P_MIN
    _assert_uniform_phase(t)


def test_spike() -> None:
    cfg = SpikeArrivals(process="spike", base_rate=2.0, spike_rate=40.0, every_s=10.0, spike_s=2.0, offset_s=1.0)
    duration = 1100.0
    t = _times(cfg, duration)
    assert t.size > 10_000
    pos = np.mod(t - 1.0, 10.0)  # position within each period, the spike is [0, 2)
    in_spike = (t >= 1.0) & (pos < 2.0)
    spike_rate = in_spike.sum() / (2.0 * 110)  # spikes at 1, 11, ..., 1091: 110 of them
    base_time = duration - 220.0
    base_rate = (~in_spike).sum() / base_time
    assert abs(spike_rate / 40 - 1) < 0.03 and abs(base_rate / 2 - 1) < 0.1
    assert abs(t.size / make_process(cfg).expected_count(duration) - 1) < 0.03
    # counts per spike are Poisson(80): index of dispersion ~ 1
    k = np.floor((t[in_spike] - 1.0) / 10.0).astype(int)
    counts = np.bincount(k, minlength=110)
    assert abs(counts.var() / counts.mean() - 1) < 0.35
    # gaps inside spikes are exponential(1/40)
    spike_t = t[in_spike]
    g = np.diff(spike_t)[np.diff(k) == 0]
    assert stats.kstest(g, "expon", args=(0, 1 / 40)).pvalue > P_MIN
    _assert_uniform_phase(t)


@pytest.mark.parametrize(("a", "b"), [(0.0, 20.0), (20.0, 0.0), (5.0, 15.0)])
def test_ramp(a: float, b: float) -> None:
    duration = 1000.0
    cfg = RampArrivals(process="ramp", from_rate=a, to_rate=b)
    t = _times(cfg, duration, start=50.0) - 50.0
    n = t.size
    expected = (a + b) / 2 * duration
    assert n > 5_000 and abs(n - expected) < 4 * np.sqrt(expected)
    # time-rescaling theorem: cumulative intensity at the arrivals has Exp(1) increments
    c = (b - a) / duration
    lam = a * t + c * t**2 / 2
    inc = np.diff(np.concatenate([[0.0], lam]))
    assert stats.kstest(inc, "expon").pvalue > P_MIN
    assert abs(_lag1(inc)) < 0.04
    # counts per 100 s window follow the linear rate
    counts, edges = np.histogram(t, bins=np.arange(0, duration + 1, 100.0))
    mid = (edges[:-1] + edges[1:]) / 2
    want = (a + c * mid) * 100
    assert np.all(np.abs(counts - want) < 5 * np.sqrt(want) + 5)
    _assert_uniform_phase(t + 50.0)


# ---- seeding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cfg",
    [
        PoissonArrivals(process="poisson", rate=50.0),
        GammaArrivals(process="gamma", rate=50.0, burstiness=0.5),
        OnOffArrivals(process="onoff", rate_on=80.0, rate_off=0.0, on_s=1.0, off_s=1.0),
        SpikeArrivals(process="spike", base_rate=20.0, spike_rate=100.0, every_s=5.0, spike_s=1.0),
        RampArrivals(process="ramp", from_rate=10.0, to_rate=90.0),
    ],
    ids=lambda c: c.process,
)
def test_same_seed_same_times_other_seed_other_times(cfg: ArrivalConfig) -> None:
    a = _times(cfg, 300.0, seed=0)
    b = _times(cfg, 300.0, seed=0)
    c = _times(cfg, 300.0, seed=1)
    assert a.size > 10_000
    assert np.array_equal(a, b)
    assert a.size != c.size or not np.array_equal(a, c)
