"""gpusim's answers to the servers' info probes: vLLM's ``/version`` and ``/server_info``.

vLLM tells its version at ``GET /version`` and, in development mode (``VLLM_SERVER_DEV_MODE=1``),
its whole configuration at ``GET /server_info`` (``?config_format=json`` for JSON, otherwise the
config's text form).  gpusim answers both with its own engine configuration, in the same shape,
so a load generator's probe of the batching configuration can be checked end to end.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from gpusim.config import SimConfig


def gpusim_version() -> str:
    try:
        return "gpusim-" + metadata.version("inferload")
    except metadata.PackageNotFoundError:
        return "gpusim"


def version_doc() -> dict[str, str]:
    """``GET /version``."""
    return {"version": gpusim_version()}


def config_doc(cfg: SimConfig) -> dict[str, Any]:
    """The configuration as vLLM's ``/server_info?config_format=json`` nests it (the parts gpusim has)."""
    e = cfg.engine
    batching = e.mode == "batching"
    return {
        "model_config": {"model": cfg.model, "served_model_name": cfg.model, "max_model_len": e.max_model_len},
        "scheduler_config": {
            "max_num_seqs": e.max_num_seqs if batching else None,
            "max_num_batched_tokens": e.max_num_batched_tokens if batching else None,
            "max_model_len": e.max_model_len,
            "enable_chunked_prefill": batching,
            "policy": "fcfs",
        },
        "cache_config": {
            "block_size": e.block_size,
            "num_gpu_blocks": e.num_gpu_blocks if batching else None,
            "enable_prefix_caching": bool(batching and e.enable_prefix_caching),
        },
    }


def config_text(cfg: SimConfig) -> str:
    """The text form (``key=value, ...``) vLLM's ``/server_info`` returns by default."""
    doc = config_doc(cfg)
    parts = [f"{k}={v!r}" for section in doc.values() for k, v in section.items()]
    return ", ".join(dict.fromkeys(parts))


def server_info_doc(cfg: SimConfig, config_format: str = "text") -> dict[str, Any]:
    """``GET /server_info``."""
    return {"vllm_config": config_doc(cfg) if config_format == "json" else config_text(cfg)}


__all__ = ["config_doc", "config_text", "gpusim_version", "server_info_doc", "version_doc"]
