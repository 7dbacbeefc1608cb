"""Grafana-managed alert rules over InfluxQL, a webhook contact point and a notification policy.

Written to ``dashboards/provisioning/alerting/inferload.yaml`` (Grafana file provisioning:
``apiVersion: 1`` with ``groups``, ``contactPoints``, ``policies``).  Alert queries cannot use
dashboard variables, so every query groups by ``run_id`` (each run is its own alert instance) and
sets its interval explicitly (``intervalMs``; Grafana's default would be 1 s).

Rules (windows as in the Prometheus rules, docs/dashboards.md):
- SLO burn rate, page: the 5 min **and** 1 h burn rates > 14.4 (per run, objective and phase);
- SLO burn rate, ticket: the 30 min **and** 6 h burn rates > 6;
- load generator invalid (the generator was the bottleneck) in the last 2 min;
- sink dropping points in the last 5 min.

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


__all__ = ["CONTACT_POINT", "FOLDER", "INTERVAL_MS", "WEBHOOK_ENV", "burn_query", "escape_env", "provisioning",
           "rules"]
