"""``trace{file, time_scale=1}``: replay of recorded arrival timestamps.

The file holds one timestamp in seconds per line (blank lines and ``#`` comments skipped), or
JSONL objects with a numeric ``timestamp`` field (seconds).  Times are taken relative to the
earliest one, multiplied by ``time_scale`` (2 = twice as slow) and placed from the phase start;
arrivals falling after the phase end are not sent.  Unsorted input is sorted.  The rng is not
used: a trace is deterministic.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from loadgen.arrivals.base import register
from loadgen.config.arrivals import TraceArrivals
from userinput.errors import InputError


def read_trace(path: Path) -> np.ndarray:
    """Sorted timestamps (s) relative to the earliest; :class:`InputError` with file:line."""
    values: list[float] = []
    try:
        with path.open(encoding="utf-8") as fh:
            for lineno, raw in enumerate(fh, start=1):
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                try:
                    obj = json.loads(line)
                except (ValueError, RecursionError):  # bad JSON, a number too long, nesting too deep
                    raise InputError(f"{path}:{lineno}: not a number or JSON object: {line[:60]!r}") from None
                if isinstance(obj, dict):
                    obj = obj.get("timestamp")
                if isinstance(obj, bool) or not isinstance(obj, int | float) or not math.isfinite(obj):
                    raise InputError(f"{path}:{lineno}: expected a timestamp in seconds (a number, or an object with 'timestamp')")
                values.append(float(obj))
    except OSError as err:
        raise InputError(f"{path}: cannot read trace: {err.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None
    if not values:
        raise InputError(f"{path}: trace has no timestamps")
    ts = np.sort(np.asarray(values, dtype=np.float64))
    return ts - ts[0]


@register("trace")
class Trace:
    closed_loop_users: int | None = None

    def __init__(self, config: TraceArrivals) -> None:
        self.path, self.time_scale = config.file, config.time_scale
        self._rel: np.ndarray | None = None

    @property
    def relative(self) -> np.ndarray:
        if self._rel is None:
            self._rel = read_trace(self.path) * self.time_scale
        return self._rel

    def times(self, start_s: float, end_s: float, rng: np.random.Generator) -> Iterator[float]:
        ts = start_s + self.relative
        yield from ts[ts < end_s].tolist()

    def expected_count(self, duration_s: float) -> float:
        return float(np.count_nonzero(self.relative < duration_s))

    def describe(self) -> str:
        scale = f", x{self.time_scale:g}" if self.time_scale != 1 else ""
        return f"trace({self.path.name}, {len(self.relative)} timestamps{scale})"


__all__ = ["Trace", "read_trace"]
