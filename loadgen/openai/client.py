"""The streaming OpenAI-compatible HTTP client on gevent + geventhttpclient's response parser.

One :class:`OpenAIClient` per target and worker process; :meth:`OpenAIClient.send` runs inside
a greenlet and fills a :class:`~collectors.records.RequestRecord` in place.  It never raises,
except ``gevent.GreenletExit`` (the caller marks those records ``CANCELLED``).

**Clock.** Every timestamp is ``time.monotonic_ns()`` (:data:`CLOCK_NS`; CLOCK_MONOTONIC on
Linux, shared by all processes of a host).  ``record.wall_offset_ns`` is set from
``time.time_ns() - time.monotonic_ns()`` taken when the client was built.

**Timeline of one request.**

- ``sent_ns``: immediately before the request bytes are written (after a pooled connection was
  obtained or a new one connected: connect/TLS time is *not* in TTFT, wait for a free pooled
  connection is not either -- see below);
- ``first_byte_ns``: when the first ``recv`` of the response returned;
- body bytes are read with ``recv`` as they arrive (never ``read(n)``/``iter_lines``, which wait
  for a full block) and fed, with the instant each ``recv`` returned, to
  :class:`~loadgen.openai.sse.SseParser`; :class:`~loadgen.openai.stream.StreamState` turns the
  events into first token, chunk times, usage, finish reason and errors.

**Connection pool.** At most ``max_connections`` connections (keep-alive, LIFO reuse).  A request
that finds all of them busy *waits* for one: that is a hidden client-side queue, so the caller
must size ``max_connections`` >= peak in-flight requests.  Waits are counted in
:attr:`OpenAIClient.stats` (``pool_waits``, ``pool_wait_ns``) so a run can report them; the wait
happens before ``sent_ns`` and so shows up in schedule lag, not in TTFT.

**Stale keep-alive connections.** A server may close an idle connection (``Connection: close``
or silently).  A request is retried on a new connection only when it went out on a *reused*
connection and the connection failed before any response byte arrived; ``sent_ns`` is then the
time of the retry's write.  Retries are counted (``stale_retries``).

**Errors** (``record.error``; ``error_detail`` is a short text without secrets): refused / DNS /
TLS failure → ``connect_error``; connect, read (longest silence between received bytes) or
total timeout → ``timeout``; HTTP 429 → ``http_429`` (detail keeps ``Retry-After``), other 4xx
→ ``http_4xx``, 5xx → ``http_5xx``; reset or EOF before the HTTP body was complete →
``reset_mid_stream``; complete HTTP body without ``data: [DONE]`` → ``truncated``; bad chunk or
error object in the stream → ``malformed_chunk``.

**Secrets.** ``Authorization: Bearer <key>`` from ``target.api_key()`` (read once, here) goes
only into the request head; it is never logged, stored in records or put into error details.
TLS certificates and host names are always verified, against the system's trust store (a
private CA: point ``SSL_CERT_FILE`` at its certificate).
"""

from __future__ import annotations

import errno
import json
import ssl
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import gevent
import gevent.socket
import gevent.ssl
from geventhttpclient.response import HTTPParseError, HTTPSocketResponse

from collectors.records import ErrorClass, RequestRecord
from loadgen.openai.payloads import PreparedRequest
from loadgen.openai.pool import ClientStats, Pool
from loadgen.openai.read_timeout import ReadWatchdog
from loadgen.openai.sse import SseParser
from loadgen.openai.stream import StreamState, interpret_body, server_timing_from_headers, short

if TYPE_CHECKING:
    from loadgen.config import TargetConfig

CLOCK_NS: Callable[[], int] = time.monotonic_ns
"""The one clock of every record timestamp."""

_BLOCK = 64 * 1024
_ERROR_BODY_MAX = 4096


class _Fail(Exception):
    """Internal: ends a request with an error class and a short detail."""

    def __init__(self, cls: ErrorClass, detail: str) -> None:
        super().__init__(detail)
        self.cls = cls
        self.detail = detail


class _Stale(Exception):
    """Internal: a reused connection failed before any response byte: retry once."""


def _drain_body(resp: HTTPSocketResponse, sock: gevent.socket.socket, limit: int) -> bytes:
    """Read a (non-streamed) body to its end; keep at most ``limit`` bytes of it."""
    kept = bytearray()
    buf = resp._body_buffer
    while True:
        if buf:
            if len(kept) < limit:
                kept += buf[: limit - len(kept)]
            del buf[:]
        if resp.message_complete:
            return bytes(kept)
        data = sock.recv(_BLOCK)
        resp.feed(data)  # b"" = EOF: completes a close-delimited body or raises HTTPParseError


class OpenAIClient:
    """Sends prepared requests to one OpenAI-compatible target (see module docstring)."""

    def __init__(
        self,
        target: TargetConfig,
        *,
        max_connections: int,
        clock_ns: Callable[[], int] = CLOCK_NS,
    ) -> None:
        """``target``: the scenario's ``target`` section; ``max_connections`` >= the peak number of
        requests in flight."""
        if max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        url = urlsplit(str(target.base_url))
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"target.base_url must be an http(s) URL, got {url.scheme or '?'}://…")
        self._clock = clock_ns
        self.wall_offset_ns = time.time_ns() - time.monotonic_ns()
        tls = url.scheme == "https"
        port = url.port or (443 if tls else 80)
        self._prefix = url.path.rstrip("/")
        ssl_ctx: ssl.SSLContext | None = None
        if tls:  # gevent's context: its sockets are cooperative even without monkey-patching
            ssl_ctx = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies cert + host name
            ssl_ctx.load_default_certs()
        timeouts = target.timeouts
        self.connect_s, self.read_s, self.total_s = timeouts.connect_s, timeouts.read_s, timeouts.total_s
        self.stats = ClientStats()
        self._pool = Pool(url.hostname, port, ssl_ctx, self.connect_s, self.read_s, max_connections, self.stats)
        host_hdr = url.hostname if url.port is None else f"{url.hostname}:{url.port}"
        if ":" in url.hostname and not host_hdr.startswith("["):  # IPv6 literal
            host_hdr = f"[{url.hostname}]" + (f":{url.port}" if url.port else "")
        lines = [f"Host: {host_hdr}", "User-Agent: inferload", "Content-Type: application/json"]
        lines.extend(f"{k}: {v}" for k, v in target.headers.items())
        key = target.api_key()
        if key:
            lines.append(f"Authorization: Bearer {key}")
        self._head_fixed = ("\r\n".join(lines) + "\r\n").encode("latin-1")

    def __repr__(self) -> str:  # never shows headers (the API key is in there)
        return f"<OpenAIClient {self._pool.host}:{self._pool.port}{self._prefix}>"

    def _path(self, path: str) -> str:
        prefix = self._prefix
        if prefix.endswith("/v1") and path.startswith("/v1/"):
            prefix = prefix[:-3]
        return prefix + path

    def _head(self, prepared: PreparedRequest) -> bytes:
        accept = b"text/event-stream" if prepared.stream else b"application/json"
        return (
            b"POST " + self._path(prepared.path).encode("latin-1") + b" HTTP/1.1\r\n" + self._head_fixed
            + b"Accept: " + accept + b"\r\nContent-Length: " + str(len(prepared.body)).encode() + b"\r\n\r\n"
        )

    def close(self) -> None:
        """Close idle pooled connections."""
        self._pool.close()

    # ---- one request ----------------------------------------------------------------------
    def send(self, prepared: PreparedRequest, record: RequestRecord) -> None:
        """Send ``prepared`` and fill ``record`` in place (see module docstring)."""
        record.wall_offset_ns = self.wall_offset_ns
        self.stats.requests += 1
        timer = gevent.Timeout(self.total_s)
        timer.start()
        try:
            self._send(prepared, record)
        except _Fail as f:
            self._set_error(record, f.cls, f.detail)
        except gevent.Timeout as t:
            if t is not timer:
                raise
            self._set_error(record, ErrorClass.TIMEOUT, f"total timeout {self.total_s:g} s")
        except Exception as e:  # classified, never raised
            # a transport error the paths above did not name is the connection's; anything else is a
            # bug of ours: its own class, so it is not counted against the target (run invalid)
            transport = isinstance(e, OSError) or type(e).__module__.split(".")[0] in ("geventhttpclient", "ssl")
            self._set_error(record, ErrorClass.RESET if transport else ErrorClass.GENERATOR,
                            f"{type(e).__name__}: {e}")
        finally:
            timer.close()
        if record.end_ns is None:
            record.end_ns = self._clock()

    def _set_error(self, record: RequestRecord, cls: ErrorClass, detail: str) -> None:
        if record.error is None:
            record.error = cls
            record.error_detail = short(detail)
        if record.end_ns is None or cls is ErrorClass.TIMEOUT:
            record.end_ns = self._clock()

    def _send(self, prepared: PreparedRequest, record: RequestRecord) -> None:
        data = self._head(prepared) + prepared.body
        try:
            self._attempt(prepared, record, data, may_retry=True)
        except _Stale:
            self.stats.stale_retries += 1
            self._attempt(prepared, record, data, may_retry=False)

    def _attempt(self, prepared: PreparedRequest, record: RequestRecord, data: bytes, may_retry: bool) -> None:
        clock = self._clock
        record.sent_ns = clock()  # provisional: failures before the write keep this time
        try:
            sock, reused = self._pool.acquire()
        except TimeoutError:
            raise _Fail(ErrorClass.TIMEOUT, f"connect timeout {self.connect_s:g} s") from None
        except ssl.SSLError as e:
            raise _Fail(ErrorClass.CONNECT, f"TLS: {e.__class__.__name__}: {e.reason or e}") from None
        except OSError as e:
            raise _Fail(ErrorClass.CONNECT, f"{type(e).__name__}: {e.strerror or e}") from None
        retry_ok = may_retry and reused
        reusable = False
        try:
            # -- write the request, wait for the first response byte
            try:
                record.sent_ns = clock()
                sock.sendall(data)
                first = sock.recv(_BLOCK)
            except TimeoutError:
                raise _Fail(ErrorClass.TIMEOUT, f"no response within read timeout {self.read_s:g} s") from None
            except OSError as e:
                if retry_ok:
                    raise _Stale() from None
                raise _Fail(ErrorClass.RESET, f"connection failed before response: {_os_detail(e)}") from None
            t = clock()
            if not first:
                if retry_ok:
                    raise _Stale()
                raise _Fail(ErrorClass.RESET, "connection closed before response")
            record.first_byte_ns = t
            # -- status line and headers
            try:
                resp = HTTPSocketResponse(sock, block_size=_BLOCK, method="POST", pre_buffered=first)
            except TimeoutError:
                raise _Fail(ErrorClass.TIMEOUT, f"read timeout {self.read_s:g} s in headers") from None
            except (OSError, HTTPParseError) as e:
                raise _Fail(ErrorClass.RESET, f"bad or broken response head: {_os_detail(e)}") from None
            t = clock()
            status = resp.status_code
            record.status = status
            if not 200 <= status < 300:
                reusable = self._http_error(resp, sock, record, status)
                return
            headers = {k.lower(): v for k, v in resp.items() if k[:2] in ("x-", "X-")}
            if headers:
                server_timing_from_headers(headers, record.server_timing)
            ctype = str(resp.get("content-type") or "")
            if prepared.stream and "json" not in ctype:
                reusable = self._read_stream(resp, sock, record, prepared, t)
            else:
                body = self._read_all(resp, sock)
                interpret_body(record, prepared.api, body, clock())
                reusable = not resp.should_close()
        finally:
            self._pool.release(sock, reusable)

    def _read_all(self, resp: HTTPSocketResponse, sock: gevent.socket.socket) -> bytes:
        try:
            return _drain_body(resp, sock, 1 << 30)
        except TimeoutError:
            raise _Fail(ErrorClass.TIMEOUT, f"read timeout {self.read_s:g} s in body") from None
        except (OSError, HTTPParseError) as e:
            raise _Fail(ErrorClass.RESET, f"connection broken in body: {_os_detail(e)}") from None

    def _http_error(self, resp: HTTPSocketResponse, sock: gevent.socket.socket, record: RequestRecord,
                    status: int) -> bool:
        """Classify a non-200 status; read (part of) the body for the detail."""
        try:
            body = _drain_body(resp, sock, _ERROR_BODY_MAX)
            reusable = not resp.should_close()
        except (OSError, HTTPParseError):
            body, reusable = b"", False
        record.end_ns = self._clock()
        msg = _body_message(body)
        if status == 429:
            ra = resp.get("retry-after")
            detail = f"HTTP 429 Retry-After={ra}: {msg}" if ra else f"HTTP 429: {msg}"
            self._set_error(record, ErrorClass.HTTP_429, detail)
        elif status >= 500:
            self._set_error(record, ErrorClass.HTTP_5XX, f"HTTP {status}: {msg}")
        else:
            self._set_error(record, ErrorClass.HTTP_4XX, f"HTTP {status}: {msg}")
        return reusable

    def _read_stream(self, resp: HTTPSocketResponse, sock: gevent.socket.socket, record: RequestRecord,
                     prepared: PreparedRequest, t_head: int) -> bool:
        """Feed body bytes to the SSE parser as they arrive; True if the connection is reusable.

        The per-chunk hot path: no socket timeout during the body (gevent would make a ``Timeout``
        per wait; one :class:`~loadgen.openai.read_timeout.ReadWatchdog` per body keeps the read
        timeout instead); on plain TCP, wait on one I/O watcher, then ``recv`` once (gevent's
        ``recv`` first fails with ``EWOULDBLOCK``).  TLS may hold decrypted bytes while the socket
        is not readable, so there ``recv`` is called directly.
        """
        clock = self._clock
        parser = SseParser()
        feed = parser.feed
        state = StreamState(record, prepared.api)
        on_event = state.on_event
        buf = resp._body_buffer
        recv = sock.recv
        t = t_head
        watchdog = ReadWatchdog(self.read_s, clock, t_head)
        hub = gevent.get_hub()
        io = hub.loop.io(sock.fileno(), 1) if self._pool.ssl_ctx is None else None
        wait = hub.wait
        sock.settimeout(None)
        try:
            while True:
                if buf:
                    chunk = bytes(buf)
                    del buf[:]
                    for ev in feed(chunk, t):
                        on_event(ev)
                if resp.message_complete:
                    break
                if io is not None:
                    wait(io)
                data = recv(_BLOCK)
                t = clock()
                watchdog.last_ns = t
                resp.feed(data)  # b"": EOF -> completes a close-delimited body, else HTTPParseError
        except TimeoutError:
            if state.done:  # [DONE] came; only the end of the HTTP body is late
                return False
            raise _Fail(ErrorClass.TIMEOUT, f"no bytes for read timeout {self.read_s:g} s mid-stream") from None
        except (OSError, HTTPParseError) as e:
            if state.done:  # the stream was complete; only the HTTP framing broke afterwards
                state.finish(t, eof_clean=True)
                return False
            had_error = record.error is not None
            state.finish(clock(), eof_clean=False)
            if not had_error and record.error is ErrorClass.RESET:
                record.error_detail = short(f"connection broken mid-stream: {_os_detail(e)}")
            return False
        finally:
            watchdog.stop()
            if io is not None:
                io.close()
            sock.settimeout(self.read_s)
        for ev in parser.close(t):
            on_event(ev)
        state.finish(t, eof_clean=True)
        return not resp.should_close()


def _os_detail(e: BaseException) -> str:
    if isinstance(e, OSError) and e.errno is not None:
        return f"{type(e).__name__} ({errno.errorcode.get(e.errno, e.errno)})"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _body_message(body: bytes) -> str:
    """The server's error message from a JSON error body, else the start of the body."""
    try:
        obj = json.loads(body)
    except ValueError:
        return body[:160].decode("utf-8", errors="replace")
    if isinstance(obj, Mapping):
        err = obj.get("error", obj)
        if isinstance(err, Mapping):
            return str(err.get("message") or err.get("detail") or err)[:160]
        if isinstance(err, str):
            return err[:160]
        if "detail" in obj:
            return str(obj["detail"])[:160]
    return body[:160].decode("utf-8", errors="replace")


__all__ = ["CLOCK_NS", "ClientStats", "OpenAIClient"]
