"""Request bodies: one arrival of a scenario into the bytes the client POSTs.

- chat: ``{"model", "messages": [{"role": "user", "content": prompt}], "max_tokens", "stream"}``
- completions: the same with ``"prompt": prompt`` instead of ``messages``
- embeddings: ``{"model", "input": prompt}`` (never streamed, no ``max_tokens``)

Streaming requests also send ``stream_options: {"include_usage": true}`` so token counts come
from the server.  ``max_tokens`` (the vLLM/SGLang/TGI/llama.cpp-compatible name) is the arrival's
``output_tokens``; ``ignore_eos: true`` and ``min_tokens`` (= ``max_tokens``) are sent only when
the workload sets them; ``priority`` only when the arrival's traffic class has one.

Paths are rooted at ``/v1/``; the client joins them with the target's base URL (which may itself
end in ``/v1``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loadgen.openai.stream import Api

if TYPE_CHECKING:
    from loadgen.config import Scenario
    from loadgen.plan import Arrival
    from loadgen.workload import Workload

API_PATHS: dict[Api, str] = {
    "chat": "/v1/chat/completions",
    "completions": "/v1/completions",
    "embeddings": "/v1/embeddings",
}


@dataclass(slots=True, frozen=True)
class PreparedRequest:
    """What the client sends: the path under the base URL, the JSON body, the token cap."""

    path: str
    body: bytes
    max_tokens: int | None
    api: Api = "chat"
    stream: bool = True


def build_request(scenario: Scenario, workload: Workload, arrival: Arrival) -> PreparedRequest:
    """The request for ``arrival`` (see module docstring for the exact body)."""
    target = scenario.target
    api = target.api
    prompt = workload.prompt_text(arrival)
    body: dict[str, Any] = {"model": target.model}
    if api == "embeddings":
        body["input"] = prompt
        return PreparedRequest(API_PATHS[api], _dumps(body), None, api, False)
    if api == "chat":
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    max_tokens = arrival.output_tokens
    body["max_tokens"] = max_tokens
    body["stream"] = target.stream
    if target.stream:
        body["stream_options"] = {"include_usage": True}
    if scenario.workload.ignore_eos:
        body["ignore_eos"] = True
    if scenario.workload.min_tokens:
        body["min_tokens"] = max_tokens
    prio = workload.priority(arrival.traffic_class)
    if prio is not None:
        body["priority"] = prio
    return PreparedRequest(API_PATHS[api], _dumps(body), max_tokens, api, target.stream)


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


__all__ = ["API_PATHS", "PreparedRequest", "build_request"]
