"""The live view's cost to the loop that sends requests: one ``/inferload/api/live.json`` build.

The master (or the local process) builds the live view's JSON at most once a second while
someone watches (``loadgen/web/live.py``).  A build copies the merged histograms on the gevent
loop, yielding every 2 histograms, then reads every phase's percentiles from the copy in a real
thread.  This benchmark fills a master-side state like ``bench_merge.py`` (P phases x 3 classes x
8 metrics, V samples each), keeps a 1 ms ticker greenlet running (a stand-in for the scheduler),
and reports per build: wall time, and the longest the ticker waited beyond its 1 ms (the loop
stall).  ``--inline`` reads the histograms on the loop instead (yielding between phase blocks),
for comparison.  The same windows without a build give the machine's own stalls (a busy,
shared machine stalls the ticker too).

    .venv/bin/python bench/bench_web.py [--phases 3] [--values 2000] [--builds 20] [--inline]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import types
from pathlib import Path
from typing import Any

import gevent

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_merge import PHASES, worker_delta  # noqa: E402
from loadgen.web.live import LiveView  # noqa: E402

SCENARIO_PHASES = "\n".join(
    f"  - {{name: {p}, kind: {'warmup' if p == 'warmup' else 'steady'}, duration: 60s, "
    f"arrivals: {{process: poisson, rate: 10}}}}" for p in PHASES
)


def state(phases: int, values: int, tmp: Path) -> Any:
    from loadgen.config import load_scenario
    from loadgen.plan import Plan

    path = tmp / "bench_web.yaml"
    path.write_text(
        "name: bench\ntarget: {base_url: 'http://127.0.0.1:1', model: m}\n"
        "workload: {prompt_tokens: 16, output_tokens: 8}\nphases:\n" + SCENARIO_PHASES + "\n"
        "slo: {objectives: [{metric: ttft, percentile: 99, max_ms: 500}, {metric: itl, percentile: 99, max_ms: 50}]}\n"
    )
    scenario = load_scenario(path)
    _, hs, counters = worker_delta(values, seed=1, phases=phases)
    return types.SimpleNamespace(
        scenario=scenario, plan=Plan(scenario), hs=hs, counters=counters, t0_wall=time.time() - 60 * phases + 30,
        n_slots=4, stop_requested_at=None, lost_slots=[], cpu_now={"w0": 40.0}, cpu_max={"w0": 45.0},
        inflight={"w0": 10}, merge_listeners=[],
    )


def run(phases: int, values: int, builds: int, inline: bool) -> dict[str, float]:
    st = state(phases, values, Path(os.environ.get("TMPDIR", "/tmp")))
    live = LiveView(st, run_id="bench", mode="distributed", cache_s=0.0,
                    offload=(lambda f: f()) if inline else None)
    stalls: list[float] = []
    running = True

    def ticker() -> None:
        last = time.perf_counter()
        while running:
            gevent.sleep(0.001)
            now = time.perf_counter()
            stalls.append(now - last - 0.001)
            last = now

    t = gevent.spawn(ticker)
    gevent.sleep(0.05)
    walls, worst = [], []
    for _ in range(builds):
        live.blocks = type(live.blocks)()  # every phase re-read: the worst case (a finished phase is cached)
        del stalls[:]
        t0 = time.perf_counter()
        live._cached_at = float("-inf")
        live.payload()
        walls.append(time.perf_counter() - t0)
        gevent.sleep(0.005)
        worst.append(max(stalls, default=0.0))
    idle = []  # the same windows with no build: what the machine alone does to the ticker
    for w in walls:
        del stalls[:]
        gevent.sleep(w)
        idle.append(max(stalls, default=0.0))
    running = False
    t.join()
    return {"build_ms": statistics.median(walls) * 1e3, "stall_max_ms": statistics.median(worst) * 1e3,
            "stall_worst_ms": max(worst) * 1e3, "idle_max_ms": statistics.median(idle) * 1e3}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--phases", type=int, default=3)
    ap.add_argument("--values", type=int, default=2000)
    ap.add_argument("--builds", type=int, default=20)
    ap.add_argument("--inline", action="store_true")
    a = ap.parse_args()
    r = run(a.phases, a.values, a.builds, a.inline)
    load = os.getloadavg()[0]
    print(f"{platform.python_version()} load {load:.1f} | {a.phases} phases x 3 classes x 8 metrics, "
          f"{a.values} values | {'inline' if a.inline else 'thread'}: build {r['build_ms']:.1f} ms (median), "
          f"loop stall median-of-max {r['stall_max_ms']:.1f} ms, worst {r['stall_worst_ms']:.1f} ms; "
          f"idle windows of the same length: median-of-max {r['idle_max_ms']:.1f} ms")


if __name__ == "__main__":
    main()
