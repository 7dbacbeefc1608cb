"""The streamed body's read timeout (one re-arming timer per body, not a socket timeout per wait).

A gevent server on loopback port 0, in the test process, sends SSE chunks with chosen gaps: gaps
shorter than ``read_s`` must never time out however long the body lasts; a silence longer than
``read_s`` mid-stream must end the request as ``timeout`` about ``read_s`` after the last byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import gevent
import gevent.server
import gevent.socket
import pytest

from collectors.records import RequestRecord
from loadgen.openai.client import OpenAIClient
from loadgen.openai.payloads import PreparedRequest
from tests.support.models import target

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def _chunk(data: str) -> bytes:
    b = f"data: {data}\n\n".encode()
    return f"{len(b):x}\r\n".encode() + b + b"\r\n"


def _tok(i: int) -> bytes:
    return _chunk(json.dumps({"id": "w-1", "choices": [{"index": 0, "delta": {"content": f"t{i}"}}]}))


def _handle(sock: gevent.socket.socket, _addr: Any) -> None:
    f = sock.makefile("rb")
    try:
        while True:
            line = f.readline()
            if not line:
                return
            path = line.split()[1].decode()
            length = 0
            while (h := f.readline()) not in (b"\r\n", b""):
                if h.lower().startswith(b"content-length:"):
                    length = int(h.split(b":")[1])
            f.read(length)
            sock.sendall(HEAD)
            gap, n, stall = (0.12, 8, False) if path.endswith("/trickle") else (0.02, 2, True)
            for i in range(n):
                sock.sendall(_tok(i))
                gevent.sleep(gap)
            if stall:
                gevent.sleep(3.0)
                return
            sock.sendall(_chunk("[DONE]") + b"0\r\n\r\n")
    finally:
        f.close()
        sock.close()


@pytest.fixture()
def port() -> Iterator[int]:
    server = gevent.server.StreamServer(("127.0.0.1", 0), _handle)
    server.start()
    try:
        yield server.server_port
    finally:
        server.stop(timeout=1)


def _send(port: int, path: str, read_s: float) -> RequestRecord:
    client = OpenAIClient(target(f"http://127.0.0.1:{port}", read_s=read_s, total_s=10.0), max_connections=2)
    rec = RequestRecord(idx=0, phase="p", traffic_class="c", worker="w", scheduled_ns=0)
    body = json.dumps({"model": "m", "messages": [], "stream": True}).encode()
    try:
        client.send(PreparedRequest(path, body, 8, "chat", True), rec)
    finally:
        client.close()
    return rec


@pytest.mark.integration
def test_gaps_shorter_than_read_timeout_never_time_out(port: int) -> None:
    rec = _send(port, "/v1/trickle", read_s=0.3)  # 8 gaps of 0.12 s: ~1 s > read_s in total
    assert rec.error is None, rec.error_detail
    assert len(rec.token_ns) == 8 and rec.end_ns is not None
    assert rec.first_byte_ns is not None
    assert (rec.end_ns - rec.first_byte_ns) * 1e-9 > 0.3  # the body outlasted read_s


@pytest.mark.integration
def test_silence_mid_stream_is_a_read_timeout(port: int) -> None:
    rec = _send(port, "/v1/stall", read_s=0.3)
    assert rec.error == "timeout" and "read timeout" in (rec.error_detail or "")
    assert len(rec.token_ns) == 2 and rec.end_ns is not None
    assert 0.3 <= (rec.end_ns - rec.token_ns[-1]) * 1e-9 < 2.5


@pytest.mark.integration
def test_client_is_reusable_after_a_read_timeout(port: int) -> None:
    """The watchdog of a timed-out body is gone: later requests on the same hub are unaffected."""
    assert _send(port, "/v1/stall", read_s=0.2).error == "timeout"
    rec = _send(port, "/v1/trickle", read_s=0.3)
    assert rec.error is None and len(rec.token_ns) == 8
