"""Every YAML file in examples/ is checked: scenarios validate through the same
``load_scenario()`` (and plan) the CLI uses; any other YAML must be classified here with a reason,
so a new file cannot slip in untested (inference-perf's test_yaml_configs habit)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from loadgen.config import load_scenario
from loadgen.plan import Plan

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
YAMLS = sorted([*EXAMPLES.rglob("*.yaml"), *EXAMPLES.rglob("*.yml")])

# path relative to examples/ -> why it is not a scenario (and what checks it)
NON_SCENARIO: dict[str, str] = {
    "sim.yaml": "gpusim configuration (`inferload sim --config`), validated by gpusim's own tests",
}
SCENARIOS = [p for p in YAMLS if p.relative_to(EXAMPLES).as_posix() not in NON_SCENARIO]
REQUIRED = {"quickstart.yaml", "five_phases.yaml", "soak.yaml", "distributed.yaml"}


def test_required_examples_exist() -> None:
    assert {p.name for p in SCENARIOS} >= REQUIRED


def test_non_scenario_entries_exist_and_parse() -> None:
    for rel in NON_SCENARIO:
        path = EXAMPLES / rel
        assert path.is_file(), f"NON_SCENARIO lists {rel}, which no longer exists"
        yaml.safe_load(path.read_text())


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_example_scenario_validates_and_plans(path: Path) -> None:
    try:
        scenario = load_scenario(path)
    except Exception as err:  # the message says how to fix the test, too
        pytest.fail(f"{path.name} does not validate as a scenario ({err}); if it is not a scenario, "
                    f"add it to NON_SCENARIO in {Path(__file__).name} with a reason")
    plan = Plan(scenario)
    assert plan.duration_s > 0 and plan.expected_total() > 0
    assert next(plan.arrivals(), None) is not None


def test_quickstart_targets_local_gpusim_and_leaves_model_to_the_server() -> None:
    sc = load_scenario(EXAMPLES / "quickstart.yaml")
    assert sc.target.base_url == "http://127.0.0.1:8000"
    assert sc.target.model is None


def test_five_phase_example_order() -> None:
    sc = load_scenario(EXAMPLES / "five_phases.yaml")
    assert [p.kind for p in sc.phases] == ["warmup", "steady", "burst", "peak", "cooldown"]
    assert [p.arrivals.process for p in sc.phases] == ["poisson", "poisson", "gamma", "spike", "ramp"]
