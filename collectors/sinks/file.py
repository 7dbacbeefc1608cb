"""The file sink: line protocol appended to a file, importable later (``influx write``, ``-import``).

``write`` only appends to an in-memory queue (bounded: ``queue_max_points``; beyond it points
are dropped and counted as ``queue_full``); a background thread encodes and appends, flushing
the file to the OS every ``flush_interval_s``; ``close`` drains, flushes, fsyncs and closes.
``close`` is idempotent and safe from any thread; writes after it are counted as ``closed``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from collectors import lineproto
from collectors.loop_yield import yield_to_loop
from collectors.point import Point
from collectors.sinks.base import SinkStats
from collectors.sinks.config import FileSinkConfig
from userinput.errors import InputError

log = logging.getLogger(__name__)

ENCODE_CHUNK = 100  # points encoded between two yields


class FileSink:
    name = "file"

    def __init__(self, config: FileSinkConfig, *, queue_max_points: int = 1_000_000,
                 flush_interval_s: float = 1.0) -> None:
        self.path = Path(config.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = self.path.open("a", encoding="utf-8")
        except OSError as e:
            raise InputError(f"sinks.file.path: cannot write {self.path}: {e.strerror or e}") from None
        self._qmax = queue_max_points
        self._flush_interval_s = flush_interval_s
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue: deque[Point | str] = deque()
        self._generated = self._written = self._inflight = 0
        self._dropped: dict[str, int] = {}
        self._closing = self._closed = False
        self._thread = threading.Thread(target=self._loop, name="file-sink", daemon=True)
        self._thread.start()

    def write_lines(self, lines: list[str]) -> None:
        """Lines already in line protocol (appended as they are; counted like points)."""
        self.write(lines)

    def write(self, points: Iterable[Point | str]) -> None:
        try:
            pts = points if isinstance(points, list) else list(points)
            with self._lock:
                self._generated += len(pts)
                if self._closing:
                    self._dropped["closed"] = self._dropped.get("closed", 0) + len(pts)
                    return
                room = max(0, self._qmax - len(self._queue) - self._inflight)
                if room < len(pts):
                    self._dropped["queue_full"] = self._dropped.get("queue_full", 0) + len(pts) - room
                    pts = pts[:room]
                self._queue.extend(pts)
                if len(self._queue) >= 5000:
                    self._cond.notify()
        except Exception:
            log.exception("file sink: write failed")

    def _loop(self) -> None:
        last_flush = time.monotonic()
        while True:
            with self._cond:
                if not self._queue:
                    if self._closing:
                        return
                    self._cond.wait(0.1)
                pts = [self._queue.popleft() for _ in range(min(5000, len(self._queue)))]
                self._inflight = len(pts)
            if pts:
                self._append(pts)
            if time.monotonic() - last_flush >= self._flush_interval_s:
                self._f.flush()
                last_flush = time.monotonic()

    def _append(self, pts: list[Point | str]) -> None:
        # a str is a line already encoded elsewhere (a worker's raw points shipped to the master)
        objs = [p for p in pts if not isinstance(p, str)]
        lines: list[str] = []
        empty = 0
        for i in range(0, len(objs), ENCODE_CHUNK):
            chunk_lines, chunk_empty = lineproto.encode_many(objs[i:i + ENCODE_CHUNK])
            lines += chunk_lines
            empty += chunk_empty
            yield_to_loop()  # under gevent (a Locust process) the loop sends meanwhile
        if len(objs) < len(pts):
            lines += [p for p in pts if isinstance(p, str)]
        try:
            if lines:
                self._f.write("\n".join(lines) + "\n")
            ok = True
        except OSError:
            log.exception("file sink: cannot write %s", self.path)
            ok = False
        with self._lock:
            self._inflight = 0
            if empty:
                self._dropped["encode_error"] = self._dropped.get("encode_error", 0) + empty
            if ok:
                self._written += len(lines)
            else:
                self._dropped["io_error"] = self._dropped.get("io_error", 0) + len(lines)

    def stats(self) -> SinkStats:
        with self._lock:
            return SinkStats(sink=self.name, generated=self._generated, written=self._written,
                             pending_memory=len(self._queue) + self._inflight,
                             dropped_by_reason=dict(self._dropped))

    def flush(self, timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        with self._cond:
            self._cond.notify()
        while time.monotonic() < end:
            with self._lock:
                if not self._queue and not self._inflight:
                    break
            time.sleep(0.01)
        with self._lock:
            done = not self._queue and not self._inflight
        if done and not self._closed:
            self._f.flush()
        return done

    def close(self, timeout_s: float = 10.0) -> SinkStats:
        with self._cond:
            if self._closed:
                return self._stats_unlocked()
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout_s)
        with self._lock:
            if not self._thread.is_alive():
                self._f.flush()
                os.fsync(self._f.fileno())
                self._f.close()
            self._closed = True
        return self.stats()

    def _stats_unlocked(self) -> SinkStats:
        return SinkStats(sink=self.name, generated=self._generated, written=self._written,
                         pending_memory=len(self._queue) + self._inflight,
                         dropped_by_reason=dict(self._dropped))


__all__ = ["FileSink"]
