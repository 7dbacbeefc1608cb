"""gpusim's configuration: the strict sim.yaml models, preset merging and loading.

``load_config(path, preset_name)`` starts from a named preset, merges the file over it and
validates once from the root, so an error names ``file:line yaml.path: message``.  The file is
read, and errors are worded, by the shared base (:mod:`userinput`: strict models, the YAML reader
with line tracking and its size/depth/alias limits, the validation-error formatter), like a
scenario.  gpusim stands for someone else's server: it imports the shared base, never
``loadgen`` or ``collectors``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from gpusim.presets import DEFAULT_PRESET, PRESETS, preset
from userinput.errors import InputError
from userinput.strict import StrictModel
from userinput.validation import format_errors
from userinput.yaml_source import LineMap, read_yaml_document


class SimConfigError(InputError):
    """Bad gpusim input (config file, preset name, flag); the CLI prints it and exits 2."""


class EngineConfig(StrictModel):
    """The continuous-batching engine: scheduler limits, KV cache and step-cost coefficients."""

    mode: Literal["batching", "fixed"] = "batching"
    max_num_seqs: int = Field(256, ge=1)
    max_num_batched_tokens: int = Field(8192, ge=1)
    max_model_len: int = Field(8192, ge=2)
    block_size: int = Field(16, ge=1)
    num_gpu_blocks: int = Field(25000, ge=1)
    enable_prefix_caching: bool = True
    step_overhead_s: float = Field(0.006, ge=0)
    prefill_s_per_token: float = Field(3.0e-5, ge=0)
    decode_s_per_seq: float = Field(2.0e-5, ge=0)
    attention_s_per_kv_token: float = Field(4.0e-8, ge=0)
    fixed_ttft_s: float = Field(0.05, ge=0)
    fixed_itl_s: float = Field(0.01, ge=0)

    @model_validator(mode="after")
    def _fits(self) -> EngineConfig:
        if self.mode == "batching" and self.num_gpu_blocks * self.block_size < self.max_model_len:
            raise ValueError(
                f"num_gpu_blocks * block_size ({self.num_gpu_blocks * self.block_size}) must hold "
                f"at least one max_model_len ({self.max_model_len}) sequence"
            )
        return self


class LengthConfig(StrictModel):
    """The deterministic length model: chars per token and the natural output length."""

    chars_per_token: float = Field(4.0, gt=0)
    message_overhead_tokens: int = Field(4, ge=0)
    natural_output_median: float = Field(200.0, ge=1)
    natural_output_sigma: float = Field(0.6, ge=0)


class GpuConfig(StrictModel):
    """The simulated card(s): memory, power, first-order thermal model and clocks."""

    name: str = "NVIDIA H100 80GB HBM3"
    count: int = Field(1, ge=1, le=16)
    fb_total_mib: int = Field(81559, ge=1)
    weights_mib: int = Field(15317, ge=0)
    idle_power_w: float = Field(70.0, ge=0)
    tdp_w: float = Field(700.0, gt=0)
    ambient_c: float = 30.0
    thermal_resistance_c_per_w: float = Field(0.085, ge=0)
    thermal_tau_s: float = Field(90.0, gt=0)
    throttle_start_c: float = 80.0
    throttle_full_c: float = 90.0
    boost_clock_mhz: int = Field(1980, ge=1)
    min_clock_mhz: int = Field(1410, ge=1)
    util_window_s: float = Field(1.0, gt=0)
    hostname: str = "gpusim"

    @model_validator(mode="after")
    def _ranges(self) -> GpuConfig:
        if self.tdp_w < self.idle_power_w:
            raise ValueError("tdp_w must be >= idle_power_w")
        if self.throttle_full_c <= self.throttle_start_c:
            raise ValueError("throttle_full_c must be > throttle_start_c")
        if self.min_clock_mhz > self.boost_clock_mhz:
            raise ValueError("min_clock_mhz must be <= boost_clock_mhz")
        if self.weights_mib >= self.fb_total_mib:
            raise ValueError("weights_mib must be < fb_total_mib")
        return self


class FaultsConfig(StrictModel):
    """Fault injection: probabilities per request (0..1), durations in seconds."""

    http_429: float = Field(0.0, ge=0, le=1)
    retry_after_s: int = Field(1, ge=0)
    http_500: float = Field(0.0, ge=0, le=1)
    http_503: float = Field(0.0, ge=0, le=1)
    reset_mid_stream: float = Field(0.0, ge=0, le=1)
    no_done: float = Field(0.0, ge=0, le=1)
    stall: float = Field(0.0, ge=0, le=1)
    stall_s: float = Field(2.0, ge=0)
    malformed_sse: float = Field(0.0, ge=0, le=1)
    slow_first_byte: float = Field(0.0, ge=0, le=1)
    slow_first_byte_s: float = Field(1.0, ge=0)
    close_connection: bool = False
    slowdown_per_hour: float = Field(
        0.0, ge=0,
        description="a slowly degrading server: every engine step (TTFT and ITL) takes this fraction longer "
        "per simulated hour since start (0.2: 20 % slower after 1 h, 40 % after 2 h)",
    )

    @model_validator(mode="after")
    def _status_sum(self) -> FaultsConfig:
        if self.http_429 + self.http_500 + self.http_503 > 1.0:
            raise ValueError("http_429 + http_500 + http_503 must be <= 1")
        return self


class ServerConfig(StrictModel):
    """API behaviour: per-request metrics field, embeddings size."""

    per_request_metrics: bool = False
    embedding_dim: int = Field(384, ge=1, le=8192)


class SimConfig(StrictModel):
    """The root of sim.yaml."""

    preset: str | None = None
    model: str = "meta-llama/Llama-3.1-8B-Instruct"
    seed: int = 0
    engine: EngineConfig = EngineConfig()
    lengths: LengthConfig = LengthConfig()
    gpu: GpuConfig = GpuConfig()
    faults: FaultsConfig = FaultsConfig()
    server: ServerConfig = ServerConfig()


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def build_config(data: dict[str, Any], preset_name: str | None = None, source: str = "<config>",
                 lines: LineMap | None = None) -> SimConfig:
    """Merge ``data`` over the preset (``preset_name``, else ``data['preset']``, else the default)."""
    name = preset_name or data.get("preset") or DEFAULT_PRESET
    if not isinstance(name, str) or name not in PRESETS:
        line = (lines or LineMap()).line_of(("preset",))
        raise SimConfigError(f"{source}:{line} preset: unknown preset {name!r} (known: {', '.join(sorted(PRESETS))})")
    merged = _merge(preset(name), data)
    merged["preset"] = name
    try:
        return SimConfig.model_validate(merged)
    except ValidationError as err:
        raise SimConfigError(format_errors(err, source, merged, lines or LineMap(), SimConfig)) from None


def load_config(path: str | Path | None = None, preset_name: str | None = None) -> SimConfig:
    """Load sim.yaml (optional) over a preset; raises :class:`SimConfigError` naming file and line."""
    if path is None:
        return build_config({}, preset_name)
    try:
        data, lines = read_yaml_document(path, "gpusim config file")
    except InputError as err:
        raise SimConfigError(str(err)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SimConfigError(f"{path}:1: the top level must be a mapping (engine:, gpu:, faults:, ...)")
    return build_config(data, preset_name, str(path), lines)


__all__ = [
    "EngineConfig",
    "FaultsConfig",
    "GpuConfig",
    "LengthConfig",
    "ServerConfig",
    "SimConfig",
    "SimConfigError",
    "build_config",
    "load_config",
]
