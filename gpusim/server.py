"""The aiohttp application: vLLM's OpenAI-compatible routes over the simulated engine.

Routes: POST /v1/chat/completions, /v1/completions, /v1/embeddings; GET /v1/models, /health,
/metrics (vLLM names), /dcgm/metrics (dcgm-exporter format); GET/POST /admin/faults.  Every
error is OpenAI-shaped JSON (bad input is a 4xx, never a 500).  Faults are applied here, on
the wire; the engine itself never fails.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import zlib
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import ValidationError

from gpusim.config import SimConfig
from gpusim.dcgm import DcgmExporter
from gpusim.engine import DONE, Seq, make_engine
from gpusim.faults import FaultDraw, FaultInjector, slowdown_factor
from gpusim.gpu import GpuModel
from gpusim.info import server_info_doc, version_doc
from gpusim.lengths import block_hashes, natural_output_len, output_target, token_count
from gpusim.metrics import VllmMetrics
from gpusim.protocol import (
    DONE_EVENT,
    ApiError,
    ChunkWriter,
    GenRequest,
    full_response,
    parse_embedding,
    parse_generation,
)
from gpusim.runner import ReqState, Runner, SimClock
from gpusim.trace import TraceWriter, trace_record

DIRECT_BUFFER_MAX = 256 * 1024  # bytes queued to a client above which its handler writes (and waits)
MALFORMED = 'data: {"id":"malformed","choices":[{"delta":{"content":"\n\n'


def _error_response(err: ApiError, close: bool = False) -> web.Response:
    headers = {"Retry-After": str(err.retry_after)} if err.retry_after is not None else {}
    resp = web.json_response(err.body(), status=err.status, headers=headers)
    if close:
        resp.force_close()
    return resp


class SimServer:
    """One simulated inference server: engine, runner, metrics, faults, trace."""

    def __init__(self, cfg: SimConfig, *, time_scale: float = 1.0, trace_path: str | None = None,
                 api_key: str | None = None) -> None:
        self.cfg = cfg
        self.api_key = api_key
        self.clock = SimClock(time_scale)
        self.gpu = GpuModel(cfg.gpu)
        self.engine = make_engine(cfg.engine, self.gpu)
        self.metrics = VllmMetrics(cfg.model)
        self.metrics.set_cache_config(cfg.engine)
        self.runner = Runner(self.engine, self.clock, self.metrics, self._finished)
        self.faults = FaultInjector(cfg.faults, cfg.seed)
        self.engine.slowdown = lambda now: slowdown_factor(self.faults.cfg, now)  # reads runtime updates
        self.dcgm = DcgmExporter(self.gpu, self.runner.sync_gpu)
        self.trace = (TraceWriter(trace_path, self.clock.mono0, self.clock.wall0, time_scale)
                      if trace_path else None)
        self.created = int(time.time())
        self._n = 0

    # -- application -------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors], client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/health", self.health)
        app.router.add_get("/version", self.version)
        app.router.add_get("/server_info", self.server_info)
        app.router.add_get("/metrics", self.prometheus)
        app.router.add_get("/dcgm/metrics", self.dcgm_metrics)
        app.router.add_get("/admin/faults", self.get_faults)
        app.router.add_post("/admin/faults", self.set_faults)
        app.on_startup.append(self._startup)
        app.on_cleanup.append(self._cleanup)
        return app

    def dcgm_app(self) -> web.Application:
        """A separate app serving only the dcgm metrics at /metrics (for ``--dcgm-port``)."""
        app = web.Application()
        app.router.add_get("/metrics", self.dcgm_metrics)
        return app

    async def _startup(self, app: web.Application) -> None:
        self.runner.start()

    async def _cleanup(self, app: web.Application) -> None:
        await self.runner.stop()
        if self.trace is not None:
            self.trace.close()

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            resp: web.StreamResponse = await handler(request)
            return resp
        except ApiError as err:
            if err.status < 500 and err.status != 429:
                self.metrics.rejected.inc()
            return _error_response(err)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _error_response(ApiError(exc.status, exc.reason))

    # -- generation --------------------------------------------------------------------------

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, "chat")

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, "completions")

    def _auth(self, request: web.Request) -> None:
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            raise ApiError(401, "Unauthorized: a valid API key is required", code="invalid_api_key")

    async def _body(self, request: web.Request) -> Any:
        try:
            return json.loads(await request.read())
        except (ValueError, UnicodeDecodeError) as err:
            raise ApiError(400, f"the request body is not valid JSON: {err}") from None

    def _make_seq(self, req: GenRequest, faults: list[str]) -> Seq:
        self._n += 1
        rid = f"{'chatcmpl' if req.api == 'chat' else 'cmpl'}-{self._n:08d}"
        cfg = self.cfg
        natural = natural_output_len(req.prompt_text, cfg.seed, cfg.lengths)
        target, reason = output_target(req.max_tokens, natural, req.min_tokens, req.ignore_eos)
        hashes: tuple[int, ...] = ()
        if cfg.engine.mode == "batching" and cfg.engine.enable_prefix_caching:
            hashes = block_hashes(req.prompt_text, req.prompt_tokens, cfg.engine.block_size, cfg.lengths)
        seq = Seq(rid, req.prompt_tokens, target, reason, self.clock.now(), hashes)
        seq.user = ReqState(req.api, faults)
        return seq

    async def _generate(self, request: web.Request, api: str) -> web.StreamResponse:
        self._auth(request)
        req = parse_generation(await self._body(request), api, self.cfg)
        draw = self.faults.draw(req.stream)
        names = draw.names()
        for name in names:
            self.metrics.faults[name].inc()
        if draw.status is not None:
            err = ApiError(draw.status, {429: "Too many requests (injected)", 500: "Internal error (injected)",
                                         503: "Service unavailable (injected)"}[draw.status],
                           retry_after=self.faults.cfg.retry_after_s if draw.status == 429 else None)
            return _error_response(err, close=draw.close_connection)
        seq = self._make_seq(req, names)
        self.runner.submit(seq)
        try:
            if req.stream:
                return await self._stream(request, req, seq, draw)
            return await self._full(req, seq, draw)
        except ConnectionError:  # the client went away mid-stream: abort, as vLLM does
            return web.Response(status=499)
        finally:
            if seq.status != DONE:
                self.runner.abort(seq)

    def _per_request_metrics(self, seq: Seq) -> dict[str, Any] | None:
        if not self.cfg.server.per_request_metrics or seq.scheduled is None or seq.first_token is None:
            return None
        times = seq.token_times
        last = times[-1]
        gen = last - seq.first_token
        span = last - seq.scheduled
        return {
            "queue_time_ms": (seq.scheduled - seq.arrival) * 1000.0,
            "time_to_first_token_ms": (seq.first_token - seq.scheduled) * 1000.0,
            "generation_time_ms": gen * 1000.0,
            "mean_itl_ms": gen / (len(times) - 1) * 1000.0 if len(times) > 1 else None,
            "tokens_per_second": len(times) / span if span > 0 else None,
        }

    async def _stream(self, request: web.Request, req: GenRequest, seq: Seq, draw: FaultDraw) -> web.StreamResponse:
        fcfg = self.faults.cfg
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        if draw.close_connection:
            resp.force_close()
        if draw.slow_first_byte:
            await asyncio.sleep(fcfg.slow_first_byte_s)
        await resp.prepare(request)
        writer = ChunkWriter(req, seq.id, self.created)
        mid = seq.target // 2
        reset_at = mid if draw.reset_mid_stream else -1
        bad_at = mid if draw.malformed_sse else -1
        stall_at = mid if draw.stall else -1
        user: ReqState = seq.user
        emit, clock = self.metrics.emit_lateness, self.clock
        sent = 0
        if reset_at < 0 and bad_at < 0 and stall_at < 0:
            # plain stream: the runner writes each step's tokens itself (no task switch per stream)
            state = {"sent": 0}
            transport = request.transport

            async def direct(s: Seq) -> None:
                n = len(s.token_times)
                i0 = state["sent"]
                if n <= i0 or user.direct is None:
                    return
                if transport is None or transport.is_closing() or \
                        transport.get_write_buffer_size() >= DIRECT_BUFFER_MAX:
                    user.direct = None  # slow or gone client: its handler takes over (and may wait)
                    fut = user.fut
                    if fut is not None and not fut.done():
                        fut.set_result(None)
                    return
                last = n - 1 if s.status == DONE else -1
                state["sent"] = n
                data = "".join(writer.token(i, s.finish_reason if i == last else None, i + 1)
                               for i in range(i0, n)).encode()
                try:
                    await resp.write(data)
                except (ConnectionError, RuntimeError):
                    user.direct = None
                    return
                emit.observe(time.monotonic() - clock.monotonic_at(s.token_times[i0]))

            user.direct = direct
            while seq.status != DONE and user.direct is not None:
                await user.wait()
            user.direct = None
            sent = state["sent"]
        while True:
            n = len(seq.token_times)
            if n > sent:
                parts: list[str] = []
                last = n - 1 if seq.status == DONE else -1
                for i in range(sent, n):
                    if i == reset_at:
                        if parts:
                            await resp.write("".join(parts).encode())
                        if request.transport is not None:
                            request.transport.abort()
                        return resp
                    parts.append(writer.token(i, seq.finish_reason if i == last else None, i + 1))
                    if i == bad_at:
                        parts.append(MALFORMED)
                await resp.write("".join(parts).encode())
                emit.observe(time.monotonic() - clock.monotonic_at(seq.token_times[sent]))
                if sent <= stall_at < n:
                    await asyncio.sleep(fcfg.stall_s)
                sent = n
            if seq.status == DONE:
                break
            await user.wait()
        if req.include_usage:
            await resp.write(writer.usage_chunk(sent, self._per_request_metrics(seq)).encode())
        if not draw.no_done:
            await resp.write(DONE_EVENT)
        await resp.write_eof()
        return resp

    async def _full(self, req: GenRequest, seq: Seq, draw: FaultDraw) -> web.StreamResponse:
        fcfg = self.faults.cfg
        user: ReqState = seq.user
        while seq.status != DONE:
            await user.wait()
        if draw.stall:
            await asyncio.sleep(fcfg.stall_s)
        if draw.slow_first_byte:
            await asyncio.sleep(fcfg.slow_first_byte_s)
        body = full_response(req, seq.id, self.created, len(seq.token_times), seq.finish_reason or "stop",
                             self._per_request_metrics(seq))
        resp = web.json_response(body)
        if draw.close_connection:
            resp.force_close()
        return resp

    def _finished(self, seq: Seq) -> None:
        if self.trace is not None:
            user = seq.user
            api = user.api if isinstance(user, ReqState) else "?"
            faults = user.faults if isinstance(user, ReqState) else []
            self.trace.write(trace_record(seq, api, faults))

    # -- other routes ------------------------------------------------------------------------

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        model, texts = parse_embedding(await self._body(request), self.cfg)
        cfg = self.cfg
        tokens = [max(1, token_count(t, cfg.lengths)) for t in texts]
        total = sum(tokens)
        if max(tokens) > cfg.engine.max_model_len:
            raise ApiError(400, f"input is longer than the maximum context length ({cfg.engine.max_model_len})",
                           param="input", code="context_length_exceeded")
        e = cfg.engine
        cost = e.fixed_ttft_s if e.mode == "fixed" else e.step_overhead_s + e.prefill_s_per_token * total
        await asyncio.sleep(cost / self.gpu.clock_factor() / self.clock.scale)
        data = []
        for i, text in enumerate(texts):
            rng = random.Random(zlib.crc32(text.encode("utf-8", "surrogatepass")) ^ cfg.seed)
            vec = [rng.gauss(0.0, 1.0) for _ in range(cfg.server.embedding_dim)]
            norm = sum(v * v for v in vec) ** 0.5 or 1.0
            data.append({"object": "embedding", "index": i, "embedding": [v / norm for v in vec]})
        return web.json_response({"id": f"embd-{self._n}", "object": "list", "created": int(time.time()),
                                  "model": model, "data": data,
                                  "usage": {"prompt_tokens": total, "total_tokens": total}})

    async def models(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        m = self.cfg.model
        return web.json_response({"object": "list", "data": [{
            "id": m, "object": "model", "created": self.created, "owned_by": "vllm", "root": m,
            "parent": None, "max_model_len": self.cfg.engine.max_model_len}]})

    async def health(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=200)

    async def version(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(version_doc())

    async def server_info(self, request: web.Request) -> web.StreamResponse:
        """vLLM's development-mode config endpoint, answered with gpusim's own configuration."""
        return web.json_response(server_info_doc(self.cfg, request.query.get("config_format", "text")))

    async def prometheus(self, request: web.Request) -> web.StreamResponse:
        self.runner.sync_gpu()
        return web.Response(body=self.metrics.render(self.engine), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def dcgm_metrics(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=self.dcgm.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def get_faults(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.faults.cfg.model_dump())

    async def set_faults(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object of fault settings")
        try:
            cfg = self.faults.update(body)
        except ValidationError as err:
            msgs = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'faults'}: {e['msg']}" for e in err.errors())
            raise ApiError(400, f"invalid fault settings: {msgs}") from None
        return web.json_response(cfg.model_dump())


__all__ = ["SimServer"]
