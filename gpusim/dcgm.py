"""The simulated GPU in dcgm-exporter's Prometheus format (field names, units, labels).

One series per simulated card with dcgm-exporter's labels ``gpu``, ``UUID``, ``pci_bus_id``, ``device``, ``modelName``,
``Hostname``.  Units are DCGM's: %, W, mJ (counter, no ``_total`` suffix, as dcgm-exporter),
degrees C, MHz, MiB, ns.  A tensor-parallel preset exposes ``gpu.count`` identical cards.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from gpusim.gpu import GpuModel

# (name, type, help, reader)
_FIELDS: tuple[tuple[str, str, str, Callable[[GpuModel], int | float]], ...] = (
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz).", lambda g: round(g.clock_mhz)),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C).", lambda g: round(g.temp_c)),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).", lambda g: round(g.power_w, 3)),
    ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter",
     "Total energy consumption since boot (in mJ).", lambda g: int(g.energy_mj)),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).", lambda g: round(100 * g.util)),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB).",
     lambda g: g.cfg.fb_total_mib - g.fb_used_mib()),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).", lambda g: g.fb_used_mib()),
    ("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "gauge", "Current clock throttle reasons (bitmask).",
     lambda g: g.throttle_reasons()),
    ("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "gauge", "Current clock event reasons (bitmask).",
     lambda g: g.throttle_reasons()),
    ("DCGM_FI_DEV_THERMAL_VIOLATION", "counter", "Throttling duration due to thermal constraints (in ns).",
     lambda g: int(g.thermal_violation_ns)),
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class DcgmExporter:
    """Renders the GPU model as dcgm-exporter would (``refresh`` runs before each render)."""

    def __init__(self, gpu: GpuModel, refresh: Callable[[], None] | None = None) -> None:
        self.gpu = gpu
        self._refresh = refresh
        base = uuid.uuid5(uuid.NAMESPACE_DNS, f"gpusim-{gpu.cfg.name}")
        self._labels = []
        for i in range(gpu.cfg.count):
            labels = {
                "gpu": str(i),
                "UUID": f"GPU-{uuid.UUID(int=(base.int + i) % (1 << 128))}",
                "pci_bus_id": f"00000000:{0x18 + i:02X}:00.0",
                "device": f"nvidia{i}",
                "modelName": gpu.cfg.name,
                "Hostname": gpu.cfg.hostname,
            }
            self._labels.append(",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()))

    def render(self) -> bytes:
        """The exposition text.

        Written by hand rather than by prometheus_client's ``generate_latest``, which always
        names a counter family ``*_total``; dcgm-exporter exposes its counters (energy in mJ,
        violation ns) under the bare DCGM field name, and collectors match on that.
        """
        if self._refresh is not None:
            self._refresh()
        g = self.gpu
        out: list[str] = []
        for name, typ, doc, read in _FIELDS:
            value = read(g)
            out.append(f"# HELP {name} {doc}\n# TYPE {name} {typ}\n")
            out.extend(f"{name}{{{labels}}} {value}\n" for labels in self._labels)
        return "".join(out).encode()


__all__ = ["DcgmExporter"]
