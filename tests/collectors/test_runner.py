"""Collector runner: absolute-deadline ticks per period, isolation of failures, stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

import pytest

from collectors import schema as s
from collectors.point import Point
from collectors.runner import CollectorRunner, Scheduled

SEC = 1_000_000_000


class FakeClock:
    def __init__(self) -> None:
        self.now = 5 * SEC  # monotonic origin is arbitrary
        self.stop_after: int | None = None

    def mono(self) -> int:
        return self.now

    def wall(self) -> int:
        return 1_700_000_000 * SEC + self.now

    def wait(self, timeout_s: float) -> bool:
        self.now += round(timeout_s * 1e9)
        return self.stop_after is not None and self.now >= self.stop_after


class Timed:
    """Records the monotonic time of each call; each call costs ``cost_s`` of fake time."""

    def __init__(self, clock: FakeClock, cost_s: float = 0.0, fail: bool = False) -> None:
        self.clock, self.cost_ns, self.fail = clock, round(cost_s * 1e9), fail
        self.at: list[int] = []

    def collect(self, now_ns: int) -> Iterable[Point]:
        self.at.append(self.clock.now)
        self.clock.now += self.cost_ns
        if self.fail:
            raise RuntimeError("scrape failed")
        return [Point("m", {}, {"v": 1.0}, now_ns)]


def _runner(clock: FakeClock, scheduled: list[Scheduled], written: list[list[Point]]) -> CollectorRunner:
    return CollectorRunner(scheduled, written.append, tags={"host": "h"}, monotonic_ns=clock.mono,
                           wall_ns=clock.wall, wait=clock.wait)


def _rel(times: list[int]) -> list[float]:
    return [(t - times[0]) / SEC for t in times]


def test_ticks_on_absolute_deadlines_do_not_drift() -> None:
    clock = FakeClock()
    a = Timed(clock, cost_s=0.3)
    _runner(clock, [Scheduled("a", a, 1.0)], []).run(max_rounds=10)
    assert _rel(a.at) == [float(i) for i in range(10)]  # not 0, 1.3, 2.6, ...


def test_each_collector_has_its_own_period() -> None:
    clock = FakeClock()
    fast, slow = Timed(clock), Timed(clock)
    clock.stop_after = clock.now + 10 * SEC
    _runner(clock, [Scheduled("fast", fast, 1.0), Scheduled("slow", slow, 2.5)], []).run()
    start = fast.at[0]
    assert [(t - start) / SEC for t in fast.at] == [float(i) for i in range(10)]
    assert [(t - start) / SEC for t in slow.at] == [0.0, 2.5, 5.0, 7.5]


def test_overrun_skips_missed_ticks_and_stays_on_the_grid() -> None:
    clock = FakeClock()
    a = Timed(clock, cost_s=2.5)
    runner = _runner(clock, [Scheduled("a", a, 1.0)], [])
    runner.run(max_rounds=4)
    assert _rel(a.at) == [0.0, 3.0, 6.0, 9.0]
    assert runner.stats["a"].missed_ticks == 2 * 4


def test_failing_collector_counted_and_never_stops_the_others() -> None:
    clock = FakeClock()
    bad, good = Timed(clock, fail=True), Timed(clock)
    written: list[list[Point]] = []
    runner = _runner(clock, [Scheduled("bad", bad, 1.0), Scheduled("good", good, 1.0)], written)
    runner.run(max_rounds=5)
    assert len(bad.at) == 5 and len(good.at) == 5
    assert runner.stats["bad"].errors == 5 and runner.stats["good"].errors == 0
    assert "RuntimeError: scrape failed" in runner.stats["bad"].last_error
    health = [p for batch in written for p in batch if p.measurement == s.COLLECTOR.name]
    last_bad = [p for p in health if p.tags[s.T_COLLECTOR.name] == "bad"][-1]
    assert last_bad.fields[s.CF_ERRORS.name] == 5.0 and last_bad.fields[s.CF_COLLECTIONS.name] == 5.0
    last_good = [p for p in health if p.tags[s.T_COLLECTOR.name] == "good"][-1]
    assert last_good.fields[s.CF_POINTS.name] == 5.0 and last_good.tags["host"] == "h"
    data = [p for batch in written for p in batch if p.measurement == "m"]
    assert len(data) == 5


def test_sink_failure_is_counted_not_raised() -> None:
    clock = FakeClock()
    a = Timed(clock)

    def broken(points: list[Point]) -> None:
        raise OSError("disk full")

    runner = CollectorRunner([Scheduled("a", a, 1.0)], broken, monotonic_ns=clock.mono, wall_ns=clock.wall,
                             wait=clock.wait)
    runner.run(max_rounds=3)
    assert runner.stats["a"].errors == 3 and "disk full" in runner.stats["a"].last_error


def test_wall_time_of_each_collection_is_the_point_time() -> None:
    clock = FakeClock()
    a = Timed(clock)
    written: list[list[Point]] = []
    _runner(clock, [Scheduled("a", a, 1.0)], written).run(max_rounds=2)
    assert [b[0].time_ns for b in written] == [1_700_000_000 * SEC + t for t in a.at]


def test_stop_from_another_thread_returns_promptly() -> None:
    calls: list[float] = []

    class Quick:
        def collect(self, now_ns: int) -> Iterable[Point]:
            calls.append(time.monotonic())
            return []

    runner = CollectorRunner([Scheduled("q", Quick(), 30.0)], lambda pts: None)
    thread = threading.Thread(target=runner.run)
    thread.start()
    while not calls:
        time.sleep(0.01)
    runner.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(calls) == 1


def test_bad_period_rejected() -> None:
    with pytest.raises(ValueError, match="period"):
        CollectorRunner([Scheduled("x", Timed(FakeClock()), 0.0)], lambda p: None)
