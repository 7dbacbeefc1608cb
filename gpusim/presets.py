"""Named presets: plausible engine and GPU parameters for a few model/GPU pairs.

Every number here is an *estimate* (reasoning in docs/gpusim.md): decode steps are
memory-bound (weights read once per step), prefill is compute-bound (2 FLOP per parameter
per token), attention reads every resident KV token once per step.  A preset is a plain
dict in the shape of sim.yaml; a config file's values are merged over it.
"""

from __future__ import annotations

import copy
from typing import Any

_H100_GPU: dict[str, Any] = {
    "name": "NVIDIA H100 80GB HBM3",
    "count": 1,
    "fb_total_mib": 81559,
    "weights_mib": 15317,
    "idle_power_w": 70.0,
    "tdp_w": 700.0,
    "ambient_c": 30.0,
    "thermal_resistance_c_per_w": 0.085,
    "thermal_tau_s": 90.0,
    "throttle_start_c": 80.0,
    "throttle_full_c": 90.0,
    "boost_clock_mhz": 1980,
    "min_clock_mhz": 1410,
}

PRESETS: dict[str, dict[str, Any]] = {
    "h100-llama8b": {
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "engine": {
            "mode": "batching",
            "max_num_seqs": 256,
            "max_num_batched_tokens": 8192,
            "max_model_len": 8192,
            "block_size": 16,
            "num_gpu_blocks": 25000,
            "enable_prefix_caching": True,
            "step_overhead_s": 0.006,
            "prefill_s_per_token": 3.0e-5,
            "decode_s_per_seq": 2.0e-5,
            "attention_s_per_kv_token": 4.0e-8,
        },
        "gpu": _H100_GPU,
    },
    "a100-llama70b-tp4": {
        "model": "meta-llama/Llama-3.1-70B-Instruct",
        "engine": {
            "mode": "batching",
            "max_num_seqs": 256,
            "max_num_batched_tokens": 8192,
            "max_model_len": 8192,
            "block_size": 16,
            "num_gpu_blocks": 26000,
            "enable_prefix_caching": True,
            "step_overhead_s": 0.022,
            "prefill_s_per_token": 1.2e-4,
            "decode_s_per_seq": 6.0e-5,
            "attention_s_per_kv_token": 4.0e-8,
        },
        "gpu": {
            "name": "NVIDIA A100-SXM4-80GB",
            "count": 4,
            "fb_total_mib": 81920,
            "weights_mib": 33800,
            "idle_power_w": 60.0,
            "tdp_w": 400.0,
            "ambient_c": 30.0,
            "thermal_resistance_c_per_w": 0.15,
            "thermal_tau_s": 90.0,
            "throttle_start_c": 80.0,
            "throttle_full_c": 90.0,
            "boost_clock_mhz": 1410,
            "min_clock_mhz": 1095,
        },
    },
    "tiny-cpu": {
        "model": "gpusim/tiny",
        "engine": {
            "mode": "batching",
            "max_num_seqs": 16,
            "max_num_batched_tokens": 512,
            "max_model_len": 2048,
            "block_size": 16,
            "num_gpu_blocks": 512,
            "enable_prefix_caching": True,
            "step_overhead_s": 0.002,
            "prefill_s_per_token": 2.0e-5,
            "decode_s_per_seq": 2.0e-4,
            "attention_s_per_kv_token": 1.0e-7,
        },
        "gpu": {
            "name": "gpusim Tiny GPU",
            "count": 1,
            "fb_total_mib": 16384,
            "weights_mib": 1024,
            "idle_power_w": 10.0,
            "tdp_w": 70.0,
            "ambient_c": 30.0,
            "thermal_resistance_c_per_w": 0.9,
            "thermal_tau_s": 20.0,
            "throttle_start_c": 80.0,
            "throttle_full_c": 90.0,
            "boost_clock_mhz": 1590,
            "min_clock_mhz": 900,
        },
    },
    "fixed": {
        "model": "gpusim/fixed",
        "engine": {
            "mode": "fixed",
            "fixed_ttft_s": 0.05,
            "fixed_itl_s": 0.01,
            "max_model_len": 32768,
        },
        "gpu": _H100_GPU,
    },
}

DEFAULT_PRESET = "h100-llama8b"


def preset(name: str) -> dict[str, Any]:
    """A deep copy of preset ``name`` (KeyError if unknown)."""
    return copy.deepcopy(PRESETS[name])


__all__ = ["DEFAULT_PRESET", "PRESETS", "preset"]
