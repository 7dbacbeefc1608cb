"""Locust's own statistics stay bounded (tests/soak/memory_stats_cases.py), run in a child pytest.

The cases use Locust's real ``RequestStats``; Locust monkey-patches the interpreter that imports
it (gevent), so they run in their own process (as tests/web/test_server.py does).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_locust_stats_cases_pass_in_their_own_interpreter() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers",
         str(HERE / "memory_stats_cases.py")],
        cwd=HERE.parents[1], capture_output=True, text=True, timeout=300,
        env={**os.environ, "INFERLOAD_TESTS_IN_CHILD": "1"},
    )
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and " failed" not in proc.stdout, tail
