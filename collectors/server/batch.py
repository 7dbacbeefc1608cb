"""The effective batch: what the engine actually ran, per phase, from the server-metrics scrape.

Definitions (docs/metrics.md, "Effective batch"):

- ``running`` and ``waiting`` are gauges sampled at each scrape.  Each sample stands for the time
  around it: from half-way since the previous sample to half-way to the next one (the first and
  last samples of the run reach half a period outward).  A phase's statistics weigh every value
  by the seconds of the phase it stands for.
- ``tokens_per_step`` and ``seqs_per_step`` are interval means the scrape computed from counter
  deltas; each stands for the interval between its scrape and the previous one.

Per phase and field: the time-weighted ``mean``, ``p50`` and ``p95`` (the smallest value at or
below which the engine spent that share of the phase's covered time), ``max``, and ``seconds``
covered.  :func:`phase_stats` is the pure reducer; :class:`BatchSamples` collects a run's samples
(appended by the scrape thread, reduced once after the run, never on the load's event loop).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from collectors import schema as s

GAUGE_FIELDS: tuple[str, ...] = (s.SF_RUNNING.name, s.SF_WAITING.name)
INTERVAL_FIELDS: tuple[str, ...] = (s.SF_TOKENS_PER_STEP.name, s.SF_SEQS_PER_STEP.name)
BATCH_FIELDS: tuple[str, ...] = GAUGE_FIELDS + INTERVAL_FIELDS
QUANTILES: tuple[tuple[str, float], ...] = (("p50", 0.50), ("p95", 0.95))

Segment = tuple[float, float, float]  # start_s, end_s, value
Window = tuple[str, float, float]  # name, start_s, end_s


@dataclass(frozen=True, slots=True)
class Stats:
    mean: float
    p50: float
    p95: float
    max: float
    seconds: float

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "p50": self.p50, "p95": self.p95, "max": self.max, "seconds": self.seconds}


def time_weighted(weights: Mapping[float, float]) -> Stats | None:
    """Stats of a value -> seconds mapping (None when it covers no time)."""
    items = sorted((v, w) for v, w in weights.items() if w > 0)
    total = sum(w for _, w in items)
    if total <= 0:
        return None
    qs: dict[str, float] = {}
    for name, q in QUANTILES:
        need, cum = q * total * (1 - 1e-12), 0.0
        for v, w in items:
            cum += w
            if cum >= need:
                qs[name] = v
                break
    return Stats(mean=sum(v * w for v, w in items) / total, p50=qs["p50"], p95=qs["p95"],
                 max=items[-1][0], seconds=total)


def phase_stats(segments: Iterable[Segment], windows: Sequence[Window]) -> dict[str, Stats | None]:
    """Per window: the stats of the piecewise-constant series ``segments`` clipped to the window."""
    acc: dict[str, dict[float, float]] = {name: {} for name, _, _ in windows}
    for start, end, value in segments:
        for name, w0, w1 in windows:
            overlap = min(end, w1) - max(start, w0)
            if overlap > 0:
                bucket = acc[name]
                bucket[value] = bucket.get(value, 0.0) + overlap
    return {name: time_weighted(acc[name]) for name, _, _ in windows}


def gauge_segments(samples: Sequence[tuple[float, float]]) -> list[Segment]:
    """Each ``(t, value)`` sample stands for the time half-way to its neighbours."""
    out: list[Segment] = []
    n = len(samples)
    for i, (t, v) in enumerate(samples):
        before = (t - samples[i - 1][0]) / 2 if i > 0 else None
        after = (samples[i + 1][0] - t) / 2 if i + 1 < n else None
        half_before = before if before is not None else (after if after is not None else 0.0)
        half_after = after if after is not None else half_before
        out.append((t - half_before, t + half_after, v))
    return out


def interval_segments(samples: Sequence[tuple[float, float, float]]) -> list[Segment]:
    """``(t_prev, t, value)`` interval means are already segments."""
    return [(t0, t1, v) for t0, t1, v in samples if t1 > t0]


class BatchSamples:
    """The batch fields of a run's scrapes; :meth:`add` from the scrape thread, read after it stopped."""

    def __init__(self) -> None:
        self._gauges: dict[str, list[tuple[float, float]]] = {f: [] for f in GAUGE_FIELDS}
        self._intervals: dict[str, list[tuple[float, float, float]]] = {f: [] for f in INTERVAL_FIELDS}
        self._last_full_t: float | None = None
        self.scrapes = 0

    def add(self, t: float, fields: Mapping[str, float], *, full: bool = True) -> None:
        """One scrape at wall time ``t`` (s) with its ``llm_server`` fields (summed over models).

        ``full=False``: a gauge-only sample between full scrapes; interval fields (computed by full
        scrapes from counter deltas) stand for the time since the previous *full* scrape.
        """
        for f in GAUGE_FIELDS:
            if f in fields:
                self._gauges[f].append((t, float(fields[f])))
        if not full:
            self.scrapes += 1
            return
        if self._last_full_t is not None:
            for f in INTERVAL_FIELDS:
                if f in fields:
                    self._intervals[f].append((self._last_full_t, t, float(fields[f])))
        self._last_full_t = t
        self.scrapes += 1

    def per_phase(self, windows: Sequence[Window]) -> dict[str, dict[str, dict[str, float]]]:
        """``{phase: {field: stats}}`` for the fields with data in that phase."""
        out: dict[str, dict[str, dict[str, float]]] = {name: {} for name, _, _ in windows}
        series: list[tuple[str, list[Segment]]] = [
            *((f, gauge_segments(v)) for f, v in self._gauges.items()),
            *((f, interval_segments(v)) for f, v in self._intervals.items()),
        ]
        for f, segs in series:
            if not segs:
                continue
            for name, st in phase_stats(segs, windows).items():
                if st is not None:
                    out[name][f] = st.to_dict()
        return out


__all__ = [
    "BATCH_FIELDS",
    "GAUGE_FIELDS",
    "INTERVAL_FIELDS",
    "BatchSamples",
    "Stats",
    "gauge_segments",
    "interval_segments",
    "phase_stats",
    "time_weighted",
]
