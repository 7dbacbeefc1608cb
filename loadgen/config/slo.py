"""The ``slo:`` section: latency objectives and an error-rate bound judged over chosen phases."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from userinput.strict import StrictModel

SloMetric = Literal["ttft", "ttft_sched", "itl", "tpot", "e2e", "e2e_sched"]


class SloObjective(StrictModel):
    metric: SloMetric
    percentile: float = Field(gt=0, lt=100, description="e.g. 99 for p99")
    max_ms: float = Field(gt=0, allow_inf_nan=False, description="milliseconds")


class SloConfig(StrictModel):
    objectives: list[SloObjective] = Field(default_factory=list)
    max_error_rate: float = Field(default=0.01, ge=0, le=1, description="fraction of requests")
    phases: list[str] | None = Field(
        default=None, description="phases judged (default: every phase whose kind is not warmup/cooldown)"
    )


__all__ = ["SloConfig", "SloMetric", "SloObjective"]
