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
