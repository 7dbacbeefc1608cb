"""The end-of-run verdict: SLO objectives judged on merged histograms, run validity, exit code.

Objectives are read from exact, merged HDR histograms of the judged phases (never averaged
per-worker percentiles).  The exit code follows one rule order, and the rule that decided it is
kept so the report can print it:

- 3: the run is not valid (the load generator fell behind, ran too hot, lost a worker, or a
  slot's final results never arrived): an SLO verdict from such a run means nothing, so 3 wins
  over 1;
- 1: an SLO objective or the error-rate bound failed;
- 0: everything passed (or there was nothing to judge).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from collectors.aggregates import GoodputSLO
from collectors.histograms import HistogramSet, new_histogram
from collectors.records import RequestRecord
from loadgen.recorder import C_REQUESTS, Counters
from userinput.errors import EXIT_INVALID_RUN, EXIT_PASS, EXIT_SLO_FAILED


class ObjectiveLike(Protocol):
    @property
    def metric(self) -> str: ...
    @property
    def percentile(self) -> float: ...
    @property
    def max_ms(self) -> float: ...


@dataclass(frozen=True, slots=True)
class ObjectiveResult:
    metric: str
    percentile: float
    max_ms: float
    value_ms: float | None  # None: no samples to judge
    samples: int
    passed: bool


@dataclass(frozen=True, slots=True)
class SloVerdict:
    judged_phases: list[str]
    objectives: list[ObjectiveResult]
    error_rate: float
    max_error_rate: float | None
    error_rate_passed: bool

    @property
    def passed(self) -> bool:
        return self.error_rate_passed and all(o.passed for o in self.objectives)

    @property
    def judged(self) -> bool:
        return bool(self.objectives) or self.max_error_rate is not None

    def failures(self) -> list[str]:
        out = [
            f"{o.metric} p{o.percentile:g} = "
            + ("no samples" if o.value_ms is None else f"{o.value_ms:.1f} ms")
            + f" > {o.max_ms:g} ms"
            for o in self.objectives
            if not o.passed
        ]
        if not self.error_rate_passed:
            out.append(f"error rate {self.error_rate:.4f} > {self.max_error_rate:g}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "judged_phases": list(self.judged_phases),
            "objectives": [asdict(o) for o in self.objectives],
            "error_rate": self.error_rate,
            "max_error_rate": self.max_error_rate,
            "error_rate_passed": self.error_rate_passed,
        }


def percentile_ms(hs: HistogramSet, metric: str, phases: Iterable[str], percentile: float) -> tuple[float | None, int]:
    """``(value in ms, samples)`` of ``metric`` merged over ``phases`` and every class."""
    merged = new_histogram()
    for phase in phases:
        merged.add(hs.combined(metric, phase))
    n = merged.get_total_count()
    if n == 0:
        return None, 0
    return merged.get_value_at_percentile(percentile) / 1000.0, n


def judge(
    objectives: Sequence[ObjectiveLike],
    max_error_rate: float | None,
    hs: HistogramSet,
    counters: Counters,
    judged_phases: Sequence[str],
) -> SloVerdict:
    """Judge every objective on the merged histograms of ``judged_phases``.

    An objective with no samples fails (nothing shows it was met).  The error rate is
    errors (cancelled excluded) / requests sent in the judged phases.
    """
    results: list[ObjectiveResult] = []
    for o in objectives:
        value, n = percentile_ms(hs, o.metric, judged_phases, o.percentile)
        results.append(
            ObjectiveResult(o.metric, float(o.percentile), float(o.max_ms), value, n, value is not None and value <= o.max_ms)
        )
    requests = counters.total(C_REQUESTS, judged_phases)
    errors = sum(counters.errors(judged_phases).values())
    rate = errors / requests if requests else 0.0
    rate_ok = max_error_rate is None or rate <= max_error_rate
    return SloVerdict(list(judged_phases), results, rate, max_error_rate, rate_ok)


@dataclass(slots=True)
class RunHealth:
    """What decides whether the run's numbers are valid at all."""

    schedule_lag_p99_ms: float | None = None
    max_schedule_lag_p99_ms: float | None = None
    max_cpu_percent_seen: float | None = None  # highest worker CPU sample during the plan
    max_cpu_percent: float | None = None
    lost_slots: list[dict[str, Any]] = field(default_factory=list)
    missing_done_slots: list[int] = field(default_factory=list)

    def invalid_reasons(self) -> list[str]:
        out: list[str] = []
        if (
            self.max_schedule_lag_p99_ms is not None
            and self.schedule_lag_p99_ms is not None
            and self.schedule_lag_p99_ms > self.max_schedule_lag_p99_ms
        ):
            out.append(
                f"generator fell behind: schedule lag p99 {self.schedule_lag_p99_ms:.1f} ms"
                f" > generator.max_schedule_lag_p99_ms {self.max_schedule_lag_p99_ms:g}"
            )
        if (
            self.max_cpu_percent is not None
            and self.max_cpu_percent_seen is not None
            and self.max_cpu_percent_seen > self.max_cpu_percent
        ):
            out.append(
                f"generator ran too hot: worker CPU {self.max_cpu_percent_seen:.0f}%"
                f" > generator.max_cpu_percent {self.max_cpu_percent:g}"
            )
        if self.lost_slots:
            slots = ", ".join(str(s.get("slot")) for s in self.lost_slots)
            out.append(f"lost a worker: slot(s) {slots} re-assigned mid-run, their unreported results are gone")
        if self.missing_done_slots:
            slots = ", ".join(map(str, self.missing_done_slots))
            out.append(f"final results never arrived from slot(s) {slots}")
        return out


@dataclass(frozen=True, slots=True)
class ExitDecision:
    code: int
    rule: str
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"exit_code": self.code, "rule": self.rule, "reasons": list(self.reasons)}


def goodput_slo(scenario: Any) -> GoodputSLO | None:
    """Per-request thresholds for goodput, from the scenario's TTFT, TPOT and E2E objectives.

    A request is *good* when it succeeded and its own TTFT, TPOT and E2E are at or below the
    thresholds of those objectives (the percentile of an objective does not apply to one
    request; the tightest threshold per metric wins).  None when no such objective exists.
    """
    slo = getattr(scenario, "slo", None)
    if slo is None:
        return None
    limits: dict[str, float] = {}
    for obj in slo.objectives:
        if obj.metric in ("ttft", "tpot", "e2e"):
            s = float(obj.max_ms) / 1000.0
            limits[obj.metric] = min(s, limits.get(obj.metric, s))
    if not limits:
        return None
    return GoodputSLO(ttft_s=limits.get("ttft"), tpot_s=limits.get("tpot"), e2e_s=limits.get("e2e"))


def goodput_test(scenario: Any) -> Callable[[RequestRecord], bool] | None:
    """The predicate the recorder counts goodput with (None: no per-request thresholds)."""
    g = goodput_slo(scenario)
    return None if g is None else g.is_good


def decide_exit(verdict: SloVerdict, health: RunHealth) -> ExitDecision:
    """3 (invalid run) wins over 1 (SLO failed); 0 otherwise."""
    invalid = health.invalid_reasons()
    if invalid:
        return ExitDecision(EXIT_INVALID_RUN, "invalid run: " + invalid[0], invalid)
    if not verdict.passed:
        fails = verdict.failures()
        return ExitDecision(EXIT_SLO_FAILED, "SLO failed: " + fails[0], fails)
    if not verdict.judged:
        return ExitDecision(EXIT_PASS, "pass: valid run, no SLO declared", [])
    return ExitDecision(EXIT_PASS, "pass: valid run, every SLO objective met", [])


__all__ = [
    "ExitDecision",
    "ObjectiveLike",
    "ObjectiveResult",
    "RunHealth",
    "SloVerdict",
    "decide_exit",
    "goodput_slo",
    "goodput_test",
    "judge",
    "percentile_ms",
]
