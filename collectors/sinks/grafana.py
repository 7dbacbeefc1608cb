"""The Grafana sink: ``run_event`` points posted live as Grafana annotations (``POST /api/annotations``).

With ``sinks.grafana`` in a scenario, the master's phase regions, SLO violations and burst
recoveries (the ``run_event`` points, see docs/schema.md) appear on every dashboard of the
organisation (or of ``dashboard_uid``) as region annotations, also in a Grafana that does not
read InfluxDB.  Every other point is ignored (and not counted).

One annotation per point: ``time``/``timeEnd`` in epoch ms (the point's time and its ``end_ms``),
``tags`` ``inferload``, ``run_id:<id>``, ``scenario:<name>``, ``phase:<name>``, ``event:<kind>`` and
``objective:<id>`` when present, and a one-line ``text``.  Posted by a background thread through
grafana-client (token auth: a service-account token read from ``token_env`` at start), so
:meth:`GrafanaAnnotationSink.write` never blocks; a failed post is retried twice (1 s, 2 s), then
dropped and counted (4xx: ``rejected``, otherwise ``io_error``).  The accounting identity
``generated = written + pending + dropped`` holds over annotation points.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any, Protocol

from collectors import schema
from collectors.point import Point
from collectors.sinks.base import Ledger, SinkStats
from collectors.sinks.config import GrafanaSinkConfig
from userinput.errors import InputError

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (1.0, 2.0)


class AnnotationsApi(Protocol):
    """The part of ``grafana_client.GrafanaApi.annotations`` this sink uses."""

    def add_annotation(self, dashboard_id: Any = None, dashboard_uid: Any = None, panel_id: Any = None,
                       time_from: Any = None, time_to: Any = None, tags: Any = None, text: Any = None) -> Any: ...


def grafana_api(config: GrafanaSinkConfig) -> AnnotationsApi:
    """grafana-client's annotations API for ``config`` (token from ``token_env``)."""
    token: str | None = None
    if config.token_env:
        value = os.environ.get(config.token_env)
        if value is None:
            raise InputError(f"sinks.grafana.token_env: environment variable {config.token_env} is not set")
        token = value.strip()
    from grafana_client import GrafanaApi

    api = GrafanaApi.from_url(config.url, credential=token, timeout=float(config.timeout_s))
    annotations: AnnotationsApi = api.annotations
    return annotations


def annotation(p: Point) -> dict[str, Any]:
    """The annotation body fields (grafana-client keyword arguments) for one ``run_event`` point."""
    t, f = p.tags, p.fields
    event = t.get(schema.T_EVENT.name, "")
    phase = t.get(schema.T_PHASE.name, "")
    objective = t.get(schema.T_OBJECTIVE.name, "")
    start_ms = p.time_ns // 1_000_000
    end_ms = int(f.get(schema.EF_END_MS.name, start_ms))
    tags = ["inferload", f"event:{event}", f"phase:{phase}"]
    for tag in (schema.T_RUN_ID, schema.T_SCENARIO):
        if t.get(tag.name):
            tags.append(f"{tag.name}:{t[tag.name]}")
    if objective:
        tags.append(f"objective:{objective}")
    value, threshold = f.get(schema.EF_VALUE.name), f.get(schema.EF_THRESHOLD.name)
    if event == schema.EVENT_VIOLATION:
        unit_ms = objective != "error_rate"
        shown = (lambda x: f"{x * 1000:.1f} ms") if unit_ms else (lambda x: f"{x:.4f}")
        text = (f"SLO violation: {objective} in phase {phase}"
                + (f", peak {shown(value)}" if value is not None else "")
                + (f" > {shown(threshold)}" if threshold is not None else ""))
    elif event == schema.EVENT_RECOVERY:
        text = f"burst {phase}: recovered" + (f" {value:.1f} s after its end" if value is not None else "")
    elif event == schema.EVENT_PHASE:
        text = f"phase {phase}"
    else:
        text = f"{event} {phase} {objective}".strip()
    return {"time_from": start_ms, "time_to": end_ms, "tags": tags, "text": text}


class GrafanaAnnotationSink:
    name = "grafana"

    def __init__(self, config: GrafanaSinkConfig, *, api: AnnotationsApi | None = None,
                 sleep: Any = time.sleep) -> None:
        self.config = config
        self._api = api if api is not None else grafana_api(config)
        self._sleep = sleep
        self._queue: deque[Point] = deque()
        self._cond = threading.Condition()
        self._ledger = Ledger("grafana sink", log)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="grafana-annotations", daemon=True)
        self._thread.start()

    def write(self, points: Iterable[Point]) -> None:
        try:
            events = [p for p in points if p.measurement == schema.RUN_EVENT.name]
            if not events:
                return
            with self._cond:
                self._ledger.generated += len(events)
                if self._closed:
                    self._ledger.drop("closed", len(events))
                    return
                for p in events:
                    if len(self._queue) >= self.config.queue_max:
                        self._ledger.drop("queue_full", 1)
                        continue
                    self._queue.append(p)
                self._cond.notify()
        except Exception:
            log.exception("grafana sink: write failed")

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                p = self._queue.popleft()
                self._ledger.inflight += 1
            reason = self._post(p)
            with self._cond:
                self._ledger.inflight -= 1
                if reason is None:
                    self._ledger.written += 1
                else:
                    self._ledger.drop(reason, 1)
                self._ledger.log_drops()
                self._cond.notify_all()

    def _post(self, p: Point) -> str | None:
        """None when posted; else the drop reason."""
        body = annotation(p)
        for attempt in range(len(RETRY_DELAYS_S) + 1):
            try:
                self._api.add_annotation(dashboard_uid=self.config.dashboard_uid, **body)
                return None
            except Exception as e:  # grafana-client raises GrafanaClientError subclasses, niquests errors
                status = int(getattr(e, "status_code", 0) or 0)
                if 400 <= status < 500 and status != 429:
                    log.warning("grafana sink: annotation rejected (%s): %s", status, e)
                    return "rejected"
                if attempt == len(RETRY_DELAYS_S):
                    log.warning("grafana sink: posting an annotation failed: %s", e)
                    return "io_error"
                with self._cond:
                    self._ledger.retries += 1
                self._sleep(RETRY_DELAYS_S[attempt])
        return "io_error"

    def stats(self) -> SinkStats:
        with self._cond:
            return self._ledger.snapshot(self.name, memory=len(self._queue))

    def flush(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._queue or self._ledger.inflight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout_s: float = 5.0) -> SinkStats:
        self.flush(timeout_s)
        with self._cond:
            self._closed = True
            self._ledger.drop("closed", len(self._queue))  # not posted in time: counted, never silent
            self._queue.clear()
            self._cond.notify_all()
        self._thread.join(timeout=1.0)
        self._ledger.log_drops(force=True)
        return self.stats()


__all__ = ["AnnotationsApi", "GrafanaAnnotationSink", "annotation", "grafana_api"]
