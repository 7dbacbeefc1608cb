"""The seam where per-request collectors and sinks plug into a run.

:class:`Telemetry` is a no-op: the load generator calls it at fixed points and ignores it
otherwise.  The collectors work replaces it by changing only :func:`make_telemetry`.

- worker: :meth:`Telemetry.on_record` for every finished request (ok, failed, cancelled); it runs
  inline in the request's greenlet, so it must not block;
- master: :meth:`Telemetry.on_interval` every ``sinks.aggregate_interval_s`` (only when a
  ``sinks:`` section is configured) with that interval's merged histograms and counter deltas,
  and :meth:`Telemetry.on_health` with generator health at the same cadence;
- both: :meth:`Telemetry.close` at the end; its dict goes to ``summary.json`` under ``telemetry``.

With a ``sinks:`` section, :func:`make_telemetry` returns :class:`SinkTelemetry`, an adapter
onto ``collectors.pipeline.RequestTelemetry``: workers write one raw point per request, the
master (or a local run) writes the interval aggregates, generator health and sink accounting.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from collectors.histograms import HistogramSet
from collectors.point import Point
from collectors.records import RequestRecord

log = logging.getLogger(__name__)

Role = Literal["local", "master", "worker"]


class Telemetry:
    """Does nothing; subclasses write records, aggregates and health to sinks."""

    def on_record(self, record: RequestRecord) -> None:
        """Worker side: one finished request.  Must not block."""

    def on_interval(self, merged: HistogramSet, counters: dict[str, int], now_s: float) -> None:
        """Master side: histograms and counter deltas (``phase|class|counter``) of the last interval."""

    def on_health(
        self,
        *,
        now_s: float,
        schedule_lag_p99_ms: float | None,
        inflight: int,
        dropped: int,
        workers_connected: int,
        worker_cpu_percent: dict[str, float],
    ) -> None:
        """Master side: generator health for the last interval."""

    def write_points(self, points: list[Point]) -> None:
        """Other collectors of the run (the server-metrics scraper) write through the same sinks."""

    @property
    def stop_requested(self) -> bool:
        """True when a sink asks the run to stop (InfluxDB spool full with on_spool_full=stop_run)."""
        return False

    def close(self) -> dict[str, Any]:
        """Flush and stop; returns the sink accounting for ``summary.json``."""
        return {}


# loadgen counter names -> the request-count slots of collectors.aggregates.IntervalCounters
_COUNTER_MAP = {"requests": 0, "ok": 1, "good": 3, "output_tokens": 4}
_N_SLOTS = 6  # requests, ok, errors, good, output_tokens, prompt_tokens
_ERROR_PREFIX = "error:"


def to_interval_counters(counters: Mapping[str, int]) -> dict[str, list[float]]:
    """loadgen's ``phase|class|counter`` ints -> the encoded ``IntervalCounters`` the aggregates read."""
    out: dict[str, list[float]] = {}
    for key, value in counters.items():
        phase, cls, name = key.split("|", 2)
        slot = out.setdefault(f"c|{phase}|{cls}", [0.0] * _N_SLOTS)
        if name in _COUNTER_MAP:
            slot[_COUNTER_MAP[name]] += value
        elif name.startswith(_ERROR_PREFIX):
            slot[2] += value
            ek = f"e|{phase}|{cls}|{name[len(_ERROR_PREFIX):]}"
            out[ek] = [out.get(ek, [0.0])[0] + value]
    return out


class SinkTelemetry(Telemetry):
    """Telemetry into the scenario's sinks through ``collectors.pipeline.RequestTelemetry``."""

    def __init__(self, inner: Any, close_timeout_s: float) -> None:
        self._inner = inner
        self._close_timeout_s = close_timeout_s

    def on_record(self, record: RequestRecord) -> None:
        self._inner.on_record(record)

    def on_interval(self, merged: HistogramSet, counters: dict[str, int], now_s: float) -> None:
        self._inner.on_interval(merged, to_interval_counters(counters), now_s)

    def on_health(
        self,
        *,
        now_s: float,
        schedule_lag_p99_ms: float | None,
        inflight: int,
        dropped: int,
        workers_connected: int,
        worker_cpu_percent: dict[str, float],
    ) -> None:
        # the lag percentiles come from the interval's merged histograms (on_interval, just before)
        cpu = max(worker_cpu_percent.values(), default=0.0)
        self._inner.on_health(inflight=inflight, dropped_arrivals=dropped,
                              workers_connected=workers_connected, cpu_percent=cpu, now_s=now_s)

    def write_points(self, points: list[Point]) -> None:
        for sink in self._inner.sinks:
            if sink.name != "prometheus":
                sink.write(points)

    @property
    def stop_requested(self) -> bool:
        return bool(self._inner.stop_requested)

    def close(self) -> dict[str, Any]:
        out: dict[str, Any] = self._inner.close(timeout_s=self._close_timeout_s)
        return out


_ROLES = {"local": "standalone", "master": "master", "worker": "worker"}


def make_telemetry(
    scenario: Any, role: Role, run_id: str, worker_id: str, run_dir: Path | None = None
) -> Telemetry:
    """The one factory the load generator uses: no-op without a ``sinks:`` section.

    ``run_dir``: the run's output folder; the InfluxDB spool defaults to ``<run_dir>/spool/<worker>``
    (workers, which have no output folder, spool to a temporary folder named in the log and summary).
    """
    sinks = getattr(scenario, "sinks", None)
    if sinks is None:
        return Telemetry()
    from collectors.health import HealthLimits
    from collectors.pipeline import RequestTelemetry
    from loadgen.slo import goodput_slo

    target = scenario.target
    inner = RequestTelemetry(
        sinks,
        run_id=run_id,
        scenario=scenario.name,
        worker=worker_id,
        role=_ROLES[role],
        endpoint=str(target.base_url),
        model=target.model or "",
        slo=goodput_slo(scenario),
        health_limits=HealthLimits(lag_p99_s=float(scenario.generator.max_schedule_lag_p99_ms) / 1000.0,
                                   cpu_percent=float(scenario.generator.max_cpu_percent)),
        run_dir=run_dir,
    )
    return SinkTelemetry(inner, close_timeout_s=max(10.0, float(sinks.influxdb.timeout_s) * 2)
                         if sinks.influxdb is not None else 10.0)


__all__ = ["Role", "SinkTelemetry", "Telemetry", "make_telemetry", "to_interval_counters"]
