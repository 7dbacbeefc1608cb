"""The recorded-style SSE transcripts of tests/testdata/sse/ and one way to feed them.

Shared by the transcript tests and the fast-path tests: a body is fed to a parser in the given
splits (``cuts``, byte offsets; a feed's ``t_ns`` is the offset where it ends) and its events to a
:class:`~loadgen.openai.stream.StreamState`, which fills a fresh record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from collectors.records import RequestRecord
from loadgen.openai.sse import SseParser
from loadgen.openai.stream import StreamState
from tests.support.models import APIS

DATA = Path(__file__).resolve().parents[1] / "testdata" / "sse"
EXPECTED: dict[str, dict[str, Any]] = json.loads((DATA / "expected.json").read_text())


def feed(body: bytes, cuts: list[int], api: str, eof: str, parser: SseParser, t_end: int) -> RequestRecord:
    """The record of ``body`` fed in ``cuts``; ``eof`` ``"clean"`` closes the parser at ``t_end``,
    anything else ends the body as a broken connection."""
    rec = RequestRecord(idx=0, phase="p", traffic_class="c", worker="w", scheduled_ns=0)
    state = StreamState(rec, APIS[api])  # KeyError: a transcript names an API that does not exist
    start = 0
    for end in [*cuts, len(body)]:
        for ev in parser.feed(body[start:end], end):
            state.on_event(ev)
        start = end
    if eof == "clean":
        for ev in parser.close(t_end):
            state.on_event(ev)
    state.finish(t_end, eof_clean=eof == "clean")
    return rec


__all__ = ["DATA", "EXPECTED", "feed"]
