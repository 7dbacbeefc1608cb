"""A real ``inferload run`` (steady, burst, steady against gpusim) writes the live SLO state the
dashboards and alerts read: one phase region per phase on the plan's clock, rolling ``llm_slo``
windows and ``llm_slo_count`` for judged phases only, ``run_progress`` every interval, and the
burst recovery time in summary.json equal to its ``run_event``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from collectors import schema

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


def parse_lp(line: str) -> tuple[str, dict[str, str], dict[str, float], int]:
    """Line protocol without escapes (inferload's own tags here are plain words)."""
    head, fields, ts = line.rsplit(" ", 2)
    measurement, *tags = head.split(",")
    tag = dict(t.split("=", 1) for t in tags)
    field = {k: float(v) for k, v in (f.split("=", 1) for f in fields.split(","))}
    return measurement, tag, field, int(ts)


def test_live_state_of_a_real_run(tmp_path: Path) -> None:
    sim = subprocess.Popen([PY, "-m", "loadgen.cli", "sim", "--port", "0", "--preset", "tiny-cpu"],
                           cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None
        line = sim.stdout.readline()
        assert "listening on" in line, line
        base = line.strip().rsplit(" ", 1)[-1]
        sc = tmp_path / "s.yaml"
        sc.write_text(f"""name: live-run
seed: 2
target: {{base_url: '{base}'}}
workload: {{prompt_tokens: 32, output_tokens: 8}}
phases:
  - {{name: warm, kind: warmup, duration: 2s, arrivals: {{process: poisson, rate: 6}}}}
  - {{name: steady, kind: steady, duration: 5s, arrivals: {{process: poisson, rate: 6}}}}
  - {{name: burst, kind: burst, duration: 3s, arrivals: {{process: poisson, rate: 15}}}}
  - {{name: after, kind: steady, duration: 5s, arrivals: {{process: poisson, rate: 6}}}}
slo:
  objectives: [{{metric: ttft, percentile: 99, max_ms: 5000}}]
  max_error_rate: 0.5
  live: {{windows: [3s, 10s], min_requests: 3}}
generator: {{stop_timeout_s: 5, max_schedule_lag_p99_ms: 5000, max_cpu_percent: 100}}
sinks:
  aggregate_interval_s: 1
  file: {{path: points.lp}}
""")
        proc = subprocess.run([PY, "-m", "loadgen.cli", "run", str(sc), "--out", str(tmp_path / "out")],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    summary: dict[str, Any] = json.loads((tmp_path / "out" / "summary.json").read_text())
    points = [parse_lp(x) for x in (tmp_path / "points.lp").read_text().splitlines() if x]
    mine = {d.name for d in schema.SLO_MEASUREMENTS}
    for m, tags, fields, _ in points:
        if m not in mine:
            continue
        decl = schema.measurement(m)
        assert set(tags) <= set(decl.tag_names()) and set(fields) <= set(decl.field_names()), (m, tags, fields)

    t0 = float(summary["t0_unix"])
    regions = [(t, f) for m, t, f, _ in points if m == schema.RUN_EVENT.name and t["event"] == "phase"]
    assert [t["phase"] for t, _ in regions] == ["warm", "steady", "burst", "after"]
    starts = {t["phase"]: ts for m, t, _, ts in points if m == schema.RUN_EVENT.name and t["event"] == "phase"}
    for (_tags, f), ph in zip(regions, ("warm", "steady", "burst", "after"), strict=True):
        block = summary["phases"][ph]
        assert starts[ph] / 1e9 == pytest.approx(t0 + block["start_s"], abs=1e-3)
        assert f["end_ms"] / 1000 == pytest.approx(t0 + block["end_s"], abs=1e-3)

    slo_phases = {t["phase"] for m, t, _, _ in points if m == schema.SLO.name}
    assert slo_phases == {"steady", "burst", "after"}  # warmup is never judged
    assert {t["slo_window"] for m, t, _, _ in points if m == schema.SLO.name} == {"3s", "10s"}
    counted = sum(f["requests"] for m, t, f, _ in points
                  if m == schema.SLO_COUNT.name and t["objective"] == "ttft_p99")
    judged_ok = sum(summary["phases"][p]["ok"] for p in ("steady", "burst", "after"))
    assert counted == judged_ok  # every judged request counted once (all intervals valid here)
    assert sum(1 for m, *_ in points if m == schema.RUN_PROGRESS.name) >= 15

    rec = [(f, ts) for m, t, f, ts in points if m == schema.RUN_EVENT.name and t["event"] == "recovery"]
    burst = summary["phases"]["burst"]
    assert burst["burst_recovery_reference"] == "steady"
    if burst["burst_recovery_s"] is None:
        assert rec == []
    else:
        (f, ts), = rec
        assert f["value"] == pytest.approx(burst["burst_recovery_s"])
        assert ts / 1e9 == pytest.approx(t0 + burst["end_s"], abs=1e-3)
    assert summary["slo_violations"] == []
