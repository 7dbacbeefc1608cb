"""docker-compose.yml: validates with Debian's docker-compose (`config` checks the file against
the Compose Specification schema it ships and interpolates variables, no engine needed), refuses
to validate without each secret, binds ports to 127.0.0.1, carries health-gated dependencies,
mounts dashboards/ (no copies), and its embedded Prometheus / Alertmanager configs pass
promtool / amtool."""

from __future__ import annotations

import re
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from k8s import build
from tests.deploy.support import (
    COMPOSE_REQUIRED,
    ROOT,
    clean_env,
    compose_config,
    compose_secrets,
    tool,
)


@cache
def _config_text(extra: tuple[str, ...], env: tuple[tuple[str, str], ...]) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        out = compose_config(clean_env(**{**compose_secrets(), **dict(env)}), Path(tmp), *extra)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _config(tmp_path: Path, *extra: str, **env: str) -> dict[str, Any]:
    """`docker-compose config` with the secrets set (+ ``env``), parsed; cached per arguments."""
    data = yaml.safe_load(_config_text(extra, tuple(sorted(env.items()))))
    assert isinstance(data, dict)
    return data


def _host_ip(port: str | dict[str, Any]) -> str:
    """Host address of a published port (docker-compose v1 prints `IP:HOST:CONTAINER/proto`)."""
    if isinstance(port, dict):
        return str(port.get("host_ip", ""))
    parts = port.split(":")
    return parts[0] if len(parts) == 3 else ""


def _volumes(svc: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of every volume (v1 prints `SOURCE:TARGET:MODE`)."""
    out = []
    for v in svc.get("volumes", []):
        if isinstance(v, dict):
            out.append((str(v.get("source", "")), str(v["target"])))
        else:
            src, target = v.split(":")[:2]
            out.append((src, target))
    return out


def test_compose_validates_with_the_secrets_set(tmp_path: Path) -> None:
    services = _config(tmp_path)["services"]
    expected = {"influxdb", "influxdb-dbrp", "grafana", "prometheus", "alertmanager", "gpusim", "master",
                "worker", "server-collector", "gpu-collector"}
    assert expected <= set(services)
    assert services["gpu-collector-nvml"]["profiles"] == ["gpu"]  # only with --profile gpu
    assert all("profiles" not in s for n, s in services.items() if n != "gpu-collector-nvml")


@pytest.mark.parametrize("missing", COMPOSE_REQUIRED)
def test_compose_refuses_to_validate_without_each_secret(tmp_path: Path, missing: str) -> None:
    env = {k: v for k, v in compose_secrets().items() if k != missing}
    out = compose_config(clean_env(**env), tmp_path)
    assert out.returncode != 0, f"compose validated without {missing}"
    assert "inferload deploy-env" in out.stderr, out.stderr


def test_compose_refuses_an_empty_secret(tmp_path: Path) -> None:
    out = compose_config(clean_env(**{**compose_secrets(), "INFERLOAD_GRAFANA_PASSWORD": ""}), tmp_path)
    assert out.returncode != 0


def test_every_secret_reference_is_mandatory() -> None:
    """No `${VAR:-default}` for anything secret: only `${VAR:?message}`."""
    text = (ROOT / "docker-compose.yml").read_text()
    for m in re.finditer(r"\$\{([A-Z0-9_]+)(:?[-?])?", text):
        name, op = m.group(1), m.group(2)
        if re.search(r"TOKEN|PASSWORD|SECRET|WEBHOOK", name) and name != "INFERLOAD_TARGET_API_KEY":
            assert op == ":?", f"${{{name}}} must be mandatory (`:?`), found {m.group(0)!r}"


def test_ports_bind_to_loopback_unless_told_otherwise(tmp_path: Path) -> None:
    services = _config(tmp_path)["services"]
    published = [(name, p) for name, s in services.items() for p in s.get("ports", [])]
    assert published
    for name, p in published:
        assert _host_ip(p) == "127.0.0.1", f"{name} publishes {p} beyond loopback"
    services = _config(tmp_path, INFERLOAD_BIND="0.0.0.0")["services"]
    assert {_host_ip(p) for s in services.values() for p in s.get("ports", [])} == {"0.0.0.0"}


def test_grafana_anonymous_access_and_sign_up_are_off(tmp_path: Path) -> None:
    env = _config(tmp_path)["services"]["grafana"]["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == "test-grafana-value"


def test_master_starts_only_when_target_and_influxdb_are_healthy(tmp_path: Path) -> None:
    services = _config(tmp_path)["services"]
    for name in ("influxdb", "gpusim", "grafana", "prometheus", "alertmanager"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    deps = services["master"]["depends_on"]
    assert deps["gpusim"]["condition"] == "service_healthy"
    assert deps["influxdb"]["condition"] == "service_healthy"
    assert services["grafana"]["depends_on"]["influxdb-dbrp"]["condition"] == "service_completed_successfully"
    assert services["influxdb-dbrp"]["depends_on"]["influxdb"]["condition"] == "service_healthy"


def test_worker_count_comes_from_one_variable(tmp_path: Path) -> None:
    for n in ("2", "7"):
        services = _config(tmp_path, INFERLOAD_WORKERS=n)["services"]
        cmd = services["master"]["command"]
        assert cmd[cmd.index("--expect-workers") + 1] == n
        assert services["worker"]["deploy"]["replicas"] == int(n)


def test_target_defaults_to_gpusim_and_can_be_replaced(tmp_path: Path) -> None:
    cmd = _config(tmp_path)["services"]["master"]["command"]
    assert "target.base_url=http://gpusim:8000" in cmd
    cmd = _config(tmp_path, INFERLOAD_TARGET_URL="http://vllm:8000")["services"]["master"]["command"]
    assert "target.base_url=http://vllm:8000" in cmd


def test_inferload_services_run_hardened(tmp_path: Path) -> None:
    services = _config(tmp_path, "--profile", "gpu")["services"]
    ours = {n: s for n, s in services.items() if str(s.get("image", "")).startswith("inferload")}
    assert {"gpusim", "master", "worker", "server-collector", "gpu-collector", "gpu-collector-nvml"} <= set(ours)
    for name, s in ours.items():
        assert s.get("read_only") is True, name
        assert s.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in s.get("security_opt", []), name
        targets = {t for _, t in _volumes(s)}
        assert {"/app/runs", "/spool"} <= targets, f"{name}: run folder and spool must be on volumes"


def test_gpu_profile_requests_nvidia_devices(tmp_path: Path) -> None:
    nvml = _config(tmp_path, "--profile", "gpu")["services"]["gpu-collector-nvml"]
    devices = nvml["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert nvml["command"][:4] == ["collect", "gpu", "--source", "nvml"]


def test_dashboards_rules_and_provisioning_are_mounted_from_dashboards(tmp_path: Path) -> None:
    """The same files as in dashboards/: bind mounts of the repo's folders, never copies."""
    services = _config(tmp_path)["services"]
    mounts = {(name, t): Path(src) for name, s in services.items()
              for src, t in _volumes(s) if src.startswith("/")}
    assert mounts[("grafana", "/etc/grafana/provisioning")] == ROOT / "dashboards" / "provisioning"
    assert mounts[("grafana", "/var/lib/grafana/dashboards")] == ROOT / "dashboards" / "generated"
    assert mounts[("prometheus", "/etc/prometheus/rules")] == ROOT / "dashboards" / "alerts"
    provider = yaml.safe_load((ROOT / "dashboards/provisioning/dashboards/inferload.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def _heredoc(command: list[str], marker: str = "CONF") -> str:
    m = re.search(rf"<<'{marker}'\n(.*?)\n{marker}\n", command[0], re.S)
    assert m, f"no {marker} heredoc in {command!r}"
    return m.group(1) + "\n"


def test_embedded_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    promtool = tool("promtool")
    cmd = _config(tmp_path)["services"]["prometheus"]["command"]
    conf = _heredoc(cmd)
    assert "master:9646" in conf and "alertmanager:9093" in conf
    # exactly the cluster rule files (the time-compressed test profile excluded), all existing
    rule_files = yaml.safe_load(conf)["rule_files"]
    assert sorted(Path(f).name for f in rule_files) == sorted(Path(f).name for f in build.rule_files())
    assert build.rule_files(), "no Prometheus rule files in dashboards/alerts"
    # the rule files the container mounts are the repo's dashboards/alerts
    local = conf.replace("/etc/prometheus/rules/", f"{ROOT / 'dashboards' / 'alerts'}/")
    (tmp_path / "prometheus.yml").write_text(local)
    out = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_embedded_alertmanager_config_passes_amtool_with_the_webhook_from_env(tmp_path: Path) -> None:
    amtool = tool("amtool")
    cmd = _config(tmp_path, INFERLOAD_ALERT_WEBHOOK_URL="https://hooks.example.test/abc")["services"][
        "alertmanager"]["command"]
    conf = _heredoc(cmd)
    assert yaml.safe_load(conf)["receivers"][0]["webhook_configs"][0]["url"] == "https://hooks.example.test/abc"
    (tmp_path / "am.yml").write_text(conf)
    out = subprocess.run([amtool, "check-config", str(tmp_path / "am.yml")],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_master_scenario_serves_live_metrics_for_prometheus() -> None:
    from loadgen.config import load_scenario

    sc = load_scenario(ROOT / "examples" / "compose.yaml")
    assert sc.sinks is not None and sc.sinks.prometheus is not None
    assert sc.sinks.prometheus.port == 9646 and sc.sinks.prometheus.host == "0.0.0.0"
    assert sc.sinks.influxdb is not None and sc.sinks.influxdb.token_env == "INFLUX_TOKEN"
