"""Reading InfluxDB line protocol back: a small pure parser and a bounded-memory file streamer.

The inverse of :mod:`collectors.lineproto` (and of influxdb-client's encoder): it undoes the
same escapes (``\\,`` ``\\=`` ``\\ `` in keys and tag values, ``\\,`` ``\\ `` in the
measurement, ``\\n`` ``\\t`` ``\\r``), reads float fields, integer fields (``12i``/``12u``) as
floats, booleans as 1.0/0.0, and string fields as ``str``.  Lines without a backslash or a quote
(everything inferload writes) take a fast ``split`` path.

:func:`iter_file` streams one file line by line (memory does not grow with the file);
``measurements`` skips every other line after a cheap prefix test, before any parsing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

FieldValue = float | str


@dataclass(slots=True)
class ParsedPoint:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, FieldValue]
    time_ns: int | None


class LineProtocolError(ValueError):
    """A line that is not valid line protocol (the message names what is wrong)."""


# keys, tag values, measurement: the encoder's escapes; string field values: quote and backslash
_UNESCAPE_KEY = {",": ",", "=": "=", " ": " ", "n": "\n", "t": "\t", "r": "\r"}
_UNESCAPE_STR = {'"': '"', "\\": "\\"}


def _split_unescaped(s: str, sep: str, quotes: bool = False) -> list[str]:
    """Split on ``sep`` not preceded by a backslash (and, with ``quotes``, not inside a string
    field value: a quote right after ``=`` opens one, the next unescaped quote closes it)."""
    out: list[str] = []
    buf: list[str] = []
    i, n, in_q = 0, len(s), False
    while i < n:
        ch = s[i]
        if ch == "\\" and i + 1 < n:
            buf.append(s[i : i + 2])
            i += 2
            continue
        if quotes and ch == '"' and (in_q or (i > 0 and s[i - 1] == "=")):
            in_q = not in_q
        elif ch == sep and not in_q:
            out.append("".join(buf))
            buf = []
            i += 1
            continue
        buf.append(ch)
        i += 1
    out.append("".join(buf))
    return out


def _unescape(s: str, table: dict[str, str] = _UNESCAPE_KEY) -> str:
    if "\\" not in s:
        return s
    if table is _UNESCAPE_KEY and s.endswith("\\ "):  # the encoder's guard after a trailing backslash
        s = s[:-1]
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        if ch == "\\" and i + 1 < n and s[i + 1] in table:
            out.append(table[s[i + 1]])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _field_value(raw: str, line: str) -> FieldValue:
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"'):
            raise LineProtocolError(f"unterminated string field in: {line[:120]}")
        return _unescape(raw[1:-1], _UNESCAPE_STR)
    last = raw[-1:]
    if last in ("i", "u"):
        try:
            return float(int(raw[:-1]))
        except ValueError:
            raise LineProtocolError(f"bad integer field {raw!r} in: {line[:120]}") from None
    low = raw.lower()
    if low in ("t", "true"):
        return 1.0
    if low in ("f", "false"):
        return 0.0
    try:
        return float(raw)
    except ValueError:
        raise LineProtocolError(f"bad field value {raw!r} in: {line[:120]}") from None


def parse_line(line: str) -> ParsedPoint | None:
    """One point, or None for a blank or comment line; :class:`LineProtocolError` when malformed."""
    line = line.rstrip("\n")
    if not line or line.startswith("#"):
        return None
    if "\\" not in line and '"' not in line:
        parts = line.split(" ")
        if len(parts) not in (2, 3):
            raise LineProtocolError(f"expected 'measurement,tags fields [time]': {line[:120]}")
        key = parts[0].split(",")
        tags: dict[str, str] = {}
        for kv in key[1:]:
            k, sep, v = kv.partition("=")
            if not sep:
                raise LineProtocolError(f"tag without '=' ({kv!r}) in: {line[:120]}")
            tags[k] = v
        fields: dict[str, FieldValue]
        body = parts[1]
        try:  # all plain floats (everything inferload writes): C-level splits, no call per field
            if body.count("=") != body.count(",") + 1:
                raise ValueError(body)
            items = body.replace("=", ",").split(",")
            fields = dict(zip(items[0::2], map(float, items[1::2]), strict=True))
            if "" in fields:
                raise ValueError(body)
        except ValueError:
            fields = {}
            for kv in parts[1].split(","):
                k, sep, v = kv.partition("=")
                if not sep or not v:
                    raise LineProtocolError(f"field without value ({kv!r}) in: {line[:120]}") from None
                fields[k] = _field_value(v, line)
        ts = _time(parts[2], line) if len(parts) == 3 else None
        return ParsedPoint(key[0], tags, fields, ts)
    return _parse_escaped(line)


def _time(raw: str, line: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise LineProtocolError(f"bad timestamp {raw!r} in: {line[:120]}") from None


def _parse_escaped(line: str) -> ParsedPoint:
    head, *rest = _split_unescaped(line, " ")
    sections = [head, *(s for s in _split_unescaped(" ".join(rest), " ", quotes=True) if s != "")]
    if len(sections) not in (2, 3):
        raise LineProtocolError(f"expected 'measurement,tags fields [time]': {line[:120]}")
    key = _split_unescaped(sections[0], ",")
    tags: dict[str, str] = {}
    for kv in key[1:]:
        kt = _split_unescaped(kv, "=")
        if len(kt) != 2:
            raise LineProtocolError(f"bad tag {kv!r} in: {line[:120]}")
        tags[_unescape(kt[0])] = _unescape(kt[1])
    fields: dict[str, FieldValue] = {}
    for kv in _split_unescaped(sections[1], ",", quotes=True):
        k, _, v = _split_escaped_eq(kv)
        if not v:
            raise LineProtocolError(f"field without value ({kv!r}) in: {line[:120]}")
        fields[_unescape(k)] = _field_value(v, line)
    ts = _time(sections[2], line) if len(sections) == 3 else None
    return ParsedPoint(_unescape(key[0]), tags, fields, ts)


def _split_escaped_eq(kv: str) -> tuple[str, str, str]:
    i = 0
    while i < len(kv):
        if kv[i] == "\\":
            i += 2
            continue
        if kv[i] == "=":
            return kv[:i], "=", kv[i + 1 :]
        i += 1
    return kv, "", ""


def _prefixes(measurements: Collection[str]) -> tuple[str, ...]:
    return tuple(p for m in measurements for p in (m + ",", m + " "))


def iter_file(
    path: Path, measurements: Collection[str] | None = None, errors: list[str] | None = None
) -> Iterator[ParsedPoint]:
    """Stream the points of one line-protocol file (optionally only ``measurements``).

    A malformed line is skipped and described in ``errors`` (``path:line: message``) when a
    list is given, else :class:`LineProtocolError` is raised with the file and line.
    """
    want = _prefixes(measurements) if measurements is not None else None
    with path.open("r", encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if want is not None and not line.startswith(want):
                continue
            try:
                p = parse_line(line)
            except LineProtocolError as err:
                if errors is None:
                    raise LineProtocolError(f"{path}:{lineno}: {err}") from None
                errors.append(f"{path}:{lineno}: {err}")
                continue
            if p is not None:
                yield p


__all__ = ["FieldValue", "LineProtocolError", "ParsedPoint", "iter_file", "parse_line"]
