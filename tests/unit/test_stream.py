"""Stream interpretation details not covered by the transcripts; non-streaming bodies."""

from __future__ import annotations

import json

from collectors.records import ErrorClass, RequestRecord
from loadgen.openai.sse import SseEvent
from loadgen.openai.stream import StreamState, interpret_body, server_timing_from_headers


def rec() -> RequestRecord:
    return RequestRecord(idx=1, phase="p", traffic_class="c", worker="w", scheduled_ns=0)


def chunk(**delta: object) -> str:
    return json.dumps({"id": "x", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})


def test_role_only_empty_and_null_content_are_not_tokens() -> None:
    r = rec()
    s = StreamState(r, "chat")
    for t, data in enumerate([chunk(role="assistant"), chunk(content=""), chunk(content=None), chunk(content="a")]):
        s.on_event(SseEvent(data, t + 1))
    assert r.first_token_ns == 4 and r.token_ns == [4]


def test_transport_error_is_not_overwritten_and_events_after_done_are_ignored() -> None:
    r = rec()
    s = StreamState(r, "chat")
    s.on_event(SseEvent(chunk(content="a"), 1))
    s.on_event(SseEvent("[DONE]", 2))
    s.on_event(SseEvent(chunk(content="late"), 3))
    s.finish(9, eof_clean=True)
    assert r.token_ns == [1] and r.end_ns == 2 and r.error is None
    r2 = rec()
    r2.error, r2.error_detail = ErrorClass.TIMEOUT, "read timeout"
    s2 = StreamState(r2, "chat")
    s2.finish(5, eof_clean=False)
    assert r2.error is ErrorClass.TIMEOUT and r2.error_detail == "read timeout"


def test_several_choices_in_one_chunk_count_once() -> None:
    r = rec()
    s = StreamState(r, "completions")
    data = json.dumps({"choices": [{"index": 0, "text": "a"}, {"index": 1, "text": "b"}]})
    s.on_event(SseEvent(data, 7))
    assert r.token_ns == [7]


def test_non_streaming_chat_body() -> None:
    r = rec()
    body = {
        "id": "chatcmpl-1", "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        "metrics": {"queue_time_ms": 1.0, "time_to_first_token_ms": 2.0, "generation_time_ms": None},
    }
    interpret_body(r, "chat", json.dumps(body).encode(), 50)
    assert r.error is None and r.end_ns == 50 and r.first_token_ns is None and r.token_ns == []
    assert (r.prompt_tokens, r.output_tokens, r.tokens_from_usage, r.finish_reason) == (3, 1, True, "stop")
    assert r.server_timing == {"queue_s": 0.001, "ttft_s": 0.002}


def test_non_streaming_errors() -> None:
    r = rec()
    interpret_body(r, "chat", b"<html>oops", 1)
    assert r.error is ErrorClass.MALFORMED and "non-JSON" in r.error_detail
    r = rec()
    interpret_body(r, "completions", b'{"object":"error","message":"boom","code":500}', 1)
    assert r.error is ErrorClass.MALFORMED and "boom" in r.error_detail
    r = rec()
    interpret_body(r, "chat", b'{"choices":[]}', 1)
    assert r.error is ErrorClass.MALFORMED


def test_embeddings_body() -> None:
    r = rec()
    body = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
            "usage": {"prompt_tokens": 5, "total_tokens": 5}}
    interpret_body(r, "embeddings", json.dumps(body).encode(), 9)
    assert (r.error, r.prompt_tokens, r.output_tokens, r.tokens_from_usage) == (None, 5, 0, True)
    r = rec()
    interpret_body(r, "embeddings", b'{"data": []}', 9)
    assert r.error is ErrorClass.MALFORMED


def test_tgi_headers_to_seconds() -> None:
    out: dict[str, float] = {}
    server_timing_from_headers(
        {"x-queue-time": "5", "x-inference-time": "120", "x-validation-time": "1", "x-total-time": "127",
         "x-time-per-token": "12", "x-compute-type": "gpu+optimized", "x-total-tokens": "bad"},
        out,
    )
    assert out == {"queue_s": 0.005, "inference_s": 0.12, "validation_s": 0.001, "total_s": 0.127, "tpot_s": 0.012}
