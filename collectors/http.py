"""The one HTTP GET the collectors need: fetch a /metrics page with the standard library.

Collectors take the getter as a constructor argument (:data:`HttpGet`), so tests pass a function
returning recorded text and a collector never imports gevent, Locust or an HTTP framework.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from collections.abc import Callable

from userinput.errors import InputError

HttpGet = Callable[[str, float], str]
"""``get(url, timeout_s) -> body text``; raises on a transport error or a non-2xx status."""

MAX_BODY_BYTES = 32 * 1024 * 1024


class FetchError(Exception):
    """A GET failed: connection refused, timeout, non-2xx status, or an oversized body."""


def check_url(url: str, what: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host, else :class:`InputError` naming ``what``."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"{what}: expected an http:// or https:// URL with a host, got {redact_url(url)!r}")
    return url


def redact_url(url: str) -> str:
    """``url`` without user info and query (they can carry credentials), for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    query = "?…" if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", "")) + query


def http_get(url: str, timeout_s: float = 5.0) -> str:
    """GET ``url`` and return the body decoded as UTF-8 (at most :data:`MAX_BODY_BYTES`)."""
    request = urllib.request.Request(url, headers={"Accept": "text/plain;version=0.0.4, */*;q=0.1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (scheme checked)
            body: bytes = response.read(MAX_BODY_BYTES + 1)
    except OSError as err:  # URLError, HTTPError, timeouts and resets are all OSError
        raise FetchError(f"GET {redact_url(url)}: {err}") from None
    if len(body) > MAX_BODY_BYTES:
        raise FetchError(f"GET {redact_url(url)}: body larger than {MAX_BODY_BYTES} bytes")
    return body.decode("utf-8", errors="replace")


__all__ = ["MAX_BODY_BYTES", "FetchError", "HttpGet", "check_url", "http_get", "redact_url"]
