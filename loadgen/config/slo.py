"""The ``slo:`` section: latency objectives and an error-rate bound judged over chosen phases."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from userinput.durations import Seconds
from userinput.strict import StrictModel

SloMetric = Literal["ttft", "ttft_sched", "itl", "tpot", "e2e", "e2e_sched"]


class SloObjective(StrictModel):
    metric: SloMetric
    percentile: float = Field(gt=0, lt=100, description="e.g. 99 for p99")
    max_ms: float = Field(gt=0, allow_inf_nan=False, description="milliseconds")


class SloLiveConfig(StrictModel):
    """Live SLO evaluation in the master (rolling windows; needs a ``sinks:`` section)."""

    windows: list[Seconds] = Field(
        default_factory=lambda: [60.0, 300.0], min_length=1, max_length=4,
        description="rolling windows, seconds or '1m', '5m'; the first opens and closes violations",
    )
    min_requests: int = Field(default=10, ge=1, description="a window with fewer requests is not judged")

    @field_validator("windows")
    @classmethod
    def _positive_and_unique(cls, v: list[float]) -> list[float]:
        for w in v:
            if w <= 0:
                raise ValueError(f"windows must be > 0 seconds (got {w:g})")
        if len(set(v)) != len(v):
            raise ValueError("windows must be different from each other")
        return v


class SloConfig(StrictModel):
    objectives: list[SloObjective] = Field(default_factory=list)
    max_error_rate: float = Field(default=0.01, ge=0, le=1, description="fraction of requests")
    phases: list[str] | None = Field(
        default=None, description="phases judged (default: every phase whose kind is not warmup/cooldown)"
    )
    confidence: float | None = Field(
        default=None, gt=0, lt=1,
        description="judge each percentile on the upper bound of its distribution-free interval at this level "
        "(e.g. 0.95); default: the point estimate is judged and the 95 % interval shown",
    )
    live: SloLiveConfig = Field(default_factory=SloLiveConfig, description="rolling-window evaluation in the master")
    windows: list[Seconds] = Field(
        default_factory=list, max_length=3,
        description="also judge every consecutive window of this length (e.g. '1h') of the judged phases; "
        "the summary lists each violating window and the exit code fails on any of them",
    )

    @field_validator("windows")
    @classmethod
    def _windows_positive_and_unique(cls, v: list[float]) -> list[float]:
        for w in v:
            if w < 1:
                raise ValueError(f"windows must be >= 1 second (got {w:g})")
        if len(set(v)) != len(v):
            raise ValueError("windows must be different from each other")
        return v


__all__ = ["SloConfig", "SloLiveConfig", "SloMetric", "SloObjective"]
