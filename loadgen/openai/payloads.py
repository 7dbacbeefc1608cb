"""Request bodies: one arrival of a scenario into the bytes the client POSTs.

- chat: ``{"model", "messages": [{"role": "user", "content": prompt}], "max_tokens", "stream"}``
- completions: the same with ``"prompt": prompt`` instead of ``messages``
- embeddings: ``{"model", "input": prompt}`` (never streamed, no ``max_tokens``)

Streaming requests also send ``stream_options: {"include_usage": true}`` (plus
``"continuous_usage_stats": true`` when ``target.continuous_usage_stats`` is set) so token
counts come from the server.  ``max_tokens`` (the vLLM/SGLang/TGI/llama.cpp-compatible name) is
the arrival's ``output_tokens``; ``ignore_eos: true`` and ``min_tokens`` are sent only when the
workload configures them (``min_tokens: true`` means "= max_tokens", an integer is sent as is,
capped at ``max_tokens``); ``priority`` only when the arrival's traffic class has one.

Paths are rooted at ``/v1/``; the client joins them with the target's base URL (which may itself
end in ``/v1``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

API_PATHS = {
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
    api: str = "chat"
    stream: bool = True


class _TargetLike(Protocol):
    model: str | None
    api: str
    stream: bool


class _ScenarioLike(Protocol):
    @property
    def target(self) -> Any: ...

    @property
    def workload(self) -> Any: ...


class _WorkloadLike(Protocol):
    def prompt_text(self, arrival: Any) -> str: ...

    def priority(self, cls: str) -> int | None: ...


class _ArrivalLike(Protocol):
    @property
    def output_tokens(self) -> int | None: ...

    @property
    def traffic_class(self) -> str: ...


def build_request(scenario: _ScenarioLike, workload: _WorkloadLike, arrival: _ArrivalLike) -> PreparedRequest:
    """The request for ``arrival`` (see module docstring for the exact body)."""
    target = scenario.target
    api = str(target.api)
    if api not in API_PATHS:
        raise ValueError(f"unknown api {api!r}")
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
    if max_tokens is not None:
        body["max_tokens"] = int(max_tokens)
    stream = bool(getattr(target, "stream", True))
    body["stream"] = stream
    if stream:
        opts: dict[str, bool] = {"include_usage": True}
        if getattr(target, "continuous_usage_stats", False):
            opts["continuous_usage_stats"] = True
        body["stream_options"] = opts
    wl = scenario.workload
    if getattr(wl, "ignore_eos", False):
        body["ignore_eos"] = True
    min_tokens = getattr(wl, "min_tokens", None)
    if min_tokens is True and max_tokens is not None:
        body["min_tokens"] = int(max_tokens)
    elif isinstance(min_tokens, int) and not isinstance(min_tokens, bool) and min_tokens > 0:
        body["min_tokens"] = min(min_tokens, max_tokens) if max_tokens is not None else min_tokens
    prio = workload.priority(arrival.traffic_class)
    if prio is not None:
        body["priority"] = int(prio)
    return PreparedRequest(API_PATHS[api], _dumps(body), max_tokens, api, stream)


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


__all__ = ["API_PATHS", "PreparedRequest", "build_request"]
