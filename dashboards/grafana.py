"""Small typed builders for Grafana 11 dashboard JSON (plain dicts; see dashboards/__init__.py).

A :class:`Board` collects panels in reading order and lays them out on Grafana's 24-column grid;
:func:`target` makes a raw InfluxQL query, :func:`expr_math` a server-side expression (Grafana's
``__expr__`` datasource, used where two measurements must be combined: InfluxQL has no joins).
Every panel gets a unit and a description (the static tests check both).  The template variables,
annotations and links are the same on every dashboard: :func:`variables`, :func:`annotations`,
:func:`links`.
"""

from __future__ import annotations

from typing import Any

from collectors import schema
from dashboards.influxql import Select, agg, col, ident, tag_is, tag_var

SCHEMA_VERSION = 39  # Grafana 11.0's dashboard schema version (later 11.x migrate it on load)
DS: dict[str, str] = {"type": "influxdb", "uid": "${datasource}"}
EXPR_DS: dict[str, str] = {"type": "__expr__", "uid": "__expr__"}
TAG = "inferload"
DATASOURCE_UID = "inferload-influxdb"  # the provisioned datasource (dashboards/provisioning/datasources)
ALL = ".*"  # allValue of the multi-value variables: matches every value, and points without the tag

Json = dict[str, Any]


def target(ref: str, query: Select | str, *, alias: str = "", fmt: str = "time_series") -> Json:
    text = query.render() if isinstance(query, Select) else query
    t: Json = {"datasource": DS, "query": text, "rawQuery": True, "refId": ref, "resultFormat": fmt}
    if alias:
        t["alias"] = alias
    return t


def expr_math(ref: str, expression: str) -> Json:
    return {"datasource": EXPR_DS, "expression": expression, "refId": ref, "type": "math", "hide": False}


class Board:
    """One dashboard under construction."""

    def __init__(self, uid: str, title: str, description: str) -> None:
        self.uid, self.title, self.description = uid, title, description
        self.panels: list[Json] = []
        self._x = 0
        self._y = 0
        self._row_h = 0

    def _place(self, w: int, h: int) -> Json:
        if self._x + w > 24:
            self._x, self._y, self._row_h = 0, self._y + self._row_h, 0
        pos = {"h": h, "w": w, "x": self._x, "y": self._y}
        self._x += w
        self._row_h = max(self._row_h, h)
        return pos

    def row(self, title: str) -> None:
        if self._x:
            self._x, self._y, self._row_h = 0, self._y + self._row_h, 0
        self.panels.append({"collapsed": False, "gridPos": {"h": 1, "w": 24, "x": 0, "y": self._y},
                            "id": len(self.panels) + 1, "panels": [], "title": title, "type": "row"})
        self._y += 1

    def add(self, kind: str, title: str, description: str, unit: str, targets: list[Json], *, w: int = 12,
            h: int = 8, options: Json | None = None, custom: Json | None = None,
            overrides: list[Json] | None = None, transformations: list[Json] | None = None,
            thresholds: list[tuple[float | None, str]] | None = None, mappings: list[Json] | None = None,
            extra: Json | None = None) -> Json:
        defaults: Json = {"unit": unit}
        if mappings:
            defaults["mappings"] = mappings
        if custom:
            defaults["custom"] = custom
        if thresholds:
            defaults["thresholds"] = {"mode": "absolute",
                                      "steps": [{"color": c, "value": v} for v, c in thresholds]}
            defaults["color"] = {"mode": "thresholds"}
        panel: Json = {
            "datasource": DS, "description": description, "fieldConfig": {"defaults": defaults,
                                                                          "overrides": overrides or []},
            "gridPos": self._place(w, h), "id": len(self.panels) + 1, "options": options or {},
            "targets": targets, "title": title, "type": kind,
        }
        if transformations:
            panel["transformations"] = transformations
        if extra:
            panel.update(extra)
        self.panels.append(panel)
        return panel

    def timeseries(self, title: str, description: str, unit: str, targets: list[Json], *, stacked: bool = False,
                   w: int = 12, h: int = 8, bars: bool = False, **kw: Any) -> Json:
        custom: Json = {"drawStyle": "bars" if bars else "line", "fillOpacity": 30 if stacked or bars else 0,
                        "showPoints": "never", "spanNulls": True,
                        "stacking": {"group": "A", "mode": "normal" if stacked else "none"}}
        options = {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]},
                   "tooltip": {"mode": "multi", "sort": "desc"}}
        return self.add("timeseries", title, description, unit, targets, w=w, h=h, custom=custom,
                        options=options, **kw)

    def stat(self, title: str, description: str, unit: str, targets: list[Json], *, w: int = 4, h: int = 5,
             **kw: Any) -> Json:
        options = {"colorMode": "background", "graphMode": "none", "justifyMode": "auto", "textMode": "value_and_name",
                   "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                   "orientation": "auto"}
        return self.add("stat", title, description, unit, targets, w=w, h=h, options=options, **kw)

    def to_json(self) -> Json:
        return {
            "annotations": {"list": annotation_list()}, "description": self.description, "editable": True,
            "fiscalYearStartMonth": 0, "graphTooltip": 1, "id": None, "links": links(), "liveNow": False,
            "panels": self.panels, "refresh": "10s", "schemaVersion": SCHEMA_VERSION, "tags": [TAG],
            "templating": {"list": variables()}, "time": {"from": "now-1h", "to": "now"},
            "timepicker": {}, "timezone": "", "title": self.title, "uid": self.uid, "version": 1,
            "weekStart": "",
        }


# ---- the shared variables, annotations and links ---------------------------------------------
def _query_var(name: str, query: str, *, multi: bool, label: str | None = None) -> Json:
    v: Json = {"datasource": DS, "definition": query, "hide": 0, "label": label or name, "name": name,
               "options": [], "query": query, "refresh": 2, "regex": "", "skipUrlSync": False, "type": "query"}
    if multi:
        v.update({"allValue": ALL, "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
                  "includeAll": True, "multi": True, "sort": 1})
    else:
        v.update({"current": {}, "includeAll": False, "multi": False, "sort": 0})
    return v


def _tag_values(m: schema.Measurement, tag: schema.Tag, where: str = "") -> str:
    text = f"SHOW TAG VALUES FROM {ident(m.name)} WITH KEY = {ident(tag.name)}"
    return text + (f" WHERE {where}" if where else "")


def run_id_query() -> str:
    """The latest run in the time range, then every run in it (oldest first): the default is the first value.

    InfluxQL 1.x ignores ``ORDER BY time DESC`` over subqueries and sorts tag values alphabetically,
    so the latest run is put first by a subquery whose only row is stamped with the start of a
    ten-year ``GROUP BY time`` bucket (earlier than any data in range); Grafana drops the repeat.
    """
    h = schema.HEALTH
    latest = (f"SELECT {agg('last', schema.F_INTERVAL, 'n')}, {col(schema.T_RUN_ID)} FROM {ident(h.name)} "
              f"WHERE $timeFilter GROUP BY time(3650d) fill(none)")
    every = Select(h, [agg("last", schema.F_INTERVAL, "n")], group_tags=[schema.T_RUN_ID], dash_filters=False)
    return f"SELECT {col(schema.T_RUN_ID)}, {ident('n')} FROM ({latest}), ({every.render()})"


def variables() -> list[Json]:
    run = tag_var(schema.T_RUN_ID, "run_id")
    tp = schema.THROUGHPUT
    return [
        {"current": {}, "hide": 0, "includeAll": False, "label": "InfluxDB", "multi": False, "name": "datasource",
         "options": [], "query": "influxdb", "refresh": 1, "regex": "", "skipUrlSync": False, "type": "datasource"},
        _query_var("run_id", run_id_query(), multi=False, label="run"),
        _query_var("scenario", _tag_values(tp, schema.T_SCENARIO, run), multi=True),
        _query_var("phase", _tag_values(tp, schema.T_PHASE, run), multi=True),
        _query_var("class", _tag_values(tp, schema.T_CLASS, run), multi=True),
        _query_var("model", _tag_values(tp, schema.T_MODEL, run), multi=True),
        _query_var("endpoint", _tag_values(tp, schema.T_ENDPOINT, run), multi=True),
        _query_var("host", _tag_values(schema.GPU, schema.T_HOST), multi=True),
        _query_var("gpu", _tag_values(schema.GPU, schema.T_GPU, tag_var(schema.T_HOST, "host")), multi=True),
    ]


def _event_annotation(name: str, event: str, color: str, title_tag: schema.Tag) -> Json:
    ev = schema.RUN_EVENT
    q = Select(ev, [col(schema.EF_END_MS), col(schema.EF_DURATION), col(schema.EF_VALUE), col(schema.EF_THRESHOLD),
                    col(schema.T_PHASE), col(schema.T_OBJECTIVE), col(schema.T_EVENT)],
               where=[tag_is(schema.T_EVENT, event)], skip_vars=("phase",)).render()
    return {"datasource": DS, "enable": True, "hide": False, "iconColor": color, "name": name, "query": q,
            "tagsColumn": schema.T_EVENT.name, "target": {"query": q, "rawQuery": True, "refId": "Anno",
                                                          "resultFormat": "table"},
            "textColumn": schema.EF_VALUE.name if event != schema.EVENT_PHASE else schema.EF_DURATION.name,
            "timeEndColumn": schema.EF_END_MS.name, "titleColumn": title_tag.name}


def annotation_list() -> list[Json]:
    """Phase regions, SLO violations, burst recoveries and drifts (``run_event``) on every time-series panel."""
    builtin = {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
               "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}
    return [
        builtin,
        _event_annotation("Phases", schema.EVENT_PHASE, "rgba(120, 120, 255, 0.25)", schema.T_PHASE),
        _event_annotation("SLO violations", schema.EVENT_VIOLATION, "rgba(255, 60, 60, 0.35)", schema.T_OBJECTIVE),
        _event_annotation("Burst recovery", schema.EVENT_RECOVERY, "rgba(60, 200, 120, 0.35)", schema.T_PHASE),
        # a soak's upward trend (loadgen/drift.py): from the series' first value to when it was flagged
        _event_annotation("Drift", schema.EVENT_DRIFT, "rgba(255, 160, 0, 0.25)", schema.T_OBJECTIVE),
    ]


def links() -> list[Json]:
    """Every inferload dashboard, keeping the time range and the variables."""
    return [{"asDropdown": False, "icon": "external link", "includeVars": True, "keepTime": True, "tags": [TAG],
             "targetBlank": False, "title": "inferload", "tooltip": "", "type": "dashboards", "url": ""}]


__all__ = [
    "ALL",
    "DATASOURCE_UID",
    "DS",
    "EXPR_DS",
    "SCHEMA_VERSION",
    "TAG",
    "Board",
    "Json",
    "annotation_list",
    "expr_math",
    "links",
    "run_id_query",
    "target",
    "variables",
]
