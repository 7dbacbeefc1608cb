"""One entry of ``phases:``: a named window of the run with its own arrival process.

Phases run back to back on one timeline starting at 0; ``duration`` is seconds or a string
(``"30s"``, ``"5m"``, ``"2h"``) and is stored as ``duration_s``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from loadgen.config.arrivals import ArrivalConfig
from userinput.durations import Seconds
from userinput.strict import StrictModel

PhaseKind = Literal["warmup", "ramp", "steady", "peak", "burst", "cooldown"]


class PhaseConfig(StrictModel):
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="unique; tags every sample")
    kind: PhaseKind = "steady"
    duration_s: Seconds = Field(alias="duration", gt=0, description="seconds, or '30s', '5m', '2h'")
    arrivals: ArrivalConfig
    max_inflight: int | None = Field(default=None, gt=0, description="overrides the scenario's max_inflight")


__all__ = ["PhaseConfig", "PhaseKind"]
