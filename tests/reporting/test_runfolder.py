"""Reading a run folder back with bounded memory (loadgen/reporting/runfolder.py)."""

from __future__ import annotations

import numpy as np

from collectors import schema
from collectors.lineproto import encode
from collectors.lineproto_read import parse_line
from collectors.point import Point
from loadgen.reporting.runfolder import Requests


def _point(i: int, phase: str) -> Point:
    return Point(schema.REQUEST.name, {"phase": phase, "class": "a", "error": "ok" if i % 10 else "timeout"},
                 {"e2e_s": float(i), "ok": 1.0 if i % 10 else 0.0}, i)


def test_reservoir_is_bounded_and_uniform() -> None:
    r = Requests(capacity=1000, seed=3)
    for i in range(20_000):
        p = parse_line(encode(_point(i, "a" if i < 10_000 else "b")))
        assert p is not None
        r.add(p)
    assert len(r) == 1000 and r.seen == 20_000 and r.sampled_out == 19_000
    kept = r.column("e2e_s", ok_only=False)
    assert kept.size == 1000 and kept.min() < 2000 and kept.max() > 18_000
    assert 400 < r.column("e2e_s", "a", ok_only=False).size < 600  # half the stream was phase a
    assert abs(float(np.mean(kept)) - 10_000) < 1000
    n, errors = r.outcomes()
    assert n == 1000 and 60 < errors < 140  # one in ten failed
    assert r.phases() == ["a", "b"] and r.column("e2e_s", "nope").size == 0


def test_ok_only_and_missing_fields() -> None:
    r = Requests(capacity=10)
    for i in range(10):
        p = parse_line(encode(_point(i, "a")))
        assert p is not None
        r.add(p)
    assert r.column("e2e_s").tolist() == [float(i) for i in range(1, 10)]  # the failed request (i=0) left out
    assert r.column("ttft_s", ok_only=False).size == 0  # never written: NaN, dropped
