"""Dashboard 2, *Steady vs peak*: each phase side by side, and how long a burst's effect lasts.

- **Per phase** (one row per phase, every class merged): the phase's kind, arrival process and
  target rate (``run_event`` phase events), requests, good requests, error rate and goodput
  (``llm_throughput``), p50/p90/p99/p99.9 of TTFT/ITL/TPOT/E2E (``llm_latency_phase``, the phase's
  own percentiles over every class, window=cumulative, last value), and the peak-to-steady ratio
  columns: the phase's p99 TTFT / E2E divided by the ``baseline`` phase's.
- **Per phase x class**: the same percentiles per traffic class (``llm_latency``).

The ratio is computed by InfluxDB, not by a Grafana transformation: transformations cannot refer
to another row, so two hidden query variables (``baseline_ttft_p99``, ``baseline_e2e_p99``) hold
the baseline phase's final p99 and the ratio queries divide by them
(``last("p99_s") / $baseline_ttft_p99``).  Grafana interpolates a single-valued variable raw
outside a regex, so the query InfluxDB receives is plain arithmetic.  The table's queries are
joined on the ``phase`` column (transformations: drop each frame's ``Time``, ``merge``, goodput =
good / duration by ``calculateField``, sort by the phase's start).
"""

from __future__ import annotations

from collectors import schema as s
from dashboards.grafana import DS, Board, Json, target
from dashboards.influxql import Select, agg, col, ident, latency_where, tag_is, tag_var
from dashboards.overview import RATE_MIN_INTERVAL

UID = "inferload-steady-vs-peak"
METRICS: tuple[tuple[str, str], ...] = ((s.M_TTFT, "TTFT"), (s.M_ITL, "ITL"), (s.M_TPOT, "TPOT"), (s.M_E2E, "E2E"))
PCTS: tuple[tuple[s.Field, str], ...] = ((s.F_P50, "p50"), (s.F_P90, "p90"), (s.F_P99, "p99"), (s.F_P99_9, "p99.9"))
# metric -> (hidden variable holding the baseline phase's final p99, the ratio column's name)
RATIOS: dict[str, tuple[str, str]] = {
    s.M_TTFT: ("baseline_ttft_p99", "TTFT p99 / baseline"),
    s.M_E2E: ("baseline_e2e_p99", "E2E p99 / baseline"),
}
NO_CLASS = ("class",)  # the per-phase queries merge every class: the class variable does not apply


def baseline_variable() -> Json:
    q = (f"SHOW TAG VALUES FROM {ident(s.THROUGHPUT.name)} WITH KEY = {ident(s.T_PHASE.name)} "
         f"WHERE {tag_var(s.T_RUN_ID, 'run_id')}")
    return {"current": {"selected": True, "text": "steady", "value": "steady"}, "datasource": DS, "definition": q,
            "hide": 0, "includeAll": False, "label": "baseline phase", "multi": False, "name": "baseline",
            "options": [], "query": q, "refresh": 2, "regex": "", "skipUrlSync": False, "sort": 1, "type": "query"}


def baseline_p99_query(metric: str) -> str:
    """The ``baseline`` phase's final p99 of ``metric`` (every class merged): a hidden variable's query."""
    return Select(s.PHASE_LATENCY, [agg("last", s.F_P99, "p99")],
                  where=latency_where(metric, "cumulative") + [tag_var(s.T_PHASE, "baseline")],
                  skip_vars=("phase",)).render()


def baseline_p99_variables() -> list[Json]:
    """Hidden, single-valued: Grafana takes the first column after ``time`` (a number) as the value."""
    out = []
    for metric, (name, _) in RATIOS.items():
        q = baseline_p99_query(metric)
        out.append({"current": {}, "datasource": DS, "definition": q, "hide": 2, "includeAll": False,
                    "label": f"baseline p99 {metric}", "multi": False, "name": name, "options": [], "query": q,
                    "refresh": 2, "regex": "", "skipUrlSync": False, "sort": 0, "type": "query"})
    return out


def ratio_query(metric: str, alias: str) -> str:
    """Per phase: final p99 / the baseline phase's final p99 (``$baseline_<metric>_p99``)."""
    var, _ = RATIOS[metric]
    expr = f"last({ident(s.F_P99.name)}) / ${var} AS {ident(alias)}"
    return Select(s.PHASE_LATENCY, [expr], where=latency_where(metric, "cumulative"),
                  group_tags=[s.T_PHASE]).render()


def phase_info_query() -> Select:
    """Kind, arrival process, target rate, start and duration of each phase (its run_event phase event)."""
    start = f"{ident(s.EF_END_MS.name)} - {ident(s.EF_DURATION.name)} * 1000 AS {ident('start')}"
    return Select(s.RUN_EVENT, [start, col(s.EF_RATE, "target req/s"), col(s.EF_DURATION, "duration")],
                  where=[tag_is(s.T_EVENT, s.EVENT_PHASE)], group_tags=[s.T_PHASE, s.T_PHASE_KIND, s.T_PROCESS])


def phase_counts_query() -> Select:
    return Select(s.THROUGHPUT, [agg("sum", s.F_REQUESTS, "requests"), agg("sum", s.F_GOOD, "good"),
                                 f"sum({ident(s.F_ERRORS.name)}) / sum({ident(s.F_REQUESTS.name)}) AS "
                                 f"{ident('error rate')}"], group_tags=[s.T_PHASE], skip_vars=NO_CLASS)


def phase_table_queries() -> list[Json]:
    """The per-phase table: A phase info, B counts, C.. percentiles per metric, then the ratio columns."""
    out = [target("A", phase_info_query(), fmt="table"), target("B", phase_counts_query(), fmt="table")]
    for i, (metric, label) in enumerate(METRICS):
        q = Select(s.PHASE_LATENCY, [agg("last", f, f"{label} {p}") for f, p in PCTS],
                   where=latency_where(metric, "cumulative"), group_tags=[s.T_PHASE])
        out.append(target(chr(ord("C") + i), q, fmt="table"))
    for i, (metric, (_, alias)) in enumerate(RATIOS.items()):
        out.append(target(chr(ord("C") + len(METRICS) + i), ratio_query(metric, alias), fmt="table"))
    return out


def class_table_queries() -> list[Json]:
    """The per phase x class table: counts, then one query per latency metric (cumulative window)."""
    counts = Select(s.THROUGHPUT, [agg("sum", s.F_REQUESTS, "requests"), agg("sum", s.F_GOOD, "good"),
                                   f"sum({ident(s.F_ERRORS.name)}) / sum({ident(s.F_REQUESTS.name)}) AS "
                                   f"{ident('error rate')}"], group_tags=[s.T_PHASE, s.T_CLASS])
    out = [target("A", counts, fmt="table")]
    for i, (metric, label) in enumerate(METRICS):
        q = Select(s.LATENCY, [agg("last", f, f"{label} {p}") for f, p in PCTS],
                   where=latency_where(metric, "cumulative"), group_tags=[s.T_PHASE, s.T_CLASS])
        out.append(target(chr(ord("B") + i), q, fmt="table"))
    return out


def recovery_query() -> Select:
    return Select(s.RUN_EVENT, [agg("last", s.EF_VALUE, "recovery s")], where=[tag_is(s.T_EVENT, s.EVENT_RECOVERY)],
                  group_tags=[s.T_PHASE])


def _units(pairs: tuple[tuple[str, str], ...]) -> list[Json]:
    return [{"matcher": {"id": "byName", "options": n}, "properties": [{"id": "unit", "value": u}]} for n, u in pairs]


# frames are joined on `phase`: every frame's own Time column goes first (they differ between queries)
_DROP_TIME: Json = {"id": "organize", "options": {"excludeByName": {"Time": True}}}
_MERGE: Json = {"id": "merge", "options": {}}


def build() -> Json:
    b = Board(UID, "inferload / Steady vs peak",
              "Each phase side by side: percentiles, goodput, the peak-to-steady ratio, p99 over time with phases "
              "shaded, throughput vs latency per interval, and burst recovery time.")
    b.row("Per phase")
    ratio_names = tuple(alias for _, alias in RATIOS.values())
    b.add("table", "Per phase: kind, rate, requests, goodput, error rate, p50/p90/p99/p99.9 (s), peak-to-steady",
          "One row per phase of the selected run, every traffic class merged (the class variable does not apply). "
          "Kind, arrival process and target req/s come from the phase's run_event (the plan's rate_hint); requests, "
          "good requests and error rate from llm_throughput; goodput = good requests / phase duration (equals "
          "summary.json's per-phase goodput_req_per_s); percentiles are the phase's own (llm_latency_phase, "
          "window=cumulative, last value = summary.json's per-phase latency). The last two columns divide the "
          "phase's p99 TTFT / E2E by the baseline phase's (variable `baseline`, default steady): 1 = as in steady "
          "state, 3 = three times worse. Rows are sorted by the phase's start.", "s", phase_table_queries(),
          w=24, h=9,
          transformations=[
              _DROP_TIME, _MERGE,
              {"id": "calculateField", "options": {"alias": "goodput req/s", "mode": "binary",
                                                   "binary": {"left": "good", "operator": "/", "right": "duration"}}},
              {"id": "sortBy", "options": {"sort": [{"field": "start", "desc": False}]}},
          ],
          overrides=_units((("start", "dateTimeAsIso"), ("target req/s", "reqps"), ("duration", "s"),
                            ("requests", "short"), ("good", "short"), ("error rate", "percentunit"),
                            ("goodput req/s", "reqps"), *((n, "x") for n in ratio_names))))
    b.add("table", "Per phase x class: requests, error rate, p50/p90/p99/p99.9 (s)",
          "One row per phase and traffic class: requests and good requests (llm_throughput), error rate, and the "
          "class's cumulative percentiles (llm_latency, window=cumulative, last value = summary.json's per-class "
          "latency). Percentiles of different classes cannot be merged from these rows: the per-phase table above "
          "has the merged ones.", "s", class_table_queries(), w=24, h=9,
          transformations=[_DROP_TIME, _MERGE],
          overrides=_units((("requests", "short"), ("good", "short"), ("error rate", "percentunit"))))
    for metric, label in ((s.M_TTFT, "TTFT"), (s.M_E2E, "E2E")):
        b.add("bargauge", f"p99 {label}: peak-to-steady ratio",
              f"Each phase's final p99 {label} (every class merged, llm_latency_phase) divided by the baseline "
              f"phase's (variable `baseline`, default steady; its p99 is the hidden variable "
              f"`{RATIOS[metric][0]}`): 1 = as in steady state, 3 = three times worse.", "x",
              [target("A", ratio_query(metric, "ratio"), alias="$tag_phase")], w=8, h=7,
              options={"displayMode": "basic", "orientation": "horizontal",
                       "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
              thresholds=[(None, "green"), (1.5, "orange"), (3, "red")])
    b.add("table", "Burst recovery time (s)",
          "After each burst/peak phase: seconds from the phase's end until the first aggregate interval whose "
          "interval p99 TTFT is within 10 % of the steady phase's cumulative p99 TTFT (computed by the master, "
          "run_event event=recovery; the summary prints the same number as burst_recovery_s). No row: it never "
          "recovered before the run ended.", "s", [target("A", recovery_query(), fmt="table")], w=8, h=7,
          transformations=[_DROP_TIME])
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
    out["templating"]["list"] += [baseline_variable(), *baseline_p99_variables()]
    return out


__all__ = ["METRICS", "PCTS", "RATIOS", "UID", "baseline_p99_query", "build", "class_table_queries",
           "phase_counts_query", "phase_info_query", "phase_table_queries", "ratio_query", "recovery_query"]
