"""Line protocol encoding of :class:`~collectors.point.Point` (ns precision, float fields only).

The output is byte-for-byte what influxdb-client's ``Point.to_line_protocol()`` produces for the
same point (tags and fields sorted by key, the same escaping, whole floats without ``.0``,
non-finite fields dropped) — golden-tested in tests/collectors/test_lineproto.py.  It exists
because the library's encoder reached about 30,000 request points/s on one core, below the
sink's 100,000 points/s target (see docs/performance.md, ``## Sinks``); the speed comes from
caching the escaped ``measurement,tags`` prefix and the escaped field keys.

Non-finite field values (NaN, +-inf) are dropped, as the library does; a point left with no
field encodes to ``""`` and the sink counts it as ``dropped_encode_error``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import cast

from collectors.point import Point

_ESCAPE_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"})
_ESCAPE_KEY = str.maketrans(
    {",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"}
)
_CACHE_MAX = 4096

_prefix_cache: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
_plan_cache: dict[tuple[str, ...], tuple[Callable[[dict[str, float]], tuple[float, ...]], str]] = {}


def _escape_tag_value(value: str) -> str:
    out = value.translate(_ESCAPE_KEY)
    if out.endswith("\\"):
        out += " "
    return out


def _prefix(measurement: str, tags: dict[str, str]) -> str:
    key = (measurement, tuple(tags.items()))
    p = _prefix_cache.get(key)
    if p is None:
        parts = [measurement.translate(_ESCAPE_MEASUREMENT)]
        for k, v in sorted(tags.items()):
            ek, ev = k.translate(_ESCAPE_KEY), _escape_tag_value(v)
            if ek and ev:
                parts.append(f"{ek}={ev}")
        p = ",".join(parts) + " "
        if len(_prefix_cache) >= _CACHE_MAX:
            _prefix_cache.clear()
        _prefix_cache[key] = p
    return p


def _field_plan(fields: dict[str, float]) -> tuple[Callable[[dict[str, float]], tuple[float, ...]], str]:
    """(getter of the values sorted by name, ``"k1=%r,k2=%r,"`` template), cached per name tuple."""
    names = tuple(fields)
    plan = _plan_cache.get(names)
    if plan is None:
        ordered = sorted(names)
        template = "".join(n.translate(_ESCAPE_KEY).replace("%", "%%") + "=%r," for n in ordered)
        if len(ordered) == 1:  # itemgetter of one key returns the bare value, not a tuple
            template += "%.0s"  # the key asked twice: the second copy formats to nothing
            ordered.append(ordered[0])
        getter = cast(Callable[[dict[str, float]], tuple[float, ...]], itemgetter(*ordered))
        plan = (getter, template)
        if len(_plan_cache) >= _CACHE_MAX:
            _plan_cache.clear()
        _plan_cache[names] = plan
    return plan


def _encode_checked(point: Point) -> str:
    """The careful path: drops non-finite fields one by one."""
    parts = []
    for name in sorted(point.fields):
        v = float(point.fields[name])
        if v - v != 0.0:  # NaN or +-inf
            continue
        r = repr(v)
        parts.append(f"{name.translate(_ESCAPE_KEY)}={r[:-2] if r.endswith('.0') else r}")
    if not parts:
        return ""
    return f"{_prefix(point.measurement, point.tags)}{','.join(parts)} {point.time_ns}"


def encode(point: Point) -> str:
    """One line (no newline); ``""`` when the point has no finite field.

    Fast path: one C-level ``template % values`` for the whole field set, then whole floats lose
    their ``.0`` (the library's format).  A non-finite sum means a NaN/inf somewhere (or an
    overflow): the careful path handles it.  The line is kept on the point (``Point.line``), so
    a point written to several sinks is encoded once; a point is not changed after it is written.
    """
    line = point.line
    if line is not None:  # encoded before, for another sink
        return line
    fields = point.fields
    if not fields:
        line = ""
    else:
        getter, template = _field_plan(fields)
        values = getter(fields)
        total = sum(values)
        if total - total != 0.0:
            line = _encode_checked(point)
        else:
            body = (template % values).replace(".0,", ",")
            line = f"{_prefix(point.measurement, point.tags)}{body[:-1]} {point.time_ns}"
    point.line = line
    return line


def encode_many(points: Iterable[Point]) -> tuple[list[str], int]:
    """Encoded lines of ``points`` and how many points encoded to nothing (no finite field)."""
    lines: list[str] = []
    empty = 0
    for p in points:
        line = encode(p)
        if line:
            lines.append(line)
        else:
            empty += 1
    return lines, empty


__all__ = ["encode", "encode_many"]
