"""No deploy file ships a working default credential, and the image is built secure by default.

The scan reads every deploy file (compose, Dockerfile, k8s/**, Grafana provisioning, the compose
scenario) for known default credentials: Grafana's admin/admin, "changeme", "password" used as a
value, the defaults docker-compose.yml carried before issue 10 (inferload-dev-token,
inferload-dev-password), and any secret-named key with a literal value instead of a reference."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.support import ROOT, deploy_files

KNOWN_DEFAULTS = re.compile(
    r"admin\s*/\s*admin|admin:admin|changeme|change-me|inferload-dev-token|inferload-dev-password"
    r"|(?<![\w$])(password|secret|admin)123\b",
    re.IGNORECASE,
)
# "password" as the value of something (`: password`, `=password`, "password")
PASSWORD_VALUE = re.compile(r"""(?:[:=]\s*|["'])password["']?\s*(?:$|[,}\]])""", re.IGNORECASE | re.MULTILINE)
# a secret-named key (YAML `key: value`, env `KEY=value`) whose value is a literal, not a reference
SECRET_KEY_LITERAL = re.compile(
    r"""^\s*-?\s*["']?([\w.-]*(?:password|passwd|token|secret|api[_-]?key))["']?\s*[:=]\s*(.+?)\s*$""",
    re.IGNORECASE | re.MULTILINE,
)
# an env entry written inline with a literal value: `{name: X_PASSWORD, value: ...}`
INLINE_ENV_LITERAL = re.compile(r"""name:\s*["']?\w*(?:PASSWORD|TOKEN|SECRET|API_KEY)["']?\s*,\s*value:""", re.IGNORECASE)
# what a reference looks like: ${VAR:?...}, $VAR, a valueFrom/secretKeyRef block, a *_env / *-env name
_REFERENCE = re.compile(r"""^(["']?\$\{?[A-Z_][A-Z0-9_]*|["']?Token \$|\{?\s*secretKeyRef|$|["']?[A-Z_]+["']?$|\||>-?)""")


def scan(text: str) -> list[str]:
    found = [m.group(0) for m in KNOWN_DEFAULTS.finditer(text)]
    found += [m.group(0).strip() for m in PASSWORD_VALUE.finditer(text)]
    found += [m.group(0) for m in INLINE_ENV_LITERAL.finditer(text)]
    for m in SECRET_KEY_LITERAL.finditer(text):
        key, value = m.group(1), m.group(2)
        if key.lower().endswith(("_env", "-env", "_file", "-file", "env", "ref")) or value.startswith("#"):
            continue
        if value.lower() in ("true", "false") or not _REFERENCE.match(value):
            if value.lower() in ("true", "false"):
                continue
            found.append(f"{key}: {value}")
    return found


def test_the_deploy_files_are_all_scanned() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in deploy_files()}
    assert {"docker-compose.yml", "Dockerfile", "k8s/base/master.yaml", "k8s/components/stack/grafana.yaml",
            "dashboards/provisioning/datasources/influxdb.yaml", "dashboards/kustomization.yaml"} <= names


@pytest.mark.parametrize("path", deploy_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_default_credentials(path: Path) -> None:
    found = scan(path.read_text())
    assert not found, f"{path.relative_to(ROOT)}: default or literal credentials {found}"


@pytest.mark.parametrize("bad", [
    "Grafana: http://localhost:3000 (admin/admin)",
    "GF_SECURITY_ADMIN_PASSWORD: changeme",
    "INFLUX_TOKEN: ${INFERLOAD_INFLUX_TOKEN:-inferload-dev-token}",
    "DOCKER_INFLUXDB_INIT_PASSWORD: inferload-dev-password",
    "  password: password",
    "INFLUX_TOKEN=abcdef0123456789abcdef",
    "    - {name: GF_SECURITY_ADMIN_PASSWORD, value: hunter2}",
    "token: s3cr3t-literal-value",
])
def test_the_scan_catches_planted_credentials(bad: str) -> None:
    assert scan(bad), bad


@pytest.mark.parametrize("good", [
    "GF_SECURITY_ADMIN_PASSWORD: ${INFERLOAD_GRAFANA_PASSWORD:?run `inferload deploy-env` to write .env}",
    "httpHeaderValue1: Token $INFLUX_TOKEN",
    "token_env: INFLUX_TOKEN",
    "- name: INFLUX_TOKEN",
    "valueFrom: {secretKeyRef: {name: inferload-influx, key: token}}",
])
def test_the_scan_accepts_references(good: str) -> None:
    assert not scan(good), good


def test_dockerfile_is_non_root_pinned_and_compiler_free() -> None:
    text = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base and re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base.group(1)), base
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) == 2, "a build stage and a final stage"
    final = stages[-1]
    assert final.startswith("${PYTHON_IMAGE}")
    assert not re.search(r"gcc|build-essential|apt-get install|pip install", final), "no build tools in the final image"
    user = re.findall(r"^USER (\S+)$", final, re.M)
    assert user and user[-1].split(":")[0] not in ("0", "root")
    volume = re.search(r"^VOLUME (.+)$", final, re.M)
    assert volume and "/app/runs" in volume.group(1) and "/spool" in volume.group(1)
    # every package pyproject installs is copied into the build stage
    import tomllib

    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = set(re.findall(r"^COPY (\w+) \./\1$", stages[0], re.M))
    assert {p.rstrip("*") for p in include} <= copied, f"packages not copied into the image: {include} vs {copied}"
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignore
    assert all(f"!{p}/" in ignore for p in copied), "every copied package is let through .dockerignore"
