"""The OpenAI-compatible client: SSE decoding, stream interpretation, payloads, gevent transport.

``sse`` (bytes -> events) and ``stream`` (events -> :class:`collectors.records.RequestRecord`)
are pure and timestamp-injected; ``payloads`` builds request bodies; ``client`` does the I/O on
gevent + geventhttpclient.  Importing this package does not import gevent.
"""

from __future__ import annotations

__all__: list[str] = []
