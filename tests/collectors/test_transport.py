"""Failure classification of the InfluxDB transport: what is retried, what is dropped."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from collectors.sinks.config import InfluxSinkConfig
from collectors.sinks.transport import (
    InfluxTransport,
    PermanentWriteError,
    TooLargeError,
    TransientWriteError,
    classify_status,
    parse_retry_after,
)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_statuses(status: int) -> None:
    assert isinstance(classify_status(status, "x"), TransientWriteError)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_permanent_statuses(status: int) -> None:
    e = classify_status(status, '{"error":"nope"}')
    assert isinstance(e, PermanentWriteError) and e.status == status and e.dropped is None
    assert "nope" in str(e)


def test_413_and_partial_writes() -> None:
    assert isinstance(classify_status(413, ""), TooLargeError)
    e = classify_status(400, '{"error":"partial write: field type conflict ... dropped=17"}')
    assert isinstance(e, PermanentWriteError) and e.dropped == 17


def test_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    e = classify_status(429, "", {"Retry-After": "3"})
    assert isinstance(e, TransientWriteError) and e.retry_after_s == 3.0


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield int(srv.getsockname()[1])
    stop.set()
    t.join(2)
    for c in conns:
        c.close()
    srv.close()


@pytest.mark.integration
def test_real_client_timeout_and_refused_are_transient(silent_server: int) -> None:
    hung = InfluxTransport(InfluxSinkConfig(url=f"http://127.0.0.1:{silent_server}", bucket="b", timeout_s=0.3),
                           token="t")
    with pytest.raises(TransientWriteError):
        hung("m v=1 1")
    hung.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    refused = InfluxTransport(InfluxSinkConfig(url=f"http://127.0.0.1:{closed_port}", bucket="b"), token="t")
    with pytest.raises(TransientWriteError, match="connection error"):
        refused("m v=1 1")
    refused.close()
