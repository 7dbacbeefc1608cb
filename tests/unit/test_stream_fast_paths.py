"""The per-chunk fast paths give exactly the general paths' results.

Two shortcuts exist for the client's hot loop: ``SseParser._line`` decodes a ``data: `` line
without the general field parsing (``SseParser._field``), and ``stream._loads`` calls the JSON
decoder's scanner directly instead of ``json.loads``.  Here every transcript in
tests/testdata/sse/ is interpreted with both on and with both forced off, fed whole, byte by byte
and in random splits: the records must be equal field by field.
"""

from __future__ import annotations

import dataclasses
import json
import random
from typing import Any

import pytest

import loadgen.openai.stream as stream_mod
from loadgen.openai.sse import SseEvent, SseParser
from tests.support.transcripts import DATA, EXPECTED, feed

TRANSCRIPTS = sorted(p.name for p in DATA.glob("*.sse"))


class GeneralParser(SseParser):
    """The parser without its ``data: `` shortcut: every line takes the general rules."""

    __slots__ = ()

    def _line(self, raw: bytes, t_ns: int, out: list[SseEvent]) -> None:
        if raw and raw[0] != 0x3A:
            self._field(raw)
        else:
            super()._line(raw, t_ns, out)


def _no_scan(data: str, idx: int) -> Any:
    raise StopIteration(idx)


def _interpret(body: bytes, cuts: list[int], api: str, eof: str, parser: SseParser) -> dict[str, Any]:
    rec = feed(body, cuts, api, eof, parser, len(body) + 1)
    out = dataclasses.asdict(rec)
    out["parser"] = (parser.last_event_id, parser.retry_ms, parser.discarded_partial)
    return out


def _splits(n: int) -> list[list[int]]:
    rng = random.Random(n)
    return [[], list(range(1, n)), *(sorted(rng.sample(range(1, n), min(n - 1, 12))) for _ in range(5))]


def test_every_transcript_is_covered() -> None:
    assert len(TRANSCRIPTS) >= 10 and set(TRANSCRIPTS) == set(EXPECTED)


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_fast_paths_match_general_paths_on_transcript(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    body = (DATA / name).read_bytes()
    exp = EXPECTED[name]
    for cuts in _splits(len(body)):
        fast = _interpret(body, cuts, exp["api"], exp["eof"], SseParser())
        with monkeypatch.context() as m:
            m.setattr(stream_mod, "_scan_once", _no_scan)
            general = _interpret(body, cuts, exp["api"], exp["eof"], GeneralParser())
        assert fast == general, f"{name} cuts={cuts[:20]}"


JSON_CASES = ['{"a": 1}', ' {"a": 1}', '{"a": 1} ', '{"a": 1}\n', '\ufeff{"a": 1}', '{"a": 1}x', '{"a": 1}{}',
              "NaN", "[1, 2]", '"s"', "12", "1e400", "", " ", "{", '{"a": }', '{"a": "\\ud800"}',
              '{"a": 1, "a": 2}', '{"choices": [{"delta": {"content": "é"}}]}']


@pytest.mark.parametrize("data", JSON_CASES)
def test_loads_fast_path_equals_json_loads(data: str) -> None:
    try:
        want: Any = json.loads(data)
    except ValueError:
        want = stream_mod._NOT_JSON
    got = stream_mod._loads(data)
    if isinstance(want, float) and want != want:  # NaN
        assert isinstance(got, float) and got != got
    else:
        assert got == want and type(got) is type(want)


LINES = [b"data: x", b"data:x", b"data:  x", b"data: ", b"data:", b"data", b"data: \xff\xfe ok", b"data: a:b",
         b"data: \xe2\x82", b"data: \x00", b"data : x", b"Data: x"]


@pytest.mark.parametrize("raw", LINES)
def test_data_line_fast_path_equals_general_rules(raw: bytes) -> None:
    fast, general = SseParser(), GeneralParser()
    fast_out = fast.feed(raw + b"\n\n", 5)
    general_out = general.feed(raw + b"\n\n", 5)
    assert fast_out == general_out
