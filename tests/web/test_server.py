"""The web server cases (tests/web/server_cases.py), run in a child pytest.

They import Locust, which monkey-patches the interpreter (gevent): imported into the main pytest
process after ``ssl`` it breaks every later TLS use (RecursionError), so they get their own process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import run_cases_in_child

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent


def test_web_server_cases_pass_in_their_own_interpreter() -> None:
    run_cases_in_child(str(HERE / "server_cases.py"))
