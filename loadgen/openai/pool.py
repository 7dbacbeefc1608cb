"""Keep-alive connections to one host for the OpenAI client, and the client's counters.

At most ``size`` connections exist; a request that finds them all lent out waits (counted in
:class:`ClientStats`, since such a wait is a hidden client-side queue).  Idle connections are
reused most-recently-used first, after checking they are not readable (a readable idle
connection was closed by the server).  The host name is resolved once.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.lock
import gevent.select
import gevent.socket

CLOCK_NS = time.monotonic_ns


@dataclass(slots=True)
class ClientStats:
    """Counters of one client (cumulative since creation)."""

    requests: int = 0
    connections_opened: int = 0
    pool_waits: int = 0  # requests that found every pooled connection busy and waited
    pool_wait_ns: int = 0  # total time spent in those waits
    stale_retries: int = 0  # requests re-sent after a reused connection proved closed
    in_use: int = 0  # connections currently lent out


class Pool:
    """Keep-alive connections to one host: at most ``size``, most recently used first."""

    def __init__(
        self, host: str, port: int, ssl_ctx: ssl.SSLContext | None, connect_s: float,
        read_s: float, size: int, stats: ClientStats,
    ) -> None:
        self.host, self.port, self.ssl_ctx = host, port, ssl_ctx
        self.connect_s, self.read_s = connect_s, read_s
        self._idle: list[gevent.socket.socket] = []
        self._addr: tuple[Any, ...] | None = None
        self._sem = gevent.lock.BoundedSemaphore(size)
        self.stats = stats

    def acquire(self) -> tuple[gevent.socket.socket, bool]:
        """A connection and whether it was reused.  May raise ``OSError`` (connect failure)."""
        if self._sem.locked():
            t = CLOCK_NS()
            self._sem.acquire()
            self.stats.pool_waits += 1
            self.stats.pool_wait_ns += CLOCK_NS() - t
        else:
            self._sem.acquire()
        self.stats.in_use += 1
        try:
            while self._idle:
                sock = self._idle.pop()
                if idle_alive(sock):
                    return sock, True
                sock.close()
            return self._connect(), False
        except BaseException:
            self.stats.in_use -= 1
            self._sem.release()
            raise

    def _connect(self) -> gevent.socket.socket:
        """A new connection.  The host name is resolved once and the working address kept (a
        lookup per connection costs ~4x the connect itself on loopback); it is dropped, and
        resolved again next time, when a connect to it fails."""
        addrs = [self._addr] if self._addr is not None else gevent.socket.getaddrinfo(
            self.host, self.port, 0, socket.SOCK_STREAM)
        err: OSError | None = None
        for family, type_, proto, _name, sockaddr in addrs:
            sock = gevent.socket.socket(family, type_, proto)
            try:
                sock.settimeout(self.connect_s)
                sock.connect(sockaddr)
            except BaseException as e:
                sock.close()
                if not isinstance(e, OSError):
                    raise
                err = e
                continue
            self._addr = (family, type_, proto, _name, sockaddr)
            return self._setup(sock)
        self._addr = None
        raise err if err is not None else OSError(f"no address for {self.host}")

    def _setup(self, sock: gevent.socket.socket) -> gevent.socket.socket:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_ctx is not None:
                sock = self.ssl_ctx.wrap_socket(sock, server_hostname=self.host)
            sock.settimeout(self.read_s)
        except BaseException:
            sock.close()
            raise
        self.stats.connections_opened += 1
        return sock

    def release(self, sock: gevent.socket.socket, reusable: bool) -> None:
        if reusable and sock.fileno() >= 0:
            self._idle.append(sock)
        else:
            sock.close()
        self.stats.in_use -= 1
        self._sem.release()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


def idle_alive(sock: gevent.socket.socket) -> bool:
    """An idle keep-alive connection must not be readable (readable = FIN/RST or junk)."""
    try:
        if sock.fileno() < 0:
            return False
        readable, _, _ = gevent.select.select([sock], [], [], 0.0)
        return not readable
    except (OSError, ValueError):
        return False


__all__ = ["ClientStats", "Pool", "idle_alive"]
