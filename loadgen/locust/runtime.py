"""Builds a worker's :class:`~loadgen.locust.scheduler.Runtime` from the master's plan message.

The scenario travels as a dict (validated again here, so a worker needs no file); from it come
the plan (the seeded global arrival sequence), the workload (prompt text) and one streaming
client whose pool is sized to the slot's peak in-flight requests, so the pool never becomes a
hidden queue.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loadgen.locust.messages import PlanMsg
from loadgen.locust.scheduler import Runtime

CLOSED_LOOP_STREAM = 2  # seed stream of closed-loop requests (the plan uses 0 and 1)
CLOSED_LOOP_IDX_BASE = 1 << 50
DEFAULT_CONNECTIONS = 4096  # when neither generator.connections nor max_inflight bound it


def scenario_from_dict(data: dict[str, Any]) -> Any:
    from loadgen.config.scenario import Scenario

    return Scenario.model_validate(data)


def scenario_to_dict(scenario: Any) -> dict[str, Any]:
    data: dict[str, Any] = scenario.model_dump(mode="json", by_alias=True)
    return data


def pool_size(scenario: Any, n_slots: int) -> int:
    """Connections per worker: ``generator.connections``, else the in-flight cap plus closed-loop users."""
    if scenario.generator.connections:
        return int(scenario.generator.connections)
    caps = [scenario.phase_max_inflight(p) for p in scenario.phases]
    if all(c is not None for c in caps):
        users = 0
        for p in scenario.phases:
            users = max(users, int(getattr(p.arrivals, "users", 0) or 0))
        return max(8, -(-max(int(c) for c in caps) // max(1, n_slots)) + users + 4)
    return DEFAULT_CONNECTIONS


class ClosedLoopRequests:
    """Requests of closed-loop ``concurrency{users}`` phases, which have no arrival sequence.

    Class and lengths are drawn from the workload like the plan's arrivals, from a stream seeded
    by ``(seed, phase, slot, user)``, so reruns repeat them.  They are not part of the global
    arrival sequence: their ``idx`` is ``2**50 + slot * 2**36 + n`` (unique per run, below 2**53).
    """

    def __init__(self, scenario: Any, plan: Any) -> None:
        wl = scenario.workload
        self.seed = int(scenario.seed)
        self.plan = plan
        self.names = [c.name for c in wl.classes]
        weights = np.array([c.weight for c in wl.classes], dtype=np.float64)
        self.cum = np.cumsum(weights) / weights.sum()
        self.prompt = [wl.prompt_dist(c) for c in wl.classes]
        self.output = [wl.output_dist(c) for c in wl.classes]
        self.rows = getattr(plan, "dataset_rows", None)
        self._rngs: dict[tuple[int, int, int], np.random.Generator] = {}
        self._next: dict[int, int] = {}

    def __call__(self, phase_index: int, slot: int, user: int, seq: int) -> Any:
        from loadgen.plan import Arrival

        key = (phase_index, slot, user)
        rng = self._rngs.get(key)
        if rng is None:
            rng = self._rngs[key] = np.random.default_rng(
                np.random.SeedSequence(self.seed, spawn_key=(CLOSED_LOOP_STREAM, *key))
            )
        c = min(int(np.searchsorted(self.cum, rng.random(), side="right")), len(self.names) - 1)
        p = int(self.prompt[c].sample(rng, 1)[0])
        o = int(self.output[c].sample(rng, 1)[0])
        row = int(rng.integers(0, self.rows)) if self.rows else None
        n = self._next[slot] = self._next.get(slot, 0) + 1
        w = self.plan.phases[phase_index]
        return Arrival(CLOSED_LOOP_IDX_BASE + (slot << 36) + n, float(w.start_s), w.name, phase_index, self.names[c], p, o, row)


def build_runtime(msg: PlanMsg) -> Runtime:
    from loadgen.openai.client import OpenAIClient
    from loadgen.openai.payloads import build_request
    from loadgen.plan import Plan
    from loadgen.workload import Workload

    scenario = scenario_from_dict(msg.scenario)
    plan = Plan(scenario)
    workload = Workload(scenario)
    client = OpenAIClient(scenario.target, max_connections=pool_size(scenario, msg.n_slots))
    return Runtime(
        scenario=scenario,
        plan=plan,
        make_request=lambda arrival: build_request(scenario, workload, arrival),
        send=client.send,
        closed_loop_request=ClosedLoopRequests(scenario, plan),
    )


__all__ = ["CLOSED_LOOP_IDX_BASE", "CLOSED_LOOP_STREAM", "DEFAULT_CONNECTIONS", "ClosedLoopRequests", "build_runtime", "pool_size", "scenario_from_dict", "scenario_to_dict"]
