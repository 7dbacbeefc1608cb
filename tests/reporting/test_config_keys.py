"""The scenario keys this feature adds: ``objective:`` and ``slo.confidence``."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadgen.config import load_scenario
from userinput.errors import InputError

BASE = """name: x
target: {base_url: "http://127.0.0.1:8000", model: m}
workload: {prompt_tokens: 10, output_tokens: 10}
phases: [{name: a, duration: 1s, arrivals: {process: poisson, rate: 1}}]
"""


def _load(tmp_path: Path, extra: str) -> object:
    f = tmp_path / "s.yaml"
    f.write_text(BASE + extra)
    return load_scenario(str(f), [])


def test_objective_short_and_long_forms(tmp_path: Path) -> None:
    s = _load(tmp_path, "objective: capacity\n")
    assert s.objective is not None and s.objective.goal == "capacity"  # type: ignore[attr-defined]
    s = _load(tmp_path, "objective: {goal: latency, intent: p99 TTFT under 300 ms at 20 req/s}\n")
    assert s.objective.intent.startswith("p99 TTFT")  # type: ignore[attr-defined]


def test_bad_objective_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"s\.yaml:5 objective.*'latency', 'throughput' or 'capacity'"):
        _load(tmp_path, "objective: speed\n")


def test_slo_confidence(tmp_path: Path) -> None:
    s = _load(tmp_path, "slo: {objectives: [{metric: ttft, percentile: 99, max_ms: 100}], confidence: 0.95}\n")
    assert s.slo.confidence == 0.95  # type: ignore[attr-defined]
    with pytest.raises(InputError, match=r"slo\.confidence"):
        _load(tmp_path, "slo: {confidence: 95}\n")
