"""The live progress display: plain lines at most every N seconds when not on a terminal."""

from __future__ import annotations

import io
from dataclasses import replace

from loadgen.progress import Progress, Snapshot, format_line

SNAP = Snapshot(phase="steady", elapsed_s=12.0, remaining_s=48.0, req_per_s=19.5, requests=230,
                ttft_p99_ms=61.2, errors=3, dropped=1, inflight=7, workers=2)


def test_line_has_every_field() -> None:
    line = format_line(SNAP)
    for needle in ("[steady]", "12 s elapsed", "48 s left", "19.5 req/s", "p99 TTFT 61 ms", "errors 3",
                   "dropped 1", "in flight 7", "workers 2"):
        assert needle in line, needle
    assert "p99 TTFT -" in format_line(replace(SNAP, ttft_p99_ms=None))
    assert "STOPPING" in format_line(replace(SNAP, stopping=True))


def test_plain_mode_throttles_lines() -> None:
    buf = io.StringIO()
    p = Progress(buf, live=False, plain_every_s=3600)
    for _ in range(50):
        p.update(SNAP)
    p.close()
    assert p.lines == 1 and buf.getvalue().count("\n") == 1


def test_plain_mode_writes_again_after_the_interval() -> None:
    buf = io.StringIO()
    p = Progress(buf, live=False, plain_every_s=0.0)
    p.update(SNAP)
    p.update(replace(SNAP, phase="burst"))
    assert p.lines == 2 and "[burst]" in buf.getvalue()
