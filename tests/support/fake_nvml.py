"""A fake ``pynvml`` module: 8 GPUs read from tests/testdata/nvml/, real NVML error classes.

It copies every ``NVMLError*``, ``NVML_*`` and ``nvmlClocksEventReason*`` name from the real
``nvidia-ml-py`` module (which imports fine without a driver) and supplies the functions the GPU
collector calls, so a collector under test cannot tell it from the real one.  Readings listed in
a device's ``unsupported`` raise ``NVMLError_NotSupported``; ``nvmlDeviceGetTemperatureV`` raises
``NVMLError_FunctionNotFound`` (an older driver) unless ``temperature_v=True``.
``FakeNvml(no_driver=True)`` raises ``NVMLError_LibraryNotFound`` on ``nvmlInit`` like a host
without the driver.  ``calls`` counts every function call; ``fail_next`` injects one error.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml

DEFAULT_DEVICES = Path(__file__).resolve().parent.parent / "testdata" / "nvml" / "h100x8.json"


class _Handle:
    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"<fake nvmlDevice {self.index}>"


class FakeNvml:
    def __init__(self, path: Path = DEFAULT_DEVICES, *, no_driver: bool = False, temperature_v: bool = False) -> None:
        for name in dir(pynvml):
            if name.startswith(("NVMLError", "NVML_", "nvmlClocksEventReason", "nvmlMemory", "nvmlTemperature")):
                setattr(self, name, getattr(pynvml, name))
        data = json.loads(path.read_text())
        self.devices: list[dict[str, Any]] = data["devices"]
        self.driver_version: str = data["driver_version"]
        self.no_driver = no_driver
        self.temperature_v = temperature_v
        self.initialised = 0
        self.calls: Counter[str] = Counter()
        self.fail_next: dict[tuple[int, str], type[Exception]] = {}

    # -- helpers --------------------------------------------------------------------------
    def _dev(self, handle: _Handle, fn: str, reading: str | None = None) -> dict[str, Any]:
        self.calls[fn] += 1
        if not self.initialised:
            raise pynvml.NVMLError_Uninitialized()
        err = self.fail_next.pop((handle.index, fn), None)
        if err is not None:
            raise err()
        dev = self.devices[handle.index]
        if reading is not None and reading in dev["unsupported"]:
            raise pynvml.NVMLError_NotSupported()
        return dev

    # -- lifecycle ------------------------------------------------------------------------
    def nvmlInit(self) -> None:
        self.calls["nvmlInit"] += 1
        if self.no_driver:
            raise pynvml.NVMLError_LibraryNotFound()
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        self.calls["nvmlShutdown"] += 1
        if not self.initialised:
            raise pynvml.NVMLError_Uninitialized()
        self.initialised -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver_version

    def nvmlDeviceGetCount(self) -> int:
        self.calls["nvmlDeviceGetCount"] += 1
        if not self.initialised:
            raise pynvml.NVMLError_Uninitialized()
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        self.calls["nvmlDeviceGetHandleByIndex"] += 1
        if not 0 <= index < len(self.devices):
            raise pynvml.NVMLError_InvalidArgument()
        return _Handle(index)

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> _Handle:
        self.calls["nvmlDeviceGetHandleByUUID"] += 1
        for i, dev in enumerate(self.devices):
            if dev["uuid"] == uuid:
                return _Handle(i)
        raise pynvml.NVMLError_NotFound()

    # -- identity -------------------------------------------------------------------------
    def nvmlDeviceGetUUID(self, h: _Handle) -> str:
        return str(self._dev(h, "nvmlDeviceGetUUID")["uuid"])

    def nvmlDeviceGetName(self, h: _Handle) -> str:
        return str(self._dev(h, "nvmlDeviceGetName")["name"])

    # -- readings -------------------------------------------------------------------------
    def nvmlDeviceGetUtilizationRates(self, h: _Handle) -> SimpleNamespace:
        d = self._dev(h, "nvmlDeviceGetUtilizationRates", "utilization")
        return SimpleNamespace(gpu=d["utilization_gpu"], memory=d["utilization_memory"])

    def nvmlDeviceGetMemoryInfo(self, h: _Handle, version: Any = None) -> SimpleNamespace:
        d = self._dev(h, "nvmlDeviceGetMemoryInfo", "memory")
        used, total = d["memory_used"], d["memory_total"]
        return SimpleNamespace(used=used, free=total - used, total=total)

    def nvmlDeviceGetPowerUsage(self, h: _Handle) -> int:
        return int(self._dev(h, "nvmlDeviceGetPowerUsage", "power")["power_mw"])

    def nvmlDeviceGetEnforcedPowerLimit(self, h: _Handle) -> int:
        return int(self._dev(h, "nvmlDeviceGetEnforcedPowerLimit", "power_limit")["power_limit_mw"])

    def nvmlDeviceGetTotalEnergyConsumption(self, h: _Handle) -> int:
        return int(self._dev(h, "nvmlDeviceGetTotalEnergyConsumption", "energy")["energy_mj"])

    def nvmlDeviceGetClockInfo(self, h: _Handle, clock_type: int) -> int:
        if clock_type == pynvml.NVML_CLOCK_SM:
            return int(self._dev(h, "nvmlDeviceGetClockInfo", "sm_clock")["sm_clock_mhz"])
        if clock_type == pynvml.NVML_CLOCK_MEM:
            return int(self._dev(h, "nvmlDeviceGetClockInfo", "mem_clock")["mem_clock_mhz"])
        raise pynvml.NVMLError_InvalidArgument()

    def nvmlDeviceGetTemperatureV(self, h: _Handle, sensor: int, version: int = 0) -> int:
        if not self.temperature_v:
            self.calls["nvmlDeviceGetTemperatureV"] += 1
            raise pynvml.NVMLError_FunctionNotFound()
        return int(self._dev(h, "nvmlDeviceGetTemperatureV", "temperature")["temperature_c"])

    def nvmlDeviceGetTemperature(self, h: _Handle, sensor: int) -> int:
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return int(self._dev(h, "nvmlDeviceGetTemperature", "temperature")["temperature_c"])

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: _Handle) -> int:
        return int(self._dev(h, "nvmlDeviceGetCurrentClocksEventReasons", "clocks_event")["clocks_event_reasons"])

    def nvmlDeviceGetPcieThroughput(self, h: _Handle, counter: int) -> int:
        d = self._dev(h, "nvmlDeviceGetPcieThroughput", "pcie")
        return int(d["pcie_tx_kbs"] if counter == pynvml.NVML_PCIE_UTIL_TX_BYTES else d["pcie_rx_kbs"])

    def nvmlDeviceGetTotalEccErrors(self, h: _Handle, error_type: int, counter_type: int) -> int:
        d = self._dev(h, "nvmlDeviceGetTotalEccErrors", "ecc")
        assert counter_type == pynvml.NVML_VOLATILE_ECC
        key = "ecc_corrected_volatile" if error_type == pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED else "ecc_uncorrected_volatile"
        return int(d[key])


def fake_nvml(**kwargs: Any) -> Any:
    """A fresh fake module (typed ``Any`` so it stands where ``pynvml`` is expected)."""
    return FakeNvml(**kwargs)


__all__ = ["DEFAULT_DEVICES", "FakeNvml", "fake_nvml"]
