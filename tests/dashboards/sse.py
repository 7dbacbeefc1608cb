"""A small evaluator of Grafana-managed alert rules (tests only): runs each InfluxQL query of a rule
against a real influxd, then its server-side expressions the way Grafana's SSE does them.

- a query's result: one series per tag set (labels = the InfluxDB tags), values in time order;
- ``reduce`` (last / max / min, mode dropNN): one number per label set, nulls dropped;
- ``math``: evaluated per label set present in EVERY referenced result (SSE drops a label set that
  has no match on the other side, which is why the rules make sure both sides have a row);
- ``threshold``: gt / lt against the first parameter.

Returns the condition's result: labels -> fires (bool).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from dashboards import expand

Labels = frozenset[tuple[str, str]]
_REDUCERS: dict[str, Callable[[list[float]], float]] = {"last": lambda v: v[-1], "max": max, "min": min}


def evaluate(rule: Mapping[str, Any], run_query: Callable[[str], dict[str, Any]], now_ms: int) -> dict[Labels, bool]:
    series: dict[str, dict[Labels, list[float]]] = {}
    numbers: dict[str, dict[Labels, float]] = {}
    for d in rule["data"]:
        ref, m = d["refId"], d["model"]
        if d["datasourceUid"] != "__expr__":
            q = expand.Query(ref, "alert", m["query"], interval_ms=int(m["intervalMs"]),
                             range_s=int(d["relativeTimeRange"]["from"]))
            text = expand.expand(q, from_ms=now_ms - int(d["relativeTimeRange"]["from"]) * 1000, to_ms=now_ms,
                                 defs={}, values={})
            res = run_query(text)
            assert "error" not in res, (ref, res, text)
            out: dict[Labels, list[float]] = {}
            for s in res.get("series", []):
                key = frozenset((s.get("tags") or {}).items())
                out.setdefault(key, []).extend(float(row[1]) for row in s["values"] if row[1] is not None)
            series[ref] = out
        elif m["type"] == "reduce":
            fn = _REDUCERS[m["reducer"]]
            numbers[ref] = {k: fn(v) for k, v in series[m["expression"]].items() if v}
        elif m["type"] == "threshold":
            ev = m["conditions"][0]["evaluator"]
            limit, above = float(ev["params"][0]), ev["type"] == "gt"
            assert ev["type"] in ("gt", "lt"), ev
            numbers[ref] = {k: float(v > limit if above else v < limit) for k, v in numbers[m["expression"]].items()}
        elif m["type"] == "math":
            refs = re.findall(r"\$(\w+)", m["expression"])
            common = set.intersection(*(set(numbers[r]) for r in refs))
            py = m["expression"].replace("&&", " and ").replace("||", " or ")
            numbers[ref] = {}
            for k in common:
                env = {r: numbers[r][k] for r in refs}
                text = re.sub(r"\$(\w+)", r"\1", py)
                numbers[ref][k] = float(bool(eval(text, {"__builtins__": {}}, env)))  # noqa: S307 (our own rule text)
        else:
            raise AssertionError(f"unknown expression type {m['type']}")
    return {k: bool(v) for k, v in numbers[rule["condition"]].items()}


def labels(**tags: str) -> Labels:
    return frozenset(tags.items())


__all__ = ["Labels", "evaluate", "labels"]
