"""The seam where the run's measurements reach the sinks: :func:`make_telemetry`.

The load generator calls a :class:`Telemetry` at fixed points:

- worker (and local run): :meth:`~Telemetry.on_record` for every finished request (inline in the
  request's greenlet: it must not block);
- master (and local run): :meth:`~Telemetry.on_interval` every ``sinks.aggregate_interval_s`` with
  that interval's merged histograms and merged ``collectors.counters.Counters`` (the same counters
  the run summary reads), then :meth:`~Telemetry.on_health`;
- both: :meth:`~Telemetry.close` at the end; its dict goes to ``summary.json`` under ``telemetry``.

:func:`make_telemetry` returns ``collectors.pipeline.RequestTelemetry`` itself (no adapter): with a
``sinks:`` section it writes to those sinks; a master or local run always writes its interval points
to the run folder (``<run_dir>/points/``); a worker ships its sampled raw points to the master
with its reports (``take_raw``), which appends them to the run folder.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from collectors.counters import Counters
from collectors.histograms import HistogramSet
from collectors.point import Point
from collectors.records import RequestRecord

if TYPE_CHECKING:
    from loadgen.config import Scenario

log = logging.getLogger(__name__)

Role = Literal["local", "master", "worker"]
DEFAULT_INTERVAL_S = 5.0  # aggregate interval of a run without a ``sinks:`` section (run folder only)


class Telemetry(Protocol):
    """What the load generator calls (``collectors.pipeline.RequestTelemetry`` implements it)."""

    @property
    def configured(self) -> bool: ...

    def on_record(self, rec: RequestRecord) -> None: ...

    def on_interval(self, merged: HistogramSet, counters: Counters, now_s: float | None = None,
                    cumulative: HistogramSet | None = None) -> float: ...

    def on_health(
        self, *, inflight: int = 0, dropped_arrivals: int = 0, workers_connected: int = 0,
        cpu_percent: float = 0.0, interval_s: float | None = None, now_s: float | None = None,
        schedule_lag: tuple[float, float, float] | None = None, worker: str | None = None,
        generator_faults: int = 0, aggregate_s: float = 0.0, loop_stall_max_s: float = 0.0,
    ) -> bool: ...

    def write_points(self, points: list[Point]) -> None: ...

    def take_raw(self) -> list[str]: ...

    def write_raw_lines(self, lines: list[str]) -> None: ...

    @property
    def stop_requested(self) -> bool: ...

    def close(self, timeout_s: float | None = None) -> dict[str, object]: ...


class NoTelemetry:
    """Writes nothing (a worker of a run without ``sinks:``)."""

    configured = False

    def on_record(self, rec: RequestRecord) -> None:
        return None

    def on_interval(self, merged: HistogramSet, counters: Counters, now_s: float | None = None,
                    cumulative: HistogramSet | None = None) -> float:
        return 0.0

    def on_health(self, **_kw: Any) -> bool:
        return False

    def write_points(self, points: list[Point]) -> None:
        return None

    def take_raw(self) -> list[str]:
        return []

    def write_raw_lines(self, lines: list[str]) -> None:
        return None

    @property
    def stop_requested(self) -> bool:
        return False

    def close(self, timeout_s: float | None = None) -> dict[str, object]:
        return {}


_ROLES = {"local": "standalone", "master": "master", "worker": "worker"}


def endpoint_alias(scenario: Scenario) -> str:
    """The ``endpoint`` tag: ``target.alias``, else the target's host:port (never the URL)."""
    target = scenario.target
    alias = getattr(target, "alias", None)
    if alias:
        return str(alias)
    from urllib.parse import urlsplit

    parts = urlsplit(str(target.base_url))
    host = parts.hostname or "target"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{host}:{port}"


def interval_s(scenario: Scenario) -> float:
    sinks = getattr(scenario, "sinks", None)
    return float(sinks.aggregate_interval_s) if sinks is not None else DEFAULT_INTERVAL_S


def make_telemetry(
    scenario: Scenario, role: Role, run_id: str, worker_id: str, run_dir: Path | None = None
) -> Telemetry:
    """The one factory the load generator uses.

    ``run_dir``: the run's output folder (master and local runs): the InfluxDB spool defaults to
    ``<run_dir>/spool/<worker>`` and the interval points go to ``<run_dir>/points/``.
    """
    sinks = getattr(scenario, "sinks", None)
    if sinks is None and role != "worker" and run_dir is None:
        return NoTelemetry()
    from collectors.health import HealthLimits
    from collectors.pipeline import RequestTelemetry

    close_timeout = 10.0
    if sinks is not None and sinks.influxdb is not None:
        close_timeout = float(getattr(sinks.influxdb, "close_timeout_s", 0.0) or max(10.0, float(sinks.influxdb.timeout_s) * 2))
    tel = RequestTelemetry(
        sinks,
        run_id=run_id,
        scenario=scenario.name,
        worker=worker_id,
        role=_ROLES[role],
        endpoint=endpoint_alias(scenario),
        model=scenario.target.model or "",
        health_limits=HealthLimits(lag_p99_s=float(scenario.generator.max_schedule_lag_p99_ms) / 1000.0,
                                   cpu_percent=float(scenario.generator.max_cpu_percent)),
        run_dir=run_dir,
        close_timeout_s=close_timeout,
        ship_raw=role == "worker",  # the master's run folder gets every worker's sampled raw points
    )
    tel.expect([str(p.name) for p in scenario.phases], [str(c.name) for c in scenario.workload.classes])
    return tel


__all__ = ["DEFAULT_INTERVAL_S", "NoTelemetry", "Role", "Telemetry", "endpoint_alias", "interval_s", "make_telemetry"]
