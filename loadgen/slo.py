"""The end-of-run verdict: SLO objectives judged on merged histograms, run validity, exit code.

Objectives are read from exact, merged HDR histograms of the judged phases (never averaged
per-worker percentiles).  The exit code follows one rule order, and the rule that decided it is
kept so the report can print it:

- 3: the run is not valid (the load generator fell behind, ran too hot, lost a worker, a
  slot's final results never arrived, or its own sink cut the plan short with
  ``on_spool_full: stop_run``): an SLO verdict from such a run means nothing, so 3 wins over 1;
- 1: an SLO objective or the error-rate bound failed;
- 0: everything passed (or there was nothing to judge).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from hdrh.histogram import HdrHistogram

from collectors.counters import C_REQUESTS, Counters
from collectors.hdr_read import value_at_percentile
from collectors.histograms import HistogramSet, add_histogram, new_histogram
from loadgen.reporting.ci import judged_value
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
    ci_lo_ms: float | None = None  # distribution-free interval at ci_confidence (None: unbounded)
    ci_hi_ms: float | None = None
    ci_confidence: float | None = None
    judged_on: str = "point"  # "point" | "upper_bound" (slo.confidence set)
    judged_ms: float | None = None  # the number compared with max_ms
    note: str = ""  # why there was nothing to judge on (e.g. too few samples to bound)


@dataclass(frozen=True, slots=True)
class SloVerdict:
    judged_phases: list[str]
    objectives: list[ObjectiveResult]
    error_rate: float
    max_error_rate: float | None
    error_rate_passed: bool
    confidence: float | None = None  # slo.confidence: judged on the upper bound at this level

    @property
    def passed(self) -> bool:
        return self.error_rate_passed and all(o.passed for o in self.objectives)

    @property
    def judged(self) -> bool:
        return bool(self.objectives) or self.max_error_rate is not None

    def failures(self) -> list[str]:
        out = [
            f"{o.metric} p{o.percentile:g}"
            + (f" upper bound ({o.ci_confidence:.0%})" if o.judged_on == "upper_bound" else "")
            + " = "
            + ((o.note or "no samples") if o.judged_ms is None else f"{o.judged_ms:.1f} ms")
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
            "confidence": self.confidence,
        }


def percentile_ms(hs: HistogramSet, metric: str, phases: Iterable[str], percentile: float) -> tuple[float | None, int]:
    """``(value in ms, samples)`` of ``metric`` merged over ``phases`` and every class."""
    merged = new_histogram()
    for phase in phases:
        add_histogram(merged, hs.combined(metric, phase))
    n = merged.get_total_count()
    if n == 0:
        return None, 0
    return value_at_percentile(merged, percentile) / 1000.0, n


def judge(
    objectives: Sequence[ObjectiveLike],
    max_error_rate: float | None,
    hs: HistogramSet,
    counters: Counters,
    judged_phases: Sequence[str],
    confidence: float | None = None,
) -> SloVerdict:
    """Judge every objective on the merged histograms of ``judged_phases``.

    An objective with no samples fails (nothing shows it was met).  With ``confidence``
    (``slo.confidence``) the upper bound of the percentile's distribution-free interval is
    judged, and a percentile with too few samples to bound fails; otherwise the point estimate
    is judged and the 95 % interval only shown.  The error rate is errors (cancelled excluded) /
    requests sent in the judged phases.
    """
    def merged_of(metric: str) -> HdrHistogram:
        merged = new_histogram()
        for phase in judged_phases:
            add_histogram(merged, hs.combined(metric, phase))
        return merged

    requests = counters.total(C_REQUESTS, judged_phases)
    errors = sum(counters.errors(judged_phases).values())
    return judge_merged(objectives, max_error_rate, merged_of, requests, errors, judged_phases, confidence)


def judge_merged(
    objectives: Sequence[ObjectiveLike],
    max_error_rate: float | None,
    merged_of: Callable[[str], HdrHistogram],
    requests: int,
    errors: int,
    judged_phases: Sequence[str],
    confidence: float | None = None,
) -> SloVerdict:
    """:func:`judge` on already merged data: ``merged_of(metric)`` gives the judged histogram
    (e.g. one ``slo.windows`` window, loadgen/windows.py); errors exclude cancelled requests."""
    results: list[ObjectiveResult] = []
    for o in objectives:
        merged = merged_of(o.metric)
        j = judged_value(merged, float(o.percentile), confidence)
        results.append(ObjectiveResult(
            o.metric, float(o.percentile), float(o.max_ms), j.ci.value_ms, j.ci.samples,
            j.value_ms is not None and j.value_ms <= o.max_ms,
            ci_lo_ms=j.ci.lo_ms, ci_hi_ms=j.ci.hi_ms, ci_confidence=j.ci.confidence,
            judged_on=j.on, judged_ms=j.value_ms, note=j.reason(),
        ))
    rate = errors / requests if requests else 0.0
    rate_ok = max_error_rate is None or rate <= max_error_rate
    return SloVerdict(list(judged_phases), results, rate, max_error_rate, rate_ok, confidence)


@dataclass(slots=True)
class RunHealth:
    """What decides whether the run's numbers are valid at all."""

    schedule_lag_p99_ms: float | None = None
    max_schedule_lag_p99_ms: float | None = None
    max_cpu_percent_seen: float | None = None  # highest worker CPU sample during the plan
    max_cpu_percent: float | None = None
    lost_slots: list[dict[str, Any]] = field(default_factory=list)
    missing_done_slots: list[int] = field(default_factory=list)
    stopped_by_sink: str | None = None  # the sink that stopped the run (on_spool_full: stop_run), if any
    generator_faults: int = 0  # requests that failed inside the load generator (ErrorClass.GENERATOR)
    busiest: str = ""  # which part of the generator blocked longest (loadgen.busy.busiest)

    def invalid_reasons(self) -> list[str]:
        out: list[str] = []
        if self.stopped_by_sink:
            out.append(
                f"stopped by its own telemetry sink: the {self.stopped_by_sink} spool filled up and "
                f"sinks.{self.stopped_by_sink}.on_spool_full is stop_run, so the plan was cut short"
            )
        if (
            self.max_schedule_lag_p99_ms is not None
            and self.schedule_lag_p99_ms is not None
            and self.schedule_lag_p99_ms > self.max_schedule_lag_p99_ms
        ):
            out.append(
                f"generator fell behind: schedule lag p99 {self.schedule_lag_p99_ms:.1f} ms"
                f" > generator.max_schedule_lag_p99_ms {self.max_schedule_lag_p99_ms:g}"
                + (f"; busiest part: {self.busiest}" if self.busiest else "")
            )
        if (
            self.max_cpu_percent is not None
            and self.max_cpu_percent_seen is not None
            and self.max_cpu_percent_seen > self.max_cpu_percent
        ):
            out.append(
                f"generator ran too hot: worker CPU {self.max_cpu_percent_seen:.0f}%"
                f" > generator.max_cpu_percent {self.max_cpu_percent:g}"
                + (f"; busiest part: {self.busiest}" if self.busiest else "")
            )
        if self.generator_faults:
            out.append(
                f"the load generator failed {self.generator_faults} request(s) itself (error class"
                " generator_fault: a bug in inferload, logged with its traceback; not the target's error)"
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


def decide_exit(verdict: SloVerdict, health: RunHealth, window_failures: Sequence[str] = ()) -> ExitDecision:
    """3 (invalid run) wins over 1 (SLO failed: the run total or any ``slo.windows`` window); 0 otherwise.

    ``window_failures``: one line per failed objective of each violating window (loadgen/windows.py).
    """
    invalid = health.invalid_reasons()
    if invalid:
        return ExitDecision(EXIT_INVALID_RUN, "invalid run: " + invalid[0], invalid)
    if not verdict.passed or window_failures:
        fails = verdict.failures() + list(window_failures)
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
    "judge",
    "judge_merged",
    "percentile_ms",
]
