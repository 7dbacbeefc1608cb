"""The file sink and the on-disk spool."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from collectors.sinks.config import FileSinkConfig, InfluxSinkConfig, PrometheusSinkConfig
from collectors.sinks.file import FileSink
from collectors.sinks.influx import InfluxSink
from collectors.sinks.prometheus import PrometheusSink
from collectors.sinks.spool import Spool
from tests.collectors.fakes import points, value_of
from userinput.errors import InputError


def drain(spool: Spool) -> list[int]:
    out: list[int] = []
    while batch := spool.peek(1000):
        out += [value_of(x) for x in batch]
        spool.ack(len(batch))
    return out


def test_file_sink_appends_and_close_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "out.lp"
    sink = FileSink(FileSinkConfig(path=path))
    sink.write(points(1500))
    st = sink.close(5)
    assert st.written == 1500 and st.balanced()
    assert sink.close(5).written == 1500
    sink.write(points(3))
    assert sink.stats().dropped_by_reason == {"closed": 3}
    again = FileSink(FileSinkConfig(path=path))  # appends, never truncates
    again.write(points(10, 1500))
    again.close(5)
    assert [value_of(x) for x in path.read_text().splitlines()] == list(range(1510))


def test_spool_rolls_segments_and_reads_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10**7, segment_bytes=2000)
    for i in range(0, 1000, 100):
        spool.append([f"m v={j} {j}" for j in range(i, i + 100)])
    assert spool.segment_count() > 5 and spool.lines == 1000
    assert drain(spool) == list(range(1000))
    assert spool.nbytes == 0 and list(tmp_path.glob("seg-*")) == []


def test_spool_recovers_after_a_crash_and_cuts_a_partial_line(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10**7, segment_bytes=1000)
    spool.append([f"m v={j} {j}" for j in range(100)])
    spool.close()
    last = sorted(tmp_path.glob("seg-*.lp"))[-1]
    with last.open("ab") as f:
        f.write(b"m v=999 99")  # torn write, no newline
    again = Spool(tmp_path, 10**7)
    assert again.recovered_lines == 100
    assert drain(again) == list(range(100))


def test_prepend_goes_before_everything_and_drop_oldest_counts(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10**7, segment_bytes=500)
    spool.append([f"m v={j} {j}" for j in range(10, 100)])
    spool.prepend([f"m v={j} {j}" for j in range(10)])
    first = spool.drop_oldest()
    assert first == 10
    assert spool.lines == 90
    vals = drain(spool)
    assert vals == list(range(10, 100))


def test_unusable_paths_and_ports_are_input_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="sinks.file.path: cannot write"):
        FileSink(FileSinkConfig(path=blocker / "out.lp"))
    with pytest.raises(InputError, match="sinks.influxdb.spool_dir: cannot use"):
        InfluxSink(InfluxSinkConfig(url="http://127.0.0.1:1", bucket="b"), transport=lambda body: None,
                   spool_dir=blocker / "spool")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        with pytest.raises(InputError, match=f"sinks.prometheus: cannot listen on 127.0.0.1:{port}"):
            PrometheusSink(PrometheusSinkConfig(port=port))
