"""The run's server wiring without a server: probe-only operating point, stated configuration,
and the /metrics URL of a ``/v1`` target (issue 14, section 2 item 5)."""

from __future__ import annotations

from pathlib import Path

from collectors.http import FetchError
from loadgen.config import load_scenario
from loadgen.locust.telemetry import NoTelemetry
from loadgen.server_metrics import start_server_metrics


def _scenario(tmp_path: Path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text("""name: wiring
target:
  base_url: http://127.0.0.1:9/v1
  model: m
  server_config: {max_num_seqs: 64, scheduler: fcfs}
workload: {prompt_tokens: 8, output_tokens: 8}
phases:
  - {name: steady, kind: steady, duration: 2s, arrivals: {process: poisson, rate: 1}}
""")
    return path


def test_no_metrics_page_gives_the_stated_config_and_no_effective_batch(tmp_path: Path) -> None:
    asked: list[str] = []

    def get(url: str, timeout_s: float) -> str:
        asked.append(url)
        raise FetchError(f"GET {url}: connection refused")

    scenario = load_scenario(_scenario(tmp_path))
    watch = start_server_metrics(scenario, NoTelemetry(), "run-1", get=get)
    assert asked[0] == "http://127.0.0.1:9/metrics"
    assert watch.stop() is None  # nothing to scrape
    plan_phases = [type("W", (), {"name": "steady", "start_s": 0.0, "end_s": 2.0})()]
    op = watch.operating_point(plan_phases, 1000.0)
    assert op["kind"] == "unknown" and op["batching_source"] == "stated"
    assert op["batching"] == {"max_num_seqs": 64, "scheduler": "fcfs"} and op["max_running"] == 64
    assert op["effective_batch"] == {} and op["metrics_url"] is None
