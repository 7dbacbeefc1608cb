"""The bounded on-disk spool: append-only segment files of line protocol, replayed oldest first.

Layout: ``<dir>/seg-<12-digit sequence>.lp``, one point per ``\\n``-terminated line.  New
lines go to the tail segment; the reader takes lines from the head segment and ``ack``s them
once the destination accepted them; a segment is deleted only when every line in it is acked.
Acks are kept in memory only: after a crash the head segment is sent again from its start,
which is harmless because InfluxDB keeps one point per (series, timestamp) (replay is
idempotent).  A partial last line (crash mid-write) is cut off when the spool is reopened.
Lines that cannot be ours (not UTF-8, longer than :data:`MAX_LINE_BYTES`, no integer timestamp
at the end) are cut out of a reopened segment and counted in :attr:`Spool.recovered_bad`; a
segment that cannot be read is skipped, logged and left where it is.

fsync policy: the tail segment is flushed to the OS on every append and ``fsync``ed at most
once per ``fsync_interval_s`` (default 1 s, like Telegraf's ``buffer_disk_sync``), on every
segment switch and on ``close``.  So a machine crash (not a process crash) can lose up to
about one second of spooled lines.

Capacity (``max_bytes``) is enforced by :meth:`Spool.append_capped` (drop-oldest, or refuse);
plain :meth:`Spool.append` never refuses.
The class is thread-safe (one internal lock; disk I/O happens under it, so only background
threads may call it).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

_PREFIX = "seg-"
_SUFFIX = ".lp"
_FIRST_SEQ = 10**9  # leaves room to prepend segments before the first one
MAX_LINE_BYTES = 1024 * 1024  # no point the sinks write comes near this
_LINE_RE = re.compile(rb"^[^\s#][^\n]* -?\d{1,19}$")  # measurement ... fields timestamp

log = logging.getLogger("collectors.sinks.influx")


@dataclass(slots=True)
class _Segment:
    seq: int
    path: Path
    lines: int = 0
    nbytes: int = 0
    acked: int = 0
    sealed: bool = False
    pinned: bool = False  # a copy of a batch still being sent: never dropped for room (see prepend)
    cache: list[str] | None = field(default=None, repr=False)


def _segment_path(directory: Path, seq: int) -> Path:
    return directory / f"{_PREFIX}{seq:012d}{_SUFFIX}"


class Spool:
    """Segment files under ``directory``; see the module docstring."""

    def __init__(
        self,
        directory: Path,
        max_bytes: int,
        *,
        segment_bytes: int | None = None,
        fsync_interval_s: float = 1.0,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or max(64 * 1024, min(8 * 1024 * 1024, max_bytes // 16))
        self.fsync_interval_s = fsync_interval_s
        self._lock = threading.Lock()
        self._segments: list[_Segment] = []
        self._tail_file: BinaryIO | None = None
        self._last_fsync = time.monotonic()
        self._inflight = 0  # lines handed out by peek() and not yet acked
        self.recovered_bad = 0  # corrupt lines cut out of reopened segments
        self.recovered_lines = self._recover()
        self._nbytes = sum(s.nbytes for s in self._segments)

    # ---- opening ---------------------------------------------------------------------------
    def _recover(self) -> int:
        total = 0
        for path in sorted(self.directory.glob(f"{_PREFIX}*{_SUFFIX}")):
            try:
                seq = int(path.name[len(_PREFIX) : -len(_SUFFIX)])
            except ValueError:
                continue
            try:
                data = path.read_bytes()
                cut = data.rfind(b"\n") + 1
                if cut < len(data):  # partial last line from a crash mid-write: cut off and counted
                    with path.open("r+b") as f:
                        f.truncate(cut)
                    data = data[:cut]
                    self.recovered_bad += 1
                data = self._clean(path, data)
            except OSError as e:
                log.warning("influxdb sink: spool segment %s cannot be read, skipped: %s", path, e.strerror or e)
                continue
            cut = len(data)
            n = data.count(b"\n")
            if n == 0:
                path.unlink()
                continue
            self._segments.append(_Segment(seq, path, lines=n, nbytes=cut, sealed=True))
            total += n
        return total

    def _clean(self, path: Path, data: bytes) -> bytes:
        """``data`` without lines that cannot be ours; the file is rewritten when some were cut."""
        try:
            data.decode("utf-8")
            fine = all(len(x) <= MAX_LINE_BYTES and _LINE_RE.match(x) for x in data.split(b"\n")[:-1])
        except UnicodeDecodeError:
            fine = False
        if fine:
            return data
        keep: list[bytes] = []
        bad = 0
        for line in data.split(b"\n")[:-1]:
            try:
                line.decode("utf-8")
                ok = len(line) <= MAX_LINE_BYTES and _LINE_RE.match(line) is not None
            except UnicodeDecodeError:
                ok = False
            if ok:
                keep.append(line)
            else:
                bad += 1
        cleaned = b"".join(x + b"\n" for x in keep)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(cleaned)
        tmp.replace(path)
        self.recovered_bad += bad
        log.warning("influxdb sink: %d corrupt line(s) cut out of spool segment %s (counted as dropped: io_error)",
                    bad, path)
        return cleaned

    # ---- sizes -----------------------------------------------------------------------------
    @property
    def lines(self) -> int:
        """Lines not yet acked (including lines handed out by ``peek``)."""
        with self._lock:
            return sum(s.lines - s.acked for s in self._segments)

    @property
    def nbytes(self) -> int:
        """Bytes on disk (a plain read: safe to call without waiting for the spool's lock)."""
        return self._nbytes

    def free_bytes(self) -> int:
        return self.max_bytes - self.nbytes

    def segment_count(self) -> int:
        with self._lock:
            return len(self._segments)

    # ---- writing ---------------------------------------------------------------------------
    def append(self, lines: list[str]) -> None:
        """Append ``lines`` (no newlines inside) to the tail, rolling segments at segment_bytes."""
        if not lines:
            return
        with self._lock:
            i = 0
            while i < len(lines):
                seg = self._tail()
                room = self.segment_bytes - seg.nbytes
                chunk: list[str] = []
                size = 0
                while i < len(lines):
                    n = len(lines[i].encode()) + 1
                    if chunk and size + n > room:
                        break
                    chunk.append(lines[i])
                    size += n
                    i += 1
                data = ("\n".join(chunk) + "\n").encode()
                f = self._open_tail(seg)
                f.write(data)
                f.flush()
                seg.lines += len(chunk)
                seg.nbytes += len(data)
                self._nbytes += len(data)
                if seg.cache is not None:
                    seg.cache.extend(chunk)
                if seg.nbytes >= self.segment_bytes:
                    self._seal_tail()
            now = time.monotonic()
            if self._tail_file is not None and now - self._last_fsync >= self.fsync_interval_s:
                os.fsync(self._tail_file.fileno())
                self._last_fsync = now

    def prepend(self, lines: list[str], *, pinned: bool = False) -> int:
        """Put ``lines`` in a new segment *before* the head (a batch older than everything spooled).

        Returns the segment's sequence number.  ``pinned``: :meth:`drop_oldest` never deletes it
        until :meth:`unpin`; :meth:`discard` removes it (a copy whose original got through).
        """
        if not lines:
            return -1
        with self._lock:
            seq = (self._segments[0].seq - 1) if self._segments else _FIRST_SEQ
            path = _segment_path(self.directory, seq)
            data = ("\n".join(lines) + "\n").encode()
            with path.open("wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            self._segments.insert(0, _Segment(seq, path, lines=len(lines), nbytes=len(data), sealed=True,
                                              pinned=pinned))
            self._nbytes += len(data)
            return seq

    def unpin(self, seq: int) -> None:
        """Segment ``seq`` may be dropped for room again."""
        with self._lock:
            for seg in self._segments:
                if seg.seq == seq:
                    seg.pinned = False

    def discard(self, seq: int) -> int:
        """Delete segment ``seq`` (not the one being read); the unacked lines it held (0: not found)."""
        with self._lock:
            for i, seg in enumerate(self._segments):
                if seg.seq == seq and not (i == 0 and self._inflight):
                    self._segments.pop(i)
                    self._nbytes -= seg.nbytes
                    seg.path.unlink(missing_ok=True)
                    return seg.lines - seg.acked
            return 0

    def _tail(self) -> _Segment:
        if not self._segments or self._segments[-1].sealed:
            seq = self._segments[-1].seq + 1 if self._segments else _FIRST_SEQ
            self._segments.append(_Segment(seq, _segment_path(self.directory, seq)))
        return self._segments[-1]

    def _open_tail(self, seg: _Segment) -> BinaryIO:
        if self._tail_file is None:
            self._tail_file = seg.path.open("ab")
        return self._tail_file

    def _seal_tail(self) -> None:
        if self._tail_file is not None:
            f = self._tail_file
            f.flush()
            os.fsync(f.fileno())
            f.close()
            self._tail_file = None
            self._last_fsync = time.monotonic()
        if self._segments:
            self._segments[-1].sealed = True

    # ---- reading ---------------------------------------------------------------------------
    def peek(self, max_lines: int) -> list[str]:
        """Up to ``max_lines`` of the oldest unacked lines (one segment at most); ack them after.

        Calling ``peek`` again before ``ack`` returns the same lines again.
        """
        with self._lock:
            while self._segments:
                head = self._segments[0]
                if head.acked < head.lines:
                    break
                self._remove_head()
            if not self._segments:
                return []
            head = self._segments[0]
            if not head.sealed:
                self._seal_tail()
            if head.cache is None:
                head.cache = head.path.read_bytes().decode().split("\n")[: head.lines]
            out = head.cache[head.acked : head.acked + max_lines]
            self._inflight = len(out)
            return out

    def ack(self, n: int) -> None:
        """The first ``n`` lines last returned by ``peek`` were delivered (or given up on)."""
        with self._lock:
            if not self._segments or n <= 0:
                return
            head = self._segments[0]
            head.acked = min(head.lines, head.acked + n)
            self._inflight = 0
            if head.acked >= head.lines:
                self._remove_head()

    def oldest_line(self) -> str | None:
        """The oldest unacked line, if any (for the oldest-unsent age)."""
        with self._lock:
            for seg in self._segments:
                if seg.acked < seg.lines:
                    if seg.cache is not None:
                        return seg.cache[seg.acked]
                    if seg.acked == 0:
                        with seg.path.open("rb") as f:
                            return f.readline().decode().rstrip("\n")
                    return None
            return None

    # ---- capacity --------------------------------------------------------------------------
    def drop_oldest(self) -> int:
        """Delete the oldest segment not being read; the number of unacked lines it held (0: none)."""
        with self._lock:
            for i, seg in enumerate(self._segments):
                if (i == 0 and self._inflight) or seg.pinned:
                    continue  # its lines are in flight; drop the next one
                if not seg.sealed:
                    self._seal_tail()
                dropped = seg.lines - seg.acked
                self._segments.pop(i)
                self._nbytes -= seg.nbytes
                seg.path.unlink(missing_ok=True)
                return dropped
            return 0

    def append_capped(self, lines: list[str], *, drop_oldest: bool) -> tuple[int, int, list[str]]:
        """Append within ``max_bytes``: (oldest spooled lines dropped, new lines dropped, refused lines).

        ``drop_oldest``: delete the oldest segments (not the one being read) until the lines fit,
        then, if still too big, drop the oldest of ``lines`` themselves.  Otherwise nothing is
        dropped: when the lines do not fit they all come back as ``refused``.
        """
        size = sum(len(x.encode()) for x in lines) + len(lines)
        if self.free_bytes() < size and not drop_oldest:
            return 0, 0, lines
        dropped_old = 0
        while self.free_bytes() < size:
            d = self.drop_oldest()
            if d == 0:
                break
            dropped_old += d
        over = size - self.free_bytes()
        k = 0
        while k < len(lines) and over > 0:
            over -= len(lines[k].encode()) + 1
            k += 1
        self.append(lines[k:])
        return dropped_old, k, []

    def _remove_head(self) -> None:
        if not self._segments[0].sealed:
            self._seal_tail()
        seg = self._segments.pop(0)
        self._nbytes -= seg.nbytes
        seg.path.unlink(missing_ok=True)
        self._inflight = 0

    def close(self) -> None:
        with self._lock:
            self._seal_tail()
            for seg in self._segments:
                seg.cache = None


__all__ = ["MAX_LINE_BYTES", "Spool"]
