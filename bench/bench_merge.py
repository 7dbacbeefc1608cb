"""The master's cost per worker delta: decode it once, merge it into two sets (``_merge``).

A worker ships its recorder delta (HDR histograms, compressed + base64, and counters) on a grid
holding every aggregate boundary, every ``ship_period(sinks.aggregate_interval_s)`` seconds (at
most 2 s: ``loadgen/locust/messages.py``).  The master decodes each delta once
(``loadgen.recorder.decode_delta``) and merges the objects into the run's cumulative histograms and
the current interval's (``loadgen/locust/master.py`` ``_merge``), so with W workers it spends
``W / ship period x cost`` of CPU per second on it.  For comparison the benchmark also times the
previous path in the same run: two ``merge_delta`` calls on the encoded delta (each decoding it).

The delta here is the brief's worst case: 5 phases x 3 traffic classes x 8 latency metrics =
120 histograms (``--phases 1``: the usual 24), each holding ``--values`` samples drawn from lognormal latencies (spread over
many HDR buckets, as real TTFT/ITL/E2E are), plus the counters of 15 phase x class cells.  The
master side already holds a populated set, as it does mid-run.  Reports the median of
``--repeats`` timings of ``--merges`` merges each, the encoded size (what goes over ZeroMQ), and
the worker's encode cost.

    .venv/bin/python bench/bench_merge.py [--phases 5] [--values 200] [--merges 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.counters import C_GOOD, C_OK, C_OUTPUT_TOKENS, C_REQUESTS, Counters  # noqa: E402
from collectors.histograms import HistogramSet  # noqa: E402
from collectors.schema import LATENCY_METRICS  # noqa: E402
from loadgen.allocator import tune  # noqa: E402
from loadgen.locust.messages import ship_period  # noqa: E402
from loadgen.recorder import decode_delta, merge_delta  # noqa: E402

PHASES = ("warmup", "steady", "burst", "recovery", "cooldown")
CLASSES = ("chat", "rag", "batch")
# median seconds per metric (lognormal sigma 0.6): TTFT-like, ITL-like, E2E-like, lag
_MEDIAN_S = {"ttft": 0.25, "ttft_sched": 0.26, "ttfrt": 0.25, "itl": 0.02, "tpot": 0.02, "e2e": 5.0,
             "e2e_sched": 5.1, "schedule_lag": 0.001}


def worker_delta(values: int, seed: int, phases: int = 5) -> tuple[dict[str, Any], HistogramSet, Counters]:
    rng = np.random.default_rng(seed)
    hs, counters = HistogramSet(), Counters()
    assert len(LATENCY_METRICS) == 8
    for phase in PHASES[:phases]:
        for cls in CLASSES:
            for metric in LATENCY_METRICS:
                med = _MEDIAN_S.get(metric, 0.1)
                for v in rng.lognormal(np.log(med), 0.6, values):
                    hs.record(metric, phase, cls, float(v))
            for name, n in ((C_REQUESTS, values), (C_OK, values), (C_GOOD, values - 3),
                            (C_OUTPUT_TOKENS, values * 256), ("error:timeout", 2), ("error:http_5xx", 1)):
                counters.add(phase, cls, name, n)
    return {"hist": hs.encode(), "counters": counters.encode()}, hs, counters


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--values", type=int, default=200, help="samples per histogram (default 200)")
    ap.add_argument("--phases", type=int, default=5, choices=range(1, 6),
                    help="phases in one delta (default 5: the worst case; a 3-s report usually spans 1)")
    ap.add_argument("--merges", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-tune", action="store_true",
                    help="keep glibc's default allocator settings (the master runs loadgen.allocator.tune())")
    args = ap.parse_args()
    if not args.no_tune:
        tune()  # as ``inferload run`` does: its thresholds change what an allocation costs

    delta, worker_hs, _ = worker_delta(args.values, seed=1, phases=args.phases)
    packed = msgpack.packb(delta)
    t0 = time.process_time()
    for _ in range(20):
        worker_hs.encode()
    encode_us = 1e6 * (time.process_time() - t0) / 20

    timings, before = [], []
    for r in range(args.repeats):
        sets = [(HistogramSet(), Counters()) for _ in range(2)]  # cumulative and interval
        for hs, c in sets:  # mid-run state
            merge_delta(hs, c, worker_delta(args.values, seed=100 + r, phases=args.phases)[0])
        t0 = time.process_time()
        for _ in range(args.merges):
            decoded = decode_delta(msgpack.unpackb(packed))
            for hs, c in sets:
                merge_delta(hs, c, decoded)
        timings.append(1e6 * (time.process_time() - t0) / args.merges)
        t0 = time.process_time()
        for _ in range(args.merges):
            unpacked = msgpack.unpackb(packed)
            for hs, c in sets:
                merge_delta(hs, c, unpacked)
        before.append(1e6 * (time.process_time() - t0) / args.merges)
    med = statistics.median(timings)
    med_before = statistics.median(before)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}, "
          f"allocator {'glibc defaults' if args.no_tune else 'tuned as in inferload run'}")
    print(f"delta: {len(delta['hist'])} histograms x {args.values} values, {len(delta['counters'])} counters, "
          f"{len(packed) / 1024:.1f} KiB msgpack")
    print(f"worker encode: {encode_us / 1000:.2f} ms CPU per report")
    print(f"per delta, msgpack unpack + decode once + 2 merges: median {med / 1000:.2f} ms CPU "
          f"(runs: {', '.join(f'{t / 1000:.2f}' for t in timings)})")
    print(f"previous path, unpack + 2 x merge_delta of the encoded delta: median {med_before / 1000:.2f} ms CPU "
          f"(runs: {', '.join(f'{t / 1000:.2f}' for t in before)})")
    for interval in (1.0, 5.0):
        period = ship_period(interval)
        for workers in (10, 100, 300):
            deltas = workers / period
            print(f"aggregate interval {interval:g} s (a delta every {period:.2f} s), {workers:>4} workers: "
                  f"{deltas:.0f} deltas/s + {workers} heartbeats/s; merging {deltas * med / 1e4:.1f} % of one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
