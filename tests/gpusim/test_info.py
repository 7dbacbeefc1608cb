"""gpusim's batching facts: the vLLM-style info endpoints answer its own configuration, and the
tokens-per-step histogram adds up to the tokens the engine computed."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.gpusim.helpers import chat_body, config, serving


def _sample(text: str, name: str) -> float:
    for fam in text_string_to_metric_families(text):
        for smp in fam.samples:
            if smp.name == name:
                return float(smp.value)
    raise KeyError(name)


def test_version_and_server_info_tell_the_engine_configuration() -> None:
    cfg = config("tiny-cpu", engine={"max_num_seqs": 7, "max_num_batched_tokens": 300})

    async def go() -> tuple[Any, Any, Any, str]:
        async with serving(cfg) as (url, _), aiohttp.ClientSession() as s:
            docs = []
            for path in ("/version", "/server_info", "/server_info?config_format=json"):
                async with s.get(url + path) as resp:
                    docs.append(await resp.json())
            async with s.get(f"{url}/metrics") as resp:
                return docs[0], docs[1], docs[2], await resp.text()

    version, text, as_json, metrics = asyncio.run(go())
    assert version["version"].startswith("gpusim")
    assert "max_num_seqs=7" in text["vllm_config"] and "max_num_batched_tokens=300" in text["vllm_config"]
    sched = as_json["vllm_config"]["scheduler_config"]
    assert (sched["max_num_seqs"], sched["max_num_batched_tokens"]) == (7, 300)
    assert as_json["vllm_config"]["cache_config"]["num_gpu_blocks"] == cfg.engine.num_gpu_blocks
    info = next(f for f in text_string_to_metric_families(metrics) if f.name == "vllm:cache_config_info")
    assert info.samples[0].labels["num_gpu_blocks"] == str(cfg.engine.num_gpu_blocks)


def test_iteration_tokens_count_steps_and_sum_the_computed_tokens() -> None:
    cfg = config("tiny-cpu", engine={"enable_prefix_caching": False})
    n = 12

    async def go() -> str:
        async with serving(cfg, time_scale=5.0) as (url, _), aiohttp.ClientSession() as s:
            async def one(i: int) -> None:
                body = chat_body(cfg.model, content=f"request {i} " * (10 + 3 * i), max_tokens=6 + i)
                async with s.post(f"{url}/v1/chat/completions", json=body) as resp:
                    await resp.read()
                    assert resp.status == 200

            await asyncio.gather(*(one(i) for i in range(n)))
            async with s.get(f"{url}/metrics") as resp:
                return await resp.text()

    text = asyncio.run(go())
    steps = _sample(text, "gpusim_engine_steps_total")
    assert _sample(text, "vllm:iteration_tokens_total_count") == steps > 0
    prompt = _sample(text, "vllm:prompt_tokens_total")
    generated = _sample(text, "vllm:generation_tokens_total")
    # every prompt token is computed once (no prefix cache, no preemption at this load); each output
    # token but the last is fed back as one decode token
    assert _sample(text, "vllm:iteration_tokens_total_sum") == prompt + generated - n
