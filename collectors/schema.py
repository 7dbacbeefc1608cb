"""THE InfluxDB schema: every measurement, tag and field name inferload writes, with units.

Everything that writes or reads InfluxDB (the collectors, the load generator, dashboards,
alert rules, docs/schema.md) takes its names from here; nothing else spells a name.

Rules (see docs/schema.md, generated from this module):
- fields are always floats (counts too), so no field-type conflicts across writers;
- tags take only bounded values (run_id, scenario, phase, class, worker, endpoint, model, gpu,
  host, and the small enums declared below); request ids are fields, never tags.

Layout: tags first (common/request side, then GPU, then server), then measurements in the same
three sections; each section ends with its own tuple (``*_TAGS``, ``*_MEASUREMENTS``) and the
registries ``TAGS`` and ``MEASUREMENTS`` at the bottom join them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tag:
    name: str
    description: str


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    unit: str
    description: str


@dataclass(frozen=True, slots=True)
class Measurement:
    name: str
    description: str
    tags: tuple[Tag, ...]
    fields: tuple[Field, ...]

    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def tag_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tags)


# ---- latency metrics (values of the ``metric`` tag; keys of the HDR histograms) ------------
M_TTFT = "ttft"  # first content token - send
M_TTFT_SCHED = "ttft_sched"  # first content token - scheduled (no coordinated omission)
M_TTFRT = "ttfrt"  # first reasoning token - send
M_ITL = "itl"  # every gap between successive content chunks
M_TPOT = "tpot"  # (e2e - ttft) / (output tokens - 1)
M_E2E = "e2e"  # end - send
M_E2E_SCHED = "e2e_sched"  # end - scheduled
M_SCHEDULE_LAG = "schedule_lag"  # send - scheduled (generator health)
LATENCY_METRICS: tuple[str, ...] = (
    M_TTFT, M_TTFT_SCHED, M_TTFRT, M_ITL, M_TPOT, M_E2E, M_E2E_SCHED, M_SCHEDULE_LAG,
)

# ---- tags -------------------------------------------------------------------------------
# Common and request-side tags (request collector, aggregates, health, sink accounting).
T_RUN_ID = Tag("run_id", "run identifier chosen at start (one per `inferload run`)")
T_SCENARIO = Tag("scenario", "scenario name")
T_PHASE = Tag("phase", "phase of the scheduled time (e.g. warmup, measure, cooldown)")
T_CLASS = Tag("class", "traffic class of the request (scenario workload class)")
T_WORKER = Tag("worker", "load-generator worker id (e.g. w0, w1; `master` on the master)")
T_ROLE = Tag("role", "process role writing the point: master | worker | standalone | collector")
T_ENDPOINT = Tag("endpoint", "target alias from the scenario (never the URL: URLs can carry keys)")
T_MODEL = Tag("model", "model name served by the target")
T_GPU = Tag("gpu", "GPU index on its host")
T_HOST = Tag("host", "host name where the sample was taken")
T_STATUS_CLASS = Tag("status_class", "HTTP status class: 2xx | 3xx | 4xx | 5xx | none")
T_ERROR = Tag("error", "error class (collectors.records.ErrorClass value) or `ok`")
T_METRIC = Tag("metric", "latency metric name (ttft, ttft_sched, ttfrt, itl, tpot, e2e, e2e_sched, schedule_lag)")
T_WINDOW = Tag("window", "aggregation window: interval (this interval only) | cumulative (run so far)")
T_SINK = Tag("sink", "sink kind: influxdb | file | prometheus | grafana")
STATUS_CLASSES: tuple[str, ...] = ("2xx", "3xx", "4xx", "5xx", "none")
# why a sink dropped points (keys of SinkStats.dropped_by_reason; fields dropped_<reason>)
DROP_REASONS: tuple[str, ...] = ("closed", "encode_error", "io_error", "queue_full", "rejected", "spool_full")
WINDOWS: tuple[str, ...] = ("cumulative", "interval")
ROLES: tuple[str, ...] = ("collector", "master", "standalone", "worker")
ERROR_OK = "ok"
REQUEST_TAGS: tuple[Tag, ...] = (
    T_RUN_ID, T_SCENARIO, T_PHASE, T_CLASS, T_WORKER, T_ROLE, T_ENDPOINT, T_MODEL, T_GPU, T_HOST,
    T_STATUS_CLASS, T_ERROR, T_METRIC, T_WINDOW, T_SINK,
)

# ---- GPU tags (GPU collector) -------------------------------------------------------------
# `uuid` is a tag: it is the stable identity of a GPU (indices can change across reboots) and is
# one-to-one with `gpu` on a host, so it adds no series; `gpu` (T_GPU) stays for display.
T_UUID = Tag("uuid", "GPU UUID (stable identity; one value per physical GPU, so no extra series)")
T_GPU_MODEL = Tag("gpu_model", "GPU model name, e.g. 'NVIDIA H100 80GB HBM3'")
T_SOURCE = Tag("source", "GPU sample source: nvml | dcgm")
GPU_SOURCES: tuple[str, ...] = ("dcgm", "nvml")
GPU_TAGS: tuple[Tag, ...] = (T_UUID, T_GPU_MODEL, T_SOURCE)

# ---- server-metrics tags (server collector) ----------------------------------------------
SERVER_KINDS: tuple[str, ...] = ("llamacpp", "sglang", "tgi", "triton", "vllm")
COLLECTOR_NAMES: tuple[str, ...] = ("gpu", "server")
T_SERVER = Tag("server", "inference server kind: llamacpp | sglang | tgi | triton | vllm")
T_COMPONENT = Tag("component", "canonical server latency component: queue | prefill | decode | inference | ttft | itl | e2e")
T_LE = Tag("le", "histogram bucket upper bound in seconds ('+Inf' for the last); a fixed set per server")
T_COLLECTOR = Tag("collector", "collector name: gpu | server")
SERVER_TAGS: tuple[Tag, ...] = (T_SERVER, T_COMPONENT, T_LE, T_COLLECTOR)

# ---- request-side measurements (request collector, HDR aggregates, generator health) ------
_RUN = (T_RUN_ID, T_SCENARIO)

# Raw request point: one per (sampled) request, time = scheduled wall time (ns).
F_IDX = Field("idx", "1", "global arrival index (the request id; stable across worker counts)")
F_SCHEDULED = Field("scheduled_s", "s (Unix)", "scheduled send time, Unix seconds")
F_SENT = Field("sent_s", "s (Unix)", "actual send time, Unix seconds")
F_SCHEDULE_LAG = Field("schedule_lag_s", "s", "sent - scheduled: the generator's own lateness")
F_TTFT = Field("ttft_s", "s", "first content token - sent")
F_TTFT_SCHED = Field("ttft_sched_s", "s", "first content token - scheduled (no coordinated omission)")
F_TTFRT = Field("ttfrt_s", "s", "first reasoning token - sent")
F_ITL_MEAN = Field("itl_mean_s", "s", "mean gap between successive content chunks")
F_ITL_MAX = Field("itl_max_s", "s", "largest gap between successive content chunks")
F_TPOT = Field("tpot_s", "s", "(e2e - ttft) / (output tokens - 1)")
F_E2E = Field("e2e_s", "s", "end - sent")
F_E2E_SCHED = Field("e2e_sched_s", "s", "end - scheduled")
F_PROMPT_TOKENS = Field("prompt_tokens", "tokens", "prompt tokens (usage, else the planned count)")
F_OUTPUT_TOKENS = Field("output_tokens", "tokens", "output tokens (usage, else content chunks)")
F_STATUS = Field("status", "1", "HTTP status code (0 when no response)")
F_OK = Field("ok", "0/1", "1 when the request completed without error")
F_SERVER_QUEUE = Field("server_queue_s", "s", "server-reported time waiting in the queue")
F_SERVER_TTFT = Field("server_ttft_s", "s", "server-reported time to first token (vLLM: from scheduling)")
F_SERVER_PREFILL = Field("server_prefill_s", "s", "server-reported prefill time")
F_SERVER_DECODE = Field("server_decode_s", "s", "server-reported decode time")
F_SERVER_INFERENCE = Field("server_inference_s", "s", "server-reported inference time (prefill + decode)")
F_SERVER_E2E = Field("server_e2e_s", "s", "server-reported end-to-end time (TGI x-total-time)")
F_SERVER_ITL_MEAN = Field("server_itl_mean_s", "s", "server-reported mean inter-token latency")
F_SERVER_TPOT = Field("server_tpot_s", "s", "server-reported time per output token")
F_SERVER_VALIDATION = Field("server_validation_s", "s", "server-reported request validation time (TGI)")
F_CLIENT_OVERHEAD = Field(
    "client_overhead_s", "s",
    "e2e - server e2e, or e2e - (server queue + server inference): latency outside the model",
)
F_SAMPLE_WEIGHT = Field("sample_weight", "1", "1 / raw_sample_ratio: how many requests this point stands for")
SERVER_TIMING_FIELDS: tuple[Field, ...] = (
    F_SERVER_QUEUE, F_SERVER_TTFT, F_SERVER_PREFILL, F_SERVER_DECODE, F_SERVER_INFERENCE, F_SERVER_E2E,
    F_SERVER_ITL_MEAN, F_SERVER_TPOT, F_SERVER_VALIDATION,
)
REQUEST = Measurement(
    "llm_request",
    "one point per (sampled) request; time = scheduled wall time, +1 ns on a collision per worker",
    (*_RUN, T_PHASE, T_CLASS, T_WORKER, T_ENDPOINT, T_MODEL, T_STATUS_CLASS, T_ERROR),
    (
        F_IDX, F_SCHEDULED, F_SENT, F_SCHEDULE_LAG, F_TTFT, F_TTFT_SCHED, F_TTFRT, F_ITL_MEAN,
        F_ITL_MAX, F_TPOT, F_E2E, F_E2E_SCHED, F_PROMPT_TOKENS, F_OUTPUT_TOKENS, F_STATUS, F_OK,
        *SERVER_TIMING_FIELDS, F_CLIENT_OVERHEAD, F_SAMPLE_WEIGHT,
    ),
)

# Interval latency aggregates from the merged HDR histograms (master).
F_COUNT = Field("count", "1", "number of values (requests; for itl: chunk gaps)")
F_MEAN = Field("mean_s", "s", "mean")
F_MIN = Field("min_s", "s", "minimum")
F_MAX = Field("max_s", "s", "maximum")
F_P50 = Field("p50_s", "s", "50th percentile (merged HDR histogram, never averaged)")
F_P90 = Field("p90_s", "s", "90th percentile")
F_P95 = Field("p95_s", "s", "95th percentile")
F_P99 = Field("p99_s", "s", "99th percentile")
F_P99_9 = Field("p99_9_s", "s", "99.9th percentile")
LATENCY = Measurement(
    "llm_latency",
    "latency distribution per metric x phase x class, every aggregate_interval_s (master)",
    (*_RUN, T_PHASE, T_CLASS, T_METRIC, T_WINDOW, T_ENDPOINT, T_MODEL),
    (F_COUNT, F_MEAN, F_MIN, F_MAX, F_P50, F_P90, F_P95, F_P99, F_P99_9),
)
PHASE_LATENCY = Measurement(
    "llm_latency_phase",
    "latency distribution per metric x phase, every class merged (the phase's own percentiles), every "
    "aggregate_interval_s (master)",
    (*_RUN, T_PHASE, T_METRIC, T_WINDOW, T_ENDPOINT, T_MODEL),
    (F_COUNT, F_MEAN, F_MIN, F_MAX, F_P50, F_P90, F_P95, F_P99, F_P99_9),
)

# Interval throughput / goodput (master).
F_INTERVAL = Field("interval_s", "s", "length of the interval the counts cover")
F_REQUESTS = Field("requests", "1", "requests finished in the interval (ok + errors + cancelled + generator faults)")
F_OK_REQUESTS = Field("ok_requests", "1", "requests finished without error")
F_ERRORS = Field("errors", "1", "requests the target failed (cancelled and generator faults excluded)")
F_GOOD = Field("good_requests", "1", "ok requests meeting every per-request threshold the SLO implies (docs/metrics.md)")
F_REQ_RATE = Field("req_per_s", "1/s", "requests / interval_s")
F_OUT_TOK = Field("output_tokens", "tokens", "output tokens of the interval's ok requests (usage, else content chunks)")
F_OUT_TOK_RATE = Field("output_tokens_per_s", "tokens/s", "output_tokens / interval_s")
F_PROMPT_TOK = Field("prompt_tokens", "tokens", "prompt tokens of the interval's ok requests (usage, else the planned count)")
F_GOODPUT = Field("goodput_req_per_s", "1/s", "good_requests / interval_s (= ok requests / interval_s when no SLO)")
F_BAD_FRACTION = Field("bad_fraction", "ratio", "1 - good/requests (errors count as bad); 0 when no requests")
THROUGHPUT = Measurement(
    "llm_throughput",
    "requests, tokens and goodput per phase x class, every aggregate_interval_s (master)",
    (*_RUN, T_PHASE, T_CLASS, T_ENDPOINT, T_MODEL),
    (
        F_INTERVAL, F_REQUESTS, F_OK_REQUESTS, F_ERRORS, F_GOOD, F_REQ_RATE, F_OUT_TOK,
        F_OUT_TOK_RATE, F_PROMPT_TOK, F_GOODPUT, F_BAD_FRACTION,
    ),
)
ERRORS = Measurement(
    "llm_errors",
    "failed requests per error class x phase x class, every aggregate_interval_s (master)",
    (*_RUN, T_PHASE, T_CLASS, T_ERROR, T_ENDPOINT, T_MODEL),
    (F_COUNT, F_INTERVAL),
)

# Load-generator health.
F_LAG_P50 = Field("schedule_lag_p50_s", "s", "median send - scheduled in the interval")
F_LAG_P99 = Field("schedule_lag_p99_s", "s", "99th percentile send - scheduled in the interval")
F_LAG_MAX = Field("schedule_lag_max_s", "s", "largest send - scheduled in the interval")
F_INFLIGHT = Field("inflight", "1", "requests in flight at the end of the interval")
F_DROPPED_ARRIVALS = Field("dropped_arrivals", "1", "arrivals not sent in the interval (max_inflight reached)")
F_WORKERS = Field("workers_connected", "1", "workers connected to the master")
F_CPU = Field("cpu_percent", "%", "highest worker CPU use in the interval (100 = one core)")
F_LAG_BOUND = Field("lag_exceeded", "0/1", "1 when schedule_lag_p99_s exceeded its limit")
F_CPU_BOUND = Field("cpu_exceeded", "0/1", "1 when cpu_percent exceeded its limit")
F_DROP_BOUND = Field("drops_exceeded", "0/1", "1 when dropped_arrivals > 0 (target behind; not invalid)")
F_GENERATOR_FAULTS = Field("generator_faults", "1", "requests that failed inside the load generator (a bug of ours)")
F_AGGREGATE_S = Field(
    "aggregate_s", "s", "time of the master's interval step: aggregates, live SLO windows, drift, this health point",
)
F_STALL_MAX = Field("loop_stall_max_s", "s", "longest event-loop stall of the master/local process in the interval")
F_INVALID = Field(
    "invalid", "0/1", "1 when the generator was the bottleneck in this interval (lag, CPU or a generator fault)",
)
HEALTH = Measurement(
    "loadgen_health",
    "load-generator health per interval; invalid = lag_exceeded or cpu_exceeded or generator_faults > 0",
    (*_RUN, T_WORKER, T_ROLE),
    (
        F_INTERVAL, F_LAG_P50, F_LAG_P99, F_LAG_MAX, F_INFLIGHT, F_DROPPED_ARRIVALS, F_WORKERS,
        F_CPU, F_LAG_BOUND, F_CPU_BOUND, F_DROP_BOUND, F_GENERATOR_FAULTS, F_AGGREGATE_S, F_STALL_MAX,
        F_INVALID,
    ),
)

# Sink accounting: generated = written + pending_memory + pending_spool + dropped.
F_GENERATED = Field("generated", "points", "points handed to the sink since start")
F_WRITTEN = Field("written", "points", "points acknowledged by the destination")
F_PENDING_MEM = Field("pending_memory", "points", "points waiting in the in-memory queue or in flight")
F_PENDING_SPOOL = Field("pending_spool", "points", "points waiting in the on-disk spool")
F_DROPPED = Field("dropped", "points", "points dropped, all reasons")
F_DROPPED_SPOOL_FULL = Field("dropped_spool_full", "points", "oldest points dropped because the spool was full")
F_DROPPED_REJECTED = Field("dropped_rejected", "points", "points the server rejected (4xx other than 429)")
F_DROPPED_ENCODE = Field("dropped_encode_error", "points", "points that could not be encoded (no finite field)")
F_DROPPED_QUEUE_FULL = Field(
    "dropped_queue_full", "points", "points dropped because memory queue and spool were both full"
)
F_DROPPED_IO = Field("dropped_io_error", "points", "points the file sink could not write (disk error)")
F_DROPPED_CLOSED = Field("dropped_closed", "points", "points written after close")
F_RETRIES = Field("retries", "1", "write attempts retried (timeouts, connection errors, 429, 5xx)")
F_SPOOL_BYTES = Field("spool_bytes", "bytes", "size of the on-disk spool")
F_OLDEST_UNSENT = Field("oldest_unsent_age_s", "s", "age of the oldest point not yet written (0 when none)")
SINK = Measurement(
    "telemetry_sink",
    "sink accounting per writer, every aggregate_interval_s; generated = written + pending + dropped",
    (*_RUN, T_WORKER, T_ROLE, T_SINK),
    (
        F_GENERATED, F_WRITTEN, F_PENDING_MEM, F_PENDING_SPOOL, F_DROPPED, F_DROPPED_SPOOL_FULL,
        F_DROPPED_REJECTED, F_DROPPED_ENCODE, F_DROPPED_QUEUE_FULL, F_DROPPED_IO,
        F_DROPPED_CLOSED, F_RETRIES, F_SPOOL_BYTES,
        F_OLDEST_UNSENT,
    ),
)
REQUEST_MEASUREMENTS: tuple[Measurement, ...] = (REQUEST, LATENCY, PHASE_LATENCY, THROUGHPUT, ERRORS, HEALTH, SINK)

# SLO state and run events (master): annotation regions and rolling-window SLO evaluation.
T_EVENT = Tag("event", "run event kind: phase | violation | recovery | drift")
T_OBJECTIVE = Tag("objective", "SLO objective id, e.g. ttft_p99, e2e_p90, error_rate (empty for phase events)")
T_SLO_WINDOW = Tag("slo_window", "rolling SLO evaluation window, e.g. 1m, 5m (scenario slo.live.windows)")
T_PHASE_KIND = Tag("phase_kind", "phase events: the phase's kind from the scenario (warmup, steady, burst, peak, cooldown, ...)")
T_PROCESS = Tag("process", "phase events: the phase's arrival process name (poisson, gamma, spike, ramp, concurrency, ...)")
EVENT_PHASE = "phase"
EVENT_VIOLATION = "violation"
EVENT_RECOVERY = "recovery"
EVENT_DRIFT = "drift"
EVENT_KINDS: tuple[str, ...] = (EVENT_DRIFT, EVENT_PHASE, EVENT_RECOVERY, EVENT_VIOLATION)
SLO_TAGS: tuple[Tag, ...] = (T_EVENT, T_OBJECTIVE, T_SLO_WINDOW, T_PHASE_KIND, T_PROCESS)
EF_END_MS = Field("end_ms", "ms (Unix)", "region end, Unix epoch milliseconds (Grafana annotation timeEnd)")
EF_DURATION = Field("duration_s", "s", "region length: end - start")
EF_VALUE = Field(
    "value", "objective unit",
    "violation: peak value over the region (seconds for latency, ratio for error rate); recovery: seconds",
)
EF_THRESHOLD = Field("threshold", "objective unit", "the objective's threshold (seconds for latency, ratio for error rate)")
EF_RATE = Field("rate", "1/s", "phase events: the phase's target mean arrival rate (the plan's rate_hint; closed loop: 0)")
RUN_EVENT = Measurement(
    "run_event",
    "annotation regions (master): time = region start; a phase when it ends, a violation when it ends "
    "(an open one at run end), a burst recovery when it is known",
    (*_RUN, T_PHASE, T_EVENT, T_OBJECTIVE, T_PHASE_KIND, T_PROCESS),
    (EF_END_MS, EF_DURATION, EF_VALUE, EF_THRESHOLD, EF_RATE),
)
SF_SLO_VALUE = Field(
    "value", "objective unit", "the objective's metric over the window (seconds for latency percentiles, ratio for error rate)",
)
SF_SLO_THRESHOLD = Field("threshold", "objective unit", "the objective's threshold")
SF_SLO_BAD_FRACTION = Field(
    "bad_fraction", "ratio", "requests above the per-request threshold (errors for error_rate) / requests in window",
)
SF_SLO_BURN_RATE = Field("burn_rate", "1", "bad_fraction / error budget (p99 -> budget 0.01; error_rate -> the threshold)")
SF_SLO_VIOLATING = Field("violating", "0/1", "1 when value > threshold over the window")
SF_SLO_REQUESTS = Field("requests", "1", "requests (values, for latency metrics) in the window")
SLO = Measurement(
    "llm_slo",
    "rolling SLO state per objective x phase x slo_window, every aggregate_interval_s (master; judged intervals only)",
    (*_RUN, T_PHASE, T_OBJECTIVE, T_SLO_WINDOW),
    (SF_SLO_VALUE, SF_SLO_THRESHOLD, SF_SLO_BAD_FRACTION, SF_SLO_BURN_RATE, SF_SLO_VIOLATING, SF_SLO_REQUESTS),
)
SF_SLO_GOOD = Field("good", "1", "requests at or below the per-request threshold (error_rate: ok requests)")
SF_SLO_COUNTED = Field("requests", "1", "requests counted for the objective in the interval (latency: values recorded)")
SF_SLO_BUDGET = Field("budget", "ratio", "the objective's error budget: 1 - percentile/100 (error_rate: max_error_rate)")
SLO_COUNT = Measurement(
    "llm_slo_count",
    "good/total per objective x phase x class in each judged interval (master): burn rates over any window "
    "are sum(requests - good) / sum(requests) / budget",
    (*_RUN, T_PHASE, T_CLASS, T_OBJECTIVE),
    (SF_SLO_GOOD, SF_SLO_COUNTED, SF_SLO_BUDGET),
)
PF_ARRIVALS_DUE = Field("arrivals_due", "1", "arrivals the plan schedules in the interval (rate x time; closed loop: 0)")
PF_ELAPSED = Field("elapsed_s", "s", "plan offset at the end of the interval (seconds since t0)")
PF_JUDGED = Field("judged", "0/1", "1 when the interval counts for the SLO (judged phase, generator valid)")
RUN_PROGRESS = Measurement(
    "run_progress",
    "one point per aggregate interval (master); phase = the plan's phase at the interval's end",
    (*_RUN, T_PHASE),
    (PF_ARRIVALS_DUE, PF_ELAPSED, PF_JUDGED),
)
SLO_MEASUREMENTS: tuple[Measurement, ...] = (RUN_EVENT, SLO, SLO_COUNT, RUN_PROGRESS)

# ---- Prometheus metric names (the master's live /metrics; alert rules read these) -------------
# prometheus_client appends `_total` to counters on exposition; the *_TOTAL names are as scraped.
PROM_REQUESTS = "inferload_requests"  # counter {phase, class, status}
PROM_LATENCY = "inferload_latency_seconds"  # gauge {metric, phase, class, quantile}
PROM_INFLIGHT = "inferload_inflight"
PROM_DROPPED_ARRIVALS = "inferload_dropped_arrivals"  # counter
PROM_LAG_P99 = "inferload_schedule_lag_p99_seconds"
PROM_INVALID = "inferload_generator_invalid"
PROM_TELEMETRY = "inferload_telemetry_points"  # gauge {sink, state}
PROM_SLO_GOOD = "inferload_slo_good"  # counter {run_id, scenario, phase, class, objective}
PROM_SLO_REQUESTS = "inferload_slo_requests"  # counter {run_id, scenario, phase, class, objective}
PROM_SLO_BUDGET = "inferload_slo_error_budget"  # gauge {run_id, scenario, objective}
PROM_RUN_INFO = "inferload_run_info"  # gauge 1 {run_id, scenario, phase}: the plan's current phase
PROM_SLO_JUDGED = "inferload_slo_judged"  # gauge 0/1 {run_id, scenario}: the last interval was judged
PROM_SLO_VIOLATING = "inferload_slo_violating"  # gauge {run_id, scenario, phase, objective, slo_window}
PROM_SLO_VIOLATIONS = "inferload_slo_violations"  # counter {run_id, scenario, phase, objective}: ended
PROM_ARRIVALS_DUE = "inferload_arrivals_due"  # counter {run_id, scenario, phase}: arrivals scheduled
PROM_SERVER_WAITING = "inferload_server_waiting"  # gauge {host, model}: engine queue (llm_server.waiting)
# gauge 1 {run_id, scenario, phase, objective}: the master flagged a significant upward drift of the
# series named by ``objective`` (ttft_p99, kv_cache_usage, ...; run_event event=drift, loadgen/drift.py)
PROM_DRIFT = "inferload_drift_detected"
PROM_SLO_GOOD_TOTAL = PROM_SLO_GOOD + "_total"
PROM_SLO_REQUESTS_TOTAL = PROM_SLO_REQUESTS + "_total"
PROM_REQUESTS_TOTAL = PROM_REQUESTS + "_total"
PROM_DROPPED_ARRIVALS_TOTAL = PROM_DROPPED_ARRIVALS + "_total"
PROM_SLO_VIOLATIONS_TOTAL = PROM_SLO_VIOLATIONS + "_total"
PROM_ARRIVALS_DUE_TOTAL = PROM_ARRIVALS_DUE + "_total"

# ---- GPU measurements (GPU collector: NVML and dcgm-exporter sources) -----------------------
# Field names are dcgm-exporter's, in DCGM units, so an NVML sample and a dcgm-exporter scrape
# of the same GPU give identical keys; raw-unit conversions live in collectors/gpu/fields.py.
GF_GPU_UTIL = Field("DCGM_FI_DEV_GPU_UTIL", "%", "GPU utilisation (NVML sample window 1/6-1 s)")
GF_MEM_COPY_UTIL = Field("DCGM_FI_DEV_MEM_COPY_UTIL", "%", "memory (bandwidth) utilisation")
GF_FB_USED = Field("DCGM_FI_DEV_FB_USED", "MiB", "framebuffer memory used")
GF_FB_FREE = Field("DCGM_FI_DEV_FB_FREE", "MiB", "framebuffer memory free")
GF_FB_TOTAL = Field("DCGM_FI_DEV_FB_TOTAL", "MiB", "framebuffer memory total")
GF_POWER = Field("DCGM_FI_DEV_POWER_USAGE", "W", "power draw (a 1 s average on Ampere and later)")
GF_POWER_LIMIT = Field("DCGM_FI_DEV_ENFORCED_POWER_LIMIT", "W", "enforced power limit")
GF_ENERGY = Field("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "mJ", "energy since driver load (raw counter)")
GF_SM_CLOCK = Field("DCGM_FI_DEV_SM_CLOCK", "MHz", "SM clock")
GF_MEM_CLOCK = Field("DCGM_FI_DEV_MEM_CLOCK", "MHz", "memory clock")
GF_GPU_TEMP = Field("DCGM_FI_DEV_GPU_TEMP", "C", "GPU temperature")
GF_CLOCKS_EVENT = Field(
    "DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "bitmask", "clock event (throttle) reasons, nvmlClocksEventReason* bits",
)
GF_PCIE_TX = Field("DCGM_FI_PROF_PCIE_TX_BYTES", "B/s", "PCIe transmit throughput (sampled every --pcie-period)")
GF_PCIE_RX = Field("DCGM_FI_PROF_PCIE_RX_BYTES", "B/s", "PCIe receive throughput (sampled every --pcie-period)")
GF_ECC_SBE_VOL = Field("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "1", "volatile corrected ECC errors (raw counter)")
GF_ECC_DBE_VOL = Field("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "1", "volatile uncorrected ECC errors (raw counter)")
# the clock event bitmask decoded: 1.0 when the reason is active, 0.0 when not
GF_CE_GPU_IDLE = Field("clocks_event_gpu_idle", "flag", "GPU idle (bit 0x1)")
GF_CE_APP_CLOCKS = Field("clocks_event_app_clocks", "flag", "applications clocks setting (bit 0x2)")
GF_CE_SW_POWER_CAP = Field("clocks_event_sw_power_cap", "flag", "software power cap (bit 0x4)")
GF_CE_HW_SLOWDOWN = Field("clocks_event_hw_slowdown", "flag", "hardware slowdown (bit 0x8)")
GF_CE_SYNC_BOOST = Field("clocks_event_sync_boost", "flag", "sync boost (bit 0x10)")
GF_CE_SW_THERMAL = Field("clocks_event_sw_thermal", "flag", "software thermal slowdown (bit 0x20)")
GF_CE_HW_THERMAL = Field("clocks_event_hw_thermal", "flag", "hardware thermal slowdown (bit 0x40)")
GF_CE_HW_POWER_BRAKE = Field("clocks_event_hw_power_brake", "flag", "hardware power brake slowdown (bit 0x80)")
GF_CE_DISPLAY_CLOCKS = Field("clocks_event_display_clocks", "flag", "display clock setting (bit 0x100)")
CLOCKS_EVENT_FLAGS: tuple[tuple[int, Field], ...] = (
    (0x1, GF_CE_GPU_IDLE), (0x2, GF_CE_APP_CLOCKS), (0x4, GF_CE_SW_POWER_CAP), (0x8, GF_CE_HW_SLOWDOWN),
    (0x10, GF_CE_SYNC_BOOST), (0x20, GF_CE_SW_THERMAL), (0x40, GF_CE_HW_THERMAL),
    (0x80, GF_CE_HW_POWER_BRAKE), (0x100, GF_CE_DISPLAY_CLOCKS),
)
GPU = Measurement(
    "gpu",
    "one point per GPU per collection (default 1 s); a field the GPU lacks is absent, never 0",
    (T_HOST, T_GPU, T_UUID, T_GPU_MODEL, T_SOURCE, T_RUN_ID),
    (
        GF_GPU_UTIL, GF_MEM_COPY_UTIL, GF_FB_USED, GF_FB_FREE, GF_FB_TOTAL, GF_POWER, GF_POWER_LIMIT,
        GF_ENERGY, GF_SM_CLOCK, GF_MEM_CLOCK, GF_GPU_TEMP, GF_CLOCKS_EVENT, GF_PCIE_TX, GF_PCIE_RX,
        GF_ECC_SBE_VOL, GF_ECC_DBE_VOL, *(f for _, f in CLOCKS_EVENT_FLAGS),
    ),
)
GPU_MEASUREMENTS: tuple[Measurement, ...] = (GPU,)

# ---- server-metrics measurements (server collector) ----------------------------------------
# Canonical components: values of `component` (latency) or fields of `server` (the rest); the
# per-server source families are the tables in collectors/server/families.py.
SC_QUEUE = "queue"
SC_PREFILL = "prefill"
SC_DECODE = "decode"
SC_INFERENCE = "inference"
SC_TTFT = "ttft"
SC_ITL = "itl"
SC_E2E = "e2e"
LATENCY_COMPONENTS: tuple[str, ...] = (SC_QUEUE, SC_PREFILL, SC_DECODE, SC_INFERENCE, SC_TTFT, SC_ITL, SC_E2E)
SF_RUNNING = Field("running", "1", "requests running in the engine (gauge)")
SF_WAITING = Field("waiting", "1", "requests waiting in the engine queue (gauge)")
SF_KV_CACHE_USAGE = Field("kv_cache_usage", "ratio", "KV-cache usage 0-1 (gauge)")
SF_PREFIX_CACHE_HIT_RATE = Field(
    "prefix_cache_hit_rate", "ratio", "prefix-cache hit rate 0-1 (interval Δhits/Δqueries, or the server's gauge)",
)
SF_PREEMPTIONS = Field("preemptions", "1", "preemptions in the interval (counter delta)")
SF_SPEC_DECODE_ACCEPTANCE = Field(
    "spec_decode_acceptance", "ratio", "speculative-decoding acceptance 0-1 (Δaccepted/Δdraft, or the gauge)",
)
SF_PROMPT_TOKENS = Field("prompt_tokens", "tokens", "prompt tokens processed in the interval (counter delta)")
SF_GENERATION_TOKENS = Field("generation_tokens", "tokens", "tokens generated in the interval (counter delta)")
SF_TOKENS_PER_STEP = Field(
    "tokens_per_step", "tokens", "mean tokens per engine step in the interval (vLLM Δiteration_tokens sum/count)",
)
SF_SEQS_PER_STEP = Field(
    "seqs_per_step", "1", "mean sequences per engine step in the interval (llama.cpp busy slots per decode)",
)
SF_RUNNING_MEAN = Field(
    "running_mean", "1", "time-weighted mean of running since the previous scrape (inferload run: 1 s samples)",
)
SF_WAITING_MEAN = Field(
    "waiting_mean", "1", "time-weighted mean of waiting since the previous scrape (inferload run: 1 s samples)",
)
SF_INTERVAL = Field("interval_s", "s", "time since the previous scrape (the window of the deltas)")
SF_SCRAPE = Field("scrape_s", "s", "how long the /metrics request took")
SF_RESETS = Field("resets", "1", "series that went down in the interval (server restart): new value taken as delta")
SERVER_GAUGE_FIELDS: tuple[Field, ...] = (
    SF_RUNNING, SF_WAITING, SF_KV_CACHE_USAGE, SF_PREFIX_CACHE_HIT_RATE, SF_PREEMPTIONS,
    SF_SPEC_DECODE_ACCEPTANCE, SF_PROMPT_TOKENS, SF_GENERATION_TOKENS, SF_TOKENS_PER_STEP, SF_SEQS_PER_STEP,
    SF_RUNNING_MEAN, SF_WAITING_MEAN,
)
SERVER = Measurement(
    "llm_server",
    "one point per scrape (default 5 s; 1 s during inferload run): gauges as read, counters as deltas "
    "since the previous scrape",
    (T_HOST, T_SERVER, T_MODEL, T_RUN_ID, T_SCENARIO),
    (*SERVER_GAUGE_FIELDS, SF_INTERVAL, SF_SCRAPE, SF_RESETS),
)
SF_COUNT = Field("count", "1", "observations in the interval (Δ_count; tokens for token-weighted ITL)")
SF_SUM = Field("sum_s", "s", "sum of the observations in the interval (Δ_sum)")
SF_MEAN = Field("mean_s", "s", "sum_s / count")
SF_P50 = Field("p50_s", "s", "median, Prometheus-style linear interpolation in the interval's bucket deltas")
SF_P90 = Field("p90_s", "s", "90th percentile, as p50_s")
SF_P99 = Field("p99_s", "s", "99th percentile, as p50_s")
SF_RESET = Field("reset", "flag", "1.0 when the source went down (restart): the interval counts since the restart")
SERVER_LATENCY = Measurement(
    "llm_server_latency",
    "one point per component per scrape with observations: histogram or counter deltas, in seconds",
    (T_HOST, T_SERVER, T_MODEL, T_COMPONENT, T_RUN_ID, T_SCENARIO),
    (SF_COUNT, SF_SUM, SF_MEAN, SF_P50, SF_P90, SF_P99, SF_RESET),
)
SF_BUCKET_COUNT = Field("count", "1", "Δ cumulative bucket count (observations <= le) in the interval")
SERVER_LATENCY_BUCKET = Measurement(
    "llm_server_latency_bucket",
    "histogram bucket deltas per scrape: sum them over any window, then interpolate for quantiles",
    (T_HOST, T_SERVER, T_MODEL, T_COMPONENT, T_LE, T_RUN_ID, T_SCENARIO),
    (SF_BUCKET_COUNT,),
)
# collector runner health (both `inferload collect` collectors): one point per collection
CF_COLLECTIONS = Field("collections", "1", "collections attempted since start")
CF_ERRORS = Field("errors", "1", "collections that failed since start")
CF_POINTS = Field("points", "1", "points produced since start")
CF_MISSED = Field("missed_ticks", "1", "ticks skipped because a collection overran its period")
CF_DURATION = Field("duration_s", "s", "how long the last collection took")
COLLECTOR = Measurement(
    "collector_health",
    "collector runner health: one point per collection",
    (T_HOST, T_COLLECTOR, T_RUN_ID, T_SCENARIO),
    (CF_COLLECTIONS, CF_ERRORS, CF_POINTS, CF_MISSED, CF_DURATION),
)
SERVER_MEASUREMENTS: tuple[Measurement, ...] = (SERVER, SERVER_LATENCY, SERVER_LATENCY_BUCKET, COLLECTOR)

# ---- registries ----------------------------------------------------------------------------
TAGS: tuple[Tag, ...] = (*REQUEST_TAGS, *SLO_TAGS, *GPU_TAGS, *SERVER_TAGS)
MEASUREMENTS: tuple[Measurement, ...] = (
    *REQUEST_MEASUREMENTS, *SLO_MEASUREMENTS, *GPU_MEASUREMENTS, *SERVER_MEASUREMENTS,
)


def run_tags(*, run_id: str, scenario: str, endpoint: str = "", model: str = "", worker: str = "") -> dict[str, str]:
    """The run-identifying tags of a load run's points; empty values are left out."""
    pairs = ((T_RUN_ID.name, run_id), (T_SCENARIO.name, scenario), (T_WORKER.name, worker),
             (T_ENDPOINT.name, endpoint), (T_MODEL.name, model))
    return {k: v for k, v in pairs if v}


def measurement(name: str) -> Measurement:
    """The declared measurement called ``name`` (KeyError when undeclared)."""
    for m in MEASUREMENTS:
        if m.name == name:
            return m
    raise KeyError(name)


__all__ = [
    "CF_COLLECTIONS",
    "CF_DURATION",
    "CF_ERRORS",
    "CF_MISSED",
    "CF_POINTS",
    "CLOCKS_EVENT_FLAGS",
    "COLLECTOR",
    "COLLECTOR_NAMES",
    "DROP_REASONS",
    "EF_DURATION",
    "EF_END_MS",
    "EF_RATE",
    "EF_THRESHOLD",
    "EF_VALUE",
    "ERRORS",
    "ERROR_OK",
    "EVENT_DRIFT",
    "EVENT_KINDS",
    "EVENT_PHASE",
    "EVENT_RECOVERY",
    "EVENT_VIOLATION",
    "F_AGGREGATE_S",
    "F_BAD_FRACTION",
    "F_CLIENT_OVERHEAD",
    "F_COUNT",
    "F_CPU",
    "F_CPU_BOUND",
    "F_DROPPED",
    "F_DROPPED_ARRIVALS",
    "F_DROPPED_CLOSED",
    "F_DROPPED_ENCODE",
    "F_DROPPED_IO",
    "F_DROPPED_QUEUE_FULL",
    "F_DROPPED_REJECTED",
    "F_DROPPED_SPOOL_FULL",
    "F_DROP_BOUND",
    "F_E2E",
    "F_E2E_SCHED",
    "F_ERRORS",
    "F_GENERATED",
    "F_GENERATOR_FAULTS",
    "F_GOOD",
    "F_GOODPUT",
    "F_IDX",
    "F_INFLIGHT",
    "F_INTERVAL",
    "F_INVALID",
    "F_ITL_MAX",
    "F_ITL_MEAN",
    "F_LAG_BOUND",
    "F_LAG_MAX",
    "F_LAG_P50",
    "F_LAG_P99",
    "F_MAX",
    "F_MEAN",
    "F_MIN",
    "F_OK",
    "F_OK_REQUESTS",
    "F_OLDEST_UNSENT",
    "F_OUTPUT_TOKENS",
    "F_OUT_TOK",
    "F_OUT_TOK_RATE",
    "F_P50",
    "F_P90",
    "F_P95",
    "F_P99",
    "F_P99_9",
    "F_PENDING_MEM",
    "F_PENDING_SPOOL",
    "F_PROMPT_TOK",
    "F_PROMPT_TOKENS",
    "F_REQUESTS",
    "F_REQ_RATE",
    "F_RETRIES",
    "F_SAMPLE_WEIGHT",
    "F_SCHEDULED",
    "F_SCHEDULE_LAG",
    "F_SENT",
    "F_SERVER_DECODE",
    "F_SERVER_E2E",
    "F_SERVER_INFERENCE",
    "F_SERVER_ITL_MEAN",
    "F_SERVER_PREFILL",
    "F_SERVER_QUEUE",
    "F_SERVER_TPOT",
    "F_SERVER_TTFT",
    "F_SERVER_VALIDATION",
    "F_SPOOL_BYTES",
    "F_STALL_MAX",
    "F_STATUS",
    "F_TPOT",
    "F_TTFRT",
    "F_TTFT",
    "F_TTFT_SCHED",
    "F_WORKERS",
    "F_WRITTEN",
    "GF_CE_APP_CLOCKS",
    "GF_CE_DISPLAY_CLOCKS",
    "GF_CE_GPU_IDLE",
    "GF_CE_HW_POWER_BRAKE",
    "GF_CE_HW_SLOWDOWN",
    "GF_CE_HW_THERMAL",
    "GF_CE_SW_POWER_CAP",
    "GF_CE_SW_THERMAL",
    "GF_CE_SYNC_BOOST",
    "GF_CLOCKS_EVENT",
    "GF_ECC_DBE_VOL",
    "GF_ECC_SBE_VOL",
    "GF_ENERGY",
    "GF_FB_FREE",
    "GF_FB_TOTAL",
    "GF_FB_USED",
    "GF_GPU_TEMP",
    "GF_GPU_UTIL",
    "GF_MEM_CLOCK",
    "GF_MEM_COPY_UTIL",
    "GF_PCIE_RX",
    "GF_PCIE_TX",
    "GF_POWER",
    "GF_POWER_LIMIT",
    "GF_SM_CLOCK",
    "GPU",
    "GPU_MEASUREMENTS",
    "GPU_SOURCES",
    "GPU_TAGS",
    "HEALTH",
    "LATENCY",
    "LATENCY_COMPONENTS",
    "LATENCY_METRICS",
    "MEASUREMENTS",
    "M_E2E",
    "M_E2E_SCHED",
    "M_ITL",
    "M_SCHEDULE_LAG",
    "M_TPOT",
    "M_TTFRT",
    "M_TTFT",
    "M_TTFT_SCHED",
    "PF_ARRIVALS_DUE",
    "PF_ELAPSED",
    "PF_JUDGED",
    "PHASE_LATENCY",
    "PROM_ARRIVALS_DUE",
    "PROM_ARRIVALS_DUE_TOTAL",
    "PROM_DRIFT",
    "PROM_DROPPED_ARRIVALS",
    "PROM_DROPPED_ARRIVALS_TOTAL",
    "PROM_INFLIGHT",
    "PROM_INVALID",
    "PROM_LAG_P99",
    "PROM_LATENCY",
    "PROM_REQUESTS",
    "PROM_REQUESTS_TOTAL",
    "PROM_RUN_INFO",
    "PROM_SERVER_WAITING",
    "PROM_SLO_BUDGET",
    "PROM_SLO_GOOD",
    "PROM_SLO_GOOD_TOTAL",
    "PROM_SLO_JUDGED",
    "PROM_SLO_REQUESTS",
    "PROM_SLO_REQUESTS_TOTAL",
    "PROM_SLO_VIOLATING",
    "PROM_SLO_VIOLATIONS",
    "PROM_SLO_VIOLATIONS_TOTAL",
    "PROM_TELEMETRY",
    "REQUEST",
    "REQUEST_MEASUREMENTS",
    "REQUEST_TAGS",
    "ROLES",
    "RUN_EVENT",
    "RUN_PROGRESS",
    "SC_DECODE",
    "SC_E2E",
    "SC_INFERENCE",
    "SC_ITL",
    "SC_PREFILL",
    "SC_QUEUE",
    "SC_TTFT",
    "SERVER",
    "SERVER_GAUGE_FIELDS",
    "SERVER_KINDS",
    "SERVER_LATENCY",
    "SERVER_LATENCY_BUCKET",
    "SERVER_MEASUREMENTS",
    "SERVER_TAGS",
    "SERVER_TIMING_FIELDS",
    "SF_BUCKET_COUNT",
    "SF_COUNT",
    "SF_GENERATION_TOKENS",
    "SF_INTERVAL",
    "SF_KV_CACHE_USAGE",
    "SF_MEAN",
    "SF_P50",
    "SF_P90",
    "SF_P99",
    "SF_PREEMPTIONS",
    "SF_PREFIX_CACHE_HIT_RATE",
    "SF_PROMPT_TOKENS",
    "SF_RESET",
    "SF_RESETS",
    "SF_RUNNING",
    "SF_RUNNING_MEAN",
    "SF_SCRAPE",
    "SF_SEQS_PER_STEP",
    "SF_SLO_BAD_FRACTION",
    "SF_SLO_BUDGET",
    "SF_SLO_BURN_RATE",
    "SF_SLO_COUNTED",
    "SF_SLO_GOOD",
    "SF_SLO_REQUESTS",
    "SF_SLO_THRESHOLD",
    "SF_SLO_VALUE",
    "SF_SLO_VIOLATING",
    "SF_SPEC_DECODE_ACCEPTANCE",
    "SF_SUM",
    "SF_TOKENS_PER_STEP",
    "SF_WAITING",
    "SF_WAITING_MEAN",
    "SINK",
    "SLO",
    "SLO_COUNT",
    "SLO_MEASUREMENTS",
    "SLO_TAGS",
    "STATUS_CLASSES",
    "TAGS",
    "THROUGHPUT",
    "T_CLASS",
    "T_COLLECTOR",
    "T_COMPONENT",
    "T_ENDPOINT",
    "T_ERROR",
    "T_EVENT",
    "T_GPU",
    "T_GPU_MODEL",
    "T_HOST",
    "T_LE",
    "T_METRIC",
    "T_MODEL",
    "T_OBJECTIVE",
    "T_PHASE",
    "T_PHASE_KIND",
    "T_PROCESS",
    "T_ROLE",
    "T_RUN_ID",
    "T_SCENARIO",
    "T_SERVER",
    "T_SINK",
    "T_SLO_WINDOW",
    "T_SOURCE",
    "T_STATUS_CLASS",
    "T_UUID",
    "T_WINDOW",
    "T_WORKER",
    "WINDOWS",
    "Field",
    "Measurement",
    "Tag",
    "measurement",
    "run_tags",
]
