"""A real ``inferload run`` against gpusim: the effective batch rises with the arrival rate across
phases, as gpusim's engine predicts (Little's law: running ~ rate x time in the engine), and the
summary's operating point names the server, its probed batching configuration and one reading
per phase.  The target is given as ``.../v1`` (issue 14, section 2 item 5), with no ``sinks:``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_locust import PY, REPO
from tests.support.gpusim import gpusim

pytestmark = pytest.mark.integration

RATES = {"low": 2, "mid": 8, "high": 24}


@pytest.fixture
def gpusim_base() -> Iterator[str]:
    with gpusim("--preset", "tiny-cpu") as base:
        yield base


def test_effective_batch_rises_with_the_arrival_rate(gpusim_base: str, tmp_path: Path) -> None:
    phases = "\n".join(f"  - {{name: {name}, kind: steady, duration: 5s, arrivals: {{process: poisson, rate: {rate}}}}}"
                       for name, rate in RATES.items())
    scenario = tmp_path / "batch.yaml"
    scenario.write_text(f"""name: batch-rise
seed: 1
target:
  base_url: {gpusim_base}/v1
  server_config: {{note: stated by the user}}
workload:
  prompt_tokens: 64
  output_tokens: 100
max_inflight: 200
phases:
{phases}
generator:
  stop_timeout_s: 5
  max_schedule_lag_p99_ms: 2000
  max_cpu_percent: 100
""")
    out = tmp_path / "out"
    proc = subprocess.run([PY, "-m", "loadgen.cli", "run", str(scenario), "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    server = summary["operating_point"]["server"]
    assert server["kind"] == "vllm" and server["version"].startswith("gpusim")
    assert server["max_running"] == 16 and server["batching"]["max_num_batched_tokens"] == 512
    assert server["batching_source"] == "probed+stated" and server["stated"] == {"note": "stated by the user"}
    assert summary["telemetry"]["server_metrics"]["errors"] == 0  # /metrics at the root, not /v1/metrics
    eb = server["effective_batch"]
    means = [eb[name]["running"]["mean"] for name in RATES]
    assert means == sorted(means) and means[-1] > 3 * means[0] + 1, eb
    assert eb["high"]["running"]["p50"] > eb["low"]["running"]["p50"]
    assert eb["high"]["running"]["p95"] <= 16  # never above max_num_seqs
    steps = [eb[name]["tokens_per_step"]["mean"] for name in RATES]
    assert steps == sorted(steps), eb
    readings = summary["operating_point"]["readings"]
    assert list(readings) == list(RATES)
    high = eb["high"]["running"]
    assert f"effective batch p50 {high['p50']:.0f} / p95 {high['p95']:.0f}" in readings["high"]
    for line in readings.values():
        assert line in proc.stdout  # the terminal summary prints every reading
    # the scrape's interval points reached the run's telemetry (here: the run folder's points)
    server_lines = [ln for lp in out.rglob("*.lp") for ln in lp.read_text().splitlines()
                    if ln.startswith("llm_server,")]
    assert any("running_mean=" in ln and "tokens_per_step=" in ln for ln in server_lines), server_lines[:3]
