"""GPU collector CPU cost at 1 Hz with 8 GPUs (fake NVML): target at most 1 % of one core.

Runs the real collector, runner and line-protocol encoding (to an in-memory stdout sink) on
absolute 1 s ticks for ``--collections`` collections, and divides the process CPU time
(user + system) by the wall time: that is the share of one core.  Repeats ``--repeats`` times
and reports the median.  A tight loop also gives the CPU cost of one collection.

The fake NVML (tests/support/fake_nvml.py) answers in Python, so per-call cost is Python's,
not the driver's; the real driver calls are C calls into libnvidia-ml (PCIe throughput, read
every 10 s, sleeps ~20 ms per direction rather than spinning).

    .venv/bin/python bench/bench_gpu_collector.py [--collections 60] [--repeats 3] [--period 1]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.cli import StdoutSink  # noqa: E402
from collectors.gpu.nvml import NvmlGpuCollector, open_nvml  # noqa: E402
from collectors.runner import CollectorRunner, Scheduled  # noqa: E402
from tests.support.fake_nvml import FakeNvml  # noqa: E402


def one_run(collections: int, period_s: float) -> tuple[float, float, int]:
    """(share of one core in %, CPU µs per collection, lines written) for one timed run."""
    collector = NvmlGpuCollector(open_nvml(FakeNvml()), tags={"host": "bench"}, pcie_period_s=10.0)
    sink = StdoutSink(io.StringIO())
    runner = CollectorRunner([Scheduled("gpu", collector, period_s)], sink.write, tags={"host": "bench"})
    cpu0, wall0 = time.process_time(), time.monotonic()
    runner.run(max_rounds=collections)
    # the last collection is at (n-1) periods; count the wall time up to the next tick
    time.sleep(max(0.0, wall0 + collections * period_s - time.monotonic()))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    return 100.0 * cpu / wall, 1e6 * cpu / collections, sink.written


def tight_loop(n: int) -> float:
    """CPU µs per collection + encoding, back to back."""
    collector = NvmlGpuCollector(open_nvml(FakeNvml()), tags={"host": "bench"}, pcie_period_s=10.0)
    sink = StdoutSink(io.StringIO())
    cpu0 = time.process_time()
    for i in range(n):
        sink.write(collector.collect(i * 1_000_000_000))
    return 1e6 * (time.process_time() - cpu0) / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--collections", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--period", type=float, default=1.0)
    args = ap.parse_args()
    logging.disable(logging.WARNING)  # the fake's unsupported-ECC warning
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, {platform.system()} {platform.release()}")
    shares, per = [], []
    for r in range(args.repeats):
        share, us, lines = one_run(args.collections, args.period)
        shares.append(share)
        per.append(us)
        print(f"run {r + 1}: {args.collections} collections at {1 / args.period:g} Hz, 8 GPUs, {lines} lines: "
              f"{share:.3f} % of a core ({us:.0f} µs CPU per collection incl. runner and sleeping)")
    loop_us = statistics.median(tight_loop(2000) for _ in range(3))
    print(f"median: {statistics.median(shares):.3f} % of a core (target <= 1 %); "
          f"{statistics.median(per):.0f} µs CPU per collection at 1 Hz; tight loop {loop_us:.0f} µs per collection")
    return 0


if __name__ == "__main__":
    sys.exit(main())
