"""``inferload dashboards export`` and ``push`` (against tests/dashboards/fake_grafana.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from dashboards import alerting, alerts_build, build
from loadgen.cli import main as cli_main
from tests.dashboards.fake_grafana import FakeGrafana
from tests.support.influx import free_port

REPO = Path(__file__).resolve().parents[2]
TOKEN = "glsa_test-token-123"


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    g = FakeGrafana(TOKEN).start()
    yield g
    g.close()


def _push(g: FakeGrafana, monkeypatch: pytest.MonkeyPatch, *extra: str) -> int:
    monkeypatch.setenv("GRAFANA_TEST_TOKEN", TOKEN)
    monkeypatch.setenv("INFLUX_TEST_TOKEN", "influx-secret")
    return cli_main(["dashboards", "push", "--grafana-url", g.url, "--token-env", "GRAFANA_TEST_TOKEN",
                     "--influx-url", "http://influx:8086", "--influx-token-env", "INFLUX_TEST_TOKEN",
                     "--webhook-url", "http://127.0.0.1:9/hook", *extra])


def test_export_writes_the_committed_artefacts(tmp_path: Path) -> None:
    assert cli_main(["dashboards", "export", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    for name in build.BUILDERS:
        assert (out / "dashboards" / f"{name}.json").read_text() == (build.ROOT / "generated" / f"{name}.json").read_text()
    for rel in ("provisioning/datasources/influxdb.yaml", "provisioning/alerting/inferload.yaml"):
        assert (out / rel).read_text() == (build.ROOT / rel).read_text()
    provider = (out / "provisioning/dashboards/inferload.yaml").read_text()
    assert provider == (build.ROOT / "provisioning/dashboards/inferload.yaml").read_text()
    assert yaml.safe_load(provider)["providers"][0]["type"] == "file"
    # the Prometheus rule files too, as committed (issue 8 gap: export left them out)
    committed = sorted(p.name for p in alerts_build.ALERTS_DIR.glob("*.yaml"))
    assert committed and sorted(p.name for p in (out / "alerts").iterdir()) == committed
    for name in committed:
        assert (out / "alerts" / name).read_text() == (alerts_build.ALERTS_DIR / name).read_text()


def test_push_creates_everything_then_is_idempotent(grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert _push(grafana, monkeypatch) == 0, capsys.readouterr().err
    assert grafana.problems == []
    assert set(grafana.folders) == {alerting.FOLDER}
    ds = grafana.datasources["inferload-influxdb"]
    assert ds["jsonData"]["version"] == "InfluxQL" and ds["url"] == "http://influx:8086"
    assert ds["secureJsonData"] == {"httpHeaderValue1": "Token influx-secret"}
    boards = {d["uid"] for d in build.dashboards().values()}
    assert set(grafana.dashboards) == boards
    assert all(v["folderUid"] == alerting.FOLDER and v["version"] == 1 for v in grafana.dashboards.values())
    assert set(grafana.rules) == {r["uid"] for r in alerting.rules()}
    pushed = json.dumps(grafana.rules)
    assert "$timeFilter" in pushed and "$$" not in pushed, "the API gets rules without the file's $$ escaping"
    assert grafana.contact_points["inferload-webhook"]["settings"]["url"] == "http://127.0.0.1:9/hook"
    receivers = [r["receiver"] for r in grafana.policies["routes"]]
    assert receivers == ["inferload-webhook", "team-pager"], "the user's own route must be kept"
    state = json.dumps([grafana.datasources, grafana.rules, grafana.contact_points, grafana.policies], sort_keys=True)
    posts_before = sum(1 for m, _ in grafana.requests if m == "POST")

    assert _push(grafana, monkeypatch) == 0
    assert grafana.problems == []
    after = json.dumps([grafana.datasources, grafana.rules, grafana.contact_points, grafana.policies], sort_keys=True)
    assert after == state
    assert len(grafana.dashboards) == len(boards)
    # the second push creates nothing: only dashboard saves (overwrite by uid) are POSTs
    posts = sum(1 for m, _ in grafana.requests if m == "POST") - posts_before
    assert posts == len(boards)


def test_bad_token_is_a_one_line_error_exit_2(grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    grafana.token = "something-else"
    assert _push(grafana, monkeypatch) == 2
    err = capsys.readouterr().err
    assert "rejected the token in $GRAFANA_TEST_TOKEN (HTTP 401)" in err and "Traceback" not in err
    assert TOKEN not in err
    assert grafana.dashboards == {}


def test_unreachable_grafana_is_exit_2_without_traceback() -> None:
    port = free_port()  # nothing listens there
    env = {"PATH": "/usr/bin:/bin", "GRAFANA_TEST_TOKEN": TOKEN}
    proc = subprocess.run([sys.executable, "-m", "loadgen.cli", "dashboards", "push", "--grafana-url",
                           f"http://127.0.0.1:{port}", "--token-env", "GRAFANA_TEST_TOKEN", "--timeout", "3"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "cannot reach Grafana" in proc.stderr


def test_unset_token_variable_is_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("NO_SUCH_TOKEN_VAR", raising=False)
    assert cli_main(["dashboards", "push", "--grafana-url", "http://127.0.0.1:9", "--token-env",
                     "NO_SUCH_TOKEN_VAR"]) == 2
    assert "NO_SUCH_TOKEN_VAR is not set" in capsys.readouterr().err
