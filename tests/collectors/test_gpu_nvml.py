"""GPU collector, NVML source, against the fake 8-GPU NVML (tests/support/fake_nvml.py)."""

from __future__ import annotations

import json
import logging

import pynvml
import pytest

from collectors import schema as s
from collectors.gpu.nvml import NvmlGpuCollector, open_nvml
from tests.support.fake_nvml import DEFAULT_DEVICES, FakeNvml
from userinput.errors import InputError

DEVICES = json.loads(DEFAULT_DEVICES.read_text())["devices"]
MIB = 1024 * 1024


def _collector(**kwargs: object) -> tuple[FakeNvml, NvmlGpuCollector]:
    fake = FakeNvml()
    return fake, NvmlGpuCollector(open_nvml(fake), tags={"host": "node1"}, **kwargs)  # type: ignore[arg-type]


def _expected(dev: dict) -> dict[str, float]:
    out = {
        s.GF_GPU_UTIL.name: dev["utilization_gpu"],
        s.GF_MEM_COPY_UTIL.name: dev["utilization_memory"],
        s.GF_FB_USED.name: dev["memory_used"] / MIB,
        s.GF_FB_FREE.name: (dev["memory_total"] - dev["memory_used"]) / MIB,
        s.GF_FB_TOTAL.name: dev["memory_total"] / MIB,
        s.GF_POWER.name: dev["power_mw"] / 1000,
        s.GF_POWER_LIMIT.name: dev["power_limit_mw"] / 1000,
        s.GF_ENERGY.name: dev["energy_mj"],
        s.GF_SM_CLOCK.name: dev["sm_clock_mhz"],
        s.GF_MEM_CLOCK.name: dev["mem_clock_mhz"],
        s.GF_GPU_TEMP.name: dev["temperature_c"],
        s.GF_CLOCKS_EVENT.name: dev["clocks_event_reasons"],
        s.GF_PCIE_TX.name: dev["pcie_tx_kbs"] * 1024,
        s.GF_PCIE_RX.name: dev["pcie_rx_kbs"] * 1024,
    }
    if "ecc" not in dev["unsupported"]:
        out[s.GF_ECC_SBE_VOL.name] = dev["ecc_corrected_volatile"]
        out[s.GF_ECC_DBE_VOL.name] = dev["ecc_uncorrected_volatile"]
    for bit, field in s.CLOCKS_EVENT_FLAGS:
        out[field.name] = 1.0 if dev["clocks_event_reasons"] & bit else 0.0
    return {k: float(v) for k, v in out.items()}


def test_eight_gpus_expected_fields_and_values() -> None:
    _, c = _collector()
    points = list(c.collect(1_000_000_000))
    assert len(points) == 8
    for point, dev in zip(points, DEVICES, strict=True):
        assert point.measurement == s.GPU.name
        assert point.time_ns == 1_000_000_000
        assert point.tags == {
            "host": "node1", s.T_GPU.name: str(dev["index"]), s.T_UUID.name: dev["uuid"],
            s.T_GPU_MODEL.name: dev["name"], s.T_SOURCE.name: "nvml",
        }
        assert point.fields == pytest.approx(_expected(dev))
        assert set(point.fields) <= set(s.GPU.field_names())
        assert set(point.tags) <= set(s.GPU.tag_names())


def test_clock_event_bits_decoded() -> None:
    _, c = _collector()
    by_gpu = {p.tags["gpu"]: p.fields for p in c.collect(1)}
    assert by_gpu["3"][s.GF_CE_SW_POWER_CAP.name] == 1.0 and by_gpu["3"][s.GF_CE_GPU_IDLE.name] == 1.0
    assert by_gpu["3"][s.GF_CE_HW_THERMAL.name] == 0.0
    assert by_gpu["4"][s.GF_CE_HW_THERMAL.name] == 1.0
    assert by_gpu["0"][s.GF_CE_SW_POWER_CAP.name] == 0.0


def test_handles_resolved_once_keyed_by_uuid() -> None:
    fake, c = _collector()
    for i in range(5):
        c.collect(i * 1_000_000_000)
    assert fake.calls["nvmlInit"] == 1
    assert fake.calls["nvmlDeviceGetHandleByIndex"] == 8
    assert fake.calls["nvmlDeviceGetUUID"] == 8
    assert sorted(c.gpus) == sorted(d["uuid"] for d in DEVICES)


def test_unsupported_field_probed_once_warned_once_then_absent(caplog: pytest.LogCaptureFixture) -> None:
    fake, c = _collector()
    with caplog.at_level(logging.WARNING, logger="collectors.gpu.nvml"):
        for i in range(4):
            points = {p.tags["gpu"]: p for p in c.collect(i * 1_000_000_000)}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'ecc'" in warnings[0].getMessage() and "5,7" in warnings[0].getMessage()
    for gpu in ("5", "7"):
        assert s.GF_ECC_SBE_VOL.name not in points[gpu].fields  # absent, never 0
    assert points["6"].fields[s.GF_ECC_SBE_VOL.name] == 6.0
    # 6 supporting GPUs x 2 calls x 4 collections + one failed probe on each of GPUs 5 and 7
    assert fake.calls["nvmlDeviceGetTotalEccErrors"] == 6 * 2 * 4 + 2


def test_missing_temperature_v_falls_back_once_per_gpu() -> None:
    fake, c = _collector()
    for i in range(3):
        points = list(c.collect(i))
    assert fake.calls["nvmlDeviceGetTemperatureV"] == 8
    assert fake.calls["nvmlDeviceGetTemperature"] == 24
    assert points[2].fields[s.GF_GPU_TEMP.name] == 42.0


def test_transient_error_skips_one_sample_keeps_the_field() -> None:
    fake, c = _collector()
    fake.fail_next[(2, "nvmlDeviceGetPowerUsage")] = pynvml.NVMLError_GpuIsLost
    first = {p.tags["gpu"]: p.fields for p in c.collect(0)}
    second = {p.tags["gpu"]: p.fields for p in c.collect(1_000_000_000)}
    assert s.GF_POWER.name not in first["2"]
    assert second["2"][s.GF_POWER.name] == 120.0
    assert first["2"][s.GF_GPU_UTIL.name] == 25.0
    assert c.transient_errors == 1


def test_pcie_read_every_pcie_period_only() -> None:
    fake, c = _collector(pcie_period_s=10.0)
    with_pcie = []
    for second in range(25):
        point = list(c.collect(second * 1_000_000_000))[0]
        if s.GF_PCIE_TX.name in point.fields:
            with_pcie.append(second)
    assert with_pcie == [0, 10, 20]
    assert fake.calls["nvmlDeviceGetPcieThroughput"] == 3 * 8 * 2


def test_values_follow_the_device() -> None:
    fake, c = _collector()
    c.collect(0)
    fake.devices[1]["energy_mj"] += 5000
    point = {p.tags["gpu"]: p.fields for p in c.collect(1)}["1"]
    assert point[s.GF_ENERGY.name] == DEVICES[1]["energy_mj"] + 5000


def test_no_driver_is_a_clear_input_error() -> None:
    fake = FakeNvml(no_driver=True)
    with pytest.raises(InputError) as err:
        open_nvml(fake)
    message = str(err.value)
    assert "NVML unavailable" in message and "NVMLError_LibraryNotFound" in message
    assert "--source dcgm" in message


def test_real_nvml_module_without_driver_is_an_input_error() -> None:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:  # a GPU host: nothing to prove here
        pynvml.nvmlShutdown()
        pytest.skip("an NVIDIA driver is present")
    with pytest.raises(InputError, match="NVML unavailable"):
        open_nvml(None)


def test_close_shuts_nvml_down() -> None:
    fake, c = _collector()
    c.close()
    assert fake.calls["nvmlShutdown"] == 1 and fake.initialised == 0


def test_a_gpu_that_cannot_be_resolved_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeNvml()
    fake.fail_next[(6, "nvmlDeviceGetUUID")] = pynvml.NVMLError_GpuIsLost
    with caplog.at_level(logging.WARNING, logger="collectors.gpu.nvml"):
        c = NvmlGpuCollector(open_nvml(fake))
    assert sorted(g.index for g in c.gpus.values()) == [0, 1, 2, 3, 4, 5, 7]
    assert "GPU 6 skipped" in caplog.text and "NVMLError_GpuIsLost" in caplog.text
    assert len(list(c.collect(1))) == 7
