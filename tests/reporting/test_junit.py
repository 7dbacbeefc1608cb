"""JUnit XML of a run's SLO verdict (``inferload run --junit``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from loadgen.reporting.junit import run_junit, write
from tests.reporting.synth import Obj, make_run


def test_one_case_per_objective_with_failures(tmp_path: Path) -> None:
    s = make_run(tmp_path / "run", seed=1, gpus=0, buckets=0,
                 objectives=[Obj("ttft", 99, 5), Obj("e2e", 50, 10_000)])
    path = tmp_path / "out" / "junit.xml"
    write(run_junit(s), path)
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"ttft p99 <= 5 ms", "e2e p50 <= 10000 ms", "error rate <= 0.01",
                          "run is valid (load generator kept up)"}
    assert suite.get("tests") == "4" and suite.get("failures") == "1"
    failure = cases["ttft p99 <= 5 ms"].find("failure")
    assert failure is not None and "ms" in (failure.get("message") or "")
    assert cases["e2e p50 <= 10000 ms"].find("failure") is None


def test_invalid_run_is_a_failed_case(tmp_path: Path) -> None:
    s = make_run(tmp_path / "run", seed=1, gpus=0, buckets=0)
    s["valid"] = False
    s["verdict"] = {"exit_code": 3, "rule": "invalid run: generator fell behind", "reasons": []}
    suite = run_junit(s).find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
