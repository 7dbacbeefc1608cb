"""A master killed mid-run and resumed from its checkpoint (issue 13 §3), and clean stops (§6).

Real processes on loopback against the fixed-latency stream server:

- distributed: master + 2 workers, SIGKILL the master (and its workers) after a checkpoint,
  restart it with ``--resume`` and 2 fresh workers: the run keeps its id and t0, the summary
  covers the whole run with the gap reported, and the accounting is exact (expected = requests
  + dropped + lost in the gap); the endpoint saw every recorded request plus at most the
  arrivals lost in the gap;
- a worker whose master died stops sending after 15 s and leaves; a master resumed on the same
  port at once ignores that worker's reports (the accounting stays exact);
- local mode: the same with one process, and ``inferload report``'s summary of the crashed run
  (from its checkpoint) before the resume;
- SIGTERM and ``--max-duration``: drain, final checkpoint, summary, the verdict's exit code.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    proc = subprocess.Popen([PY, "-m", "tests.support.stream_server", "--port", "0", "--ttft", "0.05",
                             "--itl", "0.01"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("PORT "), line
    yield int(line.split()[1])
    proc.terminate()
    proc.wait(timeout=10)


def _requests_seen(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
        return int(json.loads(r.read())["requests"])


def _scenario(tmp: Path, port: int, steady_s: float) -> Path:
    path = tmp / "scenario.yaml"
    path.write_text(f"""name: soak
seed: 11
target:
  base_url: http://127.0.0.1:{port}
  model: m
workload:
  prompt_tokens: 16
  output_tokens: 8
phases:
  - name: warm
    kind: warmup
    duration: 2s
    arrivals: {{process: poisson, rate: 10}}
  - name: steady
    duration: {steady_s}s
    arrivals: {{process: poisson, rate: 20}}
slo:
  objectives:
    - {{metric: ttft, percentile: 50, max_ms: 1000}}
  max_error_rate: 0.0
generator:
  stop_timeout_s: 3
  max_cpu_percent: 100
  max_schedule_lag_p99_ms: 1000
  checkpoint_interval_s: 2s
""")
    return path


def _cmd(*args: str) -> list[str]:
    return [PY, "-m", "loadgen.cli", *args]


def _checkpoint_offset(out: Path) -> float:
    try:
        return float(json.loads((out / "checkpoint.json").read_text())["offset_s"])
    except (OSError, ValueError, KeyError):
        return -1.0


def _wait_checkpoint(out: Path, offset_s: float, proc: subprocess.Popen[Any], timeout_s: float = 40) -> float:
    """Until the run folder's checkpoint is at least ``offset_s`` into the plan."""
    deadline = time.time() + timeout_s
    while time.time() < deadline and proc.poll() is None:
        off = _checkpoint_offset(out)
        if off >= offset_s:
            return off
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint at >= {offset_s} s (last {_checkpoint_offset(out)})")


def _start_master(args: list[str], log: Path, workers: int = 2, port: int = 0) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(_cmd("run", *args, "--master", "--expect-workers", str(workers),
                                 "--expect-workers-max-wait", "30", "--master-bind-host", "127.0.0.1",
                                 "--master-bind-port", str(port)),
                            cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        for line in log.read_text().splitlines():
            if line.startswith("inferload master listening on"):
                return proc, int(line.rsplit(":", 1)[1])
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("master did not start: " + log.read_text())


def _workers(port: int, tmp: Path, tag: str, n: int = 2) -> list[subprocess.Popen[str]]:
    return [subprocess.Popen(_cmd("worker", "--master-host", "127.0.0.1", "--master-port", str(port)),
                             cwd=REPO, stdout=(tmp / f"worker-{tag}{i}.log").open("w"),
                             stderr=subprocess.STDOUT, text=True) for i in range(n)]


def _kill(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)


def _check_whole_run(summary: dict[str, Any], ckpt_offset: float, seen_by_endpoint: int,
                     max_lost_fraction: float = 0.5) -> int:
    """The resumed run's summary: one gap, exact accounting; returns the arrivals lost in the gap."""
    assert len(summary["gaps"]) == 1, summary.get("gaps")
    gap = summary["gaps"][0]
    assert gap["checkpoint_offset_s"] == pytest.approx(ckpt_offset, abs=0.01)
    assert gap["restart_offset_s"] > gap["checkpoint_offset_s"]
    lost = int(gap["lost_in_gap"])
    acc = summary["accounting"]
    assert acc["unaccounted"] == 0 and acc["not_sent_after_stop"] == 0, acc
    assert acc["accounted"] == acc["expected_open_loop_arrivals"], acc
    phases = summary["phases"]
    assert sum(p["lost_in_gap"] for p in phases.values()) == lost
    recorded = sum(p["requests"] for p in phases.values())
    dropped = sum(p["dropped_max_inflight"] for p in phases.values())
    assert recorded + dropped + lost == acc["expected_open_loop_arrivals"]
    # the merged histograms hold every recorded request; the endpoint saw those plus at most the
    # arrivals lost in the gap (sent before the master died, never reported)
    assert sum(p["latency"]["ttft"]["count"] for p in phases.values()) == sum(p["ok"] for p in phases.values())
    assert recorded <= seen_by_endpoint <= recorded + lost, (recorded, seen_by_endpoint, lost)
    assert 0 < lost < acc["expected_open_loop_arrivals"] * max_lost_fraction
    return lost


def _drift_covers_the_time_before_the_kill(out: Path, summary: dict[str, Any], ckpt_offset: float,
                                           before: int = 1) -> None:
    """The drift trends carried across the restart (the checkpoint's ``soak`` entry): the resumed
    run's ``ttft_p50`` series starts with an interval from before the kill and holds more values
    than the ``before`` the crashed run had."""
    final = json.loads((out / "checkpoint.json").read_text())
    bins = final["soak"]["drift"]["series"]["ttft_p50"]["bins"]
    assert bins["t"][0] * 3600 <= ckpt_offset, (bins["t"], ckpt_offset)  # hours after t0
    series = summary["drift"]["series"]["ttft_p50"]
    assert series["values"] == bins["values"] == sum(bins["n"]) and series["values"] > before


def test_master_sigkill_and_resume_keeps_the_schedule_and_the_accounting(server: int, tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, server, 18)
    out = tmp_path / "out"
    before = _requests_seen(server)
    master, port = _start_master([str(scenario), "--out", str(out)], tmp_path / "master1.log")
    workers = _workers(port, tmp_path, "a")
    try:
        ckpt_offset = _wait_checkpoint(out, 6.0, master)
        master.kill()  # SIGKILL: no summary, the checkpoint is all that is left
        master.wait(timeout=10)
        _kill(workers)  # as an orchestrator restarts them (docs/soak.md)
        assert not (out / "summary.json").exists()
        first = json.loads((out / "checkpoint.json").read_text())
        assert first["final"] is False and first["mode"] == "distributed"
        master, port = _start_master(["--resume", str(out)], tmp_path / "master2.log")
        workers = _workers(port, tmp_path, "b")
        rc = master.wait(timeout=60)
        for w in workers:
            w.wait(timeout=20)
    finally:
        _kill([master, *workers])
    log = (tmp_path / "master2.log").read_text()
    assert rc == 0, log[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run_id"] == first["run_id"] == "out"
    assert summary["t0_unix"] == pytest.approx(first["t0_unix"], abs=1e-6)  # same global schedule
    assert summary["mode"] == "distributed" and summary["workers"] == 2
    assert summary["generator"]["lost_slots"] == [] and "partial" not in summary
    _check_whole_run(summary, ckpt_offset, _requests_seen(server) - before)
    final = json.loads((out / "checkpoint.json").read_text())
    assert final["final"] is True and len(final["gaps"]) == 1
    _drift_covers_the_time_before_the_kill(out, summary, ckpt_offset)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_worker_of_a_dead_master_stops_and_the_resumed_master_ignores_it(server: int, tmp_path: Path) -> None:
    """Regressions: Locust's worker kept sending for 60 s after its master died (load nothing
    records, on top of the restarted run's workers); a restarted master on the same port merged
    that worker's reports, counting its results twice (accounting above the plan)."""
    from loadgen.locust.messages import MASTER_SILENT_S

    scenario = _scenario(tmp_path, server, 28)
    out, port = tmp_path / "out", _free_port()
    before = _requests_seen(server)
    master, _ = _start_master([str(scenario), "--out", str(out)], tmp_path / "master1.log", 1, port)
    [old] = _workers(port, tmp_path, "a", 1)
    workers = [old]
    try:
        ckpt_offset = _wait_checkpoint(out, 4.0, master)
        master.kill()
        master.wait(timeout=10)
        killed = time.time()
        # the restarted master listens on the same port at once: the old worker reaches it
        master, _ = _start_master(["--resume", str(out)], tmp_path / "master2.log", 1, port)
        rc_old = old.wait(timeout=MASTER_SILENT_S + 15)
        left_after = time.time() - killed
        workers.append(_workers(port, tmp_path, "b", 1)[0])
        rc = master.wait(timeout=60)
        workers[1].wait(timeout=20)
    finally:
        _kill([master, *workers])
    assert rc_old == 0 and "no heartbeat from the master" in (tmp_path / "worker-a0.log").read_text()
    assert MASTER_SILENT_S - 1 <= left_after <= MASTER_SILENT_S + 3 + 6  # + drain (stop_timeout_s 3) + slack
    assert rc == 0, (tmp_path / "master2.log").read_text()[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    # the gap spans the old worker's 15 s of waiting: most of this short run
    assert _check_whole_run(summary, ckpt_offset, _requests_seen(server) - before, 0.9) > 15 * 20 * 0.5


def test_local_resume_and_report_of_the_crashed_run(server: int, tmp_path: Path) -> None:
    from loadgen.reporting.runfolder import load_summary

    scenario = _scenario(tmp_path, server, 14)
    out = tmp_path / "out"
    before = _requests_seen(server)
    proc = subprocess.Popen(_cmd("run", str(scenario), "--out", str(out)), cwd=REPO,
                            stdout=(tmp_path / "run1.log").open("w"), stderr=subprocess.STDOUT)
    try:
        ckpt_offset = _wait_checkpoint(out, 6.0, proc)
        proc.kill()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # `inferload report` reads a crashed run's checkpoint when there is no summary.json
    partial = load_summary(out)
    assert partial["partial"] is True and partial["checkpoint_offset_s"] == pytest.approx(ckpt_offset, abs=0.01)
    assert partial["phases"]["steady"]["requests"] > 0
    assert partial["verdict"]["exit_code"] == 0, partial["verdict"]
    acc = partial["accounting"]
    assert 0 <= acc["unaccounted"] <= 10, acc  # only requests in flight at the checkpoint
    drift_before = partial["drift"]["series"]["ttft_p50"]["values"]  # the checkpoint's drift trends
    assert drift_before >= 1
    run = subprocess.run(_cmd("run", "--resume", str(out)), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert "master restart" in run.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "local" and summary["started_at"] == partial["started_at"]
    _check_whole_run(summary, ckpt_offset, _requests_seen(server) - before)
    _drift_covers_the_time_before_the_kill(out, summary, ckpt_offset, drift_before)
    # a finished run cannot be resumed: exit 2 with a one-line message
    again = subprocess.run(_cmd("run", "--resume", str(out)), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "nothing to resume" in again.stderr and "Traceback" not in again.stderr


def _stopped_run(tmp_path: Path, proc: subprocess.Popen[str], out: Path) -> dict[str, Any]:
    rc = proc.wait(timeout=60)
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    assert rc == summary["verdict"]["exit_code"] == 0, summary["verdict"]
    assert summary["stopped_early"] is True
    acc = summary["accounting"]
    assert acc["unaccounted"] == 0 and acc["not_sent_after_stop"] > 0, acc
    final = json.loads((out / "checkpoint.json").read_text())
    assert final["final"] is True and final["stop_requested_unix"] is not None
    return summary


def test_sigterm_drains_writes_the_final_checkpoint_and_exits_with_the_verdict(server: int, tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, server, 30)
    out = tmp_path / "out"
    proc = subprocess.Popen(_cmd("run", str(scenario), "--out", str(out)), cwd=REPO,
                            stdout=(tmp_path / "run.log").open("w"), stderr=subprocess.STDOUT, text=True)
    try:
        _wait_checkpoint(out, 4.0, proc)
        proc.send_signal(signal.SIGTERM)
        summary = _stopped_run(tmp_path, proc, out)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert summary["phases"]["steady"]["cancelled"] == 0  # drained, not cut


def test_max_duration_stops_cleanly(server: int, tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, server, 30)
    out = tmp_path / "out"
    proc = subprocess.Popen(_cmd("run", str(scenario), "--out", str(out), "--max-duration", "5s"), cwd=REPO,
                            stdout=(tmp_path / "run.log").open("w"), stderr=subprocess.STDOUT, text=True)
    try:
        summary = _stopped_run(tmp_path, proc, out)
    finally:
        if proc.poll() is None:
            proc.kill()
    steady = summary["phases"]["steady"]
    assert 0 < steady["requests"] < 20 * 5  # about 3 s of 20/s, not 30 s
    assert "--max-duration" in (tmp_path / "run.log").read_text()


def test_bad_max_duration_is_bad_input(tmp_path: Path) -> None:
    run = subprocess.run(_cmd("run", str(tmp_path / "x.yaml"), "--max-duration", "soon"), cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "--max-duration" in run.stderr and "Traceback" not in run.stderr
