"""Builds a worker's :class:`~loadgen.locust.scheduler.Runtime` from the master's plan message.

The scenario travels as a dict (validated again here, so a worker needs no file); from it come
the workload (prompt text; the dataset is read here, once), the plan (the seeded global arrival
sequence) and one streaming client whose pool is sized to the slot's peak in-flight requests, so
the pool never becomes a hidden queue.  A local run prepares its scenario with :func:`prepare`
before the plan message exists; :func:`build_runtime` then reuses that workload and plan.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from loadgen.config import ConcurrencyArrivals, Scenario
from loadgen.locust.messages import PlanMsg
from loadgen.locust.scheduler import Runtime
from loadgen.plan import Arrival, Plan
from loadgen.seeds import CLOSED_LOOP, stream_rng
from loadgen.workload import Workload

CLOSED_LOOP_IDX_BASE = 1 << 50
DEFAULT_CONNECTIONS = 4096  # when neither generator.connections nor max_inflight bound it


def scenario_from_dict(data: dict[str, Any]) -> Scenario:
    return Scenario.model_validate(data)


def scenario_to_dict(scenario: Scenario) -> dict[str, Any]:
    data: dict[str, Any] = scenario.model_dump(mode="json", by_alias=True)
    return data


class Prepared(NamedTuple):
    """A scenario with its workload (the one read of its dataset) and its plan."""

    scenario: Scenario
    workload: Workload
    plan: Plan


_prepared: tuple[dict[str, Any], Prepared] | None = None  # the last one, keyed by its scenario dict


def prepare(scenario: Scenario) -> Prepared:
    """Read the dataset once and build the plan once; a later :func:`build_runtime` for the same
    scenario in this process (a local run) reuses them."""
    global _prepared
    workload = Workload(scenario)
    prepared = Prepared(scenario, workload, Plan(scenario, workload.dataset_rows))
    _prepared = (scenario_to_dict(scenario), prepared)
    return prepared


def _prepared_for(data: dict[str, Any]) -> Prepared:
    if _prepared is not None and _prepared[0] == data:
        return _prepared[1]
    return prepare(scenario_from_dict(data))


def pool_size(scenario: Scenario, n_slots: int) -> int:
    """Connections per worker: ``generator.connections``, else the in-flight cap plus closed-loop users."""
    if scenario.generator.connections:
        return scenario.generator.connections
    caps = [scenario.phase_max_inflight(p) for p in scenario.phases]
    if all(c is not None for c in caps):
        users = max((p.arrivals.users for p in scenario.phases if isinstance(p.arrivals, ConcurrencyArrivals)),
                    default=0)
        return max(8, -(-max(c for c in caps if c is not None) // max(1, n_slots)) + users + 4)
    return DEFAULT_CONNECTIONS


class ClosedLoopRequests:
    """Requests of closed-loop ``concurrency{users}`` phases, which have no arrival sequence.

    Class and lengths are drawn from the workload like the plan's arrivals, from the seed stream
    ``CLOSED_LOOP`` at ``(phase, slot, user)`` (:mod:`loadgen.seeds`), so reruns repeat them.  They
    are not part of the global arrival sequence: their ``idx`` is ``2**50 + slot * 2**36 + n``
    (unique per run, below 2**53).
    """

    def __init__(self, scenario: Scenario, plan: Plan) -> None:
        wl = scenario.workload
        self.seed = scenario.seed
        self.plan = plan
        self.names = [c.name for c in wl.classes]
        weights = np.array([c.weight for c in wl.classes], dtype=np.float64)
        self.cum = np.cumsum(weights) / weights.sum()
        self.prompt = [wl.prompt_dist(c) for c in wl.classes]
        self.output = [wl.output_dist(c) for c in wl.classes]
        self.rows = plan.dataset_rows
        self._rngs: dict[tuple[int, int, int], np.random.Generator] = {}
        self._next: dict[int, int] = {}

    def __call__(self, phase_index: int, slot: int, user: int, seq: int) -> Arrival:
        key = (phase_index, slot, user)
        rng = self._rngs.get(key)
        if rng is None:
            rng = self._rngs[key] = stream_rng(self.seed, CLOSED_LOOP, *key)
        c = min(int(np.searchsorted(self.cum, rng.random(), side="right")), len(self.names) - 1)
        p = int(self.prompt[c].sample(rng, 1)[0])
        o = int(self.output[c].sample(rng, 1)[0])
        row = int(rng.integers(0, self.rows)) if self.rows else None
        n = self._next[slot] = self._next.get(slot, 0) + 1
        w = self.plan.phases[phase_index]
        return Arrival(CLOSED_LOOP_IDX_BASE + (slot << 36) + n, w.start_s, w.name, phase_index, self.names[c], p, o, row)


def build_runtime(msg: PlanMsg) -> Runtime:
    from loadgen.openai.client import OpenAIClient
    from loadgen.openai.payloads import build_request

    scenario, workload, plan = _prepared_for(msg.scenario)
    client = OpenAIClient(scenario.target, max_connections=pool_size(scenario, msg.n_slots))
    return Runtime(
        scenario=scenario,
        plan=plan,
        make_request=lambda arrival: build_request(scenario, workload, arrival),
        send=client.send,
        closed_loop_request=ClosedLoopRequests(scenario, plan),
    )


__all__ = [
    "CLOSED_LOOP_IDX_BASE",
    "DEFAULT_CONNECTIONS",
    "ClosedLoopRequests",
    "Prepared",
    "build_runtime",
    "pool_size",
    "prepare",
    "scenario_from_dict",
    "scenario_to_dict",
]
