"""GPU and server collectors into a real InfluxDB (tests/support/influx.py): what was measured is stored."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from collectors import cli
from collectors import schema as s
from tests.support.fake_nvml import DEFAULT_DEVICES, FakeNvml
from tests.support.influx import InfluxStack

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
DEVICES = json.loads(DEFAULT_DEVICES.read_text())["devices"]


def _collect(argv: list[str], influx: InfluxStack, db: str, tmp_path: Path, **kwargs: object) -> None:
    err = io.StringIO()
    code = cli.main([*argv, "--influx-url", influx.write_url, "--influx-bucket", db, "--influx-org", "lab",
                     "--spool-dir", str(tmp_path / "spool"), "--host", "node1", "--run-id", "r1"],
                    stdout=io.StringIO(), stderr=err, **kwargs)  # type: ignore[arg-type]
    assert code == 0, err.getvalue()
    assert "not fully flushed" not in err.getvalue()


def _rows(influx: InfluxStack, db: str, q: str) -> list[dict[str, object]]:
    out = []
    for series in influx.server.series(q, db):
        for values in series["values"]:
            row = dict(zip(series["columns"], values, strict=True))
            row.update(series.get("tags") or {})
            out.append(row)
    return out


def test_fake_nvml_8_gpus_written_to_influxdb(influx: InfluxStack, influx_db: str, tmp_path: Path) -> None:
    _collect(["gpu", "--once"], influx, influx_db, tmp_path, nvml=FakeNvml())
    rows = _rows(influx, influx_db, f'SELECT * FROM "{s.GPU.name}" GROUP BY "uuid"')
    assert len(rows) == 8
    by_uuid = {r["uuid"]: r for r in rows}
    for dev in DEVICES:
        row = by_uuid[dev["uuid"]]
        assert row["gpu"] == str(dev["index"]) and row["host"] == "node1" and row["run_id"] == "r1"
        assert row["source"] == "nvml" and row["gpu_model"] == dev["name"]
        assert row[s.GF_POWER.name] == dev["power_mw"] / 1000
        assert row[s.GF_FB_USED.name] == dev["memory_used"] / 2**20
        assert row[s.GF_ENERGY.name] == dev["energy_mj"]
        assert row[s.GF_PCIE_RX.name] == dev["pcie_rx_kbs"] * 1024
        if "ecc" in dev["unsupported"]:
            assert row[s.GF_ECC_SBE_VOL.name] is None  # absent, not 0
        else:
            assert row[s.GF_ECC_SBE_VOL.name] == dev["ecc_corrected_volatile"]
    health = _rows(influx, influx_db, f'SELECT * FROM "{s.COLLECTOR.name}"')
    assert len(health) == 1 and health[0][s.CF_POINTS.name] == 8 and health[0][s.CF_ERRORS.name] == 0


def test_gpusim_dcgm_endpoint_written_to_influxdb(influx: InfluxStack, influx_db: str, tmp_path: Path) -> None:
    pytest.importorskip("gpusim.cli")
    proc = subprocess.Popen([sys.executable, "-m", "loadgen.cli", "sim", "--port", "0", "--host", "127.0.0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO)
    try:
        assert proc.stdout is not None
        m = re.search(r"gpusim listening on (http://\S+)", proc.stdout.readline())
        assert m, "gpusim did not start"
        _collect(["gpu", "--source", "dcgm", "--dcgm-url", m.group(1) + "/dcgm/metrics", "--once"],
                 influx, influx_db, tmp_path)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    rows = _rows(influx, influx_db, f'SELECT * FROM "{s.GPU.name}" GROUP BY "uuid"')
    assert rows
    for row in rows:
        assert row["source"] == "dcgm" and row["uuid"]
        for name in (s.GF_GPU_UTIL.name, s.GF_POWER.name, s.GF_FB_USED.name, s.GF_ENERGY.name, s.GF_SM_CLOCK.name):
            assert isinstance(row[name], (int, float)), name
