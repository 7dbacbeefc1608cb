"""The ``sinks:`` section on the shared base (issue 14 §3, issue 7 §3).

Regressions: ``aggregate_interval_s: "5s"`` was rejected; ``token_file``, ``spool_dir`` and
``file.path`` resolved against the working directory while ``target.api_key_file`` resolved
against the scenario's folder; ``url: http://127.0.0.1:99999`` passed ``validate`` and ``run``
then retried it as an outage.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from collectors.cli import main as collect_main
from collectors.sinks.config import InfluxSinkConfig, check_sink_url
from loadgen.config import load_scenario
from userinput.errors import InputError

REPO = Path(__file__).resolve().parents[2]

BASE = """\
target:
  base_url: http://127.0.0.1:8000
workload:
  prompt_tokens: 16
  output_tokens: 8
phases:
  - {name: s, duration: 10s, arrivals: {process: poisson, rate: 1}}
"""


def _write(tmp_path: Path, sinks: str) -> Path:
    folder = tmp_path / "scenarios"
    folder.mkdir(exist_ok=True)
    path = folder / "s.yaml"
    path.write_text(BASE + sinks)
    return path


def _error(path: Path) -> str:
    with pytest.raises(InputError) as info:
        load_scenario(path)
    return str(info.value)


def test_durations_accept_units(tmp_path: Path) -> None:
    sc = load_scenario(_write(tmp_path, """sinks:
  aggregate_interval_s: 5s
  influxdb:
    url: http://influx:8086
    bucket: b
    flush_interval_s: 250ms
    timeout_s: 10s
    retry_initial_s: 500ms
    retry_max_s: 1m
    spool_after_s: 2s
    close_timeout_s: 30s
"""))
    assert sc.sinks is not None and sc.sinks.influxdb is not None
    i = sc.sinks.influxdb
    assert sc.sinks.aggregate_interval_s == 5.0
    assert (i.flush_interval_s, i.timeout_s, i.retry_initial_s, i.retry_max_s) == (0.25, 10.0, 0.5, 60.0)
    assert (i.spool_after_s, i.close_timeout_s) == (2.0, 30.0)


def test_paths_resolve_against_the_scenario_folder_like_api_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the working directory is NOT the scenario's folder
    sc = load_scenario(_write(tmp_path, """sinks:
  influxdb: {url: "http://influx:8086", bucket: b, token_file: secrets/token, spool_dir: spool}
  file: {path: out/points.lp}
"""))
    folder = (tmp_path / "scenarios").resolve()
    assert sc.sinks is not None and sc.sinks.influxdb is not None and sc.sinks.file is not None
    assert sc.sinks.influxdb.token_file == folder / "secrets" / "token"
    assert sc.sinks.influxdb.spool_dir == folder / "spool"
    assert sc.sinks.file.path == folder / "out" / "points.lp"
    absolute = load_scenario(_write(tmp_path, f"sinks:\n  file: {{path: {tmp_path / 'abs.lp'}}}\n"))
    assert absolute.sinks is not None and absolute.sinks.file is not None
    assert absolute.sinks.file.path == tmp_path / "abs.lp"


@pytest.mark.parametrize(("url", "message"), [
    ("http://127.0.0.1:99999", "has a bad port: expected 1-65535 (got 'http://127.0.0.1:99999')"),
    ("http://127.0.0.1:80a", "has a bad port"),
    ("http://127.0.0.1:0", "has a bad port"),
    ("influx:8086", "must be an http:// or https:// URL with a host"),
    ("http://user:secret@influx:8086", "must not carry credentials"),
])
def test_a_malformed_url_is_bad_input_naming_the_key(url: str, message: str, tmp_path: Path) -> None:
    path = _write(tmp_path, f"sinks:\n  influxdb:\n    url: {url}\n    bucket: b\n")
    text = _error(path)
    assert text.startswith(f"{path}:10 sinks.influxdb.url: ") and message in text, text
    assert "secret" not in text


def test_good_urls_pass() -> None:
    assert check_sink_url(" https://influx.example:8086/ ") == "https://influx.example:8086"
    assert InfluxSinkConfig(url="http://[::1]:8086", bucket="b").url == "http://[::1]:8086"


def test_validate_command_exits_2_on_a_bad_sink_url(tmp_path: Path) -> None:
    path = _write(tmp_path, "sinks:\n  influxdb: {url: 'http://127.0.0.1:99999', bucket: b}\n")
    proc = subprocess.run([sys.executable, "-m", "loadgen.cli", "validate", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"inferload validate: error: {path}:9 sinks.influxdb.url: has a bad port: " \
        "expected 1-65535 (got 'http://127.0.0.1:99999')"


def test_collect_flags_name_the_flag(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^--influx-url: has a bad port"):
        collect_main(["replay", str(tmp_path), "--influx-url", "http://127.0.0.1:99999", "--influx-bucket", "b"])


def test_retry_max_below_initial_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "sinks:\n  influxdb: {url: 'http://i:1', bucket: b, retry_initial_s: 5s, retry_max_s: 1s}\n")
    assert "sinks.influxdb.retry_max_s: must be >= retry_initial_s (5)" in _error(path)


def test_spool_dir_that_is_a_file_is_caught_by_validate(tmp_path: Path) -> None:
    """Issue 7 §4: a spool_dir that was an existing file got "File exists" at run time."""
    path = _write(tmp_path, "sinks:\n  influxdb: {url: 'http://i:1', bucket: b, spool_dir: notes.txt}\n")
    (path.parent / "notes.txt").write_text("x")
    assert _error(path) == f"{path}:9 sinks.influxdb.spool_dir: {path.parent.resolve() / 'notes.txt'} is a file, not a folder"
