"""InfluxSink against fake transports: ordering, retries, spool, replay, accounting."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from collectors.sinks.config import InfluxSinkConfig
from collectors.sinks.influx import InfluxSink, replay_spool
from collectors.sinks.spool import Spool
from collectors.sinks.transport import PermanentWriteError, TransientWriteError
from tests.collectors.fakes import FakeTransport, down, http_400, points, too_large_over, value_of


def cfg(**kw: object) -> InfluxSinkConfig:
    base: dict[str, object] = {
        "url": "http://127.0.0.1:1", "bucket": "b", "batch_size": 100, "flush_interval_s": 0.05,
        "retry_initial_s": 0.01, "retry_max_s": 0.05, "queue_max_points": 10_000,
    }
    base.update(kw)
    return InfluxSinkConfig.model_validate(base)


def wait_for(cond: object, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_all_points_written_in_order(tmp_path: Path) -> None:
    t = FakeTransport()
    sink = InfluxSink(cfg(), transport=t, spool_dir=tmp_path)
    for i in range(0, 1000, 10):
        sink.write(points(10, i))
    assert sink.flush(10)
    st = sink.close(5)
    assert t.values() == list(range(1000))
    assert st.generated == st.written == 1000 and st.dropped == 0 and st.balanced()


def test_outage_spills_to_spool_then_replays_in_order(tmp_path: Path) -> None:
    t = FakeTransport()
    t.mode = down
    sink = InfluxSink(cfg(), transport=t, spool_dir=tmp_path)
    sink.write(points(500))
    assert wait_for(lambda: sink.stats().pending_spool > 0)
    sink.write(points(500, 500))
    assert wait_for(lambda: sink.stats().pending_spool >= 900)
    st = sink.stats()
    assert st.balanced() and st.retries > 0 and st.spool_bytes > 0 and st.written == 0
    t.mode = None
    assert sink.flush(10)
    st = sink.close(5)
    assert sorted(t.values()) == list(range(1000))
    assert t.values() == list(range(1000)), "replay kept the order"
    assert st.written == st.generated == 1000 and st.pending == 0 and st.balanced()
    assert list(tmp_path.glob("seg-*.lp")) == []


def test_permanent_4xx_is_dropped_and_counted_not_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    t = FakeTransport()
    t.mode = http_400
    sink = InfluxSink(cfg(batch_size=50), transport=t, spool_dir=tmp_path)
    sink.write(points(200))
    assert sink.flush(10) is True
    st = sink.close(5)
    assert st.dropped_by_reason == {"rejected": 200} and st.written == 0 and st.balanced()
    assert t.calls == 4, "one call per batch of 50: never retried"
    assert sum("rejected a batch" in r.message for r in caplog.records) == 1


def test_partial_write_counts_only_the_servers_dropped(tmp_path: Path) -> None:
    def partial(lines: list[str]) -> None:
        raise PermanentWriteError('HTTP 400: {"error":"partial write: field type conflict dropped=3"}', 400, 3)

    t = FakeTransport()
    t.mode = partial
    sink = InfluxSink(cfg(batch_size=10), transport=t, spool_dir=tmp_path)
    sink.write(points(10))
    st = sink.close(5)
    assert st.written == 7 and st.dropped_by_reason == {"rejected": 3} and st.balanced()


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    t = FakeTransport()
    seen: list[float] = []

    def http_429(lines: list[str]) -> None:
        seen.append(time.monotonic())
        if len(seen) == 1:
            raise TransientWriteError("HTTP 429", retry_after_s=0.4)

    t.mode = http_429
    sink = InfluxSink(cfg(), transport=t, spool_dir=tmp_path)
    sink.write(points(10))
    assert sink.flush(10)
    st = sink.close(5)
    assert len(seen) == 2 and seen[1] - seen[0] >= 0.4
    assert st.retries == 1 and st.written == 10


def test_413_splits_the_batch(tmp_path: Path) -> None:
    t = FakeTransport()
    t.mode = too_large_over(30)
    sink = InfluxSink(cfg(batch_size=100), transport=t, spool_dir=tmp_path)
    sink.write(points(100))
    assert sink.flush(10)
    st = sink.close(5)
    assert sorted(t.values()) == list(range(100)) and st.written == 100 and st.balanced()


def test_spool_full_drops_oldest_and_counts_exactly(tmp_path: Path) -> None:
    t = FakeTransport()
    t.mode = down
    c = cfg(spool_max_mb=0.2, batch_size=200)  # ~200 kB; segments of 64 kB
    sink = InfluxSink(c, transport=t, spool_dir=tmp_path)
    for i in range(0, 20_000, 200):
        sink.write(points(200, i))
        time.sleep(0.002)
    st = sink.close(0.2)
    assert st.balanced()
    assert st.dropped_by_reason.get("spool_full", 0) > 0
    assert st.pending_memory == 0 and st.pending_spool > 0
    assert st.spool_bytes <= 0.2 * 1024 * 1024
    spool = Spool(tmp_path, 10**9)
    lines = []
    while batch := spool.peek(10_000):
        lines += batch
        spool.ack(len(batch))
    values = [value_of(x) for x in lines]
    assert len(values) == st.pending_spool
    assert values[-1] == 19_999, "the newest points are kept"
    assert values == sorted(values)
    # the batch in flight when the outage began is kept (prepended at close); after it, a
    # single gap: the oldest spooled points were dropped, the newest are all there
    gaps = [i for i in range(1, len(values)) if values[i] != values[i - 1] + 1]
    assert len(gaps) == 1 and gaps[0] <= 200
    assert values[gaps[0]:] == list(range(20_000 - (len(values) - gaps[0]), 20_000))


def test_stop_run_signals_and_keeps_the_spool(tmp_path: Path) -> None:
    t = FakeTransport()
    t.mode = down
    called = threading.Event()
    c = cfg(spool_max_mb=0.1, on_spool_full="stop_run", queue_max_points=3000, batch_size=200)
    sink = InfluxSink(c, transport=t, spool_dir=tmp_path, on_stop_run=called.set)
    for i in range(0, 20_000, 200):
        sink.write(points(200, i))
        time.sleep(0.002)
    assert wait_for(called.is_set)
    assert sink.stop_requested.is_set()
    st = sink.close(0.2)
    assert st.balanced()
    assert "spool_full" not in st.dropped_by_reason
    assert st.dropped_by_reason.get("queue_full", 0) > 0, "memory stays bounded: new points are refused"


def test_close_spools_the_rest_and_replay_sends_it(tmp_path: Path) -> None:
    t = FakeTransport()
    t.mode = down
    sink = InfluxSink(cfg(), transport=t, spool_dir=tmp_path)
    sink.write(points(1234))
    st = sink.close(0.3)
    assert st.written == 0 and st.pending_spool == 1234 and st.pending_memory == 0 and st.balanced()
    t2 = FakeTransport()
    st2 = replay_spool(tmp_path, cfg(), transport=t2, timeout_s=10)
    assert t2.values() == list(range(1234))
    assert st2.generated == st2.written == 1234 and st2.pending == 0
    assert list(tmp_path.glob("seg-*.lp")) == []


def test_write_after_close_is_counted_and_write_never_raises(tmp_path: Path) -> None:
    t = FakeTransport()
    sink = InfluxSink(cfg(), transport=t, spool_dir=tmp_path)
    sink.close(1)
    sink.write(points(5))
    sink.write(None)  # type: ignore[arg-type]
    st = sink.stats()
    assert st.dropped_by_reason == {"closed": 5} and st.balanced()


def test_accounting_identity_holds_at_every_instant(tmp_path: Path) -> None:
    """Property-style: a flaky, slow endpoint; a writer and a watcher thread; seeded randomness."""
    rng = random.Random(4)
    t = FakeTransport()

    def flaky(lines: list[str]) -> None:
        r = rng.random()
        if r < 0.3:
            raise TransientWriteError("HTTP 503")
        if r < 0.35:
            raise PermanentWriteError("HTTP 400: bad", 400)
        if r < 0.4:
            time.sleep(0.02)

    t.mode = flaky
    sink = InfluxSink(cfg(queue_max_points=2000, spool_max_mb=0.15, batch_size=97), transport=t,
                      spool_dir=tmp_path, rng=random.Random(1))
    unbalanced: list[object] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            st = sink.stats()
            if not st.balanced():
                unbalanced.append(st)

    w = threading.Thread(target=watch)
    w.start()
    for i in range(0, 30_000, 50):
        sink.write(points(50, i))
        if i % 1000 == 0:
            time.sleep(0.005)
    t.mode = None
    sink.flush(20)
    st = sink.close(5)
    stop.set()
    w.join()
    assert unbalanced == []
    assert st.balanced() and st.generated == 30_000 and st.pending == 0
    assert len(t.values()) == st.written



def test_oldest_unsent_age_follows_the_oldest_pending_point(tmp_path: Path) -> None:
    t = FakeTransport()
    t.mode = down
    now = [1_700_000_000.0 + 42.0]  # points() start at 1_700_000_000 s
    sink = InfluxSink(cfg(), transport=t, spool_dir=tmp_path, wall_clock=lambda: now[0])
    assert sink.stats().oldest_unsent_age_s == 0.0
    sink.write(points(300))
    assert wait_for(lambda: sink.stats().pending_spool > 0)
    assert sink.stats().oldest_unsent_age_s == pytest.approx(42.0, abs=1e-3)
    t.mode = None
    assert sink.flush(10)
    assert sink.stats().oldest_unsent_age_s == 0.0
    sink.close(2)


def test_backoff_after_thousands_of_retries_stays_at_the_cap() -> None:
    """Bug: ``2 ** (attempt - 1)`` overflowed the float at attempt 1,025 (an InfluxDB down for
    ~17 min with a 1 s backoff) and killed the sender thread with OverflowError."""
    from collectors.sinks.delivery import Backoff

    backoff = Backoff(1.0, 2.0, random.Random(1))
    delays = [backoff.next_delay() for _ in range(5000)]
    assert backoff.attempt == 5000
    assert all(0.0 <= d <= 2.0 for d in delays)
    assert max(delays[-100:]) > 1.0  # still full jitter up to the cap, not collapsed to 0
