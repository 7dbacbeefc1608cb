"""Interval aggregates: merged HDR histograms + merged request counters -> latency/throughput/error points.

The master merges every worker's histogram and counter deltas (``collectors.counters.Counters``)
and calls :meth:`AggregateBuilder.points` every ``aggregate_interval_s`` with *that interval's*
merged histograms and counters.  Percentiles always come from merged histograms (never averaged),
read with the vectorised readers of ``collectors.histograms`` (tens of microseconds per histogram),
and the ``cumulative`` window is written only for the (metric, phase, class) keys that received
values in the interval (the others did not change), so the cost of an interval grows with the
traffic of that interval, not with the number of phases and classes of the run.

Goodput: the worker counts a request as ``good`` by the rule in ``loadgen/goodput.py``
(docs/metrics.md); ``bad_fraction = 1 - good/requests`` counts errors as bad.
"""

from __future__ import annotations

from collectors import schema
from collectors.counters import (
    C_GOOD,
    C_OK,
    C_OUTPUT_TOKENS,
    C_PROMPT_TOKENS,
    C_REQUESTS,
    Counters,
)
from collectors.histograms import HistogramSet, summarize
from collectors.point import Point

_SUMMARY_FIELDS = {
    "count": schema.F_COUNT.name,
    "mean": schema.F_MEAN.name,
    "min": schema.F_MIN.name,
    "max": schema.F_MAX.name,
    "p50": schema.F_P50.name,
    "p90": schema.F_P90.name,
    "p95": schema.F_P95.name,
    "p99": schema.F_P99.name,
    "p99_9": schema.F_P99_9.name,
}


class AggregateBuilder:
    """Builds the master's interval points; keeps the run's cumulative histograms."""

    def __init__(self, *, run_id: str, scenario: str, endpoint: str = "", model: str = "",
                 cumulative: bool = True) -> None:
        self._tags = schema.run_tags(run_id=run_id, scenario=scenario, endpoint=endpoint, model=model)
        self.cumulative = HistogramSet() if cumulative else None

    def _latency_point(self, hs: HistogramSet, key: tuple[str, str, str], window: str, now_ns: int) -> Point | None:
        metric, phase, cls = key
        h = hs.get(metric, phase, cls)
        if h is None or not h.get_total_count():
            return None
        fields = {_SUMMARY_FIELDS[k]: v for k, v in summarize(h).items() if k in _SUMMARY_FIELDS}
        tags = dict(self._tags)
        tags.update({schema.T_PHASE.name: phase, schema.T_CLASS.name: cls,
                     schema.T_METRIC.name: metric, schema.T_WINDOW.name: window})
        return Point(schema.LATENCY.name, tags, fields, now_ns)

    def _phase_point(self, hs: HistogramSet, metric: str, phase: str, window: str, now_ns: int) -> Point | None:
        h = hs.combined(metric, phase)
        if not h.get_total_count():
            return None
        fields = {_SUMMARY_FIELDS[k]: v for k, v in summarize(h).items() if k in _SUMMARY_FIELDS}
        tags = dict(self._tags)
        tags.update({schema.T_PHASE.name: phase, schema.T_METRIC.name: metric, schema.T_WINDOW.name: window})
        return Point(schema.PHASE_LATENCY.name, tags, fields, now_ns)

    def points(self, merged: HistogramSet, counters: Counters, *, interval_s: float, now_ns: int) -> list[Point]:
        """Latency per class and per phase (interval and, for the keys that changed, cumulative),
        throughput and error points."""
        out: list[Point] = []
        changed = list(merged.keys())
        metric_phases = sorted({(m, p) for m, p, _ in changed})
        for key in changed:
            p = self._latency_point(merged, key, "interval", now_ns)
            if p is not None:
                out.append(p)
        for metric, phase in metric_phases:
            p = self._phase_point(merged, metric, phase, "interval", now_ns)
            if p is not None:
                out.append(p)
        if self.cumulative is not None:
            self.cumulative.merge(merged)
            for key in changed:
                p = self._latency_point(self.cumulative, key, "cumulative", now_ns)
                if p is not None:
                    out.append(p)
            for metric, phase in metric_phases:
                p = self._phase_point(self.cumulative, metric, phase, "cumulative", now_ns)
                if p is not None:
                    out.append(p)
        dt = interval_s if interval_s > 0 else 1.0
        for phase, cls in counters.groups():
            n = float(counters.get(phase, cls, C_REQUESTS))
            ok = float(counters.get(phase, cls, C_OK))
            good = float(counters.get(phase, cls, C_GOOD))
            out_tok = float(counters.get(phase, cls, C_OUTPUT_TOKENS))
            errors = float(sum(counters.errors([phase], cls).values()))
            if not n and not errors:
                continue  # only drops or lost arrivals in this group: no finished request
            fields = {
                schema.F_INTERVAL.name: float(interval_s),
                schema.F_REQUESTS.name: n,
                schema.F_OK_REQUESTS.name: ok,
                schema.F_ERRORS.name: errors,
                schema.F_GOOD.name: good,
                schema.F_REQ_RATE.name: n / dt,
                schema.F_OUT_TOK.name: out_tok,
                schema.F_OUT_TOK_RATE.name: out_tok / dt,
                schema.F_PROMPT_TOK.name: float(counters.get(phase, cls, C_PROMPT_TOKENS)),
                schema.F_GOODPUT.name: good / dt,
                schema.F_BAD_FRACTION.name: (1.0 - good / n) if n else 0.0,
            }
            tags = dict(self._tags)
            tags.update({schema.T_PHASE.name: phase, schema.T_CLASS.name: cls})
            out.append(Point(schema.THROUGHPUT.name, tags, fields, now_ns))
            for err, count in counters.errors([phase], cls).items():
                etags = dict(tags)
                etags[schema.T_ERROR.name] = err
                out.append(Point(schema.ERRORS.name, etags,
                                 {schema.F_COUNT.name: float(count), schema.F_INTERVAL.name: float(interval_s)},
                                 now_ns))
        return out


__all__ = ["AggregateBuilder"]
