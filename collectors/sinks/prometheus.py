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
  (``telemetry_sink``), readable while InfluxDB is down;
- live SLO (``llm_slo_count``, ``llm_slo``, ``run_event``, ``run_progress``; labels run_id, scenario,
  phase, class, objective): ``inferload_slo_good_total`` / ``inferload_slo_requests_total`` (good/total
  per judged interval, so Prometheus computes burn rates itself), ``inferload_slo_error_budget``,
  ``inferload_slo_violating{slo_window}``, ``inferload_slo_violations_total`` (ended violations),
  ``inferload_run_info{phase}`` (1 for the plan's current phase), ``inferload_arrivals_due_total``,
  ``inferload_slo_judged``, ``inferload_drift_detected{objective}`` (1 once a drift event names the series);
- ``inferload_server_waiting{host,model}``: the target's engine queue (``llm_server.waiting``).

Every name is declared in ``collectors/schema.py`` (``PROM_*``); the alert rules in
``dashboards/alerts/`` read them.

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

EXPECT_MAX = 20_000  # labelled series created ahead of the run
_QUANTILES = {
    schema.F_P50.name: "0.5",
    schema.F_P90.name: "0.9",
    schema.F_P95.name: "0.95",
    schema.F_P99.name: "0.99",
    schema.F_P99_9.name: "0.999",
}
_LIVE = frozenset({schema.SLO_COUNT.name, schema.SLO.name, schema.RUN_EVENT.name, schema.RUN_PROGRESS.name})
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
        run, cls, obj = ["run_id", "scenario", "phase"], "class", "objective"
        self.slo_good = Counter(schema.PROM_SLO_GOOD, "requests within the objective's per-request threshold "
                                "(error_rate: ok requests), judged intervals only", [*run, cls, obj], registry=r)
        self.slo_requests = Counter(schema.PROM_SLO_REQUESTS, "requests counted for the objective, judged "
                                    "intervals only", [*run, cls, obj], registry=r)
        self.slo_budget = Gauge(schema.PROM_SLO_BUDGET, "error budget of the objective (p99 -> 0.01)",
                                ["run_id", "scenario", obj], registry=r)
        self.slo_violating = Gauge(schema.PROM_SLO_VIOLATING, "1 while the rolling window violates the objective",
                                   [*run, obj, "slo_window"], registry=r)
        self.slo_violations = Counter(schema.PROM_SLO_VIOLATIONS, "SLO violations that ended", [*run, obj],
                                      registry=r)
        self.run_info = Gauge(schema.PROM_RUN_INFO, "1 for the plan's current phase of the run", run, registry=r)
        self.arrivals_due = Counter(schema.PROM_ARRIVALS_DUE, "arrivals the plan scheduled", run, registry=r)
        self.slo_judged = Gauge(schema.PROM_SLO_JUDGED, "1 when the last interval was judged", ["run_id", "scenario"],
                                registry=r)
        self.server_waiting = Gauge(schema.PROM_SERVER_WAITING, "requests waiting in the target's engine queue",
                                    ["host", "model"], registry=r)
        self.drift = Gauge(schema.PROM_DRIFT, "1 once the master flagged a significant upward drift of the series "
                           "(objective label: ttft_p99, kv_cache_usage, ...)", [*run, obj], registry=r)
        self._lock = threading.Lock()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}  # cached labelled children (_child)
        self._generated = 0
        self._phase_labels: tuple[str, ...] | None = None
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

    def expect(self, phases: list[str], classes: list[str]) -> None:
        """Create the labelled series the run will set (latency quantiles, ok counts) before it starts:
        creating one costs tens of microseconds, and a phase's first interval would create hundreds
        on the loop that sends requests.  At most ``EXPECT_MAX`` series; the rest appear when set."""
        budget = EXPECT_MAX
        for phase in phases:
            for cls in classes:
                self._child(self.requests, phase, cls, "ok")
                for metric in schema.LATENCY_METRICS:
                    for q in _QUANTILES.values():
                        if budget <= 0:
                            return
                        self._child(self.latency, metric, phase, cls, q)
                        budget -= 1

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, cached: prometheus_client's lookup costs microseconds per call,
        and every interval sets hundreds of them on the loop that sends requests."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _consume(self, p: Point) -> None:
        m, t, f = p.measurement, p.tags, p.fields
        phase, cls = t.get(schema.T_PHASE.name, ""), t.get(schema.T_CLASS.name, "")
        if m == schema.THROUGHPUT.name:
            ok = f.get(schema.F_OK_REQUESTS.name, 0.0)
            if ok > 0:
                self._child(self.requests, phase, cls, "ok").inc(ok)
        elif m == schema.ERRORS.name:
            n = f.get(schema.F_COUNT.name, 0.0)
            if n > 0:
                self._child(self.requests, phase, cls, t.get(schema.T_ERROR.name, "unknown")).inc(n)
        elif m == schema.LATENCY.name and t.get(schema.T_WINDOW.name) == "interval":
            metric = t.get(schema.T_METRIC.name, "")
            for field, q in _QUANTILES.items():
                if field in f:
                    self._child(self.latency, metric, phase, cls, q).set(f[field])
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
                    self._child(self.telemetry, sink, state).set(f[field])
        elif m in _LIVE:
            self._consume_live(m, t, f)
        elif m == schema.SERVER.name and schema.SF_WAITING.name in f:
            self._child(self.server_waiting, t.get(schema.T_HOST.name, ""), t.get(schema.T_MODEL.name, "")).set(
                f[schema.SF_WAITING.name])

    def _consume_live(self, m: str, t: dict[str, str], f: dict[str, float]) -> None:
        run = (t.get(schema.T_RUN_ID.name, ""), t.get(schema.T_SCENARIO.name, ""))
        phase, obj = t.get(schema.T_PHASE.name, ""), t.get(schema.T_OBJECTIVE.name, "")
        if m == schema.SLO_COUNT.name:
            cls = t.get(schema.T_CLASS.name, "")
            self._child(self.slo_good, *run, phase, cls, obj).inc(max(0.0, f.get(schema.SF_SLO_GOOD.name, 0.0)))
            self._child(self.slo_requests, *run, phase, cls, obj).inc(max(0.0, f.get(schema.SF_SLO_COUNTED.name, 0.0)))
            if schema.SF_SLO_BUDGET.name in f:
                self._child(self.slo_budget, *run, obj).set(f[schema.SF_SLO_BUDGET.name])
        elif m == schema.SLO.name:
            window = t.get(schema.T_SLO_WINDOW.name, "")
            self._child(self.slo_violating, *run, phase, obj, window).set(f.get(schema.SF_SLO_VIOLATING.name, 0.0))
        elif m == schema.RUN_EVENT.name:
            if t.get(schema.T_EVENT.name) == schema.EVENT_VIOLATION:
                self._child(self.slo_violations, *run, phase, obj).inc()
            elif t.get(schema.T_EVENT.name) == schema.EVENT_DRIFT:
                self._child(self.drift, *run, phase, obj).set(1.0)
        elif m == schema.RUN_PROGRESS.name:
            with self._lock:
                if self._phase_labels is not None and self._phase_labels != (*run, phase):
                    self.run_info.remove(*self._phase_labels)
                self._phase_labels = (*run, phase)
            self.run_info.labels(*run, phase).set(1.0)
            due = f.get(schema.PF_ARRIVALS_DUE.name, 0.0)
            self._child(self.arrivals_due, *run, phase).inc(max(0.0, due))
            self._child(self.slo_judged, *run).set(f.get(schema.PF_JUDGED.name, 0.0))

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
