"""The InfluxDB sink's crash bound (issue 7 §1, §4, §6) against fake transports.

Regression: a batch whose write failed was retried from memory and never reached the spool, so
a run SIGKILLed mid-outage lost it (20 of 225 requests); a stalled write (influxd paused) kept
everything in memory until its timeout.  Now what is unsent is on disk within ``spool_after_s``
plus one poll; these tests read the spool files directly, as a process started after a crash
would.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from collectors.sinks.config import InfluxSinkConfig
from collectors.sinks.influx import InfluxSink
from collectors.sinks.influx_buffer import format_size
from collectors.sinks.spool import Spool
from tests.collectors.fakes import FakeTransport, down, points, value_of
from userinput.errors import InputError


def cfg(**kw: object) -> InfluxSinkConfig:
    base: dict[str, object] = {
        "url": "http://127.0.0.1:1", "bucket": "b", "batch_size": 100, "flush_interval_s": 0.2,
        "retry_initial_s": 5, "retry_max_s": 5, "queue_max_points": 10_000, "spool_after_s": 0.3,
    }
    base.update(kw)
    return InfluxSinkConfig.model_validate(base)


def on_disk(directory: Path) -> list[int]:
    """The values in the spool files, as a process started after a crash would read them."""
    out: list[int] = []
    for path in sorted(directory.glob("seg-*.lp")):
        out += [value_of(x) for x in path.read_text().splitlines() if x]
    return out


def wait_for(cond: object, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


class Stall:
    """A transport mode that blocks until released, then succeeds (or fails)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.fail = False
        self.entered = threading.Event()

    def __call__(self, lines: list[str]) -> None:
        self.entered.set()
        self.release.wait(30)
        if self.fail:
            down(lines)


def test_failed_batch_reaches_the_disk_at_once_not_after_the_retries(tmp_path: Path) -> None:
    t = FakeTransport()
    t.mode = down
    sink = InfluxSink(cfg(), transport=t, spool_dir=tmp_path)
    try:
        sink.write(points(150))  # one full batch sent (and failed) at once, 50 more in the queue
        assert wait_for(lambda: t.calls >= 1)
        # the retry backoff is 5 s: everything must be on disk long before the first retry
        assert wait_for(lambda: sorted(on_disk(tmp_path)) == list(range(150)), timeout=1.5), on_disk(tmp_path)
        assert t.calls == 1
        st = sink.stats()
        assert st.pending_spool == 150 and st.pending_memory == 0 and st.balanced()
        # new points during the outage follow within a poll (<= flush_interval_s / 4)
        sink.write(points(10, 150))
        assert wait_for(lambda: len(on_disk(tmp_path)) == 160, timeout=1.0)
    finally:
        t.mode = None
        sink.close(0.1)


def test_points_written_during_an_outage_survive_a_crash_and_replay_once(tmp_path: Path) -> None:
    t = FakeTransport()
    t.mode = down
    sink = InfluxSink(cfg(retry_initial_s=0.05, retry_max_s=0.1), transport=t, spool_dir=tmp_path)
    for i in range(20):
        sink.write(points(10, i * 10))
        time.sleep(0.02)
    assert wait_for(lambda: len(on_disk(tmp_path)) == 200, timeout=2.0)
    # "crash": abandon the sink without closing it; a new process opens the same spool
    sink._closing = True  # stop its threads without the close path's spilling
    with sink._cond:
        sink._cond.notify_all()
    for th in sink._threads:
        th.join(5)
    later = FakeTransport()
    replay = InfluxSink(cfg(), transport=later, spool_dir=tmp_path)
    assert replay.flush(5)
    st = replay.close(1)
    assert sorted(later.values()) == list(range(200)) and len(later.values()) == 200
    assert st.balanced() and st.pending == 0


def test_stalled_write_is_copied_to_disk_and_the_copy_discarded_when_it_gets_through(tmp_path: Path) -> None:
    t = FakeTransport()
    stall = Stall()
    t.mode = stall
    sink = InfluxSink(cfg(spool_after_s=0.3), transport=t, spool_dir=tmp_path)
    try:
        sink.write(points(100))
        assert stall.entered.wait(5)
        entered = time.monotonic()
        assert wait_for(lambda: sorted(on_disk(tmp_path)) == list(range(100)), timeout=2.0)
        copied_after = time.monotonic() - entered
        assert copied_after < 0.3 + 0.5, copied_after  # spool_after_s plus a poll and the write
        sink.write(points(20, 100))  # degraded: new points go to the disk too
        assert wait_for(lambda: len(on_disk(tmp_path)) == 120, timeout=1.0)
        st = sink.stats()
        assert st.balanced() and st.pending_spool == 120
        t.mode = None
        stall.release.set()  # the stalled write gets through after all: its copy is discarded
        assert sink.flush(5)
        st = sink.close(1)
        assert sorted(t.values()) == list(range(120)) and len(t.values()) == 120  # nothing sent twice
        assert st.balanced() and st.written == 120 and st.pending == 0
        assert on_disk(tmp_path) == []
    finally:
        stall.release.set()


def test_stalled_write_that_then_fails_is_retried_from_the_spool(tmp_path: Path) -> None:
    t = FakeTransport()
    stall = Stall()
    stall.fail = True
    t.mode = stall
    sink = InfluxSink(cfg(spool_after_s=0.2, retry_initial_s=0.05, retry_max_s=0.1), transport=t,
                      spool_dir=tmp_path)
    sink.write(points(100))
    assert wait_for(lambda: len(on_disk(tmp_path)) == 100, timeout=2.0)
    t.mode = None
    stall.release.set()
    assert sink.flush(5)
    st = sink.close(1)
    assert t.values() == list(range(100))
    assert st.balanced() and st.written == 100 and st.pending == 0 and on_disk(tmp_path) == []


def test_close_keeps_to_its_budget_and_names_the_spool_and_the_replay_command(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 7 §6: with InfluxDB down a run spent ~20 s retrying at close."""
    monkeypatch.setenv("INFERLOAD_T_TOKEN", "CANARY-TOKEN-VALUE")
    t = FakeTransport()
    t.mode = down
    sink = InfluxSink(cfg(close_timeout_s=0.5, retry_initial_s=0.05, retry_max_s=0.1, org="acme",
                          token_env="INFERLOAD_T_TOKEN"), transport=t, spool_dir=tmp_path / "my spool")
    sink.write(points(300))
    caplog.set_level(logging.WARNING, logger="collectors.sinks.influx")
    started = time.monotonic()
    st = sink.close(60)  # the caller's timeout is larger: close_timeout_s wins
    took = time.monotonic() - started
    assert took < 0.5 + 1.0, took
    assert st.pending_spool == 300 and st.balanced()
    text = caplog.text
    assert f"300 points could not be sent to InfluxDB; they are kept in {tmp_path / 'my spool'}" in text
    assert (f"inferload collect replay '{tmp_path / 'my spool'}' --influx-url http://127.0.0.1:1 "
            "--influx-bucket b --influx-org acme --influx-token-env INFERLOAD_T_TOKEN") in text
    assert "CANARY-TOKEN-VALUE" not in text


def test_close_timeout_zero_spools_at_once(tmp_path: Path) -> None:
    t = FakeTransport()
    t.mode = down
    sink = InfluxSink(cfg(close_timeout_s=0), transport=t, spool_dir=tmp_path)
    sink.write(points(10))
    started = time.monotonic()
    st = sink.close()
    assert time.monotonic() - started < 1.0
    assert st.pending_spool == 10 and st.balanced()


def test_spool_over_its_cap_at_exit_is_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 7 §4: the spool ended 57 KB over a 10 KB cap without a word."""
    t = FakeTransport()
    t.mode = down
    caplog.set_level(logging.WARNING, logger="collectors.sinks.influx")
    sink = InfluxSink(cfg(spool_max_mb=0.01, on_spool_full="stop_run", close_timeout_s=0.2),
                      transport=t, spool_dir=tmp_path)
    for i in range(40):
        sink.write(points(50, i * 50))
    assert wait_for(lambda: sink.stop_requested.is_set(), timeout=5)
    st = sink.close()
    assert st.spool_bytes > 10 * 1024 and st.balanced() and st.dropped == 0
    assert "spool full (10 KB in" in caplog.text  # was "0 MB"
    assert "above its spool_max_mb cap of 10 KB" in caplog.text


def test_format_size_never_rounds_a_small_cap_to_zero() -> None:
    assert format_size(0.01 * 1024 * 1024) == "10 KB"
    assert format_size(512 * 1024 * 1024) == "512 MB"
    assert format_size(1536) == "1.5 KB"
    assert format_size(100) == "100 bytes"


def test_spool_dir_that_is_a_file_is_named_as_such(tmp_path: Path) -> None:
    f = tmp_path / "spool"
    f.write_text("x")
    with pytest.raises(InputError, match=r"^sinks.influxdb.spool_dir: .*spool is a file, not a folder$"):
        InfluxSink(cfg(), transport=FakeTransport(), spool_dir=f)


def test_pinned_copy_is_never_dropped_for_room(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000)
    spool.append(["a 1", "b 2"])
    seq = spool.prepend(["c 0"], pinned=True)
    assert spool.drop_oldest() == 2  # the next segment went, not the pinned copy
    assert spool.drop_oldest() == 0
    spool.unpin(seq)
    assert spool.discard(seq) == 1 and spool.lines == 0
