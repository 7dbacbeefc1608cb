"""Every dashboard, variable, annotation and alert query, expanded as Grafana expands it, against a real run.

One `inferload run` of a five-phase scenario (warmup, steady, burst, spike, cooldown) against gpusim,
with gpusim's /metrics scraped by the run and its dcgm endpoint collected by `inferload collect gpu`
(tests/dashboards/realrun.py), into Debian's influxd.  Then:

- every query returns data, without error, with every variable at All and with a multi-value
  selection (regex-escaped as the browser does);
- the numbers agree: the steady-vs-peak table's requests per phase and p99 TTFT per phase x class
  equal summary.json's; the model-vs-system server queue/prefill/decode sums equal gpusim's trace;
  goodput per phase equals the summary's; the burst recovery time equals the summary's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import pytest

from dashboards import alerting, build, expand, model_system, steady_peak
from gpusim.trace import read_trace
from tests.dashboards.realrun import RealRun, real_run
from tests.support import require_tool
from tests.support.influx import influxd_available

pytestmark = pytest.mark.integration

# the select-all value of every multi variable (their allValue) and the run under test
FILTERS = ("scenario", "phase", "class", "model", "endpoint", "host", "gpu")
# queries that must run without error but cannot have data in a 20 s run: drift needs a soak (loadgen/drift.py)
NO_DATA_IN_A_SHORT_RUN = ("annotation Drift",)


@pytest.fixture(scope="module")
def run() -> Iterator[RealRun]:
    require_tool(influxd_available(), "influxd is not installed (tests/run.sh installs Debian's influxdb)")
    with real_run() as r:
        yield r


def _js_number(value: float) -> str:
    """A number as the browser prints it into a query (no exponent for the sizes latencies have)."""
    return format(Decimal(repr(value)), "f")


def _values(run: RealRun, **over: expand.Value) -> dict[str, expand.Value]:
    v: dict[str, expand.Value] = {name: expand.ALL for name in FILTERS}
    v.update(run_id=run.run_id, baseline="steady", datasource="inferload-influxdb")
    v.update(over)
    v.update(_hidden_values(run, v))
    return v


def _hidden_values(run: RealRun, values: Mapping[str, expand.Value]) -> dict[str, str]:
    """Steady vs peak's hidden variables (the baseline phase's p99), resolved as Grafana does: the query
    expanded with the other variables, its value the first column after ``time`` of the first row."""
    d = steady_peak.build()
    defs = expand.var_defs(d)
    out: dict[str, str] = {}
    for var in d["templating"]["list"]:
        if var["name"] not in {name for name, _ in steady_peak.RATIOS.values()}:
            continue
        text = expand.expand(expand.Query(var["name"], "variable", var["query"]), from_ms=run.start_ms,
                             to_ms=run.end_ms, defs=defs, values=values)
        series = _query(run, text).get("series") or []
        assert series, f"hidden variable {var['name']} has no value: {text}"
        out[var["name"]] = _js_number(series[0]["values"][0][1])
    return out


def _query(run: RealRun, text: str) -> dict[str, Any]:
    res: dict[str, Any] = run.influx.server.query(text, run.db)["results"][0]
    return res


def _rows(res: Mapping[str, Any]) -> int:
    return sum(len(s.get("values") or []) for s in res.get("series", []))


def _execute_all(run: RealRun, values: Mapping[str, expand.Value]) -> tuple[list[str], int]:
    problems: list[str] = []
    n = 0
    for d in build.dashboards().values():
        defs = expand.var_defs(d)
        for q in expand.dashboard_queries(d):
            text = expand.expand(q, from_ms=run.start_ms, to_ms=run.end_ms, defs=defs, values=values)
            res = _query(run, text)
            n += 1
            if "error" in res:
                problems.append(f"{q.where}: {res['error']}: {text}")
            elif not _rows(res) and not q.where.endswith(NO_DATA_IN_A_SHORT_RUN):
                problems.append(f"{q.where}: no data: {text}")
    return problems, n


def test_every_dashboard_query_returns_data(run: RealRun) -> None:
    problems, n = _execute_all(run, _values(run))
    assert n > 100
    assert problems == []


def test_every_query_returns_data_with_multi_value_selections(run: RealRun) -> None:
    """Multi-value variables become (a|b) with regex escaping: still valid InfluxQL, still data."""
    shown = run.influx.server.series('SHOW TAG VALUES FROM "llm_throughput" WITH KEY = "endpoint"', run.db)
    endpoints = [row[1] for row in shown[0]["values"]]
    assert endpoints
    values = _values(run, phase=["steady", "burst", "spike", "warm", "cool"], endpoint=endpoints,
                     **{"class": ["interactive", "batch"]})
    problems, _ = _execute_all(run, values)
    assert problems == []


def test_every_alert_query_runs(run: RealRun) -> None:
    prov = alerting.provisioning()
    for q in expand.alert_queries(prov):
        assert q.range_s is not None
        text = expand.expand(q, from_ms=run.end_ms - q.range_s * 1000, to_ms=run.end_ms, defs={}, values={})
        res = _query(run, text)
        assert "error" not in res, (q.where, res)
        assert _rows(res), (q.where, text)
        for s in res["series"]:
            assert s["tags"]["run_id"] == run.run_id  # one alert instance per run


# ---- the numbers agree -------------------------------------------------------------------------
def _table(run: RealRun, target: Mapping[str, Any], values: Mapping[str, expand.Value]) -> list[dict[str, Any]]:
    """Rows of a table-format target: tags + columns of each series' last row."""
    q = expand.Query("t", "panel", target["query"])
    d = steady_peak.build()
    text = expand.expand(q, from_ms=run.start_ms, to_ms=run.end_ms, defs=expand.var_defs(d), values=values)
    res = _query(run, text)
    assert "error" not in res, res
    out = []
    for s in res.get("series", []):
        row = dict(s.get("tags", {}))
        row.update(zip(s["columns"], s["values"][-1], strict=True))
        out.append(row)
    return out


def _by_phase(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        assert row["phase"] not in out, f"two rows for phase {row['phase']}: one row per phase expected"
        out[row["phase"]] = row
    return out


def _phase_table(run: RealRun) -> dict[str, dict[str, Any]]:
    """The per-phase table's frames (by refId), each as phase -> row."""
    values = _values(run)
    return {t["refId"]: _by_phase(_table(run, t, values)) for t in steady_peak.phase_table_queries()}


def test_phase_table_requests_and_p99_ttft_per_phase_equal_the_summary(run: RealRun) -> None:
    """One row per phase (every class merged): requests and p99 TTFT equal summary.json's per phase."""
    frames = _phase_table(run)
    phases = run.summary["phases"]
    counts, ttft = frames["B"], frames["C"]  # B: counts, C: TTFT percentiles
    assert set(counts) == set(ttft) == set(phases)
    for p, v in phases.items():
        assert counts[p]["requests"] == float(v["requests"]), p
        expected = v["latency"]["ttft"]["p99_ms"] / 1000.0
        assert math.isclose(ttft[p]["TTFT p99"], expected, rel_tol=1e-9, abs_tol=1e-9), (p, ttft[p], expected)
        assert math.isclose(ttft[p]["TTFT p50"], v["latency"]["ttft"]["p50_ms"] / 1000.0, rel_tol=1e-9), p


def test_phase_table_kind_process_and_rate_come_from_the_plan(run: RealRun) -> None:
    info = _phase_table(run)["A"]
    plan = {p["name"]: p for p in run.summary["operating_point"]["phases"]}
    assert set(info) == set(plan)
    for name, p in plan.items():
        row = info[name]
        assert row["phase_kind"] == p["kind"], name
        assert row["process"] == p["process"].split("(")[0], name
    # the plan's mean rate (rate_hint): the scenario's rates (tests/dashboards/realrun.py), the spike's in between
    for name, rate in {"warm": 4.0, "steady": 6.0, "burst": 10.0, "cool": 4.0}.items():
        assert math.isclose(info[name]["target req/s"], rate, rel_tol=1e-9), (name, info[name])
    assert 6.0 < info["spike"]["target req/s"] < 40.0
    assert info["spike"]["phase_kind"] == "peak" and info["spike"]["process"] == "spike"
    starts = sorted(info, key=lambda n: info[n]["start"])
    assert starts == ["warm", "steady", "burst", "spike", "cool"]  # the table sorts by start


def test_phase_table_peak_to_steady_ratio_is_each_phase_p99_over_the_baselines(run: RealRun) -> None:
    frames = _phase_table(run)
    phases = run.summary["phases"]
    for ref, metric in (("G", "ttft"), ("H", "e2e")):
        col = steady_peak.RATIOS[metric][1]
        ratio = frames[ref]
        assert set(ratio) == set(phases)
        base = phases["steady"]["latency"][metric]["p99_ms"]
        for p, v in phases.items():
            assert math.isclose(ratio[p][col], v["latency"][metric]["p99_ms"] / base, rel_tol=1e-9), (p, metric)
        assert math.isclose(ratio["steady"][col], 1.0, rel_tol=1e-12)


def test_class_table_requests_and_p99_ttft_per_phase_and_class_equal_the_summary(run: RealRun) -> None:
    targets = steady_peak.class_table_queries()
    values = _values(run)
    counts = _table(run, targets[0], values)
    phases = run.summary["phases"]
    per_phase: dict[str, float] = {}
    for row in counts:
        per_phase[row["phase"]] = per_phase.get(row["phase"], 0.0) + row["requests"]
    assert per_phase == {p: float(v["requests"]) for p, v in phases.items()}
    ttft = _table(run, targets[1], values)  # B: TTFT
    checked = 0
    for row in ttft:
        expected = phases[row["phase"]]["classes"][row["class"]]["latency"]["ttft"]["p99_ms"] / 1000.0
        assert math.isclose(row["TTFT p99"], expected, rel_tol=1e-9, abs_tol=1e-9), row
        checked += 1
    assert checked >= 8  # 5 phases x 2 classes, less any phase a class never reached


def test_goodput_per_phase_equals_the_summary(run: RealRun) -> None:
    """The table's goodput column: good (B) / duration (A), joined on phase by Grafana."""
    frames = _phase_table(run)
    phases = run.summary["phases"]
    assert set(frames["A"]) == set(frames["B"]) == set(phases)
    for p, v in phases.items():
        got = frames["B"][p]["good"] / frames["A"][p]["duration"]
        assert math.isclose(got, v["goodput_req_per_s"], rel_tol=1e-6), p


def test_burst_recovery_time_equals_the_summary(run: RealRun) -> None:
    rows = _table(run, {"query": steady_peak.recovery_query().render()}, _values(run))
    got = {r["phase"]: r["recovery s"] for r in rows}
    expected = {p: v["burst_recovery_s"] for p, v in run.summary["phases"].items()
                if v.get("burst_recovery_s") is not None}
    assert expected, "the scenario has a burst and a spike: the master should have written recoveries"
    assert set(got) == set(expected)
    for p, v in expected.items():
        assert math.isclose(got[p], v, rel_tol=1e-9, abs_tol=1e-9), p


def _trace_sums(records: Sequence[Mapping[str, Any]]) -> dict[str, tuple[float, int]]:
    sums = {"queue": 0.0, "prefill": 0.0, "decode": 0.0}
    n = 0
    for r in records:
        if r.get("queue_exit_s") is None or r.get("prefill_end_s") is None or not r.get("token_times_s"):
            continue
        n += 1
        sums["queue"] += r["queue_exit_s"] - r["arrival_s"]
        sums["prefill"] += r["prefill_end_s"] - r["queue_exit_s"]
        sums["decode"] += r["token_times_s"][-1] - r["prefill_end_s"]
    return {k: (v, n) for k, v in sums.items()}


def test_server_component_sums_equal_gpusims_trace(run: RealRun) -> None:
    _, records = read_trace(str(run.trace_path))
    truth = _trace_sums(records)
    rows = _table(run, {"query": model_system.component_sums().render()}, _values(run))
    got = {r["component"]: (r["total s"], int(r["requests"])) for r in rows}
    assert set(got) == set(model_system.COMPONENTS)
    for comp, (total, n) in truth.items():
        assert got[comp][1] == n, (comp, got[comp], n)
        assert math.isclose(got[comp][0], total, rel_tol=1e-6, abs_tol=1e-6), (comp, got[comp], total)


def test_run_wrote_what_the_dashboards_read(run: RealRun) -> None:
    """Guards the fixture itself: several phases, errors, server and GPU data."""
    assert set(run.summary["phases"]) == {"warm", "steady", "burst", "spike", "cool"}
    assert sum(v["errors"] for v in run.summary["phases"].values()) > 0
    assert json.dumps(run.summary["telemetry"]).count("server") > 0
