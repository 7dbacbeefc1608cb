"""Rolling verdicts (``slo.windows``): every consecutive window of a soak judged on its own.

A soak that passes on its run total can still have spent an hour out of its SLO.  With
``slo.windows: [1h]`` the master judges each window ``[t0 + k*W, t0 + (k+1)*W)`` of the plan (an
aggregate interval belongs to the window its end falls in) on the judged phases' data in it,
with the same rules as the end-of-run verdict (:func:`loadgen.slo.judge_merged`: exact merged
HDR percentiles, the error-rate bound, ``slo.confidence``).  A window with fewer than
``slo.live.min_requests`` judged requests (the tail of the run, or a window holding only warmup)
is not judged.

Memory is bounded: the open window keeps one histogram per objective metric (merged from each
interval's histograms, then zeroed in place for the next window) and two counts; a closed window
leaves a small result -- every violating one (up to :data:`MAX_LISTED` per window length; the
rest are only counted) and the worst.  Pure: the caller passes times.

:meth:`WindowJudge.state` / :meth:`WindowJudge.restore` carry the open windows (their histograms
in the encoding of the checkpoint's merged histograms) and the closed windows' results across a
master restart (``loadgen/checkpoint.py``): the window open at the checkpoint goes on filling
after the restart (the gap adds nothing to it), or is judged as soon as a later window begins.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram
from pydantic import Field

from collectors.counters import C_REQUESTS, Counters
from collectors.histograms import (
    HistogramSet,
    add_histogram,
    decode_histogram,
    new_histogram,
    reset_histogram,
)
from loadgen.slo import ObjectiveLike, SloVerdict, judge_merged
from loadgen.slo_objectives import window_label
from userinput.strict import StrictModel

MAX_LISTED = 200  # violating windows listed per window length (the others are counted)


@dataclass(slots=True)
class _Open:
    index: int
    hist: dict[str, HdrHistogram]
    requests: int = 0
    errors: int = 0
    last_end_s: float = 0.0


@dataclass(slots=True)
class _Length:
    seconds: float
    label: str
    open: _Open | None = None
    judged: int = 0
    not_judged: int = 0
    violating: int = 0
    violations: list[dict[str, Any]] = field(default_factory=list)
    worst: dict[str, Any] | None = None
    worst_ratio: float = -math.inf
    failures: list[str] = field(default_factory=list)


class _OpenState(StrictModel):
    index: int = Field(ge=0)
    hist: dict[str, str]  # metric -> HDR blob (HistogramSet.encode's encoding); empty ones left out
    requests: int = Field(ge=0)
    errors: int = Field(ge=0)
    last_end_s: float


class _LengthState(StrictModel):
    window_s: float
    open: _OpenState | None
    judged: int = Field(ge=0)
    not_judged: int = Field(ge=0)
    violating: int = Field(ge=0)
    violations: list[dict[str, Any]] = Field(max_length=MAX_LISTED)
    worst: dict[str, Any] | None
    failures: list[str]  # the listed violations' lines (the others' are not kept across a restart)


class _JudgeState(StrictModel):
    lengths: list[_LengthState]


class WindowJudge:
    """Judges each ``slo.windows`` window of the judged phases as it closes."""

    def __init__(self, *, objectives: Sequence[ObjectiveLike], max_error_rate: float | None,
                 judged_phases: Sequence[str], t0_wall: float, windows_s: Sequence[float],
                 confidence: float | None = None, min_requests: int = 10) -> None:
        self.objectives = list(objectives)
        self.max_error_rate = max_error_rate
        self.judged_phases = list(judged_phases)
        self.t0_wall = t0_wall
        self.confidence = confidence
        self.min_requests = min_requests
        self.metrics = sorted({str(o.metric) for o in self.objectives})
        self._lengths = [_Length(float(w), window_label(float(w))) for w in windows_s]
        self._spare: list[dict[str, HdrHistogram]] = []  # zeroed histograms, reused by the next window

    @property
    def enabled(self) -> bool:
        return bool(self._lengths) and (bool(self.objectives) or self.max_error_rate is not None)

    def on_interval(self, end_s: float, hs: HistogramSet, counters: Counters) -> None:
        """One aggregate interval ending at ``end_s`` (Unix s): merge it into each open window."""
        if not self.enabled:
            return
        phases = [p for p in self.judged_phases if p in hs.phases() or p in counters.phases()]
        if not phases:
            return
        offset = end_s - self.t0_wall
        for ln in self._lengths:
            index = max(0, math.ceil(offset / ln.seconds) - 1)
            if ln.open is not None and ln.open.index != index:
                self._finish(ln)
            if ln.open is None:
                ln.open = _Open(index, self._histograms())
            win = ln.open
            win.last_end_s = end_s
            for metric in self.metrics:
                for phase in phases:
                    for cls in hs.classes():
                        h = hs.get(metric, phase, cls)
                        if h is not None:
                            add_histogram(win.hist[metric], h)
            win.requests += counters.total(C_REQUESTS, phases)
            win.errors += sum(counters.errors(phases).values())

    def close(self) -> None:
        """Run end: judge the open (possibly partial) windows."""
        for ln in self._lengths:
            if ln.open is not None:
                self._finish(ln)

    def _histograms(self) -> dict[str, HdrHistogram]:
        if self._spare:
            return self._spare.pop()
        return {m: new_histogram() for m in self.metrics}

    def _finish(self, ln: _Length) -> None:
        win = ln.open
        assert win is not None
        ln.open = None
        start = win.index * ln.seconds
        end = min(start + ln.seconds, win.last_end_s - self.t0_wall)
        if win.requests < self.min_requests:
            ln.not_judged += 1
        else:
            verdict = judge_merged(self.objectives, self.max_error_rate, lambda m: win.hist[m],
                                   win.requests, win.errors, self.judged_phases, self.confidence)
            self._record(ln, win, start, end, verdict)
        for h in win.hist.values():
            reset_histogram(h)
        self._spare.append(win.hist)

    def _record(self, ln: _Length, win: _Open, start: float, end: float, verdict: SloVerdict) -> None:
        ln.judged += 1
        row: dict[str, Any] = {
            "index": win.index, "start_s": round(start, 3), "end_s": round(end, 3),
            "partial": end - start < ln.seconds - 1e-6, "requests": win.requests,
            "error_rate": verdict.error_rate, "passed": verdict.passed,
            "objectives": [
                {"metric": o.metric, "percentile": o.percentile, "max_ms": o.max_ms, "value_ms": o.value_ms,
                 "judged_ms": o.judged_ms, "samples": o.samples, "passed": o.passed}
                for o in verdict.objectives
            ],
        }
        ratio, what = _worst_ratio(verdict)
        if ratio > ln.worst_ratio:
            ln.worst_ratio = ratio
            ln.worst = {**row, "worst_objective": what, "ratio_to_threshold": None if math.isinf(ratio) else ratio}
        if not verdict.passed:
            ln.violating += 1
            row["failures"] = verdict.failures()
            if len(ln.violations) < MAX_LISTED:
                ln.violations.append(row)
            where = f"window {ln.label} #{win.index} ({start:.0f}-{end:.0f} s)"
            ln.failures.extend(f"{where}: {f}" for f in verdict.failures())

    # ---- a master restart -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """JSON-safe state for a checkpoint: per window length its open window (one HDR blob per
        objective metric) and its results so far (<= :data:`MAX_LISTED` violations listed)."""
        out: list[dict[str, Any]] = []
        for ln in self._lengths:
            win = ln.open
            listed_lines = sum(len(v.get("failures") or ()) for v in ln.violations)
            out.append({
                "window_s": ln.seconds,
                "open": None if win is None else {
                    "index": win.index, "requests": win.requests, "errors": win.errors,
                    "last_end_s": win.last_end_s,
                    "hist": {m: _blob(h) for m, h in win.hist.items() if h.get_total_count()},
                },
                "judged": ln.judged, "not_judged": ln.not_judged, "violating": ln.violating,
                "violations": list(ln.violations), "worst": ln.worst,
                "failures": ln.failures[:listed_lines],
            })
        return {"lengths": out}

    def restore(self, state: Any) -> None:
        """Back to a :meth:`state` (a resumed run): the open windows go on, the results stay.

        ValueError (pydantic's ValidationError is one) when ``state`` is not such a state of
        these ``slo.windows``; then nothing changes."""
        parsed = _JudgeState.model_validate(state)
        have = [ln.seconds for ln in self._lengths]
        saved = [float(ls.window_s) for ls in parsed.lengths]
        if saved != have:
            raise ValueError(f"slo.windows {saved} in the checkpoint, {have} in the scenario")
        lengths: list[_Length] = []
        for ls in parsed.lengths:
            ln = _Length(ls.window_s, window_label(ls.window_s), judged=ls.judged, not_judged=ls.not_judged,
                         violating=ls.violating, violations=list(ls.violations), worst=ls.worst,
                         failures=list(ls.failures))
            if ls.violating < len(ls.violations):
                raise ValueError(f"window {ln.label}: {len(ls.violations)} violations listed, {ls.violating} counted")
            ln.worst_ratio = _saved_ratio(ls.worst)
            if ls.open is not None:
                unknown = sorted(set(ls.open.hist) - set(self.metrics))
                if unknown:
                    raise ValueError(f"window {ln.label}: histograms of {', '.join(unknown)}, not an objective metric")
                hist = {m: new_histogram() for m in self.metrics}
                for m, blob in ls.open.hist.items():
                    add_histogram(hist[m], decode_histogram(blob))
                ln.open = _Open(ls.open.index, hist, ls.open.requests, ls.open.errors, ls.open.last_end_s)
            lengths.append(ln)
        self._lengths = lengths

    def failures(self) -> list[str]:
        """One line per failed objective of every violating window (for the exit decision)."""
        return [f for ln in self._lengths for f in ln.failures]

    def summary(self) -> dict[str, Any]:
        """``summary.json`` ``slo_windows``: per window length, counts, the worst window and each violation."""
        return {
            ln.label: {
                "window_s": ln.seconds,
                "judged": ln.judged,
                "not_judged": ln.not_judged,
                "violating": ln.violating,
                "passed": ln.violating == 0,
                "worst": ln.worst,
                "violations": list(ln.violations),
                "violations_not_listed": max(0, ln.violating - len(ln.violations)),
            }
            for ln in self._lengths
        }


def _blob(h: HdrHistogram) -> str:
    blob = h.encode()
    return blob.decode("ascii") if isinstance(blob, bytes) else str(blob)


def _saved_ratio(worst: dict[str, Any] | None) -> float:
    """The worst window's ratio to its threshold, back from its row (None there: infinite)."""
    if worst is None:
        return -math.inf
    ratio = worst.get("ratio_to_threshold")
    if ratio is None:
        return math.inf
    if not isinstance(ratio, int | float):
        raise ValueError(f"worst window: ratio_to_threshold {ratio!r} is not a number")
    return float(ratio)


def _worst_ratio(verdict: SloVerdict) -> tuple[float, str]:
    """The judged value / threshold of the objective (or error rate) closest to failing."""
    best, what = -math.inf, ""
    for o in verdict.objectives:
        r = math.inf if o.judged_ms is None else o.judged_ms / o.max_ms
        if r > best:
            best, what = r, f"{o.metric} p{o.percentile:g}"
    if verdict.max_error_rate is not None:
        r = (verdict.error_rate / verdict.max_error_rate if verdict.max_error_rate > 0
             else (math.inf if verdict.error_rate > 0 else 0.0))
        if r > best:
            best, what = r, "error_rate"
    return best, what


__all__ = ["MAX_LISTED", "WindowJudge"]
