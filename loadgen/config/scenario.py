"""The root model of a scenario file and its ``generator:`` section.

Validated once from the root (never section by section) so every error carries its full YAML
path; cross-section rules (unique phase names, SLO phases that exist) live here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from collectors.sinks.config import SinksConfig
from loadgen.config.phases import PhaseConfig
from loadgen.config.slo import SloConfig
from loadgen.config.target import TargetConfig
from loadgen.config.workload import WorkloadConfig
from userinput.durations import Seconds, located
from userinput.strict import StrictModel

UNJUDGED_KINDS = frozenset({"warmup", "cooldown"})


class GeneratorConfig(StrictModel):
    """Health limits of the load generator itself (a run that falls behind exits 3)."""

    max_schedule_lag_p99_ms: float = Field(default=50.0, gt=0, description="p99 send - scheduled")
    max_cpu_percent: float = Field(default=90.0, gt=0, le=100, description="per worker process")
    stop_timeout_s: Seconds = Field(default=30.0, ge=0, description="drain time for in-flight streams")
    checkpoint_interval_s: Seconds = Field(default=300.0, gt=0, description="master checkpoint period (docs/soak.md)")
    connections: int | None = Field(default=None, gt=0, description="connection pool size (default derived)")


class ObjectiveConfig(StrictModel):
    """What the run is for; every report opens with it (``objective: latency`` is short for ``{goal: latency}``)."""

    goal: Literal["latency", "throughput", "capacity"]
    intent: str = Field(default="", max_length=300, description="one sentence: what the run should show")


class Scenario(StrictModel):
    name: str = Field(default="scenario", min_length=1, description="default: the file name's stem")
    objective: ObjectiveConfig | None = None
    seed: int = Field(default=0, ge=0, description="0 is a valid seed")
    target: TargetConfig
    workload: WorkloadConfig
    phases: list[PhaseConfig] = Field(min_length=1)
    max_inflight: int | None = Field(default=None, gt=0, description="None: unbounded")
    slo: SloConfig | None = None
    generator: GeneratorConfig = GeneratorConfig()
    sinks: SinksConfig | None = None
    source_path: Path | None = Field(default=None, exclude=True, repr=False)

    @field_validator("objective", mode="before")
    @classmethod
    def _objective_short_form(cls, v: Any) -> Any:
        return {"goal": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        names: dict[str, int] = {}
        for i, phase in enumerate(self.phases):
            if phase.name in names:
                raise located(f"phases[{i}].name", f"duplicate phase name {phase.name!r} (also phases[{names[phase.name]}])")
            names[phase.name] = i
        if self.slo is not None and self.slo.phases is not None:
            for i, name in enumerate(self.slo.phases):
                if name not in names:
                    raise located(
                        f"slo.phases[{i}]",
                        f"no phase named {name!r} in phases[].name (phases: {', '.join(names)})",
                    )
        return self

    def slo_phases(self) -> list[str]:
        """Names of the phases the SLO is judged over."""
        if self.slo is not None and self.slo.phases is not None:
            return list(self.slo.phases)
        return [p.name for p in self.phases if p.kind not in UNJUDGED_KINDS]

    def phase_max_inflight(self, phase: PhaseConfig) -> int | None:
        return phase.max_inflight if phase.max_inflight is not None else self.max_inflight


__all__ = ["UNJUDGED_KINDS", "GeneratorConfig", "ObjectiveConfig", "Scenario"]
