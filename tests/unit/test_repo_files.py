"""Deployment files stay in step with the code: every tracked YAML parses, every command they
run is an inferload sub-command, the k8s scenario validates, and the Grafana provisioning and
compose file point at files that exist."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadgen.cli import COMMANDS
from loadgen.config import load_scenario

ROOT = Path(__file__).resolve().parents[2]


def _tracked_yaml() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "*.yaml", "*.yml"], cwd=ROOT, capture_output=True, text=True)
    files = [ROOT / p for p in out.stdout.split()] if out.returncode == 0 else []
    files = files or sorted(ROOT.glob("**/*.yaml"))
    # the bad-scenario corpus is deliberately broken (tests/unit/test_config.py checks each message)
    return [p for p in files if "testdata/scenarios/bad" not in p.as_posix()]


@pytest.mark.parametrize("path", _tracked_yaml(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_tracked_yaml_parses(path: Path) -> None:
    docs = list(yaml.safe_load_all(path.read_text()))
    assert docs and all(d is not None for d in docs), f"{path} is empty"


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_services_run_real_subcommands_and_files() -> None:
    services = _compose()["services"]
    assert {"influxdb", "grafana", "gpusim", "master", "worker", "gpu-collector", "server-collector"} <= set(services)
    for name, svc in services.items():
        cmd = svc.get("command")
        if svc.get("image", "").startswith("inferload") or svc.get("build"):
            assert cmd and cmd[0] in COMMANDS, f"service {name} runs unknown command {cmd!r}"
    master_cmd = services["master"]["command"]
    scenario = master_cmd[1].replace("/scenarios/", "examples/")
    assert (ROOT / scenario).is_file(), f"compose master runs {scenario}, which does not exist"
    for vol in services["grafana"]["volumes"]:
        host = vol.split(":")[0]
        if host.startswith("./"):  # bind mounts (the rest are named volumes)
            assert (ROOT / host).is_dir(), f"grafana mounts {host}, which does not exist"


def test_k8s_manifests_run_real_subcommands() -> None:
    docs = [d for p in sorted((ROOT / "k8s").rglob("*.yaml")) for d in yaml.safe_load_all(p.read_text())]
    kinds = {d.get("kind") for d in docs if isinstance(d, dict)}
    assert {"Job", "Deployment", "DaemonSet", "Service", "Kustomization"} <= kinds
    for d in docs:
        spec = (d.get("spec") or {}).get("template", {}).get("spec", {}) if isinstance(d, dict) else {}
        for c in spec.get("containers", []):
            if c["image"].split(":")[0] != "inferload":
                continue  # InfluxDB, Grafana (k8s/components/stack)
            assert c["args"][0] in COMMANDS, f"{d['metadata']['name']} runs unknown command {c['args'][0]}"


def test_k8s_scenario_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    sc = load_scenario(ROOT / "k8s" / "base" / "scenario.yaml")
    assert sc.slo is not None and sc.phases


def test_kustomization_lists_existing_files() -> None:
    base = ROOT / "k8s" / "base"
    kust = yaml.safe_load((base / "kustomization.yaml").read_text())
    for res in kust["resources"]:
        assert (base / res).is_file(), res
    for gen in kust.get("configMapGenerator", []):
        for f in gen["files"]:
            assert (base / f).is_file(), f
