"""The pure SSE decoder: line endings, splits, fields, comments, BOM, timestamps."""

from __future__ import annotations

import random

import pytest

from loadgen.openai.sse import SseEvent, SseParser


def feed_all(chunks: list[bytes]) -> tuple[list[SseEvent], SseParser]:
    p = SseParser()
    out: list[SseEvent] = []
    for i, c in enumerate(chunks):
        out.extend(p.feed(c, i + 1))
    out.extend(p.close(10_000))
    return out, p


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_line_endings_give_same_events(eol: bytes) -> None:
    body = eol.join([b"data: a", b"", b"event: tick", b"data: b", b"data: c", b"", b""])
    events, _ = feed_all([body])
    assert [(e.data, e.event) for e in events] == [("a", None), ("b\nc", "tick")]


def test_crlf_split_between_cr_and_lf_is_one_line_ending() -> None:
    events, _ = feed_all([b"data: x\r", b"\n\r", b"\ndata: y\r\n\r\n"])
    assert [e.data for e in events] == ["x", "y"]
    # the blank line's CR completed the first event: it arrived in feed 2
    assert events[0].t_ns == 2


def test_event_gets_time_of_feed_that_completes_it() -> None:
    p = SseParser()
    assert p.feed(b"data: hel", 10) == []
    assert p.feed(b"lo\n", 20) == []
    assert p.feed(b"\n", 30) == [SseEvent("hello", 30)]


def test_comments_ids_retry_and_field_without_colon() -> None:
    body = b": comment\nid: 7\nretry: 1500\nretry: x1\ndata\n\nid: bad\x00id\ndata:no-space\n\n"
    events, p = feed_all([body])
    assert [(e.data, e.id) for e in events] == [("", "7"), ("no-space", "7")]
    assert p.retry_ms == 1500
    assert p.last_event_id == "7"


def test_only_one_space_after_colon_is_dropped() -> None:
    events, _ = feed_all([b"data:  two\n\n"])
    assert events[0].data == " two"


def test_bom_is_dropped_even_when_split() -> None:
    events, _ = feed_all([b"\xef", b"\xbb", b"\xbfdata: x\n\n"])
    assert [e.data for e in events] == ["x"]
    # only a leading BOM is special
    events, _ = feed_all([b"data: x\n\n\xef\xbb\xbfdata: y\n\n"])
    assert [e.data for e in events] == ["x"]  # second line's field name is "\ufeffdata": ignored


def test_utf8_split_across_feeds() -> None:
    raw = "data: héllo ✓\n\n".encode()
    events, _ = feed_all([raw[i : i + 1] for i in range(len(raw))])
    assert events[0].data == "héllo ✓"


def test_close_flushes_complete_lines_and_drops_partial_line() -> None:
    p = SseParser()
    assert p.feed(b"data: [DONE]\n", 5) == []
    assert p.close(9) == [SseEvent("[DONE]", 9)]
    assert not p.discarded_partial
    p = SseParser()
    p.feed(b"data: a\n\ndata: {\"cut", 5)
    assert p.close(9) == []
    assert p.discarded_partial


def test_event_type_resets_after_dispatch_and_blank_events_do_not_dispatch() -> None:
    events, _ = feed_all([b"event: a\n\n\ndata: x\n\nevent: b\ndata: y\n\ndata: z\n\n"])
    assert [(e.data, e.event) for e in events] == [("x", None), ("y", "b"), ("z", None)]


def test_random_splits_match_whole_feed() -> None:
    body = b"".join(f"data: {{\"i\": {i}}}\r\n: c\r\n\r\n".encode() for i in range(50))
    whole, _ = feed_all([body])
    rng = random.Random(3)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(body)), 40))
        parts = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        got, _ = feed_all(parts)
        assert [e.data for e in got] == [e.data for e in whole]
    assert len(whole) == 50
