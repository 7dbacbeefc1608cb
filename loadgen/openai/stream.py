"""Interpretation of an OpenAI-compatible response into a :class:`RequestRecord` (pure).

Streaming (:class:`StreamState`): fed the :class:`~loadgen.openai.sse.SseEvent` objects of one
response in order, it fills the record in place:

- ``first_token_ns`` / ``token_ns``: the arrival time of every chunk whose ``delta.content``
  (chat) or ``text`` (completions) is a non-empty string.  Role-only, empty and usage-only chunks
  are not tokens.  A chunk carrying several tokens is *one* entry (ITL is per chunk).
- ``first_reasoning_ns``: first chunk with non-empty ``delta.reasoning_content`` or
  ``delta.reasoning`` (vLLM / SGLang / llama.cpp reasoning parsers).  Reasoning chunks are not
  in ``token_ns``.
- ``prompt_tokens`` / ``output_tokens`` from the last ``usage`` object seen (the final
  usage-only chunk of ``stream_options.include_usage``, or per-chunk ``continuous_usage_stats``),
  ``tokens_from_usage=True``.  Without any usage: ``output_tokens`` = number of content chunks
  plus reasoning chunks, ``tokens_from_usage=False`` (exact when the server sends one token per
  chunk, as vLLM/SGLang/llama.cpp do by default).
- ``finish_reason``, ``request_id`` (the chunk ``id``), ``server_timing`` (see below).
- ``end_ns``: the arrival of ``data: [DONE]``; without it, the time passed to :meth:`finish`.
- events with empty data are keep-alives and ignored; so is anything after ``[DONE]``.
- errors: a non-JSON data line or a non-object → ``malformed_chunk``; an error object in the
  stream (``{"error": {...}}``, ``{"object": "error", ...}`` or ``event: error``) →
  ``malformed_chunk`` with the server's message; end of body without ``[DONE]`` →
  ``truncated`` (clean end) or ``reset_mid_stream`` (connection broken).  The first error wins;
  an error set by the transport (timeout, reset) is never overwritten.

``server_timing`` keys (all seconds; from vLLM's per-request ``metrics`` field, llama.cpp's
``timings`` and TGI's ``x-*-time`` headers, see docs/metrics.md): ``queue_s``, ``ttft_s`` (vLLM:
from scheduling), ``prefill_s``, ``decode_s``, ``inference_s``, ``mean_itl_s``, ``tpot_s``,
``validation_s``, ``total_s``.

Non-streaming JSON bodies (chat, completions, embeddings): :func:`interpret_body`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Literal

from collectors.records import ErrorClass, RequestRecord
from loadgen.openai.sse import SseEvent

Api = Literal["chat", "completions", "embeddings"]

_DETAIL_MAX = 200


def short(text: str, limit: int = _DETAIL_MAX) -> str:
    """One-line, length-capped error detail."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_message(obj: Mapping[str, Any]) -> str | None:
    """The message of an error object in a response body or chunk, else None."""
    err = obj.get("error")
    if isinstance(err, Mapping):
        return str(err.get("message") or err.get("type") or err)
    if isinstance(err, str) and err:
        return err
    if obj.get("object") == "error":
        return str(obj.get("message") or "error object")
    return None


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def _ms_fields(src: Mapping[str, Any], mapping: Mapping[str, str], out: dict[str, float]) -> None:
    for src_key, dst_key in mapping.items():
        v = _num(src.get(src_key))
        if v is not None:
            out[dst_key] = v / 1000.0


_VLLM_METRICS = {
    "queue_time_ms": "queue_s",
    "time_to_first_token_ms": "ttft_s",
    "generation_time_ms": "decode_s",
    "mean_itl_ms": "mean_itl_s",
}
_LLAMA_TIMINGS = {"prompt_ms": "prefill_s", "predicted_ms": "decode_s"}
_TGI_HEADERS = {
    "x-queue-time": "queue_s",
    "x-inference-time": "inference_s",
    "x-validation-time": "validation_s",
    "x-total-time": "total_s",
    "x-time-per-token": "tpot_s",
}


def server_timing_from_body(obj: Mapping[str, Any], out: dict[str, float]) -> None:
    """vLLM ``metrics`` and llama.cpp ``timings`` (ms) into ``out`` (s); latest values win."""
    metrics = obj.get("metrics")
    if isinstance(metrics, Mapping):
        _ms_fields(metrics, _VLLM_METRICS, out)
        if "ttft_s" in out and "decode_s" in out:
            out["inference_s"] = out["ttft_s"] + out["decode_s"]
    timings = obj.get("timings")
    if isinstance(timings, Mapping):
        _ms_fields(timings, _LLAMA_TIMINGS, out)
        if "prefill_s" in out and "decode_s" in out:
            out["inference_s"] = out["prefill_s"] + out["decode_s"]


def server_timing_from_headers(headers: Mapping[str, str], out: dict[str, float]) -> None:
    """TGI's per-request timing headers (integer ms; ``x-compute-time`` is s) into ``out`` (s)."""
    for name, key in _TGI_HEADERS.items():
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            out[key] = float(raw) / 1000.0
        except ValueError:
            continue


def _apply_usage(record: RequestRecord, usage: Any) -> None:
    if not isinstance(usage, Mapping):
        return
    pt, ct = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if isinstance(pt, int) and not isinstance(pt, bool):
        record.prompt_tokens = pt
    if isinstance(ct, int) and not isinstance(ct, bool):
        record.output_tokens = ct
        record.tokens_from_usage = True


_NOT_JSON = object()
_scan_once: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _loads(data: str) -> Any:
    """``json.loads(data)``, or :data:`_NOT_JSON` where that raises ``ValueError``.

    Fast path for the per-chunk hot loop: the decoder's C scanner is called directly (saving
    ``json.loads``' Python wrappers, ~1 µs of ~2.3 µs per chunk); it is used only when it parsed
    the whole string, so its result is exactly ``json.loads``'; anything else (leading or trailing
    white space, junk, a BOM, bad JSON) takes ``json.loads`` itself.
    """
    try:
        obj, end = _scan_once(data, 0)
    except (StopIteration, ValueError):  # not a JSON value at 0 / bad inside: json.loads decides
        pass
    else:
        if end == len(data):
            return obj
    try:
        return json.loads(data)
    except ValueError:
        return _NOT_JSON


class StreamState:
    """Interprets one streamed response's events into ``record`` (see module docstring)."""

    __slots__ = ("_n_reasoning", "api", "done", "record")

    def __init__(self, record: RequestRecord, api: Api) -> None:
        self.record = record
        self.api = api
        self.done = False  # ``data: [DONE]`` seen
        self._n_reasoning = 0

    def _fail(self, cls: ErrorClass, detail: str) -> None:
        if self.record.error is None:
            self.record.error = cls
            self.record.error_detail = short(detail)

    def on_event(self, ev: SseEvent) -> None:
        """Apply one event (in arrival order)."""
        data = ev.data
        if self.done or not data or data.isspace():  # after [DONE], or an empty keep-alive event
            return
        if data == "[DONE]":
            self.done = True
            self.record.end_ns = ev.t_ns
            return
        rec = self.record
        obj = _loads(data)
        if obj is _NOT_JSON:
            self._fail(ErrorClass.MALFORMED, f"non-JSON data line: {data[:80]!r}")
            return
        if not isinstance(obj, dict):
            self._fail(ErrorClass.MALFORMED, f"data is not a JSON object: {data[:80]!r}")
            return
        msg = _error_message(obj)
        if msg is not None or ev.event == "error":
            self._fail(ErrorClass.MALFORMED, f"error in stream: {msg or data[:120]}")
            return
        if not rec.request_id:
            rid = obj.get("id")
            if isinstance(rid, str):
                rec.request_id = rid
        choices = obj.get("choices")
        if choices:
            content = False
            reasoning = False
            chat = self.api == "chat"
            for choice in choices:
                if not isinstance(choice, dict):
                    continue
                if chat:
                    delta = choice.get("delta")
                    if isinstance(delta, dict):
                        if delta.get("content"):
                            content = True
                        if delta.get("reasoning_content") or delta.get("reasoning"):
                            reasoning = True
                elif choice.get("text"):
                    content = True
                fr = choice.get("finish_reason")
                if fr:
                    rec.finish_reason = str(fr)
            if content:
                if rec.first_token_ns is None:
                    rec.first_token_ns = ev.t_ns
                rec.token_ns.append(ev.t_ns)
            if reasoning:
                self._n_reasoning += 1
                if rec.first_reasoning_ns is None:
                    rec.first_reasoning_ns = ev.t_ns
        usage = obj.get("usage")
        if usage:
            _apply_usage(rec, usage)
        if "metrics" in obj or "timings" in obj:
            server_timing_from_body(obj, rec.server_timing)

    def finish(self, t_ns: int, eof_clean: bool) -> None:
        """The body ended at ``t_ns``: cleanly (``eof_clean``) or by a broken connection."""
        rec = self.record
        if rec.end_ns is None:
            rec.end_ns = t_ns
        if not self.done:
            if eof_clean:
                self._fail(ErrorClass.TRUNCATED, "stream ended without data: [DONE]"
                           + (f" (finish_reason={rec.finish_reason})" if rec.finish_reason else ""))
            else:
                self._fail(ErrorClass.RESET, "connection broken mid-stream")
        if not rec.tokens_from_usage:
            rec.output_tokens = len(rec.token_ns) + self._n_reasoning


def interpret_body(record: RequestRecord, api: Api, body: bytes, t_ns: int) -> None:
    """Fill ``record`` from a complete non-streaming JSON body that arrived at ``t_ns``.

    No per-token times exist: ``first_token_ns``/``token_ns`` stay empty (so TTFT/ITL/TPOT are
    not defined for non-streaming requests) and ``end_ns = t_ns``.  Tokens come from ``usage``;
    without it ``output_tokens`` stays None (embeddings: 0).
    """
    record.end_ns = t_ns
    try:
        obj = json.loads(body)
    except ValueError:
        record.error = ErrorClass.MALFORMED
        record.error_detail = short(f"non-JSON response body: {body[:80]!r}")
        return
    if not isinstance(obj, dict):
        record.error = ErrorClass.MALFORMED
        record.error_detail = "response body is not a JSON object"
        return
    msg = _error_message(obj)
    if msg is not None:
        record.error = ErrorClass.MALFORMED
        record.error_detail = short(f"error in response: {msg}")
        return
    rid = obj.get("id")
    if isinstance(rid, str) and not record.request_id:
        record.request_id = rid
    if api == "embeddings":
        data = obj.get("data")
        if not isinstance(data, list) or not data:
            record.error = ErrorClass.MALFORMED
            record.error_detail = "embeddings response without data"
            return
        record.output_tokens = 0
    else:
        choices = obj.get("choices")
        if not isinstance(choices, list) or not choices:
            record.error = ErrorClass.MALFORMED
            record.error_detail = "response without choices"
            return
        for choice in choices:
            if isinstance(choice, dict) and choice.get("finish_reason"):
                record.finish_reason = str(choice["finish_reason"])
    _apply_usage(record, obj.get("usage"))
    if api == "embeddings" and isinstance(obj.get("usage"), Mapping):
        record.tokens_from_usage = True
    server_timing_from_body(obj, record.server_timing)


__all__ = [
    "Api",
    "StreamState",
    "interpret_body",
    "server_timing_from_body",
    "server_timing_from_headers",
    "short",
]
