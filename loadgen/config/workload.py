"""The ``workload:`` section: prompt and output lengths, an optional dataset, traffic classes.

Each arrival belongs to one traffic class, drawn with probability proportional to its
``weight``; a class may override the section's ``prompt_tokens`` / ``output_tokens``.  Without
``classes`` there is one class named ``default``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from loadgen.config.lengths import FixedLength, LengthDist
from userinput.durations import located
from userinput.paths import ExistingFile
from userinput.strict import StrictModel


class DatasetConfig(StrictModel):
    path: ExistingFile = Field(description="JSONL (one object per line) or ShareGPT JSON/JSONL")
    format: Literal["jsonl", "sharegpt"] = "jsonl"
    field: str | None = Field(
        default=None, description="jsonl: key holding the prompt (default: 'prompt', then 'text')"
    )


class TrafficClass(StrictModel):
    name: str = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0, allow_inf_nan=False, description="relative share of arrivals")
    priority: int | None = Field(default=None, description="sent as the request's 'priority' (vLLM)")
    prompt_tokens: LengthDist | None = None
    output_tokens: LengthDist | None = None


class WorkloadConfig(StrictModel):
    prompt_tokens: LengthDist = Field(description="synthetic prompt length (ignored for dataset prompts)")
    output_tokens: LengthDist = Field(description="max_tokens sent with each request")
    dataset: DatasetConfig | None = None
    ignore_eos: bool = Field(default=False, description="send ignore_eos (vLLM) so outputs run to max_tokens")
    min_tokens: bool = Field(default=False, description="send min_tokens = max_tokens")
    classes: list[TrafficClass] = Field(
        default_factory=lambda: [TrafficClass(name="default")], min_length=1
    )

    @model_validator(mode="after")
    def _unique_class_names(self) -> WorkloadConfig:
        seen: set[str] = set()
        for i, cls in enumerate(self.classes):
            if cls.name in seen:
                raise located(f"classes[{i}].name", f"duplicate class name {cls.name!r}")
            seen.add(cls.name)
        return self

    def prompt_dist(self, cls: TrafficClass) -> LengthDist:
        return cls.prompt_tokens if cls.prompt_tokens is not None else self.prompt_tokens

    def output_dist(self, cls: TrafficClass) -> LengthDist:
        return cls.output_tokens if cls.output_tokens is not None else self.output_tokens


__all__ = ["DatasetConfig", "FixedLength", "TrafficClass", "WorkloadConfig"]
