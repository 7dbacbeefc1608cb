"""Arrival accuracy of the open-loop scheduler: Poisson 200 req/s against a local endpoint.

Runs the real local run path (Locust LocalRunner, scheduler, streaming client) in this process
against ``tests.support.stream_server`` in another process, and records every request's send
time through the telemetry seam.  Per run it reports:

- send lag (send - scheduled) p50 / p99 / max, from the records;
- the KS statistic (and p-value) of the achieved inter-send gaps against Exp(rate), next to the
  KS statistic of the *scheduled* gaps (the plan's own sample), and the two-sample KS statistic
  achieved vs scheduled gaps (the scheduler's own distortion), plus the share of gaps < 1 ms
  (where timer granularity shows);
- achieved rate and the CPU time of this process per request.

Usage: ``.venv/bin/python -m bench.bench_arrival_accuracy [--rate 200] [--duration 60] [--runs 3]``.
Prints one JSON line per run and the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _server(ttft: float, itl: float) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.stream_server", "--port", "0", "--ttft", str(ttft), "--itl", str(itl)],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, int(line.split()[1])


def one_run(port: int, rate: float, duration: float, tokens: int, seed: int) -> dict[str, Any]:
    import numpy as np
    from scipy import stats

    import loadgen.locust.session as session
    from collectors.records import RequestRecord
    from loadgen.config import load_scenario
    from loadgen.locust.telemetry import NoTelemetry
    from loadgen.plan import Plan

    records: list[RequestRecord] = []

    class Capture(NoTelemetry):
        def on_record(self, record: RequestRecord) -> None:
            records.append(record)

    session.make_telemetry = lambda *a, **k: Capture()  # the seam: capture every record
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(
            f"""name: bench-arrivals
seed: {seed}
target: {{base_url: "http://127.0.0.1:{port}", model: fixed}}
workload: {{prompt_tokens: 16, output_tokens: {tokens}}}
phases:
  - name: steady
    duration: {duration}s
    arrivals: {{process: poisson, rate: {rate}}}
generator: {{stop_timeout_s: 5, max_schedule_lag_p99_ms: 1000, max_cpu_percent: 100}}
"""
        )
        scenario = load_scenario(path)
        plan = Plan(scenario)
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        with open(os.devnull, "w") as devnull:
            summary = session.run_session(scenario, plan, session.SessionOptions(run_id="bench"), devnull)
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
    sched = np.array(sorted(a.offset_s for a in plan.arrivals()))
    ok = [r for r in records if r.sent_ns]
    sent = np.sort(np.array([r.sent_ns for r in ok], dtype=np.int64))
    lag_ms = np.array([(r.sent_ns - r.scheduled_ns) / 1e6 for r in ok])
    gaps = np.diff(sent) / 1e9
    sgaps = np.diff(sched)
    ks = stats.kstest(gaps, "expon", args=(0, 1 / rate))
    ks_s = stats.kstest(sgaps, "expon", args=(0, 1 / rate))
    ks_2 = stats.ks_2samp(gaps, sgaps)
    small = float(np.mean(gaps < 0.001)), float(np.mean(sgaps < 0.001))
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    return {
        "requests": len(ok),
        "planned": int(len(sched)),
        "errors": summary["overall"]["errors"],
        "achieved_rate": len(ok) / duration,
        "lag_p50_ms": float(np.percentile(lag_ms, 50)),
        "lag_p99_ms": float(np.percentile(lag_ms, 99)),
        "lag_max_ms": float(lag_ms.max()),
        "ks_achieved": float(ks.statistic),
        "ks_achieved_p": float(ks.pvalue),
        "ks_scheduled": float(ks_s.statistic),
        "ks_scheduled_p": float(ks_s.pvalue),
        "ks_achieved_vs_scheduled": float(ks_2.statistic),
        "gaps_below_1ms_achieved": small[0],
        "gaps_below_1ms_scheduled": small[1],
        "client_cpu_ms_per_request": 1000 * cpu / max(1, len(ok)),
        "client_cpu_percent": 100 * cpu / (duration + 8),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--tokens", type=int, default=16, help="tokens per streamed response")
    p.add_argument("--ttft", type=float, default=0.05)
    p.add_argument("--itl", type=float, default=0.01)
    args = p.parse_args(argv)
    import locust  # noqa: F401  (monkey-patches first, as inferload run does)

    server, port = _server(args.ttft, args.itl)
    results = []
    try:
        for i in range(args.runs):
            r = one_run(port, args.rate, args.duration, args.tokens, seed=100 + i)
            results.append(r)
            print(json.dumps({"run": i, **r}), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)
    med = {k: statistics.median(r[k] for r in results) for k in results[0]}
    print(json.dumps({"median_of": len(results), **med}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
