"""Real scenario models for tests: only shapes a user can write in a scenario file.

:func:`scenario` validates a small scenario (one steady Poisson phase) through the same strict
models as ``inferload validate``, with the given sections replaced or merged, so a test cannot
hand the code an object the scenario file could never produce.
"""

from __future__ import annotations

from typing import Any, get_args

from loadgen.config import Scenario, SloMetric, SloObjective, TargetConfig
from loadgen.openai.stream import Api
from loadgen.plan import Arrival

APIS: dict[str, Api] = {name: name for name in get_args(Api)}  # an API name from test data, checked

BASE: dict[str, Any] = {
    "name": "test",
    "target": {"base_url": "http://127.0.0.1:9", "model": "m1"},
    "workload": {"prompt_tokens": 8, "output_tokens": 16},
    "phases": [{"name": "steady", "duration": "2s", "arrivals": {"process": "poisson", "rate": 5}}],
}


def scenario(**sections: Any) -> Scenario:
    """The base scenario with top-level sections replaced (``phases=[...]``) or, for dict
    sections, merged key by key (``target={"api": "completions"}``)."""
    data = dict(BASE)
    for key, value in sections.items():
        old = data.get(key)
        data[key] = {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
    return Scenario.model_validate(data)


def target(base_url: str, *, read_s: float = 5.0, connect_s: float = 2.0, total_s: float = 30.0,
           **fields: Any) -> TargetConfig:
    """A validated ``target:`` section for the client tests."""
    timeouts = {"connect_s": connect_s, "read_s": read_s, "total_s": total_s}
    return TargetConfig.model_validate({"base_url": base_url, "model": "m1", "timeouts": timeouts, **fields})


def objective(metric: SloMetric, percentile: float, max_ms: float) -> SloObjective:
    """One ``slo.objectives`` entry."""
    return SloObjective(metric=metric, percentile=percentile, max_ms=max_ms)


def arrival(idx: int = 7, *, output_tokens: int = 64, traffic_class: str = "default",
            prompt_tokens: int = 8) -> Arrival:
    """One arrival of the plan's global sequence (phase ``steady``)."""
    return Arrival(idx=idx, offset_s=0.0, phase="steady", phase_index=0, traffic_class=traffic_class,
                   prompt_tokens=prompt_tokens, output_tokens=output_tokens, prompt_row=None)


__all__ = ["APIS", "BASE", "arrival", "objective", "scenario", "target"]
