"""Static checks of generated dashboards and alert files (used by test_static.py; each returns problems)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from collectors import schema

_FROM = re.compile(r'FROM\s+"([^"]+)"')
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ALIAS = re.compile(r'AS\s+"((?:[^"\\]|\\.)*)"')
_TAG_LITERAL = re.compile(r'"(\w+)"\s*(?:=|!=)\s*\'([^\']*)\'')
_VAR_USE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
GRAFANA_MACROS = frozenset({"timeFilter", "interval", "__interval", "__interval_ms", "__all"})
# tag -> the values a literal comparison may use (enum-like tags declared in collectors.schema)
TAG_VALUES: dict[str, tuple[str, ...]] = {
    schema.T_METRIC.name: schema.LATENCY_METRICS,
    schema.T_WINDOW.name: schema.WINDOWS,
    schema.T_EVENT.name: schema.EVENT_KINDS,
    schema.T_COMPONENT.name: schema.LATENCY_COMPONENTS,
}


def identifier_problems(query: str) -> list[str]:
    """Every quoted name must be a declared measurement, or a field/tag of a measurement the query reads,
    or an alias the query defines; compared tag literals must be declared values."""
    problems: list[str] = []
    declared = {m.name: m for m in schema.MEASUREMENTS}
    measurements = _FROM.findall(query)
    for name in measurements:
        if name not in declared:
            problems.append(f"unknown measurement {name!r}")
    allowed = set(_ALIAS.findall(query))
    for name in measurements:
        if name in declared:
            allowed |= set(declared[name].field_names()) | set(declared[name].tag_names())
    for name in _QUOTED.findall(query):
        if name not in allowed and name not in declared:
            problems.append(f"{name!r} is not a field or tag of {measurements} (nor an alias)")
    for tag, value in _TAG_LITERAL.findall(query):
        if tag in TAG_VALUES and value not in TAG_VALUES[tag]:
            problems.append(f"{tag} = {value!r}: not a declared value")
    return problems


def variables_used(text: str) -> set[str]:
    return {a or b or c for a, b, c in _VAR_USE.findall(text)} - GRAFANA_MACROS


def walk_panels(panels: list[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def dashboard_problems(d: Mapping[str, Any]) -> list[str]:
    """Ids, refIds, units, descriptions and variables of one dashboard."""
    problems: list[str] = []
    defined = {v["name"] for v in d["templating"]["list"]}
    ids = [p["id"] for p in walk_panels(d["panels"])]
    if len(ids) != len(set(ids)):
        problems.append(f"duplicate panel ids in {d['uid']}")
    texts: list[str] = [v.get("query", "") for v in d["templating"]["list"]]
    texts += [a.get("query", "") for a in d["annotations"]["list"]]
    for p in walk_panels(d["panels"]):
        if p["type"] == "row":
            continue
        where = f"{d['uid']} / {p['title']}"
        if not p.get("description"):
            problems.append(f"{where}: no description")
        if not p.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            problems.append(f"{where}: no unit")
        refs = [t["refId"] for t in p.get("targets", [])]
        if len(refs) != len(set(refs)) or not refs:
            problems.append(f"{where}: refIds {refs} not unique (or none)")
        for t in p.get("targets", []):
            if t.get("datasource", {}).get("type") == "influxdb":
                texts.append(t["query"])
                problems += [f"{where} / {t['refId']}: {e}" for e in identifier_problems(t["query"])]
            else:  # expressions name refIds of the same panel
                for ref in re.findall(r"\$([A-Z]\w*)", t.get("expression", "")):
                    if ref not in refs:
                        problems.append(f"{where}: expression names unknown refId {ref}")
    for text in texts:
        for name in variables_used(text) - defined:
            problems.append(f"{d['uid']}: ${name} used but not defined")
    for a in d["annotations"]["list"]:
        if "query" in a:
            problems += [f"{d['uid']} / annotation {a['name']}: {e}" for e in identifier_problems(a["query"])]
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            problems += [f"{d['uid']} / variable {v['name']}: {e}" for e in identifier_problems(v["query"])]
    return problems


__all__ = ["dashboard_problems", "identifier_problems", "variables_used", "walk_panels"]
