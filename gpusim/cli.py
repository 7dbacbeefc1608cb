"""``inferload sim``: start gpusim, the simulated GPU inference endpoint.

Prints ``gpusim listening on http://HOST:PORT`` once the socket is bound (``--port 0`` picks a
free port), then serves until SIGINT/SIGTERM.  Bad input (config file, preset, missing API-key
variable) is one message on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import signal
import sys
from pathlib import Path

import prometheus_client
from aiohttp import web

from gpusim.config import SimConfig, SimConfigError, load_config
from gpusim.presets import PRESETS
from gpusim.server import SimServer


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inferload sim", description="Start gpusim, a simulated "
                                "OpenAI-compatible inference server with a continuous-batching engine model.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = a free port)")
    p.add_argument("--config", metavar="SIM_YAML", help="sim.yaml: engine, GPU, lengths, faults, server")
    p.add_argument("--preset", choices=sorted(PRESETS), help="base preset (overrides the file's `preset:`)")
    p.add_argument("--trace", metavar="FILE", help="write ground truth JSONL, one line per request")
    p.add_argument("--api-key-env", metavar="VAR", help="require `Authorization: Bearer $VAR` (401 otherwise)")
    p.add_argument("--time-scale", type=float, default=1.0, metavar="X",
                   help="simulated time runs X times faster than real time (default 1)")
    p.add_argument("--dcgm-port", type=int, metavar="PORT",
                   help="also serve the dcgm-exporter metrics at http://HOST:PORT/metrics (0 = free port)")
    return p


def _bound_port(runner: web.AppRunner) -> int:
    for site in runner.sites:
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            return int(server.sockets[0].getsockname()[1])
    raise RuntimeError("no bound socket")


async def serve(cfg: SimConfig, host: str, port: int, *, time_scale: float = 1.0, trace: str | None = None,
                api_key: str | None = None, dcgm_port: int | None = None) -> None:
    """Run the server until cancelled or signalled."""
    sim = SimServer(cfg, time_scale=time_scale, trace_path=trace, api_key=api_key)
    runners = [web.AppRunner(sim.app(), access_log=None)]
    if dcgm_port is not None:
        runners.append(web.AppRunner(sim.dcgm_app(), access_log=None))
    try:
        for r in runners:
            await r.setup()
        await web.TCPSite(runners[0], host, port).start()
        # Everything allocated so far lives as long as the process: keep it out of the cyclic GC,
        # whose full collections would otherwise stall the event loop for ~10 ms under load.
        gc.collect()
        gc.freeze()
        print(f"gpusim listening on http://{host}:{_bound_port(runners[0])}", flush=True)  # noqa: T201
        if dcgm_port is not None:
            await web.TCPSite(runners[1], host, dcgm_port).start()
            print(f"gpusim dcgm metrics on http://{host}:{_bound_port(runners[1])}/metrics", flush=True)  # noqa: T201
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        for r in reversed(runners):
            await r.cleanup()


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.time_scale <= 0:
            raise SimConfigError(f"--time-scale must be > 0, got {args.time_scale}")
        cfg = load_config(args.config, args.preset)
        if args.trace:
            try:
                Path(args.trace).open("a").close()
            except OSError as err:
                raise SimConfigError(f"--trace {args.trace}: cannot write: {err.strerror or err}") from None
        api_key = None
        if args.api_key_env:
            api_key = os.environ.get(args.api_key_env)
            if not api_key:
                raise SimConfigError(f"--api-key-env: environment variable {args.api_key_env} is not set or empty")
    except SimConfigError as err:
        sys.stderr.write(f"inferload sim: error: {err}\n")
        return 2
    prometheus_client.disable_created_metrics()  # no *_created series, as a vLLM scrape shows
    try:
        asyncio.run(serve(cfg, args.host, args.port, time_scale=args.time_scale, trace=args.trace,
                          api_key=api_key, dcgm_port=args.dcgm_port))
    except OSError as err:
        sys.stderr.write(f"inferload sim: error: cannot serve on {args.host}:{args.port}: {err}\n")
        return 1
    except KeyboardInterrupt:
        pass
    return 0


__all__ = ["main", "serve"]
