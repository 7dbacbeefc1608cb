"""Ground truth: one JSON line per finished request with its server-side timeline.

The first line is an anchor ``{"type": "anchor", "monotonic_s", "wall_time_s", "time_scale"}``:
simulated time ``t`` (seconds since the server started) happened at process monotonic time
``monotonic_s + t / time_scale`` and wall-clock time ``wall_time_s + t / time_scale``.  Each
request line (``"type": "request"``) gives times in simulated seconds on that one clock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from gpusim.engine import Seq


def trace_record(seq: Seq, api: str, faults: list[str]) -> dict[str, Any]:
    """The trace line for ``seq`` (also what tests compare /metrics against)."""
    times = list(seq.token_times)
    return {
        "type": "request",
        "id": seq.id,
        "api": api,
        "arrival_s": seq.arrival,
        "queue_exit_s": seq.scheduled,
        "prefill_start_s": seq.scheduled,
        "prefill_end_s": seq.first_token,
        "token_times_s": times,
        "finish_s": seq.finished_at,
        "finish_reason": seq.finish_reason,
        "prompt_tokens": seq.prompt_tokens,
        "cached_tokens": seq.cached_tokens,
        "output_tokens": len(times),
        "preemptions": seq.preemptions,
        "faults": faults,
    }


class TraceWriter:
    """Appends JSONL records to ``path``; buffered, flushed on ``flush``/``close``."""

    def __init__(self, path: str | Path, monotonic_s: float, wall_time_s: float, time_scale: float) -> None:
        self._f: IO[str] = Path(path).open("w", encoding="utf-8", buffering=1 << 16)  # noqa: SIM115 (closed in close())
        self.write({"type": "anchor", "monotonic_s": monotonic_s, "wall_time_s": wall_time_s,
                    "time_scale": time_scale})

    def write(self, record: dict[str, Any]) -> None:
        self._f.write(json.dumps(record, separators=(",", ":")) + "\n")

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


def read_trace(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(anchor, request records) from a trace file."""
    anchor: dict[str, Any] = {}
    records: list[dict[str, Any]] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        if rec.get("type") == "anchor":
            anchor = rec
        else:
            records.append(rec)
    return anchor, records


__all__ = ["TraceWriter", "read_trace", "trace_record"]
