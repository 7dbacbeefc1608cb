"""The gevent client against a misbehaving HTTP server (run as a subprocess on port 0).

The server (``python -m tests.integration.test_client_faults``) speaks raw HTTP/1.1 over
asyncio streams so it can break the protocol on purpose; the path picks the behaviour.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collectors.records import RequestRecord
    from loadgen.config import TargetConfig
    from loadgen.openai.pool import ClientStats

ROOT = Path(__file__).resolve().parents[2]


# ---- the misbehaving server ------------------------------------------------------------------
def _sse(obj: Any) -> bytes:
    data = obj if isinstance(obj, str) else json.dumps(obj)
    return f"data: {data}\n\n".encode()


def _tok(text: str, finish: str | None = None) -> bytes:
    return _sse({"id": "f-1", "object": "chat.completion.chunk",
                 "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]})


def _chunked(b: bytes) -> bytes:
    return f"{len(b):x}\r\n".encode() + b + b"\r\n"


SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
FULL = [_tok("a"), _tok("b", "stop"), _sse("[DONE]")]


async def _read_request(reader: asyncio.StreamReader) -> str | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v)
    if length:
        await reader.readexactly(length)
    return lines[0].split(" ")[1].removeprefix("/v1")


def _rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    served = 0
    try:
        while True:
            path = await _read_request(reader)
            if path is None:
                return
            if path.startswith("/stale") and served:
                return  # a keep-alive connection the server dropped when the next request came
            served += 1
            if path.startswith("/status/"):
                code = int(path.rsplit("/", 1)[1])
                body = json.dumps({"error": {"message": f"status {code} here", "code": code}}).encode()
                extra = b"Retry-After: 7\r\n" if code == 429 else b""
                writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n%bContent-Length: %d\r\n\r\n%b"
                             % (code, extra, len(body), body))
                await writer.drain()
                continue
            writer.write(SSE_HEAD + (b"Connection: close\r\n" if path.startswith("/conn-close") else b"") + b"\r\n")
            if path.startswith("/slow"):
                writer.write(_chunked(_tok("a")))
                await writer.drain()
                await asyncio.sleep(5)
                return
            if path.startswith(("/reset", "/eof-mid-body")):
                writer.write(_chunked(_tok("a")) + _chunked(_tok("b")))
                await writer.drain()
                await asyncio.sleep(0.05)
                if path.startswith("/reset"):
                    _rst(writer)
                return
            events = FULL
            if path.startswith("/truncated"):
                events = FULL[:2]
            elif path.startswith("/mid-error"):
                events = [_tok("a"), _sse({"error": {"message": "engine died", "code": 500}}), _sse("[DONE]")]
            for ev in events:
                writer.write(_chunked(ev))
                await writer.drain()
                await asyncio.sleep(0.002)
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            if path.startswith(("/conn-close", "/silent-close")):
                return  # keep-alive was promised in /silent-close; close anyway
    finally:
        writer.close()


async def _serve(tls: list[str]) -> None:
    ctx = None
    if tls:
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls[0], tls[1])
    server = await asyncio.start_server(_handle, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    await server.serve_forever()


# ---- tests ------------------------------------------------------------------------------------
def _spawn(args: list[str]) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("PORT "), line
    return proc, int(line.split()[1])


@pytest.fixture(scope="module")
def fault_port() -> Iterator[int]:
    proc, port = _spawn(["-m", "tests.integration.test_client_faults"])
    try:
        yield port
    finally:
        proc.kill()
        proc.wait(timeout=10)


KEY_ENV = "INFERLOAD_TEST_FAULTS_KEY"


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-TOPSECRET")


def _target(port: int, read_s: float = 2.0, total_s: float = 10.0, scheme: str = "http") -> TargetConfig:
    from tests.support.models import target

    return target(f"{scheme}://127.0.0.1:{port}/v1", read_s=read_s, total_s=total_s,
                  headers={"X-Test": "1"}, api_key_env=KEY_ENV)


def _run(port: int, paths: list[str], read_s: float = 2.0, max_connections: int = 4,
         sequential: bool = False) -> tuple[list[RequestRecord], ClientStats]:
    import gevent

    from collectors.records import RequestRecord
    from loadgen.openai.client import CLOCK_NS, OpenAIClient
    from loadgen.openai.payloads import PreparedRequest

    client = OpenAIClient(_target(port, read_s), max_connections=max_connections)
    recs = [RequestRecord(idx=i, phase="p", traffic_class="c", worker="w", scheduled_ns=CLOCK_NS())
            for i in range(len(paths))]
    body = b'{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}'

    def one(i: int) -> None:
        client.send(PreparedRequest(paths[i], body, 8, "chat", True), recs[i])

    if sequential:
        for i in range(len(paths)):
            one(i)
    else:
        gevent.joinall([gevent.spawn(one, i) for i in range(len(paths))], timeout=30)
    client.close()
    return recs, client.stats


def _assert_no_secret(recs: list[RequestRecord]) -> None:
    for r in recs:
        assert "TOPSECRET" not in repr(r)


@pytest.mark.integration
def test_ok_stream(fault_port: int) -> None:
    (r,), _ = _run(fault_port, ["/v1/ok"])
    assert r.error is None and r.status == 200 and len(r.token_ns) == 2 and r.finish_reason == "stop"
    assert r.sent_ns is not None and r.first_byte_ns is not None and r.first_token_ns is not None
    assert r.end_ns is not None
    assert r.sent_ns <= r.first_byte_ns <= r.first_token_ns <= r.token_ns[-1] <= r.end_ns
    assert r.wall_offset_ns != 0


@pytest.mark.integration
@pytest.mark.parametrize(("code", "cls", "detail"), [
    (429, "http_429", "Retry-After=7"), (404, "http_4xx", "status 404 here"), (500, "http_5xx", "HTTP 500"),
    (503, "http_5xx", "status 503 here"),
])
def test_http_status_classes(fault_port: int, code: int, cls: str, detail: str) -> None:
    recs, stats = _run(fault_port, [f"/v1/status/{code}"] * 3, sequential=True)
    for r in recs:
        assert r.status == code and r.error == cls and detail in r.error_detail
        assert r.end_ns is not None and r.end_ns >= r.sent_ns
    assert stats.connections_opened == 1  # error responses keep the connection alive
    _assert_no_secret(recs)


@pytest.mark.integration
def test_stream_failures(fault_port: int) -> None:
    recs, _ = _run(fault_port, ["/v1/reset", "/v1/eof-mid-body", "/v1/truncated", "/v1/mid-error"])
    reset, eof, trunc, mid = recs
    assert reset.error == "reset_mid_stream" and len(reset.token_ns) == 2 and reset.status == 200
    assert eof.error == "reset_mid_stream" and len(eof.token_ns) == 2  # EOF inside a chunked body
    assert trunc.error == "truncated" and trunc.finish_reason == "stop"
    assert mid.error == "malformed_chunk" and "engine died" in mid.error_detail
    _assert_no_secret(recs)


@pytest.mark.integration
def test_read_timeout(fault_port: int) -> None:
    (r,), _ = _run(fault_port, ["/v1/slow"], read_s=0.3)
    assert r.error == "timeout" and "read timeout" in r.error_detail and len(r.token_ns) == 1
    assert r.end_ns is not None and 0.3 <= (r.end_ns - r.token_ns[0]) * 1e-9 < 3.0


@pytest.mark.integration
def test_connection_refused() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    (r,), _ = _run(port, ["/v1/ok"])
    assert r.error == "connect_error" and r.status is None and r.end_ns is not None


@pytest.mark.integration
@pytest.mark.parametrize("path", ["/v1/conn-close", "/v1/silent-close", "/v1/stale"])
def test_server_closing_kept_alive_connections_gives_no_errors(fault_port: int, path: str) -> None:
    recs, stats = _run(fault_port, [path] * 12, max_connections=1, sequential=True)
    assert [r.error for r in recs] == [None] * 12
    assert all(len(r.token_ns) == 2 for r in recs)
    if path == "/v1/stale":  # every reused connection was dropped by the server: retried once each
        assert stats.stale_retries == 11 and stats.connections_opened == 12


@pytest.mark.integration
def test_pool_waits_are_counted(fault_port: int) -> None:
    recs, stats = _run(fault_port, ["/v1/ok"] * 6, max_connections=2)
    assert all(r.error is None for r in recs)
    assert stats.pool_waits == 4 and stats.pool_wait_ns > 0 and stats.in_use == 0


@pytest.mark.integration
def test_total_timeout_and_kill_release_the_connection(fault_port: int) -> None:
    import gevent

    from collectors.records import RequestRecord
    from loadgen.openai.client import CLOCK_NS, OpenAIClient
    from loadgen.openai.payloads import PreparedRequest

    client = OpenAIClient(_target(fault_port, read_s=5.0, total_s=0.3), max_connections=2)
    body = b"{}"
    r1 = RequestRecord(idx=0, phase="p", traffic_class="c", worker="w", scheduled_ns=CLOCK_NS())
    client.send(PreparedRequest("/v1/slow", body, 8, "chat", True), r1)
    assert r1.error == "timeout" and "total timeout" in r1.error_detail
    assert r1.end_ns is not None
    assert 0.25 <= (r1.end_ns - r1.sent_ns) * 1e-9 < 3.0
    # a killed request: GreenletExit propagates, the record is left for the caller to mark
    r2 = RequestRecord(idx=1, phase="p", traffic_class="c", worker="w", scheduled_ns=CLOCK_NS())
    g = gevent.spawn(client.send, PreparedRequest("/v1/slow", body, 8, "chat", True), r2)
    gevent.sleep(0.15)
    assert len(r2.token_ns) == 1
    g.kill(block=True, timeout=5)
    assert isinstance(g.value, gevent.GreenletExit) and r2.error is None
    assert client.stats.in_use == 0


@pytest.mark.integration
def test_tls_is_verified_against_the_system_trust_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A self-signed certificate fails; trusted through ``SSL_CERT_FILE`` (how a user trusts a
    private CA: there is no scenario option to switch verification off), the same server works."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    proc, port = _spawn(["-m", "tests.integration.test_client_faults", str(cert), str(key)])
    try:
        import gevent

        from collectors.records import RequestRecord
        from loadgen.openai.client import CLOCK_NS, OpenAIClient
        from loadgen.openai.payloads import PreparedRequest

        def send() -> RequestRecord:
            client = OpenAIClient(_target(port, scheme="https"), max_connections=1)
            r = RequestRecord(idx=0, phase="p", traffic_class="c", worker="w", scheduled_ns=CLOCK_NS())
            gevent.spawn(client.send, PreparedRequest("/v1/ok", b"{}", 8, "chat", True), r).join(timeout=20)
            client.close()
            return r

        bad = send()
        assert bad.error == "connect_error" and "TLS" in (bad.error_detail or "")
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        good = send()
        assert good.error is None and len(good.token_ns) == 2
    finally:
        proc.kill()
        proc.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1:3]))
