"""The server's /metrics: vLLM's metric names, types, units, labels and buckets, plus gpusim's own.

One dedicated :class:`CollectorRegistry` per server instance.  Latency histograms are
observed once per finished request from the sequence's ground-truth timeline (the same
values the trace records), ITL once per token interval; gauges are refreshed at scrape time.
Labels: ``model_name`` and ``engine`` (always "0"), as vLLM's ``PrometheusStatLogger``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gpusim.config import EngineConfig
from gpusim.engine import Engine, Seq

TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
                10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
ITL_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
               20.0, 40.0, 80.0)
REQUEST_LATENCY_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0,
                           60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0)
ITERATION_TOKENS_BUCKETS = (1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
LATENESS_BUCKETS = (0.0001, 0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.01, 0.02, 0.05, 0.1)
FINISH_REASONS = ("stop", "length", "abort")
FAULTS = ("http_429", "http_500", "http_503", "reset_mid_stream", "no_done", "stall", "malformed_sse",
          "slow_first_byte", "close_connection")


class VllmMetrics:
    """vLLM-named metrics for one simulated engine."""

    def __init__(self, model_name: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ln = ["model_name", "engine"]
        lv = (model_name, "0")

        def hist(name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, doc, ln, buckets=buckets, registry=r)

        def counter(name: str, doc: str) -> Counter:
            return Counter(name, doc, ln, registry=r)

        self.running = Gauge("vllm:num_requests_running", "Number of requests in model execution batches.",
                             ln, registry=r).labels(*lv)
        self.waiting = Gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.",
                             ln, registry=r).labels(*lv)
        self.kv_usage = Gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.",
                              ln, registry=r).labels(*lv)
        self.prefix_queries = counter("vllm:prefix_cache_queries",
                                      "Prefix cache queries, in terms of number of queried tokens.").labels(*lv)
        self.prefix_hits = counter("vllm:prefix_cache_hits",
                                   "Prefix cache hits, in terms of number of cached tokens.").labels(*lv)
        self.preemptions = counter("vllm:num_preemptions", "Cumulative number of preemption from the engine.").labels(*lv)
        self.prompt_tokens = counter("vllm:prompt_tokens", "Number of prefill tokens processed.").labels(*lv)
        self.generation_tokens = counter("vllm:generation_tokens", "Number of generation tokens processed.").labels(*lv)
        success = Counter("vllm:request_success", "Count of successfully processed requests.",
                          [*ln, "finished_reason"], registry=r)
        self.success = {reason: success.labels(*lv, reason) for reason in FINISH_REASONS}
        self.ttft = hist("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
                         TTFT_BUCKETS).labels(*lv)
        self.itl = hist("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
                        ITL_BUCKETS).labels(*lv)
        self.tpot = hist("vllm:request_time_per_output_token_seconds",
                         "Histogram of time_per_output_token_seconds per request.", ITL_BUCKETS).labels(*lv)
        self.e2e = hist("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.",
                        REQUEST_LATENCY_BUCKETS).labels(*lv)
        self.queue = hist("vllm:request_queue_time_seconds",
                          "Histogram of time spent in WAITING phase for request.", REQUEST_LATENCY_BUCKETS).labels(*lv)
        self.inference = hist("vllm:request_inference_time_seconds",
                              "Histogram of time spent in RUNNING phase for request.",
                              REQUEST_LATENCY_BUCKETS).labels(*lv)
        self.prefill = hist("vllm:request_prefill_time_seconds",
                            "Histogram of time spent in PREFILL phase for request.", REQUEST_LATENCY_BUCKETS).labels(*lv)
        self.decode = hist("vllm:request_decode_time_seconds",
                           "Histogram of time spent in DECODE phase for request.", REQUEST_LATENCY_BUCKETS).labels(*lv)
        self.iteration_tokens = hist("vllm:iteration_tokens_total", "Histogram of number of tokens per engine_step.",
                                     ITERATION_TOKENS_BUCKETS).labels(*lv)
        self._cache_info = Gauge("vllm:cache_config_info", "Information of the LLMEngine CacheConfig",
                                 ["block_size", "enable_prefix_caching", "engine", "num_gpu_blocks"], registry=r)
        faults = Counter("gpusim_faults_injected", "Faults injected by gpusim, by kind.", ["fault"], registry=r)
        self.faults = {f: faults.labels(f) for f in FAULTS}
        self.lateness = Histogram("gpusim_step_lateness_seconds",
                                  "How late the runner woke for a step's end (real seconds).",
                                  buckets=LATENESS_BUCKETS, registry=r)
        self.emit_lateness = Histogram("gpusim_emit_lateness_seconds",
                                       "How late each streamed write left vs its oldest token's scheduled time "
                                       "(real seconds).", buckets=LATENESS_BUCKETS, registry=r)
        self.steps = Counter("gpusim_engine_steps", "Engine steps executed.", registry=r)
        self.rejected = Counter("gpusim_requests_rejected", "Requests answered with a 4xx validation error.",
                                registry=r)
        self._seen_queries = 0
        self._seen_hits = 0
        self._seen_preempt = 0
        self._seen_steps = 0

    def set_cache_config(self, cfg: EngineConfig) -> None:
        """``vllm:cache_config_info``: the KV-cache configuration as labels of a gauge set to 1."""
        self._cache_info.labels(str(cfg.block_size), str(cfg.enable_prefix_caching).lower(), "0",
                                str(cfg.num_gpu_blocks)).set(1.0)

    def on_step(self, tokens: int) -> None:
        """One engine step computed ``tokens`` tokens (prefill chunk tokens + one per decoding sequence)."""
        self.iteration_tokens.observe(tokens)

    def on_tokens(self, seq: Seq, first_new: int) -> None:
        """Tokens ``first_new..output-1`` of ``seq`` were just emitted."""
        times = seq.token_times
        n = len(times)
        if first_new == 0 and n:
            self.prompt_tokens.inc(seq.prompt_tokens)
        self.generation_tokens.inc(n - first_new)
        itl = self.itl
        for i in range(max(first_new, 1), n):
            itl.observe(times[i] - times[i - 1])

    def on_finish(self, seq: Seq) -> None:
        """Observe the request-level histograms (the same intervals as the trace)."""
        reason = seq.finish_reason or "abort"
        self.success[reason if reason in self.success else "stop"].inc()
        end = seq.finished_at if seq.finished_at is not None else seq.arrival
        if seq.first_token is None or seq.scheduled is None:
            return
        last = seq.token_times[-1]
        self.ttft.observe(seq.first_token - seq.arrival)
        self.e2e.observe(end - seq.arrival)
        self.queue.observe(seq.scheduled - seq.arrival)
        self.prefill.observe(seq.first_token - seq.scheduled)
        self.decode.observe(last - seq.first_token)
        self.inference.observe(last - seq.scheduled)
        if len(seq.token_times) > 1:
            self.tpot.observe((last - seq.first_token) / (len(seq.token_times) - 1))

    def refresh(self, engine: Engine) -> None:
        """Copy the engine's gauges and cumulative counts (called at scrape time)."""
        self.running.set(engine.num_running)
        self.waiting.set(engine.num_waiting)
        self.kv_usage.set(engine.kv_usage())
        queries, hits = engine.prefix_counts()
        self.prefix_queries.inc(queries - self._seen_queries)
        self.prefix_hits.inc(hits - self._seen_hits)
        self.preemptions.inc(engine.num_preemptions - self._seen_preempt)
        self.steps.inc(engine.steps - self._seen_steps)
        self._seen_queries, self._seen_hits = queries, hits
        self._seen_preempt, self._seen_steps = engine.num_preemptions, engine.steps

    def render(self, engine: Engine) -> bytes:
        self.refresh(engine)
        return generate_latest(self.registry)


__all__ = ["FAULTS", "ITERATION_TOKENS_BUCKETS", "ITL_BUCKETS", "REQUEST_LATENCY_BUCKETS", "TTFT_BUCKETS", "VllmMetrics"]
