"""The request collector: one finished :class:`RequestRecord` -> one raw ``llm_request`` point.

- Sampling: with ``sample_ratio`` r < 1 a request is kept when a hash of its global ``idx``
  falls below r, so the same requests are kept whatever the worker count, and each kept point
  carries ``sample_weight = 1/r``.  Aggregates never depend on sampling (they come from the
  HDR histograms and counters).
- Time: the scheduled wall time in ns.  InfluxDB keeps one point per (series, timestamp), so
  a timestamp this collector already used recently (the last 4,096: a bounded set that fills in seconds, so a soak worker's memory levels off early) is moved on by 1 ns.
- Fields are floats; absent values (no first token, no server timing) are left out, never
  written as NaN.  ``client_overhead_s`` = e2e - server e2e (TGI ``total_s``), else
  e2e - (server queue + server inference) (vLLM, llama.cpp): the time outside the model server.
"""

from __future__ import annotations

from collections import deque

from collectors import schema
from collectors.point import Point
from collectors.records import RequestRecord

_RECENT = 4_096
_HASH_MULT = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1

# RequestRecord.server_timing keys (loadgen/openai/stream.py, docs/metrics.md) -> field name;
# the field names themselves are accepted too
SERVER_TIMING_KEYS: dict[str, str] = {f.name: f.name for f in schema.SERVER_TIMING_FIELDS}
SERVER_TIMING_KEYS.update({
    "queue_s": schema.F_SERVER_QUEUE.name,
    "ttft_s": schema.F_SERVER_TTFT.name,
    "prefill_s": schema.F_SERVER_PREFILL.name,
    "decode_s": schema.F_SERVER_DECODE.name,
    "inference_s": schema.F_SERVER_INFERENCE.name,
    "total_s": schema.F_SERVER_E2E.name,
    "mean_itl_s": schema.F_SERVER_ITL_MEAN.name,
    "tpot_s": schema.F_SERVER_TPOT.name,
    "validation_s": schema.F_SERVER_VALIDATION.name,
})


def status_class(status: int | None) -> str:
    if not status or status < 200 or status >= 600:
        return "none"
    return f"{status // 100}xx"


def sampled(idx: int, ratio: float) -> bool:
    """Deterministic, uniform keep/drop decision for arrival ``idx``."""
    if ratio >= 1.0:
        return True
    return ((idx * _HASH_MULT) & _MASK) < ratio * 2.0**64


class RequestCollector:
    """Makes raw request points for one writer (one worker)."""

    def __init__(
        self,
        *,
        run_id: str,
        scenario: str,
        worker: str,
        endpoint: str = "",
        model: str = "",
        sample_ratio: float = 1.0,
    ) -> None:
        self.sample_ratio = sample_ratio
        self._weight = 1.0 / sample_ratio
        self._base_tags = schema.run_tags(run_id=run_id, scenario=scenario, worker=worker, endpoint=endpoint,
                                          model=model)
        self._recent: set[int] = set()
        self._order: deque[int] = deque()
        self.sampled_out = 0

    def _unique_time(self, t: int) -> int:
        while t in self._recent:
            t += 1
        self._recent.add(t)
        self._order.append(t)
        if len(self._order) > _RECENT:
            self._recent.discard(self._order.popleft())
        return t

    def point(self, rec: RequestRecord) -> Point | None:
        """The raw point of ``rec``, or None when sampling leaves it out."""
        if not sampled(rec.idx, self.sample_ratio):
            self.sampled_out += 1
            return None
        off = rec.wall_offset_ns
        tags = dict(self._base_tags)
        tags[schema.T_PHASE.name] = rec.phase
        tags[schema.T_CLASS.name] = rec.traffic_class
        tags[schema.T_STATUS_CLASS.name] = status_class(rec.status)
        tags[schema.T_ERROR.name] = rec.error.value if rec.error is not None else schema.ERROR_OK
        f: dict[str, float] = {
            schema.F_IDX.name: float(rec.idx),
            schema.F_SCHEDULED.name: (rec.scheduled_ns + off) / 1e9,
            schema.F_SENT.name: (rec.sent_ns + off) / 1e9,
            schema.F_SCHEDULE_LAG.name: rec.schedule_lag_s,
            schema.F_OUTPUT_TOKENS.name: float(rec.n_output_tokens),
            schema.F_STATUS.name: float(rec.status or 0),
            schema.F_OK.name: 1.0 if rec.ok else 0.0,
            schema.F_SAMPLE_WEIGHT.name: self._weight,
        }
        if rec.prompt_tokens is not None:
            f[schema.F_PROMPT_TOKENS.name] = float(rec.prompt_tokens)
        for field, value in (
            (schema.F_TTFT, rec.ttft_s),
            (schema.F_TTFT_SCHED, rec.ttft_sched_s),
            (schema.F_TTFRT, rec.ttfrt_s),
            (schema.F_TPOT, rec.tpot_s),
            (schema.F_E2E, rec.e2e_s),
            (schema.F_E2E_SCHED, rec.e2e_sched_s),
        ):
            if value is not None:
                f[field.name] = value
        t = rec.token_ns
        if len(t) >= 2:
            gaps = [t[i] - t[i - 1] for i in range(1, len(t))]
            f[schema.F_ITL_MEAN.name] = sum(gaps) / len(gaps) / 1e9
            f[schema.F_ITL_MAX.name] = max(gaps) / 1e9
        if rec.server_timing:
            for key, value in rec.server_timing.items():
                name = SERVER_TIMING_KEYS.get(key)
                if name is not None:
                    f[name] = float(value)
            e2e = rec.e2e_s
            server_s = f.get(schema.F_SERVER_E2E.name)
            if server_s is None and schema.F_SERVER_INFERENCE.name in f:
                server_s = f[schema.F_SERVER_INFERENCE.name] + f.get(schema.F_SERVER_QUEUE.name, 0.0)
            if e2e is not None and server_s is not None:
                f[schema.F_CLIENT_OVERHEAD.name] = e2e - server_s
        return Point(schema.REQUEST.name, tags, f, self._unique_time(rec.scheduled_ns + off))


__all__ = ["SERVER_TIMING_KEYS", "RequestCollector", "sampled", "status_class"]
