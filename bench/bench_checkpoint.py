"""The master's cost of one checkpoint (loadgen/checkpoint.py): state + JSON on the loop, the write.

A checkpoint encodes the run's cumulative merged histograms (the same compressed HDR blobs a
worker ships), the counters and the live SLO state, then writes one JSON file atomically
(fsync + rename) in a thread.  The histogram set here is a long soak's: ``--phases`` phases x
3 classes x 8 latency metrics, each with ``--values`` lognormal samples (bench_merge.py's
shapes; a soak's cumulative histograms fill many HDR buckets), and a live SLO state of 2
objectives x 2 windows (1 min, 5 min) with 10-s intervals.  Reports the median of
``--repeats`` timings.

    .venv/bin/python bench/bench_checkpoint.py [--phases 5] [--values 20000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_merge import PHASES, worker_delta  # noqa: E402

from collectors import schema  # noqa: E402
from collectors.counters import Counters  # noqa: E402
from collectors.histograms import HistogramSet  # noqa: E402
from loadgen.checkpoint import checkpoint_state, write_atomic  # noqa: E402
from loadgen.slo_live import LiveSlo  # noqa: E402
from loadgen.slo_objectives import LiveObjective  # noqa: E402


def live_state(phases: int, hs: HistogramSet, counters: Counters) -> LiveSlo:
    objs = [LiveObjective("ttft_p99", schema.M_TTFT, 99.0, 0.5, 0.01),
            LiveObjective("itl_p99", schema.M_ITL, 99.0, 0.05, 0.01)]
    live = LiveSlo(objs, windows_s=[60.0, 300.0], judged_phases=PHASES[:phases],
                   run_tags={"run_id": "r", "scenario": "s"})
    for k in range(30):  # 5 min of 10-s intervals, every phase present in each
        live.on_interval(10.0 * (k + 1), hs, counters, interval_s=10.0)
    return live


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phases", type=int, default=5, choices=range(1, 6))
    ap.add_argument("--values", type=int, default=20000, help="samples per histogram (default 20000)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    _, hs, counters = worker_delta(args.values, seed=1, phases=args.phases)
    _, interval_hs, interval_counters = worker_delta(200, seed=2, phases=args.phases)
    live = live_state(args.phases, interval_hs, interval_counters)
    coord = SimpleNamespace(
        run_id="r", scenario_dict={"name": "s"}, local=False, started_at=None, t0_wall=0.0,
        stop_requested_at=None, stopped_by_sink=False, telemetry=SimpleNamespace(stop_requested=False),
        n_slots=100, slot_owner={i: f"c{i}" for i in range(100)}, labels={f"c{i}": f"w{i}" for i in range(100)},
        done_slots=set(), lost_slots=[], gaps=[], cpu_max={f"w{i}": 50.0 for i in range(100)},
        busy=SimpleNamespace(to_dict=lambda: {}), busy_by_worker={}, hs=hs, counters=counters,
        live=SimpleNamespace(state=lambda: {"slo": live.state()}),
    )
    on_loop, writes, size = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "checkpoint.json"
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            text = json.dumps(checkpoint_state(coord, 3600.0), separators=(",", ":"))
            on_loop.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            write_atomic(path, text)
            writes.append(time.perf_counter() - t0)
            size = len(text)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}")
    print(f"state: {len(hs.encode())} cumulative histograms x {args.values} values, {len(counters.encode())} "
          f"counters, live SLO state of {args.phases} phases; checkpoint {size / 1024:.0f} KiB")
    print(f"on the loop (state + JSON): median {statistics.median(on_loop) * 1000:.1f} ms "
          f"(runs: {', '.join(f'{t * 1000:.1f}' for t in on_loop)})")
    print(f"atomic write (in a thread): median {statistics.median(writes) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
