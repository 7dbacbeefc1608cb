"""The live view's chart series: one point per chart interval, in a bounded buffer.

:class:`LiveSeries` receives every recorder delta the master merges (``on_delta``) into its own
interval histograms and counters, and :meth:`LiveSeries.close_interval` turns them into one chart
point: interval p99 TTFT and ITL, target vs achieved req/s, goodput, errors, schedule lag and
the interval's validity.  *Target* is what the plan scheduled in the interval: the seeded global
arrival sequence walked incrementally (:class:`TargetCounter`), so bursts, ramps and spikes show
as planned, not as a phase mean.  The buffer keeps the last ``history`` points (an hour at the
default 2 s), so memory does not grow with the run's length.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from collectors import schema
from collectors.counters import C_DROPPED, C_GOOD, C_OK, C_REQUESTS, Counters
from collectors.hdr_read import summarize
from collectors.health import HealthLimits, HealthSample, health_fields
from collectors.histograms import HistogramSet
from loadgen.recorder import merge_delta
from loadgen.slo import percentile_ms

DEFAULT_HISTORY = 1800


class TargetCounter:
    """Counts the plan's arrivals scheduled before a plan offset, walking the sequence once."""

    def __init__(self, plan: Any) -> None:
        self._it: Iterator[Any] | None = iter(plan.arrivals(0, 1))
        self._next: Any | None = None
        self.count = 0

    def advance(self, offset_s: float) -> int:
        """Arrivals with ``offset_s < offset_s`` so far (cumulative); O(arrivals passed)."""
        while self._it is not None:
            if self._next is None:
                self._next = next(self._it, None)
                if self._next is None:
                    self._it = None
                    break
            if float(self._next.offset_s) >= offset_s:
                break
            self.count += 1
            self._next = None
        return self.count


@dataclass(slots=True)
class _Open:
    start_wall: float
    start_offset: float
    target_before: int


class LiveSeries:
    """Chart points for the live view (call :meth:`tick` about once a second)."""

    def __init__(
        self,
        plan: Any,
        *,
        interval_s: float = 2.0,
        history: int = DEFAULT_HISTORY,
        limits: HealthLimits | None = None,
        goodput: bool = False,
    ) -> None:
        self.plan = plan
        self.interval_s = float(interval_s)
        self.points: deque[dict[str, Any]] = deque(maxlen=history)
        self.limits = limits or HealthLimits()
        self.goodput = goodput
        self.hs = HistogramSet()
        self.counters = Counters()
        self.target = TargetCounter(plan)
        self.invalid_intervals = 0
        self.intervals = 0
        self._open: _Open | None = None

    def on_delta(self, delta: Mapping[str, Any]) -> None:
        """One recorder delta merged by the master (O(size of the delta))."""
        merge_delta(self.hs, self.counters, delta)

    def tick(self, *, now_wall: float, t0_wall: float, inflight: int = 0, workers: int = 0,
             cpu_percent: float = 0.0) -> dict[str, Any] | None:
        """Close the open interval when it is ``interval_s`` old; returns the new point, if any."""
        offset = now_wall - t0_wall
        if offset < 0:  # before t0: nothing is scheduled yet; do not chart the start-up wait
            self.hs = HistogramSet()
            self.counters = Counters()
            return None
        if self._open is None:
            self._open = _Open(now_wall, offset, self.target.advance(offset))
            return None
        if now_wall - self._open.start_wall < self.interval_s:
            return None
        return self.close_interval(now_wall=now_wall, t0_wall=t0_wall, inflight=inflight,
                                   workers=workers, cpu_percent=cpu_percent)

    def close_interval(self, *, now_wall: float, t0_wall: float, inflight: int = 0, workers: int = 0,
                       cpu_percent: float = 0.0) -> dict[str, Any] | None:
        if self._open is None:
            return None
        offset = now_wall - t0_wall
        dt = max(now_wall - self._open.start_wall, 1e-9)
        target_now = self.target.advance(offset)
        phases = self.hs.phases()
        ttft, _ = percentile_ms(self.hs, schema.M_TTFT, phases, 99.0)
        itl, _ = percentile_ms(self.hs, schema.M_ITL, phases, 99.0)
        ttft50, _ = percentile_ms(self.hs, schema.M_TTFT, phases, 50.0)
        e2e50, _ = percentile_ms(self.hs, schema.M_E2E, phases, 50.0)
        ttft_mean = summarize(self.hs.combined(schema.M_TTFT), ()).get("mean")
        e2e_mean = summarize(self.hs.combined(schema.M_E2E), ()).get("mean")
        lag50, lag99, lagmax = HealthSample.lag_from(self.hs.combined(schema.M_SCHEDULE_LAG))
        c = self.counters
        requests = c.total(C_REQUESTS)
        errors = sum(c.errors().values())
        dropped = c.total(C_DROPPED)
        sample = HealthSample(
            interval_s=dt, inflight=inflight, dropped_arrivals=dropped, workers_connected=workers,
            cpu_percent=cpu_percent, lag_p50_s=lag50, lag_p99_s=lag99, lag_max_s=lagmax,
        )
        invalid = health_fields(sample, self.limits)[schema.F_INVALID.name] > 0
        mid = self._open.start_offset + (offset - self._open.start_offset) / 2
        phase = self.plan.phase_at(mid) if 0 <= mid < float(self.plan.duration_s) else None
        closed_loop = phase is not None and getattr(phase, "closed_loop_users", None) is not None
        point = {
            "t": round(offset, 3),
            "dt": round(dt, 3),
            "phase": None if phase is None else str(phase.name),
            "target_rps": None if closed_loop or phase is None else (target_now - self._open.target_before) / dt,
            "achieved_rps": requests / dt,
            "ok_rps": c.total(C_OK) / dt,
            "goodput_rps": c.total(C_GOOD) / dt if self.goodput else None,
            "errors": errors,
            "dropped": dropped,
            "ttft_p99_ms": ttft,
            "itl_p99_ms": itl,
            "ttft_p50_ms": ttft50,
            "e2e_p50_ms": e2e50,
            "ttft_mean_ms": None if ttft_mean is None else ttft_mean * 1e3,
            "e2e_mean_ms": None if e2e_mean is None else e2e_mean * 1e3,
            "lag_p99_ms": lag99 * 1e3 if requests else None,
            "inflight": inflight,
            "cpu_percent": cpu_percent,
            "invalid": bool(invalid),
        }
        self.points.append(point)
        self.intervals += 1
        self.invalid_intervals += int(invalid)
        self.hs = HistogramSet()
        self.counters = Counters()
        self._open = _Open(now_wall, offset, target_now)
        return point


__all__ = ["DEFAULT_HISTORY", "LiveSeries", "TargetCounter"]
