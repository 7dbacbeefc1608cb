"""Drift detection and rolling verdicts end to end: a real local run against a degrading gpusim.

gpusim runs 60x faster than real time (``--time-scale 60``) with ``faults.slowdown_per_hour: 6``:
every engine step is 600 % longer per simulated hour, so over the ~35 s (35 simulated minutes,
gpusim's start included) of the run TTFT and ITL grow about fourfold.  The run must flag the latency drift in its
summary (``drift``), write ``run_event`` drift points to its run folder, judge every 10 s window
(``slo.windows``) and fail on the late windows (exit 1).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from collectors import schema
from tests.support.gpusim import gpusim

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]

SIM = """
engine: {mode: fixed, fixed_ttft_s: 3.0, fixed_itl_s: 0.6}
faults: {slowdown_per_hour: 6}
"""

SCENARIO = """
name: drift-e2e
seed: 1
target: {{base_url: "{url}", model: gpusim/fixed}}
workload: {{prompt_tokens: 16, output_tokens: 4}}
phases:
  - {{name: steady, kind: steady, duration: 30s, arrivals: {{process: poisson, rate: 15}}}}
slo:
  objectives: [{{metric: ttft, percentile: 99, max_ms: 150}}]
  max_error_rate: 0.01
  windows: [10s]
sinks: {{aggregate_interval_s: 0.25}}
generator: {{max_schedule_lag_p99_ms: 2000, max_cpu_percent: 100, stop_timeout_s: 10}}
"""


def test_degrading_server_is_flagged_and_late_windows_fail(tmp_path: Path) -> None:
    sim_yaml = tmp_path / "sim.yaml"
    sim_yaml.write_text(SIM)
    with gpusim("--preset", "fixed", "--config", str(sim_yaml), "--time-scale", "60") as url:
        scenario = tmp_path / "s.yaml"
        scenario.write_text(SCENARIO.format(url=url))
        out = tmp_path / "run"
        proc = subprocess.run([sys.executable, "-m", "loadgen.cli", "run", str(scenario), "--out", str(out)],
                              cwd=REPO, capture_output=True, text=True, timeout=150)
    summary = json.loads((out / "summary.json").read_text())
    assert proc.returncode == 1, proc.stderr[-2000:]

    drift = summary["drift"]
    assert "ttft_p99" in drift["flagged"] and "itl_p50" in drift["flagged"], drift
    ttft = drift["series"]["ttft_p99"]
    assert ttft["ci_lo_per_h"] > 0 and ttft["rise_fraction"] > 1.0
    assert "error_rate" not in drift["flagged"]

    points = (out / "points" / "intervals.lp").read_text().splitlines()
    drift_lines = [ln for ln in points if ln.startswith(schema.RUN_EVENT.name + ",")
                   and f"{schema.T_EVENT.name}={schema.EVENT_DRIFT}" in ln]
    assert any(f"{schema.T_OBJECTIVE.name}=ttft_p99" in ln for ln in drift_lines), drift_lines

    win = summary["slo_windows"]["10s"]
    assert win["judged"] == 3 and win["violating"] >= 1 and not win["passed"]
    assert win["violations"][0]["start_s"] > 0  # the first window (healthy server) passed
    assert summary["verdict"]["exit_code"] == 1
