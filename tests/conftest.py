"""Shared fixtures: a real InfluxDB (Debian's influxd 1.6) behind the v2-write proxy, one per test module."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.support.influx import InfluxStack, influx_stack, influxd_available


@pytest.fixture(scope="module")
def influx() -> Iterator[InfluxStack]:
    if not influxd_available():
        if os.environ.get("CI"):
            pytest.fail("influxd is missing in CI: tests/run.sh should have installed Debian's influxdb")
        pytest.skip("influxd is not installed (tests/run.sh installs Debian's influxdb)")
    with influx_stack() as stack:
        yield stack


@pytest.fixture
def influx_db(influx: InfluxStack) -> str:
    """A fresh database per test in the module's InfluxDB."""
    return influx.fresh_db("t_" + uuid.uuid4().hex[:12])


def pytest_collection_finish(session: pytest.Session) -> None:
    """Locust monkey-patches the interpreter that imports it (gevent).  Imported into this pytest
    process after ``ssl`` it breaks every later TLS use with a RecursionError, far from the cause:
    fail at once, naming the rule.  Tests that need Locust in-process run in a child interpreter
    (tests/web/test_server.py shows how)."""
    import sys

    if "locust" in sys.modules and not os.environ.get("INFERLOAD_TESTS_IN_CHILD"):
        raise pytest.UsageError(
            "a test module imported locust into the main pytest process; run such tests in a child "
            "interpreter (see tests/web/test_server.py)"
        )
