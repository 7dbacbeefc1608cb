"""What a server says about its batching: probed once at run start, recorded with the run.

Each server kind tells its batching configuration somewhere else (docs/collectors.md, "Batching
configuration"):

- vLLM: ``GET /version`` (``{"version": ...}``), the ``vllm:cache_config_info`` gauge's labels on
  ``/metrics`` (block size, KV blocks, prefix caching), and in development mode
  (``VLLM_SERVER_DEV_MODE=1``) ``GET /server_info?config_format=json`` with the whole config
  (``scheduler_config.max_num_seqs``, ``max_num_batched_tokens`` ...; older releases answer its text
  form, ``key=value, ...``, which is read the same way);
- SGLang: ``GET /server_info`` (older: ``/get_server_info``): the server arguments
  (``max_running_requests``, ``chunked_prefill_size``, ``schedule_policy`` ...) and ``version``;
- TGI: ``GET /info``: ``max_concurrent_requests``, ``max_batch_total_tokens``,
  ``max_waiting_tokens``, ``max_batch_prefill_tokens`` (1.x), ``version``;
- llama.cpp: ``GET /props``: ``total_slots``, ``default_generation_settings.n_ctx``, ``build_info``.

Parsers are pure (a decoded JSON document in, :class:`ServerInfo` out) and keep the server's own key
names; ``max_running`` is the one normalised value: the most requests the engine runs in one batch
(vLLM ``max_num_seqs``, SGLang ``max_running_requests``, TGI ``max_batch_size``, llama.cpp
``total_slots``), None when the server does not say.  Nothing here raises on what a server returns:
an endpoint that fails or answers something else is skipped.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from collectors.http import FetchError, HttpGet, http_get
from collectors.server.endpoints import server_url
from collectors.server.families import detect_server

log = logging.getLogger(__name__)

Scalar = str | int | float | bool | None


@dataclass
class ServerInfo:
    """The server's identity and batching configuration as probed (JSON-safe via :meth:`to_dict`)."""

    kind: str | None = None
    version: str | None = None
    batching: dict[str, Scalar] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)  # endpoints that answered, e.g. "GET /props"

    @property
    def max_running(self) -> int | None:
        for key in ("max_num_seqs", "max_running_requests", "max_batch_size", "total_slots"):
            value = self.batching.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                return int(value)
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind or "unknown", "version": self.version, "batching": dict(self.batching),
                "max_running": self.max_running, "sources": list(self.sources)}


def _scalars(doc: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Scalar]:
    return {k: doc[k] for k in keys if isinstance(doc.get(k), str | int | float | bool)}


# -- per-server parsers ----------------------------------------------------------------------

LLAMACPP_KEYS = ("total_slots",)
LLAMACPP_SETTINGS_KEYS = ("n_ctx", "n_batch", "n_ubatch")


def parse_llamacpp_props(doc: Mapping[str, Any]) -> ServerInfo:
    info = ServerInfo("llamacpp", sources=["GET /props"])
    info.batching.update(_scalars(doc, LLAMACPP_KEYS))
    settings = doc.get("default_generation_settings")
    if isinstance(settings, Mapping):
        info.batching.update(_scalars(settings, LLAMACPP_SETTINGS_KEYS))
    build = doc.get("build_info")
    info.version = str(build) if isinstance(build, str | int) else None
    return info


TGI_KEYS = ("max_concurrent_requests", "max_batch_size", "max_batch_total_tokens", "max_batch_prefill_tokens",
            "max_waiting_tokens", "waiting_served_ratio", "max_input_tokens", "max_input_length",
            "max_total_tokens", "max_client_batch_size")


def parse_tgi_info(doc: Mapping[str, Any]) -> ServerInfo:
    info = ServerInfo("tgi", sources=["GET /info"])
    info.batching.update(_scalars(doc, TGI_KEYS))
    info.version = str(doc["version"]) if isinstance(doc.get("version"), str) else None
    return info


SGLANG_KEYS = ("max_running_requests", "max_queued_requests", "chunked_prefill_size", "schedule_policy",
               "max_total_tokens", "max_total_num_tokens", "max_prefill_tokens", "schedule_conservativeness",
               "tp_size", "dp_size", "page_size", "disable_radix_cache", "context_length")


def parse_sglang_info(doc: Mapping[str, Any]) -> ServerInfo:
    info = ServerInfo("sglang")
    info.batching.update(_scalars(doc, SGLANG_KEYS))
    states = doc.get("internal_states")
    if isinstance(states, list) and states and isinstance(states[0], Mapping):
        # the scheduler's live values (e.g. max_total_num_tokens computed from memory) win
        info.batching.update(_scalars(states[0], SGLANG_KEYS))
    info.version = str(doc["version"]) if isinstance(doc.get("version"), str) else None
    return info


VLLM_SCHEDULER_KEYS = ("max_num_seqs", "max_num_batched_tokens", "max_model_len", "enable_chunked_prefill",
                       "policy", "max_num_partial_prefills")
VLLM_CACHE_KEYS = ("block_size", "num_gpu_blocks", "enable_prefix_caching", "gpu_memory_utilization", "cache_dtype")
_KV_TEXT = re.compile(r"\b(" + "|".join(VLLM_SCHEDULER_KEYS + VLLM_CACHE_KEYS) + r")=('[^']*'|[^,)\s]+)")


def _text_value(raw: str) -> Scalar:
    if raw.startswith("'"):
        return raw.strip("'")
    if raw in ("True", "False"):
        return raw == "True"
    if raw == "None":
        return None
    try:
        return int(raw)
    except ValueError:
        try:
            return float(raw)
        except ValueError:
            return raw


def parse_vllm_server_info(doc: Mapping[str, Any]) -> dict[str, Scalar]:
    """Batching keys from ``/server_info``: the JSON config, or its ``key=value`` text form."""
    cfg = doc.get("vllm_config")
    out: dict[str, Scalar] = {}
    if isinstance(cfg, Mapping):
        for section, keys in (("scheduler_config", VLLM_SCHEDULER_KEYS), ("cache_config", VLLM_CACHE_KEYS)):
            part = cfg.get(section)
            if isinstance(part, Mapping):
                out.update(_scalars(part, keys))
    elif isinstance(cfg, str):
        for key, raw in _KV_TEXT.findall(cfg):
            out.setdefault(key, _text_value(raw))
    return {k: v for k, v in out.items() if v is not None}


def parse_vllm_cache_config(metrics_text: str) -> dict[str, Scalar]:
    """The labels of ``vllm:cache_config_info`` (an info gauge set to 1), typed."""
    try:
        families = list(text_string_to_metric_families(metrics_text))
    except ValueError:
        return {}
    for fam in families:
        if fam.name == "vllm:cache_config_info" and fam.samples:
            labels = fam.samples[0].labels
            return {k: _text_value(v if v not in ("true", "false") else v.title())
                    for k, v in labels.items() if k in VLLM_CACHE_KEYS}
    return {}


# -- the probe -------------------------------------------------------------------------------

def _json(get: HttpGet, url: str, timeout_s: float) -> Mapping[str, Any] | None:
    try:
        doc = json.loads(get(url, timeout_s))
    except (FetchError, OSError, ValueError):
        return None
    return doc if isinstance(doc, Mapping) else None


Probe = Callable[[HttpGet, str, float, str | None], ServerInfo | None]


def _probe_vllm(get: HttpGet, base: str, timeout_s: float, metrics_text: str | None) -> ServerInfo | None:
    info = ServerInfo("vllm")
    if metrics_text:
        cache = parse_vllm_cache_config(metrics_text)
        if cache:
            info.batching.update(cache)
            info.sources.append("GET /metrics vllm:cache_config_info")
    doc = _json(get, server_url(base, "/version"), timeout_s)
    if doc is not None and isinstance(doc.get("version"), str):
        info.version = str(doc["version"])
        info.sources.append("GET /version")
    doc = _json(get, server_url(base, "/server_info?config_format=json"), timeout_s)
    if doc is not None:
        found = parse_vllm_server_info(doc)
        if found:
            info.batching.update(found)
            info.sources.append("GET /server_info")
    return info if info.sources else None


def _probe_sglang(get: HttpGet, base: str, timeout_s: float, metrics_text: str | None) -> ServerInfo | None:
    for path in ("/server_info", "/get_server_info"):
        doc = _json(get, server_url(base, path), timeout_s)
        if doc is not None and ("max_running_requests" in doc or "internal_states" in doc):
            info = parse_sglang_info(doc)
            info.sources.append("GET " + path)
            return info
    return None


def _probe_tgi(get: HttpGet, base: str, timeout_s: float, metrics_text: str | None) -> ServerInfo | None:
    doc = _json(get, server_url(base, "/info"), timeout_s)
    if doc is not None and ("max_concurrent_requests" in doc or "model_id" in doc):
        return parse_tgi_info(doc)
    return None


def _probe_llamacpp(get: HttpGet, base: str, timeout_s: float, metrics_text: str | None) -> ServerInfo | None:
    doc = _json(get, server_url(base, "/props"), timeout_s)
    if doc is not None and ("total_slots" in doc or "default_generation_settings" in doc):
        return parse_llamacpp_props(doc)
    return None


# tried in this order when the kind is unknown (the most specific answers first)
PROBES: dict[str, Probe] = {"llamacpp": _probe_llamacpp, "tgi": _probe_tgi, "sglang": _probe_sglang,
                            "vllm": _probe_vllm}


def probe_server(
    base_url: str, *, get: HttpGet = http_get, metrics_text: str | None = None, kind: str | None = None,
    timeout_s: float = 3.0,
) -> ServerInfo:
    """Probe the server behind ``base_url`` (a target base URL; a trailing ``/v1`` is ignored).

    ``metrics_text``: its ``/metrics`` page when already fetched (detects the kind); ``kind``: known
    kind.  Unknown kind: each server's endpoint is tried in turn.  Never raises for what the server
    answers; a server that tells nothing gives ``ServerInfo(kind)`` with an empty ``batching``.
    """
    if kind is None and metrics_text:
        try:
            kind = detect_server(f.name for f in text_string_to_metric_families(metrics_text))
        except ValueError:
            kind = None
    order = [kind] if kind in PROBES else ([] if kind else list(PROBES))
    for k in order:
        assert k is not None
        try:
            info = PROBES[k](get, base_url, timeout_s, metrics_text)
        except Exception as err:  # noqa: BLE001 (a probe must never stop a run)
            log.info("server probe %s failed: %s", k, err)
            info = None
        if info is not None:
            return info
    return ServerInfo(kind)


__all__ = [
    "PROBES",
    "ServerInfo",
    "parse_llamacpp_props",
    "parse_sglang_info",
    "parse_tgi_info",
    "parse_vllm_cache_config",
    "parse_vllm_server_info",
    "probe_server",
]
