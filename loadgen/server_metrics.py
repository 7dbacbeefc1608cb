"""The target's own /metrics, scraped beside the load for the whole run.

When the scenario has a ``sinks:`` section and ``<base_url>/metrics`` answers with Prometheus
text, ``inferload run`` (local or master) scrapes it every ``sinks.aggregate_interval_s`` with
``collectors.server.ServerMetricsCollector`` and writes the points through the run's sinks, tagged
with the run id: the server's model-side latency (queue, prefill, decode) then sits beside the
client-side system latency of the same run.  A target without /metrics is noted once and skipped.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from collectors import schema
from collectors.http import FetchError, http_get, redact_url
from collectors.runner import CollectorRunner, Scheduled
from collectors.server import ServerMetricsCollector

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 3.0


class ServerMetricsScrape:
    """A running scrape; :meth:`stop` ends it (after a final collection) and returns its stats."""

    def __init__(self, runner: CollectorRunner, collector: ServerMetricsCollector, url: str) -> None:
        self.url = url
        self._runner = runner
        self._collector = collector
        self._thread = threading.Thread(target=runner.run, name="server-metrics", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> dict[str, Any]:
        self._runner.stop()
        self._thread.join(timeout_s)
        st = self._runner.stats["server"]
        server = self._collector.mapping.kind if self._collector.mapping is not None else None
        return {"url": self.url, "server": server, "scrapes": st.collections, "errors": st.errors,
                "last_error": st.last_error}


def start_server_metrics(scenario: Any, telemetry: Any, run_id: str) -> ServerMetricsScrape | None:
    """Start scraping the target's /metrics into ``telemetry``'s sinks, or None when not possible."""
    sinks = getattr(scenario, "sinks", None)
    if sinks is None:
        return None
    url = str(scenario.target.base_url).rstrip("/") + "/metrics"
    try:
        text = http_get(url, PROBE_TIMEOUT_S)
    except FetchError as err:
        log.info("server metrics not collected: %s", err)
        return None
    if "# TYPE" not in text:
        log.info("server metrics not collected: %s is not Prometheus text", redact_url(url))
        return None
    tags = {schema.T_RUN_ID.name: run_id, schema.T_SCENARIO.name: scenario.name}
    collector = ServerMetricsCollector(url, tags=tags)
    runner = CollectorRunner([Scheduled("server", collector, float(sinks.aggregate_interval_s))],
                             telemetry.write_points, tags=tags)
    log.info("scraping server metrics from %s every %g s", redact_url(url), sinks.aggregate_interval_s)
    return ServerMetricsScrape(runner, collector, url)


__all__ = ["ServerMetricsScrape", "start_server_metrics"]
