"""Rolling verdicts (issue 13 §5): ``slo.windows`` judges each window; the exit code sees every one."""

from __future__ import annotations

from typing import Any

import pytest

from collectors import schema
from collectors.counters import C_REQUESTS, ERROR_PREFIX, Counters
from collectors.histograms import HistogramSet
from loadgen.config.slo import SloConfig, SloObjective
from loadgen.slo import RunHealth, decide_exit, judge
from loadgen.windows import MAX_LISTED, WindowJudge
from userinput.errors import EXIT_PASS, EXIT_SLO_FAILED

T0 = 1_800_000_000.0


def _interval(ttft_s: float, n: int = 100, errors: int = 0, phase: str = "soak") -> tuple[HistogramSet, Counters]:
    hs, c = HistogramSet(), Counters()
    hs.record_many(schema.M_TTFT, phase, "default", [ttft_s] * n)
    c.add(phase, "default", C_REQUESTS, n)
    if errors:
        c.add(phase, "default", ERROR_PREFIX + "http_5xx", errors)
    return hs, c


def _judge(windows: list[float], **kw: Any) -> WindowJudge:
    return WindowJudge(objectives=[SloObjective(metric="ttft", percentile=99, max_ms=500)], max_error_rate=0.01,
                       judged_phases=["soak"], t0_wall=T0, windows_s=windows, **kw)


def test_one_bad_window_fails_the_run_although_the_total_passes() -> None:
    wj = _judge([60.0])
    total_hs, total_c = HistogramSet(), Counters()
    for k in range(180):  # 3 windows of 60 one-second intervals; the middle one has 1 bad second
        ttft = 0.9 if k == 70 else 0.1
        hs, c = _interval(ttft)
        wj.on_interval(T0 + k + 1, hs, c)
        total_hs.merge(hs)
        total_c.merge(c)
    wj.close()
    total = judge(wj.objectives, 0.01, total_hs, total_c, ["soak"])
    assert total.passed  # 1 bad second of 180: p99 of the whole run is fine
    s = wj.summary()["1m"]
    assert (s["judged"], s["violating"], s["passed"]) == (3, 1, False)
    (bad,) = s["violations"]
    assert (bad["index"], bad["start_s"], bad["end_s"]) == (1, 60.0, 120.0)
    assert s["worst"]["index"] == 1 and s["worst"]["worst_objective"] == "ttft p99"
    fails = wj.failures()
    assert fails and fails[0].startswith("window 1m #1 (60-120 s): ttft p99")
    decision = decide_exit(total, RunHealth(), fails)
    assert decision.code == EXIT_SLO_FAILED and "window 1m #1" in decision.rule
    assert decide_exit(total, RunHealth(), []).code == EXIT_PASS


def test_error_rate_is_judged_per_window_and_tail_windows_need_min_requests() -> None:
    wj = _judge([10.0], min_requests=50)
    for k in range(25):  # window 1 (10-20 s) has 5 % errors; window 2 holds only 5 intervals x 5 requests
        n = 5 if k >= 20 else 100
        hs, c = _interval(0.1, n=n, errors=5 if 10 <= k < 20 else 0)
        wj.on_interval(T0 + k + 1, hs, c)
    wj.close()
    s = wj.summary()["10s"]
    assert (s["judged"], s["not_judged"], s["violating"]) == (2, 1, 1)
    assert s["violations"][0]["error_rate"] == pytest.approx(0.05)
    assert "error rate 0.0500 > 0.01" in wj.failures()[0]


def test_several_lengths_and_non_judged_phases() -> None:
    wj = _judge([5.0, 20.0])
    for k in range(20):
        phase = "warmup" if k < 5 else "soak"  # warmup is not judged: its slow TTFT is ignored
        hs, c = _interval(2.0 if phase == "warmup" else 0.1, phase=phase)
        wj.on_interval(T0 + k + 1, hs, c)
    wj.close()
    s = wj.summary()
    assert s["5s"]["judged"] == 3 and s["5s"]["violating"] == 0
    assert s["20s"]["judged"] == 1 and s["20s"]["violations"] == []


def test_memory_stays_bounded_over_many_windows() -> None:
    wj = _judge([1.0])
    for k in range(2 * MAX_LISTED + 50):  # every window violates
        hs, c = _interval(0.9, n=20)
        wj.on_interval(T0 + k + 1, hs, c)
    wj.close()
    s = wj.summary()["1s"]
    assert s["violating"] == 2 * MAX_LISTED + 50
    assert len(s["violations"]) == MAX_LISTED
    assert s["violations_not_listed"] == MAX_LISTED + 50
    assert len(wj._spare) == 1  # one set of histograms, zeroed and reused window after window


def test_config_accepts_durations_and_rejects_duplicates() -> None:
    assert SloConfig.model_validate({"windows": ["1h", "10m"]}).windows == [3600.0, 600.0]
    assert SloConfig.model_validate({}).windows == []
    with pytest.raises(ValueError, match="different"):
        SloConfig.model_validate({"windows": ["1h", "60m"]})
    with pytest.raises(ValueError, match=">= 1 second"):
        SloConfig.model_validate({"windows": [0.5]})
