"""Where a load-generator process spends its time: so a generator-bound run names its cause.

Every process that sends requests or serves workers keeps one :class:`BusyMeter`.  The parts that
run on the gevent loop and can block it report each call's duration (``aggregating``: the master's
interval points; ``writing``: per-request telemetry and collector points handed to the sinks;
``checkpointing``: encoding the soak checkpoint); a
:class:`LoopMonitor` greenlet measures how late the loop wakes it (a *stall*: nothing else could run
meanwhile).  The rest of the process CPU is the client itself (``sending/parsing``: connections,
writes, reading and parsing streams).  When a run is invalid because the generator fell behind, the
summary names the part with the longest single block (:func:`busiest`).
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from typing import Any

import gevent

ACTIVITIES: tuple[str, ...] = ("aggregating", "writing", "checkpointing")
STALL_TICK_S = 0.01  # the monitor's sleep; a wake-up later than this + STALL_REPORT_S is a stall
STALL_REPORT_S = 0.005


@dataclass(slots=True)
class _Activity:
    total_s: float = 0.0
    max_s: float = 0.0
    calls: int = 0

    def add(self, dt: float) -> None:
        self.total_s += dt
        self.calls += 1
        if dt > self.max_s:
            self.max_s = dt


@dataclass(slots=True)
class BusyMeter:
    activities: dict[str, _Activity] = field(default_factory=lambda: {a: _Activity() for a in ACTIVITIES})
    stall_max_s: float = 0.0
    stalls: int = 0  # wake-ups later than STALL_REPORT_S
    interval_stall_max_s: float = 0.0
    _cpu0: float = field(default_factory=lambda: _cpu_s())

    def add(self, activity: str, dt: float) -> None:
        self.activities[activity].add(dt)

    def stall(self, late_s: float) -> None:
        if late_s > STALL_REPORT_S:
            self.stalls += 1
        if late_s > self.stall_max_s:
            self.stall_max_s = late_s
        if late_s > self.interval_stall_max_s:
            self.interval_stall_max_s = late_s

    def take_interval_stall(self) -> float:
        out, self.interval_stall_max_s = self.interval_stall_max_s, 0.0
        return out

    def to_dict(self) -> dict[str, Any]:
        cpu = _cpu_s() - self._cpu0
        out: dict[str, Any] = {"cpu_s": round(cpu, 3)}
        for name, a in self.activities.items():
            out[name] = {"total_s": round(a.total_s, 4), "max_s": round(a.max_s, 4), "calls": a.calls}
        timed = sum(a.total_s for a in self.activities.values())
        out["sending_parsing_cpu_s"] = round(max(0.0, cpu - timed), 3)
        out["loop_stall_max_s"] = round(self.stall_max_s, 4)
        out["loop_stalls"] = self.stalls
        return out


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class LoopMonitor:
    """A greenlet that sleeps ``STALL_TICK_S`` and records how late it wakes (loop stalls)."""

    def __init__(self, meter: BusyMeter) -> None:
        self.meter = meter
        self._g: gevent.Greenlet[Any, Any] | None = None

    def start(self) -> None:
        if self._g is None:
            self._g = gevent.spawn(self._run)

    def _run(self) -> None:
        while True:
            t = time.perf_counter()
            gevent.sleep(STALL_TICK_S)
            self.meter.stall(max(0.0, time.perf_counter() - t - STALL_TICK_S))

    def stop(self) -> None:
        if self._g is not None:
            self._g.kill(block=False)
            self._g = None


def busiest(busy: dict[str, dict[str, Any]]) -> str:
    """One line naming the part of the generator that blocked longest, from ``to_dict`` results per process.

    ``busy`` maps a process label (``local``, ``master``, ``w0``...) to its :meth:`BusyMeter.to_dict`.
    """
    best: tuple[float, str] = (0.0, "")
    stall: tuple[float, str] = (0.0, "")
    for proc, d in busy.items():
        for name in ACTIVITIES:
            a = d.get(name) or {}
            if float(a.get("max_s", 0.0)) > best[0]:
                best = (float(a["max_s"]), f"{name} on {proc} (longest block {float(a['max_s']) * 1e3:.0f} ms, "
                                           f"{float(a.get('total_s', 0.0)):.2f} s in all)")
        s = float(d.get("loop_stall_max_s", 0.0))
        if s > stall[0]:
            cpu = float(d.get("sending_parsing_cpu_s", 0.0))
            stall = (s, f"sending/parsing on {proc} (loop stalled up to {s * 1e3:.0f} ms; "
                        f"{cpu:.1f} CPU-s in the client)")
    if stall[0] > 2 * best[0] and stall[1]:
        return stall[1]
    return best[1] or stall[1] or "no part of the generator blocked measurably"


__all__ = ["ACTIVITIES", "BusyMeter", "LoopMonitor", "busiest"]
