"""Fake transports for the InfluxDB sink's unit tests (scriptable failures, thread-safe)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from collectors.point import Point
from collectors.records import ErrorClass, RequestRecord
from collectors.sinks.transport import PermanentWriteError, TooLargeError, TransientWriteError


def points(n: int, start: int = 0, measurement: str = "m") -> list[Point]:
    return [Point(measurement, {"run_id": "r"}, {"v": float(i)}, 1_700_000_000_000_000_000 + i)
            for i in range(start, start + n)]


def value_of(line: str) -> int:
    return int(float(line.split(" ")[1].split("=")[1]))


class FakeTransport:
    """Records accepted lines; ``mode`` decides what each call does."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lines: list[str] = []
        self.calls = 0
        self.mode: Callable[[list[str]], None] | None = None  # raise to fail
        self.delay_s = 0.0

    def __call__(self, body: str) -> None:
        lines = body.split("\n")
        with self.lock:
            self.calls += 1
            mode = self.mode
        if self.delay_s:
            time.sleep(self.delay_s)
        if mode is not None:
            mode(lines)
        with self.lock:
            self.lines.extend(lines)

    def values(self) -> list[int]:
        with self.lock:
            return [value_of(x) for x in self.lines]


def down(lines: list[str]) -> None:
    raise TransientWriteError("connection error: ConnectionRefusedError")


def http_503(lines: list[str]) -> None:
    raise TransientWriteError("HTTP 503: unavailable")


def http_400(lines: list[str]) -> None:
    raise PermanentWriteError("HTTP 400: field type conflict", 400)


def too_large_over(limit: int) -> Callable[[list[str]], None]:
    def mode(lines: list[str]) -> None:
        if len(lines) > limit:
            raise TooLargeError("HTTP 413: too large")

    return mode


WALL0_NS = 1_760_000_000_000_000_000  # a fixed Unix time for synthetic records


def make_record(
    idx: int,
    *,
    phase: str = "measure",
    cls: str = "chat",
    worker: str = "w0",
    error: ErrorClass | None = None,
    ttft_s: float = 0.05,
    itl_s: float = 0.01,
    tokens: int = 8,
    lag_s: float = 0.001,
    gap_s: float = 0.001,
    server_timing: dict[str, float] | None = None,
) -> RequestRecord:
    """A finished request scheduled ``idx * gap_s`` after a fixed start (monotonic 0 + offset)."""
    sched = int(idx * gap_s * 1e9)
    sent = sched + int(lag_s * 1e9)
    rec = RequestRecord(idx=idx, phase=phase, traffic_class=cls, worker=worker, scheduled_ns=sched,
                        sent_ns=sent, wall_offset_ns=WALL0_NS, prompt_tokens=100)
    if error is None:
        first = sent + int(ttft_s * 1e9)
        rec.first_byte_ns = first
        rec.first_token_ns = first
        rec.token_ns = [first + int(i * itl_s * 1e9) for i in range(tokens)]
        rec.end_ns = rec.token_ns[-1]
        rec.output_tokens = tokens
        rec.tokens_from_usage = True
        rec.status = 200
    else:
        rec.error = error
        rec.end_ns = sent + int(0.002 * 1e9)
        rec.status = 503 if error == ErrorClass.HTTP_5XX else None
    if server_timing:
        rec.server_timing = dict(server_timing)
    return rec
