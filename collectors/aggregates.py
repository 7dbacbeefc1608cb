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

from collections.abc import Callable

from hdrh.histogram import HdrHistogram

from collectors import schema
from collectors.counters import (
    C_GOOD,
    C_OK,
    C_OUTPUT_TOKENS,
    C_PROMPT_TOKENS,
    C_REQUESTS,
    Counters,
)
from collectors.hdr_read import summarize_groups
from collectors.histograms import HistogramSet
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


def _fields(summary: dict[str, float]) -> dict[str, float]:
    return {_SUMMARY_FIELDS[k]: v for k, v in summary.items() if k in _SUMMARY_FIELDS}


class AggregateBuilder:
    """Builds the master's interval points; keeps the run's cumulative histograms."""

    def __init__(self, *, run_id: str, scenario: str, endpoint: str = "", model: str = "",
                 cumulative: bool = True) -> None:
        self._tags = schema.run_tags(run_id=run_id, scenario=scenario, endpoint=endpoint, model=model)
        self.cumulative = HistogramSet() if cumulative else None

    def _latency_points(self, hs: HistogramSet, groups: list[tuple[str, str, list[str]]], window: str,
                        now_ns: int, emit: list[set[str]] | None = None) -> list[Point]:
        """Per (metric, phase, classes) group: a point per class with values (of those in ``emit``,
        default all) and the phase point (the group's classes merged), all read in one numpy pass
        (``summarize_groups``)."""
        members: list[list[tuple[str, HdrHistogram]]] = [
            [(c, h) for c, h in ((c, hs.get(metric, phase, c)) for c in classes) if h is not None]
            for metric, phase, classes in groups]
        summaries = summarize_groups([[h for _, h in mem] for mem in members])
        out: list[Point] = []
        for k, ((metric, phase, _), mem, (per_class, merged)) in enumerate(zip(groups, members, summaries,
                                                                              strict=True)):
            for (cls, _), summary in zip(mem, per_class, strict=True):
                if not summary["count"] or (emit is not None and cls not in emit[k]):
                    continue
                tags = dict(self._tags)
                tags.update({schema.T_PHASE.name: phase, schema.T_CLASS.name: cls,
                             schema.T_METRIC.name: metric, schema.T_WINDOW.name: window})
                out.append(Point(schema.LATENCY.name, tags, _fields(summary), now_ns))
            if merged["count"]:
                tags = dict(self._tags)
                tags.update({schema.T_PHASE.name: phase, schema.T_METRIC.name: metric,
                             schema.T_WINDOW.name: window})
                out.append(Point(schema.PHASE_LATENCY.name, tags, _fields(merged), now_ns))
        return out

    def points(self, merged: HistogramSet, counters: Counters, *, interval_s: float, now_ns: int,
               cumulative: HistogramSet | None = None, pause: Callable[[], None] | None = None) -> list[Point]:
        """Latency per class and per phase (interval and, for the keys that changed, cumulative),
        throughput and error points.  ``cumulative``: the caller's run-so-far histograms (this
        interval already merged in); without it this builder keeps its own.  ``pause`` is called
        between the interval and the cumulative part (the caller yields to its event loop there)."""
        by_group: dict[tuple[str, str], list[str]] = {}
        for metric, phase, cls in merged:  # sorted
            by_group.setdefault((metric, phase), []).append(cls)
        groups = [(m, p, classes) for (m, p), classes in by_group.items()]
        out = self._latency_points(merged, groups, "interval", now_ns)
        if pause is not None:
            pause()
        if cumulative is None:
            cumulative = self.cumulative
            if cumulative is not None and groups:
                cumulative.merge(merged)
        if cumulative is not None and groups:
            # class points for the classes that changed; the phase point merges every class of the run
            out += self._latency_points(cumulative, [(m, p, cumulative.classes_of(m, p)) for m, p, _ in groups],
                                        "cumulative", now_ns, emit=[set(c) for _, _, c in groups])
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
