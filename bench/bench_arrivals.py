"""Cost of walking the global arrival sequence (run by hand; results go to docs/performance.md).

    .venv/bin/python -m bench.bench_arrivals [--arrivals 1000000] [--repeats 5]

For each process: ns per global arrival for the bare process generator (times only), and for
``Plan.arrivals(slot, n_slots)`` with 1 and 8 slots (class/lengths drawn for kept arrivals only).
Prints medians of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from loadgen.arrivals import make_process
from loadgen.config import Scenario
from loadgen.plan import Plan

RATE = 1000.0
PROCESSES: dict[str, dict[str, Any]] = {
    "poisson": {"process": "poisson", "rate": RATE},
    "gamma": {"process": "gamma", "rate": RATE, "burstiness": 0.5},
    "constant": {"process": "constant", "rate": RATE},
    "onoff": {"process": "onoff", "rate_on": 2 * RATE, "rate_off": 0, "on_s": 1, "off_s": 1},
    "spike": {"process": "spike", "base_rate": RATE * 0.5, "spike_rate": RATE * 3, "every_s": 10, "spike_s": 2},
    "ramp": {"process": "ramp", "from_rate": 0, "to_rate": 2 * RATE},
}


def _scenario(arrivals: dict[str, Any], duration: float) -> Scenario:
    return Scenario.model_validate({
        "target": {"base_url": "http://127.0.0.1:8000"},
        "workload": {"prompt_tokens": {"dist": "lognormal", "mean": 512, "sigma": 0.5},
                     "output_tokens": {"dist": "uniform", "min": 16, "max": 256},
                     "classes": [{"name": "a", "weight": 3}, {"name": "b", "weight": 1}]},
        "phases": [{"name": "p", "duration": duration, "arrivals": arrivals}],
    })


def _median_ns(fn: Callable[[], int], repeats: int) -> tuple[float, int]:
    runs, n = [], 0
    for _ in range(repeats):
        t = time.perf_counter_ns()
        n = fn()
        runs.append((time.perf_counter_ns() - t) / max(n, 1))
    return statistics.median(runs), n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arrivals", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    duration = args.arrivals / RATE
    print(f"{'process':10} {'arrivals':>9} {'times ns':>9} {'plan 1/1 ns':>12} {'plan 1/8 ns':>12}")
    for name, cfg in PROCESSES.items():
        sc = _scenario(cfg, duration)
        proc = make_process(sc.phases[0].arrivals)
        plan = Plan(sc)

        def bare(proc: Any = proc) -> int:
            return sum(1 for _ in proc.times(0.0, duration, np.random.default_rng(0)))

        t_bare, n = _median_ns(bare, args.repeats)
        def walk(slot: int, n_slots: int, plan: Plan = plan, n: int = n) -> Callable[[], int]:
            def run() -> int:
                for _ in plan.arrivals(slot, n_slots):
                    pass
                return n  # per *global* arrival

            return run

        t_one, _ = _median_ns(walk(0, 1), args.repeats)
        t_eight, _ = _median_ns(walk(3, 8), args.repeats)
        print(f"{name:10} {n:9d} {t_bare:9.0f} {t_one:12.0f} {t_eight:12.0f}")


if __name__ == "__main__":
    main()
