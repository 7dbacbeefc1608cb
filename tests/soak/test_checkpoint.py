"""Checkpoints (loadgen/checkpoint.py, issue 13 §2-3) without processes: the atomic file, reading
errors, the gap's lost arrivals, the split of the global sequence at a restart, and the live SLO
state surviving a JSON round trip."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from collectors import schema
from collectors.counters import C_DROPPED, C_LOST_IN_GAP, C_OK, C_REQUESTS, Counters
from collectors.histograms import HistogramSet
from loadgen.checkpoint import (
    CHECKPOINT_FILE,
    Checkpointer,
    check_resumable,
    gap_losses,
    load_checkpoint,
    write_atomic,
)
from loadgen.config import load_scenario
from loadgen.locust.messages import PlanMsg
from loadgen.plan import Plan
from loadgen.slo_live import LiveSlo
from loadgen.slo_objectives import LiveObjective
from userinput.errors import InputError

SCENARIO = """\
seed: 3
target: {base_url: "http://127.0.0.1:8000"}
workload:
  prompt_tokens: 32
  output_tokens: 16
  classes:
    - {name: chat, weight: 3}
    - {name: batch, weight: 1}
phases:
  - {name: warm, kind: warmup, duration: 5, arrivals: {process: poisson, rate: 20}}
  - {name: closed, duration: 5, arrivals: {process: concurrency, users: 2}}
  - {name: steady, duration: 20, arrivals: {process: poisson, rate: 30}}
"""


@pytest.fixture
def plan(tmp_path: Path) -> Plan:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    return Plan(load_scenario(path))


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "run" / CHECKPOINT_FILE
    write_atomic(path, '{"a": 1}')
    write_atomic(path, '{"a": 2}')
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in path.parent.iterdir()] == [CHECKPOINT_FILE]


def test_reading_a_missing_or_foreign_checkpoint_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no checkpoint.json"):
        load_checkpoint(tmp_path)
    (tmp_path / CHECKPOINT_FILE).write_text('{"schema": "something/else"}')
    with pytest.raises(InputError, match="not an inferload checkpoint"):
        load_checkpoint(tmp_path)
    (tmp_path / CHECKPOINT_FILE).write_text("{trunc")
    with pytest.raises(InputError, match="cannot read"):
        load_checkpoint(tmp_path)


def test_finished_or_stopping_runs_are_not_resumable(tmp_path: Path) -> None:
    check_resumable({"final": False, "stop_requested_unix": None}, tmp_path)
    with pytest.raises(InputError, match="finished"):
        check_resumable({"final": True}, tmp_path)
    with pytest.raises(InputError, match="stopping"):
        check_resumable({"final": False, "stop_requested_unix": 123.0}, tmp_path)


def test_gap_losses_are_the_due_arrivals_the_checkpoint_does_not_account_for(plan: Plan) -> None:
    until = 17.5
    due = Counter((a.phase, a.traffic_class) for a in plan.arrivals() if a.offset_s <= until)
    assert due[("warm", "chat")] and due[("steady", "batch")]
    seen = Counters()  # what the checkpoint holds: some sent, some dropped, an earlier gap
    seen.add("warm", "chat", C_REQUESTS, due[("warm", "chat")] - 7)
    seen.add("warm", "chat", C_DROPPED, 2)
    seen.add("steady", "batch", C_LOST_IN_GAP, 1)
    lost = gap_losses(plan, seen, until, {"warm", "steady"})
    assert lost.get("warm", "chat", C_LOST_IN_GAP) == 5
    assert lost.get("warm", "batch", C_LOST_IN_GAP) == due[("warm", "batch")]
    assert lost.get("steady", "batch", C_LOST_IN_GAP) == due[("steady", "batch")] - 1
    assert lost.get("steady", "chat", C_LOST_IN_GAP) == due[("steady", "chat")]
    assert "closed" not in lost.phases()  # closed-loop phases have no schedule to lose


def test_restart_split_neither_duplicates_nor_skips_an_arrival(plan: Plan) -> None:
    """Regression pin: the gap counts offsets <= the restart offset, the workers send offsets > it
    (``plan.arrivals(slot, n, start_after_s)``), for any worker count after the restart."""
    everything = [a.idx for a in plan.arrivals()]
    restart = next(a.offset_s for a in plan.arrivals() if a.offset_s > 12.0)  # exactly on an arrival
    lost_idx = [a.idx for a in plan.arrivals() if a.offset_s <= restart]
    for n in (1, 2, 3):
        sent = [a.idx for s in range(n) for a in plan.arrivals(s, n, restart)]
        assert not set(sent) & set(lost_idx)
        assert sorted(sent + lost_idx) == everything
    assert gap_losses(plan, Counters(), restart, {"warm", "steady"}).total(C_LOST_IN_GAP) == len(lost_idx)


def test_plan_message_carries_the_restart_offset() -> None:
    msg = PlanMsg("r", {}, 0, 2, 100.0, "w0", 42.5)
    assert PlanMsg.from_dict(msg.to_dict()).start_after_s == 42.5
    old = msg.to_dict()
    del old["start_after_s"]  # a plan from a master without restarts
    assert PlanMsg.from_dict(old).start_after_s is None


def _interval(values: list[float]) -> tuple[HistogramSet, Counters]:
    hs, c = HistogramSet(), Counters()
    hs.record_many(schema.M_TTFT, "steady", "chat", values)
    c.add("steady", "chat", C_REQUESTS, len(values))
    c.add("steady", "chat", C_OK, len(values))
    return hs, c


def test_live_slo_state_survives_a_json_round_trip() -> None:
    obj = LiveObjective("ttft_p99", schema.M_TTFT, 99.0, 0.5, 0.01)

    def make() -> LiveSlo:
        return LiveSlo([obj], windows_s=[10.0, 30.0], judged_phases=["steady"],
                       run_tags={"run_id": "r", "scenario": "s"}, min_requests=1)

    slow, fast = [0.9] * 20, [0.1] * 20
    a = make()
    for k, vals in enumerate([fast, slow, slow]):  # a violation opens and stays open
        a.on_interval(10.0 * (k + 1), *_interval(vals), interval_s=10.0)
    b = make()
    b.restore(json.loads(json.dumps(a.state())))
    assert b.summary() == a.summary() and b.summary()[0]["end_unix"] is None
    points = []
    for live in (a, b):  # the same next intervals give the same points and the same violation end
        out = live.on_interval(40.0, *_interval(fast), interval_s=10.0)
        out += live.on_interval(50.0, *_interval(fast), interval_s=10.0)
        points.append([(p.measurement, p.tags, p.fields, p.time_ns) for p in out])
    assert points[0] == points[1] and points[0]
    assert a.last == b.last and a.summary() == b.summary() and a.summary()[0]["end_unix"] == 40.0


def _coordinator(**kw: object) -> SimpleNamespace:
    hs, c = _interval([0.1, 0.2])
    base: dict[str, object] = dict(
        run_id="r", scenario_dict={"name": "s"}, local=True, started_at=None, t0_wall=100.0,
        stop_requested_at=None, stopped_by_sink=False, telemetry=SimpleNamespace(stop_requested=False),
        n_slots=1, slot_owner={0: "local"}, labels={"local": "local"}, done_slots=set(), lost_slots=[], gaps=[],
        cpu_max={}, busy=SimpleNamespace(to_dict=lambda: {}, add=lambda *_: None), busy_by_worker={},
        hs=hs, counters=c, live=None, plan=SimpleNamespace(duration_s=60.0),
        scenario=SimpleNamespace(slo=None, slo_phases=lambda: ["steady"]),
    )
    base.update(kw)
    return SimpleNamespace(**base)


def test_checkpointer_writes_the_merged_state_and_never_raises(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / CHECKPOINT_FILE
    writer = Checkpointer(path)
    with caplog.at_level(logging.INFO, logger="loadgen.checkpoint"):
        writer.save(_coordinator(), 130.0, final=True)
    data = load_checkpoint(tmp_path)
    assert data["offset_s"] == 30.0 and data["final"] is True
    restored = HistogramSet()
    restored.merge_encoded(data["hist"])
    assert restored.count(schema.M_TTFT) == 2 and data["counters"]
    assert "checkpoint at 0:00:30 of 0:01:00, 2 requests" in caplog.text
    writer.save(_coordinator(hs=None), 140.0, final=True)  # a broken state: logged, the run goes on
    assert "checkpoint failed" in caplog.text
    assert load_checkpoint(tmp_path)["offset_s"] == 30.0  # the previous checkpoint is intact
