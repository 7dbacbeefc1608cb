"""The run's server scrape cost on the master: a full parse vs the gauge-only sample.

During ``inferload run`` the master (or local process) reads the target's /metrics in a thread:
the whole page (``ServerMetricsCollector.process``: prometheus_client's parser, deltas, quantiles)
every ``sinks.aggregate_interval_s``, and only the ``running``/``waiting`` gauges
(``ServerMetricsCollector.sample_gauges``: a line scan) every second for the effective batch.
Both hold the GIL the request-sending gevent loop needs, so their CPU time per call is what this
measures, on gpusim's page after some traffic and on the recorded vLLM page
(``tests/testdata/metrics/vllm.txt``).  Median and max of ``--repeats`` calls; the HTTP fetch is
excluded (a function returning the text is injected).

    .venv/bin/python bench/bench_server_scrape.py [--repeats 200]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.server.scrape import ServerMetricsCollector  # noqa: E402
from gpusim.config import build_config  # noqa: E402
from gpusim.engine import BatchingEngine  # noqa: E402
from gpusim.metrics import VllmMetrics  # noqa: E402
from gpusim.virtual import Arrival, simulate  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def gpusim_page() -> str:
    """gpusim's /metrics after 200 simulated requests (every histogram populated)."""
    cfg = build_config({}, "tiny-cpu")
    engine = BatchingEngine(cfg.engine)
    metrics = VllmMetrics(cfg.model)
    metrics.set_cache_config(cfg.engine)
    for seq in simulate(engine, [Arrival(i * 0.05, 64 + i % 50, 20 + i % 80) for i in range(200)]):
        metrics.on_tokens(seq, 0)
        metrics.on_finish(seq)
    return metrics.render(engine).decode()


def timings(fn: Callable[[], None], repeats: int) -> tuple[float, float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out) * 1e3, max(out) * 1e3


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=200)
    args = p.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"load average {os.getloadavg()[0]:.1f}, python {platform.python_version()}")
    pages = {"gpusim": gpusim_page(), "vllm (recorded)": (REPO / "tests/testdata/metrics/vllm.txt").read_text()}
    print("| page | lines | full parse ms p50 / max | gauge sample ms p50 / max |")
    print("| --- | --- | --- | --- |")
    for name, text in pages.items():
        def get(url: str, timeout_s: float, text: str = text) -> str:
            return text

        c = ServerMetricsCollector("http://bench/metrics", get=get, server="vllm")
        ticks = itertools.count(1)

        def full(c: ServerMetricsCollector = c, text: str = text, ticks: Iterator[int] = ticks) -> None:
            c.process(text, next(ticks))

        def light(c: ServerMetricsCollector = c) -> None:
            c.sample_gauges(("running", "waiting"))

        full()
        f50, fmax = timings(full, args.repeats)
        l50, lmax = timings(light, args.repeats)
        print(f"| {name} | {len(text.splitlines())} | {f50:.2f} / {fmax:.2f} | {l50:.3f} / {lmax:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
