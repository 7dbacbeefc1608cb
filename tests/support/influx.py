"""A real InfluxDB (Debian's ``influxd`` 1.6) for tests, behind a v2-write forwarding proxy.

- :class:`InfluxServer`: ``influxd`` on free loopback ports (HTTP and the RPC bind) with a temp
  config and data/meta/wal dirs; ``kill()`` (SIGKILL) and ``start()`` again reuse the same
  ports and data; ``query()``/``count()`` speak InfluxQL over HTTP.
- :class:`ForwardingProxy`: maps ``POST /api/v2/write?bucket=B&org=O&precision=P`` to
  ``POST /write?db=B&precision=p`` (ns->n, us->u, ms->ms, s->s), passing the body and the status
  and body of the answer through unchanged; ``GET /ping`` and ``/health`` pass through too.  When
  influxd is down it answers 503 (what a real server's load balancer would say).  It runs an
  aiohttp server on its own event-loop thread, so tests need no extra process.
- :func:`influx_stack`: both, plus a database, as a context manager; tests/collectors/conftest.py
  turns it into the ``influx`` fixture (module scope).  Reuse it from any test file with
  ``from tests.support.influx import influx_stack``.

Everything binds 127.0.0.1 only; ``close()`` stops the process and the thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web

PRECISIONS = {"ns": "n", "us": "u", "ms": "ms", "s": "s"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def influxd_available() -> bool:
    return shutil.which("influxd") is not None


class InfluxServer:
    """One ``influxd`` process; same ports and data directory across kill/start."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = Path(base_dir)
        self.http_port = free_port()
        self.rpc_port = free_port()
        self.config_path = self.base_dir / "influxdb.conf"
        self.log_path = self.base_dir / "influxd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        d = self.base_dir
        self.config_path.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{d / "meta"}"\n'
            f'[data]\n  dir = "{d / "data"}"\n  wal-dir = "{d / "wal"}"\n  query-log-enabled = false\n'
            "[monitor]\n  store-enabled = false\n"
            f'[http]\n  bind-address = "127.0.0.1:{self.http_port}"\n  log-enabled = false\n'
            "[continuous_queries]\n  enabled = false\n"
            '[logging]\n  level = "warn"\n  suppress-logo = true\n'
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout_s: float = 30.0) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            ["influxd", "-config", str(self.config_path)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        log.close()
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"influxd exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            if self.ping():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("influxd did not answer /ping in time")

    def ping(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as r:
                return bool(r.status == 204)
        except (OSError, urllib.error.URLError):
            return False

    def kill(self) -> None:
        """SIGKILL: no clean shutdown (the WAL is replayed on the next start)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    # ---- InfluxQL over HTTP ------------------------------------------------------------------
    def query(self, q: str, db: str | None = None) -> dict[str, Any]:
        params = {"q": q, "epoch": "ns"}
        if db:
            params["db"] = db
        data = urllib.parse.urlencode(params).encode()
        with urllib.request.urlopen(f"{self.url}/query", data=data, timeout=30) as r:
            out: dict[str, Any] = json.loads(r.read())
        return out

    def series(self, q: str, db: str | None = None) -> list[dict[str, Any]]:
        """The ``series`` of the first statement's result ([] when empty); raises on an error."""
        res = self.query(q, db)["results"][0]
        if "error" in res:
            raise RuntimeError(res["error"])
        return list(res.get("series", []))

    def count(self, db: str, measurement: str, field: str, where: str = "") -> int:
        q = f'SELECT count("{field}") FROM "{measurement}"' + (f" WHERE {where}" if where else "")
        s = self.series(q, db)
        return int(s[0]["values"][0][1]) if s else 0

    def sum(self, db: str, measurement: str, field: str, where: str = "") -> float:
        q = f'SELECT sum("{field}") FROM "{measurement}"' + (f" WHERE {where}" if where else "")
        s = self.series(q, db)
        return float(s[0]["values"][0][1]) if s else 0.0

    def create_database(self, db: str) -> None:
        self.series(f'CREATE DATABASE "{db}"')


class ForwardingProxy:
    """v2 write API in front of InfluxDB 1.x (see the module docstring)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = 0
        self.requests = 0
        self.authorizations: set[str] = set()  # Authorization headers seen (canary tests)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="influx-proxy", daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> None:
        self._session = ClientSession(timeout=ClientTimeout(total=30), auto_decompress=False)
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/api/v2/write", self._write)
        app.router.add_get("/ping", self._passthrough)
        app.router.add_get("/health", self._passthrough)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    async def _write(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        self.authorizations.add(request.headers.get("Authorization", ""))
        bucket = request.query.get("bucket", "")
        precision = PRECISIONS.get(request.query.get("precision", "ns"), "n")
        body = await request.read()  # aiohttp has already undone any gzip Content-Encoding
        params = {"db": bucket, "precision": precision}
        headers = {"Content-Type": request.headers.get("Content-Type", "text/plain; charset=utf-8")}
        return await self._forward("POST", "/write", params, body, headers)

    async def _passthrough(self, request: web.Request) -> web.StreamResponse:
        return await self._forward("GET", request.path, dict(request.query), None, {})

    async def _forward(self, method: str, path: str, params: dict[str, str], body: bytes | None,
                       headers: dict[str, str]) -> web.StreamResponse:
        assert self._session is not None
        try:
            async with self._session.request(method, self.upstream + path, params=params, data=body,
                                             headers=headers) as r:
                data = await r.read()
                keep = {k: v for k, v in r.headers.items()
                        if k.lower() in ("content-type", "retry-after", "x-influxdb-error")}
                return web.Response(status=r.status, body=data, headers=keep)
        except (TimeoutError, ClientError, OSError) as e:
            return web.Response(status=503, text=f"upstream unavailable: {type(e).__name__}")

    def close(self) -> None:
        async def _stop() -> None:
            if self._runner is not None:
                await self._runner.cleanup()
            if self._session is not None:
                await self._session.close()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()


@dataclass
class InfluxStack:
    server: InfluxServer
    proxy: ForwardingProxy
    db: str

    @property
    def write_url(self) -> str:
        """The URL to give the sink (``sinks.influxdb.url``)."""
        return self.proxy.url

    def fresh_db(self, name: str) -> str:
        self.server.create_database(name)
        return name


@contextmanager
def influx_stack(db: str = "inferload") -> Iterator[InfluxStack]:
    """influxd + proxy + database ``db``; everything stopped and removed on exit."""
    base = Path(tempfile.mkdtemp(prefix="inferload-influx-"))
    server = InfluxServer(base)
    proxy = ForwardingProxy(server.url)
    try:
        server.start()
        server.create_database(db)
        proxy.start()
        yield InfluxStack(server, proxy, db)
    finally:
        proxy.close()
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


__all__ = [
    "PRECISIONS",
    "ForwardingProxy",
    "InfluxServer",
    "InfluxStack",
    "free_port",
    "influx_stack",
    "influxd_available",
]
