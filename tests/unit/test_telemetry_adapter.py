"""The glue between a run and the collectors: counter translation, goodput, telemetry summary."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from collectors.aggregates import IntervalCounters
from collectors.records import ErrorClass, RequestRecord
from loadgen.locust.telemetry import Telemetry, make_telemetry, to_interval_counters
from loadgen.recorder import C_GOOD, Recorder
from loadgen.report import _render_telemetry
from loadgen.slo import goodput_slo, goodput_test


def _rec(ttft_ms: float, ok: bool = True) -> RequestRecord:
    r = RequestRecord(idx=1, phase="steady", traffic_class="default", worker="w", scheduled_ns=0, sent_ns=0)
    r.first_token_ns = int(ttft_ms * 1e6)
    r.token_ns = [r.first_token_ns, r.first_token_ns + 10_000_000]
    r.end_ns = r.first_token_ns + 10_000_000
    if not ok:
        r.error = ErrorClass.HTTP_5XX
    return r


def _scenario(objectives: list[tuple[str, float, float]]) -> SimpleNamespace:
    objs = [SimpleNamespace(metric=m, percentile=p, max_ms=v) for m, p, v in objectives]
    return SimpleNamespace(slo=SimpleNamespace(objectives=objs), sinks=None)


def test_loadgen_counters_translate_to_interval_counters_exactly() -> None:
    counters = {"steady|default|requests": 10, "steady|default|ok": 7, "steady|default|good": 5,
                "steady|default|output_tokens": 70, "steady|default|error:http_5xx": 2,
                "steady|default|error:timeout": 1, "steady|default|cancelled": 0,
                "steady|default|dropped_max_inflight": 4}
    ic = IntervalCounters()
    ic.merge_encoded(to_interval_counters(counters))
    got = ic.get("steady", "default")
    assert got == {"requests": 10, "ok": 7, "errors": 3, "good": 5, "output_tokens": 70, "prompt_tokens": 0}


def test_goodput_uses_the_tightest_threshold_per_metric_and_ignores_itl() -> None:
    sc = _scenario([("ttft", 99, 500), ("ttft", 50, 200), ("itl", 99, 1), ("e2e", 99, 2000)])
    g = goodput_slo(sc)
    assert g is not None and g.ttft_s == 0.2 and g.e2e_s == 2.0 and g.tpot_s is None
    assert goodput_slo(_scenario([("itl", 99, 50)])) is None


def test_recorder_counts_good_requests_only_within_thresholds() -> None:
    rec = Recorder(is_good=goodput_test(_scenario([("ttft", 99, 100)])))
    for r in (_rec(50), _rec(150), _rec(50, ok=False)):
        rec.record(r)
    assert rec.counters.total(C_GOOD) == 1
    assert Recorder().counters.total(C_GOOD) == 0


def test_no_sinks_section_gives_the_no_op_telemetry() -> None:
    tel = make_telemetry(SimpleNamespace(sinks=None), "local", "run", "local")
    assert type(tel) is Telemetry and tel.close() == {} and tel.stop_requested is False


def test_summary_shows_sink_accounting_and_where_unsent_points_are() -> None:
    buf = io.StringIO()
    tel = {"spool_dir": "/tmp/spool/x", "sinks": {"influxdb": {
        "generated": 10, "written": 6, "pending_memory": 1, "pending_spool": 2, "dropped": 1,
        "dropped_by_reason": {"rejected": 1}}}}
    _render_telemetry(Console(file=buf, width=200), tel)
    out = buf.getvalue()
    assert "10 points generated = 6 written + 3 pending + 1 dropped (rejected 1)" in out
    assert "/tmp/spool/x" in out
