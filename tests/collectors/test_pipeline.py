"""RequestTelemetry end to end with the file and Prometheus sinks and fake InfluxDB transports."""

from __future__ import annotations

import threading
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from collectors import schema
from collectors.counters import Counters
from collectors.histograms import HistogramSet
from collectors.pipeline import RequestTelemetry
from collectors.records import ErrorClass
from collectors.sinks.config import InfluxSinkConfig, PrometheusSinkConfig, SinksConfig
from collectors.sinks.influx import InfluxSink
from collectors.sinks.prometheus import PrometheusSink
from collectors.sinks.transport import read_token
from loadgen.recorder import Recorder, merge_delta
from tests.collectors.fakes import WALL0_NS, FakeTransport, make_record
from userinput.errors import InputError


def lines_by_measurement(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        out.setdefault(line.split(",", 1)[0], []).append(line)
    return out


def fields(line: str) -> dict[str, float]:
    """Fields of a line we wrote (our tag values have no spaces)."""
    return {k: float(v) for k, v in (kv.split("=") for kv in line.split(" ")[1].split(","))}


def test_standalone_writes_raw_aggregates_health_and_accounting(tmp_path: Path) -> None:
    out = tmp_path / "points.lp"
    cfg = SinksConfig.model_validate({"file": {"path": str(out)}, "aggregate_interval_s": 1.0})
    tel = RequestTelemetry(cfg, run_id="r", scenario="s", worker="w0", role="standalone", clock=lambda: 1e9)
    recorder = Recorder()
    for i in range(100):
        rec = make_record(i, error=ErrorClass.HTTP_5XX if i % 10 == 0 else None)
        tel.on_record(rec)
        recorder.record(rec)
    tel.on_interval(recorder.histograms, recorder.counters, now_s=WALL0_NS / 1e9 + 1)
    # drops at max_inflight: the target fell behind, not the generator -> the interval stays valid
    assert tel.on_health(inflight=4, dropped_arrivals=2, workers_connected=1, cpu_percent=10) is False
    assert tel.on_health(inflight=4, workers_connected=1, cpu_percent=99) is True
    summary = tel.close(timeout_s=10)
    by = lines_by_measurement(out)
    assert len(by[schema.REQUEST.name]) == 100
    thr = by[schema.THROUGHPUT.name]
    assert len(thr) == 1 and fields(thr[0])["requests"] == 100 and fields(thr[0])["ok_requests"] == 90
    assert len(by[schema.ERRORS.name]) == 1 and fields(by[schema.ERRORS.name][0])["count"] == 10
    assert any("metric=ttft" in x for x in by[schema.LATENCY.name])
    health = [fields(x) for x in by[schema.HEALTH.name]]
    assert [h["invalid"] for h in health] == [0, 1] and health[0]["drops_exceeded"] == 1
    assert len(by[schema.SINK.name]) == 2  # one at the interval, one at close
    assert summary["records"] == 100 and summary["invalid_intervals"] == 1
    assert summary["sinks"]["file"]["written"] == summary["sinks"]["file"]["generated"]  # type: ignore[index]


def test_worker_and_master_roles_split_the_work(tmp_path: Path) -> None:
    cfg = SinksConfig.model_validate({"file": {"path": str(tmp_path / "p.lp")}})
    workers = [RequestTelemetry(cfg, run_id="r", scenario="s", worker=f"w{k}", role="worker") for k in range(2)]
    master = RequestTelemetry(cfg, run_id="r", scenario="s", worker="master", role="master")
    merged, counters = HistogramSet(), Counters()
    for k, w in enumerate(workers):
        recorder = Recorder()
        for i in range(k, 50, 2):
            rec = make_record(i, worker=f"w{k}")
            w.on_record(rec)
            recorder.record(rec)
        merge_delta(merged, counters, recorder.take())
    master.on_interval(merged, counters, now_s=WALL0_NS / 1e9)
    for t in (*workers, master):
        t.close(5)
    w0 = lines_by_measurement(tmp_path / "p-w0.lp")
    w1 = lines_by_measurement(tmp_path / "p-w1.lp")
    m = lines_by_measurement(tmp_path / "p.lp")
    assert len(w0[schema.REQUEST.name]) == 25 == len(w1[schema.REQUEST.name])
    assert schema.THROUGHPUT.name not in w0 and schema.REQUEST.name not in m
    assert fields(m[schema.THROUGHPUT.name][0])["requests"] == 50


def test_on_record_never_raises_and_logs_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = SinksConfig.model_validate({"file": {"path": str(tmp_path / "p.lp")}})
    tel = RequestTelemetry(cfg, run_id="r", scenario="s", worker="w0", role="worker")
    for _ in range(3):
        tel.on_record(object())  # type: ignore[arg-type]
    tel.on_interval(None, None)  # type: ignore[arg-type]
    summary = tel.close(5)
    assert summary["record_errors"] == 3
    assert sum("could not be processed" in r.message for r in caplog.records) == 1


def test_on_record_does_not_wait_for_a_hung_influxdb(tmp_path: Path) -> None:
    release = threading.Event()
    t = FakeTransport()
    t.mode = lambda lines: release.wait()  # type: ignore[assignment]
    cfg = InfluxSinkConfig(url="http://127.0.0.1:1", bucket="b", batch_size=10, flush_interval_s=0.01)
    sink = InfluxSink(cfg, transport=t, spool_dir=tmp_path / "spool")
    tel = RequestTelemetry(SinksConfig(), run_id="r", scenario="s", worker="w0", role="worker", sinks=[sink])
    done = threading.Event()

    def feed() -> None:
        for i in range(5000):
            tel.on_record(make_record(i))
        done.set()

    threading.Thread(target=feed, daemon=True).start()
    finished = done.wait(30)
    release.set()
    assert finished, "the request path went on while the only write in flight hung"
    st = tel.close(10)["sinks"]["influxdb"]  # type: ignore[index]
    assert st["generated"] == st["written"] + st["pending_memory"] + st["pending_spool"] + st["dropped"]


def test_stop_requested_comes_from_the_influx_sink(tmp_path: Path) -> None:
    t = FakeTransport()
    cfg = InfluxSinkConfig(url="http://127.0.0.1:1", bucket="b")
    sink = InfluxSink(cfg, transport=t, spool_dir=tmp_path)
    tel = RequestTelemetry(SinksConfig(), run_id="r", scenario="s", worker="w0", role="worker", sinks=[sink])
    assert tel.stop_requested is False
    sink.stop_requested.set()
    assert tel.stop_requested is True
    tel.close(2)


@pytest.mark.integration
def test_prometheus_sink_serves_live_run_metrics() -> None:
    prom = PrometheusSink(PrometheusSinkConfig(port=0))
    cfg = SinksConfig()
    tel = RequestTelemetry(cfg, run_id="r", scenario="s", worker="master", role="standalone", sinks=[prom])
    recorder = Recorder()
    for i in range(40):
        rec = make_record(i, error=ErrorClass.TIMEOUT if i < 4 else None)
        tel.on_record(rec)
        recorder.record(rec)
    tel.on_interval(recorder.histograms, recorder.counters, now_s=1.0)
    tel.on_health(inflight=7, dropped_arrivals=1, workers_connected=2, cpu_percent=95)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{prom.port}/metrics", timeout=5) as r:
            text = r.read().decode()
    finally:
        tel.close(2)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}
    ok = ("inferload_requests_total", (("class", "chat"), ("phase", "measure"), ("status", "ok")))
    to = ("inferload_requests_total", (("class", "chat"), ("phase", "measure"), ("status", "timeout")))
    assert samples[ok] == 36 and samples[to] == 4
    assert samples[("inferload_inflight", ())] == 7
    assert samples[("inferload_dropped_arrivals_total", ())] == 1
    assert samples[("inferload_generator_invalid", ())] == 1
    q = ("inferload_latency_seconds", (("class", "chat"), ("metric", "ttft"), ("phase", "measure"),
                                       ("quantile", "0.99")))
    assert samples[q] == pytest.approx(0.05, rel=0.01)


def test_token_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_ENV", " secret-1\n")
    assert read_token(InfluxSinkConfig(url="http://influx:8086", bucket="b", token_env="T_ENV")) == "secret-1"
    f = tmp_path / "tok"
    f.write_text("secret-2\n")
    assert read_token(InfluxSinkConfig(url="http://influx:8086", bucket="b", token_file=f)) == "secret-2"
    monkeypatch.delenv("T_ENV")
    with pytest.raises(InputError, match="sinks.influxdb.token_env: environment variable T_ENV is not set"):
        read_token(InfluxSinkConfig(url="http://influx:8086", bucket="b", token_env="T_ENV"))
    with pytest.raises(InputError, match="token_file: cannot read"):
        read_token(InfluxSinkConfig(url="http://influx:8086", bucket="b", token_file=tmp_path / "missing"))


def test_prometheus_series_of_the_planned_phases_exist_before_the_run() -> None:
    """``expect`` creates the labelled series up front (issue 14: creating them in a phase's first
    interval stalled the sending loop); later sets update those same series."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    prom = PrometheusSink(PrometheusSinkConfig(port=0), registry=registry)
    tel = RequestTelemetry(SinksConfig(), run_id="r", scenario="s", worker="local", role="standalone",
                           sinks=[prom])
    try:
        tel.expect(["warmup", "measure"], ["chat"])
        labels = {"metric": "ttft", "phase": "measure", "class": "chat", "quantile": "0.99"}
        assert registry.get_sample_value("inferload_latency_seconds", labels) == 0.0
        assert registry.get_sample_value("inferload_requests_total",
                                         {"phase": "warmup", "class": "chat", "status": "ok"}) == 0.0
        recorder = Recorder()
        for i in range(10):
            recorder.record(make_record(i))
        tel.on_interval(recorder.histograms, recorder.counters, now_s=1.0)
        assert registry.get_sample_value("inferload_latency_seconds", labels) == pytest.approx(0.05, rel=0.01)
    finally:
        tel.close(2)


def test_a_point_is_encoded_once() -> None:
    """The line is kept on the point (``Point.line``), so the sinks a point goes to (file, InfluxDB,
    run folder) share one encoding (issue 14: each sink encoded every point again)."""
    from collectors import lineproto
    from collectors.point import Point

    p = Point("m", {"t": "a b"}, {"f": 1.0}, 5)
    line = lineproto.encode(p)
    assert p.line == line == r"m,t=a\ b f=1 5"
    p.fields["f"] = 2.0  # a written point is not changed; the cached line stays what was written
    assert lineproto.encode(p) is line
