"""The live view's JSON: one dict the page (and Locust's extended tab) renders.

Every number is read the way the end-of-run summary reads it: per-phase latency blocks from
:func:`loadgen.report.latency_block` over the master's cumulative merged histograms, request
accounting from the same merged counters, the run-so-far SLO state from :func:`loadgen.slo.judge`.
So a phase's p99 on the page is the number ``summary.json`` will print once nothing more arrives
for that phase.  Rolling-window SLO state comes from :class:`loadgen.slo_live.LiveSlo` when the
master runs one (``slo_source``); otherwise the tiles show the run-so-far value vs the threshold.

``pause`` is called between histogram reads so the gevent loop that sends requests is never held
for long (the web server calls it with ``collectors.loop_yield.yield_to_loop``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from collectors import schema
from collectors.counters import (
    C_CANCELLED,
    C_DROPPED,
    C_GOOD,
    C_LOST_IN_GAP,
    C_OK,
    C_OUTPUT_TOKENS,
    C_REQUESTS,
    Counters,
)
from collectors.histograms import HistogramSet
from loadgen.report import TABLE_METRICS, counts_block, latency_block
from loadgen.reporting.ci import DEFAULT_CONFIDENCE
from loadgen.slo import judge, percentile_ms

SCHEMA = "inferload.live/1"
Pause = Callable[[], None]


def _no_pause() -> None:
    return None


class RunState(Protocol):
    """What the payload reads from the master (``loadgen.locust.master.Coordinator`` has it)."""

    scenario: Any
    plan: Any
    hs: HistogramSet
    counters: Counters
    t0_wall: float
    n_slots: int
    stop_requested_at: float | None
    lost_slots: list[dict[str, Any]]
    cpu_now: dict[str, float]
    cpu_max: dict[str, float]
    inflight: dict[str, int]


# ---- per phase -------------------------------------------------------------------------------------
def phase_block(hs: HistogramSet, counters: Counters, phases: Sequence[str], pause: Pause = _no_pause,
                confidence: float = DEFAULT_CONFIDENCE) -> dict[str, Any]:
    """Requests, errors and TTFT/ITL/TPOT/E2E blocks of ``phases``, with the summary's keys."""
    latency: dict[str, Any] = {}
    for m in TABLE_METRICS:
        latency[m] = latency_block(hs, m, phases, confidence=confidence)
        pause()
    return {**counts_block(counters, phases), "latency": latency}


class BlockCache:
    """Phase blocks keyed by what they are read from: a finished phase is read once, not per poll."""

    def __init__(self) -> None:
        self._blocks: dict[tuple[str, ...], tuple[tuple[int, ...], dict[str, Any]]] = {}

    @staticmethod
    def signature(hs: HistogramSet, counters: Counters, phases: Sequence[str]) -> tuple[int, ...]:
        counts = [sum(hs.count(m, p) for p in phases) for m in TABLE_METRICS]
        totals = [counters.total(c, phases) for c in (C_REQUESTS, C_OK, C_CANCELLED, C_DROPPED, C_LOST_IN_GAP,
                                                      C_OUTPUT_TOKENS, C_GOOD)]
        return (*counts, *totals, sum(counters.errors(phases).values()))

    def block(self, hs: HistogramSet, counters: Counters, phases: Sequence[str], pause: Pause = _no_pause,
              confidence: float = DEFAULT_CONFIDENCE) -> dict[str, Any]:
        key = tuple(phases)
        sig = self.signature(hs, counters, phases)
        hit = self._blocks.get(key)
        if hit is not None and hit[0] == sig:
            return hit[1]
        out = phase_block(hs, counters, phases, pause, confidence)
        self._blocks[key] = (sig, out)
        return out


def started_phases(plan: Any, offset_s: float) -> list[str]:
    """Phases whose window has begun at plan offset ``offset_s`` (in plan order)."""
    return [str(w.name) for w in plan.phases if float(w.start_s) <= max(offset_s, 0.0)]


# ---- operating point and "now" ----------------------------------------------------------------------
def operating_point(scenario: Any, plan: Any) -> dict[str, Any]:
    wl = scenario.workload
    return {
        "scenario": str(scenario.name),
        "target": str(scenario.target.base_url),
        "model": scenario.target.model,
        "api": scenario.target.api,
        "stream": bool(scenario.target.stream),
        "max_inflight": scenario.max_inflight,
        "prompt_tokens": ("dataset " + str(wl.dataset.path)) if wl.dataset is not None else wl.prompt_tokens.describe(),
        "output_tokens": wl.output_tokens.describe(),
        "plan_duration_s": float(plan.duration_s),
        "phases": [
            {
                "name": str(w.name),
                "kind": str(w.kind),
                "loop": "closed" if w.closed_loop_users is not None else "open",
                "process": str(w.process),
                "start_s": float(w.start_s),
                "end_s": float(w.end_s),
                "rate_hint": None if w.closed_loop_users is not None else float(w.rate_hint),
                "closed_loop_users": w.closed_loop_users,
                "max_inflight": w.max_inflight,
                "expected": None if w.closed_loop_users is not None else float(w.expected),
                "judged": str(w.name) in set(scenario.slo_phases()),
            }
            for w in plan.phases
        ],
    }


def now_block(state: RunState, now_wall: float, snapshot: Any | None, last_point: Mapping[str, Any] | None) -> dict[str, Any]:
    """Where the run is: phase, elapsed/remaining, target and achieved rate, in-flight, workers."""
    plan = state.plan
    started = state.t0_wall > 0
    off = now_wall - state.t0_wall if started else -1.0
    duration = float(plan.duration_s)
    window = None
    status = "starting"
    if started and 0 <= off < duration:
        window = plan.phase_at(off)
        status = "running"
    elif started and off >= duration:
        status = "draining"
    if state.stop_requested_at is not None:
        status = "stopping"
    closed = window is not None and window.closed_loop_users is not None
    return {
        "status": status,
        "phase": None if window is None else str(window.name),
        "phase_kind": None if window is None else str(window.kind),
        "loop": None if window is None else ("closed" if closed else "open"),
        "process": None if window is None else str(window.process),
        "phase_remaining_s": None if window is None else max(0.0, float(window.end_s) - off),
        "elapsed_s": max(0.0, off) if started else 0.0,
        "remaining_s": max(0.0, duration - off) if started else duration,
        "target_rps": None if window is None or closed else float(window.rate_hint),
        "closed_loop_users": None if window is None else window.closed_loop_users,
        "achieved_rps": None if snapshot is None else float(snapshot.req_per_s),
        "interval_target_rps": None if last_point is None else last_point.get("target_rps"),
        "interval_achieved_rps": None if last_point is None else last_point.get("achieved_rps"),
        "requests": state.counters.total(C_REQUESTS),
        "errors": sum(state.counters.errors().values()),
        "dropped": state.counters.total(C_DROPPED),
        "inflight": sum(state.inflight.values()),
        "workers": state.n_slots if snapshot is None else int(snapshot.workers),
    }


# ---- SLO tiles --------------------------------------------------------------------------------------------
def _tile(oid: str, label: str, unit: str, value: float | None, threshold: float, state: str, **extra: Any) -> dict[str, Any]:
    return {"id": oid, "label": label, "unit": unit, "value": value, "threshold": threshold, "state": state, **extra}


def run_so_far_tiles(scenario: Any, hs: HistogramSet, counters: Counters, judged: Sequence[str]) -> list[dict[str, Any]]:
    """One tile per objective: the judged phases' value so far (the end verdict's function) vs threshold."""
    slo = scenario.slo
    if slo is None:
        return []
    verdict = judge(slo.objectives, slo.max_error_rate, hs, counters, list(judged),
                    confidence=getattr(slo, "confidence", None))
    tiles = []
    for o in verdict.objectives:
        oid = f"{o.metric}_p{o.percentile:g}".replace(".", "_")
        state = "no_data" if o.value_ms is None else ("ok" if o.passed else "violating")
        tiles.append(_tile(oid, f"{o.metric} p{o.percentile:g}", "ms", o.value_ms, o.max_ms, state,
                           samples=o.samples, judged_on=getattr(o, "judged_on", "point")))
    if verdict.max_error_rate is not None:
        requests = counters.total(C_REQUESTS, judged)
        state = "no_data" if not requests else ("ok" if verdict.error_rate_passed else "violating")
        tiles.append(_tile("error_rate", "error rate", "ratio", verdict.error_rate if requests else None,
                           float(verdict.max_error_rate), state, samples=requests))
    return tiles


def rolling_tiles(live_slo: Any, phase: str | None) -> list[dict[str, Any]]:
    """Tiles from a :class:`loadgen.slo_live.LiveSlo`: the first window's state in ``phase``
    (else the latest phase that has one), burn rate, and whether a violation is open."""
    from loadgen.slo_objectives import window_label

    windows = list(getattr(live_slo, "windows_s", []))
    if not windows:
        return []
    label = window_label(windows[0])
    last: Mapping[tuple[str, str, str], Any] = getattr(live_slo, "last", {})
    min_requests = int(getattr(live_slo, "min_requests", 0))
    tiles = []
    for obj in getattr(live_slo, "objectives", []):
        ws = None
        at_phase = phase
        if phase is not None:
            ws = last.get((obj.id, phase, label))
        if ws is None:
            for (oid, ph, wl), st in last.items():
                if oid == obj.id and wl == label:
                    ws, at_phase = st, ph
        latency = obj.metric is not None
        scale = 1e3 if latency else 1.0
        open_v = [v for v in getattr(live_slo, "violations", []) if v.objective == obj.id and v.end_s is None]
        few = ws is not None and ws.requests < min_requests  # the window is not judged yet
        state = "no_data" if ws is None or ws.value is None or few else ("violating" if ws.violating else "ok")
        label_txt = f"{obj.metric} p{obj.percentile:g}" if latency else "error rate"
        tiles.append(_tile(
            obj.id, label_txt, "ms" if latency else "ratio",
            None if ws is None or ws.value is None else ws.value * scale, obj.threshold * scale, state,
            window=label, phase=at_phase, samples=None if ws is None else ws.requests,
            burn_rate=None if ws is None else ws.burn_rate,
            bad_fraction=None if ws is None else ws.bad_fraction,
            open_violation=bool(open_v),
            note=f"fewer than {min_requests} requests in the window" if few else None,
        ))
    return tiles


# ---- health and server ----------------------------------------------------------------------------------
def health_block(state: RunState, series: Any) -> dict[str, Any]:
    """Generator health: schedule lag, worker CPU, invalid chart intervals (the sinks' rule), lost slots."""
    gen = state.scenario.generator
    lag, _ = percentile_ms(state.hs, schema.M_SCHEDULE_LAG, state.hs.phases(), 99.0)
    return {
        "schedule_lag_p99_ms": lag,
        "max_schedule_lag_p99_ms": float(gen.max_schedule_lag_p99_ms),
        "cpu_percent": dict(state.cpu_now),
        "cpu_max_percent": max(state.cpu_max.values()) if state.cpu_max else None,
        "max_cpu_percent": float(gen.max_cpu_percent),
        "invalid_intervals": series.invalid_intervals,
        "intervals": series.intervals,
        "lost_slots": list(state.lost_slots),
        "dropped_max_inflight": state.counters.total(C_DROPPED),
    }


def server_block(server: Mapping[str, Any] | None, points: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The recent scrapes' model-side latency beside the client-side (system) latency of about the
    same window: the chart points of the scrape window, means weighted by successful requests."""
    if not server:
        return None
    out = dict(server)
    window = float(server.get("window_s") or 10.0)
    recent = [p for p in points if points and p["t"] >= points[-1]["t"] - window]
    client: dict[str, Any] = {"window_s": round(sum(p["dt"] for p in recent), 3), "requests": 0}
    for key in ("ttft_mean_ms", "e2e_mean_ms"):
        pairs = [(p[key], p["ok_rps"] * p["dt"]) for p in recent if p.get(key) is not None]
        n = sum(w for _, w in pairs)
        client[key] = sum(v * w for v, w in pairs) / n if n else None
        client["requests"] = max(client["requests"], round(n))
    out["client"] = client if recent else None
    return out


# ---- the whole payload ----------------------------------------------------------------------------------------
def build_payload(
    state: RunState,
    *,
    series: Any,
    run_id: str,
    mode: str,
    snapshot: Any | None = None,
    server: Mapping[str, Any] | None = None,
    slo_source: Any | None = None,
    now_wall: float | None = None,
    pause: Pause = _no_pause,
    blocks: BlockCache | None = None,
    rolling: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The whole payload; ``blocks`` (kept between calls) skips re-reading unchanged phases.

    ``rolling``: SLO tiles already read from ``slo_source`` (:func:`rolling_tiles`), e.g. on the
    loop that updates it while this runs in another thread.
    """
    now = time.time() if now_wall is None else now_wall
    cache = blocks or BlockCache()
    slo_cfg = getattr(state.scenario, "slo", None)
    conf = getattr(slo_cfg, "confidence", None) or DEFAULT_CONFIDENCE  # as the summary's blocks
    points = list(series.points)
    last = points[-1] if points else None
    current = now_block(state, now, snapshot, last)
    off = now - state.t0_wall if state.t0_wall > 0 else -1.0
    names = started_phases(state.plan, off) if state.t0_wall > 0 else []
    seen = set(state.counters.phases()) | set(state.hs.phases())
    names += [p for p in sorted(seen) if p not in names]
    phases: dict[str, Any] = {}
    for name in names:
        phases[name] = cache.block(state.hs, state.counters, [name], pause, conf)
    judged = [p for p in state.scenario.slo_phases() if p in phases]
    overall = dict(cache.block(state.hs, state.counters, judged, pause, conf))
    overall["phases"] = judged
    live_slo = getattr(slo_source, "slo", slo_source)
    if rolling is None and live_slo is not None and getattr(live_slo, "objectives", None):
        rolling = rolling_tiles(live_slo, current["phase"])
    if rolling is not None:
        tiles = rolling
        slo_mode = "rolling"
    else:
        tiles = run_so_far_tiles(state.scenario, state.hs, state.counters, judged)
        slo_mode = "run_so_far"
    pause()
    return {
        "schema": SCHEMA,
        "as_of": now,
        "run_id": run_id,
        "mode": mode,
        "t0_unix": state.t0_wall or None,
        "now": current,
        "operating_point": {**operating_point(state.scenario, state.plan), "workers": state.n_slots},
        "phases": phases,
        "overall": overall,
        "slo": {"mode": slo_mode, "judged_phases": judged, "tiles": tiles},
        "series": {"interval_s": series.interval_s, "points": points},
        "server": server_block(server, points),
        "health": health_block(state, series),
    }


LLM_PCTS = (("p50", "p50_ms"), ("p90", "p90_ms"), ("p95", "p95_ms"), ("p99", "p99_ms"), ("p999", "p99_9_ms"))


def llm_rows(payload: dict[str, Any]) -> list[dict[str, str]]:
    """Rows of Locust's "LLM latency" tab: one per phase x metric, milliseconds, from the payload."""
    rows = []
    blocks = list(payload.get("phases", {}).items()) + [("overall (judged)", payload.get("overall", {}))]
    for phase, block in blocks:
        for metric, lb in (block.get("latency") or {}).items():
            row = {"phase": phase, "metric": metric, "count": str(int(lb.get("count", 0)))}
            for col, key in (*LLM_PCTS, ("mean", "mean_ms")):
                v = lb.get(key)
                row[col] = "-" if v is None else f"{v:.1f}"
            rows.append(row)
    return rows


__all__ = [
    "LLM_PCTS",
    "SCHEMA",
    "BlockCache",
    "RunState",
    "build_payload",
    "health_block",
    "llm_rows",
    "now_block",
    "operating_point",
    "phase_block",
    "rolling_tiles",
    "run_so_far_tiles",
    "server_block",
    "started_phases",
]
