"""GPU telemetry from NVML (``nvidia-ml-py``, import name ``pynvml``), with the module injected.

:func:`open_nvml` initialises NVML once and resolves every GPU's handle once, keyed by UUID
(indices are display only: NVML says they can change across reboots).  Each reading (one NVML
call, one or more fields) is probed on its first use per GPU: ``NotSupported``,
``FunctionNotFound`` or ``NoPermission`` disables it for that GPU, with one warning per reading
naming the GPUs; any other NVML error skips that sample and keeps the reading.  A missing value
is absent from the point, never 0.  PCIe throughput blocks ~20 ms per direction, so it is read
every ``pcie_period_s`` (default 10 s) rather than every collection.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from collectors import schema as s
from collectors.gpu.fields import CLOCKS_EVENT_FIELD, NVML_SCALE, decode_clocks_event
from collectors.point import Point
from userinput.errors import InputError

log = logging.getLogger(__name__)

Reader = Callable[[Any, Any], dict[str, float]]  # (nvml module, handle) -> raw values by field name


def _utilization(n: Any, h: Any) -> dict[str, float]:
    u = n.nvmlDeviceGetUtilizationRates(h)
    return {s.GF_GPU_UTIL.name: u.gpu, s.GF_MEM_COPY_UTIL.name: u.memory}


def _memory(n: Any, h: Any) -> dict[str, float]:
    m = n.nvmlDeviceGetMemoryInfo(h)
    return {s.GF_FB_USED.name: m.used, s.GF_FB_FREE.name: m.free, s.GF_FB_TOTAL.name: m.total}


def _temperature(n: Any, h: Any) -> dict[str, float]:
    return {s.GF_GPU_TEMP.name: n.nvmlDeviceGetTemperatureV(h, n.NVML_TEMPERATURE_GPU)}


def _temperature_legacy(n: Any, h: Any) -> dict[str, float]:  # deprecated in NVML 13, for older drivers
    return {s.GF_GPU_TEMP.name: n.nvmlDeviceGetTemperature(h, n.NVML_TEMPERATURE_GPU)}


def _ecc(n: Any, h: Any) -> dict[str, float]:
    return {
        s.GF_ECC_SBE_VOL.name: n.nvmlDeviceGetTotalEccErrors(h, n.NVML_MEMORY_ERROR_TYPE_CORRECTED, n.NVML_VOLATILE_ECC),
        s.GF_ECC_DBE_VOL.name: n.nvmlDeviceGetTotalEccErrors(h, n.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, n.NVML_VOLATILE_ECC),
    }


def _pcie(n: Any, h: Any) -> dict[str, float]:
    return {
        s.GF_PCIE_TX.name: n.nvmlDeviceGetPcieThroughput(h, n.NVML_PCIE_UTIL_TX_BYTES),
        s.GF_PCIE_RX.name: n.nvmlDeviceGetPcieThroughput(h, n.NVML_PCIE_UTIL_RX_BYTES),
    }


# name -> reader; every collection (the PCIe reader is separate: it is slow)
READINGS: dict[str, Reader] = {
    "utilization": _utilization,
    "memory": _memory,
    "power": lambda n, h: {s.GF_POWER.name: n.nvmlDeviceGetPowerUsage(h)},
    "power_limit": lambda n, h: {s.GF_POWER_LIMIT.name: n.nvmlDeviceGetEnforcedPowerLimit(h)},
    "energy": lambda n, h: {s.GF_ENERGY.name: n.nvmlDeviceGetTotalEnergyConsumption(h)},
    "sm_clock": lambda n, h: {s.GF_SM_CLOCK.name: n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_SM)},
    "mem_clock": lambda n, h: {s.GF_MEM_CLOCK.name: n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_MEM)},
    "temperature": _temperature,
    "clocks_event": lambda n, h: {CLOCKS_EVENT_FIELD: n.nvmlDeviceGetCurrentClocksEventReasons(h)},
    "ecc": _ecc,
}
PCIE_READING = "pcie"
# tried once when a reading's call is missing (old driver or binding): FunctionNotFound/AttributeError
FALLBACKS: dict[str, Reader] = {"temperature": _temperature_legacy}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class _Gpu:
    index: int
    uuid: str
    name: str
    handle: Any
    tags: dict[str, str]
    disabled: set[str] = field(default_factory=set)
    readers: dict[str, Reader] = field(default_factory=dict)  # per-GPU fallback readers in use


def open_nvml(nvml: Any | None = None) -> Any:
    """Import (unless given) and initialise NVML; :class:`InputError` when there is no usable driver."""
    if nvml is None:
        try:
            nvml = importlib.import_module("pynvml")  # nvidia-ml-py; never the deprecated `pynvml` dist
        except ImportError as err:
            raise InputError(
                "gpu: nvidia-ml-py is not installed (pip install 'inferload[gpu]'), "
                "or use --source dcgm --dcgm-url URL"
            ) from err
    assert nvml is not None
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as err:
        raise InputError(
            f"gpu: NVML unavailable ({type(err).__name__}: {err}); is the NVIDIA driver installed "
            "and the GPU visible to this container? Alternatively read a dcgm-exporter with "
            "--source dcgm --dcgm-url URL"
        ) from err
    return nvml


class NvmlGpuCollector:
    """``collect(now_ns)`` -> one ``gpu`` point per GPU.  Build with an initialised module (:func:`open_nvml`)."""

    source = "nvml"

    def __init__(self, nvml: Any, *, tags: Mapping[str, str] | None = None, pcie_period_s: float = 10.0) -> None:
        self._nvml = nvml
        self._pcie_period_ns = int(pcie_period_s * 1e9)
        self._next_pcie_ns: int | None = None
        self._missing_call = (nvml.NVMLError_FunctionNotFound, AttributeError)
        self._disabled_unsupported = (nvml.NVMLError_NotSupported, nvml.NVMLError_NoPermission)
        self._warned: set[str] = set()
        self.transient_errors = 0
        base = dict(tags or {})
        self.gpus: dict[str, _Gpu] = {}  # by UUID, resolved once
        try:
            count = nvml.nvmlDeviceGetCount()
        except nvml.NVMLError as err:
            raise InputError(f"gpu: NVML could not count the GPUs ({type(err).__name__}: {err})") from err
        for index in range(count):
            try:
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                uuid = _text(nvml.nvmlDeviceGetUUID(handle))
                name = _text(nvml.nvmlDeviceGetName(handle))
            except nvml.NVMLError as err:  # e.g. GpuIsLost, NoPermission: collect the others
                log.warning("GPU %d skipped: NVML could not resolve it (%s: %s)", index, type(err).__name__, err)
                continue
            gpu_tags = {**base, s.T_GPU.name: str(index), s.T_UUID.name: uuid, s.T_GPU_MODEL.name: name,
                        s.T_SOURCE.name: self.source}
            self.gpus[uuid] = _Gpu(index, uuid, name, handle, gpu_tags)
        if not self.gpus:
            raise InputError("gpu: NVML found no usable NVIDIA GPU on this host")

    def _read(self, gpu: _Gpu, name: str, reader: Reader, fields: dict[str, float], newly: dict[str, list[int]]) -> None:
        if name in gpu.disabled:
            return
        reader = gpu.readers.get(name, reader)
        try:
            raw = reader(self._nvml, gpu.handle)
        except self._missing_call as err:
            if name in FALLBACKS and name not in gpu.readers:
                log.debug("GPU %d: %s falls back to the older call (%s)", gpu.index, name, type(err).__name__)
                gpu.readers[name] = FALLBACKS[name]
                self._read(gpu, name, reader, fields, newly)
                return
            gpu.disabled.add(name)
            newly.setdefault(name, []).append(gpu.index)
            log.debug("GPU %d %s: %s disabled (%s)", gpu.index, gpu.uuid, name, type(err).__name__)
            return
        except self._disabled_unsupported as err:
            gpu.disabled.add(name)
            newly.setdefault(name, []).append(gpu.index)
            log.debug("GPU %d %s: %s disabled (%s)", gpu.index, gpu.uuid, name, type(err).__name__)
            return
        except self._nvml.NVMLError as err:  # GpuIsLost, Unknown, Timeout...: skip this sample only
            self.transient_errors += 1
            log.debug("GPU %d %s: %s skipped this sample (%s)", gpu.index, gpu.uuid, name, type(err).__name__)
            return
        for key, value in raw.items():
            if value is not None:  # NVML_VALUE_NOT_AVAILABLE comes back as None
                fields[key] = float(value) * NVML_SCALE[key]

    def collect(self, now_ns: int) -> Iterable[Point]:
        pcie = self._next_pcie_ns is None or now_ns >= self._next_pcie_ns - self._pcie_period_ns // 20
        if pcie:
            self._next_pcie_ns = now_ns + self._pcie_period_ns
        newly: dict[str, list[int]] = {}
        points: list[Point] = []
        for gpu in self.gpus.values():
            fields: dict[str, float] = {}
            for name, reader in READINGS.items():
                self._read(gpu, name, reader, fields, newly)
            if pcie:
                self._read(gpu, PCIE_READING, _pcie, fields, newly)
            mask = fields.get(CLOCKS_EVENT_FIELD)
            if mask is not None:
                fields.update(decode_clocks_event(mask))
            if fields:
                points.append(Point(s.GPU.name, gpu.tags, fields, now_ns))
        for name, indices in newly.items():
            if name not in self._warned:
                self._warned.add(name)
                log.warning("GPU reading '%s' not supported on GPU %s: skipped from now on",
                            name, ",".join(map(str, indices)))
        return points

    def close(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except self._nvml.NVMLError:
            pass


__all__ = ["FALLBACKS", "PCIE_READING", "READINGS", "NvmlGpuCollector", "open_nvml"]
