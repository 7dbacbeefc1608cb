"""The run's server scrape process: full scrapes and gauge samples on schedule, JSON lines out,
and it ends (with its stats) when its stdin closes, so it never outlives the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from collectors import schema as s
from collectors.point import Point
from collectors.server.child import SamplingCollector
from collectors.server.scrape import ServerMetricsCollector

REPO = Path(__file__).resolve().parents[2]
PAGE = (REPO / "tests" / "testdata" / "metrics" / "vllm.txt").read_text()


def test_sampling_collector_full_scrape_every_full_period_gauges_in_between() -> None:
    now = [0.0]
    got: list[tuple[float, dict[str, float], bool]] = []
    inner = ServerMetricsCollector("http://x/metrics", get=lambda url, timeout_s: PAGE, server="vllm")
    sampling = SamplingCollector(inner, lambda t, f, full: got.append((t, f, full)), full_every_s=3.0, tick_s=1.0,
                                 clock=lambda: now[0], wall=lambda: 100.0 + now[0])
    written: list[list[Point]] = []
    for tick in range(7):
        now[0] = float(tick)
        written.append(list(sampling.collect(tick)))
    assert [full for _, _, full in got] == [True, False, False, True, False, False, True]
    assert [bool(w) for w in written] == [True, False, False, True, False, False, True]  # only full scrapes write
    assert all(f[s.SF_RUNNING.name] == got[0][1][s.SF_RUNNING.name] for _, f, _ in got)
    assert s.SF_TOKENS_PER_STEP.name not in got[0][1]  # the first full scrape is the baseline
    assert got[0][0] == 100.0 and inner.scrapes == 3


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def metrics_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()


def _full(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in lines if any(p[0] == s.SERVER.name for p in m.get("points", ()))]


def _run_child(metrics_url: str, args: list[str],
               end_when: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    """Run ``collectors.server.child`` against ``metrics_url``; close its stdin (the run ends) once
    ``end_when(lines so far)`` holds; every line it wrote, the stats line last."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "collectors.server.child", "--url", metrics_url, *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
    )
    assert proc.stdin is not None and proc.stdout is not None
    lines: list[dict[str, Any]] = []
    try:
        for line in proc.stdout:
            lines.append(json.loads(line))
            if not proc.stdin.closed and end_when(lines):
                proc.stdin.close()  # the run ends: the child stops at its next tick and reports
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return lines


@pytest.mark.integration
def test_child_writes_points_and_samples_then_stats_at_stdin_eof(metrics_url: str) -> None:
    lines = _run_child(metrics_url, ["--period", "0.1", "--full-every", "0.3", "--tags", json.dumps({"run_id": "r1"})],
                       lambda lines: len(_full(lines)) == 3)
    points = _full(lines)
    samples = [m["sample"] for m in lines if "sample" in m]
    assert points[0]["kind"] == "vllm"
    measurements = {p[0] for p in points[0]["points"]}
    assert {s.SERVER.name, s.COLLECTOR.name} <= measurements  # the server's point and the health point
    health_only = [m for m in lines if "points" in m and m not in points]
    assert all([p[0] for p in m["points"]] == [s.COLLECTOR.name] for m in health_only)  # gauge ticks: health only
    assert all(p[1].get("run_id") == "r1" for m in points for p in m["points"])
    assert [full for _, _, full in samples].count(True) == len(points)
    assert [full for _, _, full in samples].count(False) >= 2  # gauge-only samples between full scrapes
    assert all(f[s.SF_RUNNING.name] == 3.0 for _, f, _ in samples)  # vllm.txt: 3 running
    stats = lines[-1]
    assert stats["kind"] == "vllm" and stats["stats"]["errors"] == 0
    assert stats["stats"]["full_scrapes"] == len(points) and stats["stats"]["collections"] == len(samples)


@pytest.mark.integration
def test_child_scrapes_once_more_in_full_after_stdin_eof(metrics_url: str) -> None:
    """Bug: the child stopped at stdin EOF without a last full scrape, so requests the server
    finished after the previous full scrape (up to --full-every s of them) never reached
    llm_server and the server's totals fell short of its own trace."""
    # one full scrape (the first) and two gauge ticks when the run ends
    lines = _run_child(metrics_url, ["--period", "0.1", "--full-every", "1000"],
                       lambda lines: sum(1 for m in lines if "sample" in m) == 3)
    full = _full(lines)
    assert len(full) == 2  # the first scrape, and the final one after the end of the load
    assert lines.index(full[-1]) > lines.index(next(m for m in lines if "sample" in m and not m["sample"][2]))
    assert lines[-1]["stats"]["full_scrapes"] == 2


def test_full_scrape_point_carries_the_time_weighted_means_since_the_previous_one() -> None:
    now = [0.0]
    running = {0: 2, 1: 2, 2: 8, 3: 8, 4: 0, 5: 0, 6: 0}

    def get(url: str, timeout_s: float) -> str:
        value = running[int(now[0])]
        return f'# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{{model_name="m"}} {value}\n'

    inner = ServerMetricsCollector("http://x/metrics", get=get, server="vllm")
    sampling = SamplingCollector(inner, lambda t, f, full: None, full_every_s=3.0, tick_s=1.0,
                                 clock=lambda: now[0], wall=lambda: now[0])
    fields = []
    for tick in range(7):
        now[0] = float(tick)
        fields += [p.fields for p in sampling.collect(tick) if p.measurement == s.SERVER.name]
    assert s.SF_RUNNING_MEAN.name not in fields[0]  # nothing before the first scrape
    # samples 2, 2, 8, 8 at 0..3 s, each standing for the time half-way to its neighbours
    assert fields[1][s.SF_RUNNING_MEAN.name] == pytest.approx((1.5 * 2 + 1.5 * 8) / 3)
    assert fields[1][s.SF_RUNNING.name] == 8  # the gauge as read at the scrape
    assert fields[2][s.SF_RUNNING_MEAN.name] == pytest.approx((0.5 * 8 + 2.5 * 0) / 3)


@pytest.mark.integration
def test_child_exits_when_its_run_is_killed(metrics_url: str) -> None:
    """A SIGKILLed run closes the child's stdin by dying: the child must not scrape on forever."""
    parent_code = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-m', 'collectors.server.child', '--url', {metrics_url!r},"
        " '--period', '0.1'], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child_pid):
        time.sleep(0.1)
    alive = _alive(child_pid)
    if alive:
        os.kill(child_pid, signal.SIGKILL)
    assert not alive, "the scrape process outlived its run"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
