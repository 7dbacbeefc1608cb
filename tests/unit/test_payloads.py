"""Request bodies built from a validated scenario, its workload and one arrival."""

from __future__ import annotations

import json

from loadgen.openai.payloads import build_request
from loadgen.workload import Workload
from tests.support.models import arrival, scenario

CLASSES = [{"name": "interactive", "priority": -2}, {"name": "batch"}]


def test_chat_stream_body() -> None:
    sc = scenario()
    wl = Workload(sc)
    a = arrival()
    req = build_request(sc, wl, a)
    assert req.path == "/v1/chat/completions" and req.max_tokens == 64 and req.stream and req.api == "chat"
    assert json.loads(req.body) == {
        "model": "m1", "messages": [{"role": "user", "content": wl.prompt_text(a)}], "max_tokens": 64,
        "stream": True, "stream_options": {"include_usage": True},
    }


def test_completions_with_output_controls_and_priority() -> None:
    sc = scenario(target={"api": "completions"},
                  workload={"ignore_eos": True, "min_tokens": True, "classes": CLASSES})
    wl = Workload(sc)
    req = build_request(sc, wl, arrival(output_tokens=10, traffic_class="interactive"))
    body = json.loads(req.body)
    assert req.path == "/v1/completions" and req.max_tokens == 10
    assert body["prompt"].startswith("Request 7: ") and "messages" not in body
    assert body["ignore_eos"] is True and body["min_tokens"] == 10 and body["priority"] == -2
    assert body["stream_options"] == {"include_usage": True}


def test_controls_are_absent_unless_configured_and_no_priority_for_a_class_without_one() -> None:
    sc = scenario(workload={"classes": CLASSES})
    body = json.loads(build_request(sc, Workload(sc), arrival(traffic_class="batch")).body)
    assert "priority" not in body and "ignore_eos" not in body and "min_tokens" not in body


def test_non_stream() -> None:
    sc = scenario(target={"stream": False})
    req = build_request(sc, Workload(sc), arrival(output_tokens=20))
    body = json.loads(req.body)
    assert body["stream"] is False and "stream_options" not in body and body["max_tokens"] == 20
    assert req.max_tokens == 20 and not req.stream


def test_embeddings() -> None:
    sc = scenario(target={"api": "embeddings"})
    wl = Workload(sc)
    a = arrival()
    req = build_request(sc, wl, a)
    assert req.path == "/v1/embeddings" and not req.stream and req.max_tokens is None and req.api == "embeddings"
    assert json.loads(req.body) == {"model": "m1", "input": wl.prompt_text(a)}
