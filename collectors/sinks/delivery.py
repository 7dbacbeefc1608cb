"""Delivering one batch: what a transport's answer means for it, and how long to wait before a retry.

:func:`deliver` sends a batch once and returns an :class:`Outcome`: written and rejected line
counts, or "retry later" (timeouts, connection errors, 429, 5xx, and anything unexpected: data
is never given up on an unknown error).  413 splits the batch in halves down to single lines;
if a half must be retried, the whole batch is (InfluxDB keeps one point per series and
timestamp, so re-sending the half that got through is harmless).  Other 4xx are permanent: the
lines are rejected (only the server's ``dropped=N`` of a partial write), and the first such
message is logged once.

:class:`Backoff`: exponential (``initial_s`` doubling up to ``max_s``) with full jitter; a
server's ``Retry-After`` replaces it (capped at 300 s, plus a little jitter).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from collectors.sinks.transport import PermanentWriteError, TooLargeError, TransientWriteError

log = logging.getLogger("collectors.sinks.influx")

RETRY_AFTER_CAP_S = 300.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """``retry`` True: nothing was settled, send the batch again after ``retry_after_s`` (None: backoff)."""

    written: int = 0
    rejected: int = 0
    retry: bool = False
    retry_after_s: float | None = None
    message: str = ""


class Delivery:
    """Sends batches through ``transport`` and logs the first rejection and each outage start once."""

    def __init__(self, transport: Callable[[str], None]) -> None:
        self.transport = transport
        self._rejection_logged = False

    def deliver(self, lines: list[str]) -> Outcome:
        try:
            self.transport("\n".join(lines))
            return Outcome(written=len(lines))
        except TransientWriteError as e:
            return Outcome(retry=True, retry_after_s=e.retry_after_s, message=str(e))
        except TooLargeError:
            if len(lines) == 1:
                self._log_rejection("HTTP 413: a single line is over the server's body limit")
                return Outcome(rejected=1)
            mid = len(lines) // 2
            first = self.deliver(lines[:mid])
            if first.retry:
                return first
            second = self.deliver(lines[mid:])
            if second.retry:
                return second
            return Outcome(written=first.written + second.written, rejected=first.rejected + second.rejected)
        except PermanentWriteError as e:
            self._log_rejection(str(e))
            rejected = len(lines) if e.dropped is None else min(e.dropped, len(lines))
            return Outcome(written=len(lines) - rejected, rejected=rejected)
        except Exception as e:  # unexpected: retry rather than lose data
            return Outcome(retry=True, message=f"unexpected {type(e).__name__}")

    def _log_rejection(self, message: str) -> None:
        if not self._rejection_logged:
            self._rejection_logged = True
            log.error("influxdb sink: the server rejected a batch (dropped and counted, not retried): %s",
                      message)


MAX_DOUBLINGS = 60  # 2**60 x any sane initial backoff is far above every retry_max_s


class Backoff:
    """Delays between retries of one batch; ``reset()`` after a success."""

    def __init__(self, initial_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.rng = rng or random.Random()
        self.attempt = 0

    def next_delay(self, retry_after_s: float | None = None) -> float:
        self.attempt += 1
        if retry_after_s is not None:
            return min(retry_after_s, RETRY_AFTER_CAP_S) + self.rng.uniform(0.0, 0.1 * self.initial_s)
        # the exponent stops growing once the cap is reached: a sink retrying for hours would
        # otherwise overflow the float (attempt 1,025 of a 1 s initial backoff)
        doublings = min(self.attempt - 1, MAX_DOUBLINGS)
        cap = min(self.max_s, self.initial_s * 2.0 ** doublings)
        return self.rng.uniform(0.0, cap)

    def reset(self) -> None:
        self.attempt = 0


__all__ = ["RETRY_AFTER_CAP_S", "Backoff", "Delivery", "Outcome"]
