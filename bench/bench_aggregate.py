"""The interval step's aggregates as a run gets longer: ``AggregateBuilder.points`` (issue 14).

Every aggregate interval the master (or a local run's only process) writes the interval's latency
points and, for the keys that changed, the *cumulative* ones, read from the run's histograms so
far.  Those fill up as the run goes on: after a minute a TTFT histogram uses a few hundred HDR
buckets, after a day of a soak every bucket its distribution spans.  This benchmark times one
interval step's aggregates (``collectors.aggregates.AggregateBuilder.points``: 5 phases x 3 traffic
classes x 7 latency metrics, one phase active, 1 s of requests at ``--rate``) against cumulative
histograms holding ``--spans`` of traffic at that rate, and, in the same run, the cumulative reads
alone two ways: ``collectors.hdr_read.summarize_groups`` (what the step uses) and ``summarize`` of
each histogram plus of ``HistogramSet.combined`` per group (the plain vectorised reader).

The cumulative histograms are built from 20,000 lognormal draws per key, each recorded with the
weight that gives the span's request count: as wide as real latencies, without recording millions
of values one by one.  Reports medians of ``--repeats``.

    .venv/bin/python bench/bench_aggregate.py [--rate 200] [--spans 60,3600,86400] [--repeats 30]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import cpu_model  # noqa: E402
from collectors import schema  # noqa: E402
from collectors.aggregates import AggregateBuilder  # noqa: E402
from collectors.counters import C_GOOD, C_OK, C_OUTPUT_TOKENS, C_REQUESTS, Counters  # noqa: E402
from collectors.hdr_read import summarize, summarize_groups  # noqa: E402
from collectors.histograms import HistogramSet, counts_view  # noqa: E402

PHASES = ("warmup", "steady", "burst", "spike", "cooldown")
CLASSES = ("interactive", "batch", "tool")
# metric: (median seconds, lognormal sigma, values per request)
SHAPES = {schema.M_TTFT: (0.08, 0.5, 1), schema.M_TTFT_SCHED: (0.081, 0.5, 1), schema.M_ITL: (0.012, 0.4, 10),
          schema.M_TPOT: (0.012, 0.2, 1), schema.M_E2E: (0.2, 0.4, 1), schema.M_E2E_SCHED: (0.201, 0.4, 1),
          schema.M_SCHEDULE_LAG: (0.0008, 0.9, 1)}
DRAWS = 20_000


def cumulative_set(requests_per_key: int, rng: np.random.Generator) -> HistogramSet:
    hs = HistogramSet()
    for metric, (median, sigma, per_request) in SHAPES.items():
        n = requests_per_key * per_request
        weight = max(1, n // DRAWS)
        for phase in PHASES:
            for cls in CLASSES:
                values = np.exp(rng.normal(np.log(median), sigma, min(n, DRAWS)))
                hs.ensure(metric, phase, cls)
                h = hs.get(metric, phase, cls)
                assert h is not None
                for us in np.maximum(1, (values * 1e6).astype(np.int64)).tolist():
                    h.record_value(us, weight)
    return hs


def interval_set(rate: float, rng: np.random.Generator) -> tuple[HistogramSet, Counters]:
    hs, counters = HistogramSet(), Counters()
    per_class = max(1, int(rate / len(CLASSES)))
    for metric, (median, sigma, per_request) in SHAPES.items():
        for cls in CLASSES:
            values = np.exp(rng.normal(np.log(median), sigma, per_class * per_request))
            hs.record_many(metric, "steady", cls, values.tolist())
    for cls in CLASSES:
        for counter, n in ((C_REQUESTS, per_class), (C_OK, per_class), (C_GOOD, per_class),
                           (C_OUTPUT_TOKENS, 10 * per_class)):
            counters.add("steady", cls, counter, n)
    return hs, counters


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def measure(cum: HistogramSet, interval: HistogramSet, counters: Counters, repeats: int) -> tuple[float, ...]:
    """(buckets in use per key, step ms, summarize_groups ms, per-histogram summarize ms)."""
    builder = AggregateBuilder(run_id="bench", scenario="bench")
    groups = [[h for c in CLASSES if (h := cum.get(m, "steady", c)) is not None] for m in SHAPES]
    buckets = statistics.median(int(np.count_nonzero(counts_view(h))) for g in groups for h in g)

    def plain() -> None:
        for m, g in zip(SHAPES, groups, strict=True):
            for h in g:
                summarize(h)
            summarize(cum.combined(m, "steady"))

    step_ms = median_ms(lambda: builder.points(interval, counters, interval_s=1.0, now_ns=0, cumulative=cum),
                        repeats)
    return buckets, step_ms, median_ms(lambda: summarize_groups(groups), repeats), median_ms(plain, repeats)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--spans", default="60,3600,86400", help="cumulative traffic, seconds at --rate (comma list)")
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; {len(PHASES)} phases x {len(CLASSES)} classes x {len(SHAPES)} metrics")
    rng = np.random.default_rng(7)
    interval, counters = interval_set(args.rate, rng)
    print("span        requests/key  buckets/key  step ms  cumulative: summarize_groups ms  per histogram ms")
    for span in (float(s) for s in args.spans.split(",")):
        per_key = max(1, int(args.rate * span / len(PHASES) / len(CLASSES)))
        cum = cumulative_set(per_key, rng)
        cum.merge(interval)
        buckets, step_ms, groups_ms, plain_ms = measure(cum, interval, counters, args.repeats)
        print(f"{span:>8.0f} s  {per_key:>12,}  {buckets:>11,.0f}  {step_ms:7.2f}  {groups_ms:32.2f}  {plain_ms:16.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
