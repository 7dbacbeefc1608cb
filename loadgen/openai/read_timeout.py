"""The read timeout of one streamed response body: one re-arming event-loop timer per body.

gevent turns a socket timeout into a ``gevent.Timeout`` object created, started and cancelled
around every blocking wait -- once per streamed chunk.  :class:`ReadWatchdog` keeps the same
meaning (longest silence between received bytes) with one timer per body: the reader stores the
instant of every ``recv`` in :attr:`ReadWatchdog.last_ns`; when the timer fires it re-arms itself
for ``last_ns + read_s`` if bytes came meanwhile, else it raises ``TimeoutError`` in the reading
greenlet.  That greenlet must yield only in its socket wait while the watchdog runs (the body
loop in :mod:`loadgen.openai.client` does), and must call :meth:`ReadWatchdog.stop` when done.
"""

from __future__ import annotations

from collections.abc import Callable

import gevent


class ReadWatchdog:
    """Raises ``TimeoutError`` in the creating greenlet after ``read_s`` without a new ``last_ns``."""

    __slots__ = ("_clock", "_glet", "_loop", "_read_ns", "_timer", "last_ns")

    def __init__(self, read_s: float, clock: Callable[[], int], last_ns: int) -> None:
        """``clock``: the clock of ``last_ns`` (ns); ``last_ns``: the last activity so far."""
        self._clock = clock
        self._read_ns = round(read_s * 1e9)
        self.last_ns = last_ns
        self._glet = gevent.getcurrent()
        self._loop = gevent.get_hub().loop
        self._timer = self._loop.timer(max(0.0, (last_ns + self._read_ns - clock()) / 1e9))
        self._timer.start(self._check)

    def _check(self) -> None:
        self._timer.close()
        left = self.last_ns + self._read_ns - self._clock()
        if left > 0:
            self._timer = self._loop.timer(left / 1e9)
            self._timer.start(self._check)
        else:
            self._glet.throw(TimeoutError("read timeout"))

    def stop(self) -> None:
        """The body ended (or failed): no more checks (idempotent)."""
        self._timer.close()


__all__ = ["ReadWatchdog"]
