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
    from collectors.hdr_read import summarize

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


def test_take_swaps_first_so_records_made_while_it_encodes_go_to_the_next_delta() -> None:
    """Regression (worker report in parts): the histograms are encoded with loop yields between
    them; a request that finishes during a yield must land in exactly one delta."""
    rec = Recorder()
    for i in range(3):
        rec.record(_rec(i, cls=f"c{i}"))  # three classes: several histograms, several pauses
    calls = []

    def pause() -> None:
        calls.append(rec.taking)
        if len(calls) == 1:
            rec.record(_rec(99, cls="late"))  # finishes while the take is paused

    first = rec.take(pause)
    assert calls and all(t == 1 for t in calls)  # paused between histograms, counted as in progress
    assert rec.taking == 0
    second = rec.take()
    hs1, c1, hs2, c2 = HistogramSet(), Counters(), HistogramSet(), Counters()
    merge_delta(hs1, c1, first)
    merge_delta(hs2, c2, second)
    assert c1.total(C_REQUESTS) == 3 and c2.total(C_REQUESTS) == 1
    assert hs1.count(schema.M_TTFT) == 3 and hs2.count(schema.M_TTFT) == 1
    assert hs2.classes() == ["late"]
    assert rec.take() == {"hist": {}, "counters": {}}  # nothing left, nothing counted twice


def test_decode_delta_gives_the_objects_that_merge_like_the_encoded_delta() -> None:
    from loadgen.recorder import LOCAL_COUNTERS, LOCAL_HIST, decode_delta

    rec = Recorder()
    for i in range(5):
        rec.record(_rec(i, cls="ab"[i % 2]))
    delta = rec.take()
    delta["raw"] = ["line"]
    pauses: list[int] = []
    decoded = decode_delta(delta, lambda: pauses.append(1))
    assert len(pauses) == len(delta["hist"])  # one pause per decoded histogram
    assert decoded["raw"] == ["line"] and LOCAL_HIST in decoded and LOCAL_COUNTERS in decoded
    a_hs, a_c, b_hs, b_c = HistogramSet(), Counters(), HistogramSet(), Counters()
    merge_delta(a_hs, a_c, delta)
    merge_delta(b_hs, b_c, decoded)
    assert a_c.encode() == b_c.encode()
    assert a_hs.encode() == b_hs.encode()
