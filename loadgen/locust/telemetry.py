"""The seam where per-request collectors and sinks plug into a run.

:class:`Telemetry` is a no-op: the load generator calls it at fixed points and ignores it
otherwise.  The collectors work replaces it by changing only :func:`make_telemetry`.

- worker: :meth:`Telemetry.on_record` for every finished request (ok, failed, cancelled); it runs
  inline in the request's greenlet, so it must not block;
- master: :meth:`Telemetry.on_interval` every ``sinks.aggregate_interval_s`` (only when a
  ``sinks:`` section is configured) with that interval's merged histograms and counter deltas,
  and :meth:`Telemetry.on_health` with generator health at the same cadence;
- both: :meth:`Telemetry.close` at the end; its dict goes to ``summary.json`` under ``telemetry``.
"""

from __future__ import annotations

from typing import Any, Literal

from collectors.histograms import HistogramSet
from collectors.records import RequestRecord

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

    def close(self) -> dict[str, Any]:
        """Flush and stop; returns the sink accounting for ``summary.json``."""
        return {}


def make_telemetry(scenario: Any, role: Role, run_id: str, worker_id: str) -> Telemetry:
    """The one factory the load generator uses; swap the implementation here."""
    return Telemetry()


__all__ = ["Role", "Telemetry", "make_telemetry"]
