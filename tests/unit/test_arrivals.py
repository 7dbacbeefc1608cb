"""Arrival processes: registry, windows, trace replay, closed loop, expected counts."""

from __future__ import annotations

import typing
from pathlib import Path

import numpy as np
import pytest

from loadgen.arrivals import make_process, registered
from loadgen.config import (
    ArrivalConfig,
    ConcurrencyArrivals,
    ConstantArrivals,
    GammaArrivals,
    OnOffArrivals,
    PoissonArrivals,
    RampArrivals,
    SpikeArrivals,
    TraceArrivals,
)
from userinput.errors import InputError


def _list(cfg: ArrivalConfig, start: float, end: float, seed: int = 0) -> list[float]:
    return list(make_process(cfg).times(start, end, np.random.default_rng(seed)))


def test_every_configurable_process_is_registered() -> None:
    union = typing.get_args(ArrivalConfig)[0]
    names = {typing.get_args(m.model_fields["process"].annotation)[0] for m in typing.get_args(union)}
    assert names == set(registered())


@pytest.mark.parametrize(
    "cfg",
    [
        PoissonArrivals(process="poisson", rate=30),
        GammaArrivals(process="gamma", rate=30, burstiness=0.3),
        ConstantArrivals(process="constant", rate=30),
        OnOffArrivals(process="onoff", rate_on=60, rate_off=5, on_s=0.5, off_s=0.5),
        SpikeArrivals(process="spike", base_rate=10, spike_rate=90, every_s=2, spike_s=0.5),
        RampArrivals(process="ramp", from_rate=0, to_rate=60),
    ],
    ids=lambda c: c.process,
)
def test_times_stay_in_the_window_and_increase(cfg: ArrivalConfig) -> None:
    t = _list(cfg, 100.0, 130.0)
    assert len(t) > 100
    assert all(100.0 <= x < 130.0 for x in t)
    assert t == sorted(t)
    assert _list(cfg, 5.0, 5.0) == []


def test_chunking_does_not_change_the_sequence() -> None:
    # A long window is generated in many numpy chunks; its prefix equals a short window's times.
    cfg = PoissonArrivals(process="poisson", rate=1000)
    long = _list(cfg, 0.0, 200.0, seed=3)
    assert len(long) > 150_000
    short = _list(cfg, 0.0, 0.05, seed=3)
    assert short and long[: len(short)] == short


def test_expected_counts() -> None:
    assert make_process(PoissonArrivals(process="poisson", rate=4)).expected_count(10) == 40
    assert make_process(ConstantArrivals(process="constant", rate=3)).expected_count(10) == 30
    assert make_process(RampArrivals(process="ramp", from_rate=0, to_rate=10)).expected_count(10) == 50
    spike = SpikeArrivals(process="spike", base_rate=1, spike_rate=11, every_s=10, spike_s=2, offset_s=5)
    # 0-5 base, 5-7 spike, 7-15 base, 15-17 spike, 17-20 base
    assert make_process(spike).expected_count(20) == pytest.approx(5 + 22 + 8 + 22 + 3)
    onoff = make_process(OnOffArrivals(process="onoff", rate_on=10, rate_off=10, on_s=1, off_s=3))
    assert onoff.expected_count(7) == pytest.approx(70)  # same rate in both states
    assert make_process(ConcurrencyArrivals(process="concurrency", users=3)).expected_count(10) == 0


def test_constant_starts_at_the_window_start() -> None:
    assert _list(ConstantArrivals(process="constant", rate=2), 10.0, 12.0) == [10.0, 10.5, 11.0, 11.5]


def test_concurrency_is_closed_loop_with_no_arrivals() -> None:
    proc = make_process(ConcurrencyArrivals(process="concurrency", users=8))
    assert proc.closed_loop_users == 8
    assert list(proc.times(0, 100, np.random.default_rng(0))) == []
    assert "closed loop" in proc.describe()
    assert make_process(PoissonArrivals(process="poisson", rate=1)).closed_loop_users is None


def test_describe() -> None:
    assert make_process(GammaArrivals(process="gamma", rate=20, burstiness=0.5)).describe() == (
        "gamma(rate=20/s, burstiness=0.5)"
    )
    assert make_process(PoissonArrivals(process="poisson", rate=2.5)).describe() == "poisson(rate=2.5/s)"


def _trace(tmp_path: Path, text: str, scale: float = 1.0) -> TraceArrivals:
    f = tmp_path / "trace.txt"
    f.write_text(text)
    return TraceArrivals(process="trace", file=f, time_scale=scale)


def test_trace_replays_relative_scaled_sorted_and_clipped(tmp_path: Path) -> None:
    cfg = _trace(tmp_path, "# comment\n1000.5\n\n1001.0\n{\"timestamp\": 1000.0}\n1004\n", scale=2.0)
    assert _list(cfg, 10.0, 20.0) == [10.0, 11.0, 12.0, 18.0]
    assert _list(cfg, 10.0, 17.0) == [10.0, 11.0, 12.0]  # after the phase end: not sent
    assert make_process(cfg).expected_count(7.0) == 3
    assert "4 timestamps, x2" in make_process(cfg).describe()


@pytest.mark.parametrize(
    ("text", "message"),
    [("1\nabc\n", ":2: not a number"), ("1\n{\"ts\": 3}\n", ":2: expected a timestamp"),
     ("# only a comment\n", "no timestamps"), ("1\ntrue\n", ":2: expected a timestamp")],
)
def test_trace_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    cfg = _trace(tmp_path, text)
    with pytest.raises(InputError, match=message):
        make_process(cfg).expected_count(10)


@pytest.mark.parametrize(("rate", "span"), [(0.3, 10.0), (3.0, 1.0), (7.3, 100.0), (0.1, 30.0), (1 / 3, 3.0)])
def test_constant_count_matches_expected_despite_rounding(rate: float, span: float) -> None:
    cfg = ConstantArrivals(process="constant", rate=rate)
    t = _list(cfg, 0.0, span)
    assert len(t) == make_process(cfg).expected_count(span)
    assert all(x < span for x in t)
