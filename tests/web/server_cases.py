"""Run in its own interpreter by tests/web/test_server.py (Locust monkey-patches the process that imports it).

The web server's routes and guards, through Flask's test client (and one real bind on loopback).

- the inferload page, its static files and ``/inferload/api/live.json`` are served from the package;
- Locust's index gets the inferload strip script; its template args disable the user-count
  controls and declare the "LLM latency" tab, whose rows arrive in ``/stats/requests``;
- ``POST /swarm`` (change the user count) is refused and spawns nothing; ``POST /stop`` is
  inferload's graceful stop;
- with ``web_login`` the inferload routes are behind Locust's login like Locust's own;
- a port in use is a one-line input error; port 0 binds a free port and serves.
"""

from __future__ import annotations

import json
import socket
import types
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from locust.env import Environment

from collectors import schema
from collectors.counters import C_OK, C_REQUESTS, Counters
from collectors.histograms import HistogramSet
from loadgen.config import load_scenario
from loadgen.locust.user import SchedulerUser
from loadgen.plan import Plan
from loadgen.web.live import LiveView
from loadgen.web.server import STATIC_DIR, InferloadWebUI, start_web
from userinput.errors import InputError

SCENARIO = """name: srv
target: {base_url: "http://127.0.0.1:1", model: m}
workload: {prompt_tokens: 16, output_tokens: 8}
phases:
  - {name: steady, duration: 10s, arrivals: {process: poisson, rate: 5}}
slo:
  objectives: [{metric: ttft, percentile: 99, max_ms: 500}]
"""


@pytest.fixture
def live(tmp_path: Path) -> LiveView:
    p = tmp_path / "s.yaml"
    p.write_text(SCENARIO)
    scenario = load_scenario(p)
    hs, c = HistogramSet(), Counters()
    for i in range(20):
        hs.record(schema.M_TTFT, "steady", "default", 0.05 + i * 0.001)
        hs.record(schema.M_ITL, "steady", "default", 0.01)
    c.add("steady", "default", C_REQUESTS, 20)
    c.add("steady", "default", C_OK, 20)
    state = types.SimpleNamespace(
        scenario=scenario, plan=Plan(scenario), hs=hs, counters=c, t0_wall=1.0, n_slots=1,
        stop_requested_at=None, lost_slots=[], cpu_now={}, cpu_max={}, inflight={}, merge_listeners=[],
    )
    return LiveView(state, run_id="r1", mode="local", pause=lambda: None)


@pytest.fixture
def env() -> Iterator[Environment]:
    e = Environment(user_classes=[SchedulerUser], host="http://127.0.0.1:1", stop_timeout=0)
    e.create_local_runner()
    yield e
    assert e.runner is not None
    e.runner.quit()


def _ui(env: Environment, live: LiveView, stops: list[int], web_login: bool = False) -> InferloadWebUI:
    return InferloadWebUI(env, "127.0.0.1", 0, live=live, on_stop=lambda: stops.append(1), web_login=web_login)


def test_page_static_and_json(env: Environment, live: LiveView) -> None:
    client = _ui(env, live, []).app.test_client()  # type: ignore[union-attr]
    page = client.get("/inferload/")
    assert page.status_code == 200 and b"inferload <span>live</span>" in page.data
    assert b"http" not in page.data.replace(b'href="../"', b"")  # nothing loaded from elsewhere
    for name in ("live.js", "live.css", "locust-extra.js"):
        r = client.get(f"/inferload/static/{name}")
        assert r.status_code == 200 and r.data == (STATIC_DIR / name).read_bytes()
        r.close()
    page.close()
    data = client.get("/inferload/api/live.json")
    body = json.loads(data.data)
    assert data.headers["Cache-Control"] == "no-store"
    assert body["schema"] == "inferload.live/1" and body["phases"]["steady"]["requests"] == 20
    assert client.get("/inferload/static/../server.py").status_code == 404


def test_locust_ui_extended(env: Environment, live: LiveView) -> None:
    ui = _ui(env, live, [])
    client = ui.app.test_client()  # type: ignore[union-attr]
    index = client.get("/")
    assert index.status_code == 200
    assert b'<script src="./inferload/static/locust-extra.js"></script>\n</body>' in index.data
    args: dict[str, Any] = ui.template_args
    assert args["hide_common_options"] is True  # Locust disables "Edit" (user count, spawn rate)
    assert args["extended_tabs"] == [{"title": "LLM latency", "key": "llm"}]
    stats = json.loads(client.get("/stats/requests").data)
    (ext,) = stats["extended_stats"]
    assert ext["key"] == "llm"
    assert {(r["phase"], r["metric"]) for r in ext["data"]} >= {("steady", "ttft"), ("steady", "itl")}
    assert "stats" in stats and "state" in stats  # Locust's own fields untouched


def test_user_count_refused_and_stop_is_graceful(env: Environment, live: LiveView) -> None:
    stops: list[int] = []
    client = _ui(env, live, stops).app.test_client()  # type: ignore[union-attr]
    r = client.post("/swarm", data={"user_count": 50, "spawn_rate": 50})
    assert r.status_code == 409 and not r.get_json()["success"]
    assert env.runner is not None and env.runner.user_count == 0
    assert client.post("/user", data=json.dumps({"user_class_name": "SchedulerUser"})).status_code == 409
    r = client.post("/stop")
    assert r.status_code == 200 and r.get_json()["success"] and stops == [1]


def test_web_login_protects_inferload_routes(env: Environment, live: LiveView) -> None:
    ui = _ui(env, live, [], web_login=True)
    ui.app.secret_key = "test"  # type: ignore[union-attr]  # what an auth setup provides, with the user loader
    ui.login_manager.user_loader(lambda _uid: None)
    client = ui.app.test_client()  # type: ignore[union-attr]
    for path in ("/inferload/", "/inferload/api/live.json", "/inferload/static/live.js"):
        r = client.get(path)
        assert r.status_code == 302 and "/login" in r.headers["Location"], path


@pytest.mark.integration
def test_port_in_use_and_port_zero(env: Environment, live: LiveView) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(InputError) as err:
            start_web(env, live, host="127.0.0.1", port=port, on_stop=lambda: None)
        assert f"--web-port {port}: cannot listen" in str(err.value) and "\n" not in str(err.value)
    ui, url = start_web(env, live, host="127.0.0.1", port=0, on_stop=lambda: None)
    try:
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0/")
        import gevent

        def fetch() -> Any:
            with urllib.request.urlopen(url + "inferload/api/live.json", timeout=10) as r:
                return json.loads(r.read())

        body = gevent.spawn(fetch).get(timeout=20)
        assert body["run_id"] == "r1"
    finally:
        ui.stop()


def test_login_with_username_and_password(env: Environment, live: LiveView) -> None:
    ui = InferloadWebUI(env, "127.0.0.1", 0, live=live, on_stop=lambda: None, login=("alice", "s3cret"))
    client = ui.app.test_client()  # type: ignore[union-attr]
    for path in ("/", "/inferload/", "/inferload/api/live.json", "/stats/requests"):
        r = client.get(path)
        assert r.status_code == 302 and "/login" in r.headers["Location"], path
    page = client.get("/login")
    assert page.status_code == 200 and b"./inferload/login" in page.data  # Locust's form posts to us
    bad = client.post("/inferload/login", data={"username": "alice", "password": "wrong"}, follow_redirects=True)
    assert b"wrong username or password" in bad.data
    assert client.get("/inferload/api/live.json").status_code == 302
    ok = client.post("/inferload/login", data={"username": "alice", "password": "s3cret"})
    assert ok.status_code == 302 and ok.headers["Location"] == "/"
    r = client.get("/inferload/api/live.json")
    assert r.status_code == 200 and json.loads(r.data)["run_id"] == "r1"
    assert client.get("/").status_code == 200


def test_web_login_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    from loadgen.commands.run import build_parser, web_login

    p = build_parser()
    assert web_login(p.parse_args(["s.yaml", "--web"])) is None
    monkeypatch.delenv("INFERLOAD_WEB_PASSWORD", raising=False)
    with pytest.raises(InputError, match="INFERLOAD_WEB_PASSWORD"):
        web_login(p.parse_args(["s.yaml", "--web", "--web-login"]))
    with pytest.raises(InputError, match="needs --web"):
        web_login(p.parse_args(["s.yaml", "--web-login"]))
    monkeypatch.setenv("PW", "pw1")
    assert web_login(p.parse_args(["s.yaml", "--web", "--web-login", "--web-user", "bob",
                                   "--web-password-env", "PW"])) == ("bob", "pw1")


def test_other_sites_can_neither_read_nor_stop(env: Environment, live: LiveView) -> None:
    stops: list[int] = []
    client = _ui(env, live, stops).app.test_client()  # type: ignore[union-attr]
    evil = {"Origin": "http://evil.example"}
    assert client.get("/inferload/api/live.json", headers=evil).status_code == 403
    assert client.post("/stop", headers=evil).status_code == 403 and stops == []
    same = {"Origin": "http://localhost"}  # the test client's host: the page's own requests pass
    assert client.get("/inferload/api/live.json", headers=same).status_code == 200
    assert client.post("/stop", headers=same).status_code == 200 and stops == [1]
