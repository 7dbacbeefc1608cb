"""Drift and leak detection over a soak: trends of latency, errors and the server's state.

Every aggregate interval the master adds one value per series (:data:`SERIES`): p50/p99 TTFT
and ITL and the error rate of that interval (merged over the *drift phases*: the phases of kind
``steady``, else the judged phases), and, from the server-metrics scrape, the target's KV-cache
usage and waiting queue (and GPU framebuffer memory when such points pass through).  Each series
is kept in at most :data:`MAX_BINS` time bins: when full, neighbouring bins merge pairwise, so
memory stays fixed however long the run is while the bins stay evenly spread over it.

The trend (``loadgen/trend.py``) is an ordinary least-squares line through the bin means (value
per hour of wall time) with a t-interval at :data:`CONFIDENCE`; the standard error is widened by the lag-1
autocorrelation of the residuals (``sqrt((1 + r) / (1 - r))``, effective sample size; ``r``
bias-corrected for short series), because
neighbouring intervals of a soak are not independent.  A series *drifts upward* when

- the lower bound of its :data:`FLAG_CONFIDENCE` (99 %) interval is above zero (statistically
  significant; stricter than the reported 95 % because the fit is re-tested every interval), and
- the fitted rise over the fitted span is at least :data:`MIN_RISE` (20 %) of the fitted start
  value (never less than the series' floor: 1 ms, 0.1 % errors, 1 % KV usage, 1 waiting
  request, 100 MiB), so a tiny but significant slope over days is not flagged, and
- the fit rests on at least :data:`MIN_EFFECTIVE_DF` effective degrees of freedom (a few
  minutes of slowly wandering values look like a line), and
- it held on :data:`PERSIST` consecutive evaluations (one per interval, once
  :data:`MIN_POINTS` values are in) covering at least :data:`PERSIST_FRACTION` (20 %) of the
  series' span: the fit is re-tested every interval, and an early chance cluster that looks
  significant for a few intervals fades as data accumulates, while a real drift stays.

The first time a series drifts the detector returns a ``run_event`` point (event ``drift``,
objective = the series id, region from the first value to now, ``value`` = slope per hour,
``threshold`` = the smallest slope per hour that would count as drift at that span); the summary
gets a ``drift`` section with every series' fit.  Pure apart from a lock (the scrape thread adds
server values): no clock, no I/O.  numpy only.

:meth:`DriftDetector.state` / :meth:`DriftDetector.restore` carry the bins, streaks, flags and
last fits across a master restart (the checkpoint's ``soak`` entry, ``loadgen/checkpoint.py``):
the trends continue where they were, and the gap simply has no bins.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import Field

from collectors import schema
from collectors.counters import C_REQUESTS, Counters
from collectors.histograms import HistogramSet
from collectors.point import Point
from loadgen.hdr_counts import IntArr, hdr
from loadgen.trend import CONFIDENCE, MAX_BINS, BinnedSeries, BinsState, Trend, fit_trend
from userinput.strict import StrictModel

MIN_POINTS = 60  # values before a series is judged at all (10 min of 10 s intervals)
MIN_EFFECTIVE_DF = 10.0  # ... and this many independent values' worth (slow wander is not a trend)
MIN_RISE = 0.20  # fitted rise over the span, as a fraction of the fitted start value
PERSIST = 3  # consecutive evaluations that must agree before a drift is flagged ...
PERSIST_FRACTION = 0.2  # ... over at least this fraction of the series' span (a chance cluster fades)
FLAG_CONFIDENCE = 0.99  # the interval whose lower bound must clear 0 (the fit is re-tested every interval)


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    id: str
    unit: str
    floor: float  # the smallest start level a rise is measured against (a series near 0)
    description: str


SERIES: tuple[SeriesSpec, ...] = (
    SeriesSpec("ttft_p50", "s", 0.001, "interval p50 TTFT"),
    SeriesSpec("ttft_p99", "s", 0.001, "interval p99 TTFT"),
    SeriesSpec("itl_p50", "s", 0.001, "interval p50 inter-token latency"),
    SeriesSpec("itl_p99", "s", 0.001, "interval p99 inter-token latency"),
    SeriesSpec("error_rate", "ratio", 0.001, "interval errors / requests"),
    SeriesSpec("kv_cache_usage", "ratio", 0.01, "the server's KV-cache usage (llm_server)"),
    SeriesSpec("server_waiting", "requests", 1.0, "the server's waiting queue (llm_server)"),
    SeriesSpec("gpu_fb_used_mib", "MiB", 100.0, "GPU framebuffer memory used (llm_gpu, when collected)"),
)
_SPECS = {s.id: s for s in SERIES}
_LATENCY = (("ttft_p50", schema.M_TTFT, 50.0), ("ttft_p99", schema.M_TTFT, 99.0),
            ("itl_p50", schema.M_ITL, 50.0), ("itl_p99", schema.M_ITL, 99.0))


class _TrendState(StrictModel):
    points: int
    span_h: float
    slope_per_h: float
    ci_lo_per_h: float
    ci_hi_per_h: float
    start: float
    end: float
    autocorrelation: float
    effective_df: float


class _SeriesState(StrictModel):
    bins: BinsState
    streak: int = Field(ge=0)
    streak_since: float
    flagged_at_s: float | None
    first_wall: float | None
    last_trend: _TrendState | None


class _DriftState(StrictModel):
    series: dict[str, _SeriesState]


@dataclass(slots=True)
class _State:
    spec: SeriesSpec
    bins: BinnedSeries = field(default_factory=BinnedSeries)
    streak: int = 0
    streak_since: float = 0.0  # wall time of the streak's first evaluation
    flagged_at_s: float | None = None  # seconds after t0 when first flagged
    first_wall: float | None = None
    last_trend: Trend | None = None


def drift_phases(scenario: Any) -> list[str]:
    """Phases whose intervals feed the latency/error series: kind ``steady``, else the judged ones."""
    steady = [str(p.name) for p in scenario.phases if str(getattr(p, "kind", "")) == "steady"]
    return steady or [str(p) for p in scenario.slo_phases()]


class DriftDetector:
    """Per-series bounded bins, a trend fit per interval, ``run_event`` drift points when one starts."""

    def __init__(self, *, phases: Iterable[str], run_tags: Mapping[str, str],
                 min_points: int = MIN_POINTS, min_rise: float = MIN_RISE, persist: int = PERSIST,
                 confidence: float = CONFIDENCE, max_bins: int = MAX_BINS) -> None:
        self.t0_wall: float | None = None  # set by :meth:`start`; values before are ignored
        self.spans: list[tuple[float, float]] = []  # the drift phases' [start, end) (Unix s)
        self.phases = list(phases)
        self.run_tags = dict(run_tags)
        self.min_points = min_points
        self.min_rise = min_rise
        self.persist = persist
        self.confidence = confidence
        self._state = {s.id: _State(s, BinnedSeries(max_bins)) for s in SERIES}
        self._lock = threading.Lock()

    def start(self, t0_wall: float, plan_phases: Iterable[Any]) -> None:
        """The run's shared t0 and the plan's phase windows (``name``, ``start_s``, ``end_s``)."""
        with self._lock:
            self.spans = [(t0_wall + float(p.start_s), t0_wall + float(p.end_s))
                          for p in plan_phases if str(p.name) in self.phases]
            self.t0_wall = t0_wall

    # ---- input ------------------------------------------------------------------------------------
    def add(self, series: str, wall_s: float, value: float) -> None:
        st = self._state[series]
        with self._lock:
            if self.t0_wall is None:
                return
            if st.first_wall is None:
                st.first_wall = wall_s
            st.bins.add((wall_s - self.t0_wall) / 3600.0, float(value))

    def _in_drift_phase(self, wall_s: float) -> bool:
        return any(a <= wall_s < b for a, b in self.spans)

    def on_interval(self, now_s: float, hs: HistogramSet, counters: Counters) -> list[Point]:
        """This interval's latency and error values (drift phases only), then an evaluation."""
        phases = [p for p in self.phases if p in hs.phases()]
        for sid, metric, pct in _LATENCY:
            dense = _dense(hs, metric, phases)
            if dense is not None:
                value = hdr().dense_percentile_s(dense, pct)
                if value is not None:
                    self.add(sid, now_s, value)
        requests = counters.total(C_REQUESTS, self.phases)
        if requests:
            self.add("error_rate", now_s, sum(counters.errors(self.phases).values()) / requests)
        return self.evaluate(now_s)

    def observe_points(self, points: Iterable[Point]) -> None:
        """Server-scrape (``llm_server``) and GPU (``llm_gpu``) points passing to the sinks."""
        for p in points:
            wall = p.time_ns / 1e9
            if not self._in_drift_phase(wall):  # e.g. a warmup ramp filling the KV cache is no leak
                continue
            if p.measurement == schema.SERVER.name:
                kv = p.fields.get(schema.SF_KV_CACHE_USAGE.name)
                if kv is not None:
                    self.add("kv_cache_usage", wall, float(kv))
                waiting = p.fields.get(schema.SF_WAITING.name)
                if waiting is not None:
                    self.add("server_waiting", wall, float(waiting))
            elif p.measurement == schema.GPU.name:
                fb = p.fields.get(schema.GF_FB_USED.name)
                if fb is not None:
                    self.add("gpu_fb_used_mib", wall, float(fb))

    def tap(self, telemetry: Any) -> DriftTap:
        """The object to hand the server-metrics scrape: observes its points, forwards them."""
        return DriftTap(self, telemetry)

    # ---- judgement --------------------------------------------------------------------------------
    def _judge(self, st: _State) -> bool:
        with self._lock:
            if st.bins.values < self.min_points:
                return False
            t, y = st.bins.arrays()
        trend = fit_trend(t, y, self.confidence)
        st.last_trend = trend
        if (trend is None or trend.effective_df < MIN_EFFECTIVE_DF or trend.ci_lo_per_h <= 0
                or trend.rise_fraction(st.spec.floor) < self.min_rise):
            return False
        strict = fit_trend(t, y, FLAG_CONFIDENCE)
        return strict is not None and strict.ci_lo_per_h > 0

    def evaluate(self, now_s: float) -> list[Point]:
        out: list[Point] = []
        for st in self._state.values():
            drifting = self._judge(st)
            if drifting and st.streak == 0:
                st.streak_since = now_s
            st.streak = st.streak + 1 if drifting else 0
            span = now_s - (st.first_wall if st.first_wall is not None else now_s)
            if (st.streak >= self.persist and now_s - st.streak_since >= PERSIST_FRACTION * span
                    and st.flagged_at_s is None):
                st.flagged_at_s = now_s - (self.t0_wall or now_s)
                out.append(self._event(st, now_s))
        return out

    def _event(self, st: _State, now_s: float) -> Point:
        trend = st.last_trend
        assert trend is not None and st.first_wall is not None
        start = st.first_wall
        tags = dict(self.run_tags)
        tags[schema.T_PHASE.name] = self.phases[-1] if self.phases else ""  # the (last) drift phase
        tags[schema.T_EVENT.name] = schema.EVENT_DRIFT
        tags[schema.T_OBJECTIVE.name] = st.spec.id
        min_slope = self.min_rise * max(abs(trend.start), st.spec.floor) / max(trend.span_h, 1e-9)
        return Point(schema.RUN_EVENT.name, tags, {
            schema.EF_END_MS.name: float(int(now_s * 1000)),
            schema.EF_DURATION.name: max(0.0, now_s - start),
            schema.EF_VALUE.name: trend.slope_per_h,
            schema.EF_THRESHOLD.name: min_slope,
        }, int(start * 1e9))

    def close(self, now_s: float) -> list[Point]:
        """Run end: a final evaluation (the summary's fits); drift events for series drifting now."""
        out: list[Point] = []
        for st in self._state.values():
            if self._judge(st) and st.flagged_at_s is None:
                st.flagged_at_s = now_s - (self.t0_wall or now_s)
                out.append(self._event(st, now_s))
        return out

    # ---- a master restart -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """JSON-safe state for a checkpoint: per series with values, its bins (<= ``max_bins``),
        streak, flag and last fit.  The configuration (phases, thresholds) comes from the scenario."""
        with self._lock:
            series = {
                sid: {"bins": st.bins.state(), "streak": st.streak, "streak_since": st.streak_since,
                      "flagged_at_s": st.flagged_at_s, "first_wall": st.first_wall,
                      "last_trend": asdict(st.last_trend) if st.last_trend is not None else None}
                for sid, st in self._state.items() if st.bins.values
            }
        return {"series": series}

    def restore(self, state: Any) -> None:
        """Back to a :meth:`state` (a resumed run; after :meth:`start`): the trends continue.

        ValueError (pydantic's ValidationError is one) when ``state`` is not such a state; then
        nothing changes."""
        parsed = _DriftState.model_validate(state)
        unknown = sorted(set(parsed.series) - set(self._state))
        if unknown:
            raise ValueError(f"unknown drift series {', '.join(unknown)}")
        restored: dict[str, _State] = {}
        for sid, old in self._state.items():  # every series, in SERIES order (the summary's)
            st = restored[sid] = _State(old.spec, BinnedSeries(old.bins.max_bins))
            ss = parsed.series.get(sid)
            if ss is None:
                continue
            st.bins = BinnedSeries.from_state(ss.bins, old.bins.max_bins)
            st.streak, st.streak_since = ss.streak, ss.streak_since
            st.flagged_at_s, st.first_wall = ss.flagged_at_s, ss.first_wall
            st.last_trend = Trend(**ss.last_trend.model_dump()) if ss.last_trend is not None else None
        with self._lock:
            self._state = restored

    def summary(self) -> dict[str, Any]:
        """The summary's ``drift`` section: every series with values, its fit, and the flagged ones."""
        series: dict[str, Any] = {}
        for sid, st in self._state.items():
            if st.bins.values == 0:
                continue
            tr = st.last_trend
            row: dict[str, Any] = {"unit": st.spec.unit, "description": st.spec.description,
                                   "values": st.bins.values, "bins": len(st.bins)}
            if tr is not None:
                row.update({
                    "span_h": tr.span_h, "slope_per_h": tr.slope_per_h,
                    "ci_lo_per_h": tr.ci_lo_per_h, "ci_hi_per_h": tr.ci_hi_per_h,
                    "fitted_start": tr.start, "fitted_end": tr.end,
                    "rise_fraction": tr.rise_fraction(st.spec.floor),
                    "residual_autocorrelation": tr.autocorrelation, "effective_df": tr.effective_df,
                })
            row["drifting"] = st.flagged_at_s is not None
            row["flagged_at_s"] = st.flagged_at_s
            series[sid] = row
        return {
            "phases": list(self.phases),
            "confidence": self.confidence,
            "min_rise_fraction": self.min_rise,
            "min_points": self.min_points,
            "series": series,
            "flagged": [sid for sid, st in self._state.items() if st.flagged_at_s is not None],
        }


class DriftTap:
    """Stands in for the telemetry given to the server-metrics scrape (its thread calls ``write_points``)."""

    def __init__(self, detector: DriftDetector, telemetry: Any) -> None:
        self._detector = detector
        self._telemetry = telemetry

    def write_points(self, points: list[Point]) -> None:
        try:
            self._detector.observe_points(points)
        except Exception:  # never lose the points because of the detector
            import logging

            logging.getLogger(__name__).exception("drift: observing server points failed")
        self._telemetry.write_points(points)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._telemetry, name)


def _dense(hs: HistogramSet, metric: str, phases: Sequence[str]) -> IntArr | None:
    total: IntArr | None = None
    for phase in phases:
        for cls in hs.classes():
            h = hs.get(metric, phase, cls)
            if h is None or not h.get_total_count():
                continue
            c = hdr().counts(h)
            total = c.copy() if total is None else total + c
    return total


__all__ = [
    "FLAG_CONFIDENCE", "MIN_EFFECTIVE_DF", "MIN_POINTS", "MIN_RISE", "PERSIST", "PERSIST_FRACTION", "SERIES",
    "DriftDetector", "DriftTap", "SeriesSpec", "drift_phases",
]
