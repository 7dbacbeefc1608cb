"""Raw request points (fields, sampling, unique timestamps), interval aggregates, goodput, health."""

from __future__ import annotations

import numpy as np
import pytest

from collectors import schema
from collectors.aggregates import AggregateBuilder
from collectors.counters import Counters
from collectors.health import HealthLimits, HealthSample, health_fields
from collectors.histograms import HistogramSet, record_request
from collectors.point import Point
from collectors.records import ErrorClass
from collectors.request import RequestCollector, sampled, status_class
from loadgen.config.slo import SloMetric, SloObjective
from loadgen.goodput import goodput_rule
from loadgen.recorder import Recorder, merge_delta
from tests.collectors.fakes import WALL0_NS, make_record


def collector(ratio: float = 1.0) -> RequestCollector:
    return RequestCollector(run_id="r", scenario="s", worker="w0", sample_ratio=ratio)


def test_raw_point_fields_and_tags() -> None:
    rec = make_record(5, ttft_s=0.05, itl_s=0.01, tokens=8, lag_s=0.002,
                      server_timing={"server_queue_s": 0.01, "prefill_s": 0.02, "server_e2e_s": 0.1})
    p = collector().point(rec)
    assert p is not None and p.measurement == schema.REQUEST.name
    f = p.fields
    assert p.time_ns == rec.scheduled_ns + WALL0_NS
    assert p.tags == {"run_id": "r", "scenario": "s", "worker": "w0", "phase": "measure", "class": "chat",
                      "status_class": "2xx", "error": "ok"}
    assert f["idx"] == 5 and f["ok"] == 1 and f["status"] == 200 and f["sample_weight"] == 1
    assert f["schedule_lag_s"] == pytest.approx(0.002)
    assert f["ttft_s"] == pytest.approx(0.05) and f["ttft_sched_s"] == pytest.approx(0.052)
    assert f["itl_mean_s"] == pytest.approx(0.01) and f["itl_max_s"] == pytest.approx(0.01)
    assert f["e2e_s"] == pytest.approx(0.05 + 7 * 0.01)
    assert f["tpot_s"] == pytest.approx(0.07 / 7)
    assert f["scheduled_s"] == pytest.approx(WALL0_NS / 1e9 + 0.005, abs=1e-6)
    assert f["sent_s"] - f["scheduled_s"] == pytest.approx(0.002, abs=1e-6)
    assert f["output_tokens"] == 8 and f["prompt_tokens"] == 100
    assert f["server_queue_s"] == 0.01 and f["server_prefill_s"] == 0.02
    assert f["client_overhead_s"] == pytest.approx(0.12 - 0.1)
    assert "ttfrt_s" not in f, "absent values are left out, never NaN"


def test_server_timing_keys_from_the_client_and_the_latency_split() -> None:
    e2e = 0.05 + 7 * 0.01
    vllm = {"queue_s": 0.01, "ttft_s": 0.03, "decode_s": 0.05, "inference_s": 0.08, "mean_itl_s": 0.007}
    p = collector().point(make_record(1, server_timing=vllm))
    assert p is not None
    f = p.fields
    assert (f["server_queue_s"], f["server_ttft_s"], f["server_decode_s"]) == (0.01, 0.03, 0.05)
    assert f["server_inference_s"] == 0.08 and f["server_itl_mean_s"] == 0.007
    assert f["client_overhead_s"] == pytest.approx(e2e - (0.01 + 0.08))
    tgi = {"queue_s": 0.002, "inference_s": 0.1, "validation_s": 0.001, "tpot_s": 0.012, "total_s": 0.11}
    p = collector().point(make_record(2, server_timing=tgi))
    assert p is not None
    assert p.fields["server_e2e_s"] == 0.11 and p.fields["server_validation_s"] == 0.001
    assert p.fields["server_tpot_s"] == 0.012
    assert p.fields["client_overhead_s"] == pytest.approx(e2e - 0.11)
    p = collector().point(make_record(3, server_timing={"unknown_s": 1.0}))
    assert p is not None and "client_overhead_s" not in p.fields
    assert not any(k.startswith("server_") for k in p.fields)


def test_failed_request_point() -> None:
    p = collector().point(make_record(1, error=ErrorClass.HTTP_5XX))
    assert p is not None
    assert p.tags["error"] == "http_5xx" and p.tags["status_class"] == "5xx"
    assert p.fields["ok"] == 0 and "ttft_s" not in p.fields and p.fields["output_tokens"] == 0


def test_status_class() -> None:
    assert [status_class(s) for s in (None, 0, 200, 204, 302, 404, 429, 503, 999)] == \
        ["none", "none", "2xx", "2xx", "3xx", "4xx", "4xx", "5xx", "none"]


def test_equal_scheduled_times_get_distinct_timestamps() -> None:
    c = collector()
    times = [c.point(make_record(i, gap_s=0.0)).time_ns for i in range(1000)]  # type: ignore[union-attr]
    assert len(set(times)) == 1000 and min(times) == WALL0_NS


def test_sampling_is_deterministic_uniform_and_weighted() -> None:
    c = collector(0.1)
    kept = [i for i in range(20_000) if c.point(make_record(i)) is not None]
    assert 1800 <= len(kept) <= 2200
    assert c.sampled_out == 20_000 - len(kept)
    assert kept == [i for i in range(20_000) if sampled(i, 0.1)], "same decision whatever the worker"
    p = c.point(make_record(kept[0]))
    assert p is not None and p.fields["sample_weight"] == pytest.approx(10.0)
    assert sum(sampled(i, 0.5) for i in range(0, 20_000, 2)) == pytest.approx(5000, rel=0.06), "no stride bias"


def _obj(metric: SloMetric, max_ms: float, percentile: float = 99.0) -> SloObjective:
    return SloObjective(metric=metric, percentile=percentile, max_ms=max_ms)


def test_counters_merge_into_throughput_and_error_points() -> None:
    rule = goodput_rule([_obj("ttft", 100), _obj("tpot", 20)])
    w1, w2 = Recorder(rule), Recorder(rule)
    w1.record(make_record(0, ttft_s=0.05))  # good
    w1.record(make_record(1, ttft_s=0.5))  # ok, too slow
    w2.record(make_record(2, itl_s=0.05))  # ok, TPOT too slow
    w2.record(make_record(3, error=ErrorClass.TIMEOUT))
    w2.record(make_record(4, cls="batch", tokens=1))  # one token: TPOT not defined, passes
    hs, master = HistogramSet(), Counters()
    merge_delta(hs, master, w1.take())
    merge_delta(hs, master, w2.take())
    assert not w1.counters, "take() resets the worker's counters"
    assert master.get("measure", "chat", "requests") == 4 and master.get("measure", "chat", "ok") == 3
    assert master.get("measure", "chat", "good") == 1
    assert master.get("measure", "chat", "output_tokens") == 24, "tokens of ok requests"
    assert master.get("measure", "chat", "prompt_tokens") == 300, "prompt tokens of ok requests"
    assert master.get("measure", "batch", "good") == 1
    assert master.errors() == {"timeout": 1}

    pts = AggregateBuilder(run_id="r", scenario="s").points(hs, master, interval_s=2.0, now_ns=9)
    thr = {p.tags["class"]: p.fields for p in pts if p.measurement == schema.THROUGHPUT.name}
    assert thr["chat"]["req_per_s"] == 2.0 and thr["chat"]["goodput_req_per_s"] == 0.5
    assert thr["chat"]["output_tokens_per_s"] == 12 and thr["chat"]["bad_fraction"] == 0.75
    assert thr["chat"]["prompt_tokens"] == 300 and thr["chat"]["errors"] == 1
    errs = [p for p in pts if p.measurement == schema.ERRORS.name]
    assert len(errs) == 1 and errs[0].tags["error"] == "timeout" and errs[0].fields["count"] == 1


def test_no_slo_means_every_ok_request_is_good() -> None:
    """Regression (issue 14): with no TTFT/TPOT/E2E objective no request was counted good (goodput 0)."""
    r = Recorder(goodput_rule([]))
    r.record(make_record(0, ttft_s=100.0))
    r.record(make_record(1, error=ErrorClass.CONNECT))
    assert r.counters.get("measure", "chat", "good") == 1
    pts = AggregateBuilder(run_id="r", scenario="s").points(r.histograms, r.counters, interval_s=1.0, now_ns=1)
    thr = next(p.fields for p in pts if p.measurement == schema.THROUGHPUT.name)
    assert thr["goodput_req_per_s"] == 1.0 and thr["bad_fraction"] == 0.5


def test_itl_only_slo_counts_goodput_by_the_requests_own_gaps() -> None:
    """Regression (issue 14): an ITL-only SLO counted no good request."""
    r = Recorder(goodput_rule([_obj("itl", 20, percentile=99)]))
    r.record(make_record(0, itl_s=0.01))  # every gap 10 ms: good
    r.record(make_record(1, itl_s=0.05))  # every gap 50 ms: bad
    r.record(make_record(2, tokens=1))  # no gap: passes
    assert r.counters.get("measure", "chat", "good") == 2


def test_prompt_tokens_fall_back_to_the_planned_count() -> None:
    """Regression (issue 14): llm_throughput prompt_tokens was always 0."""
    rec = make_record(0)
    rec.prompt_tokens = None
    rec.planned_prompt_tokens = 77
    r = Recorder()
    r.record(rec)
    assert r.counters.get("measure", "chat", "prompt_tokens") == 77


def test_generator_faults_are_not_the_targets_errors() -> None:
    r = Recorder()
    r.record(make_record(0, error=ErrorClass.GENERATOR))
    assert r.counters.errors() == {}
    assert r.counters.get("measure", "chat", "generator_fault") == 1
    assert r.counters.get("measure", "chat", "requests") == 1


def test_cumulative_points_only_for_keys_that_changed() -> None:
    hs1, hs2 = HistogramSet(), HistogramSet()
    hs1.record(schema.M_TTFT, "warmup", "chat", 0.1)
    hs2.record(schema.M_TTFT, "steady", "chat", 0.2)
    b = AggregateBuilder(run_id="r", scenario="s")
    b.points(hs1, Counters(), interval_s=1, now_ns=1)
    pts = b.points(hs2, Counters(), interval_s=1, now_ns=2)
    cum = {p.tags["phase"] for p in pts if p.tags.get("window") == "cumulative"}
    assert cum == {"steady"}, "warmup's cumulative point did not change and is not rewritten"


def test_percentiles_come_from_merged_histograms() -> None:
    rng = np.random.default_rng(3)
    values = rng.lognormal(-3, 0.7, size=20_000)
    workers = [HistogramSet() for _ in range(4)]
    for i, v in enumerate(values):
        workers[i % 4].record(schema.M_TTFT, "measure", "chat", float(v))
    merged = HistogramSet()
    for w in workers:
        merged.merge_encoded(w.encode())
    b = AggregateBuilder(run_id="r", scenario="s")
    pts = b.points(merged, Counters(), interval_s=1, now_ns=1)
    interval = next(p for p in pts if p.tags["window"] == "interval")
    for q, name in ((50, "p50_s"), (90, "p90_s"), (99, "p99_s"), (99.9, "p99_9_s")):
        assert interval.fields[name] == pytest.approx(np.percentile(values, q), rel=2e-3)
    assert interval.fields["count"] == 20_000
    pts2 = b.points(merged, Counters(), interval_s=1, now_ns=2)
    cumulative = next(p for p in pts2 if p.tags["window"] == "cumulative")
    assert cumulative.fields["count"] == 40_000, "cumulative window adds the intervals up"


def test_latency_points_cover_every_metric_phase_class() -> None:
    hs = HistogramSet()
    for i in range(20):
        record_request(hs, make_record(i, phase=("warmup", "measure")[i % 2], cls=("a", "b")[i // 10]))
    pts = AggregateBuilder(run_id="r", scenario="s", cumulative=False).points(hs, Counters(), interval_s=1, now_ns=1)
    by_class = [p for p in pts if p.measurement == schema.LATENCY.name]
    keys = {(p.tags["metric"], p.tags["phase"], p.tags["class"]) for p in by_class}
    assert keys == set(hs.keys())  # noqa: SIM118
    per_phase = {(p.tags["metric"], p.tags["phase"]): p.fields for p in pts
                 if p.measurement == schema.PHASE_LATENCY.name}
    assert set(per_phase) == {(m, ph) for m, ph, _ in hs.keys()}  # noqa: SIM118
    for (metric, phase), f in per_phase.items():  # every class of the phase merged
        assert f["count"] == hs.count(metric, phase)
    assert all(isinstance(p, Point) for p in pts) and len(pts) == len(by_class) + len(per_phase)


@pytest.mark.parametrize(
    ("sample", "flags"),
    [
        (HealthSample(interval_s=5, lag_p99_s=0.01, cpu_percent=50), (0, 0, 0, 0)),
        (HealthSample(interval_s=5, lag_p99_s=0.2, cpu_percent=50), (1, 0, 0, 1)),
        (HealthSample(interval_s=5, lag_p99_s=0.01, cpu_percent=99), (0, 1, 0, 1)),
        (HealthSample(interval_s=5, dropped_arrivals=3), (0, 0, 1, 0)),
    ],
)
def test_health_flags_generator_bound_intervals(sample: HealthSample, flags: tuple[int, ...]) -> None:
    f = health_fields(sample, HealthLimits())
    assert (f["lag_exceeded"], f["cpu_exceeded"], f["drops_exceeded"], f["invalid"]) == flags
    assert all(type(v) is float for v in f.values())


def test_health_lag_from_histogram() -> None:
    hs = HistogramSet()
    for i in range(100):
        hs.record(schema.M_SCHEDULE_LAG, "measure", "chat", 0.001 * (i + 1))
    p50, p99, mx = HealthSample.lag_from(hs.combined(schema.M_SCHEDULE_LAG))
    assert p50 == pytest.approx(0.050, rel=0.01) and p99 == pytest.approx(0.099, rel=0.01)
    assert mx == pytest.approx(0.1, rel=0.01)
    assert HealthSample.lag_from(None) == (0.0, 0.0, 0.0)
