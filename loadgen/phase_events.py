"""Phase regions and burst recovery time as ``run_event`` points (master side, pure).

- :class:`PhaseTracker`: one ``run_event`` (event=phase) per plan phase when it ends: point time
  = phase start, ``end_ms`` = phase end (the plan's windows on the shared ``t0``); phases cut by
  an early stop end at the stop.  The point also carries the phase's kind (tag ``phase_kind``),
  its arrival process name (tag ``process``, e.g. ``gamma``) and its target mean rate (field
  ``rate``, req/s: the plan's ``rate_hint``).  :meth:`PhaseTracker.current` names the plan's phase
  at a time.
- :class:`BurstRecovery`: after each ``burst``/``spike``/``peak`` phase (by kind, or a phase
  whose arrival process is ``spike``) ends, the seconds from that phase's end until the end of
  the first aggregate interval (ending after the phase's end) whose interval p99 TTFT (every
  phase and class merged) is within 10 % of the steady phase's cumulative p99 TTFT, i.e.
  ``<= 1.1 x steady p99``.  The steady phase is the last phase of kind ``steady`` before the
  burst, else the first steady phase.  ``None`` when it never recovers before the run ends.
  Resolution: one aggregate interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from collectors import schema
from collectors.point import Point

log = logging.getLogger(__name__)

BURST_KINDS = frozenset({"burst", "peak"})
RECOVERY_TOLERANCE = 0.10


class PhaseLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...
    @property
    def process(self) -> str: ...
    @property
    def rate_hint(self) -> float: ...


def is_burst(phase: Any) -> bool:
    """A peak-kind phase: kind burst/peak, or an arrival process named spike."""
    return str(phase.kind) in BURST_KINDS or str(getattr(phase, "process", "")).startswith("spike")


def process_name(process: str) -> str:
    """The arrival process's name from the plan's description: ``gamma(rate=20/s, ...)`` -> ``gamma``."""
    return process.split("(", 1)[0].strip()


def _event_point(run_tags: Mapping[str, str], phase: str, event: str, start_s: float, end_s: float,
                 *, objective: str = "", value: float | None = None, threshold: float | None = None,
                 extra_tags: Mapping[str, str] | None = None, extra_fields: Mapping[str, float] | None = None,
                 ) -> Point:
    tags = dict(run_tags)
    tags[schema.T_PHASE.name] = phase
    tags[schema.T_EVENT.name] = event
    if objective:
        tags[schema.T_OBJECTIVE.name] = objective
    tags.update({k: v for k, v in (extra_tags or {}).items() if v})
    fields = {schema.EF_END_MS.name: float(round(end_s * 1000.0)), schema.EF_DURATION.name: end_s - start_s}
    fields.update(extra_fields or {})
    if value is not None:
        fields[schema.EF_VALUE.name] = float(value)
    if threshold is not None:
        fields[schema.EF_THRESHOLD.name] = float(threshold)
    return Point(schema.RUN_EVENT.name, tags, fields, int(start_s * 1e9))


class PhaseTracker:
    """Phase start/end regions of one run; times are Unix seconds (``t0_wall`` + plan offsets)."""

    def __init__(self, phases: Sequence[PhaseLike], t0_wall: float, run_tags: Mapping[str, str]) -> None:
        self.phases = list(phases)
        self.t0_wall = t0_wall
        self.run_tags = dict(run_tags)
        self._written: set[str] = set()
        self._closed = False

    def _point(self, ph: PhaseLike, start: float, end: float) -> Point:
        return _event_point(self.run_tags, ph.name, schema.EVENT_PHASE, start, end,
                            extra_tags={schema.T_PHASE_KIND.name: str(ph.kind),
                                        schema.T_PROCESS.name: process_name(str(ph.process))},
                            extra_fields={schema.EF_RATE.name: float(ph.rate_hint)})

    def current(self, now_s: float) -> str | None:
        off = now_s - self.t0_wall
        for ph in self.phases:
            if ph.start_s <= off < ph.end_s:
                return str(ph.name)
        return None

    def on_interval(self, now_s: float) -> list[Point]:
        """Every phase that has ended by ``now_s`` and is not written yet."""
        out: list[Point] = []
        if self._closed:
            return out
        for ph in self.phases:
            end = self.t0_wall + ph.end_s
            if ph.name not in self._written and end <= now_s:
                self._written.add(ph.name)
                out.append(self._point(ph, self.t0_wall + ph.start_s, end))
        return out

    def state(self) -> list[str]:
        """The phases already written (checkpoints, ``loadgen/checkpoint.py``)."""
        return sorted(self._written)

    def restore(self, written: list[str]) -> None:
        self._written = set(written)

    def close(self, stop_s: float) -> list[Point]:
        """Run end (``stop_s``: plan end or an early stop): started phases not yet written end here."""
        out = self.on_interval(stop_s)
        if self._closed:
            return out
        self._closed = True
        for ph in self.phases:
            start = self.t0_wall + ph.start_s
            if ph.name not in self._written and start < stop_s:
                self._written.add(ph.name)
                out.append(self._point(ph, start, stop_s))
        return out


@dataclass(slots=True)
class _Pending:
    phase: str
    end_s: float
    steady: str | None
    recovery_s: float | None = None
    threshold: float | None = None
    done: bool = False
    series: list[tuple[float, float]] = field(default_factory=list)  # (interval end, interval p99)


class BurstRecovery:
    """Burst recovery times of one run (definition: module docstring)."""

    def __init__(self, phases: Sequence[PhaseLike], t0_wall: float, run_tags: Mapping[str, str],
                 steady_p99: Callable[[str], float | None]) -> None:
        """``steady_p99(phase)``: that phase's cumulative p99 TTFT in seconds so far (None: no samples)."""
        self.t0_wall = t0_wall
        self.run_tags = dict(run_tags)
        self._steady_p99 = steady_p99
        ordered = list(phases)
        steadies = [p for p in ordered if str(p.kind) == "steady"]
        self._pending: list[_Pending] = []
        self._phase_end: dict[str, float] = {str(p.name): t0_wall + p.end_s for p in ordered}
        for i, ph in enumerate(ordered):
            if not is_burst(ph):
                continue
            before = [p for p in ordered[:i] if str(p.kind) == "steady"]
            ref = before[-1] if before else (steadies[0] if steadies else None)
            self._pending.append(_Pending(str(ph.name), t0_wall + ph.end_s, None if ref is None else str(ref.name)))

    def on_interval(self, end_s: float, interval_p99_s: float | None) -> list[Point]:
        """One aggregate interval ended at ``end_s`` with this p99 TTFT (None: no TTFT samples)."""
        out: list[Point] = []
        for p in self._pending:
            if p.done or p.steady is None or end_s <= p.end_s or interval_p99_s is None:
                continue
            p.series.append((end_s, interval_p99_s))
            if self._phase_end.get(p.steady, 0.0) <= p.end_s:  # the reference is final: decide now
                out += self._decide(p)
        return out

    def close(self) -> list[Point]:
        """Run end: decide every burst still open (reference phases after the burst, never recovered)."""
        out: list[Point] = []
        for p in self._pending:
            if not p.done:
                out += self._decide(p, final=True)
        return out

    def _decide(self, p: _Pending, final: bool = False) -> list[Point]:
        ref = self._steady_p99(p.steady) if p.steady is not None else None
        if ref is None:
            if final:
                p.done = True
            return []
        p.threshold = ref * (1.0 + RECOVERY_TOLERANCE)
        for t, v in p.series:
            if v <= p.threshold:
                p.recovery_s = t - p.end_s
                p.done = True
                p.series.clear()
                log.info("burst %s: recovered %.1f s after its end (interval p99 TTFT %.1f ms <= %.1f ms)",
                         p.phase, p.recovery_s, v * 1000, p.threshold * 1000)
                return [_event_point(self.run_tags, p.phase, schema.EVENT_RECOVERY, p.end_s, t,
                                     value=p.recovery_s, threshold=p.threshold)]
        p.series.clear()  # every interval so far was judged against a final reference
        if final:
            p.done = True
            log.info("burst %s: interval p99 TTFT never came back within 10 %% of %s's before the run ended",
                     p.phase, p.steady)
        return []

    def state(self) -> list[dict[str, Any]]:
        """JSON-safe state of every burst (checkpoints, ``loadgen/checkpoint.py``)."""
        return [{"phase": p.phase, "recovery_s": p.recovery_s, "threshold": p.threshold, "done": p.done,
                 "series": [list(x) for x in p.series]} for p in self._pending]

    def restore(self, state: list[dict[str, Any]]) -> None:
        by_phase = {d["phase"]: d for d in state}
        for p in self._pending:
            d = by_phase.get(p.phase)
            if d is not None:
                p.recovery_s, p.threshold, p.done = d["recovery_s"], d["threshold"], bool(d["done"])
                p.series = [(float(t), float(v)) for t, v in d["series"]]

    def results(self) -> dict[str, float | None]:
        """Per burst phase: recovery seconds (None: never recovered / no reference)."""
        return {p.phase: p.recovery_s for p in self._pending}

    def reference(self) -> dict[str, str | None]:
        return {p.phase: p.steady for p in self._pending}


__all__ = ["BURST_KINDS", "RECOVERY_TOLERANCE", "BurstRecovery", "PhaseLike", "PhaseTracker", "is_burst",
           "process_name"]
