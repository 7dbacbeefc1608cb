"""The plan: a scenario's phases on one timeline and its single seeded global arrival sequence.

Phases run back to back from offset 0.  Arrival times of phase ``i`` come from the seed stream
``ARRIVAL_TIMES`` at ``i``, so phases are independent and reproducible; the traffic class,
prompt/output lengths and dataset row of arrival ``idx`` come from a separate stream,
``REQUEST_ATTRIBUTES`` at ``idx // 4096``, so they depend on ``idx`` only (:mod:`loadgen.seeds`).
Every worker walks the same global sequence and keeps ``idx % n_slots == slot``: the union over
slots is exactly the declared process, whatever the worker count.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from loadgen.arrivals import ArrivalProcess, make_process
from loadgen.config import Scenario
from loadgen.dataset import load_dataset
from loadgen.seeds import ARRIVAL_TIMES, REQUEST_ATTRIBUTES, stream_rng

_BLOCK = 4096


@dataclass(frozen=True, slots=True)
class Arrival:
    """One element of the global sequence; ``idx`` is stable whatever the worker count."""

    idx: int
    offset_s: float  # scheduled time, seconds after the run's t0
    phase: str
    phase_index: int
    traffic_class: str
    prompt_tokens: int
    output_tokens: int  # max_tokens to request
    prompt_row: int | None  # dataset row, None for synthetic prompts


@dataclass(frozen=True, slots=True)
class PhaseWindow:
    name: str
    kind: str
    index: int
    start_s: float
    end_s: float
    process: str  # e.g. "gamma(rate=20/s, burstiness=0.5)"
    rate_hint: float  # mean requests/s over the window (0 for closed loop)
    expected: float  # mean number of arrivals in the window
    closed_loop_users: int | None
    max_inflight: int | None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class _Attributes:
    """Class, lengths and dataset row per idx, drawn in blocks of ``_BLOCK`` indices."""

    def __init__(self, scenario: Scenario, dataset_rows: int | None) -> None:
        wl = scenario.workload
        self.seed = scenario.seed
        self.names = [c.name for c in wl.classes]
        weights = np.array([c.weight for c in wl.classes], dtype=np.float64)
        self.cum = np.cumsum(weights) / weights.sum()
        self.prompt = [wl.prompt_dist(c) for c in wl.classes]
        self.output = [wl.output_dist(c) for c in wl.classes]
        self.rows = dataset_rows
        self.block = -1
        self.cls: list[int] = []
        self.p: list[int] = []
        self.o: list[int] = []
        self.r: list[int] = []

    def _fill(self, block: int) -> None:
        rng = stream_rng(self.seed, REQUEST_ATTRIBUTES, block)
        u = rng.random(_BLOCK)
        cls = np.minimum(np.searchsorted(self.cum, u, side="right"), len(self.names) - 1)
        cols = np.arange(_BLOCK)
        p = np.stack([d.sample(rng, _BLOCK) for d in self.prompt])[cls, cols]
        o = np.stack([d.sample(rng, _BLOCK) for d in self.output])[cls, cols]
        self.r = rng.integers(0, self.rows, size=_BLOCK).tolist() if self.rows else []
        self.cls, self.p, self.o = cls.tolist(), p.tolist(), o.tolist()
        self.block = block

    def get(self, idx: int) -> tuple[str, int, int, int | None]:
        block, i = divmod(idx, _BLOCK)
        if block != self.block:
            self._fill(block)
        return self.names[self.cls[i]], self.p[i], self.o[i], (self.r[i] if self.rows else None)


class Plan:
    """Phases, expected counts and the seeded global arrival sequence of a scenario."""

    def __init__(self, scenario: Scenario, dataset_rows: int | None = None) -> None:
        """``dataset_rows``: the dataset's prompt count when the caller has read it already
        (:attr:`loadgen.workload.Workload.dataset_rows`); else the dataset is read here to count."""
        self.scenario = scenario
        if scenario.workload.dataset is not None and dataset_rows is None:
            dataset_rows = len(load_dataset(scenario.workload.dataset))
        self.dataset_rows = dataset_rows
        self._processes: list[ArrivalProcess] = []
        self.phases: list[PhaseWindow] = []
        t = 0.0
        for i, phase in enumerate(scenario.phases):
            proc = make_process(phase.arrivals)
            expected = proc.expected_count(phase.duration_s)
            self._processes.append(proc)
            self.phases.append(
                PhaseWindow(
                    name=phase.name,
                    kind=phase.kind,
                    index=i,
                    start_s=t,
                    end_s=t + phase.duration_s,
                    process=proc.describe(),
                    rate_hint=expected / phase.duration_s,
                    expected=expected,
                    closed_loop_users=proc.closed_loop_users,
                    max_inflight=scenario.phase_max_inflight(phase),
                )
            )
            t += phase.duration_s
        self.duration_s = t
        self._starts = [w.start_s for w in self.phases]

    def phase_at(self, offset_s: float) -> PhaseWindow:
        """The window containing ``offset_s`` (before 0: the first; after the end: the last)."""
        i = bisect.bisect_right(self._starts, offset_s) - 1
        return self.phases[min(max(i, 0), len(self.phases) - 1)]

    def phase_rng(self, phase_index: int) -> np.random.Generator:
        return stream_rng(self.scenario.seed, ARRIVAL_TIMES, phase_index)

    def arrivals(self, slot: int = 0, n_slots: int = 1, start_after_s: float | None = None) -> Iterator[Arrival]:
        """Arrivals with ``idx % n_slots == slot`` (and ``offset_s > start_after_s`` if given), in
        time order.  Earlier arrivals are still walked so ``idx`` stays global."""
        if n_slots < 1 or not 0 <= slot < n_slots:
            raise ValueError(f"need 0 <= slot < n_slots (got slot={slot}, n_slots={n_slots})")
        attrs = _Attributes(self.scenario, self.dataset_rows)
        after = float("-inf") if start_after_s is None else start_after_s
        idx = 0
        for w, proc in zip(self.phases, self._processes, strict=True):
            times = proc.times(w.start_s, w.end_s, self.phase_rng(w.index))
            if w.end_s <= after:
                idx += sum(1 for _ in times)
                continue
            name, index = w.name, w.index
            for t in times:
                if idx % n_slots == slot and t > after:
                    cls, p, o, row = attrs.get(idx)
                    yield Arrival(idx, t, name, index, cls, p, o, row)
                idx += 1

    def expected_counts(self) -> dict[str, float]:
        """Mean number of arrivals per phase name."""
        return {w.name: w.expected for w in self.phases}

    def expected_total(self) -> float:
        return sum(w.expected for w in self.phases)

    def count(self) -> int:
        """The exact number of arrivals of the global sequence (walks it)."""
        total = 0
        for w, proc in zip(self.phases, self._processes, strict=True):
            total += sum(1 for _ in proc.times(w.start_s, w.end_s, self.phase_rng(w.index)))
        return total

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (no arrivals)."""
        return {
            "scenario": self.scenario.name,
            "seed": self.scenario.seed,
            "duration_s": self.duration_s,
            "expected_total": self.expected_total(),
            "phases": [
                {
                    "name": w.name,
                    "kind": w.kind,
                    "index": w.index,
                    "start_s": w.start_s,
                    "end_s": w.end_s,
                    "process": w.process,
                    "rate_hint": w.rate_hint,
                    "expected": w.expected,
                    "closed_loop_users": w.closed_loop_users,
                    "max_inflight": w.max_inflight,
                }
                for w in self.phases
            ],
        }


__all__ = ["Arrival", "PhaseWindow", "Plan"]
