"""The memory and disk side of the InfluxDB sink: queue, encoder thread, spool, accounting.

:class:`SpoolingBuffer` holds what :class:`collectors.sinks.influx.InfluxSink` has not sent yet:
points queued by ``write`` (O(1), never blocks, bounded by ``queue_max_points``), lines the
encoder thread encoded ahead, and the on-disk spool (bounded by ``spool_max_mb``).  The encoder
thread encodes up to two batches ahead while InfluxDB keeps up.  While the sink is *degraded*
(the last write failed, the write in flight has taken ``spool_after_s`` or more, or older points
are still waiting in the spool) it moves everything in memory to the spool, polling every
:attr:`SpoolingBuffer.poll_s` (at most a quarter of ``flush_interval_s``), and it copies a
stalled batch to the spool (pinned, so the copy is discarded if the write gets through after
all).  So once an outage is seen, a process crash loses at most the points of the last flush
interval.  Spool full: ``drop_oldest`` deletes the oldest segment (counted as ``spool_full``);
``stop_run`` keeps it, sets ``stop_requested``, calls ``on_stop_run`` once and holds new data in
memory.  Every transition updates the :class:`~collectors.sinks.base.Ledger` under one lock, so
``stats()`` always balances.  The sending side (sender thread, retries, flush, close) is in
``collectors/sinks/influx.py``.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from collectors import lineproto
from collectors.loop_yield import yield_to_loop
from collectors.point import Point
from collectors.sinks.base import Ledger, SinkStats
from collectors.sinks.config import InfluxSinkConfig
from collectors.sinks.spool import Spool
from userinput.errors import InputError

log = logging.getLogger("collectors.sinks.influx")

ENCODE_CHUNK = 100  # points encoded between two yields (collectors/loop_yield.py)
MEMORY, HELD, SPOOL = "memory", "held", "spool"
COPIED = "copied"  # a stalled batch from memory whose copy is in the spool (pinned) while it is still sent


def format_size(nbytes: float) -> str:
    """``10240`` -> ``"10 KB"``, ``536870912`` -> ``"512 MB"`` (never rounds a small size to 0)."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if nbytes >= scale:
            value = nbytes / scale
            return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"
    return f"{nbytes:.0f} bytes"


def _line_time_ns(line: str) -> int | None:
    try:
        return int(line.rsplit(" ", 1)[1])
    except (IndexError, ValueError):
        return None


class SpoolingBuffer:
    """Queue + encoded lines + spool with exact accounting; ``InfluxSink`` adds the sending side."""

    name = "influxdb"

    def __init__(
        self,
        config: InfluxSinkConfig,
        *,
        spool_dir: Path | None = None,
        on_stop_run: Callable[[], None] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        directory = spool_dir or config.spool_dir
        if directory is None:
            directory = Path(tempfile.mkdtemp(prefix="inferload-spool-"))
            log.info("influxdb sink: spool directory %s", directory)
        self.spool_dir = Path(directory)
        if self.spool_dir.exists() and not self.spool_dir.is_dir():
            raise InputError(f"sinks.influxdb.spool_dir: {self.spool_dir} is a file, not a folder")
        try:
            self._spool = Spool(self.spool_dir, max(1, int(config.spool_max_mb * 1024 * 1024)))
        except OSError as e:
            raise InputError(f"sinks.influxdb.spool_dir: cannot use {self.spool_dir}: {e.strerror or e}") from None
        self._on_stop_run = on_stop_run
        self._wall = wall_clock
        self.stop_requested = threading.Event()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue: deque[Point] = deque()
        self._held: deque[str] = deque()  # encoded lines in memory (older than the queue)
        self._qmax = config.queue_max_points
        # accounting (under _lock); inflight = popped from queue/held, being encoded, spilled or sent
        self._acct = Ledger("influxdb sink", log)
        self._acct.generated = self._acct.pending_spool = self._spool.recovered_lines
        self._acct.generated += self._spool.recovered_bad  # corrupt lines found in the spool: counted, not sent
        self._acct.drop("io_error", self._spool.recovered_bad)
        self._current: list[str] | None = None  # the batch being sent / retried (sender side)
        self._current_source = ""
        self._send_started: float | None = None  # monotonic start of the write in flight
        self._copy_seq = -1  # spool segment holding the COPIED batch
        self._copy_tried = False  # the current batch was already considered for a stall copy
        self._copying = False
        self.poll_s = min(0.25, config.flush_interval_s / 4, config.spool_after_s / 4)
        self._failing = False
        self._closing = False
        self._closed = False

    def write(self, points: Iterable[Point]) -> None:
        """Queue ``points``; never blocks on I/O, never raises."""
        try:
            pts = points if isinstance(points, list) else list(points)
            n = len(pts)
            if not n:
                return
            with self._lock:
                self._acct.generated += n
                if self._closed:
                    self._acct.drop("closed", n)
                    return
                room = self._qmax - len(self._queue) - len(self._held) - self._acct.inflight
                if room < n:
                    self._acct.drop("queue_full", n - max(room, 0))
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


    # ---- accounting helpers (call under _lock) ---------------------------------------------
    def _pending_locked(self) -> int:
        return len(self._queue) + len(self._held) + self._acct.inflight + self._acct.pending_spool

    def _stats_locked(self, spool_line: str | None = None) -> SinkStats:
        oldest = [self._current[0] if self._current else None, spool_line if self._acct.pending_spool else None,
                  self._held[0] if self._held else None]
        t = next((_line_time_ns(x) for x in oldest if x), None)
        if t is None and self._queue:
            t = self._queue[0].time_ns
        return self._acct.snapshot(self.name, memory=len(self._queue) + len(self._held),
                                   spool_bytes=self._spool.nbytes,
                                   oldest_unsent_age_s=max(0.0, self._wall() - t / 1e9) if t is not None else 0.0)

    # ---- encoding --------------------------------------------------------------------------
    def _encode(self, points: list[Point]) -> list[str]:
        lines: list[str] = []
        empty = 0
        for i in range(0, len(points), ENCODE_CHUNK):
            chunk_lines, chunk_empty = lineproto.encode_many(points[i : i + ENCODE_CHUNK])
            lines.extend(chunk_lines)
            empty += chunk_empty
            yield_to_loop()  # under gevent the loop sends meanwhile
        if empty:
            with self._lock:
                self._acct.inflight -= empty
                self._acct.drop("encode_error", empty)
        return lines

    # ---- encoder thread: encoding ahead, spilling to disk ------------------------------------------------------------------
    def _spiller_loop(self) -> None:
        """Encodes ahead while InfluxDB keeps up (so encoding overlaps the write in flight), and
        moves memory to the spool while the sink is degraded or the queue passes half its bound."""
        while True:
            with self._cond:
                while not self._closing and (job := self._next_job()) is None:
                    self._cond.wait(self.poll_s)
                if self._closing:
                    return
                if job == "copy_stalled":
                    lines = list(self._current or [])
                    self._copying = True
                    self._copy_tried = True
                elif job == "held_to_spool":
                    lines = list(self._held)
                    self._held.clear()
                    self._acct.inflight += len(lines)
                else:
                    pts = self._pop_points(self.config.batch_size)
            if job == "copy_stalled":
                self._copy_stalled(lines)
            elif job == "held_to_spool":
                self._spool_lines(lines)
            elif job == "spill":
                self._spill(pts)
            else:
                encoded = self._encode(pts)
                with self._cond:
                    self._acct.inflight -= len(encoded)
                    self._held.extend(encoded)
                    self._cond.notify_all()

    def _stalled_locked(self) -> bool:
        started = self._send_started
        return started is not None and time.monotonic() - started >= self.config.spool_after_s

    def _degraded_locked(self) -> bool:
        """The last write failed, the one in flight is stalled, or older points wait in the spool."""
        return self._failing or self._acct.pending_spool > 0 or self._stalled_locked()

    def _next_job(self) -> str | None:
        """What the encoder thread should do now (under _lock): None, copy_stalled, encode, spill,
        held_to_spool."""
        q = len(self._queue)
        degraded = self._degraded_locked()
        if (self._current and self._current_source in (MEMORY, HELD) and not self._copy_tried
                and self._stalled_locked()):
            return "copy_stalled"
        if degraded or q * 2 >= self._qmax:
            if degraded and self._held and not self.stop_requested.is_set():
                return "held_to_spool"  # keep the order: encoded lines are older than the queue
            return "spill" if q else None
        if q >= self.config.batch_size and len(self._held) < 2 * self.config.batch_size:
            return "encode"
        return None

    def _pop_points(self, n: int) -> list[Point]:
        """Pop up to ``n`` oldest points from the queue (under _lock); they become in-flight."""
        n = min(n, len(self._queue))
        pts = [self._queue.popleft() for _ in range(n)]
        self._acct.inflight += n
        return pts

    def _copy_stalled(self, lines: list[str]) -> None:
        """Copy the batch whose write is stalled to the spool (pinned), so a crash cannot lose it."""
        seq = None
        try:
            seq = self._spool.prepend(lines, pinned=True)
        except OSError:
            log.exception("influxdb sink: cannot copy the stalled batch to the spool")
        finally:
            with self._cond:
                self._copying = False
                if seq is not None:
                    self._copy_seq = seq
                    self._current_source = COPIED
                    self._acct.inflight -= len(lines)
                    self._acct.pending_spool += len(lines)
                self._cond.notify_all()

    def _spill(self, pts: list[Point]) -> None:
        lines = self._encode(pts)
        try:
            self._spool_lines(lines)
        except Exception:
            log.exception("influxdb sink: spool write failed; keeping the points in memory")
            with self._lock:
                self._acct.inflight -= len(lines)
                self._held.extend(lines)

    def _spool_lines(self, lines: list[str]) -> None:
        """Move ``lines`` (counted in _inflight_mem) to the spool, honouring its capacity."""
        if not lines:
            return
        drop_oldest = self.config.on_spool_full == "drop_oldest"
        dropped_old, dropped_new, refused = self._spool.append_capped(lines, drop_oldest=drop_oldest)
        if refused:
            self._signal_stop()
        with self._lock:
            self._acct.inflight -= len(lines)
            self._acct.pending_spool += len(lines) - dropped_new - len(refused) - dropped_old
            self._acct.drop("spool_full", dropped_old + dropped_new)
            self._held.extend(refused)  # stop_run: kept in memory, bounded by queue_max_points

    def _signal_stop(self) -> None:
        if self.stop_requested.is_set():
            return
        self.stop_requested.set()
        log.error("influxdb sink: spool full (%s in %s); on_spool_full=stop_run: asking the run to stop",
                  format_size(self.config.spool_max_mb * 1024 * 1024), self.spool_dir)
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
            self._acct.inflight += len(held)
        lines = held + self._encode(pts)
        if lines:
            if self.config.on_spool_full == "stop_run":
                self._spool.append(lines)  # at exit, keeping data beats honouring the cap
                with self._lock:
                    self._acct.inflight -= len(lines)
                    self._acct.pending_spool += len(lines)
            else:
                self._spool_lines(lines)

    def _save_current(self, lines: list[str], source: str) -> bool:
        """A batch taken from memory goes back, in front of everything spooled (it is the oldest)."""
        if source in (SPOOL, COPIED):
            return True  # already in the spool
        try:
            self._spool.prepend(lines)
        except OSError:
            log.exception("influxdb sink: cannot write a failed batch to the spool; keeping it in memory")
            return False
        with self._lock:
            self._acct.inflight -= len(lines)
            self._acct.pending_spool += len(lines)
        return True


__all__ = ["COPIED", "HELD", "MEMORY", "SPOOL", "SpoolingBuffer", "format_size"]
