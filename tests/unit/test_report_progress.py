"""The live progress display: plain lines at most every N seconds when not on a terminal."""

from __future__ import annotations

import io
from dataclasses import dataclass

from loadgen.progress import Progress, format_line


@dataclass
class Snap:
    phase: str = "steady"
    elapsed_s: float = 12.0
    remaining_s: float = 48.0
    req_per_s: float = 19.5
    requests: int = 230
    ttft_p99_ms: float | None = 61.2
    errors: int = 3
    dropped: int = 1
    inflight: int = 7
    workers: int = 2
    stopping: bool = False


def test_line_has_every_field() -> None:
    line = format_line(Snap())
    for needle in ("[steady]", "12 s elapsed", "48 s left", "19.5 req/s", "p99 TTFT 61 ms", "errors 3",
                   "dropped 1", "in flight 7", "workers 2"):
        assert needle in line, needle
    assert "p99 TTFT -" in format_line(Snap(ttft_p99_ms=None))
    assert "STOPPING" in format_line(Snap(stopping=True))


def test_plain_mode_throttles_lines() -> None:
    buf = io.StringIO()
    p = Progress(buf, live=False, plain_every_s=3600)
    for _ in range(50):
        p.update(Snap())
    p.close()
    assert p.lines == 1 and buf.getvalue().count("\n") == 1


def test_plain_mode_writes_again_after_the_interval() -> None:
    buf = io.StringIO()
    p = Progress(buf, live=False, plain_every_s=0.0)
    p.update(Snap())
    p.update(Snap(phase="burst"))
    assert p.lines == 2 and "[burst]" in buf.getvalue()
