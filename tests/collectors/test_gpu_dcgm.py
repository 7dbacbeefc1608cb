"""GPU collector, dcgm-exporter source: recorded snapshot, same fields as NVML, live gpusim."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from collectors import schema as s
from collectors.gpu.dcgm import DcgmExporterCollector
from collectors.gpu.nvml import NvmlGpuCollector, open_nvml
from collectors.http import http_get
from tests.support.fake_nvml import FakeNvml

SNAPSHOT = Path(__file__).resolve().parents[1] / "testdata" / "metrics" / "dcgm-exporter.txt"
REPO = Path(__file__).resolve().parents[2]


def _dcgm_points() -> list:
    text = SNAPSHOT.read_text()
    c = DcgmExporterCollector("http://exporter/metrics", get=lambda url, timeout: text, tags={"host": "me"})
    return list(c.collect(7))


def test_snapshot_gives_one_point_per_gpu_with_labels_as_tags() -> None:
    points = _dcgm_points()
    assert len(points) == 8
    p = points[3]
    assert p.measurement == s.GPU.name and p.time_ns == 7
    assert p.tags == {
        "host": "gpu-node-1",  # the exporter's Hostname label wins over --host
        s.T_GPU.name: "3", s.T_UUID.name: "GPU-00000003-1111-2222-3333-444455550003",
        s.T_GPU_MODEL.name: "NVIDIA H100 80GB HBM3", s.T_SOURCE.name: "dcgm",
    }
    assert p.fields[s.GF_POWER.name] == 130.0
    assert p.fields[s.GF_FB_USED.name] == 13312.0
    assert p.fields[s.GF_CE_SW_POWER_CAP.name] == 1.0
    assert set(p.fields) <= set(s.GPU.field_names())


def test_dcgm_and_nvml_sources_give_identical_fields() -> None:
    nvml = {p.tags[s.T_UUID.name]: p for p in NvmlGpuCollector(open_nvml(FakeNvml())).collect(7)}
    for p in _dcgm_points():
        other = nvml[p.tags[s.T_UUID.name]]
        assert p.fields == pytest.approx(other.fields)
        assert {k: v for k, v in p.tags.items() if k not in ("host", "source")} == {
            k: v for k, v in other.tags.items() if k not in ("host", "source")
        }


def test_unknown_families_are_ignored_and_counter_types_accepted() -> None:
    text = (
        "# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter\n"
        'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu="0",UUID="GPU-a",modelName="X"} 42\n'
        "# TYPE DCGM_FI_DEV_VGPU_LICENSE_STATUS gauge\n"
        'DCGM_FI_DEV_VGPU_LICENSE_STATUS{gpu="0",UUID="GPU-a",modelName="X"} 1\n'
        "# TYPE DCGM_FI_DEV_CLOCK_THROTTLE_REASONS gauge\n"
        'DCGM_FI_DEV_CLOCK_THROTTLE_REASONS{gpu="0",UUID="GPU-a",modelName="X"} 64\n'
    )
    (p,) = DcgmExporterCollector("u", get=lambda u, t: text, tags={"host": "h"}).collect(1)
    assert p.tags["host"] == "h"
    assert p.fields[s.GF_ENERGY.name] == 42.0
    assert p.fields[s.GF_CLOCKS_EVENT.name] == 64.0 and p.fields[s.GF_CE_HW_THERMAL.name] == 1.0
    assert "DCGM_FI_DEV_VGPU_LICENSE_STATUS" not in p.fields


@pytest.fixture
def gpusim_url(tmp_path: Path):  # type: ignore[no-untyped-def]
    pytest.importorskip("gpusim.cli")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadgen.cli", "sim", "--port", "0", "--host", "127.0.0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"gpusim listening on (http://\S+)", line)
        assert m, f"gpusim did not start: {line!r}"
        yield m.group(1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.integration
def test_live_gpusim_dcgm_endpoint(gpusim_url: str) -> None:
    c = DcgmExporterCollector(gpusim_url + "/dcgm/metrics", get=http_get, tags={"host": "me"})
    points = list(c.collect(1))
    assert points, "no GPU on gpusim's dcgm endpoint"
    for p in points:
        assert p.tags[s.T_SOURCE.name] == "dcgm" and p.tags[s.T_UUID.name]
        for name in (s.GF_GPU_UTIL.name, s.GF_POWER.name, s.GF_FB_USED.name, s.GF_ENERGY.name):
            assert name in p.fields, name
        assert set(p.fields) <= set(s.GPU.field_names())
