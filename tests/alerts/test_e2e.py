"""End to end, for real: Prometheus scrapes a real ``inferload run`` against gpusim with the
time-compressed rules (dashboards/alerts/inferload-compressed.rules.yaml); gpusim's runtime fault
control slows TTFT midway; the burn-rate page fires and a real Alertmanager delivers it to a
webhook on loopback with run_id, phase and objective; it resolves once the fault is cleared.  The
same run without the fault delivers nothing.  Debian's ``prometheus`` and
``prometheus-alertmanager`` (tests/run.sh installs them), loopback only, ports picked free."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dashboards import alerts_build

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
RULES = alerts_build.ALERTS_DIR / "inferload-compressed.rules.yaml"
TTFT_MAX_MS = 250
SLOW_S = 0.6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(url: str, body: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        raw = r.read()
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode()


def wait_for(what: str, check: Callable[[], Any], timeout_s: float, every_s: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            got = check()
        except OSError:
            got = None
        if got:
            return got
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


@dataclass
class Hook:
    """The webhook receiver: every Alertmanager notification (JSON) in arrival order."""

    server: ThreadingHTTPServer
    received: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/alerts"

    def alerts(self, status: str, name: str) -> list[dict[str, Any]]:
        return [a for n in self.received for a in n.get("alerts", [])
                if a.get("status") == status and a.get("labels", {}).get("alertname") == name]


def start_hook() -> Hook:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length", "0"))
            received.append(json.loads(self.rfile.read(n)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_a: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return Hook(server, received)


@dataclass
class Stack:
    sim_url: str
    master_port: int
    prom_url: str
    hook: Hook
    procs: list[subprocess.Popen[Any]]

    def query(self, q: str) -> list[dict[str, Any]]:
        out = http(f"{self.prom_url}/api/v1/query?" + urllib.parse.urlencode({"query": q}))
        return list(out["data"]["result"])


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    for exe in ("prometheus", "prometheus-alertmanager"):
        assert shutil.which(exe), f"{exe} is missing: tests/run.sh installs it"
    procs: list[subprocess.Popen[Any]] = []
    hook = start_hook()
    try:
        sim = subprocess.Popen([PY, "-m", "loadgen.cli", "sim", "--port", "0", "--preset", "tiny-cpu"],
                               cwd=REPO, stdout=subprocess.PIPE, text=True)
        procs.append(sim)
        assert sim.stdout is not None
        line = sim.stdout.readline()
        assert "listening on" in line, line
        sim_url = line.strip().rsplit(" ", 1)[-1]
        am_port, prom_port, master_port = free_port(), free_port(), free_port()
        (tmp_path / "am.yml").write_text(f"""
route:
  receiver: hook
  group_by: [alertname, run_id, phase, objective]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {hook.url}
        send_resolved: true
""")
        procs.append(subprocess.Popen(
            ["prometheus-alertmanager", f"--config.file={tmp_path / 'am.yml'}",
             f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
             "--cluster.listen-address="],
            stdout=subprocess.DEVNULL, stderr=(tmp_path / "am.log").open("w")))
        sim_host = urllib.parse.urlsplit(sim_url).netloc
        (tmp_path / "prom.yml").write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: ['{RULES}']
alerting:
  alertmanagers:
    - static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]
scrape_configs:
  - job_name: inferload
    static_configs: [{{targets: ['127.0.0.1:{master_port}']}}]
  - job_name: dcgm
    metrics_path: /dcgm/metrics
    static_configs: [{{targets: ['{sim_host}']}}]
""")
        procs.append(subprocess.Popen(
            ["prometheus", f"--config.file={tmp_path / 'prom.yml'}", f"--storage.tsdb.path={tmp_path / 'prom-data'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL, stderr=(tmp_path / "prom.log").open("w")))
        prom_url = f"http://127.0.0.1:{prom_port}"
        wait_for("alertmanager ready", lambda: http(f"http://127.0.0.1:{am_port}/-/ready") is not None, 20)
        wait_for("prometheus ready", lambda: http(f"{prom_url}/-/ready") is not None, 20)
        yield Stack(sim_url, master_port, prom_url, hook, procs)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        hook.server.shutdown()


def scenario(tmp: Path, st: Stack, steady_s: int) -> Path:
    path = tmp / "scenario.yaml"
    path.write_text(f"""name: alerts-e2e
seed: 5
target: {{base_url: '{st.sim_url}'}}
workload: {{prompt_tokens: 32, output_tokens: 8}}
phases:
  - {{name: warm, kind: warmup, duration: 2s, arrivals: {{process: poisson, rate: 8}}}}
  - {{name: steady, kind: steady, duration: {steady_s}s, arrivals: {{process: poisson, rate: 8}}}}
slo:
  objectives: [{{metric: ttft, percentile: 99, max_ms: {TTFT_MAX_MS}}}]
  max_error_rate: 0.5
  live: {{windows: [5s, 20s], min_requests: 5}}
generator: {{stop_timeout_s: 5, max_schedule_lag_p99_ms: 5000, max_cpu_percent: 100}}
sinks:
  aggregate_interval_s: 1
  prometheus: {{port: {st.master_port}}}
""")
    return path


def start_run(tmp: Path, st: Stack, steady_s: int) -> subprocess.Popen[str]:
    run = subprocess.Popen([PY, "-m", "loadgen.cli", "run", str(scenario(tmp, st, steady_s)),
                            "--out", str(tmp / "out"), "--run-id", "e2e-" + tmp.name[-12:]],
                           cwd=REPO, stdout=(tmp / "run.log").open("w"), stderr=subprocess.STDOUT, text=True)
    st.procs.append(run)  # stopped by the fixture if the test fails midway
    return run


def wait_steady(st: Stack, run: subprocess.Popen[str], tmp: Path) -> str:
    def steady() -> str | None:
        assert run.poll() is None, (tmp / "run.log").read_text()[-3000:]
        res = st.query('inferload_run_info{phase="steady"}')
        return str(res[0]["metric"]["run_id"]) if res else None
    return str(wait_for("the steady phase in Prometheus", steady, 40))


def finish(run: subprocess.Popen[str], tmp: Path) -> dict[str, Any]:
    run.wait(timeout=90)
    assert run.returncode in (0, 1), (tmp / "run.log").read_text()[-3000:]
    summary: dict[str, Any] = json.loads((tmp / "out" / "summary.json").read_text())
    return summary


def test_ttft_fault_fires_the_burn_rate_page_and_it_resolves(stack: Stack, tmp_path: Path) -> None:
    run = start_run(tmp_path, stack, steady_s=35)
    try:
        run_id = wait_steady(stack, run, tmp_path)
        time.sleep(3)
        http(f"{stack.sim_url}/admin/faults", {"slow_first_byte": 1.0, "slow_first_byte_s": SLOW_S})
        firing = wait_for("the burn-rate page delivered",
                          lambda: stack.hook.alerts("firing", "InferloadSLOBurnRatePage"), 25)
        http(f"{stack.sim_url}/admin/faults", {"slow_first_byte": 0.0})
        labels = firing[0]["labels"]
        assert labels["run_id"] == run_id and labels["phase"] == "steady" and labels["objective"] == "ttft_p99"
        assert labels["severity"] == "page" and labels["scenario"] == "alerts-e2e"
        resolved = wait_for("the page resolved", lambda: stack.hook.alerts("resolved", "InferloadSLOBurnRatePage"), 30)
        assert resolved[0]["labels"]["run_id"] == run_id
    finally:
        http(f"{stack.sim_url}/admin/faults", {"slow_first_byte": 0.0})
    summary = finish(run, tmp_path)
    violations = summary["slo_violations"]
    assert any(v["objective"] == "ttft_p99" and v["phase"] == "steady" and v["peak"] >= SLOW_S
               and v["end_unix"] is not None for v in violations), violations


def test_the_same_run_without_the_fault_delivers_nothing(stack: Stack, tmp_path: Path) -> None:
    run = start_run(tmp_path, stack, steady_s=18)
    run_id = wait_steady(stack, run, tmp_path)
    # the pipeline works: Prometheus computes this run's burn rate, and it stays low
    burn = wait_for("burn rates for the run", lambda: stack.query(
        f'inferload:slo_burn_rate:rate5m{{run_id="{run_id}"}}'), 15)
    assert all(float(r["value"][1]) < 14.4 for r in burn), burn
    summary = finish(run, tmp_path)
    time.sleep(3)  # anything pending would be delivered by now (group_wait 1 s)
    assert stack.hook.received == [], stack.hook.received
    assert summary["slo_violations"] == []
