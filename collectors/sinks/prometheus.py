"""The Prometheus sink: live run metrics on the master's own ``/metrics`` (own registry and port).

It consumes the same points as the other sinks and keeps a small set of series (raw request
points are ignored: one series per request would be unbounded):

- ``inferload_requests_total{phase,class,status}``: finished requests (status ``ok`` or the
  error class), from ``llm_throughput`` / ``llm_errors`` interval counts;
- ``inferload_latency_seconds{metric,phase,class,quantile}``: quantiles of the last interval
  from the merged HDR histograms (``llm_latency``, window=interval);
- ``inferload_inflight``, ``inferload_dropped_arrivals_total``, ``inferload_schedule_lag_p99_seconds``,
  ``inferload_generator_invalid`` (``loadgen_health``);
- ``inferload_telemetry_points{sink,state}``: generated/written/pending/dropped per sink
  (``telemetry_sink``), readable while InfluxDB is down.

``port: 0`` picks a free port (read it back from :attr:`PrometheusSink.port`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from collectors import schema
from collectors.point import Point
from collectors.sinks.base import SinkStats
from collectors.sinks.config import PrometheusSinkConfig
from userinput.errors import InputError

log = logging.getLogger(__name__)

_QUANTILES = {
    schema.F_P50.name: "0.5",
    schema.F_P90.name: "0.9",
    schema.F_P95.name: "0.95",
    schema.F_P99.name: "0.99",
    schema.F_P99_9.name: "0.999",
}
_SINK_STATES = {
    schema.F_GENERATED.name: "generated",
    schema.F_WRITTEN.name: "written",
    schema.F_PENDING_MEM.name: "pending_memory",
    schema.F_PENDING_SPOOL.name: "pending_spool",
    schema.F_DROPPED.name: "dropped",
}


class PrometheusSink:
    name = "prometheus"

    def __init__(self, config: PrometheusSinkConfig, *, registry: CollectorRegistry | None = None,
                 serve: bool = True) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("inferload_requests", "finished requests", ["phase", "class", "status"], registry=r)
        self.latency = Gauge("inferload_latency_seconds", "latency quantiles of the last interval",
                             ["metric", "phase", "class", "quantile"], registry=r)
        self.inflight = Gauge("inferload_inflight", "requests in flight", registry=r)
        self.dropped_arrivals = Counter("inferload_dropped_arrivals", "arrivals not sent (max_inflight)",
                                        registry=r)
        self.lag_p99 = Gauge("inferload_schedule_lag_p99_seconds", "p99 send - scheduled of the last interval",
                             registry=r)
        self.invalid = Gauge("inferload_generator_invalid", "1 when the generator was the bottleneck", registry=r)
        self.telemetry = Gauge("inferload_telemetry_points", "sink accounting in points", ["sink", "state"],
                               registry=r)
        self._lock = threading.Lock()
        self._generated = 0
        self._server: Any = None
        self.port = config.port
        if serve:
            try:
                self._server, _thread = start_http_server(config.port, addr=config.host, registry=r)
            except OSError as e:
                raise InputError(f"sinks.prometheus: cannot listen on {config.host}:{config.port}: "
                                 f"{e.strerror or e}") from None
            self.port = int(self._server.server_port)

    def write(self, points: Iterable[Point]) -> None:
        try:
            pts = points if isinstance(points, list) else list(points)
            with self._lock:
                self._generated += len(pts)
            for p in pts:
                self._consume(p)
        except Exception:
            log.exception("prometheus sink: write failed")

    def _consume(self, p: Point) -> None:
        m, t, f = p.measurement, p.tags, p.fields
        phase, cls = t.get(schema.T_PHASE.name, ""), t.get(schema.T_CLASS.name, "")
        if m == schema.THROUGHPUT.name:
            ok = f.get(schema.F_OK_REQUESTS.name, 0.0)
            if ok > 0:
                self.requests.labels(phase, cls, "ok").inc(ok)
        elif m == schema.ERRORS.name:
            n = f.get(schema.F_COUNT.name, 0.0)
            if n > 0:
                self.requests.labels(phase, cls, t.get(schema.T_ERROR.name, "unknown")).inc(n)
        elif m == schema.LATENCY.name and t.get(schema.T_WINDOW.name) == "interval":
            metric = t.get(schema.T_METRIC.name, "")
            for field, q in _QUANTILES.items():
                if field in f:
                    self.latency.labels(metric, phase, cls, q).set(f[field])
        elif m == schema.HEALTH.name:
            self.inflight.set(f.get(schema.F_INFLIGHT.name, 0.0))
            drops = f.get(schema.F_DROPPED_ARRIVALS.name, 0.0)
            if drops > 0:
                self.dropped_arrivals.inc(drops)
            self.lag_p99.set(f.get(schema.F_LAG_P99.name, 0.0))
            self.invalid.set(f.get(schema.F_INVALID.name, 0.0))
        elif m == schema.SINK.name:
            sink = t.get(schema.T_SINK.name, "")
            for field, state in _SINK_STATES.items():
                if field in f:
                    self.telemetry.labels(sink, state).set(f[field])

    def stats(self) -> SinkStats:
        with self._lock:
            return SinkStats(sink=self.name, generated=self._generated, written=self._generated)

    def flush(self, timeout_s: float) -> bool:
        return True

    def close(self, timeout_s: float = 1.0) -> SinkStats:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        return self.stats()


__all__ = ["PrometheusSink"]
