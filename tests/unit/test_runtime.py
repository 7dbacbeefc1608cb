"""A worker's runtime from the plan message: one dataset read and one plan per process; seed streams."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import loadgen.plan
import loadgen.workload
from loadgen import seeds
from loadgen.config import DatasetConfig, load_scenario
from loadgen.locust import runtime
from loadgen.locust.messages import PlanMsg
from tests.support.models import scenario

DATA = Path(__file__).resolve().parents[1] / "testdata" / "scenarios" / "good"
ROOT = Path(__file__).resolve().parents[2]


def _msg(data: dict[str, object]) -> PlanMsg:
    return PlanMsg(run_id="r", scenario=data, slot=0, n_slots=1, t0_wall=0.0, worker_label="local")


def _count_dataset_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    reads: list[Path] = []
    real = loadgen.workload.load_dataset

    def counting(cfg: DatasetConfig) -> list[str]:
        reads.append(cfg.path)
        return real(cfg)

    for module in (loadgen.workload, loadgen.plan):
        monkeypatch.setattr(module, "load_dataset", counting)
    return reads


def test_a_local_run_reads_its_dataset_once_and_builds_one_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = _count_dataset_reads(monkeypatch)
    sc = load_scenario(DATA / "dataset_jsonl.yaml")
    prepared = runtime.prepare(sc)
    rt = runtime.build_runtime(_msg(runtime.scenario_to_dict(sc)))
    assert reads == [DATA / "prompts.jsonl"]
    assert rt.plan is prepared.plan and rt.scenario is sc
    assert prepared.plan.dataset_rows == prepared.workload.dataset_rows == 3


def test_a_worker_builds_from_the_message_once(monkeypatch: pytest.MonkeyPatch) -> None:
    sc = load_scenario(DATA / "dataset_jsonl.yaml")
    data = runtime.scenario_to_dict(sc)
    monkeypatch.setattr(runtime, "_prepared", None)  # a fresh worker process
    reads = _count_dataset_reads(monkeypatch)
    rt = runtime.build_runtime(_msg(data))
    assert len(reads) == 1 and rt.plan.dataset_rows == 3
    other = runtime.build_runtime(_msg({**data, "seed": 5}))  # another scenario is not mistaken for it
    assert other.plan is not rt.plan and other.scenario.seed == 5 and len(reads) == 2


def test_plan_does_not_import_workload() -> None:
    """Regression: loadgen.plan and loadgen.workload imported each other (a lazy import cycle)."""
    code = "import sys, loadgen.plan; sys.exit('loadgen.workload' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60).returncode == 0


def test_seed_streams_are_distinct_and_the_plan_uses_them() -> None:
    streams = [seeds.ARRIVAL_TIMES, seeds.REQUEST_ATTRIBUTES, seeds.PROMPT_TEXT, seeds.CLOSED_LOOP]
    assert len(set(streams)) == len(streams)
    plan = loadgen.plan.Plan(scenario(seed=11))
    assert plan.phase_rng(0).random() == seeds.stream_rng(11, seeds.ARRIVAL_TIMES, 0).random()


def _closed(seed: int) -> Callable[[int, int, int, int], loadgen.plan.Arrival]:
    sc = scenario(seed=seed, workload={"output_tokens": {"dist": "uniform", "min": 1, "max": 1000}},
                  phases=[{"name": "closed", "duration": 5, "arrivals": {"process": "concurrency", "users": 3}}])
    return runtime.ClosedLoopRequests(sc, loadgen.plan.Plan(sc))


def test_closed_loop_requests_repeat_per_seed_and_have_unique_ids() -> None:
    a, b, c = _closed(3), _closed(3), _closed(4)
    first = [a(0, 0, u, s) for u in range(3) for s in range(5)]
    assert first == [b(0, 0, u, s) for u in range(3) for s in range(5)]
    assert [x.output_tokens for x in first] != [c(0, 0, u, s).output_tokens for u in range(3) for s in range(5)]
    ids = [x.idx for x in first] + [a(0, 1, 0, 0).idx]
    assert len(set(ids)) == len(ids) and min(ids) >= runtime.CLOSED_LOOP_IDX_BASE


def test_pool_size_covers_the_in_flight_cap_share_plus_closed_loop_users() -> None:
    phases = [{"name": "a", "duration": 1, "arrivals": {"process": "poisson", "rate": 1}},
              {"name": "b", "duration": 1, "arrivals": {"process": "concurrency", "users": 6}}]
    assert runtime.pool_size(scenario(max_inflight=100, phases=phases), 4) == 25 + 6 + 4
    assert runtime.pool_size(scenario(), 4) == runtime.DEFAULT_CONNECTIONS  # unbounded
    assert runtime.pool_size(scenario(generator={"connections": 7}), 4) == 7
