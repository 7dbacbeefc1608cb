"""A fixed-latency OpenAI-compatible streaming endpoint for tests and benchmarks.

Unlike gpusim (which models a batching engine), every request here gets the same, known
timing: the first content token ``ttft`` seconds after the request arrived, then one token
every ``itl`` seconds, each emitted at an absolute deadline (no drift), aimed early by the
event loop's measured median timer lateness (``--timer-lead auto``; the selector rounds sleeps up
to whole milliseconds), so emissions land on their deadlines at the median.  So a client's
measured TTFT/ITL can be compared with configured values.

Run in its own process (so it does not share a core's event loop with the client)::

    python -m tests.support.stream_server --port 0 --ttft 0.05 --itl 0.01 --tokens 16

It prints ``PORT <n>`` on stdout once listening.  ``GET /stats`` returns
``{"requests": n, "completed": n, "inflight": n}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from aiohttp import web

STATS_KEY: web.AppKey[dict[str, int]] = web.AppKey("stats", dict)
CFG_KEY: web.AppKey[argparse.Namespace] = web.AppKey("cfg", argparse.Namespace)


def _chunk(api: str, rid: str, model: str, text: str | None, finish: str | None, role: bool = False) -> bytes:
    if api == "chat":
        delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else {}
        if text is not None:
            delta["content"] = text
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
        obj = {"id": rid, "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [choice]}
    else:
        choice = {"index": 0, "text": text or "", "finish_reason": finish}
        obj = {"id": rid, "object": "text_completion", "created": 0, "model": model, "choices": [choice]}
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


async def _completion(request: web.Request, api: str) -> web.StreamResponse:
    cfg = request.app[CFG_KEY]
    stats = request.app[STATS_KEY]
    t_arrival = time.monotonic()
    stats["requests"] += 1
    stats["inflight"] += 1
    try:
        body = await request.json()
        n = int(body.get("max_tokens") or body.get("max_completion_tokens") or cfg.tokens)
        if cfg.tokens_cap:
            n = min(n, cfg.tokens_cap)
        model = str(body.get("model", "fixed"))
        rid = f"cmpl-{stats['requests']}"
        if getattr(cfg, "stamp", False):  # benchmarks: the arrival instant (CLOCK_MONOTONIC ns) -> token i deadline
            rid += f"-t{round(t_arrival * 1e9)}"
        prompt_tokens = 8
        if not body.get("stream"):
            await asyncio.sleep(max(0.0, t_arrival + cfg.ttft + (n - 1) * cfg.itl - cfg.lead - time.monotonic()))
            text = "tok " * n
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n}
            if api == "chat":
                choice: dict[str, Any] = {
                    "index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length",
                }
            else:
                choice = {"index": 0, "text": text, "finish_reason": "length"}
            stats["completed"] += 1
            return web.json_response({"id": rid, "object": "x", "model": model, "choices": [choice], "usage": usage})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        if api == "chat":
            await resp.write(_chunk(api, rid, model, None, None, role=True))
        for i in range(n):
            deadline = t_arrival + cfg.ttft + i * cfg.itl
            delay = deadline - cfg.lead - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            finish = "length" if i == n - 1 else None
            await resp.write(_chunk(api, rid, model, "tok ", finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n}
            obj = {"id": rid, "object": "chat.completion.chunk", "model": model, "choices": [], "usage": usage}
            await resp.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        stats["completed"] += 1
        return resp
    finally:
        stats["inflight"] -= 1


async def chat(request: web.Request) -> web.StreamResponse:
    return await _completion(request, "chat")


async def completions(request: web.Request) -> web.StreamResponse:
    return await _completion(request, "completions")


async def models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": "fixed", "object": "model", "owned_by": "tests"}]})


async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATS_KEY])


def make_app(cfg: argparse.Namespace) -> web.Application:
    app = web.Application()
    app[CFG_KEY] = cfg
    app[STATS_KEY] = {"requests": 0, "completed": 0, "inflight": 0}
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/completions", completions)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/stats", stats)
    return app


async def timer_lateness(samples: int = 41, sleep_s: float = 0.004) -> float:
    """Median lateness of ``asyncio.sleep`` on this loop (the selector rounds timeouts up to whole
    milliseconds, so wake-ups come ~0.5-1 ms late).  The server aims that much early, so token
    emissions land on their deadlines at the median instead of ~1 ms after them."""
    late = []
    for _ in range(samples):
        t = time.monotonic()
        await asyncio.sleep(sleep_s)
        late.append(time.monotonic() - t - sleep_s)
    late.sort()
    return max(0.0, late[len(late) // 2])


async def _serve(cfg: argparse.Namespace) -> None:
    if cfg.timer_lead == "auto":
        # benchmarks (--stamp) measure delivery against the exact deadline: no lead there
        cfg.lead = 0.0 if cfg.stamp else await timer_lateness()
    else:
        cfg.lead = float(cfg.timer_lead)
    runner = web.AppRunner(make_app(cfg), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, cfg.host, cfg.port, backlog=4096)
    await site.start()
    port = runner.addresses[0][1]
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--ttft", type=float, default=0.05, help="seconds from request arrival to first token")
    p.add_argument("--itl", type=float, default=0.01, help="seconds between tokens")
    p.add_argument("--tokens", type=int, default=16, help="tokens when the request sets no max_tokens")
    p.add_argument("--tokens-cap", type=int, default=0, help="cap on tokens per response (0 = none)")
    p.add_argument("--timer-lead", default="auto",
                   help="seconds to wake before each deadline; 'auto' = the loop's measured median lateness "
                        "(0 with --stamp)")
    p.add_argument("--stamp", action="store_true",
                   help="append -t<arrival monotonic ns> to each response id (token i is due at "
                        "arrival + ttft + i*itl); for client benchmarks on the same host")
    cfg = p.parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_serve(cfg))


if __name__ == "__main__":
    main()
