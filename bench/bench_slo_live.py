"""The master's live SLO cost per aggregate interval: ``loadgen.live_run.LiveRun.on_interval``.

Every ``sinks.aggregate_interval_s`` the master (in a local run: the process that also sends the
requests, on the same gevent loop) folds the interval's merged histograms into the rolling
windows, writes ``llm_slo``/``llm_slo_count``/``run_progress`` points and tracks violations and
burst recovery.  The cost is bounded by objectives x judged phases x classes x windows (never by
the request count or the run length): each window keeps running HDR count arrays, added to when
an interval comes and subtracted from when it leaves.

Setup: ``--objectives`` latency objectives + error rate, ``--phases`` judged phases with requests
in every interval, 3 classes, windows 1 min and 5 min at a 5 s interval (60 slices in the long
window: the steady state is reached after 60 intervals), ``--values`` requests per phase x class
per interval (lognormal TTFT/ITL/E2E).  Reports the median and max CPU time per call over
``--intervals`` intervals after the windows are full.

    .venv/bin/python bench/bench_slo_live.py [--objectives 3] [--phases 2] [--values 200] [--intervals 200]
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors import schema  # noqa: E402
from collectors.counters import C_OK, C_REQUESTS, Counters  # noqa: E402
from collectors.histograms import HistogramSet  # noqa: E402
from loadgen.live_run import LiveRun  # noqa: E402

CLASSES = ("chat", "rag", "batch")
METRICS = ((schema.M_TTFT, 0.25, 500), (schema.M_E2E, 5.0, 8000), (schema.M_TPOT, 0.02, 50), (schema.M_ITL, 0.02, 80))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objectives", type=int, default=3)
    ap.add_argument("--phases", type=int, default=2)
    ap.add_argument("--values", type=int, default=200)
    ap.add_argument("--intervals", type=int, default=200)
    args = ap.parse_args()
    logging.getLogger("loadgen").setLevel(logging.ERROR)  # the violations it logs are not the point
    rng = np.random.default_rng(1)
    metrics = METRICS[: args.objectives]
    phases = [f"p{i}" for i in range(args.phases)]
    slo = SimpleNamespace(
        objectives=[SimpleNamespace(metric=m, percentile=99, max_ms=ms) for m, _, ms in metrics],
        max_error_rate=0.01, live=SimpleNamespace(windows=[60.0, 300.0], min_requests=10))
    plan_phases = [SimpleNamespace(name=p, kind="steady", start_s=0.0, end_s=1e9, expected=1e9, process="poisson")
                   for p in phases]
    scenario = SimpleNamespace(name="bench", slo=slo, slo_phases=lambda: phases,
                               generator=SimpleNamespace(max_schedule_lag_p99_ms=50, max_cpu_percent=90))
    plan = SimpleNamespace(phases=plan_phases, duration_s=1e9)
    live = LiveRun(scenario=scenario, plan=plan, run_id="bench", t0_wall=0.0, cumulative=HistogramSet())
    intervals = []
    for _ in range(8):  # a pool of realistic interval sets, reused
        hs, c = HistogramSet(), Counters()
        for p in phases:
            for cls in CLASSES:
                for m, median, _ in metrics:
                    hs.record_many(m, p, cls, rng.lognormal(np.log(median), 0.5, args.values).tolist())
                c.add(p, cls, C_REQUESTS, args.values)
                c.add(p, cls, C_OK, args.values - 1)
        intervals.append((hs, c))
    times, points = [], 0
    for k in range(60 + args.intervals):
        hs, c = intervals[k % len(intervals)]
        t = time.process_time()
        pts = live.on_interval(5.0 * (k + 1), hs, c, lag_p99_ms=1.0, cpu_percent={})
        if k >= 60:
            times.append(time.process_time() - t)
            points += len(pts)
    med, mx = statistics.median(times) * 1e3, max(times) * 1e3
    print(f"python {platform.python_version()}, {args.objectives} latency objectives + error rate, "
          f"{args.phases} phases x {len(CLASSES)} classes, windows 1m/5m at 5 s, {args.values} values/cell")
    print(f"on_interval CPU: median {med:.2f} ms, max {mx:.2f} ms; {points / len(times):.0f} points per interval")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
