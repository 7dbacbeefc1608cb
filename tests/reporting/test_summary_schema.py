"""docs/summary.schema.json describes what loadgen/report.py writes (versioned: inferload.summary/N)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from loadgen.report import SUMMARY_SCHEMA
from tests.reporting.synth import make_run

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "summary.schema.json"


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return make_run(tmp_path_factory.mktemp("schema") / "run", seed=2, error_rate=0.05, gpus=0, buckets=0)


def test_version_matches_the_writer(validator: Draft202012Validator) -> None:
    assert validator.schema["properties"]["schema"]["const"] == SUMMARY_SCHEMA == validator.schema["$id"]


def test_a_written_summary_validates(validator: Draft202012Validator, summary: dict[str, Any]) -> None:
    errors = sorted(validator.iter_errors(summary), key=lambda e: e.json_path)
    assert not errors, [f"{e.json_path}: {e.message}" for e in errors[:5]]


def test_summary_with_slo_confidence_validates(validator: Draft202012Validator, tmp_path: Path) -> None:
    s = make_run(tmp_path / "run", seed=5, gpus=0, buckets=0, confidence=0.95)
    assert s["slo"]["confidence"] == 0.95 and s["slo"]["objectives"][0]["judged_on"] == "upper_bound"
    assert not list(validator.iter_errors(s))


@pytest.mark.parametrize("breakage", ["drop_verdict", "bad_ci", "wrong_version", "negative_count"])
def test_the_schema_rejects_broken_summaries(validator: Draft202012Validator, summary: dict[str, Any], breakage: str) -> None:
    s = copy.deepcopy(summary)
    lat = s["phases"]["steady"]["latency"]["ttft"]
    if breakage == "drop_verdict":
        del s["verdict"]
    elif breakage == "bad_ci":
        lat["p99_ci_ms"] = [1.0]
    elif breakage == "wrong_version":
        s["schema"] = "inferload.summary/0"
    else:
        lat["count"] = -1
    assert list(validator.iter_errors(s))
