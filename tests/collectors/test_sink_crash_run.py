"""A real `inferload run` SIGKILLed during an InfluxDB outage loses at most the last flush interval.

Issue 7 §1, tested exactly as reported: the real influxd behind the v2-write proxy, gpusim
writing a ground-truth trace, InfluxDB killed (or paused: stalled writes, then restarted) a few
seconds into the run, the run process SIGKILLed mid-outage, influxd back, the spool replayed with
``inferload collect replay``, and the request points counted against gpusim's trace.

Regression: the batch in flight when InfluxDB died was retried in memory and never spooled, so
the requests that finished just before the outage were lost (20-21 of 225); with influxd paused,
everything of the last second before the kill.  Now:

- every request gpusim finished more than ``flush_interval_s`` before the kill is in InfluxDB,
  exactly once (counted on a cut placed in a gap between finishes, so no request straddles it);
- in all, lost ≤ the requests gpusim finished in the last flush interval before the kill.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from collectors import schema
from gpusim.trace import read_trace
from tests.support.gpusim import start_gpusim, stop
from tests.support.influx import InfluxStack

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
FLUSH_INTERVAL_S = 1.0
RATE = 20.0
TOKEN_ENV = "INFERLOAD_TEST_INFLUX_TOKEN"


def _start_gpusim(trace: Path) -> tuple[subprocess.Popen[str], str]:
    return start_gpusim("--preset", "tiny-cpu", "--trace", str(trace))


def _scenario(tmp: Path, base_url: str, influx: InfluxStack, db: str) -> Path:
    path = tmp / "scenario.yaml"
    path.write_text(f"""name: sink-crash
seed: 11
target:
  base_url: {base_url}
workload:
  prompt_tokens: 32
  output_tokens: 8
phases:
  - {{name: steady, kind: steady, duration: 120s, arrivals: {{process: poisson, rate: {RATE}}}}}
generator:
  max_schedule_lag_p99_ms: 5000
  max_cpu_percent: 100
sinks:
  aggregate_interval_s: 1s
  influxdb:
    url: {influx.write_url}
    org: test
    bucket: {db}
    token_env: {TOKEN_ENV}
    spool_dir: spool          # relative to this file's folder
    flush_interval_s: {FLUSH_INTERVAL_S}s
    spool_after_s: 1s
    timeout_s: 4s
    retry_initial_s: 500ms
    retry_max_s: 2s
""")
    return path


def _db_points(influx: InfluxStack, db: str) -> list[tuple[float, float]]:
    """(sent, e2e) of every request point; e2e is missing on failed requests (0 then)."""
    rows = influx.server.series(f'SELECT "{schema.F_SENT.name}", "{schema.F_E2E.name}" FROM "{schema.REQUEST.name}"', db)
    return [(float(v[1]), float(v[2] or 0.0)) for v in rows[0]["values"]] if rows else []


def _wait_for_points(influx: InfluxStack, db: str, n: int, timeout_s: float, run: subprocess.Popen[str]) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        assert run.poll() is None, "the run ended early"
        if influx.server.count(db, schema.REQUEST.name, schema.F_SCHEDULE_LAG.name) >= n:
            return
        time.sleep(0.5)
    pytest.fail(f"fewer than {n} request points reached InfluxDB in {timeout_s} s")


def _cut_in_a_gap(finishes: list[float], lo: float, hi: float) -> float:
    """A time in the middle of the largest gap between finishes within [lo, hi]."""
    inside = sorted(f for f in finishes if lo <= f <= hi)
    pairs = list(zip([lo, *inside], [*inside, hi], strict=True))
    a, b = max(pairs, key=lambda p: p[1] - p[0])
    return (a + b) / 2


@pytest.mark.parametrize("outage", ["killed", "paused"])
def test_run_killed_mid_outage_loses_at_most_the_last_flush_interval(
    outage: str, influx: InfluxStack, tmp_path: Path
) -> None:
    db = influx.fresh_db("crash_" + uuid.uuid4().hex[:10])
    trace = tmp_path / "truth.jsonl"
    sim, base_url = _start_gpusim(trace)
    env = dict(os.environ)
    env.setdefault(TOKEN_ENV, "test-token")
    run = None
    paused = False
    try:
        scenario = _scenario(tmp_path, base_url, influx, db)
        run = subprocess.Popen([PY, "-m", "loadgen.cli", "run", str(scenario), "--out", str(tmp_path / "out")],
                               cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _wait_for_points(influx, db, 20, 60, run)
        assert influx.server.proc is not None
        if outage == "killed":
            influx.server.kill()
        else:
            os.kill(influx.server.proc.pid, signal.SIGSTOP)  # writes stall: the proxy waits for an answer
            paused = True
        time.sleep(8.0)  # mid-outage: long after the sink noticed it
        assert run.poll() is None, "the run ended before the kill"
        t_kill = time.time()
        run.send_signal(signal.SIGKILL)
        run.wait(10)
        stderr = run.stderr.read() if run.stderr is not None else ""
        # back up; a paused influxd is restarted, so writes it had buffered but not answered are
        # gone (otherwise the proxy's pending forwards would deliver them after SIGCONT anyway)
        influx.server.kill()
        paused = False
        influx.server.start()
        spool = tmp_path / "spool" / "local"  # <spool_dir>/<worker>
        assert any(spool.glob("seg-*.lp")), f"nothing was spooled; run stderr: {stderr[-2000:]}"
        replay = subprocess.run(
            [PY, "-m", "loadgen.cli", "collect", "replay", str(spool), "--influx-url", influx.write_url,
             "--influx-bucket", db, "--influx-org", "test", "--influx-token-env", TOKEN_ENV, "--timeout", "60"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert replay.returncode == 0, replay.stderr[-2000:]
    finally:
        if paused and influx.server.proc is not None:
            os.kill(influx.server.proc.pid, signal.SIGCONT)
        if run is not None and run.poll() is None:
            run.kill()
            run.wait(10)
        stop(sim)  # SIGTERM: gpusim flushes its trace

    anchor, records = read_trace(trace)
    wall0, scale = float(anchor["wall_time_s"]), float(anchor.get("time_scale", 1.0))
    finishes = [wall0 + float(r["finish_s"]) / scale for r in records
                if r.get("finish_reason") not in (None, "abort", "aborted")]
    before_kill = [f for f in finishes if f < t_kill]
    in_last_interval = [f for f in before_kill if f >= t_kill - FLUSH_INTERVAL_S]
    points = _db_points(influx, db)
    assert len(before_kill) > 120, "too few requests for the test to mean anything"

    # every request finished more than a flush interval before the kill is there, exactly once
    cut = _cut_in_a_gap(finishes, t_kill - FLUSH_INTERVAL_S - 2.0, t_kill - FLUSH_INTERVAL_S)
    early_truth = sum(1 for f in finishes if f < cut)
    early_db = sum(1 for sent, e2e in points if sent + e2e < cut)
    assert early_db == early_truth, (
        f"{outage}: {early_truth - early_db} requests finished > {FLUSH_INTERVAL_S} s before the kill are "
        f"missing ({early_db} of {early_truth}); run stderr: {stderr[-1500:]}")
    lost = len(before_kill) - len(points)
    assert 0 <= lost <= len(in_last_interval), (lost, len(in_last_interval), len(before_kill))
    (tmp_path / "counts.json").write_text(json.dumps({"before_kill": len(before_kill), "in_db": len(points),
                                                      "lost": lost, "last_interval": len(in_last_interval)}))
