"""What the live SLO judges and reports: objectives, window labels, violations and their events.

- :class:`LiveObjective` and :func:`live_objectives`: the scenario's ``slo:`` section as live
  objectives (a latency percentile bound in seconds, or the error rate), each with its error budget;
- :func:`window_label`: a window length as its ``slo_window`` tag (``1m``, ``5m``, ``1h``);
- :class:`WindowState`: one objective x phase x window as computed at an interval;
- :class:`Violation` and :func:`violation_point`: one violation region and its ``run_event``.

The rolling windows that compute them: ``loadgen.slo_live``; judging whole windows of a soak
(``slo.windows``): ``loadgen.windows``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collectors import schema
from collectors.point import Point

ERROR_RATE = "error_rate"


@dataclass(frozen=True, slots=True)
class LiveObjective:
    """One objective as judged live: ``threshold`` in seconds (latency) or as a ratio."""

    id: str
    metric: str | None  # None: the error-rate objective
    percentile: float | None
    threshold: float
    budget: float

    @property
    def unit(self) -> str:
        return "ratio" if self.metric is None else "s"


def objective_id(metric: str, percentile: float) -> str:
    """``ttft`` p99 -> ``ttft_p99``; p99.9 -> ``ttft_p99_9`` (a Prometheus-safe label value)."""
    return f"{metric}_p{percentile:g}".replace(".", "_")


def live_objectives(slo: Any) -> list[LiveObjective]:
    """The scenario's ``slo:`` section as live objectives (latency objectives, then error rate)."""
    if slo is None:
        return []
    out: list[LiveObjective] = []
    seen: set[str] = set()
    for o in slo.objectives:
        oid = objective_id(str(o.metric), float(o.percentile))
        if oid in seen:  # the same metric and percentile twice: the tightest bound judges
            continue
        seen.add(oid)
        bound = min(float(x.max_ms) for x in slo.objectives
                    if objective_id(str(x.metric), float(x.percentile)) == oid)
        out.append(LiveObjective(oid, str(o.metric), float(o.percentile), bound / 1000.0,
                                 1.0 - float(o.percentile) / 100.0))
    if slo.max_error_rate is not None:
        rate = float(slo.max_error_rate)
        out.append(LiveObjective(ERROR_RATE, None, None, rate, rate))
    return out


@dataclass(slots=True)
class Violation:
    """One violation region of an objective in a phase (times are Unix seconds)."""

    objective: str
    phase: str
    window_s: float
    start_s: float
    threshold: float
    unit: str
    peak: float
    end_s: float | None = None

    def to_dict(self, t0_wall: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "objective": self.objective,
            "phase": self.phase,
            "window_s": self.window_s,
            "start_unix": round(self.start_s, 3),
            "end_unix": None if self.end_s is None else round(self.end_s, 3),
            "duration_s": None if self.end_s is None else round(self.end_s - self.start_s, 3),
            "peak": self.peak,
            "threshold": self.threshold,
            "unit": self.unit,
        }
        if t0_wall is not None:
            out["start_offset_s"] = round(self.start_s - t0_wall, 3)
        return out


@dataclass(slots=True)
class WindowState:
    """One objective x phase x window as computed at the last interval (for tests and Prometheus)."""

    value: float | None
    bad_fraction: float
    burn_rate: float | None
    requests: int
    violating: bool


def window_label(seconds: float) -> str:
    """60 -> ``1m``, 300 -> ``5m``, 90 -> ``90s``, 3600 -> ``1h`` (the ``slo_window`` tag)."""
    s = float(seconds)
    if s >= 3600 and s % 3600 == 0:
        return f"{int(s // 3600)}h"
    if s >= 60 and s % 60 == 0:
        return f"{int(s // 60)}m"
    return f"{s:g}s"


def violation_point(v: Violation, run_tags: Mapping[str, str]) -> Point:
    """The ``run_event`` of a (closed) violation: time = start, ``end_ms`` = end."""
    end = v.end_s if v.end_s is not None else v.start_s
    tags = dict(run_tags)
    tags.update({schema.T_PHASE.name: v.phase, schema.T_EVENT.name: schema.EVENT_VIOLATION,
                 schema.T_OBJECTIVE.name: v.objective})
    return Point(schema.RUN_EVENT.name, tags, {
        schema.EF_END_MS.name: float(round(end * 1000.0)),
        schema.EF_DURATION.name: end - v.start_s,
        schema.EF_VALUE.name: v.peak,
        schema.EF_THRESHOLD.name: v.threshold,
    }, int(v.start_s * 1e9))


def fmt_value(value: float, obj: LiveObjective) -> str:
    """A value of ``obj`` for a log line: a ratio, or milliseconds."""
    return f"{value:.4f}" if obj.metric is None else f"{value * 1000:.1f} ms"


__all__ = [
    "ERROR_RATE",
    "LiveObjective",
    "Violation",
    "WindowState",
    "fmt_value",
    "live_objectives",
    "objective_id",
    "violation_point",
    "window_label",
]
