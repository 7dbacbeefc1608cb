"""Locust's own statistics stay bounded (tests/soak/memory_stats_cases.py), run in a child pytest.

The cases use Locust's real ``RequestStats``; Locust monkey-patches the interpreter that imports
it (gevent), so they run in their own process (as tests/web/test_server.py does).
"""

from __future__ import annotations

from pathlib import Path

from tests.support import run_cases_in_child

HERE = Path(__file__).resolve().parent


def test_locust_stats_cases_pass_in_their_own_interpreter() -> None:
    run_cases_in_child(str(HERE / "memory_stats_cases.py"))
