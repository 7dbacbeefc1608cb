

def require_tool(present: bool, message: str) -> None:
    """Skip a test whose outside tool is missing on a developer's machine; fail in CI (CI=true), where
    tests/run.sh installs every tool, so a missing install step can never pass as a skip."""
    import os

    import pytest

    if present:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{message} — in CI this is a missing install step")
    pytest.skip(message)


def run_cases_in_child(cases: str) -> None:
    """Run the test file ``cases`` (a path) in a child pytest and assert every case passed.

    For tests that import Locust, which monkey-patches the interpreter that imports it (gevent): in the
    main pytest process that breaks every later TLS use (tests/conftest.py refuses it)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers", cases],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=600,
        env={**os.environ, "INFERLOAD_TESTS_IN_CHILD": "1"},
    )
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and " failed" not in proc.stdout, tail
