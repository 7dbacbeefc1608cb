"""Worker-side accounting of finished requests: HDR histograms plus exact counters.

A :class:`Recorder` turns every finished :class:`RequestRecord` (ok, failed or cancelled) into
HDR histogram samples (``collectors.histograms.record_request``) and integer counters keyed by
phase x traffic class, and counts what never became a request (arrivals dropped above
``max_inflight``, arrivals lost while a dead worker's slot had no owner).  ``take()`` returns the
deltas since the previous call in a msgpack-safe dict, so a worker can ship them to the master
every report and the master can :meth:`Counters.merge` them: nothing is counted twice and
percentiles are only ever read from merged histograms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from collectors.histograms import HistogramSet, record_request
from collectors.records import ErrorClass, RequestRecord

# counter names (the ``counter`` part of a ``phase|class|counter`` key)
C_REQUESTS = "requests"  # requests sent and finished (ok, failed or cancelled)
C_OK = "ok"
C_OUTPUT_TOKENS = "output_tokens"  # output tokens of successful requests
C_GOOD = "good"  # successful requests within every per-request SLO threshold (goodput)
C_CANCELLED = "cancelled"  # still in flight at the end of the drain, then cancelled
C_DROPPED = "dropped_max_inflight"  # arrivals not sent: max_inflight reached
C_LOST_IN_GAP = "lost_in_gap"  # arrivals due while their slot had no live owner
ERROR_PREFIX = "error:"  # error:<ErrorClass value>, cancelled excluded

CounterKey = tuple[str, str, str]  # (phase, traffic_class, counter)


class Counters:
    """Integer counters keyed ``(phase, class, counter)``; msgpack-safe as ``phase|class|counter``."""

    __slots__ = ("_c",)

    def __init__(self) -> None:
        self._c: dict[CounterKey, int] = {}

    def add(self, phase: str, cls: str, counter: str, n: int = 1) -> None:
        key = (phase, cls, counter)
        self._c[key] = self._c.get(key, 0) + n

    def encode(self) -> dict[str, int]:
        return {"|".join(k): v for k, v in self._c.items() if v}

    def merge_encoded(self, encoded: Mapping[str, int]) -> None:
        for ks, v in encoded.items():
            phase, cls, counter = ks.split("|", 2)
            self.add(phase, cls, counter, int(v))

    def merge(self, other: Counters) -> None:
        for (phase, cls, counter), v in other._c.items():
            self.add(phase, cls, counter, v)

    def total(self, counter: str, phases: Iterable[str] | None = None, cls: str | None = None) -> int:
        wanted = None if phases is None else set(phases)
        return sum(
            v
            for (p, c, name), v in self._c.items()
            if name == counter and (wanted is None or p in wanted) and (cls is None or c == cls)
        )

    def errors(self, phases: Iterable[str] | None = None) -> dict[str, int]:
        """Errors by class (cancelled excluded), summed over ``phases`` (all when None)."""
        wanted = None if phases is None else set(phases)
        out: dict[str, int] = {}
        for (p, _, name), v in self._c.items():
            if name.startswith(ERROR_PREFIX) and (wanted is None or p in wanted):
                cls = name[len(ERROR_PREFIX):]
                out[cls] = out.get(cls, 0) + v
        return dict(sorted(out.items()))

    def phases(self) -> list[str]:
        return sorted({p for (p, _, _) in self._c})

    def classes(self, phases: Iterable[str] | None = None) -> list[str]:
        wanted = None if phases is None else set(phases)
        return sorted({c for (p, c, _) in self._c if wanted is None or p in wanted})

    def clear(self) -> None:
        self._c.clear()

    def copy(self) -> Counters:
        out = Counters()
        out._c = dict(self._c)
        return out


class Recorder:
    """Everything one worker measured since the last :meth:`take`."""

    __slots__ = ("counters", "histograms", "is_good")

    def __init__(self, is_good: Callable[[RequestRecord], bool] | None = None) -> None:
        self.histograms = HistogramSet()
        self.counters = Counters()
        self.is_good = is_good  # goodput test (loadgen.slo.goodput_test); None: not counted

    def record(self, rec: RequestRecord) -> None:
        """One finished request (ok, failed or cancelled)."""
        record_request(self.histograms, rec)
        c = self.counters
        c.add(rec.phase, rec.traffic_class, C_REQUESTS)
        if rec.error is None:
            c.add(rec.phase, rec.traffic_class, C_OK)
            c.add(rec.phase, rec.traffic_class, C_OUTPUT_TOKENS, rec.n_output_tokens)
            if self.is_good is not None and self.is_good(rec):
                c.add(rec.phase, rec.traffic_class, C_GOOD)
        elif rec.error is ErrorClass.CANCELLED:
            c.add(rec.phase, rec.traffic_class, C_CANCELLED)
        else:
            c.add(rec.phase, rec.traffic_class, ERROR_PREFIX + str(rec.error))

    def dropped(self, phase: str, cls: str, n: int = 1) -> None:
        self.counters.add(phase, cls, C_DROPPED, n)

    def lost_in_gap(self, phase: str, cls: str, n: int = 1) -> None:
        self.counters.add(phase, cls, C_LOST_IN_GAP, n)

    def take(self) -> dict[str, Any]:
        """Deltas since the previous call: ``{"hist": {...}, "counters": {...}}`` (msgpack-safe)."""
        out = {"hist": self.histograms.encode_and_reset(), "counters": self.counters.encode()}
        self.counters.clear()
        return out


def merge_delta(hs: HistogramSet, counters: Counters, delta: Mapping[str, Any]) -> None:
    """Merge one :meth:`Recorder.take` result into a master-side histogram set and counters."""
    hs.merge_encoded(delta.get("hist") or {})
    counters.merge_encoded(delta.get("counters") or {})


__all__ = [
    "C_CANCELLED",
    "C_DROPPED",
    "C_GOOD",
    "C_LOST_IN_GAP",
    "C_OK",
    "C_OUTPUT_TOKENS",
    "C_REQUESTS",
    "ERROR_PREFIX",
    "CounterKey",
    "Counters",
    "Recorder",
    "merge_delta",
]
