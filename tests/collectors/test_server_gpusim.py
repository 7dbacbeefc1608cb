"""Server collector against live gpusim: queue/prefill/decode deltas agree with gpusim's trace,
as collected and as stored in a real InfluxDB, and no false counter resets on a busy host."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from collectors import schema as s
from collectors.http import http_get
from collectors.point import Point
from collectors.server.scrape import ServerMetricsCollector
from collectors.sinks.config import InfluxSinkConfig
from collectors.sinks.influx import InfluxSink
from tests.support.influx import InfluxStack

REPO = Path(__file__).resolve().parents[2]
N_REQUESTS = 8
COMPONENTS = ("queue", "prefill", "decode")

pytestmark = pytest.mark.integration


@dataclass
class Sim:
    base: str
    trace: Path
    proc: subprocess.Popen[str]

    def stop(self) -> None:
        """SIGTERM: gpusim flushes and closes the trace on shutdown."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def truth(self) -> tuple[int, dict[str, float], int]:
        """(requests, summed component seconds, output tokens) from the trace."""
        records = [r for r in map(json.loads, self.trace.read_text().splitlines()) if r.get("type") == "request"]
        sums = {
            "queue": sum(r["queue_exit_s"] - r["arrival_s"] for r in records),
            "prefill": sum(r["prefill_end_s"] - r["prefill_start_s"] for r in records),
            "decode": sum(r["token_times_s"][-1] - r["prefill_end_s"] for r in records),
        }
        return len(records), sums, sum(r["output_tokens"] for r in records)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    pytest.importorskip("gpusim.cli")
    trace = tmp_path / "trace.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadgen.cli", "sim", "--port", "0", "--host", "127.0.0.1",
         "--trace", str(trace), "--time-scale", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    handle = Sim("", trace, proc)
    try:
        assert proc.stdout is not None
        m = re.search(r"gpusim listening on (http://\S+)", proc.stdout.readline())
        assert m, "gpusim did not start"
        handle.base = m.group(1)
        yield handle
    finally:
        handle.stop()


def _load(base: str) -> None:
    model = json.loads(http_get(base + "/v1/models", 10))["data"][0]["id"]
    body = json.dumps({"model": model, "prompt": "hello world " * 40, "max_tokens": 24}).encode()

    def post(_: int) -> int:
        req = urllib.request.Request(base + "/v1/completions", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            return int(resp.status)

    with ThreadPoolExecutor(N_REQUESTS) as pool:
        assert list(pool.map(post, range(N_REQUESTS))) == [200] * N_REQUESTS


def _scrape_around_load(sim: Sim) -> tuple[list[Point], list[Point]]:
    collector = ServerMetricsCollector(sim.base + "/metrics", get=http_get, tags={"host": "t"})
    baseline = list(collector.collect(1_700_000_000_000_000_000))
    assert collector.mapping is not None and collector.mapping.kind == "vllm"  # auto-detected
    _load(sim.base)
    after = list(collector.collect(1_700_000_005_000_000_000))
    sim.stop()
    return baseline, after


def test_server_deltas_agree_with_gpusim_trace(sim: Sim) -> None:
    _, points = _scrape_around_load(sim)
    n, truth, tokens = sim.truth()
    assert n == N_REQUESTS
    latency = {p.tags[s.T_COMPONENT.name]: p.fields for p in points if p.measurement == s.SERVER_LATENCY.name}
    for component in COMPONENTS:
        assert latency[component][s.SF_COUNT.name] == N_REQUESTS
        assert latency[component][s.SF_SUM.name] == pytest.approx(truth[component], rel=1e-6, abs=1e-6), component
    server = next(p for p in points if p.measurement == s.SERVER.name)
    assert server.fields[s.SF_GENERATION_TOKENS.name] == tokens
    assert server.fields[s.SF_RESETS.name] == 0.0


def test_server_deltas_stored_in_influxdb_agree_with_trace(
    sim: Sim, influx: InfluxStack, influx_db: str, tmp_path: Path,
) -> None:
    baseline, after = _scrape_around_load(sim)
    sink = InfluxSink(InfluxSinkConfig(url=influx.write_url, bucket=influx_db, org="lab", flush_interval_s=0.2),
                      spool_dir=tmp_path / "spool")
    sink.write(baseline + after)
    stats = sink.close(30.0)
    assert stats.written == len(baseline) + len(after) and stats.dropped == 0
    n, truth, _ = sim.truth()
    for component in COMPONENTS:
        where = f"\"{s.T_COMPONENT.name}\" = '{component}'"
        assert influx.server.sum(influx_db, s.SERVER_LATENCY.name, s.SF_COUNT.name, where) == n
        stored = influx.server.sum(influx_db, s.SERVER_LATENCY.name, s.SF_SUM.name, where)
        assert stored == pytest.approx(truth[component], rel=1e-6, abs=1e-6), component
        inf_bucket = influx.server.sum(influx_db, s.SERVER_LATENCY_BUCKET.name, s.SF_BUCKET_COUNT.name,
                                       f"{where} AND \"le\" = '+Inf'")
        assert inf_bucket == n


@pytest.fixture
def busy_cpus() -> Iterator[None]:
    """Two busy-loop processes (both cores of the CI machine) for the test's duration."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_no_false_counter_resets_under_cpu_contention(sim: Sim, busy_cpus: None) -> None:
    """Regression (issue 14, section 2 item 8): with both cores busy and ``--time-scale 20``, gpusim
    admitted requests into a step that started before they arrived; the negative TTFT/prefill
    observations made histogram sums go down and the collector reported ``resets == 49``."""
    collector = ServerMetricsCollector(sim.base + "/metrics", get=http_get, tags={"host": "t"})
    collector.collect(time.time_ns())
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            _load(sim.base)

    loader = threading.Thread(target=traffic, daemon=True)
    loader.start()
    scrapes: list[list[Point]] = []
    try:
        for _ in range(8):
            time.sleep(0.5)
            scrapes.append(list(collector.collect(time.time_ns())))
    finally:
        stop.set()
        loader.join(60)
    sim.stop()
    resets = [p.fields[s.SF_RESETS.name] for pts in scrapes for p in pts if p.measurement == s.SERVER.name]
    assert resets == [0.0] * len(scrapes)
    latency = [p for pts in scrapes for p in pts if p.measurement == s.SERVER_LATENCY.name]
    assert latency, "no traffic reached the scrape"
    assert all(p.fields[s.SF_RESET.name] == 0.0 and p.fields[s.SF_SUM.name] >= 0.0 for p in latency)
    records = [r for r in map(json.loads, sim.trace.read_text().splitlines()) if r.get("type") == "request"]
    assert records and all(r["arrival_s"] <= r["queue_exit_s"] <= r["prefill_end_s"] for r in records)
