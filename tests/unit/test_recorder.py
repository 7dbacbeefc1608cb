"""Recorder: counters by phase x class, deltas that merge exactly, histograms per request."""

from __future__ import annotations

from collectors import schema
from collectors.counters import (
    C_CANCELLED,
    C_DROPPED,
    C_LOST_IN_GAP,
    C_OK,
    C_OUTPUT_TOKENS,
    C_REQUESTS,
    Counters,
)
from collectors.histograms import HistogramSet
from collectors.records import ErrorClass, RequestRecord
from loadgen.recorder import Recorder, merge_delta

MS = 1_000_000


def _rec(idx: int, phase: str = "steady", cls: str = "a", error: ErrorClass | None = None) -> RequestRecord:
    r = RequestRecord(idx=idx, phase=phase, traffic_class=cls, worker="w0", scheduled_ns=0)
    r.sent_ns = 2 * MS
    r.first_token_ns = 52 * MS
    r.token_ns = [52 * MS, 62 * MS, 72 * MS]
    r.end_ns = 73 * MS
    r.error = error
    return r


def test_counts_ok_errors_and_cancelled_separately() -> None:
    rec = Recorder()
    rec.record(_rec(0))
    rec.record(_rec(1, error=ErrorClass.HTTP_5XX))
    rec.record(_rec(2, error=ErrorClass.CANCELLED))
    rec.dropped("steady", "a", 2)
    rec.lost_in_gap("steady", "b")
    c = rec.counters
    assert c.total(C_REQUESTS) == 3
    assert c.total(C_OK) == 1
    assert c.total(C_CANCELLED) == 1
    assert c.errors() == {"http_5xx": 1}
    assert c.total(C_DROPPED) == 2
    assert c.total(C_LOST_IN_GAP, cls="b") == 1
    assert c.total(C_OUTPUT_TOKENS) == 3  # chunk count fallback, ok requests only


def test_histograms_only_from_successful_requests_but_lag_always() -> None:
    rec = Recorder()
    rec.record(_rec(0))
    rec.record(_rec(1, error=ErrorClass.TIMEOUT))
    hs = rec.histograms
    assert hs.count(schema.M_TTFT) == 1
    assert hs.count(schema.M_ITL) == 2
    assert hs.count(schema.M_SCHEDULE_LAG) == 2
    h = hs.get(schema.M_TTFT, "steady", "a")
    assert h is not None and abs(h.get_value_at_percentile(50) - 50_000) <= 50


def test_take_returns_deltas_that_merge_without_double_counting() -> None:
    rec = Recorder()
    master_hs, master_c = HistogramSet(), Counters()
    rec.record(_rec(0))
    merge_delta(master_hs, master_c, rec.take())
    rec.record(_rec(1, phase="burst"))
    rec.dropped("burst", "a")
    merge_delta(master_hs, master_c, rec.take())
    merge_delta(master_hs, master_c, rec.take())  # empty delta: no change
    assert master_c.total(C_REQUESTS) == 2
    assert master_c.total(C_REQUESTS, ["burst"]) == 1
    assert master_c.total(C_DROPPED) == 1
    assert master_hs.count(schema.M_TTFT) == 2
    assert sorted(master_c.phases()) == ["burst", "steady"]


def test_counter_encoding_round_trips() -> None:
    c = Counters()
    c.add("p", "cls", "error:http_429", 4)
    d = Counters()
    d.merge_encoded(c.encode())
    assert d.errors(["p"]) == {"http_429": 4}


def test_take_local_merges_to_the_same_numbers_as_take() -> None:
    """A local run's coordinator merges the recorder's objects (no encode/decode, issue 14); the
    merged histograms and counters equal those of the encoded path a worker ships."""
    from collectors.histograms import summarize

    encoded, direct = Recorder(), Recorder()
    for i in range(40):
        r = _rec(i) if i % 7 else _rec(i, error=ErrorClass.HTTP_5XX)
        encoded.record(r)
        direct.record(r)
    hs_a, c_a, hs_b, c_b = HistogramSet(), Counters(), HistogramSet(), Counters()
    merge_delta(hs_a, c_a, encoded.take())
    merge_delta(hs_b, c_b, direct.take_local())
    assert c_a.encode() == c_b.encode() and c_a.encode()
    keys = list(hs_a)
    assert keys == list(hs_b)
    for key in keys:
        ha, hb = hs_a.get(*key), hs_b.get(*key)
        assert ha is not None and hb is not None
        assert summarize(ha) == summarize(hb)
    assert not direct.counters.encode() and not list(direct.histograms.keys())  # taken: empty again
