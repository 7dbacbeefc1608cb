"""How a batch of line protocol reaches InfluxDB, and how a failure is classified.

A transport is any callable ``(body: str) -> None`` that returns when the destination accepted
the batch and otherwise raises :class:`TransientWriteError` (retry later: timeouts, connection
errors, 429, 5xx), :class:`PermanentWriteError` (4xx other than 429 and 413: drop and count)
or :class:`TooLargeError` (413: split the batch).  Tests inject fakes; the real one is
:class:`InfluxTransport`.

:class:`InfluxTransport` uses influxdb-client's v2 write API in ``SYNCHRONOUS`` mode, called
from the sink's own sender thread.  Chosen over the library's batching mode because that mode
drops batches after its retries, keeps its backlog in unbounded memory and reports failures
only through callbacks (reliability.md §2.1); in synchronous mode every outcome comes back as
a return or an exception, so the sink's own queue, spool and retry policy stay in charge.  The
client's own urllib3 retries stay off (its default), so no retry happens behind our back.

The token is read from the env var or file named in the config, at construction; it is held
only by the client (an ``Authorization`` header), never logged and never put in a message.
"""

from __future__ import annotations

import os
import re
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from collectors.sinks.config import InfluxSinkConfig
from userinput.errors import InputError

_DROPPED_RE = re.compile(r"dropped=(\d+)")


class TransientWriteError(Exception):
    """Retry later; ``retry_after_s`` is the server's ``Retry-After`` when it sent one."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentWriteError(Exception):
    """The server refused the batch for good (4xx other than 429/413).

    ``dropped`` is how many points the server says it dropped (InfluxDB 1.x partial writes say
    ``dropped=N``); ``None`` means the whole batch.
    """

    def __init__(self, message: str, status: int, dropped: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.dropped = dropped


class TooLargeError(Exception):
    """413: the body is over the server's limit; split the batch and try again."""


def read_token(config: InfluxSinkConfig) -> str:
    """The token named by ``token_env`` / ``token_file`` ("" when neither is set)."""
    if config.token_env:
        value = os.environ.get(config.token_env)
        if value is None:
            raise InputError(f"sinks.influxdb.token_env: environment variable {config.token_env} is not set")
        return value.strip()
    if config.token_file:
        try:
            return Path(config.token_file).read_text().strip()
        except OSError as e:
            raise InputError(f"sinks.influxdb.token_file: cannot read {config.token_file}: {e.strerror}") from None
    return ""


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None when absent/unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def classify_status(status: int, body: str, headers: dict[str, str] | None = None) -> Exception:
    """The exception a non-2xx answer maps to."""
    message = f"HTTP {status}: {body.strip()[:300]}"
    if status == 429 or status >= 500:
        retry_after = parse_retry_after((headers or {}).get("Retry-After") or (headers or {}).get("retry-after"))
        return TransientWriteError(message, retry_after)
    if status == 413:
        return TooLargeError(message)
    m = _DROPPED_RE.search(body)
    return PermanentWriteError(message, status, int(m.group(1)) if m else None)


class InfluxTransport:
    """``influxdb_client`` v2 write API, synchronous, ns precision."""

    def __init__(self, config: InfluxSinkConfig, *, token: str | None = None) -> None:
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self._bucket = config.bucket
        self._org = config.org
        self._client = InfluxDBClient(
            url=config.url,
            token=read_token(config) if token is None else token,
            org=config.org or "-",
            timeout=int(config.timeout_s * 1000),
            enable_gzip=False,
        )
        self._write = self._client.write_api(write_options=SYNCHRONOUS)

    def __call__(self, body: str) -> None:
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException

        try:
            self._write.write(bucket=self._bucket, org=self._org or "-", record=body.encode(),
                              write_precision=WritePrecision.NS)  # type: ignore[arg-type]
        except ApiException as e:
            headers: dict[str, str] = dict(e.headers or {})
            raise classify_status(int(e.status or 0), _text(e.body), headers) from None
        except OSError as e:
            raise TransientWriteError(f"connection error: {type(e).__name__}") from None
        except Exception as e:  # urllib3 errors (MaxRetryError, ProtocolError, timeouts) and alike
            if _is_urllib3(e):
                raise TransientWriteError(f"connection error: {type(e).__name__}") from None
            raise

    def close(self) -> None:
        try:
            self._write.close()
        finally:
            self._client.close()


def _text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return str(body)


def _is_urllib3(e: Exception) -> bool:
    return type(e).__module__.startswith("urllib3")


__all__ = [
    "InfluxTransport",
    "PermanentWriteError",
    "TooLargeError",
    "TransientWriteError",
    "classify_status",
    "parse_retry_after",
    "read_token",
]
