"""The run's server scrape in a process of its own, so its parse never holds the load's loop.

Parsing a /metrics page with prometheus_client costs milliseconds of pure Python (a ~350-line
vLLM page: 5-20 ms, ``bench/bench_server_scrape.py``).  In ``inferload run`` the master's threads
are greenlets (Locust monkey-patches ``threading``), so a scrape in-process would stop the loop
that sends requests for that long.  This child does the fetching and parsing and writes one JSON
object per line on stdout; the parent (``loadgen/server_metrics.py``) only decodes small lines:

- ``{"points": [[measurement, tags, fields, time_ns], ...], "kind": KIND}``: every full scrape
  (``--full-every`` s), its points plus the ``collector_health`` point, to be written as they are;
- ``{"sample": [wall_s, {field: value}, full]}``: the effective-batch fields of every tick
  (``--period`` s; between full scrapes a gauge-only line scan of ``running``/``waiting``);
- ``{"stats": {...}, "kind": KIND}``: last line, when stdin reaches end of file (the parent closed
  it, or died: the child never outlives its run) or on SIGTERM, after one final full scrape.

    python -m collectors.server.child --url URL [--server KIND] [--period 1] [--full-every 5] [--tags JSON]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TextIO

from collectors import schema
from collectors.point import Point
from collectors.runner import CollectorRunner, Scheduled
from collectors.server.batch import BATCH_FIELDS, GAUGE_FIELDS, gauge_segments, phase_stats
from collectors.server.families import MAPPINGS
from collectors.server.scrape import ServerMetricsCollector

SampleSink = Callable[[float, dict[str, float], bool], None]


INTERVAL_MEANS: dict[str, str] = {schema.SF_RUNNING.name: schema.SF_RUNNING_MEAN.name,
                                  schema.SF_WAITING.name: schema.SF_WAITING_MEAN.name}


class SamplingCollector:
    """Every tick a gauge-only sample of ``running``/``waiting``; every ``full_every_s`` a full
    scrape whose points are returned (and whose per-step fields are sampled too).  The full
    scrape's ``llm_server`` point also gets ``running_mean``/``waiting_mean``: the time-weighted
    means of the samples since the previous full scrape (when the server has one model)."""

    def __init__(self, inner: ServerMetricsCollector, on_sample: SampleSink, *, full_every_s: float,
                 tick_s: float, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.inner = inner
        self.on_sample = on_sample
        self.full_every_s = full_every_s
        self.tick_s = tick_s
        self._clock = clock
        self._wall = wall
        self._last_full: float | None = None
        self._window: list[tuple[float, dict[str, float]]] = []  # samples since the last full scrape

    def collect(self, now_ns: int) -> Iterable[Point]:
        mono = self._clock()
        if self._last_full is not None and mono - self._last_full < self.full_every_s - self.tick_s / 2:
            t, fields = self._wall(), self.inner.sample_gauges(GAUGE_FIELDS)
            self._window.append((t, fields))
            self.on_sample(t, fields, False)
            return []
        self._last_full = mono
        points = list(self.inner.collect(now_ns))
        t, fields = self._wall(), batch_fields(points)
        self._add_means(points, [*self._window, (t, fields)])
        self._window = [(t, fields)]
        self.on_sample(t, fields, True)
        return points

    def force_full(self) -> None:
        """The next :meth:`collect` is a full scrape (the final one, when the load has ended)."""
        self._last_full = None

    @staticmethod
    def _add_means(points: list[Point], window: list[tuple[float, dict[str, float]]]) -> None:
        server = [p for p in points if p.measurement == schema.SERVER.name]
        if len(window) < 2 or len(server) != 1:
            return
        start, end = window[0][0], window[-1][0]
        for field, mean_field in INTERVAL_MEANS.items():
            samples = [(t, f[field]) for t, f in window if field in f]
            st = phase_stats(interval_hold(samples, start, end), [("i", start, end)])["i"]
            if st is not None:
                server[0].fields[mean_field] = st.mean


def interval_hold(samples: list[tuple[float, float]], start: float, end: float) -> list[tuple[float, float, float]]:
    """Gauge samples of ``[start, end]`` as segments (each stands for the time half-way to its
    neighbours, as in the per-phase reduction), clipped to the interval."""
    return [(max(a, start), min(b, end), v) for a, b, v in gauge_segments(samples) if min(b, end) > max(a, start)]


def batch_fields(points: Iterable[Point]) -> dict[str, float]:
    """The effective-batch fields of one scrape's ``llm_server`` points: gauges summed over models,
    per-step means averaged."""
    totals: dict[str, list[float]] = {}
    for p in points:
        if p.measurement == schema.SERVER.name:
            for f in BATCH_FIELDS:
                if f in p.fields:
                    totals.setdefault(f, []).append(p.fields[f])
    return {f: (sum(v) if f in GAUGE_FIELDS else sum(v) / len(v)) for f, v in totals.items()}


class _Emitter:
    def __init__(self, out: TextIO, collector: ServerMetricsCollector) -> None:
        self._out = out
        self._collector = collector
        self._lock = threading.Lock()

    def _line(self, obj: object) -> None:
        with self._lock:
            self._out.write(json.dumps(obj, separators=(",", ":")) + "\n")
            self._out.flush()

    def kind(self) -> str | None:
        return self._collector.mapping.kind if self._collector.mapping is not None else None

    def points(self, points: list[Point]) -> None:
        self._line({"points": [[p.measurement, p.tags, p.fields, p.time_ns] for p in points], "kind": self.kind()})

    def sample(self, t: float, fields: Mapping[str, float], full: bool) -> None:
        self._line({"sample": [t, dict(fields), full]})

    def stats(self, runner: CollectorRunner) -> None:
        st = runner.stats["server"]
        self._line({"stats": {"collections": st.collections, "errors": st.errors, "last_error": st.last_error,
                              "full_scrapes": self._collector.scrapes}, "kind": self.kind()})


def _stop_at_eof(stream: TextIO, runner: CollectorRunner) -> None:
    for _ in stream:
        pass
    runner.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m collectors.server.child", description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--server", choices=sorted(MAPPINGS), default=None)
    p.add_argument("--period", type=float, default=1.0)
    p.add_argument("--full-every", type=float, default=5.0)
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--tags", default="{}", help="JSON object of extra tags")
    args = p.parse_args(argv)
    tags = {str(k): str(v) for k, v in json.loads(args.tags).items()}
    collector = ServerMetricsCollector(args.url, server=args.server, tags=tags, timeout_s=args.timeout)
    emit = _Emitter(sys.stdout, collector)
    sampling = SamplingCollector(collector, emit.sample, full_every_s=args.full_every, tick_s=args.period)
    runner = CollectorRunner([Scheduled("server", sampling, args.period)], emit.points, tags=tags)
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    threading.Thread(target=_stop_at_eof, args=(sys.stdin, runner), name="stdin-eof", daemon=True).start()
    runner.run()
    # one last full scrape after the load ended: the server's counters then cover every request
    # of the run (without it, those finished since the last full scrape, up to --full-every s of
    # them, would be missing from llm_server)
    sampling.force_full()
    runner.run_one(runner.scheduled[0])
    emit.stats(runner)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["INTERVAL_MEANS", "SamplingCollector", "batch_fields", "interval_hold", "main"]
