"""Phase regions and burst recovery time (loadgen/phase_events.py) and the master's LiveRun glue."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from collectors import schema
from collectors.counters import C_OK, C_REQUESTS, Counters
from collectors.histograms import HistogramSet
from loadgen.live_run import LiveRun
from loadgen.phase_events import BurstRecovery, PhaseTracker, is_burst

RUN = {"run_id": "r", "scenario": "s"}
T0 = 1000.0


@dataclass(frozen=True)
class Ph:
    name: str
    kind: str
    start_s: float
    end_s: float
    process: str = "poisson(rate=10/s)"
    expected: float = 0.0
    rate_hint: float = 10.0


PHASES = [Ph("warm", "warmup", 0, 10), Ph("steady", "steady", 10, 40), Ph("burst", "burst", 40, 50),
          Ph("after", "steady", 50, 80)]


def test_phase_regions_are_written_when_each_phase_ends_and_cut_at_an_early_stop() -> None:
    tr = PhaseTracker(PHASES, T0, RUN)
    assert tr.on_interval(T0 + 9) == []
    (p,) = tr.on_interval(T0 + 12)
    assert p.measurement == schema.RUN_EVENT.name
    # kind, arrival process name and target rate ride on the phase event (the steady-vs-peak table shows them)
    assert p.tags == {**RUN, "phase": "warm", "event": "phase", "phase_kind": "warmup", "process": "poisson"}
    assert p.time_ns == int(T0 * 1e9)
    assert p.fields == {"end_ms": (T0 + 10) * 1000, "duration_s": 10.0, "rate": 10.0}
    assert tr.current(T0 + 45) == "burst" and tr.current(T0 + 80) is None
    closing = tr.close(T0 + 45)  # early stop inside the burst: steady ends normally, burst is cut
    assert [(q.tags["phase"], q.fields["end_ms"]) for q in closing] == [
        ("steady", (T0 + 40) * 1000), ("burst", (T0 + 45) * 1000)]
    assert tr.close(T0 + 100) == []  # never twice; "after" never started


def test_burst_kinds() -> None:
    assert is_burst(Ph("b", "burst", 0, 1)) and is_burst(Ph("p", "peak", 0, 1))
    assert is_burst(Ph("s", "steady", 0, 1, process="spike(base=1/s, spike=10/s)"))
    assert not is_burst(Ph("s", "steady", 0, 1))


def test_recovery_is_the_first_interval_back_within_10_percent_of_the_steady_p99() -> None:
    br = BurstRecovery(PHASES, T0, RUN, steady_p99=lambda ph: {"steady": 0.100}.get(ph))
    assert br.on_interval(T0 + 45, 0.5) == []  # during the burst: not counted
    assert br.on_interval(T0 + 55, 0.3) == []
    assert br.on_interval(T0 + 60, 0.111) == []  # 11 % above: not yet
    (p,) = br.on_interval(T0 + 65, 0.109)
    assert p.tags == {**RUN, "phase": "burst", "event": "recovery"}
    assert p.time_ns == int((T0 + 50) * 1e9)
    assert p.fields["value"] == pytest.approx(15.0) and p.fields["duration_s"] == pytest.approx(15.0)
    assert p.fields["threshold"] == pytest.approx(0.11) and p.fields["end_ms"] == (T0 + 65) * 1000
    assert br.on_interval(T0 + 70, 0.05) == [] and br.results() == {"burst": pytest.approx(15.0)}
    assert br.reference() == {"burst": "steady"}


def test_never_recovering_is_none_and_a_later_steady_phase_is_decided_at_close() -> None:
    br = BurstRecovery(PHASES, T0, RUN, steady_p99=lambda ph: 0.1)
    br.on_interval(T0 + 55, 0.5)
    assert br.close() == [] and br.results() == {"burst": None}
    first = [Ph("burst", "burst", 0, 10), Ph("steady", "steady", 10, 40)]
    ref: dict[str, float | None] = {"steady": None}
    br2 = BurstRecovery(first, T0, RUN, steady_p99=lambda ph: ref[ph])
    assert br2.reference() == {"burst": "steady"}
    assert br2.on_interval(T0 + 15, 0.3) == [] and br2.on_interval(T0 + 20, 0.12) == []
    ref["steady"] = 0.11  # known once the steady phase has run
    (p,) = br2.close()
    assert p.fields["value"] == pytest.approx(10.0)


def _scenario(windows: list[float]) -> SimpleNamespace:
    slo = SimpleNamespace(objectives=[SimpleNamespace(metric="ttft", percentile=99, max_ms=500)],
                          max_error_rate=0.05, live=SimpleNamespace(windows=windows, min_requests=1))
    return SimpleNamespace(name="s", slo=slo, generator=SimpleNamespace(max_schedule_lag_p99_ms=50,
                                                                         max_cpu_percent=90),
                           slo_phases=lambda: ["steady", "burst", "after"])


def test_live_run_judges_writes_progress_and_summarises() -> None:
    plan = SimpleNamespace(phases=[Ph(p.name, p.kind, p.start_s, p.end_s, expected=(p.end_s - p.start_s) * 2)
                                   for p in PHASES], duration_s=80.0)
    cumulative = HistogramSet()
    lr = LiveRun(scenario=_scenario([10.0]), plan=plan, run_id="r", t0_wall=T0, cumulative=cumulative)
    allpts = lr.on_interval(T0 + 5, HistogramSet(), Counters(), lag_p99_ms=1.0, cpu_percent={})
    for k, (ph, v) in enumerate([("steady", 0.1), ("steady", 2.0), ("burst", 3.0), ("after", 0.1)]):
        hs, c = HistogramSet(), Counters()
        hs.record_many(schema.M_TTFT, ph, "chat", [v] * 20)
        cumulative.merge(hs)
        c.add(ph, "chat", C_REQUESTS, 20)
        c.add(ph, "chat", C_OK, 20)
        now = T0 + 35 + 10 * k
        pts = lr.on_interval(now, hs, c, lag_p99_ms=1.0, cpu_percent={"w0": 10.0})
        allpts += pts
        prog = [p for p in pts if p.measurement == schema.RUN_PROGRESS.name]
        # rate 2/s x the interval's length (the first one runs from T0+5 to T0+35)
        assert len(prog) == 1 and prog[0].fields["arrivals_due"] == pytest.approx(60.0 if k == 0 else 20.0)
    # generator over its lag limit: not judged
    assert not lr.judged(T0 + 80, 60.0, {}) and not lr.judged(T0 + 80, 1.0, {"w0": 95.0})
    assert lr.judged(T0 + 5, 1.0, {"w0": 95.0})  # CPU during start-up is ignored
    allpts += lr.close(T0 + 90)
    s = lr.summary()
    assert [v["phase"] for v in s["slo_violations"]] == ["steady", "burst"]
    assert s["burst_recovery_s"] == {"burst": pytest.approx(15.0)}  # after's interval ended at T0+65
    phases = [p.tags["phase"] for p in allpts if p.tags.get("event") == "phase"]
    assert phases == ["warm", "steady", "burst", "after"]  # each once, in order


def test_report_renders_violations_and_recovery() -> None:
    from rich.console import Console

    from loadgen.report import _render_live_slo

    con = Console(width=120, record=True)
    _render_live_slo(con, {
        "slo_violations": [{"objective": "ttft_p99", "phase": "steady", "start_offset_s": 8.0, "duration_s": None,
                            "peak": 0.6195, "threshold": 0.3, "unit": "s"}],
        "phases": {"burst": {"burst_recovery_s": None, "burst_recovery_reference": "steady"},
                   "steady": {}},
    })
    text = con.export_text()
    assert "ttft_p99" in text and "619.5 ms" in text and "open" in text
    assert "burst recovery after burst: never within 10 % of steady" in text
    con = Console(width=120, record=True)
    _render_live_slo(con, {"slo_violations": [], "phases": {}})
    assert "no SLO violation" in con.export_text()
