"""Static checks of the dashboards, the provisioning files and the Grafana query expansion (no server)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from collectors import schema
from dashboards import alerting, build, expand
from dashboards.grafana import SCHEMA_VERSION
from tests.dashboards.checks import dashboard_problems, identifier_problems, variables_used, walk_panels

REQUIRED_VARIABLES = ("datasource", "run_id", "scenario", "phase", "class", "model", "endpoint", "host", "gpu")


@pytest.fixture(scope="module")
def boards() -> dict[str, dict[str, Any]]:
    return build.dashboards()


def test_committed_artefacts_equal_the_generator_output() -> None:
    assert build.stale() == [], "run `python -m dashboards.build`"


def test_build_is_deterministic_and_keys_are_sorted() -> None:
    first, second = build.artefacts(), build.artefacts()
    assert first == second
    for rel, text in first.items():
        if rel.endswith(".json"):
            assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_five_dashboards_with_unique_fixed_uids(boards: dict[str, dict[str, Any]]) -> None:
    uids = [d["uid"] for d in boards.values()]
    assert len(uids) == 5 and len(set(uids)) == 5
    assert all(u.startswith("inferload-") for u in uids)
    assert all(d["schemaVersion"] == SCHEMA_VERSION == 39 and d["id"] is None for d in boards.values())


def test_no_dashboard_problems(boards: dict[str, dict[str, Any]]) -> None:
    problems = [p for d in boards.values() for p in dashboard_problems(d)]
    assert problems == []


def test_every_dashboard_has_the_variables_and_links(boards: dict[str, dict[str, Any]]) -> None:
    for d in boards.values():
        names = [v["name"] for v in d["templating"]["list"]]
        assert list(REQUIRED_VARIABLES) == names[: len(REQUIRED_VARIABLES)], d["uid"]
        by = {v["name"]: v for v in d["templating"]["list"]}
        assert by["phase"]["multi"] and by["phase"]["includeAll"]
        assert by["class"]["multi"] and by["class"]["includeAll"]
        assert not by["run_id"]["multi"] and by["run_id"]["current"] == {}  # first option = latest run
        assert d["links"] and all(x["keepTime"] and x["includeVars"] for x in d["links"])
        annos = {a["name"] for a in d["annotations"]["list"]}
        assert {"Phases", "SLO violations", "Burst recovery"} <= annos


def test_panels_read_aggregates_not_raw_percentiles(boards: dict[str, dict[str, Any]]) -> None:
    for d in boards.values():
        for p in walk_panels(d["panels"]):
            for t in p.get("targets", []):
                q = t.get("query", "")
                if f'FROM "{schema.REQUEST.name}"' in q:
                    assert "percentile(" not in q and '"run_id" =~' in q, (d["uid"], p["title"])
                    assert p["type"] == "histogram"


def test_the_checker_rejects_unknown_names() -> None:
    """The static check can fail: a retyped or unknown name is reported."""
    assert identifier_problems('SELECT mean("p99_s") FROM "llm_latency" WHERE "metric" = \'ttft\'') == []
    assert identifier_problems('SELECT mean("p99") FROM "llm_latency"')
    assert identifier_problems('SELECT mean("p99_s") FROM "llm_latencies"')
    assert identifier_problems('SELECT mean("p99_s") FROM "llm_latency" WHERE "metric" = \'ttfb\'')
    assert variables_used('"x" =~ /^$nope$/ AND $timeFilter GROUP BY time($__interval)') == {"nope"}
    bad = build.dashboards()["overview"]
    bad["panels"][1]["description"] = ""
    assert any("no description" in p for p in dashboard_problems(bad))


def test_datasource_is_influxql_with_token_header_and_no_secret() -> None:
    text = (build.ROOT / "provisioning/datasources/influxdb.yaml").read_text()
    ds = yaml.safe_load(text)["datasources"][0]
    assert ds["jsonData"]["version"] == "InfluxQL" and ds["jsonData"]["httpHeaderName1"] == "Authorization"
    assert ds["secureJsonData"] == {"httpHeaderValue1": "Token $INFLUX_TOKEN"}
    assert "Flux" not in text


def test_alert_rules_group_by_run_and_set_their_interval() -> None:
    prov = yaml.safe_load((build.ROOT / "provisioning/alerting/inferload.yaml").read_text())
    queries = expand.alert_queries(prov)
    assert len(queries) >= 6
    for q in queries:
        assert q.interval_ms == alerting.INTERVAL_MS and q.range_s
        assert '"run_id"' in q.text.split("GROUP BY", 1)[1], q.where
        assert "$" not in q.text.replace("$timeFilter", ""), "alert queries cannot use dashboard variables"
        assert identifier_problems(q.text) == []
    text = (build.ROOT / "provisioning/alerting/inferload.yaml").read_text()
    # Grafana expands $VAR in provisioning files: every literal $ is written $$, only the URL is a reference
    assert "$$timeFilter" in text and "{{ $$labels.run_id }}" in text.replace("\n        ", " ")
    assert [m for m in re.findall(r"(?<!\$)\$(?!\$)\w+", text.replace("$$", "")) if m] == ["$" + alerting.WEBHOOK_ENV]
    receiver = prov["contactPoints"][0]["receivers"][0]
    assert receiver["settings"]["url"] == "$" + alerting.WEBHOOK_ENV
    assert prov["policies"][0]["receiver"] == prov["contactPoints"][0]["name"]
    assert schema.T_RUN_ID.name in prov["policies"][0]["group_by"]


# ---- Grafana's expansion ---------------------------------------------------------------------
@pytest.mark.parametrize(("ms", "text"), [(90_000, "1m"), (1500, "1s"), (5000, "5s"), (999, "999ms"),
                                          (7_200_000, "2h"), (0, "1ms"), (86_400_000 * 2, "2d")])
def test_format_interval_floors_to_the_largest_unit(ms: int, text: str) -> None:
    assert expand.format_interval(ms) == text


def test_panel_interval_rounds_and_respects_the_minimum() -> None:
    day = 86_400_000
    assert expand.panel_interval_ms(0, day, max_data_points=1000) == 60_000  # 86.4 s -> 1 min
    assert expand.panel_interval_ms(0, 30_000) == 5_000  # datasource minimum
    assert expand.panel_interval_ms(0, 30_000, min_interval="1s") == 1000
    assert expand.round_interval(12_000) == 10_000


def test_variables_are_interpolated_as_the_browser_does() -> None:
    defs = {"phase": expand.VarDef("phase", True, True, ".*"), "run": expand.VarDef("run", False, False, None),
            "ep": expand.VarDef("ep", True, True, None)}
    q = '"phase" =~ /^$phase$/ AND "r" = \'$run\' AND "x" =~ /^${run}$/ AND "e" =~ /^[[ep]]$/'
    out = expand.interpolate(q, defs, {"phase": ["steady", "burst.2"], "run": "a.b/c", "ep": expand.ALL},
                             {"ep": ["http://h:1", "x"]})
    assert out == ('"phase" =~ /^(steady|burst\\.2)$/ AND "r" = \'a.b/c\' AND "x" =~ /^a\\.b\\/c$/ AND '
                   '"e" =~ /^(http:\\/\\/h:1|x)$/')
    assert expand.interpolate("/^$phase$/", defs, {"phase": expand.ALL}) == "/^.*$/"


def test_macros_in_grafanas_order() -> None:
    q = "WHERE $timeFilter GROUP BY time($__interval) LIMIT $__interval_ms $interval"
    assert expand.macros(q, from_ms=1000, to_ms=61000, interval_ms=90_000) == (
        "WHERE time >= 1000ms and time <= 61000ms GROUP BY time(1m) LIMIT 90000 1m")
