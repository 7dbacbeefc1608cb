"""The OpenAI wire format as vLLM serves it: request validation, JSON bodies, SSE chunks, errors.

Pure functions and small classes, no aiohttp: ``parse_generation`` turns a request body into a
:class:`GenRequest` or raises :class:`ApiError` (OpenAI's ``{"error": {message, type, param,
code}}`` shape, always a 4xx for bad input); :class:`ChunkWriter` builds the SSE events of one
streamed response.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gpusim.config import SimConfig
from gpusim.lengths import token_count, token_text

DONE_EVENT = b"data: [DONE]\n\n"


class ApiError(Exception):
    """An error answered in OpenAI's format with HTTP ``status``."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 type_: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type_ or {401: "authentication_error", 404: "not_found_error",
                              429: "rate_limit_error"}.get(status, "invalid_request_error"
                                                            if status < 500 else "server_error")

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class GenRequest:
    """A validated chat or completions request."""

    api: str  # "chat" | "completions"
    model: str
    prompt_text: str
    prompt_tokens: int
    max_tokens: int
    min_tokens: int
    ignore_eos: bool
    stream: bool
    include_usage: bool
    continuous_usage: bool


def _int_field(body: dict[str, Any], name: str, minimum: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"'{name}' must be an integer, got {type(value).__name__}", param=name)
    if value < minimum:
        raise ApiError(400, f"'{name}' must be at least {minimum}, got {value}", param=name)
    return value


def _bool_field(body: dict[str, Any], name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ApiError(400, f"'{name}' must be a boolean", param=name)
    return value


def _chat_prompt(body: dict[str, Any], cfg: SimConfig) -> tuple[str, int]:
    messages = body.get("messages")
    if messages is None:
        raise ApiError(400, "'messages' is a required property", param="messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty array", param="messages")
    parts: list[str] = []
    tokens = 0
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or not isinstance(msg.get("role"), str):
            raise ApiError(400, f"messages[{i}] must be an object with a string 'role'", param=f"messages[{i}]")
        content = msg.get("content")
        if isinstance(content, list):
            texts = [p.get("text", "") for p in content if isinstance(p, dict)]
            content = "".join(t for t in texts if isinstance(t, str))
        elif content is None:
            content = ""
        elif not isinstance(content, str):
            raise ApiError(400, f"messages[{i}].content must be a string or an array of parts",
                           param=f"messages[{i}].content")
        parts.append(f"{msg['role']}\n{content}")
        tokens += token_count(content, cfg.lengths) + cfg.lengths.message_overhead_tokens
    return "\n".join(parts), tokens


def _completion_prompt(body: dict[str, Any], cfg: SimConfig) -> tuple[str, int]:
    prompt = body.get("prompt")
    if prompt is None:
        raise ApiError(400, "'prompt' is a required property", param="prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str | list):
        prompt = prompt[0]
    if isinstance(prompt, str):
        return prompt, max(1, token_count(prompt, cfg.lengths))
    if isinstance(prompt, list) and prompt and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
        return " ".join(map(str, prompt)), len(prompt)
    raise ApiError(400, "'prompt' must be a string, a token array, or a one-element array of either "
                   "(batched prompts are not supported)", param="prompt")


def parse_generation(body: Any, api: str, cfg: SimConfig) -> GenRequest:
    """Validate a /v1/chat/completions (``api="chat"``) or /v1/completions body."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    model = body.get("model")
    if model is None:
        raise ApiError(400, "'model' is a required property", param="model")
    if not isinstance(model, str):
        raise ApiError(400, "'model' must be a string", param="model")
    if model != cfg.model:
        raise ApiError(404, f"The model `{model}` does not exist.", param="model", code="model_not_found")
    text, prompt_tokens = _chat_prompt(body, cfg) if api == "chat" else _completion_prompt(body, cfg)
    n = _int_field(body, "n", 1)
    if n is not None and n != 1:
        raise ApiError(400, "only n=1 is supported", param="n")
    max_tokens = _int_field(body, "max_completion_tokens", 1) if api == "chat" else None
    legacy = _int_field(body, "max_tokens", 1)
    max_tokens = max_tokens if max_tokens is not None else legacy
    limit = cfg.engine.max_model_len
    if max_tokens is None:
        max_tokens = max(1, limit - prompt_tokens)
    if prompt_tokens + max_tokens > limit:
        where = "messages" if api == "chat" else "prompt"
        raise ApiError(400, f"This model's maximum context length is {limit} tokens. However, you requested "
                       f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the {where}, {max_tokens} in "
                       f"the completion). Please reduce the length of the {where} or completion.",
                       param=where, code="context_length_exceeded")
    min_tokens = _int_field(body, "min_tokens", 0) or 0
    if min_tokens > max_tokens:
        raise ApiError(400, f"'min_tokens' ({min_tokens}) must be <= max_tokens ({max_tokens})", param="min_tokens")
    stream = _bool_field(body, "stream")
    opts = body.get("stream_options")
    if opts is not None:
        if not stream:
            raise ApiError(400, "Stream options can only be defined when `stream=True`.", param="stream_options")
        if not isinstance(opts, dict):
            raise ApiError(400, "'stream_options' must be an object", param="stream_options")
    opts = opts or {}
    return GenRequest(
        api=api, model=model, prompt_text=text, prompt_tokens=prompt_tokens, max_tokens=max_tokens,
        min_tokens=min_tokens, ignore_eos=_bool_field(body, "ignore_eos"), stream=stream,
        include_usage=_bool_field(opts, "include_usage"),
        continuous_usage=_bool_field(opts, "continuous_usage_stats"),
    )


def parse_embedding(body: Any, cfg: SimConfig) -> tuple[str, list[str]]:
    """(model, input texts) of a /v1/embeddings body."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str):
        raise ApiError(400, "'model' is a required string property", param="model")
    if model != cfg.model:
        raise ApiError(404, f"The model `{model}` does not exist.", param="model", code="model_not_found")
    inp = body.get("input")
    if isinstance(inp, str):
        return model, [inp]
    if isinstance(inp, list) and inp and all(isinstance(x, str) for x in inp):
        return model, list(inp)
    raise ApiError(400, "'input' must be a string or a non-empty array of strings", param="input")


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "total_tokens": prompt + completion, "completion_tokens": completion}


class ChunkWriter:
    """SSE events of one streamed response, in vLLM's shapes."""

    def __init__(self, req: GenRequest, rid: str, created: int) -> None:
        self.req = req
        self.chat = req.api == "chat"
        obj = "chat.completion.chunk" if self.chat else "text_completion"
        head = json.dumps({"id": rid, "object": obj, "created": created, "model": req.model},
                          separators=(",", ":"))[:-1]
        self._head = "data: " + head + ',"choices":[{"index":0,'
        self._base = {"id": rid, "object": obj, "created": created, "model": req.model}

    def token(self, index: int, finish: str | None, completion_tokens: int) -> str:
        """The event carrying output token ``index`` (with the role delta first, for chat)."""
        text = token_text(index)
        fin = "null" if finish is None else f'"{finish}"'
        if self.chat:
            role = '"role":"assistant",' if index == 0 else ""
            body = f'"delta":{{{role}"content":"{text}"}},"logprobs":null,"finish_reason":{fin}}}]'
        else:
            body = f'"text":"{text}","logprobs":null,"finish_reason":{fin},"stop_reason":null}}]'
        if self.req.continuous_usage:
            body += ',"usage":' + json.dumps(usage(self.req.prompt_tokens, completion_tokens), separators=(",", ":"))
        return self._head + body + "}\n\n"

    def usage_chunk(self, completion_tokens: int, metrics: dict[str, Any] | None) -> str:
        obj: dict[str, Any] = {**self._base, "choices": [],
                               "usage": usage(self.req.prompt_tokens, completion_tokens)}
        if metrics is not None:
            obj["metrics"] = metrics
        return "data: " + json.dumps(obj, separators=(",", ":")) + "\n\n"


def full_response(req: GenRequest, rid: str, created: int, completion_tokens: int, finish: str,
                  metrics: dict[str, Any] | None) -> dict[str, Any]:
    """A non-streaming chat.completion / text_completion body."""
    text = "".join(token_text(i) for i in range(completion_tokens))
    if req.api == "chat":
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text},
                                  "logprobs": None, "finish_reason": finish}
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish, "stop_reason": None}
        obj = "text_completion"
    out: dict[str, Any] = {"id": rid, "object": obj, "created": created, "model": req.model,
                           "choices": [choice], "usage": usage(req.prompt_tokens, completion_tokens)}
    if metrics is not None:
        out["metrics"] = metrics
    return out


__all__ = ["DONE_EVENT", "ApiError", "ChunkWriter", "GenRequest", "full_response", "parse_embedding",
           "parse_generation", "usage"]
