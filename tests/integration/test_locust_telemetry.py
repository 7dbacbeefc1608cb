"""The telemetry seam in a real local run: every record reaches ``on_record``, the master's
``on_interval`` histograms and counters partition the run exactly, ``close()`` lands in the summary.

The run happens in a child process (Locust monkey-patches the interpreter it is imported into),
with ``make_telemetry`` replaced by a recording implementation, as the collectors work will do.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r'''
import json, os, sys
import locust  # noqa: F401
import loadgen.locust.session as session
from collectors import schema
from loadgen.config import load_scenario
from loadgen.locust.telemetry import NoTelemetry
from loadgen.plan import Plan

calls = {"records": 0, "intervals": 0, "interval_requests": 0, "interval_ttft": 0, "health": 0, "roles": []}

class Rec(NoTelemetry):
    configured = True
    def on_record(self, record):
        calls["records"] += 1
    def on_interval(self, merged, counters, now_s=None, cumulative=None):
        calls["intervals"] += 1
        calls["interval_requests"] += counters.total("requests")
        calls["interval_ttft"] += merged.count(schema.M_TTFT)
        return 0.0
    def on_health(self, **kw):
        calls["health"] += 1
        assert {"inflight", "dropped_arrivals", "workers_connected", "cpu_percent", "generator_faults",
                "aggregate_s", "loop_stall_max_s"} <= set(kw)
        return False
    def close(self, timeout_s=None):
        return {"sink": "recording", "records": calls["records"]}

def factory(scenario, role, run_id, worker_id, run_dir=None):
    calls["roles"].append(role)
    return Rec()

session.make_telemetry = factory
scenario = load_scenario(sys.argv[1])
with open(os.devnull, "w") as devnull:
    summary = session.run_session(scenario, Plan(scenario), session.SessionOptions(run_id="t"), devnull)
print(json.dumps({"calls": calls, "summary": summary}))
'''


def test_telemetry_seam_sees_everything(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.stream_server", "--port", "0"], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        scenario = tmp_path / "s.yaml"
        scenario.write_text(
            f"""name: tele
target: {{base_url: "http://127.0.0.1:{port}", model: fixed}}
workload: {{prompt_tokens: 8, output_tokens: 4}}
phases:
  - {{name: steady, duration: 4s, arrivals: {{process: poisson, rate: 20}}}}
sinks: {{aggregate_interval_s: 1}}
generator: {{stop_timeout_s: 1, max_cpu_percent: 100, max_schedule_lag_p99_ms: 1000}}
"""
        )
        proc = subprocess.run([sys.executable, "-c", SCRIPT, str(scenario)], cwd=REPO, capture_output=True,
                              text=True, timeout=90)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    calls, summary = out["calls"], out["summary"]
    requests = summary["overall"]["requests"]
    assert requests > 0 and calls["roles"] == ["local"]
    assert calls["records"] == requests
    assert calls["intervals"] >= 3 and calls["health"] == calls["intervals"]
    assert calls["interval_requests"] == requests
    assert calls["interval_ttft"] == summary["overall"]["latency"]["ttft"]["count"]
    assert summary["telemetry"] == {"sink": "recording", "records": requests}
