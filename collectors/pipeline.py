"""RequestTelemetry: the one object the load generator calls to get its measurements stored.

Build one per process from the scenario's ``sinks:`` section::

    tel = RequestTelemetry(scenario.sinks, run_id=run_id, scenario=scenario.name,
                           worker="w3", role="worker", slo=GoodputSLO(ttft_s=2.0, tpot_s=0.2))
    tel.on_record(record)                     # worker: every finished request (O(1), never raises)
    shipped = tel.take_counters()             # worker: with the histograms, every interval
    tel.on_interval(merged_hs, counters, now_s)  # master: every sinks.aggregate_interval_s
    tel.on_health(inflight=..., dropped_arrivals=..., workers_connected=..., cpu_percent=...)
    summary = tel.close(timeout_s=10)         # both: drain; the rest stays in the spool

Roles: ``worker`` writes raw request points; ``master`` writes aggregates, health and serves
Prometheus; ``standalone`` (one process, no Locust master) does both.  Every call that
builds points also writes a ``telemetry_sink`` accounting point per sink (on interval).
Nothing here raises into the caller except bad configuration in ``__init__`` (InputError).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from collectors import schema
from collectors.aggregates import AggregateBuilder, GoodputSLO, IntervalCounters
from collectors.health import HealthLimits, HealthSample, health_point
from collectors.histograms import HistogramSet
from collectors.point import Point
from collectors.records import RequestRecord
from collectors.request import RequestCollector
from collectors.sinks.base import Sink, SinkStats
from collectors.sinks.config import SinksConfig

log = logging.getLogger(__name__)

Counters = IntervalCounters | Mapping[str, list[float]]


class RequestTelemetry:
    """See the module docstring.  ``sinks`` overrides the sinks built from the config (tests)."""

    def __init__(
        self,
        sinks_config: SinksConfig,
        *,
        run_id: str,
        scenario: str,
        worker: str,
        role: str,
        clock: Callable[[], float] = time.time,
        endpoint: str = "",
        model: str = "",
        slo: GoodputSLO | None = None,
        health_limits: HealthLimits | None = None,
        run_dir: Path | None = None,
        on_stop_run: Callable[[], None] | None = None,
        sinks: list[Sink] | None = None,
    ) -> None:
        if role not in schema.ROLES:
            raise ValueError(f"role must be one of {', '.join(schema.ROLES)}")
        self.config = sinks_config
        self.role = role
        self.worker = worker
        self._clock = clock
        self._slo = slo
        self._limits = health_limits or HealthLimits()
        self._writes_raw = role in ("worker", "standalone")
        self._writes_aggregates = role in ("master", "standalone")
        self._requests = RequestCollector(run_id=run_id, scenario=scenario, worker=worker, endpoint=endpoint,
                                          model=model, sample_ratio=sinks_config.raw_sample_ratio)
        self._aggregates = AggregateBuilder(run_id=run_id, scenario=scenario, endpoint=endpoint, model=model)
        self._counters = IntervalCounters()
        self._own_tags = {schema.T_RUN_ID.name: run_id, schema.T_SCENARIO.name: scenario,
                          schema.T_WORKER.name: worker, schema.T_ROLE.name: role}
        self.sinks: list[Sink] = sinks if sinks is not None else self._build_sinks(run_dir, on_stop_run)
        self._last_interval_s: float | None = None
        self._last_lag: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self._records = 0
        self._record_errors = 0
        self.invalid_intervals = 0
        self._closed = False

    def _build_sinks(self, run_dir: Path | None, on_stop_run: Callable[[], None] | None) -> list[Sink]:
        cfg = self.config
        out: list[Sink] = []
        if cfg.influxdb is not None:
            from collectors.sinks.influx import InfluxSink

            spool = cfg.influxdb.spool_dir
            if spool is None and run_dir is not None:
                spool = Path(run_dir) / "spool" / self.worker
            out.append(InfluxSink(cfg.influxdb, spool_dir=spool, on_stop_run=on_stop_run))
        if cfg.file is not None:
            from collectors.sinks.config import FileSinkConfig
            from collectors.sinks.file import FileSink

            path = Path(cfg.file.path)
            if self.role == "worker" or path.is_dir():  # one file per writer: no interleaving
                path = (path if path.is_dir() else path.parent) / f"{path.stem}-{self.worker}{path.suffix or '.lp'}"
            out.append(FileSink(FileSinkConfig(path=path)))
        if cfg.prometheus is not None and self._writes_aggregates:
            from collectors.sinks.prometheus import PrometheusSink

            out.append(PrometheusSink(cfg.prometheus))
        return out

    # ---- the request path ------------------------------------------------------------------
    def on_record(self, rec: RequestRecord) -> None:
        """One finished request: counted, and (sampled) written as a raw point.  Never raises."""
        try:
            self._records += 1
            self._counters.add(rec, self._slo)
            if self._writes_raw:
                point = self._requests.point(rec)
                if point is not None:
                    batch = [point]
                    for sink in self.sinks:
                        if sink.name != "prometheus":
                            sink.write(batch)
        except Exception:
            self._record_errors += 1
            if self._record_errors == 1:
                log.exception("telemetry: a request record could not be processed (counted, logged once)")

    def take_counters(self) -> dict[str, list[float]]:
        """This process's request counters since the last call (for shipping to the master)."""
        return self._counters.encode_and_reset()

    # ---- the master's interval ---------------------------------------------------------------
    def on_interval(self, merged: HistogramSet, counters: Counters | None = None,
                    now_s: float | None = None) -> None:
        """Write the interval's aggregates from the merged histograms (this interval only) and the
        merged counters (an :class:`IntervalCounters`, or the dict ``take_counters`` returned, or
        None: this process's own counters — standalone use)."""
        try:
            now = self._clock() if now_s is None else now_s
            interval_s = (now - self._last_interval_s) if self._last_interval_s is not None \
                else self.config.aggregate_interval_s
            self._last_interval_s = now
            if counters is None:
                c = IntervalCounters()
                c.merge_encoded(self._counters.encode_and_reset())
            elif isinstance(counters, IntervalCounters):
                c = counters
            else:
                c = IntervalCounters()
                c.merge_encoded(counters)
            self._last_lag = HealthSample.lag_from(merged.combined(schema.M_SCHEDULE_LAG))
            now_ns = int(now * 1e9)
            points = self._aggregates.points(merged, c, interval_s=interval_s, now_ns=now_ns)
            points += self._accounting_points(now_ns)
            self._write_all(points)
        except Exception:
            log.exception("telemetry: interval aggregates failed")

    def on_health(
        self,
        *,
        inflight: int = 0,
        dropped_arrivals: int = 0,
        workers_connected: int = 0,
        cpu_percent: float = 0.0,
        interval_s: float | None = None,
        now_s: float | None = None,
        schedule_lag: tuple[float, float, float] | None = None,
        worker: str | None = None,
    ) -> bool:
        """Write one ``loadgen_health`` point; True when the interval is invalid (generator-bound).

        ``schedule_lag`` is (p50, p99, max) seconds; default: from the last ``on_interval``.
        """
        try:
            now = self._clock() if now_s is None else now_s
            p50, p99, mx = schedule_lag if schedule_lag is not None else self._last_lag
            sample = HealthSample(
                interval_s=interval_s if interval_s is not None else self.config.aggregate_interval_s,
                inflight=inflight, dropped_arrivals=dropped_arrivals, workers_connected=workers_connected,
                cpu_percent=cpu_percent, lag_p50_s=p50, lag_p99_s=p99, lag_max_s=mx,
            )
            tags = dict(self._own_tags)
            if worker is not None:
                tags[schema.T_WORKER.name] = worker
            point = health_point(sample, self._limits, tags=tags, now_ns=int(now * 1e9))
            self._write_all([point])
            invalid = point.fields[schema.F_INVALID.name] > 0
            self.invalid_intervals += int(invalid)
            return invalid
        except Exception:
            log.exception("telemetry: health point failed")
            return False

    # ---- accounting and shutdown -------------------------------------------------------------
    def _accounting_points(self, now_ns: int) -> list[Point]:
        out = []
        for sink in self.sinks:
            if sink.name == "prometheus":
                continue
            tags = dict(self._own_tags)
            tags[schema.T_SINK.name] = sink.name
            out.append(Point(schema.SINK.name, tags, sink.stats().as_fields(), now_ns))
        return out

    def write_accounting(self, now_s: float | None = None) -> None:
        """Write the ``telemetry_sink`` points now (workers call this every interval)."""
        now = self._clock() if now_s is None else now_s
        self._write_all(self._accounting_points(int(now * 1e9)))

    def _write_all(self, points: list[Point]) -> None:
        for sink in self.sinks:
            sink.write(points)

    @property
    def stop_requested(self) -> bool:
        """True when a sink asked the run to stop (InfluxDB spool full with on_spool_full=stop_run)."""
        return any(getattr(s, "stop_requested", None) is not None and s.stop_requested.is_set()  # type: ignore[attr-defined]
                   for s in self.sinks)

    def stats(self) -> dict[str, SinkStats]:
        return {s.name: s.stats() for s in self.sinks}

    def close(self, timeout_s: float = 10.0) -> dict[str, object]:
        """Drain every sink within ``timeout_s`` in total; the accounting summary (JSON-safe)."""
        if not self._closed:
            self._closed = True
            try:
                self.write_accounting()
            except Exception:
                log.exception("telemetry: final accounting point failed")
        end = time.monotonic() + timeout_s
        finals: dict[str, object] = {}
        for sink in self.sinks:
            try:
                st = sink.close(max(0.1, end - time.monotonic()))
                finals[sink.name] = st.as_dict()
            except Exception:
                log.exception("telemetry: closing sink %s failed", sink.name)
        spool_dir = next((str(getattr(s, "spool_dir", "")) for s in self.sinks if s.name == "influxdb"), None)
        return {
            "records": self._records,
            "raw_points_sampled_out": self._requests.sampled_out,
            "record_errors": self._record_errors,
            "invalid_intervals": self.invalid_intervals,
            "sinks": finals,
            "spool_dir": spool_dir,
        }


__all__ = ["Counters", "RequestTelemetry"]
