"""gpusim's HTTP API in process (aiohttp on 127.0.0.1, port 0): shapes, errors, auth, metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gpusim.metrics import ITL_BUCKETS, REQUEST_LATENCY_BUCKETS, TTFT_BUCKETS
from gpusim.trace import read_trace
from tests.gpusim.helpers import chat_body, config, parse_events, read_sse, serving

pytestmark = pytest.mark.integration
MODEL = "gpusim/tiny"


def test_chat_stream_shape_usage_and_per_request_metrics() -> None:
    async def go() -> None:
        async with serving(config(server={"per_request_metrics": True})) as (url, _), aiohttp.ClientSession() as s:
            body = chat_body(MODEL, max_tokens=7, ignore_eos=True, stream=True,
                             stream_options={"include_usage": True, "continuous_usage_stats": True})
            async with s.post(f"{url}/v1/chat/completions", json=body) as resp:
                assert resp.status == 200 and resp.content_type == "text/event-stream"
                events = parse_events(await read_sse(resp))
        assert events[-1] == "[DONE]"
        usage_chunk = events[-2]
        tokens = events[:-2]
        assert len(tokens) == 7
        assert tokens[0]["choices"][0]["delta"]["role"] == "assistant"
        assert all(t["object"] == "chat.completion.chunk" for t in tokens)
        assert [t["choices"][0]["finish_reason"] for t in tokens] == [None] * 6 + ["length"]
        assert [t["usage"]["completion_tokens"] for t in tokens] == list(range(1, 8))
        assert usage_chunk["choices"] == []
        assert usage_chunk["usage"]["completion_tokens"] == 7
        assert usage_chunk["usage"]["prompt_tokens"] == 30 + 4
        m = usage_chunk["metrics"]
        assert set(m) == {"queue_time_ms", "time_to_first_token_ms", "generation_time_ms", "mean_itl_ms",
                          "tokens_per_second"}
        assert m["time_to_first_token_ms"] > 0 and m["generation_time_ms"] > 0
        assert m["mean_itl_ms"] == pytest.approx(m["generation_time_ms"] / 6)

    asyncio.run(go())


def test_completions_stream_and_non_stream() -> None:
    async def go() -> None:
        async with serving(config()) as (url, _), aiohttp.ClientSession() as s:
            body = {"model": MODEL, "prompt": "once upon a time", "max_tokens": 3, "stream": True}
            async with s.post(f"{url}/v1/completions", json=body) as resp:
                events = parse_events(await read_sse(resp))
            assert events[-1] == "[DONE]" and len(events) <= 4  # no usage chunk unless asked
            assert all(e["object"] == "text_completion" for e in events[:-1])
            body = {"model": MODEL, "prompt": "once upon a time", "max_tokens": 50, "min_tokens": 50}
            async with s.post(f"{url}/v1/completions", json=body) as resp:
                full = await resp.json()
            assert full["usage"]["completion_tokens"] == 50
            assert full["choices"][0]["finish_reason"] == "length"
            assert "metrics" not in full
            body = chat_body(MODEL, max_completion_tokens=4, ignore_eos=True)
            async with s.post(f"{url}/v1/chat/completions", json=body) as resp:
                full = await resp.json()
            assert full["object"] == "chat.completion"
            assert full["choices"][0]["message"]["role"] == "assistant"
            assert full["usage"] == {"prompt_tokens": 34, "completion_tokens": 4, "total_tokens": 38}

    asyncio.run(go())


def test_models_health_embeddings() -> None:
    async def go() -> None:
        async with serving(config()) as (url, _), aiohttp.ClientSession() as s:
            async with s.get(f"{url}/health") as resp:
                assert resp.status == 200
            async with s.get(f"{url}/v1/models") as resp:
                models = await resp.json()
            assert [m["id"] for m in models["data"]] == [MODEL]
            async with s.post(f"{url}/v1/embeddings", json={"model": MODEL, "input": ["a b", "c"]}) as resp:
                emb = await resp.json()
            assert [d["index"] for d in emb["data"]] == [0, 1]
            vec = emb["data"][0]["embedding"]
            assert len(vec) == 384 and sum(v * v for v in vec) == pytest.approx(1.0)

    asyncio.run(go())


BAD: list[tuple[str, Any, int]] = [
    ("/v1/chat/completions", b"{not json", 400),
    ("/v1/chat/completions", b"\xff\xfe", 400),
    ("/v1/chat/completions", [1, 2], 400),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}, 400),
    ("/v1/chat/completions", {"model": MODEL}, 400),
    ("/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "max_tokens": -5}, 400),
    ("/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "x" * 9000}]}, 400),
    ("/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": 5}]}, 400),
    ("/v1/completions", {"model": MODEL, "prompt": "x", "max_tokens": 5000}, 400),
    ("/v1/completions", {"model": MODEL, "prompt": {"a": 1}}, 400),
    ("/v1/completions", {"model": "nope", "prompt": "x"}, 404),
    ("/v1/embeddings", {"model": MODEL}, 400),
    ("/v1/nothing", {}, 404),
    ("/admin/faults", {"http_429": 7}, 400),
]


def test_bad_requests_get_openai_style_4xx_and_server_survives() -> None:
    async def go() -> None:
        async with serving(config()) as (url, _), aiohttp.ClientSession() as s:
            for path, body, status in BAD:
                kw: dict[str, Any] = {"data": body} if isinstance(body, bytes) else {"json": body}
                async with s.post(f"{url}{path}", **kw) as resp:
                    assert resp.status == status, (path, body)
                    err = (await resp.json())["error"]
                    assert set(err) == {"message", "type", "param", "code"} and err["message"]
            async with s.get(f"{url}/v1/chat/completions") as resp:
                assert resp.status == 405
            async with s.post(f"{url}/v1/chat/completions", json=chat_body(MODEL, max_tokens=2)) as resp:
                assert resp.status == 200

    asyncio.run(go())


def test_api_key_is_checked() -> None:
    async def go() -> None:
        async with serving(config(), api_key="s3cret") as (url, _), aiohttp.ClientSession() as s:
            async with s.post(f"{url}/v1/chat/completions", json=chat_body(MODEL, max_tokens=2)) as resp:
                assert resp.status == 401
                assert (await resp.json())["error"]["type"] == "authentication_error"
            headers = {"Authorization": "Bearer s3cret"}
            async with s.post(f"{url}/v1/chat/completions", json=chat_body(MODEL, max_tokens=2),
                              headers=headers) as resp:
                assert resp.status == 200
            async with s.get(f"{url}/metrics") as resp:
                assert resp.status == 200  # metrics stay open, as vLLM's

    asyncio.run(go())


def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(fams: dict[str, Any], family: str, sample: str, **labels: str) -> float:
    for s in fams[family].samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    raise KeyError((family, sample, labels))


def test_metrics_agree_with_trace(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"

    async def go() -> str:
        async with serving(config(), trace_path=str(trace)) as (url, _), aiohttp.ClientSession() as s:
            async def one(i: int) -> None:
                body = chat_body(MODEL, content=f"request {i} " * (5 + 7 * i), max_tokens=5 + i % 20,
                                 stream=bool(i % 2))
                async with s.post(f"{url}/v1/chat/completions", json=body) as resp:
                    await resp.read()
                    assert resp.status == 200

            await asyncio.gather(*(one(i) for i in range(40)))
            async with s.get(f"{url}/metrics") as resp:
                return await resp.text()

    text = asyncio.run(go())
    fams = _families(text)
    _, recs = read_trace(trace)
    assert len(recs) == 40
    ok = {"model_name": MODEL, "engine": "0"}
    success = sum(_value(fams, "vllm:request_success", "vllm:request_success_total", finished_reason=r)
                  for r in ("stop", "length"))
    assert success == 40
    assert _value(fams, "vllm:generation_tokens", "vllm:generation_tokens_total", **ok) == sum(
        r["output_tokens"] for r in recs)
    assert _value(fams, "vllm:prompt_tokens", "vllm:prompt_tokens_total", **ok) == sum(r["prompt_tokens"] for r in recs)
    intervals = {
        "vllm:time_to_first_token_seconds": [r["prefill_end_s"] - r["arrival_s"] for r in recs],
        "vllm:e2e_request_latency_seconds": [r["finish_s"] - r["arrival_s"] for r in recs],
        "vllm:request_queue_time_seconds": [r["queue_exit_s"] - r["arrival_s"] for r in recs],
        "vllm:request_prefill_time_seconds": [r["prefill_end_s"] - r["prefill_start_s"] for r in recs],
        "vllm:request_decode_time_seconds": [r["token_times_s"][-1] - r["prefill_end_s"] for r in recs],
        "vllm:request_inference_time_seconds": [r["token_times_s"][-1] - r["queue_exit_s"] for r in recs],
        "vllm:inter_token_latency_seconds": [b - a for r in recs
                                             for a, b in zip(r["token_times_s"], r["token_times_s"][1:],
                                                             strict=False)],
    }
    for fam, values in intervals.items():
        assert fams[fam].type == "histogram"
        assert _value(fams, fam, f"{fam}_count", **ok) == len(values), fam
        assert _value(fams, fam, f"{fam}_sum", **ok) == pytest.approx(sum(values), rel=1e-9, abs=1e-9), fam
    for fam, buckets in (("vllm:time_to_first_token_seconds", TTFT_BUCKETS),
                         ("vllm:inter_token_latency_seconds", ITL_BUCKETS),
                         ("vllm:e2e_request_latency_seconds", REQUEST_LATENCY_BUCKETS)):
        les = [float(s.labels["le"]) for s in fams[fam].samples if s.name.endswith("_bucket")]
        assert les == [*buckets, float("inf")]
    for gauge in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc"):
        assert fams[gauge].type == "gauge"
        assert _value(fams, gauge, gauge, **ok) == 0.0  # all finished
    assert _value(fams, "vllm:prefix_cache_queries", "vllm:prefix_cache_queries_total", **ok) == sum(
        r["prompt_tokens"] for r in recs)
    assert _value(fams, "vllm:prefix_cache_hits", "vllm:prefix_cache_hits_total", **ok) == sum(
        r["cached_tokens"] for r in recs)
    assert "vllm:num_preemptions" in fams
    for r in recs:  # the timeline is ordered
        t = r["token_times_s"]
        assert r["arrival_s"] <= r["queue_exit_s"] <= r["prefill_end_s"] == t[0] <= t[-1] == r["finish_s"]


def test_dcgm_metrics_in_exporter_format() -> None:
    async def go() -> str:
        cfg = config("a100-llama70b-tp4")
        async with serving(cfg) as (url, _), aiohttp.ClientSession() as s, s.get(f"{url}/dcgm/metrics") as resp:
            return await resp.text()

    text = asyncio.run(go())
    fams = _families(text)
    for name in ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_SM_CLOCK",
                 "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS"):
        assert fams[name].type == "gauge"
        assert len(fams[name].samples) == 4  # tensor parallel 4: four cards
    energy = fams["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"]
    assert energy.type == "counter"
    assert "\nDCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{" in text  # bare name, as dcgm-exporter
    labels = fams["DCGM_FI_DEV_GPU_TEMP"].samples[0].labels
    assert set(labels) == {"gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname"}
    assert labels["modelName"] == "NVIDIA A100-SXM4-80GB" and labels["UUID"].startswith("GPU-")
    assert len({s.labels["UUID"] for s in fams["DCGM_FI_DEV_GPU_TEMP"].samples}) == 4
    used = fams["DCGM_FI_DEV_FB_USED"].samples[0].value
    free = fams["DCGM_FI_DEV_FB_FREE"].samples[0].value
    assert used + free == 81920


def test_client_disconnect_aborts_the_request_and_frees_its_blocks() -> None:
    async def go() -> None:
        async with serving(config()) as (url, sim), aiohttp.ClientSession() as s:
            body = chat_body(MODEL, max_tokens=400, ignore_eos=True, stream=True)
            async with s.post(f"{url}/v1/chat/completions", json=body) as resp:
                await resp.content.readline()  # first event arrived: generation is under way
            for _ in range(200):
                if sim.engine.num_running == 0:
                    break
                await asyncio.sleep(0.01)
            assert sim.engine.num_running == 0 and sim.engine.kv_usage() == 0.0
            async with s.get(f"{url}/metrics") as m:
                fams = _families(await m.text())
            assert _value(fams, "vllm:request_success", "vllm:request_success_total", finished_reason="abort") == 1
            async with s.post(f"{url}/v1/chat/completions", json=chat_body(MODEL, max_tokens=2)) as resp:
                assert resp.status == 200

    asyncio.run(go())


@pytest.mark.parametrize("buffer_max", [256 * 1024, 0], ids=["runner-writes", "slow-client-fallback"])
def test_plain_streams_are_complete_whether_the_runner_or_the_handler_writes(
    buffer_max: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain streams are written by the engine task right after each step (no task switch per
    stream); a client whose socket backs up (here: any queued byte, buffer_max=0) falls back to
    its own handler, which writes the rest.  Either way every token arrives once, in order."""
    import gpusim.server as server_mod

    monkeypatch.setattr(server_mod, "DIRECT_BUFFER_MAX", buffer_max)

    async def go() -> None:
        async with serving(config()) as (url, _), aiohttp.ClientSession() as s:
            async def one(i: int) -> list[Any]:
                body = chat_body(MODEL, content=f"request {i} " * 5, max_tokens=20 + i, ignore_eos=True,
                                 stream=True, stream_options={"include_usage": True})
                async with s.post(f"{url}/v1/chat/completions", json=body) as resp:
                    return parse_events(await read_sse(resp))

            results = await asyncio.gather(*(one(i) for i in range(8)))
        for i, events in enumerate(results):
            assert events[-1] == "[DONE]"
            assert events[-2]["usage"]["completion_tokens"] == 20 + i
            tokens = events[:-2]
            assert len(tokens) == 20 + i
            assert [t["choices"][0]["finish_reason"] for t in tokens] == [None] * (19 + i) + ["length"]

    asyncio.run(go())
