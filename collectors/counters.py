"""The one request-counter type: from the worker's recorder to the master's merge, the interval
points (``llm_throughput``, ``llm_errors``) and ``summary.json``.

Integer counters keyed ``(phase, traffic class, counter)``, msgpack/JSON-safe as
``"phase|class|counter"``.  A worker counts every finished request once (``loadgen.recorder``),
ships :meth:`Counters.encode` deltas with its histograms, and the master merges them; the interval
aggregates and the run summary read the same merged counters, so they cannot disagree.

Counter names (the third part of a key):

- ``requests``: requests sent and finished (ok, failed, cancelled or failed inside the generator);
- ``ok``: finished without error; ``good``: ok and within every per-request SLO threshold
  (goodput, docs/metrics.md); ``output_tokens`` / ``prompt_tokens``: tokens of the ok requests
  (usage when the server sent it, else content chunks / the planned prompt length);
- ``error:<class>``: failed, by ``collectors.records.ErrorClass`` value (cancelled and generator
  faults excluded: they are not the target's errors);
- ``cancelled``: still in flight at the end of the drain; ``generator_fault``: an exception inside
  the load generator (a bug of ours: the run is invalid);
- ``dropped_max_inflight`` / ``lost_in_gap``: arrivals that never became requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

C_REQUESTS = "requests"
C_OK = "ok"
C_GOOD = "good"
C_OUTPUT_TOKENS = "output_tokens"
C_PROMPT_TOKENS = "prompt_tokens"
C_CANCELLED = "cancelled"
C_GENERATOR_FAULT = "generator_fault"
C_DROPPED = "dropped_max_inflight"
C_LOST_IN_GAP = "lost_in_gap"
ERROR_PREFIX = "error:"

CounterKey = tuple[str, str, str]  # (phase, traffic_class, counter)


class Counters:
    """Integer counters keyed ``(phase, class, counter)``; see the module docstring."""

    __slots__ = ("_c",)

    def __init__(self) -> None:
        self._c: dict[CounterKey, int] = {}

    def add(self, phase: str, cls: str, counter: str, n: int = 1) -> None:
        key = (phase, cls, counter)
        self._c[key] = self._c.get(key, 0) + n

    # ---- shipping and merging ----------------------------------------------------------------
    def encode(self) -> dict[str, int]:
        return {"|".join(k): v for k, v in self._c.items() if v}

    def merge_encoded(self, encoded: Mapping[str, int]) -> None:
        for ks, v in encoded.items():
            phase, cls, counter = ks.split("|", 2)
            self.add(phase, cls, counter, int(v))

    def merge(self, other: Counters) -> None:
        for (phase, cls, counter), v in other._c.items():
            self.add(phase, cls, counter, v)

    def clear(self) -> None:
        self._c.clear()

    def copy(self) -> Counters:
        out = Counters()
        out._c = dict(self._c)
        return out

    def __bool__(self) -> bool:
        return any(self._c.values())

    # ---- reading ---------------------------------------------------------------------------------
    def get(self, phase: str, cls: str, counter: str) -> int:
        return self._c.get((phase, cls, counter), 0)

    def total(self, counter: str, phases: Iterable[str] | None = None, cls: str | None = None) -> int:
        wanted = None if phases is None else set(phases)
        return sum(
            v
            for (p, c, name), v in self._c.items()
            if name == counter and (wanted is None or p in wanted) and (cls is None or c == cls)
        )

    def errors(self, phases: Iterable[str] | None = None, cls: str | None = None) -> dict[str, int]:
        """The target's errors by error class (cancelled and generator faults excluded)."""
        wanted = None if phases is None else set(phases)
        out: dict[str, int] = {}
        for (p, c, name), v in self._c.items():
            if name.startswith(ERROR_PREFIX) and (wanted is None or p in wanted) and (cls is None or c == cls):
                err = name[len(ERROR_PREFIX):]
                out[err] = out.get(err, 0) + v
        return dict(sorted(out.items()))

    def phases(self) -> list[str]:
        return sorted({p for (p, _, _) in self._c})

    def classes(self, phases: Iterable[str] | None = None) -> list[str]:
        wanted = None if phases is None else set(phases)
        return sorted({c for (p, c, _) in self._c if wanted is None or p in wanted})

    def groups(self) -> list[tuple[str, str]]:
        """Every (phase, class) with a count."""
        return sorted({(p, c) for (p, c, _), v in self._c.items() if v})


__all__ = [
    "C_CANCELLED",
    "C_DROPPED",
    "C_GENERATOR_FAULT",
    "C_GOOD",
    "C_LOST_IN_GAP",
    "C_OK",
    "C_OUTPUT_TOKENS",
    "C_PROMPT_TOKENS",
    "C_REQUESTS",
    "ERROR_PREFIX",
    "CounterKey",
    "Counters",
]
