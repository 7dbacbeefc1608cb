"""Steady-state detection inside a steady phase, and peak-vs-steady ratios.

The rule (docs/metrics.md, "Steady state"):

1. The series is the per-interval median of ``ttft_sched`` (``e2e_sched`` when the run has no
   TTFT: non-streaming) over the phase's intervals, classes combined as the count-weighted mean
   of their interval medians.  Latency *from the scheduled time* is used because it grows with
   the queue, whoever's queue it is.
2. MSER truncation: the intervals are grouped in batches of ``b`` (5 when there are at least 30
   intervals, else 1: MSER-5 / MSER), batch means ``Z_1..Z_k``; the truncation point is the
   ``d`` in ``0..k/2`` minimising ``sum_{i>d} (Z_i - mean(Z_{d+1..k}))^2 / (k - d)^2``.  The phase
   is steady from the start of batch ``d + 1``.
3. Not steady (the queue is growing: the target is past capacity) when, over the retained part,
   the least-squares slope of the series is positive with a t statistic above 3 **and** the
   fitted rise across the retained part exceeds half its mean; or when MSER truncates at its
   limit (half the phase) and the rise test is not passed in reverse.  Fewer than 4 batches:
   undetermined (too short to tell).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

MIN_BATCHES = 4
T_STAT = 3.0
MIN_RISE = 0.5  # of the retained mean


@dataclass(frozen=True, slots=True)
class SteadyResult:
    phase: str
    metric: str
    intervals: int
    steady: bool | None  # None: undetermined (too few intervals)
    steady_from_s: float | None  # seconds since the plan's start
    truncated_s: float  # seconds of the phase before steady state
    rise_fraction: float | None  # fitted rise across the retained part / its mean
    slope_t: float | None
    reading: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase, "metric": self.metric, "intervals": self.intervals, "steady": self.steady,
            "steady_from_s": self.steady_from_s, "truncated_s": self.truncated_s,
            "rise_fraction": self.rise_fraction, "slope_t": self.slope_t, "reading": self.reading,
        }


def mser(z: np.ndarray) -> int:
    """MSER truncation index ``d`` (batches dropped) over ``0..len(z)//2``."""
    k = len(z)
    best_d, best = 0, math.inf
    for d in range(k // 2 + 1):
        rest = z[d:]
        stat = float(np.sum((rest - rest.mean()) ** 2)) / (k - d) ** 2
        if stat < best:
            best_d, best = d, stat
    return best_d


def _slope_t(t: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, t statistic of the slope) of an ordinary least-squares line."""
    n = len(t)
    tm, ym = t.mean(), y.mean()
    sxx = float(np.sum((t - tm) ** 2))
    if n < 3 or sxx == 0:
        return 0.0, 0.0
    slope = float(np.sum((t - tm) * (y - ym))) / sxx
    resid = y - (ym + slope * (t - tm))
    s2 = float(np.sum(resid**2)) / (n - 2)
    if s2 == 0:
        return slope, math.inf if slope > 0 else (-math.inf if slope < 0 else 0.0)
    return slope, slope / math.sqrt(s2 / sxx)


def detect(phase: str, metric: str, t: np.ndarray, y: np.ndarray, start_s: float, end_s: float) -> SteadyResult:
    """Apply the rule to one phase's interval series (``t`` seconds since t0, ``y`` any unit)."""
    keep = np.isfinite(y) & (t > start_s) & (t <= end_s + 1e-9)
    t, y = t[keep], y[keep]
    n = len(y)
    b = 5 if n >= 30 else 1
    k = n // b
    if k < MIN_BATCHES:
        return SteadyResult(phase, metric, n, None, None, 0.0, None, None,
                            f"{phase}: too short to tell whether it became steady ({n} intervals)")
    z = y[: k * b].reshape(k, b).mean(axis=1)
    d = mser(z)
    first = d * b
    steady_from = float(t[first - 1]) if first > 0 else start_s  # the interval ending there
    rt, ry = t[first:], y[first:]
    slope, tstat = _slope_t(rt, ry)
    mean = float(ry.mean())
    rise = slope * float(rt[-1] - rt[0]) / mean if mean > 0 else 0.0
    growing = tstat > T_STAT and rise > MIN_RISE
    at_limit = d == k // 2 and k >= 2 * MIN_BATCHES and float(z[: d].mean()) < float(z[d:].mean())
    steady = not (growing or at_limit)
    trunc = steady_from - start_s
    if steady:
        reading = (f"{phase}: steady from {steady_from:.0f} s ({trunc:.0f} s after the phase began; "
                   f"MSER-{b} on interval {metric} p50)")
    else:
        why = (f"{metric} p50 rose {rise:.0%} across the phase (slope t = {tstat:.1f})" if growing
               else f"{metric} p50 was still rising when half the phase was gone")
        reading = f"{phase}: never became steady: {why}; the queue is growing, the target is past capacity"
    return SteadyResult(phase, metric, n, steady, steady_from if steady else None, trunc,
                        rise, None if not math.isfinite(tstat) else tstat, reading)


# ---- peak vs steady ---------------------------------------------------------------------
RATIO_METRICS: tuple[tuple[str, str], ...] = (
    ("ttft", "p50_ms"), ("ttft", "p99_ms"), ("tpot", "p50_ms"), ("tpot", "p99_ms"), ("e2e", "p50_ms"), ("e2e", "p99_ms"),
)
PEAK_KINDS = frozenset({"peak", "burst"})


def peak_vs_steady(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Per burst/peak phase and metric: value, the steady phases' value and their ratio.

    The steady reference is the ``overall`` block when exactly the steady phases are judged,
    else the first phase of kind ``steady``.
    """
    phases: dict[str, Any] = summary.get("phases") or {}
    steady = [n for n, b in phases.items() if b.get("kind") == "steady"]
    if not steady:
        return []
    ref_name = steady[0]
    ref = phases[ref_name]
    rows: list[dict[str, Any]] = []
    for name, b in phases.items():
        if b.get("kind") not in PEAK_KINDS:
            continue
        for metric, key in RATIO_METRICS:
            v = (b.get("latency", {}).get(metric) or {}).get(key)
            r = (ref.get("latency", {}).get(metric) or {}).get(key)
            if v is None or r is None:
                continue
            rows.append({"phase": name, "steady_phase": ref_name, "metric": f"{metric} {key[:-3]}",
                         "value_ms": v, "steady_ms": r, "ratio": v / r if r else None})
        if b.get("req_per_s") is not None and ref.get("req_per_s"):
            rows.append({"phase": name, "steady_phase": ref_name, "metric": "req/s", "value_ms": None,
                         "value": b["req_per_s"], "steady": ref["req_per_s"],
                         "ratio": b["req_per_s"] / ref["req_per_s"]})
    return rows


__all__ = ["PEAK_KINDS", "RATIO_METRICS", "SteadyResult", "detect", "mser", "peak_vs_steady"]
