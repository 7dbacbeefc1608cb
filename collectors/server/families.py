"""Per-server mapping tables: which Prometheus family gives which canonical component.

Family names are as ``prometheus_client``'s parser reports them: counters without ``_total``
(``vllm:num_preemptions`` for the scraped ``vllm:num_preemptions_total``).  Several names in
``families`` are aliases (renamed across releases: the first one present wins) unless
``combine="sum"``.  Sources (server-metrics.md §1 and §1.9):

- vLLM ``vllm/v1/metrics/loggers.py``; SGLang ``python/sglang/srt/metrics/collector.py``;
  TGI ``docs/source/reference/metrics.md``; llama.cpp ``tools/server/README.md``;
  Triton ``docs/user_guide/metrics.md`` (latency counters are cumulative µs).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from collectors import schema as s

SourceKind = Literal["histogram", "counter_time", "gauge", "counter", "ratio", "hist_mean", "mean_per_event"]


@dataclass(frozen=True, slots=True)
class Source:
    """One canonical component read from one server's families.

    - ``histogram``: latency histogram; bucket, sum and count deltas (``scale`` -> seconds).
    - ``counter_time``: cumulative time counter(s) (sum delta, ``scale`` -> seconds) with an
      optional request counter ``count_families`` for the count.
    - ``gauge``: value as read; several series are summed (``agg="sum"``) or averaged.
    - ``counter``: delta since the previous scrape.
    - ``ratio``: Δ``families`` / Δ``denominator`` (hits/queries, accepted/draft tokens).
    - ``hist_mean``: Δ``_sum`` / Δ``_count`` of a histogram (vLLM's tokens per engine step).
    - ``mean_per_event``: a gauge that is a running average since start per event of the counter
      ``count_families``; per interval Δ(average × events) / Δevents (llama.cpp busy slots per decode).
    """

    component: str
    kind: SourceKind
    families: tuple[str, ...]
    scale: float = 1.0
    combine: Literal["first", "sum"] = "first"
    count_families: tuple[str, ...] = ()
    denominator: tuple[str, ...] = ()
    agg: Literal["sum", "mean"] = "sum"

    def all_families(self) -> tuple[str, ...]:
        return (*self.families, *self.count_families, *self.denominator)


@dataclass(frozen=True, slots=True)
class ServerMapping:
    kind: str
    prefix: str  # family-name prefix used to detect the server
    model_label: str | None  # label naming the model, kept as the `model` tag
    sources: tuple[Source, ...]

    def declared_families(self) -> tuple[str, ...]:
        """Every family name this mapping reads, primary names first (aliases included)."""
        out: dict[str, None] = {}
        for src in self.sources:
            out.update(dict.fromkeys(src.all_families()))
        return tuple(out)


_Q, _P, _D, _I = s.SC_QUEUE, s.SC_PREFILL, s.SC_DECODE, s.SC_INFERENCE
_T, _L, _E = s.SC_TTFT, s.SC_ITL, s.SC_E2E
_RUN, _WAIT, _KV = s.SF_RUNNING.name, s.SF_WAITING.name, s.SF_KV_CACHE_USAGE.name
_HIT, _PRE, _SPEC = s.SF_PREFIX_CACHE_HIT_RATE.name, s.SF_PREEMPTIONS.name, s.SF_SPEC_DECODE_ACCEPTANCE.name
_PT, _GT = s.SF_PROMPT_TOKENS.name, s.SF_GENERATION_TOKENS.name
_TPS, _SPS = s.SF_TOKENS_PER_STEP.name, s.SF_SEQS_PER_STEP.name

VLLM = ServerMapping("vllm", "vllm:", "model_name", (
    Source(_Q, "histogram", ("vllm:request_queue_time_seconds", "vllm:time_in_queue_requests")),
    Source(_P, "histogram", ("vllm:request_prefill_time_seconds",)),
    Source(_D, "histogram", ("vllm:request_decode_time_seconds",)),
    Source(_I, "histogram", ("vllm:request_inference_time_seconds",)),
    Source(_T, "histogram", ("vllm:time_to_first_token_seconds",)),
    Source(_L, "histogram", ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds")),
    Source(_E, "histogram", ("vllm:e2e_request_latency_seconds",)),
    Source(_RUN, "gauge", ("vllm:num_requests_running",)),
    Source(_WAIT, "gauge", ("vllm:num_requests_waiting",)),
    Source(_KV, "gauge", ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"), agg="mean"),
    Source(_HIT, "ratio", ("vllm:prefix_cache_hits", "vllm:gpu_prefix_cache_hits"),
           denominator=("vllm:prefix_cache_queries", "vllm:gpu_prefix_cache_queries")),
    Source(_PRE, "counter", ("vllm:num_preemptions",)),
    Source(_SPEC, "ratio", ("vllm:spec_decode_num_accepted_tokens",),
           denominator=("vllm:spec_decode_num_draft_tokens",)),
    Source(_PT, "counter", ("vllm:prompt_tokens",)),
    Source(_GT, "counter", ("vllm:generation_tokens",)),
    Source(_TPS, "hist_mean", ("vllm:iteration_tokens_total",)),
))

SGLANG = ServerMapping("sglang", "sglang:", "model_name", (
    Source(_Q, "histogram", ("sglang:queue_time_seconds",)),
    Source(_T, "histogram", ("sglang:time_to_first_token_seconds",)),
    Source(_L, "histogram", ("sglang:inter_token_latency_seconds", "sglang:time_per_output_token_seconds")),
    Source(_E, "histogram", ("sglang:e2e_request_latency_seconds",)),
    Source(_RUN, "gauge", ("sglang:num_running_reqs",)),
    Source(_WAIT, "gauge", ("sglang:num_queue_reqs",)),
    Source(_KV, "gauge", ("sglang:token_usage",), agg="mean"),
    Source(_HIT, "gauge", ("sglang:cache_hit_rate",), agg="mean"),
    Source(_PRE, "counter", ("sglang:num_retracted_requests",)),
    Source(_SPEC, "gauge", ("sglang:spec_accept_rate",), agg="mean"),
    Source(_PT, "counter", ("sglang:prompt_tokens",)),
    Source(_GT, "counter", ("sglang:generation_tokens",)),
))

TGI = ServerMapping("tgi", "tgi_", None, (
    Source(_Q, "histogram", ("tgi_request_queue_duration",)),
    Source(_I, "histogram", ("tgi_request_inference_duration",)),
    Source(_L, "histogram", ("tgi_request_mean_time_per_token_duration",)),
    Source(_E, "histogram", ("tgi_request_duration",)),
    Source(_RUN, "gauge", ("tgi_batch_current_size",)),
    Source(_WAIT, "gauge", ("tgi_queue_size",)),
))

LLAMACPP = ServerMapping("llamacpp", "llamacpp:", None, (
    Source(_P, "counter_time", ("llamacpp:prompt_seconds",)),
    Source(_D, "counter_time", ("llamacpp:tokens_predicted_seconds",)),
    Source(_I, "counter_time", ("llamacpp:prompt_seconds", "llamacpp:tokens_predicted_seconds"), combine="sum"),
    Source(_RUN, "gauge", ("llamacpp:requests_processing",)),
    Source(_WAIT, "gauge", ("llamacpp:requests_deferred",)),
    Source(_KV, "gauge", ("llamacpp:kv_cache_usage_ratio",), agg="mean"),
    Source(_SPEC, "ratio", ("llamacpp:spec_decode_num_accepted_tokens",),
           denominator=("llamacpp:spec_decode_num_draft_tokens",)),
    Source(_PT, "counter", ("llamacpp:prompt_tokens",)),
    Source(_GT, "counter", ("llamacpp:tokens_predicted",)),
    Source(_SPS, "mean_per_event", ("llamacpp:n_busy_slots_per_decode",), count_families=("llamacpp:n_decode",)),
))

_US = 1e-6
TRITON = ServerMapping("triton", "nv_inference_", "model", (
    Source(_Q, "counter_time", ("nv_inference_queue_duration_us",), scale=_US,
           count_families=("nv_inference_request_success",)),
    Source(_I, "counter_time", ("nv_inference_compute_infer_duration_us",), scale=_US,
           count_families=("nv_inference_request_success",)),
    Source(_E, "counter_time", ("nv_inference_request_duration_us",), scale=_US,
           count_families=("nv_inference_request_success",)),
    Source(_T, "histogram", ("nv_inference_first_response_histogram_ms",), scale=1e-3),
    Source(_WAIT, "gauge", ("nv_inference_pending_request_count",)),
))

MAPPINGS: dict[str, ServerMapping] = {m.kind: m for m in (VLLM, SGLANG, TGI, LLAMACPP, TRITON)}

# Declared aliases that current releases no longer expose (so absent from tests/testdata/metrics/):
# vLLM V0 names (docs/design/metrics.md "Deprecated Metrics"), SGLang's old TPOT, llama.cpp's old KV gauge.
LEGACY_FAMILIES: frozenset[str] = frozenset({
    "vllm:time_in_queue_requests", "vllm:time_per_output_token_seconds", "vllm:gpu_cache_usage_perc",
    "vllm:gpu_prefix_cache_hits", "vllm:gpu_prefix_cache_queries", "sglang:time_per_output_token_seconds",
    "llamacpp:kv_cache_usage_ratio",
})


def detect_server(family_names: Iterable[str]) -> str | None:
    """The server kind whose prefix most family names carry, or None when none matches."""
    counts = dict.fromkeys(MAPPINGS, 0)
    for name in family_names:
        for kind, mapping in MAPPINGS.items():
            if name.startswith(mapping.prefix):
                counts[kind] += 1
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else None


__all__ = ["LEGACY_FAMILIES", "LLAMACPP", "MAPPINGS", "SGLANG", "TGI", "TRITON", "VLLM", "ServerMapping", "Source", "SourceKind", "detect_server"]
