"""Server-metrics collector: deltas across resets, histogram deltas, per-server snapshots."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from collectors import schema as s
from collectors.point import Point
from collectors.server.families import LEGACY_FAMILIES, MAPPINGS, detect_server
from collectors.server.scrape import ServerMetricsCollector, UnknownServerError, bucket_quantile

METRICS = Path(__file__).resolve().parents[1] / "testdata" / "metrics"
SERVERS = ("vllm", "sglang", "tgi", "llamacpp", "triton")
# sums of the 40 requests written into every snapshot (tests/testdata/metrics/*.txt)
QUEUE, PREFILL, DECODE, INFERENCE = 1.3768, 5.1851, 118.5546, 123.7397
TTFT, E2E = 6.6819, 125.3165


def _by(points: list[Point], measurement: str, **tags: str) -> list[Point]:
    return [p for p in points if p.measurement == measurement and all(p.tags.get(k) == v for k, v in tags.items())]


def _one(points: list[Point], measurement: str, **tags: str) -> Point:
    found = _by(points, measurement, **tags)
    assert len(found) == 1, (measurement, tags, found)
    return found[0]


def _snapshot_deltas(kind: str) -> list[Point]:
    c = ServerMetricsCollector("http://srv/metrics", server=kind, tags={"host": "h"})
    assert c.process("", 1, t=0.0) != []  # baseline: an llm_server point with scrape_s only
    return c.process((METRICS / f"{kind}.txt").read_text(), 2, t=5.0)


def _counter_page(value: float, hist: tuple[float, float, float, float]) -> str:
    b1, binf, total, count = hist
    return (
        "# TYPE vllm:num_preemptions_total counter\n"
        f'vllm:num_preemptions_total{{engine="0",model_name="m"}} {value}\n'
        "# TYPE vllm:request_queue_time_seconds histogram\n"
        f'vllm:request_queue_time_seconds_bucket{{engine="0",le="0.3",model_name="m"}} {b1}\n'
        f'vllm:request_queue_time_seconds_bucket{{engine="0",le="+Inf",model_name="m"}} {binf}\n'
        f'vllm:request_queue_time_seconds_sum{{engine="0",model_name="m"}} {total}\n'
        f'vllm:request_queue_time_seconds_count{{engine="0",model_name="m"}} {count}\n'
        "# TYPE vllm:num_requests_running gauge\n"
        f'vllm:num_requests_running{{engine="0",model_name="m"}} {value}\n'
    )


# -- every declared family exists in the recorded snapshot of its server -----------------------
@pytest.mark.parametrize("kind", SERVERS)
def test_declared_families_exist_in_snapshot(kind: str) -> None:
    names = {f.name for f in text_string_to_metric_families((METRICS / f"{kind}.txt").read_text())}
    missing = [n for n in MAPPINGS[kind].declared_families() if n not in names and n not in LEGACY_FAMILIES]
    assert missing == []


@pytest.mark.parametrize("kind", SERVERS)
def test_server_detected_from_snapshot(kind: str) -> None:
    text = (METRICS / f"{kind}.txt").read_text()
    assert detect_server(f.name for f in text_string_to_metric_families(text)) == kind
    c = ServerMetricsCollector("u")
    c.process(text, 1)
    assert c.mapping is MAPPINGS[kind]


def test_unknown_server_is_an_error() -> None:
    c = ServerMetricsCollector("http://x/metrics")
    with pytest.raises(UnknownServerError, match="--server"):
        c.process("# TYPE foo gauge\nfoo 1\n", 1)


# -- each server's snapshot mapped onto canonical components ---------------------------------------
EXPECTED_LATENCY: dict[str, dict[str, float]] = {
    "vllm": {"queue": QUEUE, "prefill": PREFILL, "decode": DECODE, "inference": INFERENCE, "ttft": TTFT, "e2e": E2E},
    "sglang": {"queue": QUEUE, "ttft": TTFT, "e2e": E2E},
    "tgi": {"queue": QUEUE, "inference": INFERENCE, "e2e": E2E},
    "llamacpp": {"prefill": PREFILL, "decode": DECODE, "inference": PREFILL + DECODE},
    "triton": {"queue": QUEUE, "inference": INFERENCE, "e2e": E2E, "ttft": TTFT},
}
EXPECTED_SERVER: dict[str, dict[str, float]] = {
    "vllm": {"running": 3, "waiting": 1, "kv_cache_usage": 0.125, "prefix_cache_hit_rate": 0.25,
             "preemptions": 2, "spec_decode_acceptance": 0.7, "prompt_tokens": 20480, "generation_tokens": 2040},
    "sglang": {"running": 3, "waiting": 1, "kv_cache_usage": 0.06, "prefix_cache_hit_rate": 0.25,
               "preemptions": 1, "spec_decode_acceptance": 0.7, "prompt_tokens": 20480, "generation_tokens": 2040},
    "tgi": {"running": 3, "waiting": 1},
    "llamacpp": {"running": 2, "waiting": 1, "spec_decode_acceptance": 1200 / 1800, "prompt_tokens": 20480,
                 "generation_tokens": 2040},
    "triton": {"waiting": 1},
}
MODEL = {"vllm": "meta-llama/Llama-3.1-8B-Instruct", "sglang": "meta-llama/Llama-3.1-8B-Instruct", "triton": "llama3"}


@pytest.mark.parametrize("kind", SERVERS)
def test_snapshot_mapped_to_components(kind: str) -> None:
    points = _snapshot_deltas(kind)
    model = {"model": MODEL[kind]} if kind in MODEL else {}
    for component, total in EXPECTED_LATENCY[kind].items():
        p = _one(points, s.SERVER_LATENCY.name, component=component, **model)
        assert p.fields[s.SF_SUM.name] == pytest.approx(total, abs=1e-3), component
        assert p.fields[s.SF_RESET.name] == 0.0
        if kind != "llamacpp":  # llama.cpp has time counters but no request counter
            assert p.fields[s.SF_COUNT.name] == 40.0
            assert p.fields[s.SF_MEAN.name] == pytest.approx(total / 40, abs=1e-4)
    latency = {p.tags["component"] for p in _by(points, s.SERVER_LATENCY.name)}
    assert latency >= set(EXPECTED_LATENCY[kind])
    server = _one(points, s.SERVER.name, **model)
    for name, value in EXPECTED_SERVER[kind].items():
        assert server.fields[name] == pytest.approx(value), name
    assert server.fields[s.SF_INTERVAL.name] == 5.0
    assert server.tags[s.T_SERVER.name] == kind and server.tags["host"] == "h"
    for p in points:
        m = s.measurement(p.measurement)
        assert set(p.fields) <= set(m.field_names()) and set(p.tags) <= set(m.tag_names())


def test_histogram_buckets_and_quantiles_from_vllm_snapshot() -> None:
    points = _snapshot_deltas("vllm")
    buckets = _by(points, s.SERVER_LATENCY_BUCKET.name, component="ttft")
    assert len(buckets) == 23  # 22 bounds + Inf
    by_le = {p.tags["le"]: p.fields["count"] for p in buckets}
    assert by_le["+Inf"] == 40.0 and by_le["2560"] == 40.0 and by_le["0.001"] == 0.0
    counts = [by_le[k] for k in sorted(by_le, key=lambda x: math.inf if x == "+Inf" else float(x))]
    assert counts == sorted(counts)  # cumulative
    ttft = _one(points, s.SERVER_LATENCY.name, component="ttft")
    assert 0.1 <= ttft.fields["p50_s"] <= 0.25
    assert ttft.fields["p50_s"] <= ttft.fields["p90_s"] <= ttft.fields["p99_s"]


# -- deltas ------------------------------------------------------------------------------------------
def test_first_scrape_is_a_baseline_then_counter_deltas() -> None:
    c = ServerMetricsCollector("u", server="vllm", tags={"host": "h"})
    first = c.process(_counter_page(5, (1, 2, 0.7, 2)), 1, t=0.0)
    assert _by(first, s.SERVER_LATENCY.name) == []
    server = _one(first, s.SERVER.name)
    assert server.fields["running"] == 5.0 and "preemptions" not in server.fields
    assert s.SF_INTERVAL.name not in server.fields
    second = c.process(_counter_page(8, (4, 6, 2.2, 6)), 2, t=5.0)
    assert _one(second, s.SERVER.name).fields["preemptions"] == 3.0
    q = _one(second, s.SERVER_LATENCY.name, component="queue")
    assert q.fields["count"] == 4.0 and q.fields["sum_s"] == pytest.approx(1.5) and q.fields["reset"] == 0.0
    assert q.fields["mean_s"] == pytest.approx(1.5 / 4)
    le = {p.tags["le"]: p.fields["count"] for p in _by(second, s.SERVER_LATENCY_BUCKET.name)}
    assert le == {"0.3": 3.0, "+Inf": 4.0}


def test_counter_reset_takes_new_value_as_delta() -> None:
    c = ServerMetricsCollector("u", server="vllm")
    c.process(_counter_page(10, (5, 10, 3.0, 10)), 1, t=0.0)
    c.process(_counter_page(12, (6, 12, 3.5, 12)), 2, t=5.0)
    after_restart = c.process(_counter_page(3, (2, 3, 0.4, 3)), 3, t=10.0)
    server = _one(after_restart, s.SERVER.name)
    assert server.fields["preemptions"] == 3.0  # not -9
    assert server.fields["resets"] >= 1.0
    q = _one(after_restart, s.SERVER_LATENCY.name, component="queue")
    assert q.fields["count"] == 3.0 and q.fields["sum_s"] == pytest.approx(0.4) and q.fields["reset"] == 1.0
    le = {p.tags["le"]: p.fields["count"] for p in _by(after_restart, s.SERVER_LATENCY_BUCKET.name)}
    assert le == {"0.3": 2.0, "+Inf": 3.0}
    # and the interval after the restart is an ordinary delta again
    later = c.process(_counter_page(4, (2, 4, 0.9, 4)), 4, t=15.0)
    assert _one(later, s.SERVER.name).fields["preemptions"] == 1.0
    assert _one(later, s.SERVER.name).fields["resets"] == 0.0
    assert _one(later, s.SERVER_LATENCY.name, component="queue").fields["reset"] == 0.0


def test_histogram_reset_detected_even_when_a_bucket_did_not_go_down() -> None:
    c = ServerMetricsCollector("u", server="vllm")
    c.process(_counter_page(1, (0, 10, 30.0, 10)), 1, t=0.0)
    # restart then 12 requests: count went up (10 -> 12) but the sum went down: a reset
    pts = c.process(_counter_page(1, (12, 12, 1.2, 12)), 2, t=5.0)
    q = _one(pts, s.SERVER_LATENCY.name, component="queue")
    assert q.fields["reset"] == 1.0 and q.fields["count"] == 12.0 and q.fields["sum_s"] == pytest.approx(1.2)


def test_no_observations_no_latency_point() -> None:
    c = ServerMetricsCollector("u", server="vllm")
    c.process(_counter_page(1, (1, 2, 0.5, 2)), 1, t=0.0)
    pts = c.process(_counter_page(1, (1, 2, 0.5, 2)), 2, t=5.0)
    assert _by(pts, s.SERVER_LATENCY.name) == [] and _by(pts, s.SERVER_LATENCY_BUCKET.name) == []


def test_series_summed_across_engines_and_new_series_count_from_zero() -> None:
    def page(e0: float, e1: float | None) -> str:
        lines = ["# TYPE vllm:num_preemptions_total counter",
                 f'vllm:num_preemptions_total{{engine="0",model_name="m"}} {e0}']
        if e1 is not None:
            lines.append(f'vllm:num_preemptions_total{{engine="1",model_name="m"}} {e1}')
        return "\n".join(lines) + "\n"

    c = ServerMetricsCollector("u", server="vllm")
    c.process(page(1, None), 1, t=0.0)
    pts = c.process(page(3, 4), 2, t=5.0)  # engine 1 appeared: all 4 happened in this interval
    assert _one(pts, s.SERVER.name).fields["preemptions"] == 6.0


def test_collect_uses_the_injected_getter_and_times_the_scrape() -> None:
    calls: list[tuple[str, float]] = []
    clock = iter([10.0, 10.25, 15.0, 15.5])

    def get(url: str, timeout: float) -> str:
        calls.append((url, timeout))
        return _counter_page(1, (1, 1, 0.1, 1))

    c = ServerMetricsCollector("http://a/metrics", get=get, timeout_s=2.0, clock=lambda: next(clock))
    c.collect(1)
    pts = list(c.collect(2))
    assert calls == [("http://a/metrics", 2.0)] * 2
    server = _one(pts, s.SERVER.name)
    assert server.fields["scrape_s"] == 0.5 and server.fields["interval_s"] == pytest.approx(5.25)


@pytest.mark.parametrize(
    ("q", "expected"),
    [(0.5, 0.15), (0.25, 0.075), (1.0, 0.3), (0.99, 0.297)],
)
def test_bucket_quantile_linear_interpolation(q: float, expected: float) -> None:
    assert bucket_quantile(q, [(0.3, 10.0), (math.inf, 10.0)]) == pytest.approx(expected)


def test_bucket_quantile_in_inf_bucket_returns_last_finite_bound() -> None:
    assert bucket_quantile(0.9, [(1.0, 5.0), (2.0, 6.0), (math.inf, 10.0)]) == 2.0
    assert bucket_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]) is None


def test_forced_kind_without_its_families_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    c = ServerMetricsCollector("http://x/metrics?key=secret", server="tgi")
    text = (METRICS / "vllm.txt").read_text()
    with caplog.at_level("WARNING", logger="collectors.server.scrape"):
        c.process(text, 1)
        points = c.process(text, 2)
    assert caplog.text.count("none of the tgi metric families") == 1
    assert "secret" not in caplog.text
    assert [p.measurement for p in points] == [s.SERVER.name]


def test_time_counter_reset_flagged_on_llamacpp() -> None:
    def page(prompt_s: float, predicted_s: float) -> str:
        return (
            "# TYPE llamacpp:prompt_seconds_total counter\n"
            f"llamacpp:prompt_seconds_total {prompt_s}\n"
            "# TYPE llamacpp:tokens_predicted_seconds_total counter\n"
            f"llamacpp:tokens_predicted_seconds_total {predicted_s}\n"
        )

    c = ServerMetricsCollector("u")
    c.process(page(10.0, 50.0), 1, t=0.0)
    normal = c.process(page(12.0, 60.0), 2, t=5.0)
    assert _one(normal, s.SERVER_LATENCY.name, component="prefill").fields == {"sum_s": 2.0, "reset": 0.0}
    restarted = c.process(page(1.5, 70.0), 3, t=10.0)  # prompt counter restarted, predicted did not
    prefill = _one(restarted, s.SERVER_LATENCY.name, component="prefill").fields
    assert prefill == {"sum_s": 1.5, "reset": 1.0}
    assert _one(restarted, s.SERVER_LATENCY.name, component="decode").fields == {"sum_s": 10.0, "reset": 0.0}
    inference = _one(restarted, s.SERVER_LATENCY.name, component="inference").fields
    assert inference["sum_s"] == pytest.approx(11.5) and inference["reset"] == 1.0
