"""The web server cases (tests/web/server_cases.py), run in a child pytest.

They import Locust, which monkey-patches the interpreter (gevent): imported into the main pytest
process after ``ssl`` it breaks every later TLS use (RecursionError), so they get their own process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent


def test_web_server_cases_pass_in_their_own_interpreter() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers",
         str(HERE / "server_cases.py")],
        cwd=HERE.parents[1], capture_output=True, text=True, timeout=600,
        env={**os.environ, "INFERLOAD_TESTS_IN_CHILD": "1"},
    )
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and " failed" not in proc.stdout, tail
