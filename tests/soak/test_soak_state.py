"""Drift trends and ``slo.windows`` verdicts survive a master restart (issue 13 leftovers).

``state()`` -> JSON -> ``restore()`` into a fresh object, then more intervals, gives exactly what
one object fed every interval gives; the state stays bounded; a malformed ``soak`` entry is
logged and skipped; ``inferload report``'s partial summary carries ``drift`` and ``slo_windows``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from collectors import schema
from collectors.counters import C_OK, C_REQUESTS, ERROR_PREFIX, Counters
from collectors.histograms import HistogramSet
from collectors.point import Point
from loadgen.checkpoint import checkpoint_path, checkpoint_state, write_atomic
from loadgen.checkpoint_summary import summary_from_checkpoint
from loadgen.config import load_scenario
from loadgen.config.slo import SloObjective
from loadgen.drift import DriftDetector
from loadgen.plan import Plan
from loadgen.soak_watch import SoakWatch
from loadgen.windows import MAX_LISTED, WindowJudge

T0 = 1_800_000_000.0
TAGS = {"run_id": "r1", "scenario": "soak"}


class _Phase:
    def __init__(self, name: str, start_s: float, end_s: float) -> None:
        self.name, self.start_s, self.end_s = name, start_s, end_s


def _interval(ttft_s: float, itl_s: float = 0.02, n: int = 50, errors: int = 0,
              phase: str = "soak") -> tuple[HistogramSet, Counters]:
    hs, c = HistogramSet(), Counters()
    rng = np.random.default_rng(int(ttft_s * 1e6) + errors)
    hs.record_many(schema.M_TTFT, phase, "default", (ttft_s * rng.uniform(0.9, 1.1, n)).tolist())
    hs.record_many(schema.M_ITL, phase, "default", (itl_s * rng.uniform(0.9, 1.1, n)).tolist())
    c.add(phase, "default", C_REQUESTS, n)
    c.add(phase, "default", C_OK, n - errors)
    if errors:
        c.add(phase, "default", ERROR_PREFIX + "http_5xx", errors)
    return hs, c


def _round_trip(state: dict[str, Any]) -> Any:
    return json.loads(json.dumps(state, allow_nan=False))  # strict JSON: no NaN / Infinity


# ---- drift ------------------------------------------------------------------------------------------
def _detector(max_bins: int = 16) -> DriftDetector:
    d = DriftDetector(phases=["soak"], run_tags=TAGS, min_points=30, max_bins=max_bins)
    d.start(T0, [_Phase("warmup", 0, 600), _Phase("soak", 600, 12 * 3600)])
    return d


def _drift_step(d: DriftDetector, k: int) -> list[tuple[str, dict[str, str], dict[str, Any], int]]:
    """Interval ``k`` (1-minute intervals; a 30-minute gap after interval 99): TTFT creeps, KV leaks."""
    now = T0 + 600 + 60 * (k + 1) + (1800 if k >= 100 else 0)
    d.observe_points([Point(schema.SERVER.name, {"host": "h"},
                            {schema.SF_KV_CACHE_USAGE.name: 0.3 + 0.1 * k / 60 + 0.02 * (k * 37 % 11) / 11,
                             schema.SF_WAITING.name: 1.0},
                            int((now - 30) * 1e9))])
    hs, c = _interval(0.2 * (1 + 0.3 * k / 60) + 0.01 * (k % 7), errors=k % 3)
    return [(p.measurement, p.tags, p.fields, p.time_ns) for p in d.on_interval(now, hs, c)]


def test_drift_state_round_trip_continues_the_same_trends() -> None:
    n, m = 100, 140
    whole = _detector()
    events_whole = [e for k in range(n + m) for e in _drift_step(whole, k)]

    before = _detector()
    events = [e for k in range(n) for e in _drift_step(before, k)]
    state = _round_trip(before.state())
    for row in state["series"].values():  # bounded: never more than max_bins bins, whatever the length
        assert len(row["bins"]["t"]) <= 16
    after = _detector()
    after.restore(state)
    assert after.summary() == before.summary()
    events += [e for k in range(n, n + m) for e in _drift_step(after, k)]
    assert events == events_whole and events  # the same drift events, at the same intervals
    assert after.summary() == whole.summary()
    s = after.summary()
    assert s["series"]["ttft_p99"]["values"] == n + m  # the trend covers the intervals before the restart
    assert {"ttft_p99", "kv_cache_usage"} <= set(s["flagged"])
    closing = [[(p.measurement, p.tags, p.fields, p.time_ns) for p in d.close(T0 + 20_000)] for d in (after, whole)]
    assert closing[0] == closing[1]
    assert after.summary() == whole.summary()


def test_drift_restore_rejects_a_malformed_state_and_keeps_its_own() -> None:
    d = _detector()
    for k in range(5):
        _drift_step(d, k)
    good = _round_trip(d.state())
    too_many = json.loads(json.dumps(good))
    bins = too_many["series"]["ttft_p50"]["bins"]
    bins.update(t=[1.0] * 17, y=[1.0] * 17, n=[1] * 17, values=17)
    bad_counts = json.loads(json.dumps(good))
    bad_counts["series"]["ttft_p50"]["bins"]["values"] += 1
    for bad in (too_many, bad_counts, {"series": {"nope": good["series"]["ttft_p50"]}},
                {"series": {}, "extra": 1}, None, [1, 2]):
        with pytest.raises(ValueError):
            d.restore(bad)
        assert d.state() == good  # nothing changed


# ---- slo.windows ------------------------------------------------------------------------------------
def _judge() -> WindowJudge:
    return WindowJudge(objectives=[SloObjective(metric="ttft", percentile=99, max_ms=500)], max_error_rate=0.01,
                       judged_phases=["soak"], t0_wall=T0, windows_s=[10.0, 30.0], min_requests=20)


def _window_step(wj: WindowJudge, k: int) -> None:
    """1-s interval ``k``: every 4th 10-s window slow, some with errors; a 25-s gap after 47."""
    slow = (k // 10) % 4 == 1
    hs, c = _interval(0.9 if slow else 0.1, errors=3 if k % 13 == 0 else 0)
    wj.on_interval(T0 + k + 1 + (25 if k >= 48 else 0), hs, c)


def test_window_state_round_trip_continues_the_open_windows() -> None:
    n, m = 48, 70  # the restart falls inside open windows of both lengths
    whole = _judge()
    for k in range(n + m):
        _window_step(whole, k)
    whole.close()

    before = _judge()
    for k in range(n):
        _window_step(before, k)
    state = _round_trip(before.state())
    assert all(ln["open"] is not None and ln["open"]["hist"] for ln in state["lengths"])
    after = _judge()
    after.restore(state)
    assert after.summary() == before.summary()
    for k in range(n, n + m):
        _window_step(after, k)
    after.close()
    assert after.summary() == whole.summary()
    assert after.failures() == whole.failures() and whole.failures()
    assert whole.summary()["10s"]["violating"] >= 3


def test_window_state_stays_bounded_over_many_violating_windows() -> None:
    wj = WindowJudge(objectives=[SloObjective(metric="ttft", percentile=99, max_ms=500)], max_error_rate=None,
                     judged_phases=["soak"], t0_wall=T0, windows_s=[1.0], min_requests=1)
    hs, c = _interval(0.9, n=5)
    for k in range(MAX_LISTED + 50):  # every 1-s window violates
        wj.on_interval(T0 + k + 1, hs, c)
    state = _round_trip(wj.state())
    (ln,) = state["lengths"]
    assert len(ln["violations"]) == MAX_LISTED and ln["violating"] == MAX_LISTED + 49
    assert len(ln["failures"]) == MAX_LISTED  # one line per listed window, not one per window
    again = WindowJudge(objectives=wj.objectives, max_error_rate=None, judged_phases=["soak"], t0_wall=T0,
                        windows_s=[1.0], min_requests=1)
    again.restore(state)
    assert again.summary() == wj.summary()
    assert again.summary()["1s"]["violations_not_listed"] == 49


def test_window_restore_rejects_other_windows_and_malformed_state() -> None:
    wj = _judge()
    for k in range(15):
        _window_step(wj, k)
    good = _round_trip(wj.state())
    other = WindowJudge(objectives=wj.objectives, max_error_rate=0.01, judged_phases=["soak"], t0_wall=T0,
                        windows_s=[60.0])
    with pytest.raises(ValueError, match="slo.windows"):
        other.restore(good)
    bad_blob = json.loads(json.dumps(good))
    bad_blob["lengths"][0]["open"]["hist"] = {"itl": bad_blob["lengths"][0]["open"]["hist"]["ttft"]}
    fresh = _judge()
    for bad in (bad_blob, {"lengths": "x"}, None):
        with pytest.raises(ValueError):
            fresh.restore(bad)
        assert fresh.summary() == _judge().summary()  # nothing changed


# ---- SoakWatch, the checkpoint and the partial summary ----------------------------------------------
SCENARIO = """\
name: soak
seed: 5
target: {base_url: "http://127.0.0.1:8000", model: m}
workload: {prompt_tokens: 16, output_tokens: 8}
phases:
  - {name: warm, kind: warmup, duration: 60s, arrivals: {process: poisson, rate: 5}}
  - {name: soak, kind: steady, duration: 2h, arrivals: {process: poisson, rate: 5}}
slo:
  objectives: [{metric: ttft, percentile: 99, max_ms: 500}]
  max_error_rate: 0.05
  windows: [10m]
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Any:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    return load_scenario(path)


def _watch(scenario: Any) -> SoakWatch:
    w = SoakWatch(scenario=scenario, run_id="r1")
    w.start(T0, Plan(scenario))
    return w


def _feed(w: SoakWatch, ks: range, hs_total: HistogramSet, c_total: Counters) -> None:
    for k in ks:  # 10-s intervals of the soak phase (after the 60-s warmup)
        hs, c = _interval(0.9 if 40 <= k < 50 else 0.1, errors=1 if k % 9 == 0 else 0)
        w.on_interval(T0 + 60 + 10 * (k + 1), hs, c)
        hs_total.merge(hs)
        c_total.merge(c)


def test_soak_watch_round_trip_and_malformed_entries(scenario: Any, caplog: pytest.LogCaptureFixture) -> None:
    whole, before = _watch(scenario), _watch(scenario)
    _feed(whole, range(150), HistogramSet(), Counters())
    _feed(before, range(90), HistogramSet(), Counters())
    after = _watch(scenario)
    assert after.restore(_round_trip(before.state())) is True
    _feed(after, range(90, 150), HistogramSet(), Counters())
    for w in (whole, after):
        w.close(T0 + 60 + 1500)
    assert after.summary() == whole.summary()
    assert after.summary()["slo_windows"]["10m"]["violating"] == 1  # the slow intervals before the restart
    assert after.window_failures() == whole.window_failures()

    with caplog.at_level(logging.WARNING, logger="loadgen.soak_watch"):
        fresh = _watch(scenario)
        assert fresh.restore({"version": 1, "drift": {"series": {"ttft_p50": {}}}, "windows": {"lengths": 3}}) is False
        assert fresh.restore("garbage") is False
    assert fresh.summary() == _watch(scenario).summary()  # skipped: both parts start afresh
    assert "soak drift state skipped" in caplog.text and "soak slo.windows state skipped" in caplog.text
    assert "not version 1" in caplog.text


def _coordinator(scenario: Any, watch: SoakWatch | None, hs: HistogramSet, c: Counters) -> SimpleNamespace:
    return SimpleNamespace(
        run_id="r1", scenario_dict=scenario.model_dump(mode="json", by_alias=True), local=True,
        started_at=None, t0_wall=T0, stop_requested_at=None, stopped_by_sink=False,
        telemetry=SimpleNamespace(stop_requested=False), n_slots=1, slot_owner={0: "local"},
        labels={"local": "local"}, done_slots=set(), lost_slots=[], gaps=[], cpu_max={},
        busy=SimpleNamespace(to_dict=lambda: {}), busy_by_worker={}, hs=hs, counters=c, live=None,
        plan=Plan(scenario), scenario=scenario, soak=watch,
    )


def test_partial_summary_from_a_checkpoint_has_drift_and_slo_windows(scenario: Any, tmp_path: Path) -> None:
    watch, hs, c = _watch(scenario), HistogramSet(), Counters()
    _feed(watch, range(90), hs, c)  # 15 min of the soak phase: window 0 closed (violating), window 1 open
    now = T0 + 60 + 900
    run = tmp_path / "run"
    write_atomic(checkpoint_path(run), json.dumps(checkpoint_state(_coordinator(scenario, watch, hs, c), now)))
    summary = summary_from_checkpoint(run)
    assert summary["partial"] is True
    assert summary["drift"]["series"]["ttft_p99"]["values"] == 90
    windows = summary["slo_windows"]["10m"]
    # closed at the checkpoint like a run at its end: the open window is judged as a partial window
    assert (windows["judged"], windows["violating"]) == (2, 1)
    assert any("window 10m #0" in r for r in summary["verdict"]["reasons"]), summary["verdict"]

    write_atomic(checkpoint_path(run), json.dumps(checkpoint_state(_coordinator(scenario, None, hs, c), now)))
    older = summary_from_checkpoint(run)  # a checkpoint whose soak entry is null
    assert "drift" not in older and "slo_windows" not in older
