"""One real multi-phase `inferload run` against gpusim, written into a real influxd.

The scenario has warmup, steady, burst, spike (kind ``peak``) and cooldown phases; gpusim
(preset ``tiny-cpu``, per-request metrics on, 4 % HTTP 500s) writes its ground-truth trace; the run scrapes gpusim's ``/metrics`` itself
and ``inferload collect gpu --source dcgm`` collects gpusim's dcgm endpoint into the same
database with the run's id.  :func:`real_run` is a context manager: everything it starts is
stopped on exit.  ``python -m tests.dashboards.realrun`` runs it once and keeps influxd up until
Enter is pressed (for working on queries by hand).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.influx import InfluxStack, influx_stack

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
TOKEN_ENV = "INFERLOAD_TEST_INFLUX_TOKEN"


@dataclass
class RealRun:
    influx: InfluxStack
    db: str
    run_id: str
    summary: dict[str, Any]
    trace_path: Path
    start_ms: int  # the run's wall-clock range, padded by a second each side
    end_ms: int
    output: str


# per-request server timings (vLLM-style `metrics`) and a few 500s, so every panel has data
SIM_CONFIG = """preset: tiny-cpu
seed: 5
server: {per_request_metrics: true}
faults: {http_500: 0.04}
"""

SCENARIO = """name: dash-e2e
seed: 11
target:
  base_url: {base_url}
workload:
  prompt_tokens: {{dist: uniform, min: 40, max: 200}}
  output_tokens: {{dist: uniform, min: 8, max: 40}}
  classes:
    - {{name: interactive, weight: 3}}
    - {{name: batch, weight: 1}}
phases:
  - {{name: warm, kind: warmup, duration: 2s, arrivals: {{process: poisson, rate: 4}}}}
  - {{name: steady, kind: steady, duration: 6s, arrivals: {{process: poisson, rate: 6}}}}
  - {{name: burst, kind: burst, duration: 5s, arrivals: {{process: gamma, rate: 10, burstiness: 0.25}}}}
  - name: spike
    kind: peak
    duration: 5s
    arrivals: {{process: spike, base_rate: 6, spike_rate: 40, every_s: 5, spike_s: 1.5, offset_s: 1}}
  - {{name: cool, kind: cooldown, duration: 3s, arrivals: {{process: poisson, rate: 4}}}}
slo:
  objectives:
    - {{metric: ttft, percentile: 99, max_ms: 400}}
    - {{metric: e2e, percentile: 90, max_ms: 3000}}
    - {{metric: tpot, percentile: 50, max_ms: 0.5}}   # tiny-cpu decodes in ~2 ms: always violated
  max_error_rate: 0.3
generator:
  stop_timeout_s: 5
  max_schedule_lag_p99_ms: 2000
  max_cpu_percent: 100
sinks:
  aggregate_interval_s: 1
  influxdb:
    url: {write_url}
    org: test
    bucket: {db}
    token_env: {token_env}
    timeout_s: 5
    retry_max_s: 2
"""


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextmanager
def real_run(influx: InfluxStack | None = None) -> Iterator[RealRun]:
    """Run the scenario once (about 25 s) and yield what it left; see the module docstring."""
    if influx is None:
        with influx_stack() as stack, real_run(stack) as run:
            yield run
        return
    tmp = Path(tempfile.mkdtemp(prefix="inferload-dash-"))
    db = influx.fresh_db("dash_" + uuid.uuid4().hex[:10])
    run_id = "dash-e2e-" + uuid.uuid4().hex[:8]
    trace = tmp / "trace.jsonl"
    env = dict(os.environ)
    env.setdefault(TOKEN_ENV, "test-token")
    sim_yaml = tmp / "sim.yaml"
    sim_yaml.write_text(SIM_CONFIG)
    sim = subprocess.Popen([PY, "-m", "loadgen.cli", "sim", "--port", "0", "--config", str(sim_yaml),
                            "--trace", str(trace)], cwd=REPO, stdout=subprocess.PIPE, text=True, env=env)
    procs: list[subprocess.Popen[Any]] = [sim]
    try:
        assert sim.stdout is not None
        line = sim.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"gpusim did not start: {line!r}")
        base = line.strip().rsplit(" ", 1)[-1]
        gpu = subprocess.Popen(
            [PY, "-m", "loadgen.cli", "collect", "gpu", "--source", "dcgm", "--dcgm-url", f"{base}/dcgm/metrics",
             "--period", "1", "--run-id", run_id, "--host", "gpuhost", "--influx-url", influx.write_url,
             "--influx-org", "test", "--influx-bucket", db, "--influx-token-env", TOKEN_ENV],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        procs.append(gpu)
        scenario = tmp / "scenario.yaml"
        scenario.write_text(SCENARIO.format(base_url=base, write_url=influx.write_url, db=db,
                                            token_env=TOKEN_ENV))
        out = tmp / "out"
        t0 = time.time()
        proc = subprocess.run([PY, "-m", "loadgen.cli", "run", str(scenario), "--out", str(out),
                               "--run-id", run_id], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=240)
        t1 = time.time()
        output = proc.stdout + proc.stderr
        if proc.returncode not in (0, 1, 3):  # 3: generator fell behind on a busy machine; data still written
            raise RuntimeError(f"inferload run exited {proc.returncode}:\n{output[-4000:]}")
        _stop(gpu)
        _stop(sim)  # flushes the trace
        summary = json.loads((out / "summary.json").read_text())
        yield RealRun(influx, db, run_id, summary, trace, int(t0 * 1000) - 1000, int(t1 * 1000) + 1000,
                      output)
    finally:
        for p in procs:
            _stop(p)


if __name__ == "__main__":
    with real_run() as r:
        print(json.dumps({"url": r.influx.server.url, "db": r.db, "run_id": r.run_id,
                          "start_ms": r.start_ms, "end_ms": r.end_ms, "trace": str(r.trace_path)}))
        sys.stdout.flush()
        input()
