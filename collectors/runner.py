"""Collector runner: each collector on its own period, on absolute-deadline ticks.

Tick k of a collector is due at ``start + k * period`` (monotonic clock), so collections never
drift; a collection that overruns skips the ticks it missed (counted in ``missed_ticks``) rather
than bunching up.  A collector that raises gets its error counted and logged (at most once a
minute per collector) and never stops the others.  Every collection's points, plus one
``collector_health`` point, go to ``write``.  :meth:`CollectorRunner.stop` (from a signal
handler or another thread) ends :meth:`run` at once; flushing the sink is the caller's job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from collectors import schema as s
from collectors.point import Collector, Point

log = logging.getLogger(__name__)

ERROR_LOG_INTERVAL_S = 60.0


@dataclass
class Scheduled:
    """A collector with its name (the ``collector`` tag) and period in seconds."""

    name: str
    collector: Collector
    period_s: float


@dataclass
class CollectorStats:
    collections: int = 0
    errors: int = 0
    points: int = 0
    missed_ticks: int = 0
    last_duration_s: float = 0.0
    last_error: str = ""


class CollectorRunner:
    """Runs ``scheduled`` collectors until :meth:`stop` or ``max_rounds`` collections each."""

    def __init__(
        self,
        scheduled: Sequence[Scheduled],
        write: Callable[[list[Point]], object],
        *,
        tags: Mapping[str, str] | None = None,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
        wall_ns: Callable[[], int] = time.time_ns,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        if not scheduled:
            raise ValueError("no collector to run")
        for sch in scheduled:
            if sch.period_s <= 0:
                raise ValueError(f"{sch.name}: period must be > 0, got {sch.period_s}")
        self.scheduled = list(scheduled)
        self._write = write
        self._tags = dict(tags or {})
        self._mono = monotonic_ns
        self._wall = wall_ns
        self._stop = threading.Event()
        self._wait = wait or self._stop.wait
        self.stats: dict[str, CollectorStats] = {sch.name: CollectorStats() for sch in scheduled}
        self._last_error_log: dict[str, float] = {}

    def stop(self) -> None:
        """Ask :meth:`run` to return (safe from a signal handler or another thread)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, *, max_rounds: int | None = None, on_round: Callable[[], object] | None = None) -> None:
        """Collect until stopped; with ``max_rounds``, until every collector ran that many times."""
        start = self._mono()
        periods = [int(sch.period_s * 1e9) for sch in self.scheduled]
        due = [start] * len(self.scheduled)
        while not self._stop.is_set():
            now = self._mono()
            nxt = min(due)
            if now < nxt:
                if self._wait((nxt - now) / 1e9):
                    break
                continue
            for i in sorted(range(len(due)), key=due.__getitem__):
                if due[i] > now or self._stop.is_set():
                    continue
                self.run_one(self.scheduled[i])
                after = self._mono()
                k = due[i] + periods[i]
                if k <= after:  # overran: skip the missed ticks, stay on the grid
                    missed = (after - k) // periods[i] + 1
                    self.stats[self.scheduled[i].name].missed_ticks += missed
                    k += missed * periods[i]
                due[i] = k
            if on_round is not None:
                on_round()
            if max_rounds is not None and all(st.collections >= max_rounds for st in self.stats.values()):
                break

    def run_one(self, sch: Scheduled) -> list[Point]:
        """One collection of ``sch``: its points plus a health point, written; never raises."""
        st = self.stats[sch.name]
        t0 = self._mono()
        now_ns = self._wall()
        points: list[Point] = []
        st.collections += 1
        try:
            points = list(sch.collector.collect(now_ns))
        except Exception as err:  # one collector failing never stops the others
            st.errors += 1
            st.last_error = f"{type(err).__name__}: {err}"
            self._log_error(sch.name, st)
        st.last_duration_s = (self._mono() - t0) / 1e9
        st.points += len(points)
        points.append(self._health(sch.name, st, now_ns))
        try:
            self._write(points)
        except Exception as err:
            st.errors += 1
            st.last_error = f"sink: {type(err).__name__}: {err}"
            self._log_error(sch.name, st)
        return points

    def _log_error(self, name: str, st: CollectorStats) -> None:
        now = self._mono() / 1e9
        last = self._last_error_log.get(name)
        if last is None or now - last >= ERROR_LOG_INTERVAL_S:
            self._last_error_log[name] = now
            log.warning("collector %s failed (%d errors so far): %s", name, st.errors, st.last_error)

    def _health(self, name: str, st: CollectorStats, now_ns: int) -> Point:
        fields = {
            s.CF_COLLECTIONS.name: float(st.collections),
            s.CF_ERRORS.name: float(st.errors),
            s.CF_POINTS.name: float(st.points),
            s.CF_MISSED.name: float(st.missed_ticks),
            s.CF_DURATION.name: st.last_duration_s,
        }
        return Point(s.COLLECTOR.name, {**self._tags, s.T_COLLECTOR.name: name}, fields, now_ns)

    def close(self, collectors: Iterable[object] | None = None) -> None:
        """Close every collector that has a ``close()`` (errors logged, not raised)."""
        for obj in collectors if collectors is not None else (sch.collector for sch in self.scheduled):
            close = getattr(obj, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as err:
                    log.warning("closing %r: %s", obj, err)


__all__ = ["ERROR_LOG_INTERVAL_S", "CollectorRunner", "CollectorStats", "Scheduled"]
