"""Live SLO evaluation in the master: rolling windows over per-interval merged histograms.

Every aggregate interval the master hands :meth:`LiveSlo.on_interval` that interval's merged
HDR histograms and counters.  For each judged phase present in the interval it keeps a *slice*
(the sparse HDR counts of each objective's metric, the request and error counts) and, per
window (default 1 min and 5 min), sums the slices whose interval ended inside the window:

- ``value``: the objective's percentile over the window's merged counts (HDR semantics, the
  same as the end-of-run verdict), or errors / requests for ``error_rate``;
- ``bad_fraction``: values above the per-request threshold / values (exact from the HDR counts:
  a value is above when the lowest value of its HDR bucket is above the threshold; resolution
  0.1 %); for ``error_rate``: errors / requests;
- ``burn_rate``: bad_fraction / budget, budget = 1 - percentile/100 (p99 -> 0.01) or
  ``max_error_rate``;
- ``violating``: value > threshold with at least ``min_requests`` in the window.

The first window opens and closes *violations* (per objective x phase): a violation starts at
the start of the first interval whose window violates and ends at the end of the first interval
whose window no longer does (or when the phase has no more requests, or at run end).  Its peak
is the highest window value while it was open.  Warmup/cooldown phases (not in the judged
phases) and generator-invalid intervals are not judged: they add no slice.

Pure: no clock, no I/O.  Outputs are :class:`collectors.point.Point` lists (``llm_slo``,
``llm_slo_count``, ``run_event``) and :class:`Violation` records for ``summary.json``.
"""

from __future__ import annotations

import base64
import logging
import math
import zlib
from collections import deque
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from collectors import schema
from collectors.counters import C_REQUESTS, Counters
from collectors.histograms import HistogramSet
from collectors.point import Point
from loadgen.hdr_counts import IntArr, hdr
from loadgen.slo_objectives import (
    LiveObjective,
    Violation,
    WindowState,
    fmt_value,
    violation_point,
    window_label,
)

log = logging.getLogger(__name__)

# ---- state ---------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Slice:
    end_s: float
    dist: dict[str, tuple[IntArr, IntArr]]  # objective id -> sparse HDR counts (latency objectives)
    requests: int
    errors: int


@dataclass(slots=True)
class _Window:
    """Running sums over the slices inside one window (added when they come, subtracted when they leave)."""

    seconds: float
    slices: deque[_Slice] = field(default_factory=deque)
    dense: dict[str, IntArr] = field(default_factory=dict)  # objective id -> HDR counts
    requests: int = 0
    errors: int = 0

    def add(self, sl: _Slice) -> None:
        self.slices.append(sl)
        self._apply(sl, 1)

    def expire(self, end_s: float) -> None:
        since = end_s - self.seconds + 1e-9
        while self.slices and self.slices[0].end_s <= since:
            self._apply(self.slices.popleft(), -1)

    def _apply(self, sl: _Slice, sign: int) -> None:
        self.requests += sign * sl.requests
        self.errors += sign * sl.errors
        for oid, (idx, cnt) in sl.dist.items():
            d = self.dense.get(oid)
            if d is None:
                d = self.dense[oid] = np.zeros(hdr().n, dtype=np.int64)
            d[idx] += sign * cnt  # idx holds distinct indices


@dataclass(slots=True)
class _PhaseState:
    windows: list[_Window]
    open: dict[str, Violation] = field(default_factory=dict)
    last_end_s: float = 0.0


class LiveSlo:
    """Rolling-window SLO state of one run (master side)."""

    def __init__(
        self,
        objectives: Sequence[LiveObjective],
        *,
        windows_s: Sequence[float],
        judged_phases: Iterable[str],
        run_tags: Mapping[str, str],
        min_requests: int = 10,
        phase_starts: Mapping[str, float] | None = None,
    ) -> None:
        """``phase_starts``: wall start of each phase; a violation never starts before its phase."""
        self.objectives = list(objectives)
        self.phase_starts = dict(phase_starts or {})
        self.windows_s = [float(w) for w in windows_s]
        if not self.windows_s:
            raise ValueError("at least one window")
        self.judged_phases = set(judged_phases)
        self.run_tags = dict(run_tags)
        self.min_requests = int(min_requests)
        self.violations: list[Violation] = []  # closed and open, in start order
        self.last: dict[tuple[str, str, str], WindowState] = {}  # (objective, phase, window label)
        self._phases: dict[str, _PhaseState] = {}
        self._prev_end_s: float | None = None
        self._masks = {o.id: hdr().mask_above(o.threshold) for o in self.objectives if o.metric is not None}

    @property
    def enabled(self) -> bool:
        return bool(self.objectives)

    # ---- per interval ------------------------------------------------------------------------------
    def on_interval(self, end_s: float, hs: HistogramSet, counters: Counters, *, judged: bool = True,
                    interval_s: float | None = None, ended: Container[str] | None = None) -> list[Point]:
        """Fold in one interval (ended at wall time ``end_s``); returns the points to write.

        ``ended``: phases whose plan window is over.  A phase with no requests in this interval
        ends its open violations (at its last judged interval) only once it is in ``ended``
        (None: at once), so a quiet interval of a low-rate phase does not split a violation.
        """
        start_s = self._prev_end_s if self._prev_end_s is not None else end_s - (interval_s or 0.0)
        if interval_s is not None:
            start_s = end_s - interval_s
        self._prev_end_s = end_s
        if not self.enabled:
            return []
        points: list[Point] = []
        present = self._present_phases(hs, counters)
        # phases over with nothing this interval: their open violations end where their data ended
        for phase, st in self._phases.items():
            if phase not in present and (ended is None or phase in ended):
                points += self._close_phase(phase, st, st.last_end_s)
        if not judged:
            return points
        for phase in sorted(present):
            if phase not in self._phases:
                self._phases[phase] = _PhaseState([_Window(w) for w in self.windows_s])
            st = self._phases[phase]
            sl = self._slice(end_s, hs, counters, phase)
            for win in st.windows:
                win.add(sl)
                win.expire(end_s)
            st.last_end_s = end_s
            points += self._count_points(end_s, hs, counters, phase)
            for w_i, (w, win) in enumerate(zip(self.windows_s, st.windows, strict=True)):
                for obj in self.objectives:
                    ws = self._window_state(win, obj)
                    self.last[(obj.id, phase, window_label(w))] = ws
                    points.append(self._slo_point(end_s, phase, obj, w, ws))
                    if w_i == 0:
                        points += self._track(st, phase, obj, ws, start_s, end_s, w)
        return points

    def close(self, end_s: float) -> list[Point]:
        """Run end: every open violation ends (at its phase's last judged interval)."""
        points: list[Point] = []
        for phase, st in self._phases.items():
            points += self._close_phase(phase, st, st.last_end_s or end_s)
        return points

    def summary(self, t0_wall: float | None = None) -> list[dict[str, Any]]:
        """``summary.json`` ``slo_violations``."""
        return [v.to_dict(t0_wall) for v in sorted(self.violations, key=lambda v: (v.start_s, v.objective))]

    # ---- checkpoints (loadgen/checkpoint.py) ---------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """JSON-safe state: violations (open ones by index) and each phase's window slices."""
        index = {id(v): i for i, v in enumerate(self.violations)}
        phases: dict[str, Any] = {}
        for phase, st in self._phases.items():
            longest = max(st.windows, key=lambda w: w.seconds)  # holds every live slice
            phases[phase] = {
                "last_end_s": st.last_end_s,
                "open": [index[id(v)] for v in st.open.values()],
                "slices": [{"end_s": sl.end_s, "requests": sl.requests, "errors": sl.errors,
                            "dist": {k: [_b64(i), _b64(c)] for k, (i, c) in sl.dist.items()}}
                           for sl in longest.slices],
            }
        return {"prev_end_s": self._prev_end_s, "phases": phases,
                "violations": [{f: getattr(v, f) for f in Violation.__slots__} for v in self.violations]}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Back to a :meth:`state` (a resumed run: the windows refill as their slices expire)."""
        self._prev_end_s = state.get("prev_end_s")
        self.violations = [Violation(**v) for v in state.get("violations", [])]
        self._phases = {}
        for phase, ps in (state.get("phases") or {}).items():
            st = _PhaseState([_Window(w) for w in self.windows_s], last_end_s=float(ps["last_end_s"]))
            for d in ps["slices"]:
                sl = _Slice(float(d["end_s"]), {k: (_unb64(i), _unb64(c)) for k, (i, c) in d["dist"].items()},
                            int(d["requests"]), int(d["errors"]))
                for win in st.windows:
                    win.add(sl)
            for win in st.windows:
                win.expire(st.last_end_s)
            st.open = {self.violations[i].objective: self.violations[i] for i in ps["open"]}
            self._phases[phase] = st

    # ---- helpers ---------------------------------------------------------------------------------------
    def _present_phases(self, hs: HistogramSet, counters: Counters) -> set[str]:
        phases = set(hs.phases()) | set(counters.phases())
        return {p for p in phases if p in self.judged_phases
                and (counters.total(C_REQUESTS, [p]) > 0 or any(
                    o.metric is not None and hs.count(o.metric, p) > 0 for o in self.objectives))}

    def _slice(self, end_s: float, hs: HistogramSet, counters: Counters, phase: str) -> _Slice:
        H = hdr()
        dist: dict[str, tuple[IntArr, IntArr]] = {}
        for obj in self.objectives:
            if obj.metric is not None:
                dist[obj.id] = H.sparse(hs.combined(obj.metric, phase))
        requests = counters.total(C_REQUESTS, [phase])
        errors = sum(counters.errors([phase]).values())
        return _Slice(end_s, dist, requests, errors)

    def _window_state(self, win: _Window, obj: LiveObjective) -> WindowState:
        if obj.metric is None:
            requests, errors = win.requests, win.errors
            frac = errors / requests if requests else 0.0
            burn = frac / obj.budget if obj.budget > 0 else (0.0 if errors == 0 else None)
            value: float | None = frac if requests else None
            violating = requests >= self.min_requests and frac > obj.threshold
            return WindowState(value, frac, burn, requests, violating)
        dense = win.dense.get(obj.id)
        total = int(dense.sum()) if dense is not None else 0
        if dense is None or total == 0:
            return WindowState(None, 0.0, 0.0, 0, False)
        bad = int(dense[self._masks[obj.id]].sum())
        frac = bad / total
        assert obj.percentile is not None
        value = hdr().dense_percentile_s(dense, obj.percentile)
        violating = total >= self.min_requests and value is not None and value > obj.threshold
        return WindowState(value, frac, frac / obj.budget if obj.budget > 0 else None, total, violating)

    def _tags(self, phase: str, **extra: str) -> dict[str, str]:
        tags = dict(self.run_tags)
        tags[schema.T_PHASE.name] = phase
        tags.update({k: v for k, v in extra.items() if v})
        return tags

    def _slo_point(self, end_s: float, phase: str, obj: LiveObjective, window_s: float, ws: WindowState) -> Point:
        fields = {
            schema.SF_SLO_THRESHOLD.name: obj.threshold,
            schema.SF_SLO_BAD_FRACTION.name: ws.bad_fraction,
            schema.SF_SLO_VIOLATING.name: 1.0 if ws.violating else 0.0,
            schema.SF_SLO_REQUESTS.name: float(ws.requests),
        }
        if ws.value is not None:
            fields[schema.SF_SLO_VALUE.name] = ws.value
        if ws.burn_rate is not None and math.isfinite(ws.burn_rate):
            fields[schema.SF_SLO_BURN_RATE.name] = ws.burn_rate
        tags = self._tags(phase, **{schema.T_OBJECTIVE.name: obj.id, schema.T_SLO_WINDOW.name: window_label(window_s)})
        return Point(schema.SLO.name, tags, fields, int(end_s * 1e9))

    def _count_points(self, end_s: float, hs: HistogramSet, counters: Counters, phase: str) -> list[Point]:
        """``llm_slo_count``: good/total per objective x class of this interval (Prometheus counters)."""
        H = hdr()
        out: list[Point] = []
        classes = sorted(set(hs.classes()) | set(counters.classes([phase])))
        for obj in self.objectives:
            for cls in classes:
                if obj.metric is None:
                    total = counters.total(C_REQUESTS, [phase], cls)
                    errors = sum(counters.errors([phase], cls).values())
                    good = total - errors
                else:
                    h = hs.get(obj.metric, phase, cls)
                    if h is None:
                        continue
                    counts = H.counts(h)
                    total = int(h.get_total_count())
                    good = total - int(counts[self._masks[obj.id]].sum())
                if total <= 0:
                    continue
                tags = self._tags(phase, **{schema.T_CLASS.name: cls, schema.T_OBJECTIVE.name: obj.id})
                out.append(Point(schema.SLO_COUNT.name, tags, {
                    schema.SF_SLO_GOOD.name: float(good),
                    schema.SF_SLO_COUNTED.name: float(total),
                    schema.SF_SLO_BUDGET.name: obj.budget,
                }, int(end_s * 1e9)))
        return out

    def _track(self, st: _PhaseState, phase: str, obj: LiveObjective, ws: WindowState,
               start_s: float, end_s: float, window_s: float) -> list[Point]:
        v = st.open.get(obj.id)
        if ws.requests < self.min_requests:
            return []  # too little to judge: the state holds
        if ws.violating and ws.value is not None:
            if v is None:
                start = max(start_s, self.phase_starts.get(phase, start_s))
                v = Violation(obj.id, phase, window_s, start, obj.threshold, obj.unit, ws.value)
                st.open[obj.id] = v
                self.violations.append(v)
                log.warning("SLO violation started: %s in phase %s = %s > %s (window %s)", obj.id, phase,
                            fmt_value(ws.value, obj), fmt_value(obj.threshold, obj), window_label(window_s))
            else:
                v.peak = max(v.peak, ws.value)
            return []
        if v is not None:
            return self._end(st, v, end_s)
        return []

    def _close_phase(self, phase: str, st: _PhaseState, end_s: float) -> list[Point]:
        out: list[Point] = []
        for v in list(st.open.values()):
            out += self._end(st, v, max(end_s, v.start_s))
        return out

    def _end(self, st: _PhaseState, v: Violation, end_s: float) -> list[Point]:
        v.end_s = end_s
        st.open.pop(v.objective, None)
        obj = next(o for o in self.objectives if o.id == v.objective)
        log.warning("SLO violation ended: %s in phase %s after %.1f s, peak %s > %s", v.objective, v.phase,
                    end_s - v.start_s, fmt_value(v.peak, obj), fmt_value(v.threshold, obj))
        return [violation_point(v, self.run_tags)]


def _b64(a: IntArr) -> str:
    """A sparse HDR index or count array, compact in JSON (little-endian int64, zlib, base64)."""
    return base64.b64encode(zlib.compress(np.ascontiguousarray(a, dtype="<i8").tobytes(), 1)).decode("ascii")


def _unb64(text: str) -> IntArr:
    out: IntArr = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype="<i8").astype(np.int64)
    return out


__all__ = ["LiveSlo"]
