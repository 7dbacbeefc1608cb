"""Dashboard 2, *Steady vs peak*: each phase side by side, and how long a burst's effect lasts.

The table has one row per phase x class (percentiles of different classes cannot be merged from
their aggregates: pick one class, or read the per-class rows); the ratio panels divide each phase's
p99 by the ``baseline`` phase's (default ``steady``) with Grafana server-side expressions.
"""

from __future__ import annotations

from collectors import schema as s
from dashboards.grafana import DS, Board, Json, expr_math, target
from dashboards.influxql import Select, agg, ident, latency_where, tag_is, tag_var
from dashboards.overview import RATE_MIN_INTERVAL

UID = "inferload-steady-vs-peak"
METRICS: tuple[tuple[str, str], ...] = ((s.M_TTFT, "TTFT"), (s.M_ITL, "ITL"), (s.M_TPOT, "TPOT"), (s.M_E2E, "E2E"))
PCTS: tuple[tuple[s.Field, str], ...] = ((s.F_P50, "p50"), (s.F_P90, "p90"), (s.F_P99, "p99"), (s.F_P99_9, "p99.9"))


def baseline_variable() -> Json:
    q = (f"SHOW TAG VALUES FROM {ident(s.THROUGHPUT.name)} WITH KEY = {ident(s.T_PHASE.name)} "
         f"WHERE {tag_var(s.T_RUN_ID, 'run_id')}")
    return {"current": {"selected": True, "text": "steady", "value": "steady"}, "datasource": DS, "definition": q,
            "hide": 0, "includeAll": False, "label": "baseline phase", "multi": False, "name": "baseline",
            "options": [], "query": q, "refresh": 2, "regex": "", "skipUrlSync": False, "sort": 1, "type": "query"}


def phase_table_queries() -> list[Json]:
    """The table's queries: counts per phase x class, then one query per latency metric (cumulative window)."""
    counts = Select(s.THROUGHPUT, [agg("sum", s.F_REQUESTS, "requests"), agg("sum", s.F_GOOD, "good"),
                                   f"sum({ident(s.F_ERRORS.name)}) / sum({ident(s.F_REQUESTS.name)}) AS "
                                   f"{ident('error rate')}"], group_tags=[s.T_PHASE, s.T_CLASS])
    out = [target("A", counts, fmt="table")]
    for i, (metric, label) in enumerate(METRICS):
        q = Select(s.LATENCY, [agg("last", f, f"{label} {p}") for f, p in PCTS],
                   where=latency_where(metric, "cumulative"), group_tags=[s.T_PHASE, s.T_CLASS])
        out.append(target(chr(ord("B") + i), q, fmt="table"))
    return out


def goodput_queries() -> list[Json]:
    good = Select(s.THROUGHPUT, [agg("sum", s.F_GOOD, "good")], group_tags=[s.T_PHASE])
    dur = Select(s.RUN_EVENT, [agg("last", s.EF_DURATION, "phase duration")],
                 where=[tag_is(s.T_EVENT, s.EVENT_PHASE)], group_tags=[s.T_PHASE])
    return [target("A", good, fmt="table"), target("B", dur, fmt="table")]


def recovery_query() -> Select:
    return Select(s.RUN_EVENT, [agg("last", s.EF_VALUE, "recovery s")], where=[tag_is(s.T_EVENT, s.EVENT_RECOVERY)],
                  group_tags=[s.T_PHASE])


def worst_class_p99(metric: str, *, by_phase: bool) -> str:
    """Per phase (or for the ``baseline`` phase): the largest final cumulative p99 over the selected classes."""
    inner = Select(s.LATENCY, [agg("last", s.F_P99, "p99")],
                   where=latency_where(metric, "cumulative") + ([] if by_phase else [tag_var(s.T_PHASE, "baseline")]),
                   group_tags=[s.T_PHASE, s.T_CLASS], skip_vars=() if by_phase else ("phase",)).render()
    group = f" GROUP BY {ident(s.T_PHASE.name)}" if by_phase else ""
    return f"SELECT max({ident('p99')}) AS {ident('p99')} FROM ({inner}) WHERE $timeFilter{group}"


def build() -> Json:
    b = Board(UID, "inferload / Steady vs peak",
              "Each phase side by side: percentiles, goodput, the peak-to-steady ratio, p99 over time with phases "
              "shaded, throughput vs latency per interval, and burst recovery time.")
    b.row("Per phase")
    b.add("table", "Per phase x class: requests, error rate, p50/p90/p99/p99.9 (s)",
          "One row per phase and traffic class, for the selected run: requests and good requests (llm_throughput), "
          "error rate, and the run's cumulative percentiles (llm_latency, window=cumulative, last value = the "
          "phase's final value, equal to summary.json's per-class latency). Percentiles of different classes cannot "
          "be merged: filter one class to compare phases alone.", "s", phase_table_queries(), w=24, h=9,
          transformations=[{"id": "merge", "options": {}},
                           {"id": "organize", "options": {"excludeByName": {"Time": True}}}],
          overrides=[{"matcher": {"id": "byName", "options": n}, "properties": [{"id": "unit", "value": u}]}
                     for n, u in (("requests", "short"), ("good", "short"), ("error rate", "percentunit"))])
    for metric, label in ((s.M_TTFT, "TTFT"), (s.M_E2E, "E2E")):
        per_phase = worst_class_p99(metric, by_phase=True)
        base = worst_class_p99(metric, by_phase=False)
        b.add("bargauge", f"p99 {label}: peak-to-steady ratio",
              f"Each phase's final p99 {label} (cumulative; the worst of the selected classes) divided by the baseline "
              "phase's (variable `baseline`, default steady): 1 = as in steady state, 3 = three times worse. "
              "Computed by Grafana expressions (reduce last, then $A / $B).", "x",
              [dict(target("A", per_phase, alias="$tag_phase"), hide=True),
               dict(target("B", base, alias="baseline"), hide=True),
               {"datasource": {"type": "__expr__", "uid": "__expr__"}, "expression": "A", "reducer": "last",
                "refId": "C", "type": "reduce", "hide": True, "settings": {"mode": "dropNN"}},
               {"datasource": {"type": "__expr__", "uid": "__expr__"}, "expression": "B", "reducer": "last",
                "refId": "D", "type": "reduce", "hide": True, "settings": {"mode": "dropNN"}},
               expr_math("E", "$C / $D")], w=8, h=7,
              options={"displayMode": "basic", "orientation": "horizontal",
                       "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
              thresholds=[(None, "green"), (1.5, "orange"), (3, "red")])
    b.add("table", "Goodput per phase (req/s)",
          "Good requests of each phase (llm_throughput.good_requests) over the phase's duration (run_event "
          "phase region): the same number as summary.json's per-phase goodput_req_per_s.", "reqps",
          goodput_queries(), w=8, h=7,
          transformations=[{"id": "merge", "options": {}},
                           {"id": "calculateField", "options": {"alias": "goodput req/s", "mode": "binary",
                                                                "binary": {"left": "good", "operator": "/",
                                                                           "right": "phase duration"}}},
                           {"id": "organize", "options": {"excludeByName": {"Time": True}}}])
    b.add("table", "Burst recovery time (s)",
          "After each burst/peak phase: seconds from the phase's end until the first aggregate interval whose "
          "interval p99 TTFT is within 10 % of the steady phase's cumulative p99 TTFT (computed by the master, "
          "run_event event=recovery; the summary prints the same number as burst_recovery_s). No row: it never "
          "recovered before the run ended.", "s", [target("A", recovery_query(), fmt="table")], w=8, h=7,
          transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}}}])
    b.row("Over time")
    for metric, label in METRICS:
        q = Select(s.LATENCY, [agg("max", s.F_P99, "p99")], where=latency_where(metric), by_time=True, fill="null",
                   group_tags=[s.T_CLASS])
        b.timeseries(f"p99 {label} per interval",
                     f"The interval p99 of {label} per class (llm_latency, window=interval); a bucket longer than "
                     "the aggregate interval shows the largest interval p99 in it (percentiles are never averaged). "
                     "Phases are shaded.", "s", [target("A", q, alias="$tag_class")], w=12)
    xy = Select(s.LATENCY, [f"sum({ident(s.F_COUNT.name)}) * 1000 / $__interval_ms AS {ident('req/s')}",
                            agg("max", s.F_P99, "p99 TTFT")], where=latency_where(s.M_TTFT), by_time=True,
                fill="none", group_tags=[s.T_PHASE])
    b.add("xychart", "Throughput vs p99 TTFT per interval, by phase",
          "Each point is one time bucket: x = completed requests per second, y = the largest interval p99 TTFT, "
          "one colour per phase. Steady state clusters; bursts move up and right.", "s",
          [target("A", xy, alias="$tag_phase", fmt="table")], w=24, h=9,
          options={"seriesMapping": "auto", "dims": {"x": "req/s"}, "legend": {"displayMode": "list",
                                                                                "placement": "bottom"}},
          extra={"interval": RATE_MIN_INTERVAL})
    out = b.to_json()
    out["templating"]["list"].append(baseline_variable())
    return out


__all__ = ["METRICS", "PCTS", "UID", "build", "goodput_queries", "phase_table_queries", "recovery_query",
           "worst_class_p99"]
