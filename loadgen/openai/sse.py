"""Incremental Server-Sent Events decoder (pure: no I/O, timestamps are injected).

Follows the WHATWG "event stream interpretation" rules: lines end with ``\\n``, ``\\r\\n`` or a
lone ``\\r`` (a ``\\r\\n`` split across two feeds counts once); a leading UTF-8 BOM is dropped;
lines starting with ``:`` are comments; ``field: value`` drops one space after the colon; a line
without a colon is a field with an empty value; several ``data:`` lines join with ``\\n``;
``event:`` sets the type, ``id:`` the last event id (ignored if it contains NUL), ``retry:`` the
reconnection time (digits only); a blank line dispatches the event if it has data.

**Timestamps.** Every event carries the ``t_ns`` passed to the :meth:`SseParser.feed` call whose
bytes *completed* it (the blank line that dispatches it).  The client passes the instant the
bytes were read from the socket, so that is the event's arrival time.

**End of stream.** :meth:`SseParser.close` dispatches an event whose lines were all complete
but whose final blank line is missing (lenient, like most clients); an unterminated last line is
a cut-off line and is discarded (``discarded_partial`` tells the caller).
"""

from __future__ import annotations

from dataclasses import dataclass

_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True, frozen=True)
class SseEvent:
    """One dispatched event: its data (lines joined by ``\\n``), arrival time, type and id."""

    data: str
    t_ns: int
    event: str | None = None
    id: str | None = None


class SseParser:
    """Feed raw body bytes as they arrive; get back the events they complete."""

    __slots__ = (
        "_bom_done",
        "_buf",
        "_data",
        "_event",
        "_skip_lf",
        "discarded_partial",
        "last_event_id",
        "retry_ms",
    )

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []
        self._event: str | None = None
        self._skip_lf = False
        self._bom_done = False
        self.last_event_id: str | None = None
        self.retry_ms: int | None = None
        self.discarded_partial = False

    def feed(self, data: bytes, t_ns: int) -> list[SseEvent]:
        """Decode ``data`` (any split of the stream); events completed by it get ``t_ns``."""
        if not data:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if data[0] == 0x0A:
                data = data[1:]
                if not data:
                    return []
        buf = self._buf + data if self._buf else data
        if not self._bom_done:
            if len(buf) < 3 and _BOM.startswith(buf):
                self._buf = buf
                return []
            self._bom_done = True
            if buf.startswith(_BOM):
                buf = buf[3:]
        if b"\r" in buf:
            if buf[-1] == 0x0D:
                self._skip_lf = True
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._buf = lines.pop()
        out: list[SseEvent] = []
        for raw in lines:
            self._line(raw, t_ns, out)
        return out

    def close(self, t_ns: int) -> list[SseEvent]:
        """End of stream: dispatch a pending event whose lines were complete (see module doc)."""
        out: list[SseEvent] = []
        if self._buf:
            self.discarded_partial = True
            self._buf = b""
        if self._data:
            self._line(b"", t_ns, out)
        self._event = None
        return out

    def _line(self, raw: bytes, t_ns: int, out: list[SseEvent]) -> None:
        if not raw:
            if self._data:
                out.append(SseEvent("\n".join(self._data), t_ns, self._event, self.last_event_id))
                self._data = []
            self._event = None
            return
        if raw[0] == 0x3A:  # ':' comment
            return
        if raw[:6] == b"data: ":  # fast path for the usual line; same result as :meth:`_field`
            self._data.append(raw[6:].decode("utf-8", errors="replace"))
            return
        self._field(raw)

    def _field(self, raw: bytes) -> None:
        """A non-empty, non-comment line: the general ``field: value`` rules."""
        line = raw.decode("utf-8", errors="replace")
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isdigit() and value.isascii():
            self.retry_ms = int(value)


__all__ = ["SseEvent", "SseParser"]
