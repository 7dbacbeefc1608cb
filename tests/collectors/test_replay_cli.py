"""`inferload collect replay SPOOL_DIR`: a spool left by a run is sent later, from the command line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from collectors.cli import main
from collectors.point import Point
from collectors.sinks.config import InfluxSinkConfig
from collectors.sinks.influx import InfluxSink
from tests.collectors.fakes import WALL0_NS
from tests.support.influx import InfluxStack


def _leave_spool(spool: Path, db: str, n: int) -> None:
    dead = InfluxSinkConfig(url="http://127.0.0.1:9", bucket=db, timeout_s=0.5, flush_interval_s=0.1,
                            retry_initial_s=0.05, retry_max_s=0.1)
    sink = InfluxSink(dead, spool_dir=spool)
    sink.write([Point("replayed", {"run_id": "r"}, {"v": float(i)}, WALL0_NS + i) for i in range(n)])
    assert sink.close(0.5).pending_spool == n


@pytest.mark.integration
def test_replay_command_empties_the_spool_into_influxdb(influx: InfluxStack, influx_db: str, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    _leave_spool(spool, influx_db, 321)
    err = io.StringIO()
    rc = main(["replay", str(spool), "--influx-url", influx.write_url, "--influx-bucket", influx_db], stderr=err)
    assert rc == 0, err.getvalue()
    assert "321 points written, 0 still in" in err.getvalue()
    assert influx.server.count(influx_db, "replayed", "v") == 321
    # replaying again sends nothing (InfluxDB would dedupe a resend, so check what was sent)
    again = io.StringIO()
    assert main(["replay", str(spool), "--influx-url", influx.write_url, "--influx-bucket", influx_db],
                stderr=again) == 0
    assert "0 points written, 0 still in" in again.getvalue()


def test_replay_with_the_destination_down_keeps_the_points_and_exits_1(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    _leave_spool(spool, "db", 50)
    err = io.StringIO()
    rc = main(["replay", str(spool), "--influx-url", "http://127.0.0.1:9", "--influx-bucket", "db",
               "--timeout", "1"], stderr=err)
    assert rc == 1 and "0 points written, 50 still in" in err.getvalue()
