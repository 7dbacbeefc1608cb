"""The schema is the single source of names: everything the request side writes is declared,
fields are floats, tags are bounded, and docs/schema.md is regenerated from it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from collectors import schema, schema_doc
from collectors.aggregates import AggregateBuilder
from collectors.health import HealthLimits, HealthSample, health_point
from collectors.histograms import HistogramSet, record_request
from collectors.point import Point
from collectors.records import ErrorClass
from collectors.request import RequestCollector
from collectors.sinks.base import SinkStats
from loadgen.config.slo import SloObjective
from loadgen.goodput import goodput_rule
from loadgen.recorder import Recorder
from tests.collectors.fakes import make_record

BOUNDED = {"run_id", "scenario", "phase", "class", "worker", "endpoint", "model", "gpu", "host",
           "role", "status_class", "error", "metric", "window", "sink"}


def request_side_points() -> list[Point]:
    rc = RequestCollector(run_id="r", scenario="s", worker="w0", endpoint="e", model="m")
    recs = [make_record(i, error=ErrorClass.TIMEOUT if i == 3 else None,
                        server_timing={"server_queue_s": 0.01, "server_e2e_s": 0.05}) for i in range(10)]
    pts = [p for r in recs if (p := rc.point(r)) is not None]
    rec = Recorder(goodput_rule([SloObjective(metric="ttft", percentile=99, max_ms=1000)]))
    for r in recs:
        rec.record(r)
    pts += AggregateBuilder(run_id="r", scenario="s", endpoint="e", model="m").points(
        rec.histograms, rec.counters, interval_s=5, now_ns=1)
    pts.append(health_point(HealthSample(interval_s=5, cpu_percent=95), HealthLimits(),
                            tags={"run_id": "r", "scenario": "s", "worker": "master", "role": "master"}, now_ns=1))
    pts.append(Point(schema.SINK.name, {"run_id": "r", "scenario": "s", "worker": "w0", "role": "worker",
                                        "sink": "influxdb"}, SinkStats("influxdb").as_fields(), 1))
    return pts


def test_every_point_the_request_side_writes_is_declared() -> None:
    pts = request_side_points()
    seen = {p.measurement for p in pts}
    assert seen == {m.name for m in schema.REQUEST_MEASUREMENTS}
    for p in pts:
        m = schema.measurement(p.measurement)
        assert set(p.tags) <= set(m.tag_names()), (p.measurement, set(p.tags) - set(m.tag_names()))
        assert set(p.fields) <= set(m.field_names()), (p.measurement, set(p.fields) - set(m.field_names()))
        assert all(type(v) is float for v in p.fields.values()), p
        assert all(isinstance(v, str) and v for v in p.tags.values())
    request = next(p for p in pts if p.measurement == schema.REQUEST.name)
    assert "request_id" not in request.tags and "idx" in request.fields


def test_names_are_unique_and_tags_bounded() -> None:
    names = [m.name for m in schema.MEASUREMENTS]
    assert len(names) == len(set(names))
    declared = {t.name for t in schema.TAGS}
    for m in schema.MEASUREMENTS:
        fields = m.field_names()
        assert len(fields) == len(set(fields)), m.name
        assert set(m.tag_names()) <= declared, m.name
        assert not set(fields) & set(m.tag_names()), m.name
        assert all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in m.tag_names())
    for m in schema.REQUEST_MEASUREMENTS:
        assert set(m.tag_names()) <= BOUNDED, m.name
        assert not {"request_id", "url", "token", "api_key"} & set(m.tag_names())
    assert len(schema.TAGS) == len({t.name for t in schema.TAGS})


def test_every_drop_reason_has_a_field() -> None:
    fields = set(schema.SINK.field_names())
    for reason in schema.DROP_REASONS:
        assert f"dropped_{reason}" in fields
    st = SinkStats("x", generated=6, dropped_by_reason={r: 1 for r in schema.DROP_REASONS})
    f = st.as_fields()
    assert f["dropped"] == len(schema.DROP_REASONS) and st.balanced()


def test_latency_metrics_match_the_histogram_keys() -> None:
    hs = HistogramSet()
    record_request(hs, make_record(1))
    assert {k[0] for k in hs.keys()} <= set(schema.LATENCY_METRICS)  # noqa: SIM118


def test_docs_schema_md_is_up_to_date() -> None:
    path = Path(__file__).resolve().parents[2] / "docs" / "schema.md"
    assert path.read_text(encoding="utf-8") == schema_doc.render()
    assert schema_doc.main(["--check", "--path", str(path)]) == 0


def test_check_fails_with_a_diff_on_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "schema.md"
    stale.write_text(schema_doc.render().replace("llm_request", "llm_requests"), encoding="utf-8")
    assert schema_doc.main(["--check", "--path", str(stale)]) == 1
    out = capsys.readouterr().out
    assert "-### `llm_requests`" in out and "+### `llm_request`" in out
    assert schema_doc.main(["--path", str(stale)]) == 0
    assert schema_doc.main(["--check", "--path", str(stale)]) == 0


def test_schema_md_does_not_depend_on_the_hash_seed() -> None:
    """CI regenerates docs/schema.md in a fresh process: its text must not follow set or dict
    iteration orders that change with ``PYTHONHASHSEED``."""
    code = "import sys; from collectors import schema_doc; sys.stdout.write(schema_doc.render())"
    root = Path(__file__).resolve().parents[2]
    outs = {subprocess.run([sys.executable, "-c", code], cwd=root, env={**os.environ, "PYTHONHASHSEED": seed},
                           capture_output=True, text=True, check=True, timeout=60).stdout for seed in ("1", "2", "3")}
    assert len(outs) == 1
