"""A point: one row for InfluxDB (measurement, tags, float fields, Unix-ns timestamp).

Every collector yields these; every sink consumes them.  Names come from ``collectors.schema``.
Fields are floats by contract (counts too), so InfluxDB never sees a field-type conflict.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(slots=True)
class Point:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, float]
    time_ns: int
    # its line protocol, set by the first ``collectors.lineproto.encode``: a point written to several
    # sinks (file, InfluxDB, the run folder) is encoded once
    line: str | None = field(default=None, repr=False, compare=False)


class Collector(Protocol):
    """The one protocol every collector implements; the outside world is injected in __init__."""

    def collect(self, now_ns: int) -> Iterable[Point]: ...


__all__ = ["Collector", "Point"]
