"""Request bodies built from scenario/workload/arrival (stand-in objects with the documented fields)."""

from __future__ import annotations

import json
from types import SimpleNamespace as NS
from typing import Any

import pytest

from loadgen.openai.payloads import build_request


def make(api: str = "chat", stream: bool = True, ignore_eos: bool = False, min_tokens: Any = None,
         prio: int | None = None, continuous: bool = False) -> tuple[Any, Any]:
    target = NS(model="m1", api=api, stream=stream, continuous_usage_stats=continuous)
    scenario = NS(target=target, workload=NS(ignore_eos=ignore_eos, min_tokens=min_tokens))
    workload = NS(prompt_text=lambda a: f"prompt {a.idx}", priority=lambda cls: prio if cls == "interactive" else None)
    return scenario, workload


def arrival(out: int | None = 64, cls: str = "interactive") -> Any:
    return NS(idx=7, output_tokens=out, traffic_class=cls)


def test_chat_stream_body() -> None:
    sc, wl = make()
    req = build_request(sc, wl, arrival())
    assert req.path == "/v1/chat/completions" and req.max_tokens == 64 and req.stream and req.api == "chat"
    assert json.loads(req.body) == {
        "model": "m1", "messages": [{"role": "user", "content": "prompt 7"}], "max_tokens": 64,
        "stream": True, "stream_options": {"include_usage": True},
    }


def test_completions_with_controls_and_priority() -> None:
    sc, wl = make(api="completions", ignore_eos=True, min_tokens=True, prio=-2, continuous=True)
    req = build_request(sc, wl, arrival(out=10))
    body = json.loads(req.body)
    assert req.path == "/v1/completions"
    assert body["prompt"] == "prompt 7" and "messages" not in body
    assert body["ignore_eos"] is True and body["min_tokens"] == 10 and body["priority"] == -2
    assert body["stream_options"] == {"include_usage": True, "continuous_usage_stats": True}


def test_integer_min_tokens_is_capped_and_no_priority_for_other_class() -> None:
    sc, wl = make(min_tokens=50, prio=1)
    body = json.loads(build_request(sc, wl, arrival(out=20, cls="batch")).body)
    assert body["min_tokens"] == 20 and "priority" not in body and "ignore_eos" not in body


def test_non_stream_and_no_output_length() -> None:
    sc, wl = make(stream=False)
    req = build_request(sc, wl, arrival(out=None))
    body = json.loads(req.body)
    assert body["stream"] is False and "stream_options" not in body and "max_tokens" not in body
    assert req.max_tokens is None and not req.stream


def test_embeddings() -> None:
    sc, wl = make(api="embeddings")
    req = build_request(sc, wl, arrival())
    assert req.path == "/v1/embeddings" and not req.stream and req.max_tokens is None
    assert json.loads(req.body) == {"model": "m1", "input": "prompt 7"}


def test_unknown_api_rejected() -> None:
    sc, wl = make(api="responses")
    with pytest.raises(ValueError, match="responses"):
        build_request(sc, wl, arrival())
