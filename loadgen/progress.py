"""The live progress display of a running test.

On a terminal: a rich ``Live`` line refreshed every tick (phase, elapsed/remaining, req/s, p99
TTFT so far, errors, dropped, in flight, workers).  Otherwise (CI logs, files): one plain line
every ``plain_every_s`` seconds (10 s by default), so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the live progress display shows (the coordinator builds one per tick)."""

    phase: str
    elapsed_s: float
    remaining_s: float
    req_per_s: float
    requests: int
    ttft_p99_ms: float | None
    errors: int
    dropped: int
    inflight: int
    workers: int
    stopping: bool = False


def format_line(s: Snapshot) -> str:
    ttft = "-" if s.ttft_p99_ms is None else f"{s.ttft_p99_ms:.0f} ms"
    state = " STOPPING" if s.stopping else ""
    return (
        f"[{s.phase}]{state} {s.elapsed_s:6.0f} s elapsed, {s.remaining_s:5.0f} s left | "
        f"{s.req_per_s:7.1f} req/s | {s.requests} requests | p99 TTFT {ttft} | "
        f"errors {s.errors} | dropped {s.dropped} | in flight {s.inflight} | workers {s.workers}"
    )


class Progress:
    """Call :meth:`update` with a snapshot every tick; :meth:`close` at the end."""

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None, plain_every_s: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        is_tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.live_mode = is_tty if live is None else live
        self.plain_every_s = plain_every_s
        self._last_plain: float | None = None  # the first update always prints
        self._live: Live | None = None
        self.lines = 0
        if self.live_mode:
            self._live = Live(
                Text("starting"), console=Console(file=self.stream), auto_refresh=False, transient=False
            )
            self._live.start()

    def update(self, snapshot: Any) -> None:
        line = format_line(snapshot)
        if self._live is not None:
            self._live.update(Text(line), refresh=True)
            return
        now = time.monotonic()
        if self._last_plain is None or now - self._last_plain >= self.plain_every_s:
            self._last_plain = now
            self.stream.write(line + "\n")
            self.stream.flush()
            self.lines += 1

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


__all__ = ["Progress", "Snapshot", "format_line"]
