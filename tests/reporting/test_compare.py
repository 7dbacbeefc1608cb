"""``inferload compare``: changes per phase, significance, --fail-on-regression, JUnit, HTML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from loadgen.cli import main as cli
from loadgen.reporting.compare import compare, parse_bounds
from loadgen.reporting.runfolder import read_run
from tests.reporting.synth import DEFAULT_PHASES, SynthPhase, make_run
from userinput.errors import InputError


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cmp")
    out = {}
    for name, kw in {"base": {"seed": 1}, "same": {"seed": 2}, "slow": {"seed": 3, "latency_scale": 1.25},
                     "errors": {"seed": 4, "error_rate": 0.08}}.items():
        make_run(root / name, **kw)  # type: ignore[arg-type]
        out[name] = root / name
    faster = [SynthPhase(p.name, p.kind, p.duration_s, p.rate * (2 if p.kind == "steady" else 1)) for p in DEFAULT_PHASES]
    make_run(root / "other_rate", seed=5, phases=faster)
    out["other_rate"] = root / "other_rate"
    return out


def test_same_model_is_within_noise(runs: dict[str, Path]) -> None:
    c = compare(read_run(runs["base"]), read_run(runs["same"]), parse_bounds("5%"))
    lat = [r for r in c.rows if r.metric.startswith(("ttft", "e2e")) and r.phase == "overall"]
    assert lat and all(r.test is not None and r.test.p_value is not None for r in lat)
    assert not c.regressions and not c.op_differences


def test_a_25_percent_slowdown_is_a_significant_regression(runs: dict[str, Path]) -> None:
    c = compare(read_run(runs["base"]), read_run(runs["slow"]), parse_bounds("5%"))
    row = next(r for r in c.rows if r.phase == "steady" and r.metric == "e2e_p50")
    assert row.relative is not None and 0.15 < row.relative < 0.35
    assert row.significant and row.regression
    # a bound above the change: no regression, though still significant
    c2 = compare(read_run(runs["base"]), read_run(runs["slow"]), parse_bounds("50%"))
    assert not c2.regressions


def test_error_rate_increase_from_zero_is_a_regression(runs: dict[str, Path]) -> None:
    c = compare(read_run(runs["base"]), read_run(runs["errors"]), parse_bounds("error_rate=1%"))
    row = next(r for r in c.rows if r.phase == "overall" and r.metric == "error_rate")
    assert row.significant and row.regression and row.to_dict()["relative_unbounded"]
    assert all(r.metric == "error_rate" for r in c.regressions)  # latency has no bound: never judged


def test_operating_point_differences_come_first(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["compare", str(runs["base"]), str(runs["other_rate"])]) == 0
    out = capsys.readouterr().out
    assert "operating points differ" in out and "phase steady process: 'poisson(rate=10/s)' -> 'poisson(rate=20/s)'" in out
    assert out.index("operating points differ") < out.index("baseline")


def test_cli_exit_codes_junit_json_and_html(runs: dict[str, Path], tmp_path: Path) -> None:
    junit, js, page = tmp_path / "c.xml", tmp_path / "c.json", tmp_path / "c.html"
    rc = cli(["compare", str(runs["base"]), str(runs["same"]), str(runs["slow"]), "--fail-on-regression", "5%",
              "--junit", str(junit), "--json", str(js), "--out", str(page)])
    assert rc == 1
    root = ET.parse(junit).getroot()
    suites = root.findall("testsuite")
    assert len(suites) == 2 and suites[0].get("failures") == "0" and int(suites[1].get("failures", "0")) > 0
    failure = suites[1].find("testcase/failure")
    assert failure is not None and "regression beyond 5.0%" in (failure.get("message") or "")
    data = json.loads(js.read_text())
    assert [c["regressions"] > 0 for c in data["comparisons"]] == [False, True]
    text = page.read_text()
    assert "Mann–Whitney" in text and text.count("<svg") == 3 and "REGRESSION" in text
    assert cli(["compare", str(runs["base"]), str(runs["same"]), "--fail-on-regression", "5%"]) == 0


@pytest.mark.parametrize(("spec", "msg"), [("e2e_p98=5%", "unknown metric"), ("five", "not a bound"), ("-1%", ">= 0")])
def test_bad_bounds_are_input_errors(spec: str, msg: str) -> None:
    with pytest.raises(InputError, match=msg):
        parse_bounds(spec)


def test_bad_input_exits_2(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["compare", str(runs["base"])]) == 2
    assert cli(["compare", str(runs["base"]), str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "at least two run folders" in err and "not a run folder" in err and "Traceback" not in err


def test_bounds_parse() -> None:
    assert parse_bounds("5%") == (0.05, {})
    assert parse_bounds("e2e_p99=10%, error_rate=0.01,2%") == (0.02, {"e2e_p99": 0.1, "error_rate": 0.01})
