"""One way to give the event loop a turn between two parts of a long step.

Under gevent (a Locust process: ``time`` is monkey-patched) the loop that sends requests shares the
thread with the interval step, the sinks' encoders and the live view.  ``time.sleep(0)`` there is
``gevent.sleep(0)``, which only switches to greenlets already waiting in the loop's callback queue:
gevent runs that queue back to back (it looks at the clock only every 50 callbacks), so due
timers (the pacer's next arrival) and socket reads wait until the whole step is done.  Measured: a
1 ms timer due during ten 2 ms parts separated by ``sleep(0)`` fired after 16 ms; separated by
:func:`yield_to_loop`, after 2 ms (bench/bench_whole_path.py, docs/performance.md).

:func:`yield_to_loop` sleeps for :data:`YIELD_S`: under gevent a timer, so the loop polls its
sockets and runs every timer due before it (earlier deadlines first) before the step goes on;
without gevent a real sleep of 0.1 ms that lets other threads take the GIL.  This module imports
neither gevent nor Locust (collectors run alone on GPU hosts).
"""

from __future__ import annotations

import time

YIELD_S = 0.0001  # short enough to cost nothing, long enough to be a timer, not a callback
PART_S = 0.002  # the longest a :class:`Slicer` part runs before it yields


def yield_to_loop() -> None:
    """Let due timers and ready sockets run (see the module docstring), then return."""
    time.sleep(YIELD_S)


class Slicer:
    """Call it between the small pieces of a long step (one histogram encoded, one decoded): it
    yields to the loop once ``part_s`` has passed since the step began or last yielded, so the step
    runs in parts of about ``part_s`` however many pieces it has."""

    __slots__ = ("_t", "part_s", "yields")

    def __init__(self, part_s: float = PART_S) -> None:
        self.part_s = part_s
        self.yields = 0
        self._t = time.perf_counter()

    def __call__(self) -> None:
        if time.perf_counter() - self._t >= self.part_s:
            yield_to_loop()
            self.yields += 1
            self._t = time.perf_counter()


__all__ = ["PART_S", "YIELD_S", "Slicer", "yield_to_loop"]
