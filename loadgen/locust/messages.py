"""The master <-> worker protocol of an open-loop run, on top of Locust's custom messages.

Master -> worker (``runner.send_message(type, data, client_id=...)``):

- ``il_plan``: the validated scenario (as a dict: workers need no file), the run id, the
  worker's compact ``slot`` (``None``: surplus worker, idles) of ``n_slots``, and ``t0_wall``, the
  Unix time of plan offset 0 (each worker converts it once to its own monotonic clock); a resumed
  run (``--resume``) keeps the first ``t0_wall`` and sets ``start_after_s``, the plan offset where
  sending resumes (the master counted the arrivals before it as lost in the gap);
- ``il_adopt``: take over a dead worker's ``slot``; arrivals due between ``silent_since_s``
  and now are skipped and counted as ``lost_in_gap``, the rest are sent;
- ``il_release``: stop running ``slot`` (it was given to someone else);
- ``il_stop``: stop early: no new arrivals, drain in-flight streams, send ``il_done``.

Worker -> master:

- ``il_done``: after a slot's last arrival and its drain: the slots finished, their
  lost-in-gap counts, the final recorder delta (histograms + counters), and whether the slot
  stopped before the plan's end (``early``: the master re-assigns such a slot unless it asked
  for the stop itself);
- ``il_delta``: on a grid that contains every aggregate boundary (``t0_wall + k * p``, with
  ``p`` = :func:`ship_period` of ``sinks.aggregate_interval_s``: the interval itself or an exact
  fraction of it, at most :data:`SHIP_MAX_S`), the recorder delta since the previous grid point,
  with the worker's in-flight count: so each of the master's interval points holds exactly that
  interval's requests (Locust's own stats report, every 3 s, put 3 s of data into some 1 s
  intervals and none into the others), and the master's totals (checkpoints, live view) are never
  more than ``p`` behind;
- every Locust stats report carries the worker's state (in flight, busy, spool full) under
  :data:`REPORT_KEY`.

Payloads are msgpack-safe dicts; these dataclasses build and parse them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

PLAN = "il_plan"
ADOPT = "il_adopt"
RELEASE = "il_release"
STOP = "il_stop"
DONE = "il_done"
DELTA = "il_delta"
REPORT_KEY = "inferload"  # key in Locust's worker report dict
# a worker in a run stops sending and leaves once its master is silent this long (the master
# answers each 1-s heartbeat; Locust's own worker would go on for 60 s): docs/soak.md
MASTER_SILENT_S = 15.0


@dataclass(frozen=True, slots=True)
class PlanMsg:
    run_id: str
    scenario: dict[str, Any]
    slot: int | None
    n_slots: int
    t0_wall: float
    worker_label: str
    start_after_s: float | None = None  # a resumed run: send only arrivals after this plan offset

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PlanMsg:
        return cls(
            run_id=str(d["run_id"]),
            scenario=dict(d["scenario"]),
            slot=None if d["slot"] is None else int(d["slot"]),
            n_slots=int(d["n_slots"]),
            t0_wall=float(d["t0_wall"]),
            worker_label=str(d["worker_label"]),
            start_after_s=None if d.get("start_after_s") is None else float(d["start_after_s"]),
        )


@dataclass(frozen=True, slots=True)
class AdoptMsg:
    slot: int
    silent_since_s: float  # plan offset of the dead owner's last heartbeat
    at_s: float  # plan offset when the master re-assigned the slot

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AdoptMsg:
        return cls(int(d["slot"]), float(d["silent_since_s"]), float(d["at_s"]))


@dataclass(frozen=True, slots=True)
class DoneMsg:
    worker_label: str
    slots: list[int]
    delta: dict[str, Any]  # Recorder.take()
    lost_in_gap: dict[int, int] = field(default_factory=dict)  # adopted slot -> arrivals lost
    early: bool = False  # the slot stopped before the plan's end (early stop or worker shutdown)
    stopped_at_s: float | None = None  # plan offset of that stop: later arrivals were not sent

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lost_in_gap"] = {str(k): v for k, v in self.lost_in_gap.items()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DoneMsg:
        return cls(
            worker_label=str(d["worker_label"]),
            slots=[int(s) for s in d["slots"]],
            delta=dict(d["delta"]),
            lost_in_gap={int(k): int(v) for k, v in (d.get("lost_in_gap") or {}).items()},
            early=bool(d.get("early", False)),
            stopped_at_s=None if d.get("stopped_at_s") is None else float(d["stopped_at_s"]),
        )


SHIP_MAX_S = 2.0


def ship_period(aggregate_interval_s: float) -> float:
    """The interval, or the largest exact fraction of it that is at most :data:`SHIP_MAX_S`."""
    return aggregate_interval_s / max(1, math.ceil(aggregate_interval_s / SHIP_MAX_S - 1e-9))


def boundaries(t0_wall: float, every_s: float, now: float | None = None) -> Iterator[float]:
    """The aggregate boundaries ``t0_wall + k * every_s`` from the first one after ``now`` on; a
    boundary missed (the loop was late) is skipped, not repeated.  The master's interval step uses
    the same instants (``Coordinator.wait``); workers ship their deltas at them (``il_delta``)."""
    k = max(1, math.floor(((time.time() if now is None else now) - t0_wall) / every_s) + 1)
    while True:
        yield t0_wall + k * every_s
        k = max(k + 1, math.floor((time.time() - t0_wall) / every_s) + 1)


__all__ = [
    "ADOPT",
    "DELTA",
    "DONE",
    "MASTER_SILENT_S",
    "PLAN",
    "RELEASE",
    "REPORT_KEY",
    "SHIP_MAX_S",
    "STOP",
    "AdoptMsg",
    "DoneMsg",
    "PlanMsg",
    "boundaries",
    "ship_period",
]
