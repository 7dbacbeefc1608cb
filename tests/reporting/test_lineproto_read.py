"""collectors.lineproto_read reads back what collectors.lineproto writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.lineproto import encode
from collectors.lineproto_read import LineProtocolError, iter_file, parse_line
from collectors.point import Point

# the encoder's golden-test names, less what the format cannot tell apart: a trailing backslash in a
# key reads as an escape of what follows (so only tag values are tried with one, below), and a
# literal backslash-n reads as a newline
TRICKY = [
    "plain", "with space", "com,ma", "eq=uals", 'quo"te', "back\\slash", "ünïcödé ✓",
    "tab\tnew\nline\rcr", "a=b,c d", "=", ",", " x", "per%cent%r", "x.0", "y.0,",
]


@pytest.mark.parametrize("name", TRICKY)
def test_round_trip_of_the_encoders_output(name: str) -> None:
    p = Point("m" + name, {name: name, "z": "v"}, {name: 1.5, "f": 2.0}, 1_700_000_000_123_456_789)
    back = parse_line(encode(p))
    assert back is not None
    assert (back.measurement, back.tags, back.fields, back.time_ns) == (p.measurement, p.tags, p.fields, p.time_ns)


def test_trailing_backslash_in_a_tag_value() -> None:
    p = Point("m", {"a": "trailing\\", "b": "x"}, {"v": 1.0}, 3)
    back = parse_line(encode(p))
    assert back is not None and back.tags == p.tags


@pytest.mark.parametrize("value", [0.0, -0.0, 1.0, 1e20, 1.5e-9, 123456789.123456789, -3.25, 2.0**60, 1 / 3, 1e308])
def test_floats_round_trip_exactly(value: float) -> None:
    back = parse_line(encode(Point("m", {"t": "x"}, {"v": value}, 1)))
    assert back is not None and back.fields["v"] == value


def test_other_field_types_and_optional_time() -> None:
    p = parse_line('cpu,host=a n=12i,u=3u,b=true,c=F,s="say \\"hi\\", x=1 y" ')
    assert p is not None and p.time_ns is None
    assert p.fields == {"n": 12.0, "u": 3.0, "b": 1.0, "c": 0.0, "s": 'say "hi", x=1 y'}
    assert parse_line("\n") is None and parse_line("# comment") is None


@pytest.mark.parametrize("bad", ["m", "m,t x=1 5", "m x= 5", "m x=abc 5", "m x=1 notatime", 'm s="open 5'])
def test_malformed_lines_raise(bad: str) -> None:
    with pytest.raises(LineProtocolError):
        parse_line(bad)


def test_iter_file_filters_by_measurement_and_collects_errors(tmp_path: Path) -> None:
    f = tmp_path / "a.lp"
    f.write_text("keep,t=1 v=1 10\nskip,t=1 v=2 11\nkeep v=oops 12\nkeep_not v=3 13\nkeep v=4 14\n")
    errors: list[str] = []
    got = [(p.measurement, p.fields["v"], p.time_ns) for p in iter_file(f, {"keep"}, errors)]
    assert got == [("keep", 1.0, 10), ("keep", 4.0, 14)]
    assert len(errors) == 1 and errors[0].startswith(f"{f}:3:")
    with pytest.raises(LineProtocolError, match=r"a\.lp:3:"):
        list(iter_file(f))
