"""`inferload deploy-env`: the .env with random secrets (mode 600, git-ignored) that
docker-compose.yml needs; existing values are kept, never silently replaced."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from loadgen.cli import main as cli_main
from loadgen.commands.deploy_env import DEFAULT_WEBHOOK_URL, SECRETS, WEBHOOK_VAR, read_env
from tests.deploy.support import COMPOSE, COMPOSE_REQUIRED, ROOT, clean_env, tool


def _write(path: Path, *args: str) -> dict[str, str]:
    assert cli_main(["deploy-env", "--out", str(path), *args]) == 0
    return read_env(path)


def test_writes_every_secret_compose_requires_with_mode_600(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a permissive umask must not widen the file
    try:
        env = _write(tmp_path / ".env")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
    assert set(COMPOSE_REQUIRED) <= set(env)
    for name in SECRETS:
        assert len(env[name]) >= 40, name  # 32 random bytes
    assert len({env[n] for n in SECRETS}) == len(SECRETS)  # independent draws
    assert env[WEBHOOK_VAR] == DEFAULT_WEBHOOK_URL


def test_two_files_get_different_secrets(tmp_path: Path) -> None:
    a, b = _write(tmp_path / "a.env"), _write(tmp_path / "b.env")
    assert all(a[n] != b[n] for n in SECRETS)


def test_existing_values_are_kept_and_missing_ones_added(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("INFERLOAD_INFLUX_TOKEN=keep-me\nINFERLOAD_WORKERS=8\n")
    path.chmod(0o644)
    env = _write(path, "--webhook-url", "https://hooks.example.test/x")
    assert env["INFERLOAD_INFLUX_TOKEN"] == "keep-me"  # InfluxDB's volume was set up with it
    assert env["INFERLOAD_WORKERS"] == "8"
    assert env[WEBHOOK_VAR] == "https://hooks.example.test/x"
    assert env["INFERLOAD_GRAFANA_PASSWORD"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = _write(path)
    assert again == env  # idempotent


def test_rotate_replaces_only_the_named_secret(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    first = _write(path)
    second = _write(path, "--rotate", "INFERLOAD_GRAFANA_PASSWORD")
    assert second["INFERLOAD_GRAFANA_PASSWORD"] != first["INFERLOAD_GRAFANA_PASSWORD"]
    assert second["INFERLOAD_INFLUX_TOKEN"] == first["INFERLOAD_INFLUX_TOKEN"]


@pytest.mark.parametrize("args", [["--rotate", "HOME"], ["--webhook-url", "ftp://x"]])
def test_bad_input_is_a_one_line_error_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  args: list[str]) -> None:
    assert cli_main(["deploy-env", "--out", str(tmp_path / ".env"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err
    assert not (tmp_path / ".env").exists()


def test_a_malformed_existing_file_is_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / ".env"
    path.write_text("INFERLOAD_INFLUX_TOKEN=abc\nthis is not an env line\n")
    assert cli_main(["deploy-env", "--out", str(path)]) == 2
    assert f"{path}:2" in capsys.readouterr().err
    assert path.read_text() == "INFERLOAD_INFLUX_TOKEN=abc\nthis is not an env line\n"


def test_the_written_env_makes_compose_validate(tmp_path: Path) -> None:
    """The file the command writes is exactly what `docker compose` needs."""
    env_file = tmp_path / ".env"
    _write(env_file)
    out = subprocess.run(
        [tool("docker-compose"), "-f", str(COMPOSE), "--project-directory", str(ROOT), "--env-file",
         str(env_file), "config"], capture_output=True, text=True, env=clean_env(), timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert read_env(env_file)["INFERLOAD_INFLUX_TOKEN"] in out.stdout


def test_env_files_are_git_ignored() -> None:
    out = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT, check=False)
    assert out.returncode == 0, ".env must be listed in .gitignore"
    assert ".env" in (ROOT / ".dockerignore").read_text().split()
