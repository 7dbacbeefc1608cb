"""End to end through Locust, as real processes on loopback, against a fixed-latency endpoint.

- local run: p50 TTFT and ITL within 2 ms of the endpoint's configured values; the endpoint's
  request count equals the summary's;
- master + 2 workers: the same, and the union of the workers' arrivals is exactly the plan;
- a SIGKILLed worker: its slot is adopted within 10 s, arrivals lost in the gap are counted,
  the adopter sends the rest, the run exits 3 (degraded);
- stop with streams in flight: after the drain they are cancelled and counted, none lost;
- model unset and /v1/models unreachable: exit 2 with a message.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
TTFT_S, ITL_S = 0.05, 0.01


def _start_server(*args: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [PY, "-m", "tests.support.stream_server", "--port", "0", *args],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("PORT "), line
    return proc, int(line.split()[1])


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    proc, port = _start_server("--ttft", str(TTFT_S), "--itl", str(ITL_S))
    yield port
    _stop(proc)


def _stats(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
        data: dict[str, int] = json.loads(r.read())
        return data


def _scenario(tmp: Path, port: int, steady_s: float, rate: float = 20.0, stop_timeout: float = 3.0,
              output_tokens: int = 8, extra: str = "") -> Path:
    path = tmp / "scenario.yaml"
    path.write_text(
        f"""name: e2e
seed: 7
target:
  base_url: http://127.0.0.1:{port}
workload:
  prompt_tokens: 16
  output_tokens: {output_tokens}
phases:
  - name: warm
    kind: warmup
    duration: 2s
    arrivals: {{process: poisson, rate: 10}}
  - name: steady
    duration: {steady_s}s
    arrivals: {{process: poisson, rate: {rate}}}
slo:
  objectives:
    - {{metric: ttft, percentile: 50, max_ms: 1000}}
  max_error_rate: 0.0
generator:
  stop_timeout_s: {stop_timeout}
  max_cpu_percent: 100
  max_schedule_lag_p99_ms: 1000
""" + extra
    )
    return path


def _run(args: list[str], tmp: Path, timeout: float = 90) -> tuple[int, dict[str, Any], str]:
    out = tmp / "out"
    proc = subprocess.run(
        [PY, "-m", "loadgen.cli", "run", *args, "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=timeout,
    )
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    return proc.returncode, summary, proc.stdout + proc.stderr


def _plan_slots(scenario: Path, n_slots: int) -> list[list[Any]]:
    from loadgen.config import load_scenario
    from loadgen.plan import Plan

    plan = Plan(load_scenario(scenario))
    return [list(plan.arrivals(s, n_slots)) for s in range(n_slots)]


def _check_latency(summary: dict[str, Any]) -> None:
    lat = summary["overall"]["latency"]
    assert abs(lat["ttft"]["p50_ms"] - TTFT_S * 1000) <= 2.0, lat["ttft"]
    assert abs(lat["itl"]["p50_ms"] - ITL_S * 1000) <= 2.0, lat["itl"]


def test_local_run_timing_and_counts(server: int, tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, server, steady_s=6)
    before = _stats(server)["requests"]
    rc, summary, out = _run([str(scenario)], tmp_path)
    assert rc == 0, out
    sent = _stats(server)["requests"] - before
    total = sum(p["requests"] for p in summary["phases"].values())
    assert sent == total > 0
    expected = sum(len(s) for s in _plan_slots(scenario, 1))
    assert total == expected == summary["accounting"]["expected_open_loop_arrivals"]
    assert summary["model"] == "fixed"  # taken from /v1/models
    assert summary["phases"]["steady"]["errors"] == 0
    _check_latency(summary)
    assert "exit code 0" in out


def _start_master(scenario: Path, tmp: Path, workers: int) -> tuple[subprocess.Popen[str], int, Path]:
    log = tmp / "master.log"
    fh = log.open("w")
    proc = subprocess.Popen(
        [PY, "-m", "loadgen.cli", "run", str(scenario), "--out", str(tmp / "out"), "--master",
         "--expect-workers", str(workers), "--expect-workers-max-wait", "30",
         "--master-bind-host", "127.0.0.1", "--master-bind-port", "0"],
        cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        for line in log.read_text().splitlines():
            if line.startswith("inferload master listening on"):
                return proc, int(line.rsplit(":", 1)[1]), log
        assert proc.poll() is None, log.read_text()
        time.sleep(0.1)
    _stop(proc)
    raise AssertionError("master did not start: " + log.read_text())


def _start_worker(port: int, tmp: Path, i: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PY, "-m", "loadgen.cli", "worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
        cwd=REPO, stdout=(tmp / f"worker{i}.log").open("w"), stderr=subprocess.STDOUT, text=True,
    )


def test_master_and_two_workers(server: int, tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, server, steady_s=6, extra="sinks: {aggregate_interval_s: 1}\n")
    before = _stats(server)["requests"]
    master, port, log = _start_master(scenario, tmp_path, 2)
    workers = [_start_worker(port, tmp_path, i) for i in range(2)]
    try:
        rc = master.wait(timeout=90)
        for w in workers:
            w.wait(timeout=20)
    finally:
        for p in [master, *workers]:
            _stop(p)
    assert rc == 0, log.read_text()
    assert all(w.returncode == 0 for w in workers)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["workers"] == 2 and summary["mode"] == "distributed"
    sent = _stats(server)["requests"] - before
    slots = _plan_slots(scenario, 2)
    union = sorted(a.idx for s in slots for a in s)
    assert union == list(range(len(union)))  # the two slots partition the global sequence
    for phase in ("warm", "steady"):
        assert summary["phases"][phase]["requests"] == sum(1 for s in slots for a in s if a.phase == phase)
    total = sum(p["requests"] for p in summary["phases"].values())
    assert sent == total == len(union)
    _check_latency(summary)
    # the master's run folder holds every request's raw point, shipped by the workers with their
    # reports (issue 9: the run folder alone serves reports), and the interval points
    points = tmp_path / "out" / "points"
    raw = [line for line in (points / "requests.lp").read_text().splitlines() if line]
    idx = sorted(int(float(re.search(r"[ ,]idx=([0-9.e+]+)", line).group(1))) for line in raw)  # type: ignore[union-attr]
    assert idx == union, "each request exactly once"
    assert {line.split(" ", 1)[0].split(",worker=", 1)[1].split(",", 1)[0] for line in raw} == {"w0", "w1"}
    # Regression (interval points of a distributed run): the workers' deltas rode on Locust's
    # stats report (every 3 s), so two of three 1-s intervals held no request and the third 3 s of
    # them (a req_rate of 3x the true rate). Now each interval holds that interval's requests.
    per_interval: dict[int, float] = {}
    for line in (points / "intervals.lp").read_text().splitlines():
        if line.startswith("llm_throughput,") and ",phase=steady" in line:
            fields = dict(kv.split("=", 1) for kv in line.split(" ")[1].split(","))
            t = int(line.rsplit(" ", 1)[1])
            per_interval[t] = per_interval.get(t, 0.0) + float(fields["requests"])
    times = sorted(per_interval)
    assert len(times) >= 5, per_interval
    gaps = {round((b - a) / 1e9, 3) for a, b in zip(times, times[1:], strict=False)}
    assert gaps == {1.0}, f"an interval point every aggregate interval, stamped at its boundary: {gaps}"
    inner = [per_interval[t] for t in times[1:-1]]  # the first and last may be partial
    assert all(n > 0 for n in inner), inner  # 20 req/s: P(an empty 1 s interval) ~ 2e-9
    assert max(inner) < 3 * 20, inner  # never 3 s of requests in one interval


def _wait_for_plan(worker_log: Path, timeout_s: float = 30.0) -> None:
    """Until the worker logged that it received its plan (t0 is ~3 s later)."""
    deadline = time.time() + timeout_s
    while "plan received" not in worker_log.read_text() and time.time() < deadline:
        time.sleep(0.2)


def _lose_worker1(server: int, tmp_path: Path, steady_s: float,
                  lose: Callable[[subprocess.Popen[str]], None]) -> tuple[Path, dict[str, Any], int]:
    """Master + 2 workers; ``lose`` worker 1 four seconds into the run.  The run must exit 3
    (it lost a worker); returns the scenario, the summary and the requests the endpoint saw."""
    scenario = _scenario(tmp_path, server, steady_s=steady_s)
    before = _stats(server)["requests"]
    master, port, log = _start_master(scenario, tmp_path, 2)
    workers = [_start_worker(port, tmp_path, i) for i in range(2)]
    try:
        _wait_for_plan(tmp_path / "worker1.log")
        time.sleep(3 + 4)  # t0 is ~3 s after the plan; lose the worker 4 s into the run
        lose(workers[1])
        rc = master.wait(timeout=90)
        workers[0].wait(timeout=20)
    finally:
        for p in [master, *workers]:
            _stop(p)
    assert rc == 3, log.read_text()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    return scenario, summary, _stats(server)["requests"] - before


def test_killed_worker_slot_is_adopted(server: int, tmp_path: Path) -> None:
    scenario, summary, sent = _lose_worker1(server, tmp_path, 16, lambda w: os.kill(w.pid, signal.SIGKILL))
    (lost,) = summary["generator"]["lost_slots"]
    assert lost["at_s"] - lost["silent_since_s"] <= 10.0
    assert lost["lost_in_gap"] >= 1
    assert summary["overall"]["lost_in_gap"] + summary["phases"]["warm"]["lost_in_gap"] == lost["lost_in_gap"]
    assert "lost a worker" in summary["verdict"]["rule"]
    slots = _plan_slots(scenario, 2)
    dead = slots[lost["slot"]]
    survivor = slots[1 - lost["slot"]]
    before_silence = sum(1 for a in dead if a.offset_s <= lost["silent_since_s"])
    after_adoption = sum(1 for a in dead if a.offset_s > lost["at_s"])
    # the survivor sent all of its own slot and the adopted slot's arrivals after adoption
    assert sent >= len(survivor) + before_silence + after_adoption
    assert after_adoption > 0
    acc = summary["accounting"]
    assert acc["accounted"] + acc["unaccounted"] == len(survivor) + len(dead)


def _terminate(worker: subprocess.Popen[str]) -> None:
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0


def test_terminated_worker_drains_reports_and_its_slot_is_adopted(server: int, tmp_path: Path) -> None:
    _, summary, sent = _lose_worker1(server, tmp_path, 12, _terminate)
    (lost,) = summary["generator"]["lost_slots"]
    assert lost["at_s"] - lost["silent_since_s"] <= 10.0
    acc = summary["accounting"]
    total = sum(p["requests"] for p in summary["phases"].values())
    # a graceful exit loses nothing: every request is reported, the gap is counted exactly
    assert acc["unaccounted"] == 0, acc
    assert sent == total
    assert total + lost["lost_in_gap"] == acc["expected_open_loop_arrivals"]


def test_stop_cancels_and_counts_in_flight_streams(tmp_path: Path) -> None:
    proc, port = _start_server("--ttft", "0.05", "--itl", "0.5")  # 16 tokens: 7.6 s streams
    try:
        scenario = _scenario(tmp_path, port, steady_s=2, rate=10, stop_timeout=1, output_tokens=16)
        rc, summary, out = _run([str(scenario)], tmp_path)
        stats = _stats(port)
        deadline = time.time() + 5
        while stats["inflight"] and time.time() < deadline:
            time.sleep(0.2)
            stats = _stats(port)
    finally:
        _stop(proc)
    total = sum(p["requests"] for p in summary["phases"].values())
    cancelled = sum(p["cancelled"] for p in summary["phases"].values())
    assert total == stats["requests"] == summary["accounting"]["expected_open_loop_arrivals"]
    assert cancelled == total  # every stream outlived plan end + 1 s drain
    assert stats["completed"] == 0 and stats["inflight"] == 0
    assert summary["phases"]["steady"]["errors"] == 0  # cancelled is not an error
    assert rc in (0, 1), out


def test_model_lookup_failure_is_bad_input(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    scenario = _scenario(tmp_path, port, steady_s=1)
    rc, summary, out = _run([str(scenario)], tmp_path, timeout=30)
    assert rc == 2 and summary == {}
    assert "target.model is not set" in out and "/v1/models" in out and "Traceback" not in out


def test_closed_loop_phase_and_max_inflight_drops(server: int, tmp_path: Path) -> None:
    scenario = tmp_path / "cl.yaml"
    scenario.write_text(
        f"""name: cl
target: {{base_url: "http://127.0.0.1:{server}", model: fixed}}
workload: {{prompt_tokens: 16, output_tokens: 8}}
max_inflight: 2
phases:
  - name: closed
    duration: 3s
    arrivals: {{process: concurrency, users: 3}}
  - name: open
    duration: 3s
    arrivals: {{process: poisson, rate: 40}}
generator: {{stop_timeout_s: 1, max_cpu_percent: 100, max_schedule_lag_p99_ms: 1000}}
"""
    )
    before = _stats(server)["requests"]
    rc, summary, out = _run([str(scenario)], tmp_path)
    assert rc == 0, out
    closed, open_ = summary["phases"]["closed"], summary["phases"]["open"]
    assert closed["loop"] == "closed" and closed["closed_loop_users"] == 3
    # 3 users back to back, ~0.12 s per request for 3 s: about 75, never more than 3 in flight
    assert 30 <= closed["requests"] <= 3 * 3 / 0.11 and closed["errors"] == 0
    assert open_["loop"] == "open" and open_["dropped_max_inflight"] > 0
    assert open_["requests"] + open_["dropped_max_inflight"] == open_["expected_requests"]
    assert _stats(server)["requests"] - before == closed["requests"] + open_["requests"]


def test_quickstart_against_gpusim(tmp_path: Path) -> None:
    proc = subprocess.run(
        [PY, "-m", "loadgen.cli", "quickstart", "--duration-scale", "0.1", "--out", str(tmp_path / "qs")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode in (0, 1), out
    summary = json.loads((tmp_path / "qs" / "summary.json").read_text())
    assert summary["scenario"] == "quickstart" and summary["overall"]["requests"] > 0
    assert "gpusim at http://127.0.0.1:" in out and "summary:" in out
