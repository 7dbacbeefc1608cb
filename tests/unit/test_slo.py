"""SLO verdict on merged histograms, run validity, and the exit-code rule order."""

from __future__ import annotations

from collectors import schema
from collectors.counters import Counters
from collectors.histograms import HistogramSet
from loadgen.slo import RunHealth, decide_exit, judge
from tests.support.models import objective
from userinput.errors import EXIT_INVALID_RUN, EXIT_PASS, EXIT_SLO_FAILED


def _hs() -> HistogramSet:
    hs = HistogramSet()
    # steady: 100 TTFTs 1..100 ms; two workers' worth, merged
    for i in range(1, 101):
        hs.record(schema.M_TTFT, "steady", "a", i / 1000)
    hs.record(schema.M_TTFT, "warmup", "a", 5.0)  # a 5 s outlier outside the judged phase
    return hs


def _counters(requests: int, errors: int) -> Counters:
    c = Counters()
    c.add("steady", "a", "requests", requests)
    c.add("steady", "a", "error:http_5xx", errors)
    c.add("warmup", "a", "error:timeout", 50)
    c.add("warmup", "a", "requests", 50)
    return c


def test_objective_pass_and_fail_read_from_judged_phases_only() -> None:
    hs = _hs()
    v = judge([objective("ttft", 99, 120), objective("ttft", 50, 40)], 0.05, hs, _counters(100, 1), ["steady"])
    assert v.objectives[0].passed and abs((v.objectives[0].value_ms or 0) - 99) < 0.5
    assert not v.objectives[1].passed and abs((v.objectives[1].value_ms or 0) - 50) < 0.5
    assert v.error_rate == 0.01 and v.error_rate_passed
    assert not v.passed
    assert "ttft p50" in v.failures()[0]


def test_objective_without_samples_fails() -> None:
    v = judge([objective("tpot", 99, 100)], None, HistogramSet(), Counters(), ["steady"])
    assert not v.passed and v.objectives[0].value_ms is None


def test_error_rate_bound() -> None:
    v = judge([], 0.01, _hs(), _counters(100, 2), ["steady"])
    assert v.error_rate == 0.02 and not v.error_rate_passed and not v.passed


def test_exit_codes_and_rule_order() -> None:
    ok = judge([objective("ttft", 99, 500)], 0.01, _hs(), _counters(100, 0), ["steady"])
    bad = judge([objective("ttft", 99, 10)], 0.01, _hs(), _counters(100, 0), ["steady"])
    healthy = RunHealth(schedule_lag_p99_ms=2.0, max_schedule_lag_p99_ms=50.0)
    assert decide_exit(ok, healthy).code == EXIT_PASS
    d = decide_exit(bad, healthy)
    assert d.code == EXIT_SLO_FAILED and d.rule.startswith("SLO failed")
    behind = RunHealth(schedule_lag_p99_ms=80.0, max_schedule_lag_p99_ms=50.0)
    d = decide_exit(bad, behind)  # 3 wins over 1
    assert d.code == EXIT_INVALID_RUN and "schedule lag" in d.rule
    hot = RunHealth(max_cpu_percent_seen=97.0, max_cpu_percent=90.0)
    assert decide_exit(ok, hot).code == EXIT_INVALID_RUN
    lost = RunHealth(lost_slots=[{"slot": 1}])
    d = decide_exit(ok, lost)
    assert d.code == EXIT_INVALID_RUN and "lost a worker" in d.rule
    assert decide_exit(ok, RunHealth(missing_done_slots=[0])).code == EXIT_INVALID_RUN
