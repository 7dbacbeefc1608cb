"""A run stopped by its own sink is not a valid measurement (issue 7 §2), and close says where the
unsent points are (§6).

Regression: with InfluxDB down and a tiny spool, ``on_spool_full: stop_run`` stopped the run 6 s
into a 40 s plan and it exited 0 with "pass: valid run".
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadgen.slo import RunHealth, SloVerdict, decide_exit
from tests.integration.test_locust import _start_server, _stop
from userinput.errors import EXIT_INVALID_RUN

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


def test_a_run_stopped_by_its_sink_exits_3_with_the_rule_named() -> None:
    passed = SloVerdict([], [], 0.0, None, True)
    assert decide_exit(passed, RunHealth()).code == 0
    d = decide_exit(passed, RunHealth(stopped_by_sink="influxdb"))
    assert d.code == EXIT_INVALID_RUN
    assert d.rule.startswith("invalid run: stopped by its own telemetry sink")
    assert "sinks.influxdb.on_spool_full is stop_run" in d.rule


@pytest.fixture(scope="module")
def endpoint() -> Iterator[int]:
    proc, port = _start_server("--ttft", "0.01", "--itl", "0.002")
    yield port
    _stop(proc)


@pytest.mark.integration
def test_stop_run_on_a_full_spool_exits_3_and_names_the_replay_command(endpoint: int, tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(f"""name: stop-run
target: {{base_url: "http://127.0.0.1:{endpoint}"}}
workload: {{prompt_tokens: 16, output_tokens: 4}}
phases:
  - {{name: steady, duration: 40s, arrivals: {{process: poisson, rate: 20}}}}
generator: {{stop_timeout_s: 2, max_schedule_lag_p99_ms: 5000, max_cpu_percent: 100}}
sinks:
  aggregate_interval_s: 1s
  influxdb:
    url: http://127.0.0.1:9     # nothing listens: InfluxDB is down for the whole run
    bucket: b
    spool_dir: spool
    spool_max_mb: 0.01
    on_spool_full: stop_run
    timeout_s: 1s
    close_timeout_s: 1s
""")
    started = time.monotonic()
    proc = subprocess.run([PY, "-m", "loadgen.cli", "run", str(scenario), "--out", str(tmp_path / "out")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started
    output = proc.stdout + proc.stderr
    assert proc.returncode == EXIT_INVALID_RUN, output[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["stopped_early"] is True and summary["valid"] is False
    assert summary["verdict"]["exit_code"] == EXIT_INVALID_RUN
    assert summary["verdict"]["rule"].startswith("invalid run: stopped by its own telemetry sink"), summary["verdict"]
    assert took < 40, "the plan was not cut short"
    spool = tmp_path / "spool" / "local"  # <spool_dir>/<worker>
    assert any(spool.glob("seg-*.lp"))
    assert "spool full (10 KB in" in output  # not "0 MB"
    assert f"kept in {spool}" in output
    assert f"inferload collect replay {spool} --influx-url http://127.0.0.1:9 --influx-bucket b" in output
