"""Every InfluxQL query of a dashboard or alert file, expanded exactly the way Grafana expands it.

Two steps, as in Grafana 11:

1. **Template variables** (the browser's InfluxDB datasource, ``interpolateQueryExpr``): a
   multi-value selection becomes ``(a|b)`` with each value regex-escaped; a single value is
   regex-escaped only inside a ``=~ /.../`` (or ``!~``) literal and inserted raw elsewhere; *All*
   becomes the variable's ``allValue`` unescaped (``.*`` here) or, without one, every option as a
   multi-value.  ``$var``, ``${var}`` and ``[[var]]`` are recognised.
2. **Macros** (the server, ``pkg/tsdb/influxdb/models/query.go``, in this order): ``$timeFilter`` ->
   ``time >= {from}ms and time <= {to}ms``, then ``$interval``, ``$__interval_ms`` (integer ms) and
   ``$__interval`` (``gtime.FormatInterval``: the largest whole unit, 90 s -> ``1m``).

The interval is the panel's: ``roundInterval((to - from) / maxDataPoints)`` raised to the panel's
``interval`` or else the datasource's ``timeInterval`` (``rangeutil.calculateInterval``); alert
queries use their ``intervalMs``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ALL = "$__all"
DEFAULT_MAX_DATA_POINTS = 1000  # about a full-width panel on a laptop screen
DATASOURCE_MIN_INTERVAL_MS = 5_000  # dashboards/datasource.py timeInterval

Value = str | Sequence[str]

_ROUND = (  # rangeutil.ts roundInterval: (upper bound exclusive, result) in ms
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000), (3500, 2000),
    (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000), (90000, 60000),
    (210000, 120000), (450000, 300000), (750000, 600000), (1050000, 900000), (1500000, 1200000),
    (2700000, 1800000), (5400000, 3600000), (9000000, 7200000), (16200000, 10800000),
    (32400000, 21600000), (86400000, 43200000), (604800000, 86400000), (1814400000, 604800000),
    (3628800000, 2592000000),
)
_UNITS_MS = (("y", 365 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))
_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
_REGEX_LITERAL = re.compile(r"[=!]~\s*/((?:\\.|[^/\\])*)/")
_ESCAPE = re.compile(r"[\\^$*+?.()|\[\]{}/]")


def round_interval(ms: float) -> int:
    for bound, value in _ROUND:
        if ms < bound:
            return value
    return 31536000000


def format_interval(ms: int) -> str:
    """gtime.FormatInterval: the largest unit the interval reaches, floored (1 ms at least)."""
    for unit, size in _UNITS_MS:
        if ms >= size:
            return f"{ms // size}{unit}"
    return "1ms"


def parse_interval(text: str) -> int:
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d|y)", text.strip())
    if not m:
        raise ValueError(f"bad interval {text!r}")
    return int(m.group(1)) * dict(_UNITS_MS)[m.group(2)]


def panel_interval_ms(from_ms: int, to_ms: int, *, min_interval: str | None = None,
                      max_data_points: int = DEFAULT_MAX_DATA_POINTS) -> int:
    low = parse_interval(min_interval) if min_interval else DATASOURCE_MIN_INTERVAL_MS
    return max(round_interval((to_ms - from_ms) / max_data_points), low, 1)


def escape_regex(value: str) -> str:
    return _ESCAPE.sub(lambda m: "\\" + m.group(0), value)


@dataclass(frozen=True)
class VarDef:
    name: str
    multi: bool
    include_all: bool
    all_value: str | None


def var_defs(dashboard: Mapping[str, Any]) -> dict[str, VarDef]:
    return {v["name"]: VarDef(v["name"], bool(v.get("multi")), bool(v.get("includeAll")), v.get("allValue"))
            for v in dashboard.get("templating", {}).get("list", [])}


def _render(defn: VarDef, value: Value, in_regex: bool, options: Sequence[str]) -> str:
    if value == ALL or (not isinstance(value, str) and list(value) == [ALL]):
        if defn.all_value is not None:
            return defn.all_value
        value = list(options)
    if isinstance(value, str):
        return escape_regex(value) if in_regex else value
    values = [escape_regex(v) for v in value]
    if len(values) == 1:
        return values[0]
    return "(" + "|".join(values) + ")"


def interpolate(query: str, defs: Mapping[str, VarDef], values: Mapping[str, Value],
                options: Mapping[str, Sequence[str]] | None = None) -> str:
    """Step 1: template variables, as the browser does it. Unknown ``$names`` (macros) stay."""
    spans = [(m.start(1), m.end(1)) for m in _REGEX_LITERAL.finditer(query)]

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in defs or name not in values:
            return m.group(0)
        in_regex = any(a <= m.start() < b for a, b in spans)
        return _render(defs[name], values[name], in_regex, (options or {}).get(name, ()))

    return _VAR.sub(repl, query)


def macros(query: str, *, from_ms: int, to_ms: int, interval_ms: int) -> str:
    """Step 2: Grafana's server-side InfluxQL macros, in Grafana's order."""
    text = format_interval(interval_ms)
    query = query.replace("$timeFilter", f"time >= {from_ms}ms and time <= {to_ms}ms")
    query = query.replace("$interval", text)
    query = query.replace("$__interval_ms", str(interval_ms))
    return query.replace("$__interval", text)


# ---- collecting the queries ------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    """One InfluxQL query as stored in a dashboard or alert file."""

    where: str  # "<dashboard uid> / <panel title> / <refId>" and the like
    kind: str  # panel | variable | annotation | alert
    text: str
    min_interval: str | None = None
    interval_ms: int | None = None  # alert queries: their intervalMs
    range_s: int | None = None  # alert queries: relativeTimeRange.from


def _panels(panels: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for p in panels:
        yield p
        yield from _panels(p.get("panels", []))


def dashboard_queries(d: Mapping[str, Any]) -> list[Query]:
    uid = d["uid"]
    out: list[Query] = []
    for p in _panels(d.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("datasource", {}).get("type") == "influxdb":
                out.append(Query(f"{uid} / {p['title']} / {t['refId']}", "panel", t["query"], p.get("interval")))
    for v in d.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            out.append(Query(f"{uid} / variable {v['name']}", "variable", v["query"]))
    for a in d.get("annotations", {}).get("list", []):
        if a.get("datasource", {}).get("type") == "influxdb":
            out.append(Query(f"{uid} / annotation {a['name']}", "annotation", a["query"]))
    return out


def alert_queries(provisioning: Mapping[str, Any], *, from_file: bool = True) -> list[Query]:
    """The InfluxQL queries of alert rules; ``from_file``: undo the provisioning file's ``$$`` escaping,
    as Grafana does when it reads the file."""
    out: list[Query] = []
    for g in provisioning.get("groups", []):
        for r in g.get("rules", []):
            for q in r.get("data", []):
                if q.get("datasourceUid") == "__expr__":
                    continue
                model = q["model"]
                text = model["query"].replace("$$", "$") if from_file else model["query"]
                out.append(Query(f"alert {r['uid']} / {q['refId']}", "alert", text,
                                 interval_ms=int(model["intervalMs"]), range_s=int(q["relativeTimeRange"]["from"])))
    return out


def expand(q: Query, *, from_ms: int, to_ms: int, defs: Mapping[str, VarDef], values: Mapping[str, Value],
           options: Mapping[str, Sequence[str]] | None = None,
           max_data_points: int = DEFAULT_MAX_DATA_POINTS) -> str:
    """The text Grafana would send to InfluxDB for ``q`` over ``[from_ms, to_ms]``."""
    if q.kind == "alert":
        assert q.interval_ms is not None
        interval = max(q.interval_ms, 1)
    else:
        interval = panel_interval_ms(from_ms, to_ms, min_interval=q.min_interval, max_data_points=max_data_points)
    return macros(interpolate(q.text, defs, values, options), from_ms=from_ms, to_ms=to_ms, interval_ms=interval)


__all__ = [
    "ALL",
    "Query",
    "VarDef",
    "alert_queries",
    "dashboard_queries",
    "escape_regex",
    "expand",
    "format_interval",
    "interpolate",
    "macros",
    "panel_interval_ms",
    "round_interval",
    "var_defs",
]
