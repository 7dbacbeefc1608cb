"""collectors.lineproto is byte-for-byte influxdb-client's Point.to_line_protocol()."""

from __future__ import annotations

import math

import pytest
from influxdb_client import Point as LibPoint
from influxdb_client.domain.write_precision import WritePrecision

from collectors.lineproto import encode, encode_many
from collectors.point import Point

TRICKY = [
    "plain", "with space", "com,ma", "eq=uals", 'quo"te', "back\\slash", "trailing\\", "ünïcödé ✓",
    "tab\tnew\nline\rcr", "#hash", "a=b,c d", "=", ",", " ", "per%cent%r", "x.0", "y.0,",
]


def library(p: Point) -> str:
    lp = LibPoint(p.measurement)
    for k, tv in p.tags.items():
        lp.tag(k, tv)
    for k, fv in p.fields.items():
        lp.field(k, fv)
    lp.time(p.time_ns, WritePrecision.NS)
    return str(lp.to_line_protocol())


@pytest.mark.parametrize("name", TRICKY)
def test_tricky_names_match_the_library(name: str) -> None:
    measurement = "m" + name if name.startswith("#") else name  # a leading '#' would be a comment line
    p = Point(measurement, {name: name, "z": "v"}, {name: 1.5, "f": 2.0}, 1_700_000_000_123_456_789)
    assert encode(p) == library(p)


@pytest.mark.parametrize("value", [0.0, -0.0, 1.0, 1e20, 1.5e-9, 123456789.123456789, -3.25, 2.0**60, 1 / 3])
def test_float_formatting_matches_the_library(value: float) -> None:
    p = Point("m", {"t": "x"}, {"v": value}, 1)
    assert encode(p) == library(p)


def test_non_finite_fields_are_dropped_and_empty_points_encode_to_nothing() -> None:
    p = Point("m", {"t": "x"}, {"a": math.nan, "b": math.inf, "c": -math.inf, "d": 1.0}, 5)
    assert encode(p) == library(p) == "m,t=x d=1 5"
    empty = Point("m", {"t": "x"}, {"a": math.nan}, 5)
    assert encode(empty) == ""
    lines, n_empty = encode_many([p, empty, p])
    assert lines == ["m,t=x d=1 5", "m,t=x d=1 5"] and n_empty == 1


def test_huge_finite_values_whose_sum_overflows_are_kept() -> None:
    p = Point("m", {}, {"a": 1e308, "b": 1e308, "c": 0.5}, 1)
    assert encode(p) == library(p) == "m a=1e+308,b=1e+308,c=0.5 1"


def test_empty_tag_values_are_left_out_and_tags_sorted() -> None:
    p = Point("m", {"b": "2", "a": "1", "empty": ""}, {"y": 1.0, "x": 2.0}, 7)
    assert encode(p) == library(p) == "m,a=1,b=2 x=2,y=1 7"


def test_cached_prefixes_do_not_leak_between_points() -> None:
    a = Point("m", {"k": "1"}, {"v": 1.0}, 1)
    b = Point("m", {"k": "2"}, {"v": 1.0}, 1)
    c = Point("m", {"k": "1"}, {"w": 1.0, "v": 2.0}, 1)
    assert [encode(a), encode(b), encode(c)] == ["m,k=1 v=1 1", "m,k=2 v=1 1", "m,k=1 v=2,w=1 1"]
