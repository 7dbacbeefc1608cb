"""What every sink offers: the ``Sink`` protocol and ``SinkStats``, its point accounting.

The accounting identity holds at every instant a ``stats()`` snapshot is taken:
``generated = written + pending_memory + pending_spool + dropped`` (all in points), with
``dropped`` the sum of ``dropped_by_reason`` (reasons: ``schema.DROP_REASONS``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from collectors import schema
from collectors.point import Point


@dataclass(frozen=True, slots=True)
class SinkStats:
    """A consistent snapshot of one sink's point accounting."""

    sink: str
    generated: int = 0
    written: int = 0
    pending_memory: int = 0
    pending_spool: int = 0
    dropped_by_reason: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    spool_bytes: int = 0
    oldest_unsent_age_s: float = 0.0

    @property
    def dropped(self) -> int:
        return sum(self.dropped_by_reason.values())

    @property
    def pending(self) -> int:
        return self.pending_memory + self.pending_spool

    def balanced(self) -> bool:
        """True when generated = written + pending + dropped (it always should be)."""
        return self.generated == self.written + self.pending + self.dropped

    def as_fields(self) -> dict[str, float]:
        """The ``telemetry_sink`` measurement's fields."""
        d = self.dropped_by_reason
        return {
            schema.F_GENERATED.name: float(self.generated),
            schema.F_WRITTEN.name: float(self.written),
            schema.F_PENDING_MEM.name: float(self.pending_memory),
            schema.F_PENDING_SPOOL.name: float(self.pending_spool),
            schema.F_DROPPED.name: float(self.dropped),
            schema.F_DROPPED_SPOOL_FULL.name: float(d.get("spool_full", 0)),
            schema.F_DROPPED_REJECTED.name: float(d.get("rejected", 0)),
            schema.F_DROPPED_ENCODE.name: float(d.get("encode_error", 0)),
            schema.F_DROPPED_QUEUE_FULL.name: float(d.get("queue_full", 0)),
            schema.F_DROPPED_IO.name: float(d.get("io_error", 0)),
            schema.F_DROPPED_CLOSED.name: float(d.get("closed", 0)),
            schema.F_RETRIES.name: float(self.retries),
            schema.F_SPOOL_BYTES.name: float(self.spool_bytes),
            schema.F_OLDEST_UNSENT.name: float(self.oldest_unsent_age_s),
        }

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form (for summary.json)."""
        return {
            "sink": self.sink,
            "generated": self.generated,
            "written": self.written,
            "pending_memory": self.pending_memory,
            "pending_spool": self.pending_spool,
            "dropped": self.dropped,
            "dropped_by_reason": dict(sorted(self.dropped_by_reason.items())),
            "retries": self.retries,
            "spool_bytes": self.spool_bytes,
            "oldest_unsent_age_s": self.oldest_unsent_age_s,
        }


class Ledger:
    """A sink's counters (guarded by the sink's own lock) and its rate-limited drop log."""

    LOG_INTERVAL_S = 60.0

    def __init__(self, what: str, logger: logging.Logger) -> None:
        self.what = what
        self.log = logger
        self.generated = 0
        self.written = 0
        self.inflight = 0
        self.pending_spool = 0
        self.retries = 0
        self.dropped: dict[str, int] = {}
        self._logged: dict[str, int] = {}
        self._last_log = -float("inf")

    def snapshot(self, sink: str, *, memory: int, spool_bytes: int = 0,
                 oldest_unsent_age_s: float = 0.0) -> SinkStats:
        """Stats with ``memory`` items queued besides ``inflight`` (call under the sink's lock)."""
        return SinkStats(sink=sink, generated=self.generated, written=self.written,
                         pending_memory=memory + self.inflight, pending_spool=self.pending_spool,
                         dropped_by_reason=dict(self.dropped), retries=self.retries, spool_bytes=spool_bytes,
                         oldest_unsent_age_s=oldest_unsent_age_s)

    def drop(self, reason: str, n: int) -> None:
        if n > 0:
            self.dropped[reason] = self.dropped.get(reason, 0) + n

    def log_drops(self, force: bool = False) -> None:
        """Log the drop totals if they changed, at most once a minute (``force``: now)."""
        now = time.monotonic()
        if self.dropped == self._logged or (not force and now - self._last_log < self.LOG_INTERVAL_S):
            return
        self._last_log = now
        self._logged = dict(self.dropped)
        detail = ", ".join(f"{k}={v}" for k, v in sorted(self.dropped.items()))
        self.log.warning("%s: %d points dropped so far (%s)", self.what, sum(self.dropped.values()), detail)


class Sink(Protocol):
    """Where points go.  ``write`` never blocks and never raises."""

    name: str

    def write(self, points: Iterable[Point]) -> None: ...

    def stats(self) -> SinkStats: ...

    def flush(self, timeout_s: float) -> bool: ...

    def close(self, timeout_s: float) -> SinkStats: ...


__all__ = ["Ledger", "Sink", "SinkStats"]
