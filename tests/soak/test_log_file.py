"""``--log-file`` / ``--log-max-mb`` (loadgen/log_file.py): the log also goes to a file that rotates,
and a bad path is bad input (exit 2, one line, no traceback)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from loadgen.log_file import BACKUPS, DEFAULT_MAX_MB, check_log_file, rotating_handler
from tests.support import run_cases_in_child
from userinput.errors import InputError

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def test_the_file_rotates_at_the_cap_and_keeps_five_old_files(tmp_path: Path) -> None:
    path = tmp_path / "inferload.log"
    handler = rotating_handler(path, max_mb=0.002)  # 2 KiB files
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("tests.soak.log_file")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    try:
        for i in range(400):  # 400 lines of 100 bytes: 40 KiB, far past 6 files of 2 KiB
            log.info("%04d %s", i, "y" * 94)
    finally:
        log.removeHandler(handler)
        handler.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["inferload.log", *(f"inferload.log.{k}" for k in range(1, BACKUPS + 1))]
    cap = int(0.002 * 1024 * 1024)
    assert all((tmp_path / f).stat().st_size <= cap for f in files)
    assert path.read_text().splitlines()[-1].startswith("0399 ")  # the newest line in the current file
    assert "0000 " not in "".join((tmp_path / f).read_text() for f in files)  # the oldest rotated away
    assert DEFAULT_MAX_MB == 20.0


def test_setup_logging_writes_the_log_to_the_file_in_its_own_interpreter() -> None:
    run_cases_in_child(str(HERE / "log_file_cases.py"))


def test_bad_log_file_paths_are_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        check_log_file(tmp_path / "missing" / "x.log", 20.0)
    with pytest.raises(InputError, match="is a folder"):
        check_log_file(tmp_path, 20.0)
    with pytest.raises(InputError, match="--log-max-mb must be a number > 0"):
        check_log_file(tmp_path / "x.log", 0.0)
    assert check_log_file(tmp_path / "x.log", 1.0) == tmp_path / "x.log"


@pytest.mark.parametrize("command", [["run", "scenario.yaml"], ["worker", "--master-host", "127.0.0.1"]])
def test_cli_log_file_in_a_missing_folder_exits_2(tmp_path: Path, command: list[str]) -> None:
    bad = tmp_path / "nope" / "inferload.log"
    proc = subprocess.run([sys.executable, "-m", "loadgen.cli", *command, "--log-file", str(bad)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert f"--log-file {bad}: the folder {bad.parent} does not exist" in line
