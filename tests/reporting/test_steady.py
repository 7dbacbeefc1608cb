"""Steady-state rule and peak-vs-steady ratios (loadgen/reporting/steady.py)."""

from __future__ import annotations

import numpy as np
import pytest

from loadgen.reporting.steady import detect, mser, peak_vs_steady


def _series(y: np.ndarray, start: float = 10.0, step: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    return start + step * np.arange(1, len(y) + 1), y


def test_flat_noise_is_steady_from_the_start() -> None:
    rng = np.random.default_rng(3)
    t, y = _series(rng.normal(0.1, 0.005, 120))
    r = detect("s", "ttft_sched", t, y, 10.0, 610.0)
    assert r.steady is True and r.steady_from_s is not None and r.steady_from_s <= 10.0 + 0.1 * 600


def test_a_warmup_transient_is_truncated() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(0.1, 0.005, 120)
    y[:24] += np.linspace(0.5, 0.05, 24)  # the first 2 minutes are slow
    t, y = _series(y)
    r = detect("s", "ttft_sched", t, y, 10.0, 610.0)
    assert r.steady is True and r.steady_from_s is not None
    assert 10.0 + 20 * 5 <= r.steady_from_s <= 10.0 + 40 * 5
    assert "steady from" in r.reading


def test_a_growing_queue_never_becomes_steady() -> None:
    rng = np.random.default_rng(5)
    t, y = _series(0.1 + 0.002 * np.arange(120) + rng.normal(0, 0.005, 120))
    r = detect("s", "ttft_sched", t, y, 10.0, 610.0)
    assert r.steady is False and r.steady_from_s is None
    assert "never became steady" in r.reading and "past capacity" in r.reading


def test_too_few_intervals_is_undetermined() -> None:
    t, y = _series(np.array([0.1, 0.2, 0.1]))
    assert detect("s", "ttft_sched", t, y, 10.0, 25.0).steady is None


def test_mser_picks_the_end_of_an_initial_offset() -> None:
    z = np.concatenate([np.full(5, 10.0), np.ones(30) + np.tile([0.01, -0.01], 15)])
    assert mser(z) == 5


def test_peak_vs_steady_ratios() -> None:
    summary = {"phases": {
        "warm": {"kind": "warmup", "latency": {"e2e": {"p99_ms": 50.0}}},
        "steady": {"kind": "steady", "req_per_s": 10.0, "latency": {"e2e": {"p50_ms": 100.0, "p99_ms": 200.0}}},
        "burst": {"kind": "burst", "req_per_s": 25.0, "latency": {"e2e": {"p50_ms": 150.0, "p99_ms": 800.0}}},
    }}
    rows = {(r["phase"], r["metric"]): r["ratio"] for r in peak_vs_steady(summary)}
    assert rows[("burst", "e2e p99")] == pytest.approx(4.0) and rows[("burst", "e2e p50")] == pytest.approx(1.5)
    assert rows[("burst", "req/s")] == pytest.approx(2.5) and ("warm", "e2e p99") not in rows
