"""The master's live view of a run, in one object the coordinator calls every aggregate interval.

:class:`LiveRun` joins :class:`loadgen.slo_live.LiveSlo` (rolling SLO windows and violations),
:class:`loadgen.phase_events.PhaseTracker` (phase regions) and
:class:`loadgen.phase_events.BurstRecovery`, decides whether an interval is judged (generator
valid) and writes one ``run_progress`` point per interval (the plan's phase, arrivals due, judged).
Everything it returns is a list of points for the run's sinks; :meth:`LiveRun.summary` gives the
``summary.json`` additions.  No I/O, no clock: the caller passes times.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collectors import schema
from collectors.counters import Counters
from collectors.histograms import HistogramSet
from collectors.point import Point
from loadgen.hdr_counts import hdr
from loadgen.phase_events import BurstRecovery, PhaseTracker
from loadgen.slo_live import LiveSlo
from loadgen.slo_objectives import live_objectives

CPU_SETTLE_S = 10.0  # as the coordinator: CPU samples covering start-up are ignored


class LiveRun:
    def __init__(self, *, scenario: Any, plan: Any, run_id: str, t0_wall: float,
                 cumulative: HistogramSet) -> None:
        self.t0_wall = t0_wall
        self.plan = plan
        self.run_tags: dict[str, str] = {schema.T_RUN_ID.name: run_id, schema.T_SCENARIO.name: str(scenario.name)}
        slo = getattr(scenario, "slo", None)
        live_cfg = getattr(slo, "live", None)
        windows = list(live_cfg.windows) if live_cfg is not None else [60.0, 300.0]
        self.slo = LiveSlo(
            live_objectives(slo), windows_s=windows, judged_phases=scenario.slo_phases(),
            run_tags=self.run_tags, min_requests=int(live_cfg.min_requests) if live_cfg is not None else 10,
            phase_starts={str(ph.name): t0_wall + float(ph.start_s) for ph in plan.phases},
        )
        hdr()  # the HDR index tables, built now (before t0) rather than in the first interval
        gen = scenario.generator
        self.max_lag_ms = float(gen.max_schedule_lag_p99_ms)
        self.max_cpu = float(gen.max_cpu_percent)
        self.phases = PhaseTracker(plan.phases, t0_wall, self.run_tags)
        self._cumulative = cumulative
        self.recovery = BurstRecovery(plan.phases, t0_wall, self.run_tags, self._steady_p99)
        self._prev_s: float | None = None
        self.invalid_intervals = 0

    def _steady_p99(self, phase: str) -> float | None:
        h = self._cumulative.combined(schema.M_TTFT, phase)
        return hdr().dense_percentile_s(hdr().counts(h), 99.0)

    def judged(self, now_s: float, lag_p99_ms: float | None, cpu_percent: Mapping[str, float]) -> bool:
        """False when the generator was the bottleneck in the interval (lag or CPU over its limit)."""
        if lag_p99_ms is not None and lag_p99_ms > self.max_lag_ms:
            return False
        cpu = max(cpu_percent.values(), default=0.0)
        return not (cpu > self.max_cpu and now_s >= self.t0_wall + CPU_SETTLE_S)

    def arrivals_due(self, start_s: float, end_s: float) -> float:
        """Arrivals the plan schedules in [start, end) (Unix s): each phase's mean rate x overlap."""
        a, b = start_s - self.t0_wall, end_s - self.t0_wall
        due = 0.0
        for ph in self.plan.phases:
            overlap = min(b, ph.end_s) - max(a, ph.start_s)
            if overlap > 0 and ph.end_s > ph.start_s:
                due += float(ph.expected) * overlap / (ph.end_s - ph.start_s)
        return due

    def on_interval(self, now_s: float, interval_hs: HistogramSet, interval_counters: Counters, *,
                    lag_p99_ms: float | None, cpu_percent: Mapping[str, float]) -> list[Point]:
        """One aggregate interval (``interval_hs``/``interval_counters``: this interval only)."""
        start_s = self._prev_s if self._prev_s is not None else now_s
        self._prev_s = now_s
        judged = self.judged(now_s, lag_p99_ms, cpu_percent)
        if not judged:
            self.invalid_intervals += 1
        ended = {str(ph.name) for ph in self.plan.phases if self.t0_wall + ph.end_s <= now_s}
        points = self.slo.on_interval(now_s, interval_hs, interval_counters, judged=judged,
                                      interval_s=now_s - start_s if now_s > start_s else None, ended=ended)
        points += self.phases.on_interval(now_s)
        p99 = hdr().dense_percentile_s(hdr().counts(interval_hs.combined(schema.M_TTFT)), 99.0)
        points += self.recovery.on_interval(now_s, p99)
        current = self.phases.current(now_s)
        if current is not None or start_s - self.t0_wall < float(self.plan.duration_s):
            tags = dict(self.run_tags)
            tags[schema.T_PHASE.name] = current or ("starting" if now_s < self.t0_wall else "draining")
            points.append(Point(schema.RUN_PROGRESS.name, tags, {
                schema.PF_ARRIVALS_DUE.name: self.arrivals_due(start_s, now_s),
                schema.PF_ELAPSED.name: now_s - self.t0_wall,
                schema.PF_JUDGED.name: 1.0 if judged and current in self.slo.judged_phases else 0.0,
            }, int(now_s * 1e9)))
        return points

    def close(self, now_s: float, stop_s: float | None = None) -> list[Point]:
        """Run end: open violations end, phase regions end (at the plan end or the early stop)."""
        end = self.t0_wall + float(self.plan.duration_s)
        if stop_s is not None:
            end = min(end, stop_s)
        points = self.slo.close(now_s)
        points += self.phases.close(min(end, now_s))
        points += self.recovery.close()
        return points

    def state(self) -> dict[str, Any]:
        """JSON-safe state for a checkpoint (``loadgen/checkpoint.py``); :meth:`restore` reloads it."""
        return {"prev_s": self._prev_s, "invalid_intervals": self.invalid_intervals, "slo": self.slo.state(),
                "phases_written": self.phases.state(), "recovery": self.recovery.state()}

    def restore(self, state: Mapping[str, Any]) -> None:
        self._prev_s = state.get("prev_s")
        self.invalid_intervals = int(state.get("invalid_intervals", 0))
        self.slo.restore(state.get("slo") or {})
        self.phases.restore(list(state.get("phases_written") or []))
        self.recovery.restore(list(state.get("recovery") or []))

    def summary(self) -> dict[str, Any]:
        """``slo_violations`` (list) and ``burst_recovery_s`` per burst phase."""
        return {
            "slo_violations": self.slo.summary(self.t0_wall),
            "burst_recovery_s": self.recovery.results(),
            "burst_recovery_reference": self.recovery.reference(),
            "slo_invalid_intervals": self.invalid_intervals,
        }


__all__ = ["LiveRun"]
