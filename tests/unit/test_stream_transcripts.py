"""Recorded-style SSE transcripts (tests/testdata/sse/) fed byte by byte and in random splits.

Timestamps are injected: a feed's ``t_ns`` is the byte offset where that feed ends, so an
event's expected time is the end of the first feed that contains the end of its dispatching
blank line.  ``expected.json`` names each chunk by a marker string unique in its file.
"""

from __future__ import annotations

import random
import re

import pytest

from collectors.records import RequestRecord
from loadgen.openai.sse import SseParser
from tests.support.transcripts import DATA, EXPECTED, feed

# the byte that completes an event: the blank line's own terminator (CR of CRLF, LF, CR)
_BLANK = re.compile(rb"\r\n\r|\n\n|\r\r")
T_END_EXTRA = 1_000_000


def dispatch_offset(body: bytes, marker: str) -> int:
    m = marker.encode()
    i = body.find(m)
    assert i >= 0 and body.find(m, i + 1) < 0, f"marker {marker!r} must occur once"
    blank = _BLANK.search(body, i)
    assert blank is not None
    return blank.end()


def run(body: bytes, cuts: list[int], api: str, eof: str) -> tuple[RequestRecord, SseParser]:
    parser = SseParser()
    return feed(body, cuts, api, eof, parser, len(body) + T_END_EXTRA), parser


def expected_time(offset: int, cuts: list[int], n: int) -> int:
    return min(e for e in [*cuts, n] if e >= offset)


def check(name: str, cuts: list[int]) -> None:
    exp = EXPECTED[name]
    body = (DATA / name).read_bytes()
    rec, parser = run(body, cuts, exp["api"], exp["eof"])
    n = len(body)
    tok = [expected_time(dispatch_offset(body, m), cuts, n) for m in exp["tokens"]]
    assert rec.token_ns == tok
    assert rec.first_token_ns == (tok[0] if tok else None)
    fr = exp["first_reasoning"]
    assert rec.first_reasoning_ns == (expected_time(dispatch_offset(body, fr), cuts, n) if fr else None)
    end = exp["end"]
    assert rec.end_ns == (expected_time(dispatch_offset(body, end), cuts, n) if end else n + T_END_EXTRA)
    assert (rec.error.value if rec.error else None) == exp["error"]
    if exp["error"]:
        assert exp["error_detail_contains"] in rec.error_detail
    else:
        assert rec.error_detail == ""
    assert rec.prompt_tokens == exp["prompt_tokens"]
    assert rec.output_tokens == exp["output_tokens"]
    assert rec.tokens_from_usage is exp["tokens_from_usage"]
    assert rec.finish_reason == exp["finish_reason"]
    assert rec.request_id == exp["request_id"]
    assert rec.server_timing == pytest.approx(exp["server_timing"])
    assert set(rec.server_timing) == set(exp["server_timing"])
    for key, value in exp.get("parser", {}).items():
        if key != "events":
            assert getattr(parser, key) == value


NAMES = sorted(EXPECTED)


def test_every_transcript_has_expectations() -> None:
    assert sorted(p.name for p in DATA.glob("*.sse")) == NAMES
    styles = {n.split("_")[0] for n in NAMES}
    assert {"vllm", "sglang", "llamacpp", "openai", "err"} <= styles


@pytest.mark.parametrize("name", NAMES)
def test_whole_body(name: str) -> None:
    check(name, [])


@pytest.mark.parametrize("name", NAMES)
def test_byte_by_byte(name: str) -> None:
    n = len((DATA / name).read_bytes())
    check(name, list(range(1, n)))


@pytest.mark.parametrize("name", NAMES)
def test_random_splits(name: str) -> None:
    n = len((DATA / name).read_bytes())
    rng = random.Random(name)
    for _ in range(30):
        k = rng.randint(1, min(60, n - 1))
        check(name, sorted(rng.sample(range(1, n), k)))


def test_event_counts_of_tgi_transcript() -> None:
    body = (DATA / "tgi_bom_cr_multiline.sse").read_bytes()
    p = SseParser()
    events = p.feed(body, 1) + p.close(2)
    assert len(events) == EXPECTED["tgi_bom_cr_multiline.sse"]["parser"]["events"]
    assert events[1].event == "message" and events[1].id == "2"
    assert events[2].data == ""  # a bare "data" line: an empty event, a keep-alive for StreamState
