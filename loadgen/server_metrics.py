"""The target's own /metrics and batching configuration, read beside the load for the whole run.

At run start (local or master) :func:`start_server_metrics` probes the server behind
``target.base_url`` (its kind, version and batching configuration: ``collectors.server.probe``)
and, when ``<server root>/metrics`` answers with Prometheus text, starts the scrape in a child
process (``collectors.server.child``: the page's parse costs milliseconds of pure Python that must
not run on this process's request loop).  The child reads the ``running``/``waiting`` gauges
every :data:`SAMPLE_PERIOD_S` and the whole page every ``sinks.aggregate_interval_s``
(:data:`FULL_SCRAPE_S` without sinks); this process decodes its JSON lines in a reader thread
(a greenlet under Locust), writes the points through the run's telemetry (the sinks and the run
folder), tagged with the run id, so the server's model-side latency sits beside the client-side
system latency of the same run, and keeps the samples for the effective batch per phase
(``collectors.server.batch``).  A target without /metrics is noted once; its operating point then
says what the probe and ``target.server_config`` know, and no effective batch.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import IO, Any

from collectors import schema
from collectors.http import FetchError, HttpGet, http_get, redact_url
from collectors.point import Point
from collectors.server.batch import BatchSamples
from collectors.server.endpoints import metrics_url
from collectors.server.probe import ServerInfo, probe_server

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 3.0
SAMPLE_PERIOD_S = 1.0  # running/waiting sampled this often (or the full period if shorter)
FULL_SCRAPE_S = 5.0  # whole page parsed and written this often without sinks (with: sinks.aggregate_interval_s)


class ServerMetricsScrape:
    """The run's view of its server; :meth:`stop` ends the scrape, :meth:`operating_point` reports."""

    def __init__(self, info: ServerInfo, stated: Mapping[str, Any], *, url: str | None = None,
                 proc: subprocess.Popen[str] | None = None, telemetry: Any = None,
                 period_s: float = SAMPLE_PERIOD_S) -> None:
        self.info = info
        self.stated = dict(stated)
        self.url = url
        self.period_s = period_s
        self.samples = BatchSamples()
        self.stats: dict[str, Any] = {}
        self.kind: str | None = info.kind
        self.points_written = 0
        self._proc = proc
        self._telemetry = telemetry
        self._reader: threading.Thread | None = None
        if proc is not None:
            self._reader = threading.Thread(target=self._read, name="server-metrics", daemon=True)
            self._reader.start()

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                self.handle(json.loads(line))
            except Exception as err:  # noqa: BLE001 (one bad line never ends the scrape)
                log.warning("server metrics: bad line from the scrape process: %s", err)

    def handle(self, msg: Mapping[str, Any]) -> None:
        """One line of ``collectors.server.child``'s output."""
        if msg.get("kind"):
            self.kind = str(msg["kind"])
        if "sample" in msg:
            t, fields, full = msg["sample"]
            self.samples.add(float(t), {str(k): float(v) for k, v in fields.items()}, full=bool(full))
        elif "points" in msg:
            points = [Point(m, tags, fields, int(t)) for m, tags, fields, t in msg["points"]]
            self.points_written += len(points)
            if self._telemetry is not None:
                self._telemetry.write_points(points)
        elif "stats" in msg:
            self.stats = dict(msg["stats"])

    def stop(self, timeout_s: float = 10.0) -> dict[str, Any] | None:
        """End the scrape (its current collection finishes); its stats, or None when there was none."""
        proc = self._proc
        if proc is None:
            return None
        _close(proc.stdin)  # end of file: the child stops and reports
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self._reader is not None:
            self._reader.join(timeout_s)
        _close(proc.stdout)
        st = self.stats
        if not st:
            log.warning("server metrics: the scrape process ended without its stats (exit %s)", proc.returncode)
        return {"url": self.url, "server": self.kind, "scrapes": st.get("collections", 0),
                "full_scrapes": st.get("full_scrapes", 0), "errors": st.get("errors", 0),
                "last_error": st.get("last_error", "" if st else f"scrape process exited {proc.returncode}"),
                "sample_period_s": self.period_s, "points": self.points_written}

    def operating_point(self, phases: Sequence[Any], t0_wall: float) -> dict[str, Any]:
        """The ``server`` part of the operating point; ``phases`` have ``name``, ``start_s``, ``end_s``."""
        windows = [(str(p.name), t0_wall + float(p.start_s), t0_wall + float(p.end_s)) for p in phases]
        probed = dict(self.info.batching)
        batching = {**probed, **self.stated}
        source = "+".join(k for k, v in (("probed", probed), ("stated", self.stated)) if v) or "unknown"
        return {
            "kind": self.kind or "unknown",
            "version": self.info.version,
            "batching": batching,
            "batching_source": source,
            "max_running": ServerInfo(batching=batching).max_running,
            "probed": probed,
            "stated": dict(self.stated),
            "probe_sources": list(self.info.sources),
            "metrics_url": self.url,
            "sample_period_s": self.period_s if self.url else None,
            "effective_batch": self.samples.per_phase(windows) if self.url else {},
        }


def _close(stream: IO[str] | None) -> None:
    if stream is not None:
        try:
            stream.close()
        except OSError:
            pass


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
    cmd = [sys.executable, "-m", "collectors.server.child", "--url", url, "--period", f"{period:g}",
           "--full-every", f"{full_every:g}", "--tags", json.dumps(tags)]
    if info.kind:
        cmd += ["--server", info.kind]
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    except OSError as err:
        log.warning("server metrics not collected: cannot start the scrape process: %s", err)
        return ServerMetricsScrape(info, stated)
    log.info("scraping server metrics from %s every %g s (running/waiting every %g s)",
             redact_url(url), full_every, period)
    return ServerMetricsScrape(info, stated, url=redact_url(url), proc=proc, telemetry=telemetry, period_s=period)


__all__ = ["FULL_SCRAPE_S", "SAMPLE_PERIOD_S", "ServerMetricsScrape", "start_server_metrics"]
