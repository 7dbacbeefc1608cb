"""Fault injection: each fault shows up on the wire at its configured rate (binomial tolerance)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from scipy.stats import binomtest

from tests.gpusim.helpers import chat_body, config, serving

pytestmark = pytest.mark.integration
MODEL = "gpusim/fixed"
N = 300
P = 0.3
CONCURRENCY = 40
SLOW = 0.4  # seconds for stall / slow first byte: far above any scheduling noise


async def _one(s: aiohttp.ClientSession, url: str, stream: bool, sem: asyncio.Semaphore) -> dict[str, Any]:
    async with sem:  # bounded concurrency: never overflow the listen backlog (SYN retries take 1 s)
        return await _classify(s, url, stream)


async def _classify(s: aiohttp.ClientSession, url: str, stream: bool) -> dict[str, Any]:
    """Send one request; classify what the client saw."""
    out: dict[str, Any] = {"status": None, "reset": False, "done": False, "malformed": False, "max_gap": 0.0,
                           "first_byte": None, "retry_after": None, "connection": None}
    t0 = time.monotonic()
    body = chat_body(MODEL, max_tokens=8, ignore_eos=True, stream=stream)
    try:
        async with s.post(f"{url}/v1/chat/completions", json=body) as resp:
            out["first_byte"] = time.monotonic() - t0
            out["status"] = resp.status
            out["retry_after"] = resp.headers.get("Retry-After")
            out["connection"] = resp.headers.get("Connection")
            last = time.monotonic()
            buf = b""
            async for chunk in resp.content.iter_any():
                now = time.monotonic()
                out["max_gap"] = max(out["max_gap"], now - last)
                last = now
                buf += chunk
            for block in buf.decode().split("\n\n"):
                if not block.startswith("data: "):
                    continue
                payload = block[6:]
                if payload == "[DONE]":
                    out["done"] = True
                    continue
                try:
                    json.loads(payload)
                except ValueError:
                    out["malformed"] = True
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
        out["reset"] = True
    return out


def _run(faults: dict[str, Any], stream: bool = True, n: int = N) -> tuple[list[dict[str, Any]], dict[str, float]]:
    async def go() -> tuple[list[dict[str, Any]], dict[str, float]]:
        cfg = config("fixed", engine={"fixed_ttft_s": 0.01, "fixed_itl_s": 0.01}, faults=faults)
        async with serving(cfg) as (url, _):
            sem = asyncio.Semaphore(CONCURRENCY)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as s:
                results = await asyncio.gather(*(_one(s, url, stream, sem) for _ in range(n)))
                async with s.get(f"{url}/metrics") as resp:
                    text = await resp.text()
        counts = {}
        for fam in text_string_to_metric_families(text):
            if fam.name == "gpusim_faults_injected":
                counts = {smp.labels["fault"]: smp.value for smp in fam.samples if smp.name.endswith("_total")}
        return list(results), counts

    return asyncio.run(go())


def _assert_rate(observed: int, n: int = N, p: float = P) -> None:
    assert binomtest(observed, n, p).pvalue > 1e-3, f"{observed}/{n} is not consistent with p={p}"


@pytest.mark.parametrize(("fault", "status"), [("http_429", 429), ("http_500", 500), ("http_503", 503)])
def test_status_faults(fault: str, status: int) -> None:
    results, counts = _run({fault: P})
    hits = [r for r in results if r["status"] == status]
    assert all(r["status"] in (200, status) for r in results)
    _assert_rate(len(hits))
    assert counts[fault] == len(hits)
    if status == 429:
        assert all(r["retry_after"] == "1" for r in hits)


def test_reset_mid_stream() -> None:
    results, counts = _run({"reset_mid_stream": P})
    resets = sum(r["reset"] for r in results)
    _assert_rate(resets)
    assert counts["reset_mid_stream"] == resets
    assert all(r["done"] for r in results if not r["reset"])


def test_stream_without_done() -> None:
    results, counts = _run({"no_done": P})
    missing = sum(not r["done"] for r in results)
    assert not any(r["reset"] for r in results)
    _assert_rate(missing)
    assert counts["no_done"] == missing


def test_malformed_sse_line() -> None:
    results, counts = _run({"malformed_sse": P})
    bad = sum(r["malformed"] for r in results)
    _assert_rate(bad)
    assert counts["malformed_sse"] == bad
    assert all(r["done"] for r in results)


def test_stall() -> None:
    results, counts = _run({"stall": P, "stall_s": SLOW})
    stalled = sum(r["max_gap"] >= SLOW * 0.9 for r in results)
    _assert_rate(stalled)
    assert counts["stall"] == stalled


def test_slow_first_byte() -> None:
    results, counts = _run({"slow_first_byte": P, "slow_first_byte_s": SLOW})
    slow = sum(r["first_byte"] >= SLOW * 0.9 for r in results)
    _assert_rate(slow)
    assert counts["slow_first_byte"] == slow


def test_close_connection_after_each_response() -> None:
    results, counts = _run({"close_connection": True}, n=20)
    assert all(r["status"] == 200 and r["connection"] == "close" and r["done"] for r in results)
    assert counts["close_connection"] == 20
    results, _ = _run({}, n=5)
    assert all(r["connection"] != "close" for r in results)


def test_faults_change_at_runtime_through_admin_endpoint() -> None:
    async def go() -> None:
        async with serving(config("fixed", engine={"fixed_ttft_s": 0.0, "fixed_itl_s": 0.0})) as (url, _), \
                aiohttp.ClientSession() as s:
            async with s.post(f"{url}/admin/faults", json={"http_503": 1.0}) as resp:
                assert resp.status == 200 and (await resp.json())["http_503"] == 1.0
            async with s.post(f"{url}/v1/chat/completions", json=chat_body(MODEL, max_tokens=2)) as resp:
                assert resp.status == 503
                assert (await resp.json())["error"]["type"] == "server_error"
            async with s.post(f"{url}/admin/faults", json={"http_503": 0.0}) as resp:
                assert resp.status == 200
            async with s.get(f"{url}/admin/faults") as resp:
                assert (await resp.json())["http_503"] == 0.0
            async with s.post(f"{url}/v1/chat/completions", json=chat_body(MODEL, max_tokens=2)) as resp:
                assert resp.status == 200

    asyncio.run(go())
