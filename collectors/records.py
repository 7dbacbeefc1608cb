"""One request's measured timeline: the record every other part of inferload reads.

The load generator (``loadgen``) fills a :class:`RequestRecord` per arrival; the request
collector turns it into InfluxDB points and the HDR aggregation into histograms.  It lives in
``collectors`` because ``collectors`` must never import ``loadgen`` (a GPU host runs the
collectors alone), while ``loadgen`` may import ``collectors``.

All ``*_ns`` instants are on the worker's monotonic clock (``time.monotonic_ns``/``perf_counter``
domain chosen by the client); ``wall_offset_ns`` converts them to Unix time:
``wall_ns = mono_ns + wall_offset_ns``.  Derived latencies are in seconds.  Formulas are
documented in docs/metrics.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ErrorClass(StrEnum):
    """Why a request did not complete normally.  ``None`` on a record means success."""

    CONNECT = "connect_error"
    TIMEOUT = "timeout"
    HTTP_4XX = "http_4xx"
    HTTP_429 = "http_429"
    HTTP_5XX = "http_5xx"
    RESET = "reset_mid_stream"
    TRUNCATED = "truncated"  # stream ended without ``data: [DONE]``
    MALFORMED = "malformed_chunk"
    CANCELLED = "cancelled"  # still in flight when the run stopped and was cancelled
    GENERATOR = "generator_fault"  # an exception inside the load generator: ours, not the target's


_NS = 1e-9


@dataclass(slots=True)
class RequestRecord:
    """Everything measured about one request.  Mutable while the request runs."""

    idx: int  # global arrival index (stable across worker counts)
    phase: str  # phase of the *scheduled* time
    traffic_class: str
    worker: str
    scheduled_ns: int  # when the arrival process said to send
    sent_ns: int = 0  # when the request was actually written to the socket
    first_byte_ns: int | None = None
    first_token_ns: int | None = None  # first chunk with non-empty content (not role-only)
    first_reasoning_ns: int | None = None  # first chunk with non-empty reasoning content
    token_ns: list[int] = field(default_factory=list)  # arrival of every content-bearing chunk
    end_ns: int | None = None  # response complete ([DONE] / body end) or failure time
    prompt_tokens: int | None = None  # usage.prompt_tokens when the server sent it
    planned_prompt_tokens: int | None = None  # the prompt length the plan asked for (fallback)
    output_tokens: int | None = None
    tokens_from_usage: bool = False  # False: output_tokens counted from content chunks (fallback)
    finish_reason: str | None = None
    status: int | None = None  # HTTP status
    error: ErrorClass | None = None
    error_detail: str = ""
    server_timing: dict[str, float] = field(default_factory=dict)  # per-request server metrics (s)
    wall_offset_ns: int = 0
    request_id: str = ""

    # ---- derived -------------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def schedule_lag_s(self) -> float:
        """Send time minus scheduled time: the generator's own lateness."""
        return (self.sent_ns - self.scheduled_ns) * _NS

    @property
    def ttft_s(self) -> float | None:
        if self.first_token_ns is None:
            return None
        return (self.first_token_ns - self.sent_ns) * _NS

    @property
    def ttft_sched_s(self) -> float | None:
        """TTFT counted from the scheduled time (no coordinated omission)."""
        if self.first_token_ns is None:
            return None
        return (self.first_token_ns - self.scheduled_ns) * _NS

    @property
    def ttfrt_s(self) -> float | None:
        """Time to first reasoning token."""
        if self.first_reasoning_ns is None:
            return None
        return (self.first_reasoning_ns - self.sent_ns) * _NS

    @property
    def e2e_s(self) -> float | None:
        if self.end_ns is None:
            return None
        return (self.end_ns - self.sent_ns) * _NS

    @property
    def e2e_sched_s(self) -> float | None:
        if self.end_ns is None:
            return None
        return (self.end_ns - self.scheduled_ns) * _NS

    @property
    def itl_s(self) -> list[float]:
        """Gaps between successive content-bearing chunks, in seconds."""
        t = self.token_ns
        return [(t[i] - t[i - 1]) * _NS for i in range(1, len(t))]

    @property
    def n_output_tokens(self) -> int:
        """Output tokens: ``usage.completion_tokens`` when the server sent it, else chunk count."""
        if self.output_tokens is not None:
            return self.output_tokens
        return len(self.token_ns)

    @property
    def n_prompt_tokens(self) -> int:
        """Prompt tokens: ``usage.prompt_tokens`` when the server sent it, else the planned count."""
        if self.prompt_tokens is not None:
            return self.prompt_tokens
        return self.planned_prompt_tokens or 0

    @property
    def tpot_s(self) -> float | None:
        """TPOT = (E2E - TTFT) / (output tokens - 1); None below 2 tokens."""
        n = self.n_output_tokens
        e2e, ttft = self.e2e_s, self.ttft_s
        if n < 2 or e2e is None or ttft is None:
            return None
        return (e2e - ttft) / (n - 1)

    def wall_ns(self, mono_ns: int) -> int:
        return mono_ns + self.wall_offset_ns


__all__ = ["ErrorClass", "RequestRecord"]
