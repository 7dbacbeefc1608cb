"""RequestTelemetry -> InfluxSink -> v2-write proxy -> a real influxd 1.6, read back with InfluxQL."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from collectors import schema
from collectors.pipeline import RequestTelemetry
from collectors.point import Point
from collectors.records import ErrorClass
from collectors.sinks.config import InfluxSinkConfig, SinksConfig
from collectors.sinks.influx import InfluxSink
from loadgen.recorder import Recorder
from tests.collectors.fakes import WALL0_NS, make_record
from tests.support.influx import InfluxStack

pytestmark = pytest.mark.integration

GAP_S = 0.001


def sinks_config(url: str, db: str, tmp_path: Path, **extra: object) -> SinksConfig:
    influx: dict[str, object] = {
        "url": url, "bucket": db, "org": "inferload", "batch_size": 500, "flush_interval_s": 0.2,
        "retry_initial_s": 0.2, "retry_max_s": 1.0, "timeout_s": 5.0, "spool_dir": str(tmp_path / "spool"),
    }
    top: dict[str, object] = {"aggregate_interval_s": 1.0}
    for k, v in extra.items():
        (top if k in ("file", "raw_sample_ratio") else influx)[k] = v
    return SinksConfig.model_validate({"influxdb": influx, **top})


def record_for(i: int) -> object:
    err = ErrorClass.HTTP_5XX if i % 50 == 7 else (ErrorClass.TIMEOUT if i % 97 == 3 else None)
    return make_record(i, phase="warmup" if i < 200 else "measure", cls=("chat", "batch")[i % 2],
                       error=err, ttft_s=0.02 + (i % 13) * 0.003, gap_s=GAP_S)


class Feeder:
    """Feeds records through the telemetry and writes an aggregate interval every ``every`` records."""

    def __init__(self, tel: RequestTelemetry, every: int = 500) -> None:
        self.tel, self.every, self.recorder, self.n, self.ok = tel, every, Recorder(), 0, 0

    def feed(self, start: int, stop: int, pause_s: float = 0.0) -> None:
        for i in range(start, stop):
            rec = record_for(i)
            self.tel.on_record(rec)  # type: ignore[arg-type]
            self.recorder.record(rec)  # type: ignore[arg-type]
            self.n += 1
            self.ok += int(rec.ok)  # type: ignore[attr-defined]
            if self.n % self.every == 0:
                self.interval(i)
            if pause_s:
                time.sleep(pause_s)

    def interval(self, i: int) -> None:
        self.tel.on_interval(self.recorder.histograms, self.recorder.counters,
                             now_s=(WALL0_NS / 1e9) + i * GAP_S + 0.5)
        self.recorder = Recorder()


def check_counts(influx: InfluxStack, db: str, n: int, ok: int) -> None:
    srv = influx.server
    assert srv.count(db, schema.REQUEST.name, schema.F_IDX.name) == n
    assert srv.sum(db, schema.THROUGHPUT.name, schema.F_REQUESTS.name) == n
    assert srv.sum(db, schema.THROUGHPUT.name, schema.F_OK_REQUESTS.name) == ok
    assert srv.sum(db, schema.ERRORS.name, schema.F_COUNT.name) == n - ok
    e2e = srv.sum(db, schema.LATENCY.name, schema.F_COUNT.name, "\"metric\" = 'e2e' AND \"window\" = 'interval'")
    assert e2e == ok
    distinct = srv.series(f'SELECT count(distinct("idx")) FROM "{schema.REQUEST.name}"', db)
    assert int(distinct[0]["values"][0][1]) == n


def test_n_records_leave_exactly_n_raw_points(influx: InfluxStack, influx_db: str, tmp_path: Path) -> None:
    tel = RequestTelemetry(sinks_config(influx.write_url, influx_db, tmp_path), run_id="run1",
                           scenario="smoke", worker="w0", role="standalone")
    feeder = Feeder(tel)
    feeder.feed(0, 3000)
    summary = tel.close(timeout_s=30)
    st = summary["sinks"]["influxdb"]  # type: ignore[index]
    assert st["written"] == st["generated"] and st["dropped"] == 0 and st["pending_spool"] == 0
    check_counts(influx, influx_db, 3000, feeder.ok)
    # percentiles are stored and readable (p99 of TTFT within the synthetic range)
    p99 = influx.server.series(f'SELECT max("p99_s") FROM "{schema.LATENCY.name}" WHERE "metric" = \'ttft\'',
                               influx_db)
    assert 0.02 <= p99[0]["values"][0][1] <= 0.06


@pytest.mark.slow
def test_influxd_killed_for_20s_mid_stream_still_exactly_n(
    influx: InfluxStack, influx_db: str, tmp_path: Path
) -> None:
    tel = RequestTelemetry(sinks_config(influx.write_url, influx_db, tmp_path), run_id="run2",
                           scenario="outage", worker="w0", role="standalone")
    feeder = Feeder(tel)
    feeder.feed(0, 1000)
    influx.server.kill()
    try:
        feeder.feed(1000, 2000, pause_s=0.02)  # ~20 s with influxd down
        mid = tel.stats()["influxdb"]
        assert mid.balanced() and mid.pending_spool > 0 and mid.retries > 0
    finally:
        influx.server.start()
    feeder.feed(2000, 3000)
    summary = tel.close(timeout_s=60)
    st = summary["sinks"]["influxdb"]  # type: ignore[index]
    assert st["written"] == st["generated"], st
    assert st["dropped"] == 0 and st["pending_spool"] == 0 and st["pending_memory"] == 0
    check_counts(influx, influx_db, 3000, feeder.ok)


def test_canary_token_appears_nowhere(
    influx: InfluxStack, influx_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:
    canary = f"sk-CANARY-{uuid.uuid4()}"
    monkeypatch.setenv("INFERLOAD_TEST_INFLUX_TOKEN", canary)
    caplog.set_level(logging.DEBUG)
    out_file = tmp_path / "out" / "points.lp"
    cfg = sinks_config(influx.write_url, influx_db, tmp_path, token_env="INFERLOAD_TEST_INFLUX_TOKEN",
                       file={"path": str(out_file)})
    tel = RequestTelemetry(cfg, run_id="run3", scenario="canary", worker="w0", role="standalone")
    feeder = Feeder(tel, every=100)
    feeder.feed(0, 300)
    tel.on_health(inflight=3, dropped_arrivals=0, workers_connected=1, cpu_percent=12.0)
    summary = tel.close(timeout_s=30)
    assert f"Token {canary}" in influx.proxy.authorizations, "the canary was really used as the token"

    haystacks = [caplog.text, json.dumps(summary), out_file.read_text(), *capsys.readouterr()]
    for m in influx.server.series("SHOW MEASUREMENTS", influx_db)[0]["values"]:
        name = m[0]
        haystacks.append(json.dumps(influx.server.query(f'SELECT * FROM "{name}"', influx_db)))
        haystacks.append(json.dumps(influx.server.query(f'SHOW TAG VALUES FROM "{name}" WITH KEY =~ /.*/',
                                                        influx_db)))
        haystacks.append(json.dumps(influx.server.query(f'SHOW FIELD KEYS FROM "{name}"', influx_db)))
    haystacks += [p.read_text() for p in (tmp_path / "spool").rglob("*") if p.is_file()]
    assert len(haystacks) > 10
    for text in haystacks:
        assert canary not in text
        assert canary[-12:] not in text


def test_400_field_type_conflict_is_dropped_and_counted_not_retried(
    influx: InfluxStack, influx_db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # make "v" an integer field in "conflict" first (same shard: type conflicts are per shard)
    req = urllib.request.Request(f"{influx.server.url}/write?db={influx_db}&precision=n",
                                 data=f"conflict,run_id=r v=1i {WALL0_NS - 1}\n".encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 204
    cfg = InfluxSinkConfig(url=influx.write_url, bucket=influx_db, org="o", batch_size=100,
                           flush_interval_s=0.1, retry_initial_s=0.1, retry_max_s=0.5)
    sink = InfluxSink(cfg, spool_dir=tmp_path / "spool")
    before = influx.proxy.requests
    good = [Point("ok_m", {"run_id": "r"}, {"v": float(i)}, WALL0_NS + i) for i in range(50)]
    bad = [Point("conflict", {"run_id": "r"}, {"v": i + 0.5}, WALL0_NS + i) for i in range(50)]
    sink.write(good + bad)  # one batch of 100: InfluxDB writes the 50 good ones, drops 50
    assert sink.flush(20)
    time.sleep(0.5)
    st = sink.close(5)
    assert influx.proxy.requests - before == 1, "a 400 is never retried"
    assert st.dropped_by_reason == {"rejected": 50} and st.written == 50 and st.balanced()
    assert influx.server.count(influx_db, "ok_m", "v") == 50
    assert influx.server.count(influx_db, "conflict", "v") == 1
    assert sum("field type conflict" in r.message for r in caplog.records) == 1


def test_spool_left_by_a_closed_sink_is_replayed_later(
    influx: InfluxStack, influx_db: str, tmp_path: Path
) -> None:
    from collectors.sinks.influx import replay_spool

    spool = tmp_path / "spool"
    dead = InfluxSinkConfig(url="http://127.0.0.1:9", bucket=influx_db, timeout_s=0.5, flush_interval_s=0.1,
                            retry_initial_s=0.05, retry_max_s=0.1)
    sink = InfluxSink(dead, spool_dir=spool)
    sink.write([Point("later", {"run_id": "r"}, {"v": float(i)}, WALL0_NS + i) for i in range(777)])
    st = sink.close(0.5)
    assert st.pending_spool == 777 and st.written == 0
    live = dead.model_copy(update={"url": influx.write_url})
    done = replay_spool(spool, live, timeout_s=30)
    assert done.written == 777 and done.pending == 0
    assert influx.server.count(influx_db, "later", "v") == 777


def test_concurrent_writers_through_one_sink(influx: InfluxStack, influx_db: str, tmp_path: Path) -> None:
    cfg = InfluxSinkConfig(url=influx.write_url, bucket=influx_db, batch_size=1000, flush_interval_s=0.1)
    sink = InfluxSink(cfg, spool_dir=tmp_path / "spool")

    def writer(k: int) -> None:
        for i in range(2000):
            sink.write([Point("conc", {"worker": f"w{k}"}, {"v": float(i)}, WALL0_NS + i)])

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sink.flush(30)
    st = sink.close(5)
    assert st.written == 8000 and st.balanced()
    assert influx.server.count(influx_db, "conc", "v") == 8000
