"""End-of-run summary: per-phase numbers, overall over judged phases, JSON and rich rendering."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from collectors import schema
from collectors.counters import Counters
from collectors.histograms import HistogramSet
from loadgen.config import SloObjective
from loadgen.report import PhaseInfo, build_summary, render, write_summary
from loadgen.slo import RunHealth, decide_exit, judge
from tests.support.models import objective

PHASES = [
    PhaseInfo("warm", "warmup", 0.0, 10.0, "poisson(rate=5/s)", expected_requests=50),
    PhaseInfo("steady", "steady", 10.0, 30.0, "poisson(rate=10/s)", max_inflight=64, expected_requests=200),
    PhaseInfo("cl", "steady", 30.0, 40.0, "concurrency(users=4, closed loop)", closed_loop_users=4),
]


def _data() -> tuple[HistogramSet, Counters]:
    hs, c = HistogramSet(), Counters()
    for i in range(200):
        hs.record(schema.M_TTFT, "steady", "a", 0.050 + (i % 10) / 1000)
        hs.record(schema.M_ITL, "steady", "a", 0.010)
        hs.record(schema.M_SCHEDULE_LAG, "steady", "a", 0.001)
    for _ in range(50):
        hs.record(schema.M_TTFT, "warm", "a", 1.0)
    c.add("warm", "a", "requests", 50)
    c.add("warm", "a", "ok", 50)
    c.add("steady", "a", "requests", 196)
    c.add("steady", "a", "ok", 190)
    c.add("steady", "a", "error:http_429", 4)
    c.add("steady", "a", "cancelled", 2)
    c.add("steady", "a", "dropped_max_inflight", 3)
    c.add("steady", "a", "lost_in_gap", 1)
    c.add("steady", "a", "output_tokens", 1900)
    c.add("cl", "a", "requests", 40)
    return hs, c


def _summary(objectives: list[SloObjective], health: RunHealth | None = None) -> dict:
    hs, c = _data()
    judged = ["steady", "cl"]
    verdict = judge(objectives, 0.05, hs, c, judged)
    health = health or RunHealth(schedule_lag_p99_ms=1.0, max_schedule_lag_p99_ms=50.0)
    return build_summary(
        meta={"run_id": "r1", "scenario": "s", "mode": "local", "workers": 1},
        phases=PHASES, judged_phases=judged, hs=hs, counters=c, verdict=verdict, health=health,
        decision=decide_exit(verdict, health), telemetry={"sink": "none"},
    )


def test_per_phase_numbers() -> None:
    s = _summary([objective("ttft", 99, 100)])
    st = s["phases"]["steady"]
    assert st["requests"] == 196 and st["errors"] == 4 and st["errors_by_class"] == {"http_429": 4}
    assert st["cancelled"] == 2 and st["dropped_max_inflight"] == 3 and st["lost_in_gap"] == 1
    assert st["req_per_s"] == 196 / 20 and st["output_tok_per_s"] == 1900 / 20
    assert 50 <= st["latency"]["ttft"]["p50_ms"] <= 56
    assert abs(st["latency"]["itl"]["p99_ms"] - 10.0) < 0.02
    assert st["loop"] == "open" and st["max_inflight"] == 64
    assert s["phases"]["cl"]["loop"] == "closed" and s["phases"]["cl"]["expected_requests"] is None
    assert st["classes"]["a"]["requests"] == 196 and st["classes"]["a"]["latency"]["ttft"]["count"] == 200


def test_overall_covers_judged_phases_only_and_accounting() -> None:
    s = _summary([objective("ttft", 99, 100)])
    ov = s["overall"]
    assert ov["phases"] == ["steady", "cl"] and ov["loop"] == "mixed"
    assert ov["requests"] == 236  # warmup excluded
    assert ov["latency"]["ttft"]["max_ms"] < 100  # the 1 s warmup TTFTs are not in it
    acc = s["accounting"]
    assert acc["expected_open_loop_arrivals"] == 250
    assert acc["accounted"] == 50 + 196 + 3 + 1 and acc["unaccounted"] == 0
    assert s["telemetry"] == {"sink": "none"}


def test_verdict_in_summary_and_json_round_trip(tmp_path: Path) -> None:
    s = _summary([objective("ttft", 99, 10)])
    assert s["verdict"]["exit_code"] == 1 and not s["slo"]["passed"]
    path = write_summary(s, tmp_path / "run")
    assert json.loads(path.read_text()) == s


def test_invalid_run_marked() -> None:
    s = _summary([objective("ttft", 99, 10)], RunHealth(lost_slots=[{"slot": 1, "lost_in_gap": 7}]))
    assert s["valid"] is False and s["verdict"]["exit_code"] == 3
    assert s["generator"]["lost_slots"] == [{"slot": 1, "lost_in_gap": 7}]


def test_render_prints_phases_slo_and_rule() -> None:
    s = _summary([objective("ttft", 99, 10)])
    buf = io.StringIO()
    render(s, Console(file=buf, width=140, color_system=None))
    out = buf.getvalue()
    for needle in ("steady", "poisson(rate=10/s)", "ttft p99", "FAIL", "exit code 1", "http_429=4"):
        assert needle in out, needle
