"""The target's own /metrics and batching configuration, read beside the load for the whole run.

At run start (local or master) :func:`start_server_metrics` probes the server behind
``target.base_url`` (its kind, version and batching configuration: ``collectors.server.probe``)
and, when ``<server root>/metrics`` answers with Prometheus text, reads it in a thread: every
:data:`SAMPLE_PERIOD_S` the ``running``/``waiting`` gauges only (a cheap line scan), and every
``sinks.aggregate_interval_s`` (:data:`FULL_SCRAPE_S` without sinks) the whole page with
``collectors.server.ServerMetricsCollector``, whose points go through the run's telemetry (the
sinks and the run folder), tagged with the run id, so the server's model-side latency sits beside
the client-side system latency of the same run.  All samples feed the effective batch per phase
(``collectors.server.batch``).  A target without /metrics is noted once; its operating point then
says what the probe and ``target.server_config`` know, and no effective batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from collectors import schema
from collectors.http import FetchError, HttpGet, http_get, redact_url
from collectors.point import Point
from collectors.runner import CollectorRunner, Scheduled
from collectors.server import ServerMetricsCollector
from collectors.server.batch import BATCH_FIELDS, GAUGE_FIELDS, BatchSamples
from collectors.server.endpoints import metrics_url
from collectors.server.probe import ServerInfo, probe_server

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 3.0
SAMPLE_PERIOD_S = 1.0  # running/waiting sampled this often for the effective batch (or the full period if shorter)
FULL_SCRAPE_S = 5.0  # whole page parsed and written this often without sinks (with: sinks.aggregate_interval_s)


class _Sampling:
    """Every tick a gauge-only sample of ``running``/``waiting``; every ``full_every_s`` a full scrape
    whose points are written (and whose per-step fields are sampled too).  The full parse costs a few
    ms of the process's GIL, the gauge scan a fraction of one (docs/performance.md)."""

    def __init__(self, inner: ServerMetricsCollector, samples: BatchSamples, *, full_every_s: float,
                 tick_s: float) -> None:
        self.inner = inner
        self.samples = samples
        self.full_every_s = full_every_s
        self.tick_s = tick_s
        self._last_full: float | None = None

    def collect(self, now_ns: int) -> Iterable[Point]:
        mono = time.monotonic()
        if self._last_full is not None and mono - self._last_full < self.full_every_s - self.tick_s / 2:
            fields = self.inner.sample_gauges(GAUGE_FIELDS)
            self.samples.add(time.time(), fields, full=False)
            return []
        self._last_full = mono
        points = list(self.inner.collect(now_ns))
        t = time.time()
        totals: dict[str, list[float]] = {}
        for p in points:
            if p.measurement == schema.SERVER.name:
                for f in BATCH_FIELDS:
                    if f in p.fields:
                        totals.setdefault(f, []).append(p.fields[f])
        # several models: gauges add up, per-step means are averaged
        fields = {f: (sum(v) if f in GAUGE_FIELDS else sum(v) / len(v)) for f, v in totals.items()}
        self.samples.add(t, fields)
        return points


class ServerMetricsScrape:
    """The run's view of its server; :meth:`stop` ends the scrape, :meth:`operating_point` reports."""

    def __init__(self, info: ServerInfo, stated: Mapping[str, Any], *, url: str | None = None,
                 runner: CollectorRunner | None = None, collector: ServerMetricsCollector | None = None,
                 samples: BatchSamples | None = None, period_s: float = SAMPLE_PERIOD_S) -> None:
        self.info = info
        self.stated = dict(stated)
        self.url = url
        self.period_s = period_s
        self.samples = samples or BatchSamples()
        self._runner = runner
        self._collector = collector
        self._thread: threading.Thread | None = None
        if runner is not None:
            self._thread = threading.Thread(target=runner.run, name="server-metrics", daemon=True)
            self._thread.start()

    @property
    def kind(self) -> str | None:
        if self._collector is not None and self._collector.mapping is not None:
            return self._collector.mapping.kind
        return self.info.kind

    def stop(self, timeout_s: float = 5.0) -> dict[str, Any] | None:
        """End the scrape (after its current collection); its stats, or None when there was none."""
        if self._runner is None or self._thread is None:
            return None
        self._runner.stop()
        self._thread.join(timeout_s)
        st = self._runner.stats["server"]
        return {"url": self.url, "server": self.kind, "scrapes": st.collections,
                "full_scrapes": self._collector.scrapes if self._collector is not None else 0, "errors": st.errors,
                "last_error": st.last_error, "sample_period_s": self.period_s}

    def operating_point(self, phases: Sequence[Any], t0_wall: float) -> dict[str, Any]:
        """The ``server`` part of the operating point; ``phases`` have ``name``, ``start_s``, ``end_s``."""
        windows = [(str(p.name), t0_wall + float(p.start_s), t0_wall + float(p.end_s)) for p in phases]
        probed = dict(self.info.batching)
        batching = {**probed, **self.stated}
        source = "+".join(k for k, v in (("probed", probed), ("stated", self.stated)) if v) or "unknown"
        max_running = ServerInfo(batching=batching).max_running
        return {
            "kind": self.kind or "unknown",
            "version": self.info.version,
            "batching": batching,
            "batching_source": source,
            "max_running": max_running,
            "probed": probed,
            "stated": dict(self.stated),
            "probe_sources": list(self.info.sources),
            "metrics_url": self.url,
            "sample_period_s": self.period_s if self.url else None,
            "effective_batch": self.samples.per_phase(windows) if self.url else {},
        }


def start_server_metrics(
    scenario: Any, telemetry: Any, run_id: str, *, get: HttpGet = http_get, period_s: float | None = None,
) -> ServerMetricsScrape:
    """Probe the target's server and start scraping its /metrics (when it has one)."""
    base = str(scenario.target.base_url)
    stated = dict(getattr(scenario.target, "server_config", None) or {})
    url = metrics_url(base)
    text: str | None
    try:
        text = get(url, PROBE_TIMEOUT_S)
    except FetchError as err:
        log.info("server metrics not collected: %s", err)
        text = None
    if text is not None and "# TYPE" not in text:
        log.info("server metrics not collected: %s is not Prometheus text", redact_url(url))
        text = None
    info = probe_server(base, get=get, metrics_text=text, timeout_s=PROBE_TIMEOUT_S)
    if text is None:
        return ServerMetricsScrape(info, stated)
    sinks = getattr(scenario, "sinks", None)
    full_every = float(sinks.aggregate_interval_s) if sinks is not None else FULL_SCRAPE_S
    period = period_s or min(SAMPLE_PERIOD_S, full_every)
    tags = {schema.T_RUN_ID.name: run_id, schema.T_SCENARIO.name: scenario.name}
    collector = ServerMetricsCollector(url, get=get, server=info.kind if info.kind else None, tags=tags)
    samples = BatchSamples()
    sampling = _Sampling(collector, samples, full_every_s=full_every, tick_s=period)
    runner = CollectorRunner([Scheduled("server", sampling, period)], telemetry.write_points, tags=tags)
    log.info("scraping server metrics from %s every %g s (running/waiting every %g s)",
             redact_url(url), full_every, period)
    return ServerMetricsScrape(info, stated, url=redact_url(url), runner=runner, collector=collector,
                               samples=samples, period_s=period)


__all__ = ["FULL_SCRAPE_S", "SAMPLE_PERIOD_S", "ServerMetricsScrape", "start_server_metrics"]
