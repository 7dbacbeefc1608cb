"""``inferload validate`` and ``inferload plan`` through the real CLI dispatcher."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadgen.cli import main

DATA = Path(__file__).resolve().parents[1] / "testdata" / "scenarios"


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(DATA / "good" / "all_processes.yaml")]) == 0
    out = capsys.readouterr().out
    assert out == "OK: all-processes: 9 phases, ~1783 requests over 210 s (+1 closed-loop phase)\n"


def test_validate_with_set(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(DATA / "good" / "dataset_jsonl.yaml")
    assert main(["validate", path, "--set", "phases.0.arrivals.rate=10", "--set", "name=x"]) == 0
    assert capsys.readouterr().out == "OK: x: 1 phase, ~300 requests over 30 s\n"


def test_validate_errors_exit_2_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / "bad" / "bad_literal.yaml"
    assert main(["validate", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert f"{path}:3 target.api: must be one of" in captured.err
    assert captured.err.count("\n") == 7  # one line per problem


def test_validate_checks_referenced_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.txt").write_text("1\nxyz\n")
    (tmp_path / "s.yaml").write_text(
        "target: {base_url: 'http://h'}\nworkload: {prompt_tokens: 1, output_tokens: 1}\n"
        "phases: [{name: p, duration: 5, arrivals: {process: trace, file: t.txt}}]\n"
    )
    assert main(["validate", str(tmp_path / "s.yaml")]) == 2
    assert f"{tmp_path / 't.txt'}:2: not a number" in capsys.readouterr().err


def test_plan_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(DATA / "good" / "all_processes.yaml"), "--first", "4", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["scenario"] == "all-processes" and doc["duration_s"] == 210
    assert [p["name"] for p in doc["phases"]][:3] == ["warmup", "ramp", "steady"]
    assert doc["phases"][7]["closed_loop_users"] == 4
    assert [a["offset_s"] for a in doc["first_arrivals"]] == [0.0, 0.5, 1.0, 1.5]  # constant 2/s
    assert [a["idx"] for a in doc["first_arrivals"]] == [0, 1, 2, 3]


def test_plan_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(DATA / "good" / "all_processes.yaml"), "--first", "3"]) == 0
    out = capsys.readouterr().out
    for text in ("gamma(rate=10/s, burstiness=0.25)", "closed loop, 4 users", "1,783", "first 3 arrivals"):
        assert text in out


def test_plan_bad_file_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(DATA / "bad" / "rate_zero.yaml")]) == 2
    assert "phases[1].arrivals.rate: must be > 0 (got 0)" in capsys.readouterr().err


def test_validate_warns_about_an_unavailable_api_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INFERLOAD_TEST_KEY", raising=False)
    assert main(["validate", str(DATA / "good" / "all_processes.yaml")]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("OK: all-processes")
    assert "warning: target.api_key_env: environment variable INFERLOAD_TEST_KEY is not set" in captured.err
    monkeypatch.setenv("INFERLOAD_TEST_KEY", "k")
    assert main(["validate", str(DATA / "good" / "all_processes.yaml")]) == 0
    assert capsys.readouterr().err == ""
