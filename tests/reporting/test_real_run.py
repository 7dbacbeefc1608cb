"""A real ``inferload run`` against gpusim, then ``report`` on its run folder (no InfluxDB, no sink:
the run folder's own ``points/`` files are all the report reads)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from loadgen.commands.quickstart import start_sim, stop_sim

REPO = Path(__file__).resolve().parents[2]
SCENARIO = """name: report-e2e
seed: 5
objective: {{goal: latency, intent: TTFT p99 under 400 ms at 6 req/s}}
target: {{base_url: "http://127.0.0.1:1", api: chat, stream: true}}
workload:
  prompt_tokens: {{dist: uniform, min: 40, max: 160}}
  output_tokens: {{dist: uniform, min: 8, max: 32}}
phases:
  - {{name: warm, kind: warmup, duration: 2s, arrivals: {{process: poisson, rate: 4}}}}
  - {{name: steady, kind: steady, duration: 6s, arrivals: {{process: poisson, rate: 6}}}}
  - {{name: burst, kind: burst, duration: 3s, arrivals: {{process: poisson, rate: 12}}}}
slo:
  objectives: [{{metric: ttft, percentile: 99, max_ms: 400}}, {{metric: e2e, percentile: 99.9, max_ms: 5000}}]
  max_error_rate: 0.05
generator: {{stop_timeout_s: 5, max_schedule_lag_p99_ms: 2000, max_cpu_percent: 100}}
sinks: {{aggregate_interval_s: 1}}
"""


@pytest.mark.integration
def test_run_junit_then_report(tmp_path: Path) -> None:
    run = tmp_path / "run"
    scen = tmp_path / "s.yaml"
    scen.write_text(SCENARIO.format())
    proc, url = start_sim(["--preset", "tiny-cpu"])
    try:
        res = subprocess.run(
            [sys.executable, "-m", "loadgen.cli", "run", str(scen), "--out", str(run), "--set", f"target.base_url={url}",
             "--junit", str(run / "junit.xml")],
            capture_output=True, text=True, timeout=120, cwd=REPO,
        )
    finally:
        stop_sim(proc)
    assert res.returncode in (0, 1), res.stderr[-2000:]
    summary = json.loads((run / "summary.json").read_text())
    schema = json.loads((REPO / "docs" / "summary.schema.json").read_text())
    assert not list(Draft202012Validator(schema).iter_errors(summary))
    assert summary["objective"] == {"goal": "latency", "intent": "TTFT p99 under 400 ms at 6 req/s"}
    # ~36 judged requests: p99.9 of e2e cannot be bounded, and says so everywhere
    assert "p99_9" in summary["overall"]["latency"]["e2e"]["too_few_samples"]
    assert "distribution-free" in res.stdout and re.search(r"too\s+few", res.stdout)  # the terminal wraps at 80
    cases = ET.parse(run / "junit.xml").getroot().findall("testsuite/testcase")
    assert [c.get("name") for c in cases][:2] == ["ttft p99 <= 400 ms", "e2e p99.9 <= 5000 ms"]

    rep = subprocess.run([sys.executable, "-m", "loadgen.cli", "report", str(run)], capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    assert rep.returncode == 0, rep.stderr
    html = (run / "report.html").read_text()
    figs = dict(re.findall(r'<figure id="fig-([a-z_]+)" data-points="(\d+)"', html))
    for key in ("latency_over_time", "steady_vs_peak", "throughput_vs_latency", "errors_over_time",
                "generator_health", "server_state", "model_vs_system"):
        assert int(figs.get(key, 0)) > 0, key
    assert "Objective: latency" in html and "vllm" in html
