"""The InfluxDB sink: never-blocking writes, bounded memory queue, bounded disk spool, replay.

Data path (the sink's lock is held only for bookkeeping, never for I/O)::

    write(points) ──▶ memory queue (Points) ──encoder thread──▶ encoded lines ──▶ sender ──▶ InfluxDB
                           │ encoder thread, while the sink is degraded (a write failed or
                           ▼ stalled, or the spool is not empty) or the queue passes half its bound
                      disk spool (line protocol segments, ≤ spool_max_mb) ──▶ sender (oldest first)

- ``write`` appends to a deque: O(1) per point, no I/O, never raises.  Beyond ``queue_max_points``
  new points are dropped and counted as ``queue_full``.  Queue, encoder thread, spool and
  accounting: :mod:`collectors.sinks.influx_buffer`; this module adds the sending side.
- One sender thread, so one write in flight.  Oldest first: the batch being retried, the spool,
  encoded lines in memory, the queue.  The encoder works up to two batches ahead, so encoding
  overlaps the write in flight.  Retry and rejection rules: :mod:`collectors.sinks.delivery`.
- Crash bound: a batch from memory whose write fails goes to the spool at once and is retried
  from there; one whose write has been in flight for ``spool_after_s`` (default 1 s) is copied
  there (the copy is discarded if the write gets through after all); while degraded, new points
  follow within a quarter of ``flush_interval_s``.  So a SIGKILL during an outage loses at most
  the points of the last flush interval.
- Spool full: ``drop_oldest`` (default) deletes the oldest segment, counted as ``spool_full``;
  ``stop_run`` keeps the spool, sets :attr:`InfluxSink.stop_requested`, calls ``on_stop_run``
  once and holds new data in memory (then ``queue_full`` drops).
- ``stats()`` is a consistent snapshot: ``generated = written + pending_memory + pending_spool +
  dropped``; drops are logged at most once a minute.
- ``flush``/``close`` send what they can within the timeout (``close``: at most
  ``close_timeout_s``); ``close`` moves the rest to the spool, where :func:`replay_spool` (or the
  next sink on the same directory) finds it, and logs the ``inferload collect replay`` command that
  sends it.  The token never appears in a log line, message, point or file.

``threading`` on purpose (no gevent import): under gevent monkey-patching the threads become
greenlets; encoding yields every 100 points.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

from collectors.point import Point
from collectors.sinks.base import SinkStats
from collectors.sinks.config import InfluxSinkConfig
from collectors.sinks.delivery import Backoff, Delivery
from collectors.sinks.influx_buffer import COPIED, HELD, MEMORY, SPOOL, SpoolingBuffer, format_size
from collectors.sinks.transport import InfluxTransport

log = logging.getLogger(__name__)

Transport = Callable[[str], None]


class InfluxSink(SpoolingBuffer):
    """See the module docstring.  ``transport`` defaults to :class:`InfluxTransport`."""

    def __init__(
        self,
        config: InfluxSinkConfig,
        *,
        transport: Transport | None = None,
        spool_dir: Path | None = None,
        on_stop_run: Callable[[], None] | None = None,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        start: bool = True,
    ) -> None:
        super().__init__(config, spool_dir=spool_dir, on_stop_run=on_stop_run, wall_clock=wall_clock)
        self._transport: Transport = transport if transport is not None else InfluxTransport(config)
        self._deadline = float("inf")
        self._flush_until = 0.0
        self._abandoned = False
        self._retry_after: float | None = None
        self._last_send = time.monotonic()
        self._slow_logged = False
        self._delivery = Delivery(self._transport)
        self._backoff = Backoff(config.retry_initial_s, config.retry_max_s, rng)
        self._threads: list[threading.Thread] = []
        if start:
            self.start()

    # ---- public API ------------------------------------------------------------------------
    def start(self) -> None:
        for target, name in ((self._sender_loop, "influx-sender"), (self._spiller_loop, "influx-encoder")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def flush(self, timeout_s: float) -> bool:
        """Send what is pending now; True when nothing is pending any more."""
        end = time.monotonic() + timeout_s
        with self._cond:
            self._flush_until = end
            self._cond.notify_all()
            while self._pending_locked() and time.monotonic() < end and not self._closed:
                self._cond.wait(min(0.05, max(0.0, end - time.monotonic())))
            return self._pending_locked() == 0

    def close(self, timeout_s: float | None = None) -> SinkStats:
        """Drain for up to ``close_timeout_s`` (or ``timeout_s`` when smaller), spool what is left,
        stop the threads; final stats.  Unsent points: the log names the spool and the replay command."""
        budget = self.config.close_timeout_s if timeout_s is None else min(timeout_s, self.config.close_timeout_s)
        with self._cond:
            if self._closed:
                return self._stats_locked()
            self._closing = True
            self._deadline = time.monotonic() + budget
            self._cond.notify_all()
        for i, t in enumerate(self._threads):  # sender: until the deadline; encoder: a batch at most
            t.join(max(0.0, self._deadline - time.monotonic()) + (0.5 if i == 0 else 5.0))
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            current, source = self._current, self._current_source
            if self._threads and self._threads[0].is_alive() and current is not None:
                self._abandoned = True  # a write is still in flight: keep a copy in the spool
                self._current = None
        if self._abandoned and current is not None:
            self._save_current(current, source)
        self._spill_everything()
        self._spool.close()
        try:
            close = getattr(self._transport, "close", None)
            if close is not None:
                close()
        except Exception:
            log.warning("influxdb sink: closing the client failed", exc_info=False)
        with self._lock:
            self._acct.log_drops(force=True)
            final = self._stats_locked()
        self._report_unsent(final)
        return final

    def replay_command(self) -> str:
        """The command that sends this sink's spool later (names the token's env var/file, never the token)."""
        c = self.config
        parts = ["inferload collect replay", _quote(str(self.spool_dir)), "--influx-url", _quote(c.url),
                 "--influx-bucket", _quote(c.bucket)]
        if c.org:
            parts += ["--influx-org", _quote(c.org)]
        if c.token_env:
            parts += ["--influx-token-env", _quote(c.token_env)]
        elif c.token_file:
            parts += ["--influx-token-file", _quote(str(c.token_file))]
        return " ".join(parts)

    def _report_unsent(self, st: SinkStats) -> None:
        cap = int(self.config.spool_max_mb * 1024 * 1024)
        if st.spool_bytes > cap:
            log.warning("influxdb sink: the spool holds %s, above its spool_max_mb cap of %s "
                        "(on_spool_full=stop_run keeps the data at exit rather than drop it)",
                        format_size(st.spool_bytes), format_size(cap))
        if st.pending:
            log.warning("influxdb sink: %d points could not be sent to InfluxDB; they are kept in %s. "
                        "Send them later with: %s", st.pending, self.spool_dir, self.replay_command())

    # ---- sending ---------------------------------------------------------------------------
    def _sender_loop(self) -> None:
        while True:
            with self._cond:
                self._acct.log_drops()
                if self._closing and (time.monotonic() >= self._deadline or not self._pending_locked()):
                    break
                if self._current is None:
                    source = self._choose_source()
                    if source is None:
                        self._cond.wait(0.05 if (self._closing or self._flush_until) else 0.25)
                        continue
                    pts = self._take(source)
                else:
                    source, pts = self._current_source, None
            if pts is not None:
                if source == SPOOL:
                    lines = self._spool.peek(self.config.batch_size)
                elif source == HELD:
                    lines = [x for x in pts if isinstance(x, str)]
                else:
                    lines = self._encode([x for x in pts if isinstance(x, Point)])
                with self._lock:
                    self._current, self._current_source = lines, source
                    self._copy_tried = source == SPOOL
            if not self._send_current():
                self._wait_before_retry()
        with self._cond:
            current, source = self._current, self._current_source
            self._current = None
        if current is not None:
            self._save_current(current, source)

    def _choose_source(self) -> str | None:
        if self._acct.pending_spool:
            return SPOOL
        if self._held:
            return HELD
        if not self._queue or self._acct.inflight:
            return None  # the spiller is moving older points: wait for it
        now = time.monotonic()
        due = (
            len(self._queue) >= self.config.batch_size
            or now - self._last_send >= self.config.flush_interval_s
            or self._closing
            or now < self._flush_until
        )
        return MEMORY if due else None

    def _take(self, source: str) -> list[Point] | list[str]:
        if source == MEMORY:
            return self._pop_points(self.config.batch_size)
        if source == HELD:
            n = min(self.config.batch_size, len(self._held))
            lines = [self._held.popleft() for _ in range(n)]
            self._acct.inflight += n
            return lines
        return []  # spool: peeked outside the lock

    def _send_current(self) -> bool:
        """Try the current batch once.  True: done with it (written or dropped); False: retry."""
        lines = self._current or []
        source = self._current_source
        if not lines:
            with self._lock:
                self._current = None
            return True
        started = time.monotonic()
        with self._lock:
            self._send_started = started
        outcome = self._delivery.deliver(lines)
        with self._cond:
            self._send_started = None
            while self._copying:  # the encoder is copying this batch to the spool: let it finish
                self._cond.wait(0.05)
            source = self._current_source
        took = time.monotonic() - started
        if took > self.config.flush_interval_s and not self._slow_logged:
            self._slow_logged = True
            log.warning("influxdb sink: a write took %.1f s, longer than flush_interval_s=%.1f s",
                        took, self.config.flush_interval_s)
        if outcome.retry:
            # a batch from memory goes to the spool now and is retried from there (crash-safe)
            saved = source in (MEMORY, HELD) and not self._abandoned and self._save_current(lines, source)
            with self._lock:
                if not self._failing:
                    log.warning("influxdb sink: write failed, will retry with backoff (spilling to %s): %s",
                                self.spool_dir, outcome.message)
                self._acct.retries += 1
                self._failing = True
                self._retry_after = outcome.retry_after_s
                if source == COPIED:
                    self._spool.unpin(self._copy_seq)
                if saved or source == COPIED:
                    self._current = None  # the sender peeks it from the spool next time
                self._cond.notify_all()
            return False
        discarded = self._spool.discard(self._copy_seq) if source == COPIED and not self._abandoned else 0
        with self._lock:
            if self._abandoned:
                return True  # close() already saved this batch to the spool
            self._acct.written += outcome.written
            self._acct.drop("rejected", outcome.rejected)
            if source == SPOOL:
                self._acct.pending_spool -= len(lines)
            elif source == COPIED:
                self._acct.pending_spool -= discarded  # the copy (it was pinned: all of it)
            else:
                self._acct.inflight -= len(lines)
            self._current = None
            self._backoff.reset()
            self._failing = False
            self._last_send = time.monotonic()
            self._cond.notify_all()
        if source == SPOOL:
            self._spool.ack(len(lines))
        return True

    def _wait_before_retry(self) -> None:
        with self._cond:
            end = min(time.monotonic() + self._backoff.next_delay(self._retry_after), self._deadline)
            while time.monotonic() < end and not self._closed:
                self._cond.wait(min(0.1, max(0.0, end - time.monotonic())))

def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def replay_spool(
    directory: Path,
    config: InfluxSinkConfig,
    *,
    timeout_s: float = 60.0,
    transport: Transport | None = None,
) -> SinkStats:
    """Send a spool directory left by an earlier run to InfluxDB; what cannot be sent stays."""
    sink = InfluxSink(config, transport=transport, spool_dir=Path(directory))
    sink.flush(timeout_s)
    return sink.close(timeout_s=1.0)


__all__ = ["InfluxSink", "Transport", "replay_spool"]

