"""Live SLO windows (loadgen/slo_live.py): exact values from merged HDR counts, burn rates,
violation regions with their peak, unjudged intervals, and the Prometheus series they feed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

from collectors import schema
from collectors.counters import C_OK, C_REQUESTS, ERROR_PREFIX, Counters
from collectors.histograms import HistogramSet
from collectors.point import Point
from collectors.sinks.config import PrometheusSinkConfig
from collectors.sinks.prometheus import PrometheusSink
from loadgen.hdr_counts import hdr
from loadgen.slo_live import LiveSlo
from loadgen.slo_objectives import (
    ERROR_RATE,
    LiveObjective,
    live_objectives,
    objective_id,
    window_label,
)

TTFT99 = LiveObjective("ttft_p99", schema.M_TTFT, 99.0, 0.5, 0.01)
ERR = LiveObjective(ERROR_RATE, None, None, 0.05, 0.05)
RUN = {"run_id": "r1", "scenario": "s"}


def interval(values: dict[str, list[float]], *, errors: int = 0, phase: str = "steady",
             cls: str = "chat") -> tuple[HistogramSet, Counters]:
    hs, c = HistogramSet(), Counters()
    for metric, vals in values.items():
        for v in vals:
            hs.record(metric, phase, cls, v)
    n_ok = len(values.get(schema.M_TTFT, []))
    c.add(phase, cls, C_REQUESTS, n_ok + errors)
    c.add(phase, cls, C_OK, n_ok)
    if errors:
        c.add(phase, cls, ERROR_PREFIX + "timeout", errors)
    return hs, c


def live(*objs: LiveObjective, windows: tuple[float, ...] = (10.0,), min_requests: int = 1) -> LiveSlo:
    return LiveSlo(list(objs) or [TTFT99], windows_s=windows, judged_phases=["steady", "burst"],
                   run_tags=RUN, min_requests=min_requests)


def by(points: list[Point], measurement: str) -> list[Point]:
    return [p for p in points if p.measurement == measurement]


def test_objectives_from_the_slo_section() -> None:
    slo = SimpleNamespace(objectives=[
        SimpleNamespace(metric="ttft", percentile=99, max_ms=500),
        SimpleNamespace(metric="ttft", percentile=99, max_ms=300),  # tighter duplicate wins
        SimpleNamespace(metric="itl", percentile=99.9, max_ms=80),
    ], max_error_rate=0.02)
    objs = live_objectives(slo)
    assert [o.id for o in objs] == ["ttft_p99", "itl_p99_9", "error_rate"]
    assert objs[0].threshold == pytest.approx(0.3) and objs[0].budget == pytest.approx(0.01)
    assert objs[1].budget == pytest.approx(0.001)
    assert objs[2].threshold == 0.02 and objs[2].budget == 0.02 and objs[2].unit == "ratio"
    assert objective_id("e2e", 90) == "e2e_p90"
    assert [window_label(w) for w in (60, 300, 90, 3600, 2.5)] == ["1m", "5m", "90s", "1h", "2.5s"]


def test_window_value_equals_the_merged_histogram_percentile_and_bad_fraction_is_exact() -> None:
    slo = live(windows=(30.0,))
    ref = HistogramSet()
    vals = [[0.01 * (i + 1) + 0.0003 * k for i in range(100)] for k in range(3)]
    for k, vs in enumerate(vals):
        hs, c = interval({schema.M_TTFT: vs})
        ref.record_many(schema.M_TTFT, "steady", "chat", vs)
        slo.on_interval(10.0 * (k + 1), hs, c, interval_s=10.0)
    ws = slo.last[("ttft_p99", "steady", "30s")]
    expected = ref.combined(schema.M_TTFT).get_value_at_percentile(99.0) / 1e6
    assert ws.value == pytest.approx(expected, abs=1e-9)
    above = sum(1 for vs in vals for v in vs if v > 0.5)
    assert ws.requests == 300
    assert ws.bad_fraction == pytest.approx(above / 300)
    assert ws.burn_rate == pytest.approx(above / 300 / 0.01)


def test_hdr_counts_above_threshold_match_a_plain_count() -> None:
    hs = HistogramSet()
    vals = [0.001 * i for i in range(1, 2001)]
    hs.record_many(schema.M_TTFT, "p", "c", vals)
    idx, cnt = hdr().sparse(hs.combined(schema.M_TTFT))
    for thr in (0.0995, 0.5, 1.2345, 3.0):
        # values within the 0.1 % HDR resolution of the threshold may land either way
        lo = sum(1 for v in vals if v > thr * 1.001)
        hi = sum(1 for v in vals if v > thr * 0.999)
        assert lo <= hdr().above(idx, cnt, thr) <= hi


def test_violation_opens_with_peak_and_closes_when_the_window_recovers() -> None:
    slo = live(windows=(10.0, 30.0))
    good, bad, worse = [0.1] * 50, [1.0] * 50, [2.0] * 50
    pts: list[Point] = []
    for k, vs in enumerate([good, bad, worse, good, good]):
        hs, c = interval({schema.M_TTFT: vs})
        pts += slo.on_interval(100.0 + 10 * k, hs, c, interval_s=10.0)
    events = by(pts, schema.RUN_EVENT.name)
    assert len(events) == 1
    ev = events[0]
    assert ev.tags == {**RUN, "phase": "steady", "event": "violation", "objective": "ttft_p99"}
    assert ev.time_ns == int(100e9)  # start of the first violating interval (ended at 110)
    assert ev.fields["end_ms"] == 130_000.0  # end of the first interval back within the threshold
    assert ev.fields["duration_s"] == pytest.approx(30.0)
    assert ev.fields["value"] == pytest.approx(2.0, rel=1e-3)  # the peak
    assert ev.fields["threshold"] == 0.5
    summary = slo.summary(t0_wall=90.0)
    assert summary == [{"objective": "ttft_p99", "phase": "steady", "window_s": 10.0, "start_unix": 100.0,
                        "end_unix": 130.0, "duration_s": 30.0, "peak": ev.fields["value"],
                        "threshold": 0.5, "unit": "s", "start_offset_s": 10.0}]
    # the 30 s window still sees the bad slices at 130 s: violating there, not on the 10 s one
    long = [p for p in by(pts, schema.SLO.name) if p.tags["slo_window"] == "30s" and p.time_ns == int(130e9)]
    assert long[0].fields["violating"] == 1.0
    short = [p for p in by(pts, schema.SLO.name) if p.tags["slo_window"] == "10s" and p.time_ns == int(130e9)]
    assert short[0].fields["violating"] == 0.0


def test_unjudged_phases_and_invalid_intervals_add_nothing() -> None:
    slo = live()
    hs, c = interval({schema.M_TTFT: [5.0] * 20}, phase="warmup")
    assert slo.on_interval(10.0, hs, c) == []
    hs, c = interval({schema.M_TTFT: [5.0] * 20})
    assert slo.on_interval(20.0, hs, c, judged=False) == []
    assert slo.violations == []
    hs, c = interval({schema.M_TTFT: [0.1] * 20})
    pts = slo.on_interval(30.0, hs, c)
    assert {p.fields["requests"] for p in by(pts, schema.SLO.name)} == {20.0}  # the invalid slice is not in


def test_too_few_requests_hold_the_state_and_a_phase_that_ends_closes_its_violation() -> None:
    slo = live(min_requests=10)
    hs, c = interval({schema.M_TTFT: [3.0] * 3})
    assert by(slo.on_interval(10.0, hs, c, interval_s=10.0), schema.RUN_EVENT.name) == []
    assert slo.violations == []  # 3 < min_requests: not judged
    hs, c = interval({schema.M_TTFT: [3.0] * 30})
    slo.on_interval(20.0, hs, c, interval_s=10.0)
    assert len(slo.violations) == 1 and slo.violations[0].end_s is None
    hs, c = interval({schema.M_TTFT: [0.1] * 30}, phase="burst")  # steady is over
    pts = slo.on_interval(30.0, hs, c, interval_s=10.0)
    ev = by(pts, schema.RUN_EVENT.name)
    assert len(ev) == 1 and ev[0].tags["phase"] == "steady" and ev[0].fields["end_ms"] == 20_000.0


def test_open_violation_is_closed_at_run_end() -> None:
    slo = live()
    hs, c = interval({schema.M_TTFT: [3.0] * 30})
    slo.on_interval(10.0, hs, c, interval_s=10.0)
    pts = slo.close(15.0)
    assert by(pts, schema.RUN_EVENT.name)[0].fields["end_ms"] == 10_000.0
    assert slo.summary()[0]["end_unix"] == 10.0


def test_error_rate_window_and_burn_rate() -> None:
    slo = live(ERR, windows=(20.0,))
    hs, c = interval({schema.M_TTFT: [0.1] * 90}, errors=10)
    pts = slo.on_interval(10.0, hs, c)
    (p,) = by(pts, schema.SLO.name)
    assert p.fields["value"] == pytest.approx(0.1) and p.fields["bad_fraction"] == pytest.approx(0.1)
    assert p.fields["burn_rate"] == pytest.approx(2.0) and p.fields["violating"] == 1.0
    (cnt,) = by(pts, schema.SLO_COUNT.name)
    assert cnt.fields == {"good": 90.0, "requests": 100.0, "budget": 0.05}


def test_count_points_per_class_and_every_point_is_declared() -> None:
    slo = live(TTFT99, ERR)
    hs, c = interval({schema.M_TTFT: [0.1] * 8 + [0.9] * 2}, cls="chat")
    hs2, c2 = interval({schema.M_TTFT: [0.9] * 5}, cls="batch")
    hs.merge(hs2)
    c.merge(c2)
    pts = slo.on_interval(10.0, hs, c)
    counts = {(p.tags["class"], p.tags["objective"]): p.fields for p in by(pts, schema.SLO_COUNT.name)}
    assert counts[("chat", "ttft_p99")]["good"] == 8 and counts[("chat", "ttft_p99")]["requests"] == 10
    assert counts[("batch", "ttft_p99")]["good"] == 0 and counts[("batch", "ttft_p99")]["budget"] == 0.01
    for p in pts:
        m = schema.measurement(p.measurement)
        assert set(p.tags) <= set(m.tag_names()) and set(p.fields) <= set(m.field_names())
        assert all(type(v) is float for v in p.fields.values()) and all(p.tags.values())


def test_prometheus_sink_exposes_good_total_budget_violations_and_phase() -> None:
    reg = CollectorRegistry()
    sink = PrometheusSink(PrometheusSinkConfig(port=0), registry=reg, serve=False)
    slo = live(TTFT99)
    hs, c = interval({schema.M_TTFT: [0.1] * 8 + [0.9] * 2})
    sink.write(slo.on_interval(10.0, hs, c, interval_s=10.0))
    hs, c = interval({schema.M_TTFT: [0.1] * 10})
    sink.write(slo.on_interval(20.0, hs, c, interval_s=10.0))
    sink.write([Point(schema.RUN_PROGRESS.name, {**RUN, "phase": "steady"},
                      {"arrivals_due": 12.5, "elapsed_s": 20.0, "judged": 1.0}, 1),
                Point(schema.RUN_PROGRESS.name, {**RUN, "phase": "burst"},
                      {"arrivals_due": 30.0, "elapsed_s": 30.0, "judged": 1.0}, 2),
                Point(schema.SERVER.name, {"host": "h", "server": "vllm", "model": "m"}, {"waiting": 7.0}, 3)])
    lab = {**RUN, "phase": "steady", "class": "chat", "objective": "ttft_p99"}
    assert reg.get_sample_value("inferload_slo_good_total", lab) == 18
    assert reg.get_sample_value("inferload_slo_requests_total", lab) == 20
    assert reg.get_sample_value("inferload_slo_error_budget", {**RUN, "objective": "ttft_p99"}) == 0.01
    assert reg.get_sample_value("inferload_slo_violations_total",
                                {**RUN, "phase": "steady", "objective": "ttft_p99"}) == 1
    assert reg.get_sample_value("inferload_run_info", {**RUN, "phase": "burst"}) == 1
    assert reg.get_sample_value("inferload_run_info", {**RUN, "phase": "steady"}) is None  # only the current one
    assert reg.get_sample_value("inferload_arrivals_due_total", {**RUN, "phase": "burst"}) == 30
    assert reg.get_sample_value("inferload_server_waiting", {"host": "h", "model": "m"}) == 7
    # every exposed family is declared in collectors/schema.py
    declared = {getattr(schema, n) for n in schema.__all__ if n.startswith("PROM_")}
    for fam in reg.collect():
        assert fam.name in declared or fam.name + "_total" in declared or f"{fam.name}" in {
            n.removesuffix("_total") for n in declared}, fam.name


def test_a_quiet_interval_of_a_running_phase_does_not_split_a_violation() -> None:
    slo = live()
    hs, c = interval({schema.M_TTFT: [3.0] * 30})
    slo.on_interval(10.0, hs, c, interval_s=10.0, ended=set())
    assert by(slo.on_interval(20.0, HistogramSet(), Counters(), interval_s=10.0, ended=set()),
              schema.RUN_EVENT.name) == []  # steady still runs: the violation holds
    hs, c = interval({schema.M_TTFT: [3.0] * 30})
    slo.on_interval(30.0, hs, c, interval_s=10.0, ended=set())
    assert len(slo.violations) == 1 and slo.violations[0].end_s is None
    (ev,) = by(slo.on_interval(40.0, HistogramSet(), Counters(), interval_s=10.0, ended={"steady"}),
               schema.RUN_EVENT.name)
    assert ev.fields["end_ms"] == 30_000.0  # its last judged interval


def test_a_violation_never_starts_before_its_phase() -> None:
    slo = LiveSlo([TTFT99], windows_s=[10.0], judged_phases=["burst"], run_tags=RUN, min_requests=1,
                  phase_starts={"burst": 104.0})
    hs, c = interval({schema.M_TTFT: [3.0] * 10}, phase="burst")
    slo.on_interval(110.0, hs, c, interval_s=10.0)  # the interval began at 100, the burst at 104
    assert slo.violations[0].start_s == 104.0


def test_live_config_defaults_and_errors() -> None:
    from loadgen.config.slo import SloConfig

    assert SloConfig().live.windows == [60.0, 300.0] and SloConfig().live.min_requests == 10
    assert SloConfig.model_validate({"live": {"windows": ["30s", "2m"]}}).live.windows == [30.0, 120.0]
    for bad, msg in (({"windows": ["1m", "60s"]}, "different"), ({"windows": []}, "at least 1"),
                     ({"windows": ["-5s"]}, "> 0"), ({"window": ["1m"]}, "Extra inputs")):
        with pytest.raises(ValueError, match=msg):
            SloConfig.model_validate({"live": bad})
