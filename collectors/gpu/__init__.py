"""GPU telemetry: an NVML source (nvidia-ml-py, module injected) and a dcgm-exporter source,
both writing the ``gpu`` measurement with the same DCGM-named fields."""

from collectors.gpu.dcgm import DcgmExporterCollector
from collectors.gpu.nvml import NvmlGpuCollector, open_nvml

__all__ = ["DcgmExporterCollector", "NvmlGpuCollector", "open_nvml"]
