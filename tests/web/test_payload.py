"""The live view's numbers, without a browser: the payload, the chart series, the scrape tap, the cache.

- a phase's block on the page is the end-of-run summary's block for the same merged state;
- chart intervals: target = arrivals the plan scheduled in the interval (walked exactly),
  achieved/goodput from the merged counters, p99s from the interval's own histograms, a
  generator-bound interval is flagged, and the buffer is bounded;
- SLO tiles: run-so-far state from ``judge`` (ok / violating / no data), rolling state from a
  real ``LiveSlo``;
- the server-scrape tap forwards every point and keeps a windowed mean per component;
- the JSON is built at most once per ``cache_s`` and is strict JSON (no NaN).
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest

from collectors import schema
from collectors.counters import C_DROPPED, C_GOOD, C_OK, C_REQUESTS, ERROR_PREFIX, Counters
from collectors.histograms import HistogramSet
from collectors.point import Point
from loadgen.config import load_scenario
from loadgen.plan import Plan
from loadgen.report import PhaseInfo, build_summary
from loadgen.slo import RunHealth, decide_exit, judge
from loadgen.slo_live import LiveSlo
from loadgen.slo_objectives import live_objectives
from loadgen.web.live import LiveView, ScrapeTap
from loadgen.web.payload import BlockCache, build_payload, llm_rows, run_so_far_tiles, server_block
from loadgen.web.series import LiveSeries, TargetCounter

SCENARIO = """name: unit
seed: 5
target: {base_url: "http://127.0.0.1:1", model: m}
workload: {prompt_tokens: 16, output_tokens: 8}
phases:
  - {name: warm, kind: warmup, duration: 5s, arrivals: {process: poisson, rate: 10}}
  - {name: steady, duration: 10s, arrivals: {process: poisson, rate: 20}}
  - {name: burst, kind: burst, duration: 5s, arrivals: {process: poisson, rate: 40}}
slo:
  objectives:
    - {metric: ttft, percentile: 99, max_ms: 100}
    - {metric: itl, percentile: 50, max_ms: 20}
  max_error_rate: 0.05
generator: {max_schedule_lag_p99_ms: 50, max_cpu_percent: 90}
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Any:
    p = tmp_path / "s.yaml"
    p.write_text(SCENARIO)
    return load_scenario(p)


def _fill(hs: HistogramSet, c: Counters, phase: str, n: int, ttft_s: float, errors: int = 0) -> None:
    for i in range(n):
        hs.record(schema.M_TTFT, phase, "default", ttft_s * (1 + i / n))
        hs.record(schema.M_TPOT, phase, "default", 0.01 + i * 1e-5)
        hs.record(schema.M_E2E, phase, "default", ttft_s + 0.2 + i * 1e-4)
        hs.record(schema.M_SCHEDULE_LAG, phase, "default", 0.001)
        for k in range(5):
            hs.record(schema.M_ITL, phase, "default", 0.008 + k * 0.001)
    c.add(phase, "default", C_REQUESTS, n + errors)
    c.add(phase, "default", C_OK, n)
    c.add(phase, "default", C_GOOD, n - 1)
    if errors:
        c.add(phase, "default", ERROR_PREFIX + "http_5xx", errors)


def _state(scenario: Any, hs: HistogramSet, c: Counters, t0: float) -> Any:
    return types.SimpleNamespace(
        scenario=scenario, plan=Plan(scenario), hs=hs, counters=c, t0_wall=t0, n_slots=1,
        stop_requested_at=None, lost_slots=[], cpu_now={"local": 12.0}, cpu_max={"local": 15.0},
        inflight={"local": 3}, merge_listeners=[],
    )


def test_phase_blocks_are_the_summary_blocks(scenario: Any) -> None:
    hs, c = HistogramSet(), Counters()
    _fill(hs, c, "warm", 40, 0.03)
    _fill(hs, c, "steady", 300, 0.05, errors=4)
    state = _state(scenario, hs, c, t0=1000.0)
    data = build_payload(state, series=LiveSeries(state.plan), run_id="r", mode="local", now_wall=1012.0)
    plan = state.plan
    infos = [PhaseInfo(w.name, w.kind, w.start_s, w.end_s, w.process) for w in plan.phases]
    judged = ["steady"]  # the judged phases that have begun (burst starts at 15 s)
    verdict = judge(scenario.slo.objectives, scenario.slo.max_error_rate, hs, c, judged)
    summary = build_summary(meta={}, phases=infos, judged_phases=judged, hs=hs, counters=c, verdict=verdict,
                            health=RunHealth(), decision=decide_exit(verdict, RunHealth()))
    assert list(data["phases"]) == ["warm", "steady"]  # burst has not started at offset 12 s
    for name, block in data["phases"].items():
        want = summary["phases"][name]
        for key, value in block.items():
            if key == "latency":
                for m, lb in value.items():
                    assert lb == want["latency"][m], (name, m)
            else:
                assert value == want[key], (name, key)
    for key, value in data["overall"].items():
        if key == "latency":
            for m, lb in value.items():
                assert lb == summary["overall"]["latency"][m], m
        else:
            assert value == summary["overall"][key], key
    assert data["overall"]["phases"] == ["steady"]
    now = data["now"]
    assert (now["phase"], now["loop"], now["target_rps"], now["status"]) == ("steady", "open", 20.0, "running")
    assert now["requests"] == 344 and now["errors"] == 4 and now["inflight"] == 3
    json.dumps(data, allow_nan=False)


def test_block_cache_rereads_only_what_changed(scenario: Any) -> None:
    hs, c = HistogramSet(), Counters()
    _fill(hs, c, "warm", 20, 0.03)
    cache = BlockCache()
    reads: list[int] = []
    first = cache.block(hs, c, ["warm"], pause=lambda: reads.append(1))
    assert cache.block(hs, c, ["warm"], pause=lambda: reads.append(1)) is first
    assert len(reads) == 4  # one read per metric, once
    _fill(hs, c, "warm", 1, 0.5)
    again = cache.block(hs, c, ["warm"])
    assert again is not first and again["requests"] == 21


def test_target_counter_walks_the_plan_exactly(scenario: Any) -> None:
    plan = Plan(scenario)
    offsets = [a.offset_s for a in plan.arrivals(0, 1)]
    tc = TargetCounter(plan)
    for cut in (0.0, 0.5, 4.99, 5.0, 12.3, 20.0, 25.0):
        assert tc.advance(cut) == sum(1 for o in offsets if o < cut), cut


def test_series_interval_point(scenario: Any) -> None:
    plan = Plan(scenario)
    series = LiveSeries(plan, interval_s=2.0, history=3)
    t0 = 1000.0
    assert series.tick(now_wall=999.0, t0_wall=t0) is None  # before t0: nothing
    assert series.tick(now_wall=1006.0, t0_wall=t0) is None  # opens the interval at offset 6
    hs, c = HistogramSet(), Counters()
    _fill(hs, c, "steady", 50, 0.05, errors=2)
    c.add("steady", "default", C_DROPPED, 3)
    series.on_delta({"hist": hs.encode(), "counters": c.encode()})
    assert series.tick(now_wall=1007.0, t0_wall=t0) is None  # not 2 s yet
    p = series.tick(now_wall=1008.0, t0_wall=t0, inflight=4, workers=1, cpu_percent=10.0)
    assert p is not None
    due = sum(1 for a in plan.arrivals(0, 1) if 6.0 <= a.offset_s < 8.0)
    assert p["target_rps"] == pytest.approx(due / 2.0)
    assert p["achieved_rps"] == pytest.approx(52 / 2.0)
    assert p["ok_rps"] == pytest.approx(50 / 2.0) and p["goodput_rps"] is None
    assert (p["errors"], p["dropped"], p["phase"], p["invalid"]) == (2, 3, "steady", False)
    assert p["ttft_p99_ms"] == pytest.approx(hs.combined(schema.M_TTFT).get_value_at_percentile(99) / 1e3)
    # the next interval starts empty: p99s are of the interval, not cumulative
    q = series.tick(now_wall=1010.0, t0_wall=t0, cpu_percent=95.0)
    assert q is not None and q["ttft_p99_ms"] is None and q["achieved_rps"] == 0.0
    assert q["invalid"] and series.invalid_intervals == 1  # CPU above generator.max_cpu_percent
    for now in (1012.0, 1014.0, 1016.0):
        series.tick(now_wall=now, t0_wall=t0)
    assert len(series.points) == 3 and series.intervals == 5  # bounded history


def test_run_so_far_tiles(scenario: Any) -> None:
    hs, c = HistogramSet(), Counters()
    assert [t["state"] for t in run_so_far_tiles(scenario, hs, c, ["steady"])] == ["no_data"] * 3
    _fill(hs, c, "steady", 200, 0.2, errors=30)  # ttft 200..400 ms > 100 ms; itl p50 ~10 ms ok
    tiles = {t["id"]: t for t in run_so_far_tiles(scenario, hs, c, ["steady"])}
    assert tiles["ttft_p99"]["state"] == "violating" and tiles["ttft_p99"]["threshold"] == 100.0
    assert tiles["itl_p50"]["state"] == "ok"
    assert tiles["error_rate"]["state"] == "violating"
    assert tiles["error_rate"]["value"] == pytest.approx(30 / 230)


def test_rolling_tiles_from_live_slo(scenario: Any) -> None:
    live = LiveSlo(live_objectives(scenario.slo), windows_s=[60.0], judged_phases=["steady"], run_tags={},
                   min_requests=1)
    hs, c = HistogramSet(), Counters()
    _fill(hs, c, "steady", 100, 0.2)
    live.on_interval(1005.0, hs, c, interval_s=5.0)
    state = _state(scenario, hs, c, t0=1000.0)
    data = build_payload(state, series=LiveSeries(state.plan), run_id="r", mode="local", now_wall=1007.0,
                         slo_source=types.SimpleNamespace(slo=live))
    tiles = {t["id"]: t for t in data["slo"]["tiles"]}
    assert data["slo"]["mode"] == "rolling"
    assert tiles["ttft_p99"]["state"] == "violating" and tiles["ttft_p99"]["window"] == "1m"
    assert tiles["ttft_p99"]["value"] > 100.0 and tiles["ttft_p99"]["open_violation"]
    assert tiles["error_rate"]["state"] == "ok"


def test_scrape_tap_forwards_and_averages() -> None:
    got: list[Point] = []
    now = [100.0]
    tap = ScrapeTap(types.SimpleNamespace(write_points=got.extend), clock=lambda: now[0], window_s=10.0)

    def lat(comp: str, n: float, total: float) -> Point:
        return Point(schema.SERVER_LATENCY.name, {schema.T_COMPONENT.name: comp, schema.T_SERVER.name: "vllm"},
                     {schema.SF_COUNT.name: n, schema.SF_SUM.name: total, schema.SF_P99.name: 0.5}, 0)

    tap.write_points([lat("queue", 10, 1.0), Point(schema.SERVER.name, {}, {schema.SF_RUNNING.name: 7.0}, 0)])
    now[0] = 105.0
    tap.write_points([lat("queue", 30, 1.0)])
    assert len(got) == 3
    assert tap.latest is not None and tap.latest["server"] == "vllm"
    assert tap.latest["components"]["queue"]["mean_ms"] == pytest.approx(2.0 / 40 * 1e3)
    assert tap.latest["gauges"] == {"running": 7.0}
    now[0] = 112.0  # the first scrape left the 10 s window
    tap.write_points([])
    assert tap.latest["components"]["queue"]["mean_ms"] == pytest.approx(1.0 / 30 * 1e3)


def test_payload_is_cached_and_strict_json(scenario: Any) -> None:
    hs, c = HistogramSet(), Counters()
    _fill(hs, c, "warm", 10, 0.03)
    state = _state(scenario, hs, c, t0=1000.0)
    now = [1003.0]
    live = LiveView(state, run_id="r", mode="local", clock=lambda: now[0], cache_s=1.0, pause=lambda: None)
    live.attach()
    assert state.merge_listeners == [live.series.on_delta]
    d1, j1 = live.payload()
    now[0] += 0.5
    d2, _ = live.payload()
    assert d2 is d1 and live.builds == 1
    now[0] += 0.6
    live.payload()
    assert live.builds == 2
    parsed = json.loads(j1)
    assert parsed["phases"]["warm"]["requests"] == 10
    rows = llm_rows(parsed)
    assert {(r["phase"], r["metric"]) for r in rows} >= {("warm", "ttft"), ("warm", "itl"), ("warm", "e2e")}
    assert all(r["p99"] != "" for r in rows)


def test_build_reads_a_private_copy(scenario: Any) -> None:
    """The histograms are read off the loop from a copy: merges meanwhile do not tear the payload."""
    hs, c = HistogramSet(), Counters()
    _fill(hs, c, "warm", 10, 0.03)
    state = _state(scenario, hs, c, t0=1000.0)

    def offload(work: Any) -> Any:
        _fill(hs, c, "warm", 5, 0.9)  # the loop merges more while the thread builds
        return work()

    live = LiveView(state, run_id="r", mode="local", clock=lambda: 1003.0, pause=lambda: None, offload=offload)
    data, _ = live.payload()
    warm = data["phases"]["warm"]
    assert warm["requests"] == 10 and warm["latency"]["ttft"]["count"] == 10
    assert state.counters.total(C_REQUESTS) == 15


def test_server_block_compares_the_same_window() -> None:
    """The client side is averaged over the chart points of the scrape window, weighted by requests."""
    points: list[dict[str, Any]] = [
        {"t": 2.0, "dt": 2.0, "ok_rps": 5.0, "ttft_mean_ms": 999.0, "e2e_mean_ms": 999.0},  # outside 10 s
        {"t": 14.0, "dt": 2.0, "ok_rps": 10.0, "ttft_mean_ms": 20.0, "e2e_mean_ms": 300.0},
        {"t": 16.0, "dt": 2.0, "ok_rps": 30.0, "ttft_mean_ms": 40.0, "e2e_mean_ms": 500.0},
        {"t": 18.0, "dt": 2.0, "ok_rps": 0.0, "ttft_mean_ms": None, "e2e_mean_ms": None},
    ]
    out = server_block({"server": "vllm", "window_s": 10.0, "components": {}}, points)
    assert out is not None and out["client"]["window_s"] == 6.0 and out["client"]["requests"] == 80
    assert out["client"]["ttft_mean_ms"] == pytest.approx((20 * 20 + 40 * 60) / 80)
    assert out["client"]["e2e_mean_ms"] == pytest.approx((300 * 20 + 500 * 60) / 80)
    assert server_block(None, points) is None


def test_closed_loop_phase_has_users_not_a_rate(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(SCENARIO.replace("{process: poisson, rate: 20}", "{process: concurrency, users: 6}"))
    sc = load_scenario(p)
    state = _state(sc, HistogramSet(), Counters(), t0=1000.0)
    now = build_payload(state, series=LiveSeries(state.plan), run_id="r", mode="local", now_wall=1007.0)["now"]
    assert (now["phase"], now["loop"], now["target_rps"], now["closed_loop_users"]) == ("steady", "closed", None, 6)


def test_rolling_tile_with_too_few_requests_is_not_judged(scenario: Any) -> None:
    live = LiveSlo(live_objectives(scenario.slo), windows_s=[60.0], judged_phases=["steady"], run_tags={},
                   min_requests=50)
    hs, c = HistogramSet(), Counters()
    _fill(hs, c, "steady", 20, 0.2)  # above the 100 ms threshold, but only 20 requests
    live.on_interval(1005.0, hs, c, interval_s=5.0)
    state = _state(scenario, hs, c, t0=1000.0)
    data = build_payload(state, series=LiveSeries(state.plan), run_id="r", mode="local", now_wall=1007.0,
                         slo_source=types.SimpleNamespace(slo=live))
    tile = data["slo"]["tiles"][0]
    assert (tile["id"], tile["state"], tile["samples"]) == ("ttft_p99", "no_data", 20) and tile["value"] > 100.0
    assert "fewer than 50" in tile["note"]
