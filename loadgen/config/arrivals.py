"""Configuration of a phase's arrival process (``phases[i].arrivals``), discriminated on
``process``.  Rates are requests per second; the processes themselves (definitions and
generators) live in :mod:`loadgen.arrivals`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from userinput.durations import Rate, Rate0, Seconds, located
from userinput.paths import ExistingFile
from userinput.strict import StrictModel


class PoissonArrivals(StrictModel):
    process: Literal["poisson"]
    rate: Rate


class GammaArrivals(StrictModel):
    process: Literal["gamma"]
    rate: Rate
    burstiness: float = Field(gt=0, allow_inf_nan=False, description="gamma shape; 1 = Poisson, <1 burstier")


class ConstantArrivals(StrictModel):
    process: Literal["constant"]
    rate: Rate


class OnOffArrivals(StrictModel):
    process: Literal["onoff"]
    rate_on: Rate
    rate_off: Rate0 = 0.0
    on_s: Seconds = Field(gt=0, description="mean ON sojourn (exponential)")
    off_s: Seconds = Field(gt=0, description="mean OFF sojourn (exponential)")


class SpikeArrivals(StrictModel):
    process: Literal["spike"]
    base_rate: Rate0
    spike_rate: Rate
    every_s: Seconds = Field(gt=0, description="period between spike starts")
    spike_s: Seconds = Field(gt=0, description="length of each spike")
    offset_s: Seconds = Field(default=0.0, ge=0, description="first spike starts this long into the phase")

    @model_validator(mode="after")
    def _fits(self) -> SpikeArrivals:
        if self.spike_s > self.every_s:
            raise located("spike_s", f"must be <= every_s (got spike_s={self.spike_s:g}, every_s={self.every_s:g})")
        return self


class RampArrivals(StrictModel):
    process: Literal["ramp"]
    from_rate: Rate0
    to_rate: Rate0

    @model_validator(mode="after")
    def _not_both_zero(self) -> RampArrivals:
        if self.from_rate == 0 and self.to_rate == 0:
            raise ValueError("from_rate and to_rate cannot both be 0")
        return self


class TraceArrivals(StrictModel):
    process: Literal["trace"]
    file: ExistingFile = Field(description="one timestamp (s) per line, or JSONL objects with 'timestamp'")
    time_scale: float = Field(default=1.0, gt=0, allow_inf_nan=False, description="2 = replay twice as slow")


class ConcurrencyArrivals(StrictModel):
    """Closed loop, for comparison only: ``users`` loops each send the next request on completion."""

    process: Literal["concurrency"]
    users: int = Field(gt=0)


ArrivalConfig = Annotated[
    PoissonArrivals
    | GammaArrivals
    | ConstantArrivals
    | OnOffArrivals
    | SpikeArrivals
    | RampArrivals
    | TraceArrivals
    | ConcurrencyArrivals,
    Field(discriminator="process"),
]

__all__ = [
    "ArrivalConfig",
    "ConcurrencyArrivals",
    "ConstantArrivals",
    "GammaArrivals",
    "OnOffArrivals",
    "PoissonArrivals",
    "RampArrivals",
    "SpikeArrivals",
    "TraceArrivals",
]
