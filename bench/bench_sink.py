"""Sink benchmark: points/s the InfluxDB sink serialises and ships, and the request path's latency.

Run by hand (not a test)::

    .venv/bin/python -m bench.bench_sink [--points 300000] [--runs 3] [--rate 20000]

What it measures, each run (median of ``--runs`` printed at the end):

1. encode: raw request points/s through ``collectors.lineproto`` and through influxdb-client's
   ``Point.to_line_protocol()`` (same points, same run: the ratio is what matters);
2. ship: ``--points`` realistic raw request points (from ``RequestCollector``) written through
   ``InfluxSink`` -> influxdb-client (SYNCHRONOUS) -> a trivial aiohttp ``/api/v2/write``
   endpoint in another process; points/s = points / time until all are acknowledged (wall), and
   points / CPU time the benchmark process used meanwhile (all its threads: robust against other
   load on a shared machine).  The benchmark process is pinned to one core (``--cpu``);
3. request path: ``RequestTelemetry.on_record`` called at a paced ``--rate`` per second for
   ``--seconds``, once without sinks and once with the InfluxDB sink shipping to the endpoint;
   per-call latency p50/p99/p99.9 of both (time to call on_record, i.e. build + write).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np

from collectors.point import Point


def serve() -> None:
    """The trivial write endpoint: counts lines, answers 204."""
    from aiohttp import web

    count = 0

    async def write(request: web.Request) -> web.Response:
        nonlocal count
        body = await request.read()
        count += body.count(b"\n") + 1
        return web.Response(status=204)

    async def stats(request: web.Request) -> web.Response:
        return web.Response(text=str(count))

    app = web.Application(client_max_size=512 * 1024 * 1024)
    app.router.add_post("/api/v2/write", write)
    app.router.add_get("/count", stats)

    async def on_startup(app: web.Application) -> None:
        pass

    import asyncio
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    web.run_app(app, sock=sock, print=None, access_log=None, handle_signals=True)
    del asyncio


def start_endpoint() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.bench_sink", "--serve"], stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parent.parent)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    port = int(line.split()[1])
    return proc, f"http://127.0.0.1:{port}"


def request_points(n: int) -> list[Point]:
    from collectors.request import RequestCollector
    from tests.collectors.fakes import make_record

    rc = RequestCollector(run_id="bench-run", scenario="bench", worker="w0", endpoint="local", model="m")
    timing = {"server_queue_s": 0.003, "server_prefill_s": 0.02, "server_decode_s": 0.2, "server_e2e_s": 0.23}
    out = []
    for i in range(n):
        rec = make_record(i, cls=("chat", "batch")[i % 2], ttft_s=0.02 + (i % 17) * 0.001,
                          itl_s=0.01 + (i % 5) * 0.0003, tokens=16, server_timing=timing)
        p = rc.point(rec)
        assert p is not None
        out.append(p)
    return out


def bench_encode(points: list[Point]) -> tuple[float, float]:
    from influxdb_client import Point as LibPoint

    from collectors.lineproto import encode_many

    t = time.perf_counter()
    encode_many(points)
    ours = len(points) / (time.perf_counter() - t)
    sub = points[: max(1, len(points) // 5)]
    t = time.perf_counter()
    for p in sub:
        LibPoint.from_dict({"measurement": p.measurement, "tags": p.tags, "fields": p.fields,
                            "time": p.time_ns}).to_line_protocol()
    lib = len(sub) / (time.perf_counter() - t)
    return ours, lib


def bench_ship(url: str, points: list[Point]) -> tuple[float, float, dict[str, object]]:
    from collectors.sinks.config import InfluxSinkConfig
    from collectors.sinks.influx import InfluxSink

    with TemporaryDirectory() as d:
        cfg = InfluxSinkConfig(url=url, bucket="bench", org="o", batch_size=5000, flush_interval_s=0.1,
                               queue_max_points=2_000_000, timeout_s=30)
        sink = InfluxSink(cfg, spool_dir=Path(d))
        t, c = time.perf_counter(), time.process_time()
        for i in range(0, len(points), 1000):
            sink.write(points[i : i + 1000])
        assert sink.flush(300), "not drained"
        dt, dc = time.perf_counter() - t, time.process_time() - c
        st = sink.close(10)
        return len(points) / dt, len(points) / dc, st.as_dict()


def bench_request_path(url: str | None, rate: float, seconds: float) -> dict[str, float]:
    from collectors.pipeline import RequestTelemetry
    from collectors.sinks.config import InfluxSinkConfig, SinksConfig
    from collectors.sinks.influx import InfluxSink
    from tests.collectors.fakes import make_record

    with TemporaryDirectory() as d:
        sinks = []
        if url is not None:
            cfg = InfluxSinkConfig(url=url, bucket="bench", batch_size=5000, flush_interval_s=0.1,
                                   queue_max_points=2_000_000)
            sinks.append(InfluxSink(cfg, spool_dir=Path(d)))
        tel = RequestTelemetry(SinksConfig(), run_id="bench", scenario="bench", worker="w0", role="worker",
                               sinks=sinks)  # type: ignore[arg-type]
        n = int(rate * seconds)
        recs = [make_record(i, tokens=16, server_timing={"server_e2e_s": 0.1}) for i in range(n)]
        lat = np.empty(n, dtype=np.int64)
        period = 1e9 / rate
        t0 = time.perf_counter_ns()
        behind = 0
        for i, rec in enumerate(recs):
            due = t0 + int(i * period)
            while (now := time.perf_counter_ns()) < due:
                pass
            if now - due > 1_000_000:
                behind += 1
            a = time.perf_counter_ns()
            tel.on_record(rec)
            lat[i] = time.perf_counter_ns() - a
        summary = tel.close(30)
        written = 0
        if url is not None:
            written = summary["sinks"]["influxdb"]["written"]  # type: ignore[index]
        return {
            "p50_us": float(np.percentile(lat, 50)) / 1e3,
            "p99_us": float(np.percentile(lat, 99)) / 1e3,
            "p99_9_us": float(np.percentile(lat, 99.9)) / 1e3,
            "late_calls": float(behind),
            "written": float(written),
        }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--points", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rate", type=float, default=20_000.0, help="on_record calls per second (request path)")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--cpu", type=int, default=0, help="core to pin the benchmark process to")
    args = ap.parse_args(argv)
    if args.serve:
        serve()
        return 0
    proc, url = start_endpoint()
    try:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {args.cpu})
        points = request_points(args.points)
        enc_ours, enc_lib, ship, ship_cpu, base99, sink99, base999, sink999, base50, sink50 = (
            [] for _ in range(10))
        for run in range(args.runs):
            ours, lib = bench_encode(points)
            rate, cpu_rate, st = bench_ship(url, points)
            base = bench_request_path(None, args.rate, args.seconds)
            with_sink = bench_request_path(url, args.rate, args.seconds)
            enc_ours.append(ours)
            enc_lib.append(lib)
            ship.append(rate)
            ship_cpu.append(cpu_rate)
            base50.append(base["p50_us"])
            sink50.append(with_sink["p50_us"])
            base99.append(base["p99_us"])
            sink99.append(with_sink["p99_us"])
            base999.append(base["p99_9_us"])
            sink999.append(with_sink["p99_9_us"])
            print(f"run {run + 1}: encode {ours:,.0f}/s (library {lib:,.0f}/s); ship {rate:,.0f} points/s wall, {cpu_rate:,.0f} per CPU-second "
                  f"(written {st['written']}, dropped {st['dropped']}); on_record p50/p99/p99.9 "
                  f"{base['p50_us']:.1f}/{base['p99_us']:.1f}/{base['p99_9_us']:.1f} us without sink, "
                  f"{with_sink['p50_us']:.1f}/{with_sink['p99_us']:.1f}/{with_sink['p99_9_us']:.1f} us with "
                  f"(written {with_sink['written']:.0f}, late calls {with_sink['late_calls']:.0f})", flush=True)
        med = statistics.median
        print(f"median of {args.runs}: encode {med(enc_ours):,.0f} points/s, library {med(enc_lib):,.0f} "
              f"points/s (x{med(o / li for o, li in zip(enc_ours, enc_lib, strict=True)):.2f}); "
              f"ship {med(ship):,.0f} points/s wall, {med(ship_cpu):,.0f} per CPU-second; on_record p50 {med(base50):.1f} -> {med(sink50):.1f} us, "
              f"p99 {med(base99):.1f} -> {med(sink99):.1f} us, p99.9 {med(base999):.1f} -> {med(sink999):.1f} us")
    finally:
        proc.terminate()
        proc.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
