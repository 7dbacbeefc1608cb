"""Shared helpers for gpusim's integration tests: an in-process server on a free loopback port."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from gpusim.config import SimConfig, build_config
from gpusim.server import SimServer


def config(preset: str = "tiny-cpu", **sections: dict[str, Any]) -> SimConfig:
    return build_config(dict(sections), preset)


@contextlib.asynccontextmanager
async def serving(cfg: SimConfig, **kw: Any) -> AsyncIterator[tuple[str, SimServer]]:
    """Start ``SimServer(cfg, **kw)`` on 127.0.0.1:0; yields (base URL, server)."""
    sim = SimServer(cfg, **kw)
    server = TestServer(sim.app(), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}", sim
    finally:
        await server.close()


def chat_body(model: str, content: str = "hello world " * 10, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


async def read_sse(resp: aiohttp.ClientResponse) -> list[str]:
    """The ``data:`` payloads of a streamed response, in order."""
    raw = (await resp.read()).decode()
    return [block[len("data: "):] for block in raw.split("\n\n") if block.startswith("data: ")]


def parse_events(payloads: list[str]) -> list[Any]:
    return [p if p == "[DONE]" else json.loads(p) for p in payloads]


__all__ = ["chat_body", "config", "parse_events", "read_sse", "serving"]
