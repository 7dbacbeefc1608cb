"""Where a target's server-level endpoints are: one rule for every part of inferload.

A scenario's ``target.base_url`` may name the server root (``http://host:8000``), a path prefix
behind a proxy (``http://gw/llm``) or the OpenAI API root (``http://host:8000/v1``, as OpenAI
clients are usually configured).  The OpenAI paths (``/v1/...``), ``/metrics`` and the servers'
info endpoints (``/version``, ``/props``, ``/info``, ``/server_info``) all hang off the *server
root*: the base URL without a trailing ``/v1``.
"""

from __future__ import annotations


def server_root(base_url: str) -> str:
    """``base_url`` without trailing slashes and without a trailing ``/v1`` path segment."""
    base = base_url.strip().rstrip("/")
    if base.endswith("/v1") and not base.endswith("//v1"):  # not the host "v1" of "http://v1"
        base = base[:-3]
    return base


def server_url(base_url: str, path: str) -> str:
    """``path`` (starting with ``/``) on the server root of ``base_url``."""
    return server_root(base_url) + path


def metrics_url(base_url: str) -> str:
    """The Prometheus page of the target whose base URL is ``base_url``."""
    return server_url(base_url, "/metrics")


__all__ = ["metrics_url", "server_root", "server_url"]
