"""The one table of GPU fields: schema field, NVML raw unit and scale, dcgm-exporter family names.

NVML reports bytes, mW, mJ, MHz, °C, % and KB/s; the ``gpu`` measurement stores DCGM units
(MiB, W, mJ, MHz, °C, %, B/s), so NVML samples and dcgm-exporter scrapes are interchangeable.
"""

from __future__ import annotations

from dataclasses import dataclass

from collectors import schema as s


@dataclass(frozen=True, slots=True)
class GpuField:
    field: s.Field
    nvml_unit: str
    nvml_scale: float  # schema value = NVML value * nvml_scale
    dcgm_families: tuple[str, ...]  # dcgm-exporter family names carrying it (already in DCGM units)


_MIB = 1.0 / (1024 * 1024)
# NVML documents PCIe throughput in "KB/s"; NVIDIA tools use KiB, so x1024 (not verifiable without
# hardware: documented in docs/collectors.md).
_KIB = 1024.0

GPU_FIELDS: tuple[GpuField, ...] = (
    GpuField(s.GF_GPU_UTIL, "%", 1.0, ("DCGM_FI_DEV_GPU_UTIL",)),
    GpuField(s.GF_MEM_COPY_UTIL, "%", 1.0, ("DCGM_FI_DEV_MEM_COPY_UTIL",)),
    GpuField(s.GF_FB_USED, "B", _MIB, ("DCGM_FI_DEV_FB_USED",)),
    GpuField(s.GF_FB_FREE, "B", _MIB, ("DCGM_FI_DEV_FB_FREE",)),
    GpuField(s.GF_FB_TOTAL, "B", _MIB, ("DCGM_FI_DEV_FB_TOTAL",)),
    GpuField(s.GF_POWER, "mW", 1e-3, ("DCGM_FI_DEV_POWER_USAGE",)),
    GpuField(s.GF_POWER_LIMIT, "mW", 1e-3, ("DCGM_FI_DEV_ENFORCED_POWER_LIMIT",)),
    GpuField(s.GF_ENERGY, "mJ", 1.0, ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",)),
    GpuField(s.GF_SM_CLOCK, "MHz", 1.0, ("DCGM_FI_DEV_SM_CLOCK",)),
    GpuField(s.GF_MEM_CLOCK, "MHz", 1.0, ("DCGM_FI_DEV_MEM_CLOCK",)),
    GpuField(s.GF_GPU_TEMP, "C", 1.0, ("DCGM_FI_DEV_GPU_TEMP",)),
    GpuField(
        s.GF_CLOCKS_EVENT, "bitmask", 1.0,
        ("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS"),
    ),
    GpuField(s.GF_PCIE_TX, "KB/s", _KIB, ("DCGM_FI_PROF_PCIE_TX_BYTES",)),
    GpuField(s.GF_PCIE_RX, "KB/s", _KIB, ("DCGM_FI_PROF_PCIE_RX_BYTES",)),
    GpuField(s.GF_ECC_SBE_VOL, "1", 1.0, ("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL",)),
    GpuField(s.GF_ECC_DBE_VOL, "1", 1.0, ("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",)),
)

NVML_SCALE: dict[str, float] = {g.field.name: g.nvml_scale for g in GPU_FIELDS}
DCGM_FAMILY_FIELD: dict[str, str] = {fam: g.field.name for g in GPU_FIELDS for fam in g.dcgm_families}
CLOCKS_EVENT_FIELD = s.GF_CLOCKS_EVENT.name


def decode_clocks_event(mask: float) -> dict[str, float]:
    """The bitmask as one 1.0/0.0 field per known reason (``clocks_event_*``)."""
    bits = int(mask)
    return {f.name: 1.0 if bits & bit else 0.0 for bit, f in s.CLOCKS_EVENT_FLAGS}


__all__ = ["CLOCKS_EVENT_FIELD", "DCGM_FAMILY_FIELD", "GPU_FIELDS", "NVML_SCALE", "GpuField", "decode_clocks_event"]
