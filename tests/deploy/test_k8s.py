"""k8s/: the base and every overlay render with plain `kubectl kustomize`, the objects validate
against the Kubernetes schemas (kubernetes-validate, offline), every pod template meets the
restricted Pod Security Standard, secrets come only from Secrets, the worker count lives in one
place, and the dashboards/rules are the files of dashboards/ (read in place, not copied)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from k8s import build
from loadgen.config import load_scenario
from tests.deploy.support import (
    KUSTOMIZATIONS,
    ROOT,
    containers,
    pod_templates,
    render,
    render_text,
    tool,
)

K8S_VERSION = "1.30.0"  # oldest Kubernetes still commonly run; the fields used exist since 1.25
CRD_KINDS = {"PodMonitor", "PrometheusRule"}
# volume types the restricted profile allows
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}


def _by_kind(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} objects"
    return found[0]


def _configmap(objs: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == "ConfigMap" and re.fullmatch(rf"{prefix}-[a-z0-9]{{10}}",
                                                                           o["metadata"]["name"])]
    assert len(found) == 1, f"ConfigMap {prefix}-<hash>: {len(found)} objects"
    return found[0]


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_renders_and_validates_against_the_kubernetes_schemas(path: str) -> None:
    import kubernetes_validate

    objs = render(path)
    assert objs
    for o in objs:
        if o["kind"] in CRD_KINDS:
            continue  # no upstream schema; checked field by field below
        kubernetes_validate.validate(o, K8S_VERSION, strict=True)  # raises on any error
        assert o["metadata"].get("namespace", "inferload") == "inferload" or o["kind"] == "Namespace"


def test_schema_validation_can_fail() -> None:
    """Guard for the test above: a misspelt field is reported, not ignored."""
    import kubernetes_validate

    job = _by_kind(render("base"), "Job", "inferload-master")
    bad = yaml.safe_load(yaml.safe_dump(job))
    bad["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def _restricted_violations(name: str, pod: dict[str, Any]) -> list[str]:
    """The restricted Pod Security Standard (plus read-only root file systems), field by field."""
    bad: list[str] = []
    psc = pod.get("securityContext", {})
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            bad.append(f"{name}: {key}")
    if pod.get("automountServiceAccountToken") is not False:
        bad.append(f"{name}: mounts a service-account token (nothing here calls the API server)")
    for vol in pod.get("volumes", []):
        kinds = set(vol) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            bad.append(f"{name}: volume {vol['name']} of type {kinds - RESTRICTED_VOLUMES}")
    for c in containers(pod):
        csc = c.get("securityContext", {})
        where = f"{name}/{c['name']}"
        if csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True:
            bad.append(f"{where}: runAsNonRoot")
        if csc.get("runAsUser", psc.get("runAsUser")) == 0:
            bad.append(f"{where}: runAsUser 0")
        seccomp = csc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            bad.append(f"{where}: seccompProfile {seccomp}")
        if csc.get("allowPrivilegeEscalation") is not False:
            bad.append(f"{where}: allowPrivilegeEscalation")
        if csc.get("privileged"):
            bad.append(f"{where}: privileged")
        caps = csc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            bad.append(f"{where}: capabilities not dropped")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            bad.append(f"{where}: capabilities added {caps['add']}")
        if csc.get("readOnlyRootFilesystem") is not True:
            bad.append(f"{where}: readOnlyRootFilesystem")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            bad.append(f"{where}: hostPort")
        res = c.get("resources", {})
        if not (res.get("requests", {}).get("cpu") and res.get("limits", {}).get("memory")):
            bad.append(f"{where}: no CPU request or memory limit")
    return bad


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_every_pod_meets_the_restricted_pod_security_standard(path: str) -> None:
    pods = list(pod_templates(render(path)))
    assert len(pods) >= 4
    bad = [v for name, pod in pods for v in _restricted_violations(name, pod)]
    assert not bad, "\n".join(bad)


def test_restricted_check_can_fail() -> None:
    pod = {"hostNetwork": True, "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
           "containers": [{"name": "c", "securityContext": {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}},
                           "ports": [{"containerPort": 80, "hostPort": 80}]}]}
    bad = _restricted_violations("Pod/x", pod)
    for needle in ("hostNetwork", "service-account token", "hostPath", "runAsNonRoot", "seccompProfile", "allowPrivilegeEscalation",
                   "privileged", "capabilities not dropped", "SYS_ADMIN", "readOnlyRootFilesystem", "hostPort",
                   "no CPU request"):
        assert any(needle in b for b in bad), needle


def test_namespace_enforces_the_restricted_profile() -> None:
    ns = _by_kind(render("base"), "Namespace", "inferload")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


_SECRET_NAME = re.compile(r"TOKEN|PASSWORD|SECRET|API_KEY|APIKEY|WEBHOOK", re.IGNORECASE)


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_secrets_only_from_secret_references(path: str) -> None:
    objs = render(path)
    assert not [o for o in objs if o["kind"] == "Secret"], "no Secret with values is shipped"
    refs = 0
    for name, pod in pod_templates(objs):
        for c in containers(pod):
            for e in c.get("env", []):
                if _SECRET_NAME.search(e["name"]):
                    src = e.get("valueFrom", {})
                    assert "value" not in e and "secretKeyRef" in src, f"{name}/{c['name']}: {e['name']} is literal"
                    refs += 1
            for ef in c.get("envFrom", []):
                assert "secretRef" in ef or "configMapRef" in ef
            for arg in [*c.get("args", []), *c.get("command", [])]:
                assert not re.search(r"--[\w-]*(token|password)(?!-env|-file)[\w-]*", arg, re.I), f"{name}: {arg}"
    assert refs >= 3


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_no_literal_token_in_the_rendered_objects(path: str) -> None:
    text = render_text(path)
    for pattern in (r"Bearer\s+[A-Za-z0-9._~+/-]{8,}", r"Token\s+(?!\$)[A-Za-z0-9._~+/=-]{16,}",
                    r"(?i)(token|password|api[-_]?key)\s*[:=]\s*(?!\$)[A-Za-z0-9._~+/=-]{16,}"):
        m = re.search(pattern, text)
        assert m is None, f"k8s/{path} renders a literal secret-like value: {m.group(0)!r}"


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_worker_replicas_and_expect_workers_agree(path: str) -> None:
    objs = render(path)
    replicas = _by_kind(objs, "Deployment", "inferload-worker")["spec"]["replicas"]
    args = _by_kind(objs, "Job", "inferload-master")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--expect-workers={replicas}" in args, args
    assert replicas >= 1


def test_master_job_exit_code_is_the_verdict() -> None:
    job = _by_kind(render("base"), "Job", "inferload-master")
    assert job["spec"]["backoffLimit"] == 0  # a failed verdict is not retried
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    args = pod["containers"][0]["args"]
    assert args[0] == "run" and "--master" in args


def test_one_worker_is_one_whole_cpu() -> None:
    dep = _by_kind(render("base"), "Deployment", "inferload-worker")
    res = dep["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert res["requests"]["cpu"] == res["limits"]["cpu"] == "1"
    assert res["requests"]["memory"] == res["limits"]["memory"]  # Guaranteed QoS


def test_gpu_collector_runs_on_gpu_nodes_only() -> None:
    ds = _by_kind(render("base"), "DaemonSet", "inferload-gpu-collector")
    pod = ds["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    c = pod["containers"][0]
    assert c["args"][:4] == ["collect", "gpu", "--source", "nvml"]
    assert "nvidia.com/gpu" not in c["resources"].get("limits", {})  # takes no GPU from the model server


def test_dcgm_alternative_needs_no_device_access() -> None:
    ds = _by_kind(render("overlays/vllm-example"), "DaemonSet", "inferload-gpu-collector")
    c = ds["spec"]["template"]["spec"]["containers"][0]
    assert c["args"][:4] == ["collect", "gpu", "--source", "dcgm"]
    assert "--dcgm-url" in c["args"]
    assert not [e for e in c["env"] if e["name"].startswith("NVIDIA_")]


def test_worker_network_policy_allows_only_master_target_influxdb_and_dns() -> None:
    for path, target in (("base", {"podSelector": {"matchLabels": {"inferload.dev/role": "target"}}}),
                         ("overlays/vllm-example", {"namespaceSelector": {"matchLabels": {
                             "kubernetes.io/metadata.name": "llm"}}, "podSelector": {"matchLabels": {"app": "vllm"}}})):
        np = _by_kind(render(path), "NetworkPolicy", "inferload-worker")
        spec = np["spec"]
        assert spec["podSelector"] == {"matchLabels": {"app": "inferload-worker"}}
        assert set(spec["policyTypes"]) == {"Ingress", "Egress"} and spec["ingress"] == []
        peers = [(rule["to"], sorted(p["port"] for p in rule["ports"])) for rule in spec["egress"]]
        assert peers == [
            ([{"podSelector": {"matchLabels": {"app": "inferload-master"}}}], [5557]),
            ([target], [8000]),
            ([{"podSelector": {"matchLabels": {"app": "influxdb"}}}], [8086]),
            ([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
               "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}], [53, 53]),
        ], path


def test_target_labels_match_the_policy_in_the_base() -> None:
    objs = render("base")
    sim = _by_kind(objs, "Deployment", "inferload-gpusim")
    assert sim["spec"]["template"]["metadata"]["labels"]["inferload.dev/role"] == "target"


@pytest.mark.parametrize("path", ["base/scenario.yaml", "overlays/vllm-example/scenario.yaml"])
def test_k8s_scenarios_validate_and_serve_live_metrics(path: str) -> None:
    sc = load_scenario(ROOT / "k8s" / path)
    assert sc.sinks is not None and sc.sinks.prometheus is not None and sc.sinks.prometheus.port == 9646
    assert sc.sinks.influxdb is not None and sc.sinks.influxdb.token_env == "INFLUX_TOKEN"


def test_vllm_example_replaces_gpusim_and_the_scenario() -> None:
    objs = render("overlays/vllm-example")
    assert not [o for o in objs if "gpusim" in o["metadata"]["name"]]
    cm = _configmap(objs, "inferload-scenario")
    assert yaml.safe_load(cm["data"]["scenario.yaml"])["target"]["base_url"].startswith("http://vllm.")


@pytest.mark.parametrize("path", ["overlays/stack", "overlays/prometheus-operator", "overlays/vllm-example"])
def test_dashboards_and_provisioning_are_the_files_of_dashboards(path: str) -> None:
    """kustomize reads dashboards/ in place (dashboards/kustomization.yaml): ConfigMap data == the files."""
    objs = render(path)
    for prefix, folder, patterns in (
        ("inferload-dashboards", "dashboards/generated", ("*.json",)),
        ("inferload-grafana-datasources", "dashboards/provisioning/datasources", ("*.yaml", "*.yml")),
        ("inferload-grafana-dashboard-providers", "dashboards/provisioning/dashboards", ("*.yaml", "*.yml")),
        ("inferload-grafana-alerting", "dashboards/provisioning/alerting", ("*.yaml", "*.yml")),
    ):
        cm = _configmap(objs, prefix)
        files = {p.name: p.read_text() for pat in patterns for p in (ROOT / folder).glob(pat)}
        assert (cm.get("data") or {}) == files, f"{prefix} differs from {folder}"
    dash = _configmap(objs, "inferload-dashboards")
    assert dash["metadata"]["labels"]["grafana_dashboard"] == "1"  # Grafana's dashboard sidecar
    assert len(yaml.safe_dump(dash).encode()) < 900 * 1024, "dashboards ConfigMap near the 1 MiB limit"
    rules = _configmap(objs, "inferload-prometheus-rules")
    assert set(rules.get("data") or {}) == {Path(f).name for f in build.rule_files()}
    grafana = _by_kind(objs, "Deployment", "grafana")
    mounted = {v["configMap"]["name"] for v in grafana["spec"]["template"]["spec"]["volumes"] if "configMap" in v}
    assert {dash["metadata"]["name"], _configmap(objs, "inferload-grafana-datasources")["metadata"]["name"]} <= mounted


def test_no_copies_of_dashboards_files_under_k8s() -> None:
    contents = {p.read_bytes() for p in (ROOT / "dashboards").rglob("*") if p.is_file() and p.stat().st_size > 64}
    copies = [p for p in (ROOT / "k8s").rglob("*") if p.is_symlink() or (p.is_file() and p.read_bytes() in contents)]
    assert not copies, f"copies of (or links to) dashboards/ files under k8s/: {copies}"


def test_generated_kubernetes_files_are_up_to_date() -> None:
    for path, text in build.outputs().items():
        assert path.read_text() == text, f"{path.relative_to(ROOT)} is stale: run `python -m k8s.build`"


def test_prometheus_operator_objects(tmp_path: Path) -> None:
    objs = render("overlays/prometheus-operator")
    pm = _by_kind(objs, "PodMonitor", "inferload-master")
    assert pm["spec"]["selector"] == {"matchLabels": {"app": "inferload-master"}}
    port = pm["spec"]["podMetricsEndpoints"][0]["port"]
    job = _by_kind(objs, "Job", "inferload-master")
    ports = {p["name"]: p["containerPort"] for p in job["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert ports[port] == 9646  # the scenario's sinks.prometheus port
    rule = _by_kind(objs, "PrometheusRule", "inferload-slo")
    expected = [g for f in build.rule_files() for g in yaml.safe_load((ROOT / f).read_text())["groups"]]
    assert rule["spec"]["groups"] == expected
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    out = subprocess.run([tool("promtool"), "check", "rules", str(tmp_path / "rules.yml")],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_images_are_pinned() -> None:
    for path in KUSTOMIZATIONS:
        for name, pod in pod_templates(render(path)):
            for c in containers(pod):
                image = c["image"]
                assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), f"{name}: {image}"


def _env_refs(value: Any) -> set[str]:
    text = yaml.safe_dump(value)
    return {a or b for a, b in re.findall(r"\$\{([A-Z_][A-Z0-9_]*)\}|\$([A-Z_][A-Z0-9_]*)", text)}


def _provisioning_vars() -> set[str]:
    """The `$VAR`s Grafana expands from its environment: datasource files whole, contact point
    settings (alert rule annotations and query models are not expanded: `$labels`, `$A` stay)."""
    names: set[str] = set()
    prov = ROOT / "dashboards" / "provisioning"
    for p in (prov / "datasources").glob("*.y*ml"):
        names |= _env_refs(yaml.safe_load(p.read_text()))
    for p in (prov / "alerting").glob("*.y*ml"):
        doc = yaml.safe_load(p.read_text()) or {}
        for cp in doc.get("contactPoints", []):
            for r in cp.get("receivers", []):
                names |= _env_refs(r.get("settings", {}))
    return names


def test_grafana_gets_every_variable_its_provisioning_files_expect() -> None:
    wanted = _provisioning_vars()
    assert {"INFLUX_TOKEN", "ALERT_WEBHOOK_URL"} <= wanted
    for path in ("overlays/stack", "overlays/vllm-example"):
        grafana = _by_kind(render(path), "Deployment", "grafana")
        env = {e["name"] for e in grafana["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert wanted <= env, f"k8s/{path}: Grafana lacks {wanted - env}"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert wanted <= set(compose["services"]["grafana"]["environment"]), "compose Grafana lacks a variable"
