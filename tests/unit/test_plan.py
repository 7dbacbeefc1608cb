"""The plan: one seeded global sequence, phases back to back, round-robin slots, attributes."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest

from loadgen.config import load_scenario
from loadgen.plan import Arrival, Plan

DATA = Path(__file__).resolve().parents[1] / "testdata" / "scenarios" / "good"

SCENARIO = """\
seed: {seed}
target: {{base_url: "http://127.0.0.1:8000"}}
workload:
  prompt_tokens: {{dist: uniform, min: 10, max: 1000}}
  output_tokens: 64
  classes:
    - {{name: chat, weight: 3, priority: 1}}
    - {{name: batch, weight: 1, output_tokens: 500}}
phases:
  - {{name: warmup, kind: warmup, duration: 20, arrivals: {{process: poisson, rate: {rate0}}}}}
  - {{name: burst, kind: burst, duration: 30, arrivals: {{process: gamma, rate: 40, burstiness: 0.25}}}}
  - {{name: closed, duration: 5, arrivals: {{process: concurrency, users: 3}}, max_inflight: 7}}
  - {{name: cool, kind: cooldown, duration: 10, arrivals: {{process: ramp, from_rate: 40, to_rate: 0}}}}
max_inflight: 100
"""


def _plan(tmp_path: Path, seed: int = 0, rate0: float = 20, name: str = "s.yaml") -> Plan:
    path = tmp_path / name
    path.write_text(SCENARIO.format(seed=seed, rate0=rate0))
    return Plan(load_scenario(path))


def test_phases_are_back_to_back(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    assert [(w.name, w.start_s, w.end_s) for w in plan.phases] == [
        ("warmup", 0, 20), ("burst", 20, 50), ("closed", 50, 55), ("cool", 55, 65),
    ]
    assert plan.duration_s == 65
    assert [w.index for w in plan.phases] == [0, 1, 2, 3]
    assert plan.phases[1].process == "gamma(rate=40/s, burstiness=0.25)"
    assert plan.phases[2].closed_loop_users == 3 and plan.phases[0].closed_loop_users is None
    assert [w.max_inflight for w in plan.phases] == [100, 100, 7, 100]
    assert plan.expected_counts() == {"warmup": 400, "burst": 1200, "closed": 0, "cool": 200}
    assert [w.rate_hint for w in plan.phases] == [20, 40, 0, 20]


def test_phase_at(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    assert plan.phase_at(0).name == "warmup"
    assert plan.phase_at(19.999).name == "warmup"
    assert plan.phase_at(20.0).name == "burst"
    assert plan.phase_at(64.9).name == "cool"
    assert plan.phase_at(-1).name == "warmup" and plan.phase_at(1e9).name == "cool"


def test_arrivals_are_in_order_in_their_phase_and_numbered(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    arrivals = list(plan.arrivals())
    assert [a.idx for a in arrivals] == list(range(len(arrivals)))
    assert len(arrivals) == plan.count()
    assert all(a.offset_s <= b.offset_s for a, b in itertools.pairwise(arrivals))
    for a in arrivals:
        w = plan.phases[a.phase_index]
        assert w.name == a.phase and w.start_s <= a.offset_s < w.end_s
        assert plan.phase_at(a.offset_s).name == a.phase
    counts = Counter(a.phase for a in arrivals)
    assert "closed" not in counts  # closed loop: no arrivals
    for name, expected in plan.expected_counts().items():
        if expected:
            assert abs(counts[name] - expected) < 5 * expected**0.5 * 2  # gamma(0.25): CV 2


@pytest.mark.parametrize("n_slots", [2, 3, 7])
def test_round_robin_union_is_the_global_sequence(tmp_path: Path, n_slots: int) -> None:
    plan = _plan(tmp_path, seed=11)
    whole = list(plan.arrivals())
    parts = [list(plan.arrivals(slot, n_slots)) for slot in range(n_slots)]
    for slot, part in enumerate(parts):
        assert all(a.idx % n_slots == slot for a in part)
    merged = sorted((a for part in parts for a in part), key=lambda a: a.idx)
    assert merged == whole


def test_start_after_keeps_global_indices(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    whole = list(plan.arrivals(1, 3))
    later = list(plan.arrivals(1, 3, start_after_s=30.0))
    assert later == [a for a in whole if a.offset_s > 30.0]
    assert list(plan.arrivals(0, 1, start_after_s=1e9)) == []


def test_bad_slot_arguments(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    for slot, n in [(0, 0), (2, 2), (-1, 3)]:
        with pytest.raises(ValueError):
            next(plan.arrivals(slot, n))


def test_same_seed_same_sequence_seed_zero_valid_and_distinct(tmp_path: Path) -> None:
    a = list(_plan(tmp_path, seed=0, name="a.yaml").arrivals())
    b = list(_plan(tmp_path, seed=0, name="b.yaml").arrivals())
    c = list(_plan(tmp_path, seed=1, name="c.yaml").arrivals())
    assert a == b
    assert a[0].offset_s != c[0].offset_s
    assert [x.prompt_tokens for x in a[:50]] != [x.prompt_tokens for x in c[:50]]


def test_phases_are_seeded_independently(tmp_path: Path) -> None:
    # Changing phase 0's rate must not change phase 1's times (seeded from (seed, phase index)).
    a = [x.offset_s for x in _plan(tmp_path, rate0=20, name="a.yaml").arrivals() if x.phase == "burst"]
    b = [x.offset_s for x in _plan(tmp_path, rate0=5, name="b.yaml").arrivals() if x.phase == "burst"]
    assert a == b


def test_attributes_depend_on_idx_only(tmp_path: Path) -> None:
    # Same idx -> same class and lengths, whatever the times (the attribute stream is separate).
    a = list(_plan(tmp_path, rate0=20, name="a.yaml").arrivals())
    b = list(_plan(tmp_path, rate0=5, name="b.yaml").arrivals())
    n = min(len(a), len(b))
    assert [(x.traffic_class, x.prompt_tokens, x.output_tokens) for x in a[:n]] == [
        (x.traffic_class, x.prompt_tokens, x.output_tokens) for x in b[:n]
    ]


@pytest.mark.statistical
def test_classes_follow_weights_and_their_lengths(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(SCENARIO.format(seed=5, rate0=20).replace("duration: 20,", "duration: 1000,"))
    arrivals = list(Plan(load_scenario(path)).arrivals())
    assert len(arrivals) > 20_000
    share = sum(a.traffic_class == "chat" for a in arrivals) / len(arrivals)
    assert abs(share - 0.75) < 0.015
    assert {a.output_tokens for a in arrivals if a.traffic_class == "batch"} == {500}
    assert {a.output_tokens for a in arrivals if a.traffic_class == "chat"} == {64}
    prompts = [a.prompt_tokens for a in arrivals]
    assert min(prompts) == 10 and max(prompts) == 1000
    assert abs(sum(prompts) / len(prompts) - 505) < 10
    assert all(a.prompt_row is None for a in arrivals)


def test_dataset_rows_are_chosen_per_idx() -> None:
    plan = Plan(load_scenario(DATA / "dataset_jsonl.yaml"))
    assert plan.dataset_rows == 3
    rows = [a.prompt_row for a in plan.arrivals()]
    assert rows and set(rows) == {0, 1, 2}


def test_all_processes_example_plans() -> None:
    plan = Plan(load_scenario(DATA / "all_processes.yaml"))
    arrivals = list(plan.arrivals())
    assert {a.phase for a in arrivals} == {w.name for w in plan.phases} - {"closed"}
    replay = [round(a.offset_s - 180.0, 9) for a in arrivals if a.phase == "replay"]
    assert replay == [0.0, 1.0, 1.0, 2.5, 4.0, 6.0]  # trace.txt deltas x time_scale 2


def test_arrival_is_frozen_and_slotted() -> None:
    a = Arrival(0, 0.0, "p", 0, "default", 1, 1, None)
    with pytest.raises(AttributeError):
        a.idx = 1  # type: ignore[misc]
    assert not hasattr(a, "__dict__")
