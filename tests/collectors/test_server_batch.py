"""The effective batch: the pure per-phase reducer, the per-step fields of the scrape, and the one
rule for a target's server root (issue 14, section 2 item 5: ``/v1`` base URLs scraped ``/v1/metrics``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors import schema as s
from collectors.point import Point
from collectors.server.batch import BatchSamples, gauge_segments, phase_stats, time_weighted
from collectors.server.endpoints import metrics_url, server_root, server_url
from collectors.server.scrape import ServerMetricsCollector

DATA = Path(__file__).resolve().parents[1] / "testdata"


def test_time_weighted_mean_and_percentiles() -> None:
    st = time_weighted({2.0: 9.0, 10.0: 1.0})  # 9 s at 2, 1 s at 10
    assert st is not None
    assert st.mean == pytest.approx(2.8)
    assert (st.p50, st.p95, st.max, st.seconds) == (2.0, 10.0, 10.0, 10.0)
    st = time_weighted({1.0: 5.0, 3.0: 5.0})
    assert st is not None and st.p50 == 1.0 and st.p95 == 3.0  # p50 at the exact boundary: the lower value
    assert time_weighted({}) is None and time_weighted({4.0: 0.0}) is None


def test_phase_stats_clip_segments_to_each_window() -> None:
    segments = [(0.0, 4.0, 1.0), (4.0, 6.0, 5.0), (6.0, 10.0, 9.0)]
    out = phase_stats(segments, [("a", 0.0, 5.0), ("b", 5.0, 10.0), ("later", 20.0, 30.0)])
    a, b = out["a"], out["b"]
    assert a is not None and b is not None
    assert a.mean == pytest.approx((4 * 1 + 1 * 5) / 5) and a.seconds == pytest.approx(5.0)
    assert b.mean == pytest.approx((1 * 5 + 4 * 9) / 5) and b.p50 == 9.0
    assert out["later"] is None


def test_gauge_samples_stand_for_the_time_half_way_to_their_neighbours() -> None:
    assert gauge_segments([(10.0, 1.0), (11.0, 2.0), (13.0, 3.0)]) == [
        (9.5, 10.5, 1.0), (10.5, 12.0, 2.0), (12.0, 14.0, 3.0)]
    assert gauge_segments([(5.0, 7.0)]) == [(5.0, 5.0, 7.0)]  # one sample covers no time
    assert gauge_segments([]) == []


def test_batch_samples_per_phase_rises_with_the_load() -> None:
    samples = BatchSamples()
    for i in range(20):  # 1 s scrapes: running 2 for the first 10 s, then 12
        running = 2.0 if i < 10 else 12.0
        samples.add(100.0 + i, {s.SF_RUNNING.name: running, s.SF_WAITING.name: 0.0, s.SF_TOKENS_PER_STEP.name: running})
    out = samples.per_phase([("low", 100.0, 109.5), ("high", 109.5, 119.0)])
    assert out["low"]["running"]["p50"] == 2.0 and out["high"]["running"]["p50"] == 12.0
    assert out["low"]["running"]["mean"] == pytest.approx(2.0) and out["high"]["running"]["p95"] == 12.0
    # interval means stand for (previous scrape, this scrape]: the first "12" covers (109, 110]
    assert out["low"]["tokens_per_step"]["mean"] == pytest.approx((9 * 2.0 + 0.5 * 12.0) / 9.5)
    assert "seqs_per_step" not in out["low"]


VLLM_PAGE = """# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{model_name="m"}} {running}
# TYPE vllm:iteration_tokens_total histogram
vllm:iteration_tokens_total_bucket{{model_name="m",le="+Inf"}} {count}
vllm:iteration_tokens_total_count{{model_name="m"}} {count}
vllm:iteration_tokens_total_sum{{model_name="m"}} {sum}
"""

LLAMACPP_PAGE = """# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing {running}
# TYPE llamacpp:n_decode_total counter
llamacpp:n_decode_total {decodes}
# TYPE llamacpp:n_busy_slots_per_decode gauge
llamacpp:n_busy_slots_per_decode {avg}
"""


def _server_fields(points: list[Point]) -> dict[str, float]:
    return next(p.fields for p in points if p.measurement == s.SERVER.name)


def test_vllm_tokens_per_step_is_the_intervals_iteration_tokens_mean() -> None:
    c = ServerMetricsCollector("http://x/metrics", server="vllm")
    first = _server_fields(c.process(VLLM_PAGE.format(running=1, count=100, sum=300), 1))
    assert s.SF_TOKENS_PER_STEP.name not in first  # baseline only
    later = _server_fields(c.process(VLLM_PAGE.format(running=4, count=150, sum=800), 2))
    assert later[s.SF_TOKENS_PER_STEP.name] == pytest.approx(500 / 50)
    assert later[s.SF_RUNNING.name] == 4 and later[s.SF_RESETS.name] == 0


def test_llamacpp_busy_slots_per_decode_per_interval_from_the_running_average() -> None:
    c = ServerMetricsCollector("http://x/metrics", server="llamacpp")
    c.process(LLAMACPP_PAGE.format(running=1, decodes=100, avg=2.0), 1)  # 200 busy-slot decodes so far
    f = _server_fields(c.process(LLAMACPP_PAGE.format(running=3, decodes=200, avg=2.5), 2))  # 500: +300 in 100
    assert f[s.SF_SEQS_PER_STEP.name] == pytest.approx(3.0)
    # the average is printed rounded: a tiny dip of avg x n is not a reset and never negative
    f = _server_fields(c.process(LLAMACPP_PAGE.format(running=3, decodes=201, avg=2.4874), 3))
    assert f[s.SF_SEQS_PER_STEP.name] == 0.0 and f[s.SF_RESETS.name] == 0
    # a server restart (the decode counter went down): this interval's average is the new one
    f = _server_fields(c.process(LLAMACPP_PAGE.format(running=1, decodes=10, avg=1.5), 4))
    assert f[s.SF_SEQS_PER_STEP.name] == 1.5 and f[s.SF_RESETS.name] == 1


@pytest.mark.parametrize(("base", "root"), [
    ("http://h:8000", "http://h:8000"),
    ("http://h:8000/", "http://h:8000"),
    ("http://h:8000/v1", "http://h:8000"),
    ("http://h:8000/v1/", "http://h:8000"),
    ("https://gw/llm/v1", "https://gw/llm"),
    ("http://h/v10", "http://h/v10"),
    ("http://v1", "http://v1"),
])
def test_server_root_strips_one_trailing_v1(base: str, root: str) -> None:
    assert server_root(base) == root


def test_v1_base_url_scrapes_the_servers_metrics_not_v1_metrics() -> None:
    """Regression (issue 14, section 2 item 5): the client and `run` strip a trailing /v1, the
    server-metrics scrape did not and asked for /v1/metrics."""
    assert metrics_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/metrics"
    assert server_url("http://127.0.0.1:8000/v1", "/v1/models") == "http://127.0.0.1:8000/v1/models"


def test_gauge_sample_reads_running_and_waiting_without_the_parser() -> None:
    page = (DATA / "metrics" / "vllm.txt").read_text()
    c = ServerMetricsCollector("http://x/metrics", get=lambda url, timeout_s: page, server="vllm")
    full = _server_fields(c.process(page, 1))
    light = c.sample_gauges([s.SF_RUNNING.name, s.SF_WAITING.name, s.SF_KV_CACHE_USAGE.name])
    # the same values the full parse reads; kv_cache_usage is averaged, so not a line-scan gauge
    assert light == {s.SF_RUNNING.name: full[s.SF_RUNNING.name], s.SF_WAITING.name: full[s.SF_WAITING.name]}
    two_engines = 'vllm:num_requests_running{engine="0",model_name="a}b"} 3.0\nvllm:num_requests_running{engine="1"} 4 1700000000\n'
    c2 = ServerMetricsCollector("http://x/metrics", get=lambda url, timeout_s: two_engines, server="vllm")
    assert c2.sample_gauges([s.SF_RUNNING.name]) == {s.SF_RUNNING.name: 7.0}
    assert ServerMetricsCollector("http://x/metrics", get=lambda url, timeout_s: page).sample_gauges(["running"]) == {}


def test_interval_fields_stand_for_the_time_since_the_previous_full_scrape() -> None:
    samples = BatchSamples()
    samples.add(0.0, {s.SF_RUNNING.name: 1.0})
    for t in (1.0, 2.0, 3.0, 4.0):
        samples.add(t, {s.SF_RUNNING.name: 1.0}, full=False)
    samples.add(5.0, {s.SF_RUNNING.name: 1.0, s.SF_TOKENS_PER_STEP.name: 7.0})
    out = samples.per_phase([("p", 0.0, 5.0)])["p"]
    assert out[s.SF_TOKENS_PER_STEP.name]["seconds"] == pytest.approx(5.0)
    assert out[s.SF_RUNNING.name]["seconds"] == pytest.approx(5.0) and samples.scrapes == 6
