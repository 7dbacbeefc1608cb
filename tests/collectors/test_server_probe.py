"""The batching-configuration probe: each server's recorded info response, the probe's choice of
endpoints, and the probe against a live gpusim end to end."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from collectors.http import FetchError, HttpGet, http_get
from collectors.server.probe import (
    ServerInfo,
    parse_llamacpp_props,
    parse_sglang_info,
    parse_tgi_info,
    parse_vllm_cache_config,
    parse_vllm_server_info,
    probe_server,
)
from tests.gpusim.helpers import config, serving

DATA = Path(__file__).resolve().parents[1] / "testdata"
INFO = DATA / "serverinfo"


def _doc(name: str) -> dict[str, object]:
    doc = json.loads((INFO / name).read_text())
    assert "not captured" in doc["_provenance"]  # every recorded file says where it came from
    return doc


def test_llamacpp_props() -> None:
    info = parse_llamacpp_props(_doc("llamacpp-props.json"))
    assert (info.kind, info.version) == ("llamacpp", "b5500-a1b2c3d4")
    assert info.batching == {"total_slots": 4, "n_ctx": 4096}
    assert info.max_running == 4


def test_tgi_info_current_and_1x() -> None:
    now = parse_tgi_info(_doc("tgi-info.json"))
    assert now.version == "3.0.1" and now.batching["max_concurrent_requests"] == 128
    assert now.max_running is None  # 2.x/3.x do not say their batch cap
    old = parse_tgi_info(_doc("tgi-info-v1.json"))
    assert old.batching["max_batch_total_tokens"] == 32000 and old.batching["max_waiting_tokens"] == 20
    assert old.batching["waiting_served_ratio"] == 1.2
    assert "max_batch_size" not in old.batching  # null: not known, not recorded as a value


def test_sglang_server_info_prefers_the_schedulers_live_values() -> None:
    info = parse_sglang_info(_doc("sglang-server-info.json"))
    assert info.version == "0.4.9"
    assert info.batching["max_running_requests"] == 2048  # from internal_states (the argument was null)
    assert info.batching["chunked_prefill_size"] == 8192 and info.batching["schedule_policy"] == "fcfs"
    assert info.batching["max_total_num_tokens"] == 421000
    assert info.max_running == 2048


def test_vllm_server_info_json_and_text_forms_and_cache_config_info() -> None:
    as_json = parse_vllm_server_info(_doc("vllm-server-info-json.json"))
    assert as_json["max_num_seqs"] == 256 and as_json["max_num_batched_tokens"] == 8192
    assert as_json["enable_prefix_caching"] is True
    as_text = parse_vllm_server_info(_doc("vllm-server-info-text.json"))
    assert as_text == {"enable_prefix_caching": True}  # the text form does not name the batch limits
    cache = parse_vllm_cache_config((DATA / "metrics" / "vllm.txt").read_text())
    assert cache == {"block_size": 16, "cache_dtype": "auto", "gpu_memory_utilization": 0.9, "num_gpu_blocks": 27000}


def _getter(pages: dict[str, str]) -> tuple[list[str], HttpGet]:
    asked: list[str] = []

    def get(url: str, timeout_s: float) -> str:
        asked.append(url)
        path = url.split("127.0.0.1:9", 1)[1]
        if path not in pages:
            raise FetchError(f"GET {url}: HTTP Error 404")
        return pages[path]

    return asked, get


@pytest.mark.parametrize(("kind", "path", "name"), [
    ("llamacpp", "/props", "llamacpp-props.json"),
    ("tgi", "/info", "tgi-info.json"),
    ("sglang", "/get_server_info", "sglang-server-info.json"),
])
def test_probe_without_metrics_finds_the_server_by_its_endpoint(kind: str, path: str, name: str) -> None:
    asked, get = _getter({path: (INFO / name).read_text()})
    info = probe_server("http://127.0.0.1:9/v1", get=get)
    assert info.kind == kind and info.batching and info.sources
    assert all("/v1/" not in url for url in asked)  # info endpoints hang off the server root


def test_probe_of_a_known_kind_reads_only_that_servers_endpoints() -> None:
    metrics = (DATA / "metrics" / "vllm.txt").read_text()
    asked, get = _getter({"/version": (INFO / "vllm-version.json").read_text()})
    info = probe_server("http://127.0.0.1:9", get=get, metrics_text=metrics)
    assert (info.kind, info.version) == ("vllm", "0.9.1")
    assert info.batching["num_gpu_blocks"] == 27000  # from vllm:cache_config_info
    assert info.max_running is None  # not in dev mode: max_num_seqs unknown
    assert sorted(u.rsplit(":9", 1)[1] for u in asked) == ["/server_info?config_format=json", "/version"]


def test_server_that_tells_nothing_is_unknown_and_nothing_raises() -> None:
    _, get = _getter({"/props": "not json", "/info": "[1, 2]"})
    info = probe_server("http://127.0.0.1:9", get=get)
    assert info == ServerInfo(None) and info.to_dict()["kind"] == "unknown"


def test_probe_against_gpusim_end_to_end() -> None:
    """gpusim answers vLLM's probes with its own configuration (tiny-cpu: 16 seqs, 512 tokens)."""

    async def go() -> ServerInfo:
        async with serving(config("tiny-cpu")) as (base, _sim):
            loop = asyncio.get_running_loop()
            metrics = await loop.run_in_executor(None, http_get, base + "/metrics", 5.0)
            return await loop.run_in_executor(
                None, lambda: probe_server(base + "/v1", metrics_text=metrics, timeout_s=5.0))

    info = asyncio.run(go())
    assert info.kind == "vllm" and info.version is not None and info.version.startswith("gpusim")
    assert info.batching["max_num_seqs"] == 16 and info.batching["max_num_batched_tokens"] == 512
    assert info.batching["block_size"] == 16 and info.batching["num_gpu_blocks"] == 512
    assert info.max_running == 16
    assert info.sources == ["GET /metrics vllm:cache_config_info", "GET /version", "GET /server_info"]
