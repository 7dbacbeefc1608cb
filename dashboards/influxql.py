"""InfluxQL text built from ``collectors.schema`` objects: no measurement, field or tag is spelled here.

- :func:`ident` quotes a name; :func:`agg` renders ``fn("field")``; :func:`tag_is` / :func:`tag_in`
  compare a tag with a literal or a Grafana variable (``=~ /^$var$/``: single, multi and All
  values all fit a regex, see docs/dashboards.md);
- :class:`Select` is one ``SELECT`` statement: the dashboard filters (every template variable
  whose tag the measurement has) are added by :meth:`Select.dash`, ``$timeFilter`` always, and
  ``GROUP BY time($__interval)`` when ``by_time`` is set (the Grafana macros are expanded by
  :mod:`dashboards.expand`, as Grafana does).

Measurements outside a load run (``gpu``) are not filtered by ``run_id`` (a DaemonSet collector
does not know the run; the time range does the scoping); server measurements are filtered by
``run_id`` and ``model`` (the run's own scrape tags them), not by ``host``; ``collector_health``
by neither (collectors often run beside every run, as a DaemonSet or sidecar).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collectors import schema
from collectors.schema import Field, Measurement, Tag

# template variable name -> the tag it filters (datasource is not a filter)
VAR_TAGS: dict[str, Tag] = {
    "run_id": schema.T_RUN_ID,
    "scenario": schema.T_SCENARIO,
    "phase": schema.T_PHASE,
    "class": schema.T_CLASS,
    "model": schema.T_MODEL,
    "endpoint": schema.T_ENDPOINT,
    "host": schema.T_HOST,
    "gpu": schema.T_GPU,
}
# tags a measurement has but the dashboards must not filter on (see the module docstring)
_NOT_FILTERED: dict[str, frozenset[str]] = {
    schema.GPU.name: frozenset({schema.T_RUN_ID.name}),
    schema.SERVER.name: frozenset({schema.T_HOST.name}),
    schema.SERVER_LATENCY.name: frozenset({schema.T_HOST.name}),
    schema.SERVER_LATENCY_BUCKET.name: frozenset({schema.T_HOST.name}),
    schema.COLLECTOR.name: frozenset({schema.T_HOST.name, schema.T_RUN_ID.name}),
}


def ident(name: str) -> str:
    """A double-quoted InfluxQL identifier."""
    return '"' + name.replace('"', '\\"') + '"'


def lit(value: str) -> str:
    """A single-quoted InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def agg(fn: str, f: Field, alias: str | None = None) -> str:
    """``fn("field")`` (``AS "alias"`` when given)."""
    text = f"{fn}({ident(f.name)})"
    return f"{text} AS {ident(alias)}" if alias else text


def col(f: Field | Tag, alias: str | None = None) -> str:
    text = ident(f.name)
    return f"{text} AS {ident(alias)}" if alias else text


def tag_is(tag: Tag, value: str) -> str:
    return f"{ident(tag.name)} = {lit(value)}"


def tag_var(tag: Tag, var: str) -> str:
    """Tag matches a Grafana template variable: ``"tag" =~ /^$var$/``."""
    return f"{ident(tag.name)} =~ /^${var}$/"


def filter_vars(m: Measurement, skip: tuple[str, ...] = ()) -> list[str]:
    """The template variables that filter measurement ``m`` (those whose tag it has)."""
    names = set(m.tag_names()) - _NOT_FILTERED.get(m.name, frozenset())
    return [v for v, t in VAR_TAGS.items() if t.name in names and v not in skip]


@dataclass
class Select:
    """One InfluxQL ``SELECT`` over measurement ``m``."""

    m: Measurement
    exprs: list[str]
    where: list[str] = field(default_factory=list)
    group_tags: list[Tag] = field(default_factory=list)
    by_time: bool = False
    fill: str | None = None  # e.g. "null", "0", "none"
    skip_vars: tuple[str, ...] = ()  # dashboard filters not to apply
    dash_filters: bool = True
    time_filter: bool = True
    order_desc: bool = False
    limit: int | None = None

    def render(self) -> str:
        conds = list(self.where)
        if self.dash_filters:
            conds += [tag_var(VAR_TAGS[v], v) for v in filter_vars(self.m, self.skip_vars)]
        if self.time_filter:
            conds.append("$timeFilter")
        text = f"SELECT {', '.join(self.exprs)} FROM {ident(self.m.name)}"
        if conds:
            text += " WHERE " + " AND ".join(conds)
        groups = (["time($__interval)"] if self.by_time else []) + [ident(t.name) for t in self.group_tags]
        if groups:
            text += " GROUP BY " + ", ".join(groups)
        if self.fill is not None:
            text += f" fill({self.fill})"
        if self.order_desc:
            text += " ORDER BY time DESC"
        if self.limit is not None:
            text += f" LIMIT {self.limit}"
        return text


def latency_where(metric: str, window: str = "interval") -> list[str]:
    """Conditions picking one latency metric and window of ``llm_latency``."""
    return [tag_is(schema.T_METRIC, metric), tag_is(schema.T_WINDOW, window)]


__all__ = [
    "VAR_TAGS",
    "Select",
    "agg",
    "col",
    "filter_vars",
    "ident",
    "latency_where",
    "lit",
    "tag_is",
    "tag_var",
]
