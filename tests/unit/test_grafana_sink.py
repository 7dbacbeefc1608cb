"""The Grafana annotations sink (collectors/sinks/grafana.py) against a local HTTP server that answers
``POST /api/annotations`` as Grafana's HTTP API does, with the request bodies checked against the
documented shape (time/timeEnd epoch ms, tags, text, dashboardUID, panelId)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from collectors import schema
from collectors.point import Point
from collectors.sinks.config import GrafanaSinkConfig, SinksConfig
from collectors.sinks.grafana import GrafanaAnnotationSink, annotation, grafana_api
from userinput.errors import InputError

pytestmark = pytest.mark.integration

TOKEN = "glsa_test-token"
RUN = {"run_id": "r1", "scenario": "s"}
ANNOTATION_KEYS = {"time", "timeEnd", "tags", "text", "panelId", "dashboardUID"}


@dataclass
class FakeGrafana:
    server: ThreadingHTTPServer
    bodies: list[dict[str, Any]] = field(default_factory=list)
    fail: list[int] = field(default_factory=list)  # statuses to answer before succeeding

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    state: dict[str, FakeGrafana] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            g = state["g"]
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            if self.path != "/api/annotations" or self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._answer(401 if self.path == "/api/annotations" else 404, {"message": "Unauthorized"})
            if g.fail:
                return self._answer(g.fail.pop(0), {"message": "try again"})
            # Grafana's documented body: time/timeEnd epoch ms, tags list of strings, text
            assert set(body) <= ANNOTATION_KEYS, body
            assert isinstance(body["time"], int) and isinstance(body["timeEnd"], int), body
            assert body["timeEnd"] >= body["time"]
            assert all(isinstance(t, str) for t in body["tags"]) and isinstance(body["text"], str)
            g.bodies.append(body)
            self._answer(200, {"message": "Annotation added", "id": len(g.bodies)})

        def _answer(self, status: int, obj: dict[str, Any]) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_a: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["g"] = FakeGrafana(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state["g"]
    server.shutdown()


def event(kind: str, phase: str, start_s: float, end_s: float, objective: str = "", **fields: float) -> Point:
    tags = {**RUN, "phase": phase, "event": kind}
    if objective:
        tags["objective"] = objective
    return Point(schema.RUN_EVENT.name, tags,
                 {"end_ms": float(round(end_s * 1000)), "duration_s": end_s - start_s, **fields}, int(start_s * 1e9))


def test_phase_and_violation_events_become_region_annotations(grafana: FakeGrafana,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN_T", TOKEN)
    cfg = GrafanaSinkConfig(url=grafana.url + "/", token_env="GRAFANA_TOKEN_T", dashboard_uid="inferload-overview")
    sink = GrafanaAnnotationSink(cfg)
    sink.write([
        Point(schema.LATENCY.name, RUN, {"p99_s": 0.1}, 1),  # not an event: ignored, not counted
        event("phase", "steady", 1000.0, 1030.0),
        event("violation", "steady", 1010.0, 1016.5, "ttft_p99", value=0.6125, threshold=0.3),
    ])
    assert sink.flush(10)
    st = sink.close(5)
    assert (st.generated, st.written, st.dropped) == (2, 2, 0) and st.balanced()
    phase, violation = grafana.bodies
    assert phase == {"time": 1_000_000, "timeEnd": 1_030_000, "panelId": None, "dashboardUID": "inferload-overview",
                     "tags": ["inferload", "event:phase", "phase:steady", "run_id:r1", "scenario:s"],
                     "text": "phase steady"}
    assert violation["time"] == 1_010_000 and violation["timeEnd"] == 1_016_500
    assert "objective:ttft_p99" in violation["tags"]
    assert violation["text"] == "SLO violation: ttft_p99 in phase steady, peak 612.5 ms > 300.0 ms"


def test_server_errors_are_retried_and_rejections_counted(grafana: FakeGrafana,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN_T", TOKEN)
    cfg = GrafanaSinkConfig(url=grafana.url, token_env="GRAFANA_TOKEN_T")
    grafana.fail = [500, 503]
    sink = GrafanaAnnotationSink(cfg, api=grafana_api(cfg), sleep=lambda s: None)
    sink.write([event("recovery", "burst", 50.0, 53.0, value=3.0, threshold=0.11)])
    assert sink.flush(10)
    assert sink.stats().retries == 2 and len(grafana.bodies) == 1
    assert grafana.bodies[0]["text"] == "burst burst: recovered 3.0 s after its end"
    grafana.fail = [400]
    sink.write([event("phase", "after", 53.0, 60.0)])
    st = sink.close(5)
    assert st.dropped_by_reason == {"rejected": 1} and st.written == 1 and st.balanced()


def test_bad_token_is_rejected_not_retried(grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN_T", "wrong")
    sink = GrafanaAnnotationSink(GrafanaSinkConfig(url=grafana.url, token_env="GRAFANA_TOKEN_T"),
                                 sleep=lambda s: None)
    sink.write([event("phase", "steady", 1.0, 2.0)])
    st = sink.close(5)
    assert st.dropped_by_reason == {"rejected": 1} and st.retries == 0 and grafana.bodies == []


def test_unreachable_grafana_is_counted_as_io_error() -> None:
    sink = GrafanaAnnotationSink(GrafanaSinkConfig(url="http://127.0.0.1:9", timeout_s=1), sleep=lambda s: None)
    sink.write([event("phase", "steady", 1.0, 2.0)])
    st = sink.close(10)
    assert st.dropped_by_reason == {"io_error": 1} and st.retries == 2 and st.balanced()


def test_config_errors_are_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_GRAFANA_TOKEN", raising=False)
    with pytest.raises(InputError, match="sinks.grafana.token_env: environment variable NO_SUCH_GRAFANA_TOKEN"):
        grafana_api(GrafanaSinkConfig(url="http://127.0.0.1:3000", token_env="NO_SUCH_GRAFANA_TOKEN"))
    with pytest.raises(ValueError, match="http:// or https://"):
        SinksConfig.model_validate({"grafana": {"url": "grafana:3000"}})
    with pytest.raises(ValueError, match="Extra inputs"):
        SinksConfig.model_validate({"grafana": {"url": "http://g:3000", "token": "x"}})


def test_error_rate_violation_text() -> None:
    body = annotation(event("violation", "steady", 1.0, 2.0, "error_rate", value=0.0731, threshold=0.01))
    assert body["text"] == "SLO violation: error_rate in phase steady, peak 0.0731 > 0.0100"


def test_a_master_with_sinks_grafana_posts_its_run_events(grafana: FakeGrafana,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from collectors.pipeline import RequestTelemetry

    monkeypatch.setenv("GRAFANA_TOKEN_T", TOKEN)
    cfg = SinksConfig.model_validate({"grafana": {"url": grafana.url, "token_env": "GRAFANA_TOKEN_T"}})
    tel = RequestTelemetry(cfg, run_id="r1", scenario="s", worker="master", role="master")
    assert [s.name for s in tel.sinks] == ["grafana"]
    tel.write_points([event("phase", "steady", 10.0, 20.0)])
    out = tel.close(5)
    assert len(grafana.bodies) == 1 and grafana.bodies[0]["text"] == "phase steady"
    assert "grafana" in str(out)
    worker = RequestTelemetry(cfg, run_id="r1", scenario="s", worker="w0", role="worker")
    assert [s.name for s in worker.sinks] == []  # only the master annotates
    worker.close(1)
