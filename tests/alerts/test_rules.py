"""The Prometheus alert rules (dashboards/alerts/): generated, valid, unit-tested with promtool,
and every metric they read is one the master exposes (declared in collectors/schema.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from collectors import schema
from dashboards import alerts_build

HERE = Path(__file__).resolve().parent
RULES = [alerts_build.ALERTS_DIR / p.file for p in alerts_build.PROFILES]


def promtool() -> str:
    exe = shutil.which("promtool")
    assert exe, "promtool is missing: tests/run.sh installs Debian's prometheus package"
    return exe


def test_committed_rule_files_are_what_the_generator_writes(tmp_path: Path) -> None:
    assert alerts_build.main(["--check"]) == 0
    assert alerts_build.main(["--dir", str(tmp_path)]) == 0
    (tmp_path / alerts_build.PROFILES[0].file).write_text("stale", encoding="utf-8")
    assert alerts_build.main(["--check", "--dir", str(tmp_path)]) == 1


def test_promtool_check_rules() -> None:
    out = subprocess.run([promtool(), "check", "rules", *map(str, RULES)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_unit_tests() -> None:
    tests = sorted(HERE.glob("*.test.yaml"))
    assert len(tests) >= 2
    out = subprocess.run([promtool(), "test", "rules", *map(str, tests)], capture_output=True, text=True,
                         timeout=120, cwd=HERE)
    assert out.returncode == 0, out.stdout + out.stderr


def _rules(path: Path) -> list[dict[str, object]]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [r for g in doc["groups"] for r in g["rules"]]


def test_every_metric_the_rules_read_is_declared() -> None:
    declared = {getattr(schema, n) for n in schema.__all__ if n.startswith("PROM_")}
    declared |= {schema.GF_GPU_UTIL.name, "up"}
    for path in RULES:
        rules = _rules(path)
        recorded = {str(r["record"]) for r in rules if "record" in r}
        for r in rules:
            expr = str(r["expr"])
            names = set(re.findall(r"\b(inferload[a-z_:0-9]*|DCGM_[A-Z_]+)\b", expr))
            assert names, expr
            assert names <= declared | recorded, (path.name, names - declared - recorded)


def test_slo_alerts_carry_the_run_labels_and_profiles_differ_only_in_windows() -> None:
    normal, compressed = (_rules(p) for p in RULES)
    assert [r.get("alert", r.get("record")) for r in normal] == [r.get("alert", r.get("record")) for r in compressed]
    for a, b in zip(normal, compressed, strict=True):
        norm = re.sub(r"\[[0-9a-z]+\]", "[W]", str(a["expr"]))
        comp = re.sub(r"\[[0-9a-z]+\]", "[W]", str(b["expr"]))
        assert norm == comp, a
    page = next(r for r in compressed if r.get("alert") == "InferloadSLOBurnRatePage")
    assert page["for"] == "2s" and "[5s]" in str(next(
        r for r in compressed if r.get("record") == "inferload:slo_bad_ratio:rate5m")["expr"])
    for r in normal:
        if "record" in r and "bad_ratio" in str(r["record"]):
            assert "sum by (run_id, scenario, phase, objective)" in str(r["expr"])


@pytest.mark.parametrize(("text", "seconds"), [("5m", 300), ("1h", 3600), ("1h30m", 5400), ("6h", 21600)])
def test_durations(text: str, seconds: int) -> None:
    assert alerts_build.parse(text) == seconds and alerts_build.fmt(seconds) == text
