"""The InfluxDB sink: never-blocking writes, bounded memory queue, bounded disk spool, replay.

Data path (each arrow under the sink's lock only for the bookkeeping, never for I/O)::

    write(points) ──▶ memory queue (Points, ≤ queue_max_points) ──▶ sender thread ──▶ InfluxDB
                           │ spiller thread: when the queue passes half its bound,
                           ▼ or while InfluxDB is failing
                      disk spool (line protocol segments, ≤ spool_max_mb) ──▶ sender (oldest first)

- ``write`` appends to a deque and returns: O(1) per point, no I/O, never raises.  When the
  queue is at ``queue_max_points`` (the spiller cannot keep up, or ``stop_run`` holds data in
  memory) new points are dropped and counted as ``queue_full``.
- One sender thread, so one write in flight (bounded concurrency).  It sends, oldest first: the
  batch being retried, then the spool, then lines held in memory, then the queue.
- Retried (exponential backoff from ``retry_initial_s`` doubling to ``retry_max_s``, full
  jitter; ``Retry-After`` honoured): timeouts, connection errors, 429, 5xx.  413 splits the
  batch.  Any other 4xx is permanent: the points are dropped and counted as ``rejected`` (the
  server's ``dropped=N`` of a partial write is honoured) and the first message is logged.
- Spool full: ``drop_oldest`` (default) deletes the oldest segment and counts its points as
  ``spool_full``; ``stop_run`` keeps the spool, sets :attr:`InfluxSink.stop_requested`, calls
  ``on_stop_run`` once, and holds new data in memory (then ``queue_full`` drops).
- Accounting: ``stats()`` is a consistent snapshot, ``generated = written + pending_memory +
  pending_spool + dropped``; drops are logged at most once a minute.
- ``flush``/``close`` send what they can within the timeout; ``close`` then moves everything
  left in memory to the spool, where :func:`replay_spool` (or the next sink opened on the same
  directory) finds it.  The token never appears in a log line, message, point or file.

``threading`` is used on purpose (no gevent import): under the load generator's gevent
monkey-patching the threads become greenlets.  Encoding yields every 500 points.
"""

from __future__ import annotations

import logging
import random
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from collectors import lineproto
from collectors.point import Point
from collectors.sinks.base import SinkStats
from collectors.sinks.config import InfluxSinkConfig
from collectors.sinks.spool import Spool
from collectors.sinks.transport import (
    InfluxTransport,
    PermanentWriteError,
    TooLargeError,
    TransientWriteError,
)

log = logging.getLogger(__name__)

Transport = Callable[[str], None]
_ENCODE_CHUNK = 500
_DROP_LOG_INTERVAL_S = 60.0
_MEMORY, _HELD, _SPOOL = "memory", "held", "spool"


def _line_time_ns(line: str) -> int | None:
    try:
        return int(line.rsplit(" ", 1)[1])
    except (IndexError, ValueError):
        return None


class InfluxSink:
    """See the module docstring.  ``transport`` defaults to :class:`InfluxTransport`."""

    name = "influxdb"

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
        self.config = config
        directory = spool_dir or config.spool_dir
        if directory is None:
            directory = Path(tempfile.mkdtemp(prefix="inferload-spool-"))
            log.info("influxdb sink: spool directory %s", directory)
        self.spool_dir = Path(directory)
        self._transport: Transport = transport if transport is not None else InfluxTransport(config)
        self._spool = Spool(self.spool_dir, int(config.spool_max_mb * 1024 * 1024))
        self._on_stop_run = on_stop_run
        self._wall = wall_clock
        self._rng = rng or random.Random()
        self.stop_requested = threading.Event()

        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue: deque[Point] = deque()
        self._held: deque[str] = deque()  # encoded lines kept in memory (spool full, stop_run)
        self._qmax = config.queue_max_points
        # accounting (under _lock)
        self._generated = self._spool.recovered_lines
        self._written = 0
        self._inflight_mem = 0  # popped from queue/held, being encoded, spilled or sent
        self._pending_spool = self._spool.recovered_lines
        self._dropped: dict[str, int] = {}
        self._retries = 0
        # sender state
        self._current: list[str] | None = None  # batch being sent / retried
        self._current_source = ""
        self._attempt = 0
        self._failing = False
        self._closing = False
        self._closed = False
        self._deadline = float("inf")
        self._flush_until = 0.0
        self._abandoned = False
        self._retry_after = -1.0
        self._last_send = time.monotonic()
        self._logged_drops: dict[str, int] = {}
        self._last_drop_log = -float("inf")
        self._rejection_logged = False
        self._write_errors_logged = False
        self._threads: list[threading.Thread] = []
        if start:
            self.start()

    # ---- public API ------------------------------------------------------------------------
    def start(self) -> None:
        for target, name in ((self._sender_loop, "influx-sender"), (self._spiller_loop, "influx-spiller")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def write(self, points: Iterable[Point]) -> None:
        """Queue ``points``; never blocks on I/O, never raises."""
        try:
            pts = points if isinstance(points, list) else list(points)
            n = len(pts)
            if not n:
                return
            with self._lock:
                self._generated += n
                if self._closed:
                    self._drop("closed", n)
                    return
                room = self._qmax - len(self._queue) - len(self._held) - self._inflight_mem
                if room < n:
                    self._drop("queue_full", n - max(room, 0))
                    pts = pts[: max(room, 0)]
                self._queue.extend(pts)
                q = len(self._queue)
                if q >= self.config.batch_size or q * 2 >= self._qmax:
                    self._cond.notify_all()
        except Exception:  # never let telemetry break the request path
            log.exception("influxdb sink: write failed")

    def stats(self) -> SinkStats:
        line = self._spool.oldest_line()  # outside the sink lock: may touch the disk
        with self._lock:
            return self._stats_locked(line)

    def flush(self, timeout_s: float) -> bool:
        """Send what is pending now; True when nothing is pending any more."""
        end = time.monotonic() + timeout_s
        with self._cond:
            self._flush_until = end
            self._cond.notify_all()
            while self._pending_locked() and time.monotonic() < end and not self._closed:
                self._cond.wait(min(0.05, max(0.0, end - time.monotonic())))
            return self._pending_locked() == 0

    def close(self, timeout_s: float = 10.0) -> SinkStats:
        """Drain for up to ``timeout_s``, spool what is left, stop the threads; final stats."""
        with self._cond:
            if self._closed:
                return self._stats_locked()
            self._closing = True
            self._deadline = time.monotonic() + timeout_s
            self._cond.notify_all()
        for t in self._threads:
            t.join(max(0.0, self._deadline - time.monotonic()) + 0.5)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            current, source = self._current, self._current_source
            if any(t.is_alive() for t in self._threads) and current is not None:
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
            self._log_drops(force=True)
            return self._stats_locked()

    # ---- accounting helpers (call under _lock) ---------------------------------------------
    def _drop(self, reason: str, n: int) -> None:
        if n > 0:
            self._dropped[reason] = self._dropped.get(reason, 0) + n

    def _pending_locked(self) -> int:
        return len(self._queue) + len(self._held) + self._inflight_mem + self._pending_spool

    def _stats_locked(self, spool_line: str | None = None) -> SinkStats:
        return SinkStats(
            sink=self.name,
            generated=self._generated,
            written=self._written,
            pending_memory=len(self._queue) + len(self._held) + self._inflight_mem,
            pending_spool=self._pending_spool,
            dropped_by_reason=dict(self._dropped),
            retries=self._retries,
            spool_bytes=self._spool.nbytes,
            oldest_unsent_age_s=self._oldest_age_locked(spool_line),
        )

    def _oldest_age_locked(self, spool_line: str | None) -> float:
        t: int | None = None
        if self._current:
            t = _line_time_ns(self._current[0])
        if t is None and self._pending_spool and spool_line:
            t = _line_time_ns(spool_line)
        if t is None and self._held:
            t = _line_time_ns(self._held[0])
        if t is None and self._queue:
            t = self._queue[0].time_ns
        return max(0.0, self._wall() - t / 1e9) if t is not None else 0.0

    def _log_drops(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._dropped == self._logged_drops or (not force and now - self._last_drop_log < _DROP_LOG_INTERVAL_S):
            return
        self._last_drop_log = now
        self._logged_drops = dict(self._dropped)
        detail = ", ".join(f"{k}={v}" for k, v in sorted(self._dropped.items()))
        log.warning("influxdb sink: %d points dropped so far (%s)", sum(self._dropped.values()), detail)

    # ---- encoding --------------------------------------------------------------------------
    def _encode(self, points: list[Point]) -> list[str]:
        lines: list[str] = []
        empty = 0
        for i in range(0, len(points), _ENCODE_CHUNK):
            chunk_lines, chunk_empty = lineproto.encode_many(points[i : i + _ENCODE_CHUNK])
            lines.extend(chunk_lines)
            empty += chunk_empty
            time.sleep(0)  # let other greenlets run under gevent
        if empty:
            with self._lock:
                self._inflight_mem -= empty
                self._drop("encode_error", empty)
        return lines

    # ---- spilling to disk ------------------------------------------------------------------
    def _spiller_loop(self) -> None:
        while True:
            with self._cond:
                while not self._closing and not self._should_spill():
                    self._cond.wait(0.25)
                if self._closing:
                    return
                pts = self._pop_points(self.config.batch_size)
            self._spill(pts)

    def _should_spill(self) -> bool:
        q = len(self._queue)
        return q > 0 and (q * 2 >= self._qmax or self._failing)

    def _pop_points(self, n: int) -> list[Point]:
        """Pop up to ``n`` oldest points from the queue (under _lock); they become in-flight."""
        n = min(n, len(self._queue))
        pts = [self._queue.popleft() for _ in range(n)]
        self._inflight_mem += n
        return pts

    def _spill(self, pts: list[Point]) -> None:
        lines = self._encode(pts)
        try:
            self._spool_lines(lines)
        except Exception:
            log.exception("influxdb sink: spool write failed; keeping the points in memory")
            with self._lock:
                self._inflight_mem -= len(lines)
                self._held.extend(lines)

    def _spool_lines(self, lines: list[str]) -> None:
        """Move ``lines`` (counted in _inflight_mem) to the spool, honouring its capacity."""
        if not lines:
            return
        size = sum(len(x) for x in lines) + len(lines)
        if self.config.on_spool_full == "stop_run":
            if self._spool.free_bytes() < size:
                self._signal_stop()
                with self._lock:
                    self._inflight_mem -= len(lines)
                    self._held.extend(lines)
                return
        else:
            while self._spool.free_bytes() < size:
                dropped = self._spool.drop_oldest()
                if dropped == 0:
                    break
                with self._lock:
                    self._pending_spool -= dropped
                    self._drop("spool_full", dropped)
            over = size - self._spool.free_bytes()
            if over > 0:  # nothing older left to drop: drop the oldest of this batch
                k = 0
                while k < len(lines) and over > 0:
                    over -= len(lines[k]) + 1
                    k += 1
                with self._lock:
                    self._inflight_mem -= k
                    self._drop("spool_full", k)
                lines = lines[k:]
        self._spool.append(lines)
        with self._lock:
            self._inflight_mem -= len(lines)
            self._pending_spool += len(lines)

    def _signal_stop(self) -> None:
        if self.stop_requested.is_set():
            return
        self.stop_requested.set()
        log.error("influxdb sink: spool full (%.0f MB); on_spool_full=stop_run: asking the run to stop",
                  self.config.spool_max_mb)
        if self._on_stop_run is not None:
            try:
                self._on_stop_run()
            except Exception:
                log.exception("influxdb sink: on_stop_run callback failed")

    def _spill_everything(self) -> None:
        """At close: queue and held lines go to the spool (threads are stopped)."""
        with self._lock:
            pts = self._pop_points(len(self._queue))
            held = list(self._held)
            self._held.clear()
            self._inflight_mem += len(held)
        lines = held + self._encode(pts)
        if lines:
            if self.config.on_spool_full == "stop_run":
                self._spool.append(lines)  # at exit, keeping data beats honouring the cap
                with self._lock:
                    self._inflight_mem -= len(lines)
                    self._pending_spool += len(lines)
            else:
                self._spool_lines(lines)

    def _save_current(self, lines: list[str], source: str) -> None:
        if source == _SPOOL:
            return  # still unacked in the spool
        self._spool.prepend(lines)
        with self._lock:
            self._inflight_mem -= len(lines)
            self._pending_spool += len(lines)

    # ---- sending ---------------------------------------------------------------------------
    def _sender_loop(self) -> None:
        while True:
            with self._cond:
                self._log_drops()
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
                if source == _SPOOL:
                    lines = self._spool.peek(self.config.batch_size)
                elif source == _HELD:
                    lines = [x for x in pts if isinstance(x, str)]
                else:
                    lines = self._encode([x for x in pts if isinstance(x, Point)])
                with self._lock:
                    self._current, self._current_source = lines, source
            if not self._send_current():
                self._backoff()
        with self._cond:
            current, source = self._current, self._current_source
            self._current = None
        if current is not None:
            self._save_current(current, source)

    def _choose_source(self) -> str | None:
        if self._pending_spool:
            return _SPOOL
        if self._held:
            return _HELD
        if not self._queue or self._inflight_mem:
            return None  # the spiller is moving older points: wait for it
        now = time.monotonic()
        due = (
            len(self._queue) >= self.config.batch_size
            or now - self._last_send >= self.config.flush_interval_s
            or self._closing
            or now < self._flush_until
        )
        return _MEMORY if due else None

    def _take(self, source: str) -> list[Point] | list[str]:
        if source == _MEMORY:
            return self._pop_points(self.config.batch_size)
        if source == _HELD:
            n = min(self.config.batch_size, len(self._held))
            lines = [self._held.popleft() for _ in range(n)]
            self._inflight_mem += n
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
        written, rejected, retry_after = self._post(lines)
        took = time.monotonic() - started
        if took > self.config.flush_interval_s and not self._write_errors_logged:
            self._write_errors_logged = True
            log.warning("influxdb sink: a write took %.1f s, longer than flush_interval_s=%.1f s",
                        took, self.config.flush_interval_s)
        if retry_after is not None:
            with self._lock:
                self._retries += 1
                self._failing = True
                self._retry_after = retry_after
                self._cond.notify_all()
            return False
        with self._lock:
            if self._abandoned:
                return True  # close() already saved this batch to the spool
            self._written += written
            self._drop("rejected", rejected)
            if source == _SPOOL:
                self._pending_spool -= len(lines)
            else:
                self._inflight_mem -= len(lines)
            self._current = None
            self._attempt = 0
            self._failing = False
            self._last_send = time.monotonic()
            self._cond.notify_all()
        if source == _SPOOL:
            self._spool.ack(len(lines))
        return True

    def _post(self, lines: list[str]) -> tuple[int, int, float | None]:
        """(written, rejected, retry_after or None when the batch is finished)."""
        try:
            self._transport("\n".join(lines))
            return len(lines), 0, None
        except TransientWriteError as e:
            self._log_transient(str(e))
            return 0, 0, e.retry_after_s if e.retry_after_s is not None else -1.0
        except TooLargeError:
            if len(lines) == 1:
                self._log_rejection("HTTP 413: a single line is over the server's body limit")
                return 0, 1, None
            mid = len(lines) // 2
            w1, r1, a1 = self._post(lines[:mid])
            if a1 is not None:
                return 0, 0, a1  # retry the whole batch later (replay is idempotent)
            w2, r2, a2 = self._post(lines[mid:])
            if a2 is not None:
                return 0, 0, a2
            return w1 + w2, r1 + r2, None
        except PermanentWriteError as e:
            self._log_rejection(str(e))
            rejected = len(lines) if e.dropped is None else min(e.dropped, len(lines))
            return len(lines) - rejected, rejected, None
        except Exception as e:  # unexpected: retry rather than lose data
            self._log_transient(f"unexpected {type(e).__name__}")
            return 0, 0, -1.0

    def _log_rejection(self, message: str) -> None:
        if not self._rejection_logged:
            self._rejection_logged = True
            log.error("influxdb sink: the server rejected a batch (dropped and counted, not retried): %s",
                      message)

    def _log_transient(self, message: str) -> None:
        if not self._failing:
            log.warning("influxdb sink: write failed, will retry with backoff (spilling to %s): %s",
                        self.spool_dir, message)

    def _backoff(self) -> None:
        with self._cond:
            retry_after = self._retry_after
            cap = min(self.config.retry_max_s, self.config.retry_initial_s * 2**self._attempt)
            delay = self._rng.uniform(0.0, cap)
            if retry_after >= 0:
                delay = min(retry_after, 300.0) + self._rng.uniform(0.0, 0.1 * self.config.retry_initial_s)
            self._attempt += 1
            end = min(time.monotonic() + delay, self._deadline)
            while time.monotonic() < end and not self._closed:
                self._cond.wait(min(0.1, max(0.0, end - time.monotonic())))


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
