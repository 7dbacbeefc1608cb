"""Helpers for the deploy tests: find the tools, render the kustomizations, run docker-compose
config, and walk pod templates.  Tools (Debian's docker-compose, kubectl, promtool, amtool) are
installed by tests/run.sh; a missing one fails the test in CI and skips it elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.support import require_tool

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
COMPOSE = ROOT / "docker-compose.yml"
# every kustomization a user can apply
KUSTOMIZATIONS = ("base", "overlays/stack", "overlays/prometheus-operator", "overlays/vllm-example")
# the secrets docker-compose.yml must refuse to start without
COMPOSE_REQUIRED = (
    "INFERLOAD_INFLUX_TOKEN",
    "INFERLOAD_INFLUX_PASSWORD",
    "INFERLOAD_GRAFANA_PASSWORD",
    "INFERLOAD_ALERT_WEBHOOK_URL",
)
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet", "CronJob", "Pod"}


def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=str(ROOT / ".venv" / "bin"))
    require_tool(path is not None, f"{name} is not installed (tests/run.sh installs it)")
    assert path is not None
    return path


@cache
def _render(path: str) -> str:
    out = subprocess.run([tool("kubectl"), "kustomize", str(K8S / path)], capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, f"kubectl kustomize k8s/{path} failed:\n{out.stderr}"
    return out.stdout


def render(path: str) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize k8s/<path>` renders (plain: default load restrictor)."""
    return [d for d in yaml.safe_load_all(_render(path)) if d]


def render_text(path: str) -> str:
    return _render(path)


def clean_env(**extra: str) -> dict[str, str]:
    """This process' environment without any INFERLOAD_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERLOAD_")}
    env.update(extra)
    return env


def compose_config(env: dict[str, str], tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` on the repo's file, reading no .env but ``env`` (an empty env file)."""
    env_file = tmp / "empty.env"
    env_file.touch()
    return subprocess.run(
        [tool("docker-compose"), "-f", str(COMPOSE), "--project-directory", str(ROOT),
         "--env-file", str(env_file), *extra, "config"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )


def compose_secrets() -> dict[str, str]:
    return {
        "INFERLOAD_INFLUX_TOKEN": "test-token-value",
        "INFERLOAD_INFLUX_PASSWORD": "test-password-value",
        "INFERLOAD_GRAFANA_PASSWORD": "test-grafana-value",
        "INFERLOAD_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook",
    }


def pod_templates(objs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind/name, pod spec) of every object that runs pods."""
    for o in objs:
        kind = o.get("kind")
        if kind not in POD_KINDS:
            continue
        name = f"{kind}/{o['metadata']['name']}"
        if kind == "Pod":
            yield name, o["spec"]
        elif kind == "CronJob":
            yield name, o["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        else:
            yield name, o["spec"]["template"]["spec"]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod.get("containers", []), *pod.get("ephemeralContainers", [])]


def deploy_files() -> list[Path]:
    """Every file that deploys inferload (what the credential scan reads)."""
    files = [COMPOSE, ROOT / "Dockerfile", ROOT / ".dockerignore", ROOT / "examples" / "compose.yaml",
             ROOT / "dashboards" / "kustomization.yaml"]
    files += sorted(p for p in K8S.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml"))
    prov = ROOT / "dashboards" / "provisioning"
    files += sorted(p for p in prov.rglob("*") if p.is_file())
    return [p for p in files if p.is_file()]
