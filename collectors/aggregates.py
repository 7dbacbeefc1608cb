"""Interval aggregates: merged HDR histograms + request counters -> latency/throughput/error points.

Workers count every finished request into :class:`IntervalCounters` (per phase x class:
requests, ok, errors by class, good, tokens) and ship ``encode_and_reset()`` with their
histograms; the master merges both and calls :meth:`AggregateBuilder.points` every
``aggregate_interval_s``.  Percentiles always come from the merged histograms (never averaged).

Goodput follows vLLM: a request is *good* when it succeeded and meets every SLO threshold
given (TTFT, TPOT, E2E; a missing TPOT — fewer than 2 tokens — passes the TPOT limit); with no
thresholds every ok request is good.  ``bad_fraction = 1 - good/requests`` counts errors as bad.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from collectors import schema
from collectors.histograms import HistogramSet, summarize
from collectors.point import Point
from collectors.records import RequestRecord

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
_COUNTER_NAMES = ("requests", "ok", "errors", "good", "output_tokens", "prompt_tokens")


@dataclass(frozen=True, slots=True)
class GoodputSLO:
    """Per-request SLO thresholds in seconds (None: not part of the goodput test)."""

    ttft_s: float | None = None
    tpot_s: float | None = None
    e2e_s: float | None = None

    def is_good(self, rec: RequestRecord) -> bool:
        if not rec.ok:
            return False
        if self.ttft_s is not None:
            ttft = rec.ttft_s
            if ttft is None or ttft > self.ttft_s:
                return False
        if self.tpot_s is not None:
            tpot = rec.tpot_s
            if tpot is not None and tpot > self.tpot_s:
                return False
        if self.e2e_s is not None:
            e2e = rec.e2e_s
            if e2e is None or e2e > self.e2e_s:
                return False
        return True


class IntervalCounters:
    """Request counts per (phase, class), mergeable across workers (JSON/msgpack-safe encoding)."""

    __slots__ = ("_c", "_err")

    def __init__(self) -> None:
        self._c: dict[tuple[str, str], list[float]] = {}
        self._err: dict[tuple[str, str, str], float] = {}

    def add(self, rec: RequestRecord, slo: GoodputSLO | None = None) -> None:
        key = (rec.phase, rec.traffic_class)
        c = self._c.get(key)
        if c is None:
            c = self._c[key] = [0.0] * len(_COUNTER_NAMES)
        c[0] += 1
        if rec.ok:
            c[1] += 1
            if slo is None or slo.is_good(rec):
                c[3] += 1
        else:
            c[2] += 1
            ek = (rec.phase, rec.traffic_class, rec.error.value if rec.error is not None else "unknown")
            self._err[ek] = self._err.get(ek, 0.0) + 1
        c[4] += rec.n_output_tokens
        if rec.prompt_tokens is not None:
            c[5] += rec.prompt_tokens

    # ---- shipping and merging --------------------------------------------------------------
    def encode(self) -> dict[str, list[float]]:
        """``{"c|phase|class": [requests, ok, errors, good, output, prompt], "e|phase|class|error": [n]}``."""
        out: dict[str, list[float]] = {f"c|{p}|{c}": list(v) for (p, c), v in self._c.items()}
        out.update({f"e|{p}|{c}|{e}": [n] for (p, c, e), n in self._err.items()})
        return out

    def encode_and_reset(self) -> dict[str, list[float]]:
        out = self.encode()
        self._c.clear()
        self._err.clear()
        return out

    def merge_encoded(self, encoded: Mapping[str, list[float]]) -> None:
        for key, values in encoded.items():
            kind, rest = key.split("|", 1)
            if kind == "c":
                p, c = rest.split("|", 1)
                mine = self._c.setdefault((p, c), [0.0] * len(_COUNTER_NAMES))
                for i, v in enumerate(values[: len(_COUNTER_NAMES)]):
                    mine[i] += v
            elif kind == "e":
                p, c, e = rest.split("|", 2)
                self._err[(p, c, e)] = self._err.get((p, c, e), 0.0) + values[0]

    def merge(self, other: IntervalCounters) -> None:
        self.merge_encoded(other.encode())

    # ---- reading ---------------------------------------------------------------------------
    def get(self, phase: str, cls: str) -> dict[str, float]:
        return dict(zip(_COUNTER_NAMES, self._c.get((phase, cls), [0.0] * len(_COUNTER_NAMES)), strict=True))

    def groups(self) -> list[tuple[str, str]]:
        return sorted(self._c)

    def errors(self) -> dict[tuple[str, str, str], float]:
        return dict(sorted(self._err.items()))

    def total(self, name: str = "requests") -> float:
        i = _COUNTER_NAMES.index(name)
        return sum(v[i] for v in self._c.values())


class AggregateBuilder:
    """Builds the master's interval points; keeps the run's cumulative histograms."""

    def __init__(self, *, run_id: str, scenario: str, endpoint: str = "", model: str = "",
                 cumulative: bool = True) -> None:
        self._tags = schema.run_tags(run_id=run_id, scenario=scenario, endpoint=endpoint, model=model)
        self.cumulative = HistogramSet() if cumulative else None

    def _latency_points(self, hs: HistogramSet, window: str, now_ns: int) -> list[Point]:
        out = []
        for metric, phase, cls in hs.keys():  # noqa: SIM118 (HistogramSet is not iterable)
            h = hs.get(metric, phase, cls)
            if h is None or not h.get_total_count():
                continue
            summary = summarize(h)
            fields = {_SUMMARY_FIELDS[k]: v for k, v in summary.items() if k in _SUMMARY_FIELDS}
            tags = dict(self._tags)
            tags.update({schema.T_PHASE.name: phase, schema.T_CLASS.name: cls,
                         schema.T_METRIC.name: metric, schema.T_WINDOW.name: window})
            out.append(Point(schema.LATENCY.name, tags, fields, now_ns))
        return out

    def points(self, merged: HistogramSet, counters: IntervalCounters | None, *, interval_s: float,
               now_ns: int) -> list[Point]:
        """Latency (interval and cumulative), throughput and error points for one interval."""
        out = self._latency_points(merged, "interval", now_ns)
        if self.cumulative is not None:
            self.cumulative.merge(merged)
            out += self._latency_points(self.cumulative, "cumulative", now_ns)
        if counters is None:
            return out
        dt = interval_s if interval_s > 0 else 1.0
        for phase, cls in counters.groups():
            c = counters.get(phase, cls)
            n = c["requests"]
            fields = {
                schema.F_INTERVAL.name: float(interval_s),
                schema.F_REQUESTS.name: n,
                schema.F_OK_REQUESTS.name: c["ok"],
                schema.F_ERRORS.name: c["errors"],
                schema.F_GOOD.name: c["good"],
                schema.F_REQ_RATE.name: n / dt,
                schema.F_OUT_TOK.name: c["output_tokens"],
                schema.F_OUT_TOK_RATE.name: c["output_tokens"] / dt,
                schema.F_PROMPT_TOK.name: c["prompt_tokens"],
                schema.F_GOODPUT.name: c["good"] / dt,
                schema.F_BAD_FRACTION.name: (1.0 - c["good"] / n) if n else 0.0,
            }
            tags = dict(self._tags)
            tags.update({schema.T_PHASE.name: phase, schema.T_CLASS.name: cls})
            out.append(Point(schema.THROUGHPUT.name, tags, fields, now_ns))
        for (phase, cls, err), n in counters.errors().items():
            tags = dict(self._tags)
            tags.update({schema.T_PHASE.name: phase, schema.T_CLASS.name: cls, schema.T_ERROR.name: err})
            out.append(Point(schema.ERRORS.name, tags,
                             {schema.F_COUNT.name: n, schema.F_INTERVAL.name: float(interval_s)}, now_ns))
        return out


__all__ = ["AggregateBuilder", "GoodputSLO", "IntervalCounters"]
