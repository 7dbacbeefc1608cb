"""The real-time driver: runs the pure engine as an asyncio task on a (scalable) simulated clock.

Each loop: ``engine.advance(now)`` completes the step whose end has come and plans the next;
the emitted tokens are counted into /metrics and the waiting handlers woken; then the task
sleeps until the next step's absolute end (``loop.call_at``), or until an arrival when the
engine is idle.  Simulated time runs ``time_scale`` times faster than real time.
"""

from __future__ import annotations

import asyncio
import sys
import time
import traceback
from collections.abc import Awaitable, Callable

from gpusim.engine import DONE, BatchingEngine, Engine, Seq
from gpusim.metrics import VllmMetrics

MAX_LAG_S = 0.005  # real seconds behind schedule after which the engine re-anchors to now
EARLY_S = 0.0011  # wake this much before a step's end, then sleep precisely


class SimClock:
    """Simulated seconds since start; ``time_scale`` simulated seconds per real second."""

    def __init__(self, time_scale: float = 1.0) -> None:
        self.scale = time_scale
        self.mono0 = time.monotonic()
        self.wall0 = time.time()

    def now(self) -> float:
        return (time.monotonic() - self.mono0) * self.scale

    def monotonic_at(self, t: float) -> float:
        """Process monotonic time (= asyncio loop time) at simulated time ``t``."""
        return self.mono0 + t / self.scale


class ReqState:
    """The server's per-request state hung on ``Seq.user``."""

    __slots__ = ("api", "direct", "faults", "fut", "reported")

    def __init__(self, api: str, faults: list[str]) -> None:
        self.api = api
        self.faults = faults
        self.fut: asyncio.Future[None] | None = None
        self.reported = 0  # tokens already counted into metrics
        # set by a plain (fault-free) streaming handler: the runner writes new tokens itself,
        # right after the step, instead of waking one handler task per stream per step
        self.direct: Callable[[Seq], Awaitable[None]] | None = None

    async def wait(self) -> None:
        """Until the runner has news for this request."""
        fut = asyncio.get_running_loop().create_future()
        self.fut = fut
        await fut


class Runner:
    """Drives ``engine`` in real time; ``on_finish(seq)`` is called once per finished request."""

    def __init__(self, engine: Engine, clock: SimClock, metrics: VllmMetrics,
                 on_finish: Callable[[Seq], None]) -> None:
        self.engine = engine
        self.clock = clock
        self.metrics = metrics
        self.on_finish = on_finish
        if isinstance(engine, BatchingEngine):
            engine.max_lag = MAX_LAG_S * clock.scale
        self._kick: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="gpusim-engine")
        self._task.add_done_callback(_report_crash)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def submit(self, seq: Seq) -> None:
        self.engine.add(seq, self.clock.now())
        if self.engine.wants_arrival_wakeup():
            kick = self._kick
            if kick is not None and not kick.done():
                kick.set_result(None)

    def abort(self, seq: Seq) -> None:
        """The client went away: drop the request (counted as finish_reason=abort)."""
        if seq.status == DONE:
            return
        self.engine.abort(seq, self.clock.now())
        self._report(seq)

    def sync_gpu(self) -> None:
        """Advance an idle GPU model to now (so it cools while no step runs)."""
        eng = self.engine
        if eng.gpu is not None and eng.next_wakeup() is None:
            now = self.clock.now()
            eng.gpu.run(now - eng.last_time, 0.0)
            eng.last_time = max(eng.last_time, now)

    def _report(self, seq: Seq, direct: list[tuple[Callable[[Seq], Awaitable[None]], Seq]] | None = None) -> None:
        user = seq.user
        if isinstance(user, ReqState):
            n = len(seq.token_times)
            if n > user.reported:
                self.metrics.on_tokens(seq, user.reported)
                user.reported = n
            if direct is not None and user.direct is not None:
                direct.append((user.direct, seq))  # written by the runner; handler woken at the end
                if seq.status != DONE:
                    return
            fut = user.fut
            if fut is not None and not fut.done():
                fut.set_result(None)
        if seq.status == DONE:
            self.metrics.on_finish(seq)
            self.on_finish(seq)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        clock, engine = self.clock, self.engine
        lateness = self.metrics.lateness
        while True:
            planned = engine.next_wakeup()
            now = clock.now()
            if planned is not None and now >= planned:
                lateness.observe((now - planned) / clock.scale)
            direct: list[tuple[Callable[[Seq], Awaitable[None]], Seq]] = []
            steps, in_flight = engine.steps, getattr(engine, "last_step", None)
            for seq in engine.advance(now):
                self._report(seq, direct)
            if in_flight is not None and engine.steps > steps:
                self.metrics.on_step(in_flight[2] + in_flight[3])  # prefill tokens + decoding seqs
            for write, seq in direct:  # the step's chunks, back to back, without task switches
                await write(seq)
            wake = engine.next_wakeup()
            if wake is not None and wake <= clock.now():
                await asyncio.sleep(0)  # behind schedule: let handlers write, then continue
                continue
            kick = loop.create_future()
            self._kick = kick
            handle = None
            if wake is not None:
                # the selector rounds timeouts up to whole milliseconds: wake a little early and
                # sleep the rest precisely (blocking for at most EARLY_S)
                handle = loop.call_at(clock.monotonic_at(wake) - EARLY_S, _set, kick)
            await kick
            self._kick = None
            if handle is not None:
                handle.cancel()
                rest = clock.monotonic_at(wake) - time.monotonic()  # type: ignore[arg-type]
                if 0 < rest <= EARLY_S:
                    time.sleep(rest)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        sys.stderr.write("gpusim: engine task failed: " + "".join(traceback.format_exception(exc)))


def _set(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


__all__ = ["EARLY_S", "MAX_LAG_S", "ReqState", "Runner", "SimClock"]
