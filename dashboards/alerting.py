"""Grafana-managed alert rules over InfluxQL, a webhook contact point and a notification policy.

Written to ``dashboards/provisioning/alerting/inferload.yaml`` (Grafana file provisioning:
``apiVersion: 1`` with ``groups``, ``contactPoints``, ``policies``).  Alert queries cannot use
dashboard variables, so every query groups by ``run_id`` (each run is its own alert instance) and
sets its interval explicitly (``intervalMs``; Grafana's default would be 1 s).

Rules (windows as in the Prometheus rules, docs/dashboards.md):
- SLO burn rate, page: the 5 min **and** 1 h burn rates > 14.4 (per run, objective and phase);
- SLO burn rate, ticket: the 30 min **and** 6 h burn rates > 6;
- load generator invalid (the generator was the bottleneck) in the last 2 min;
- sink dropping points in the last 5 min;
- no requests completing while arrivals are due: over the last 2 min, the plan scheduled more
  than 5 arrivals (``run_progress``) and no request finished (``llm_throughput``);
- GPU telemetry stale: a GPU (host, gpu) that sent samples in the last 10 min but none in the
  last 2 min;
- server queue growing without bound: over 10 min, ``llm_server.waiting`` rose by more than 30
  (last - first; 0.05/s, the Prometheus rule's slope), never drained (min > 0) and is above 10.

Grafana's math expressions drop a label set that has a value on one side only, so the "nothing
finished" and "no GPU sample" sides must still have a row, with 0, for a silent run or GPU:
:func:`recent_or_zero` queries the last 2 min together with a zero for every series seen in the
rule's longer range (one measurement, two subqueries: InfluxDB merges their rows per tag set).  A
run that never finished a single request in the last hour has no throughput row, and only the
Prometheus rule (whose ``unless`` handles absence) sees it.

In the provisioning file every ``$`` of a rule is written ``$$`` (Grafana expands ``$VAR``
environment references in provisioning files; ``$$`` is a literal ``$``), so ``$timeFilter``,
``$RA`` and ``{{ $labels.run_id }}`` reach Grafana intact; the HTTP API (``inferload dashboards
push``) gets them unescaped.

Burn rate = (requests - good) / requests / budget over the window, from ``llm_slo_count`` (the
master's good/total per objective per interval; budget = 1 - percentile/100, or max_error_rate).
"""

from __future__ import annotations

from typing import Any

from collectors import schema as s
from dashboards.grafana import DATASOURCE_UID
from dashboards.influxql import Select, agg, ident

FOLDER = "inferload"
CONTACT_POINT = "inferload-webhook"
WEBHOOK_ENV = "ALERT_WEBHOOK_URL"  # docker-compose.yml sets it for Grafana
INTERVAL_MS = 60_000
MAX_DATA_POINTS = 43_200
STALL_WINDOW, STALL_WINDOW_S = "2m", 120  # no requests completing: the window (the Prometheus rule's)
STALL_MIN_DUE = 5  # ... while more than this many arrivals were due in it
GPU_STALE_AFTER = "2m"  # GPU telemetry stale: no sample for this long
QUEUE_GROWTH = 30  # server queue: rise over 10 min (0.05/s, the Prometheus rule's deriv threshold)
QUEUE_MIN = 10  # ... and currently above this many waiting

Json = dict[str, Any]


def burn_query(group: tuple[s.Tag, ...] = (s.T_RUN_ID, s.T_SCENARIO, s.T_PHASE, s.T_OBJECTIVE)) -> str:
    c = s.SLO_COUNT
    bad = f"(sum({ident(s.SF_SLO_COUNTED.name)}) - sum({ident(s.SF_SLO_GOOD.name)}))"
    expr = f"{bad} / sum({ident(s.SF_SLO_COUNTED.name)}) / last({ident(s.SF_SLO_BUDGET.name)}) AS {ident('burn_rate')}"
    return Select(c, [expr], group_tags=list(group), dash_filters=False).render()


def _query(ref: str, query: str, seconds: int) -> Json:
    return {"datasourceUid": DATASOURCE_UID, "refId": ref, "relativeTimeRange": {"from": seconds, "to": 0},
            "model": {"intervalMs": INTERVAL_MS, "maxDataPoints": MAX_DATA_POINTS, "query": query, "rawQuery": True,
                      "refId": ref, "resultFormat": "time_series"}}


def _expr(ref: str, model: Json) -> Json:
    return {"datasourceUid": "__expr__", "refId": ref, "relativeTimeRange": {"from": 0, "to": 0},
            "model": {"datasource": {"type": "__expr__", "uid": "__expr__"}, "refId": ref, **model}}


def _reduce(ref: str, of: str, reducer: str = "last") -> Json:
    return _expr(ref, {"type": "reduce", "expression": of, "reducer": reducer, "settings": {"mode": "dropNN"}})


def _rule(uid: str, title: str, data: list[Json], condition: str, *, severity: str, summary: str, for_: str = "1m",
          no_data: str = "OK") -> Json:
    return {"uid": uid, "title": title, "condition": condition, "data": data, "for": for_, "noDataState": no_data,
            "execErrState": "Error", "isPaused": False, "labels": {"severity": severity, "source": "inferload"},
            "annotations": {"summary": summary, "description": summary + " (run {{ $labels.run_id }}, phase "
                                                                         "{{ $labels.phase }}, objective "
                                                                         "{{ $labels.objective }})"}}


def burn_rule(uid: str, title: str, short_s: int, long_s: int, factor: float, severity: str) -> Json:
    q = burn_query()
    data = [_query("A", q, short_s), _query("B", q, long_s), _reduce("RA", "A"), _reduce("RB", "B"),
            _expr("C", {"type": "math", "expression": f"$RA > {factor} && $RB > {factor}"})]
    return _rule(uid, title, data, "C", severity=severity,
                 summary=f"SLO burn rate above {factor}x over {short_s // 60} min and {long_s // 60} min")


def simple_rule(uid: str, title: str, query: str, seconds: int, gt: float, severity: str, summary: str) -> Json:
    data = [_query("A", query, seconds), _reduce("B", "A", "max"),
            _expr("C", {"type": "threshold", "expression": "B",
                        "conditions": [{"evaluator": {"type": "gt", "params": [gt]}}]})]
    return _rule(uid, title, data, "C", severity=severity, summary=summary)


def recent_or_zero(m: s.Measurement, fn: str, f: s.Field, alias: str, group: list[s.Tag], recent: str) -> str:
    """``fn(field)`` over the last ``recent`` per tag set, and 0 (not no row) for every tag set seen in the
    rule's whole range: one query over two subqueries of the same measurement, whose rows InfluxDB merges
    per tag set.  Grafana's math drops a label set missing on one side, so a silent series needs a row."""
    field, by = ident(f.name), ", ".join(ident(t.name) for t in group)
    last = f"SELECT {fn}({field}) AS {ident('n')} FROM {ident(m.name)} WHERE time > now() - {recent} GROUP BY {by}"
    seen = f"SELECT {fn}({field}) * 0 AS {ident('n')} FROM {ident(m.name)} WHERE $timeFilter GROUP BY {by}"
    return f"SELECT sum({ident('n')}) AS {ident(alias)} FROM ({last}), ({seen}) WHERE $timeFilter GROUP BY {by}"


def stalled_queries() -> tuple[str, str]:
    """Arrivals due over the last ``STALL_WINDOW`` (the rule's range), and requests finished in it (0 for a
    run that finished requests earlier in the hour but none since)."""
    group = [s.T_RUN_ID, s.T_SCENARIO]
    due = Select(s.RUN_PROGRESS, [agg("sum", s.PF_ARRIVALS_DUE, "due")], group_tags=group,
                 dash_filters=False).render()
    done = recent_or_zero(s.THROUGHPUT, "sum", s.F_REQUESTS, "finished", group, STALL_WINDOW)
    return due, done


def stalled_rule() -> Json:
    """No requests completing while arrivals are due (see the module docstring)."""
    due, done = stalled_queries()
    data = [_query("A", due, STALL_WINDOW_S), _query("B", done, 3600), _reduce("RA", "A"), _reduce("RB", "B"),
            _expr("C", {"type": "math", "expression": f"$RA > {STALL_MIN_DUE} && $RB == 0"})]
    return _rule("inferload-no-requests-completing", "No requests completing while arrivals are due", data, "C",
                 severity="page", summary=f"arrivals are due but no request finished in the last {STALL_WINDOW}: "
                                          "the target hangs or the generator cannot reach it")


def gpu_stale_query() -> str:
    """Per GPU seen in the rule's range: samples in the last ``GPU_STALE_AFTER`` (0 when it went silent)."""
    return recent_or_zero(s.GPU, "count", s.GF_GPU_UTIL, "recent samples", [s.T_RUN_ID, s.T_HOST, s.T_GPU],
                          GPU_STALE_AFTER)


def gpu_stale_rule() -> Json:
    data = [_query("A", gpu_stale_query(), 600), _reduce("B", "A", "last"),
            _expr("C", {"type": "threshold", "expression": "B",
                        "conditions": [{"evaluator": {"type": "lt", "params": [1]}}]})]
    return _rule("inferload-gpu-telemetry-stale", "GPU telemetry stale", data, "C", severity="ticket", for_="2m",
                 summary=f"a GPU sent samples in the last 10 min but none in the last {GPU_STALE_AFTER}: "
                         "the GPU collector or dcgm-exporter stopped")


def queue_queries() -> dict[str, str]:
    """llm_server.waiting over the window: growth (last - first), lowest value, current value."""
    w = ident(s.SF_WAITING.name)
    exprs = {"G": f"last({w}) - first({w}) AS {ident('growth')}", "M": f"min({w}) AS {ident('lowest')}",
             "L": f"last({w}) AS {ident('waiting')}"}
    group = [s.T_RUN_ID, s.T_SCENARIO, s.T_MODEL]
    return {ref: Select(s.SERVER, [e], group_tags=group, dash_filters=False).render() for ref, e in exprs.items()}


def queue_rule() -> Json:
    qs = queue_queries()
    data = [_query(ref, q, 600) for ref, q in qs.items()]
    data += [_reduce(f"R{ref}", ref) for ref in qs]
    data.append(_expr("C", {"type": "math", "expression": f"$RG > {QUEUE_GROWTH} && $RM > 0 && $RL > {QUEUE_MIN}"}))
    return _rule("inferload-server-queue-growing", "Server queue growing without bound", data, "C", severity="page",
                 for_="5m", summary=f"requests waiting in the engine rose by more than {QUEUE_GROWTH} over 10 min, "
                                    "never drained and are above 10: the arrival rate is past the server's capacity")


def rules() -> list[Json]:
    invalid = Select(s.HEALTH, [agg("max", s.F_INVALID, "invalid")], group_tags=[s.T_RUN_ID, s.T_SCENARIO],
                     dash_filters=False).render()
    drops = Select(s.SINK, [agg("spread", s.F_DROPPED, "dropped")], group_tags=[s.T_RUN_ID, s.T_WORKER, s.T_SINK],
                   dash_filters=False).render()
    return [
        burn_rule("inferload-slo-burn-page", "SLO burn rate (page)", 300, 3600, 14.4, "page"),
        burn_rule("inferload-slo-burn-ticket", "SLO burn rate (ticket)", 1800, 21600, 6.0, "ticket"),
        simple_rule("inferload-generator-invalid", "Load generator invalid", invalid, 120, 0, "ticket",
                    "the load generator was the bottleneck: latency in these intervals is not the server's"),
        simple_rule("inferload-sink-dropping", "Telemetry sink dropping points", drops, 300, 0, "ticket",
                    "a telemetry sink dropped points: dashboards are missing data"),
        stalled_rule(),
        gpu_stale_rule(),
        queue_rule(),
    ]


def escape_env(obj: Any) -> Any:
    """``$`` -> ``$$`` in every string: Grafana expands ``$VAR`` in provisioning files, ``$$`` is a literal ``$``."""
    if isinstance(obj, str):
        return obj.replace("$", "$$")
    if isinstance(obj, list):
        return [escape_env(v) for v in obj]
    if isinstance(obj, dict):
        return {k: escape_env(v) for k, v in obj.items()}
    return obj


def provisioning() -> Json:
    """The provisioning file's content: rules escaped for Grafana's env expansion, the webhook URL from env."""
    return {
        "apiVersion": 1,
        "groups": [{"orgId": 1, "name": "inferload", "folder": FOLDER, "interval": "1m",
                    "rules": escape_env(rules())}],
        "contactPoints": [{"orgId": 1, "name": CONTACT_POINT, "receivers": [
            {"uid": CONTACT_POINT, "type": "webhook", "disableResolveMessage": False,
             "settings": {"url": "$" + WEBHOOK_ENV, "httpMethod": "POST"}}]}],
        "policies": [{"orgId": 1, "receiver": CONTACT_POINT,
                      "group_by": ["grafana_folder", "alertname", s.T_RUN_ID.name],
                      "group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}],
    }


__all__ = ["CONTACT_POINT", "FOLDER", "INTERVAL_MS", "WEBHOOK_ENV", "burn_query", "escape_env", "gpu_stale_query",
           "provisioning", "queue_queries", "recent_or_zero", "rules", "stalled_queries", "stalled_rule"]
