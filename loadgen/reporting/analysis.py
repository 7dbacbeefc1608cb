"""What the report computes from a run folder: interval series, steady state, model vs system.

Everything here reads :class:`~loadgen.reporting.runfolder.RunData` and returns plain numbers
and dicts (JSON-safe), used by the HTML report, the figures and ``compare``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from collectors import schema
from loadgen.reporting.runfolder import RunData
from loadgen.reporting.steady import SteadyResult, detect


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    kind: str
    start_s: float
    end_s: float
    process: str


def phases(summary: dict[str, Any]) -> list[Phase]:
    out = []
    for p in (summary.get("operating_point") or {}).get("phases") or []:
        out.append(Phase(str(p["name"]), str(p.get("kind", "")), float(p.get("start_s", 0.0)),
                         float(p.get("end_s", 0.0)), str(p.get("process", ""))))
    return out


def interval_latency(d: RunData, metric: str, col: str) -> tuple[np.ndarray, np.ndarray]:
    """Per interval: ``col`` (e.g. ``p50_s``) of ``metric``, classes (and phases sharing the
    interval) combined as the count-weighted mean; seconds."""
    acc: dict[float, list[float]] = {}
    for (m, _cls), s in d.latency.items():
        if m != metric:
            continue
        t, cols = s.arrays()
        n, v = cols[schema.F_COUNT.name], cols[col]
        for ti, ni, vi in zip(t.tolist(), n.tolist(), v.tolist(), strict=True):
            if ni > 0 and vi == vi:
                a = acc.setdefault(round(ti, 3), [0.0, 0.0])
                a[0] += ni * vi
                a[1] += ni
    keys = sorted(acc)
    return np.array(keys, dtype=np.float64), np.array([acc[k][0] / acc[k][1] for k in keys], dtype=np.float64)


def interval_latency_max(d: RunData, metric: str, col: str) -> tuple[np.ndarray, np.ndarray]:
    """Per interval: the largest ``col`` of ``metric`` over classes (the worst class); seconds."""
    acc: dict[float, float] = {}
    for (m, _cls), s in d.latency.items():
        if m != metric:
            continue
        t, cols = s.arrays()
        for ti, vi in zip(t.tolist(), cols[col].tolist(), strict=True):
            if vi == vi:
                k = round(ti, 3)
                acc[k] = max(acc.get(k, vi), vi)
    keys = sorted(acc)
    return np.array(keys, dtype=np.float64), np.array([acc[k] for k in keys], dtype=np.float64)


def steady_metric(d: RunData) -> str:
    return schema.M_TTFT_SCHED if any(m == schema.M_TTFT_SCHED for m, _ in d.latency) else schema.M_E2E_SCHED


def steady_states(d: RunData) -> list[SteadyResult]:
    """The steady-state rule (loadgen/reporting/steady.py) applied to every phase of kind steady."""
    metric = steady_metric(d)
    t, y = interval_latency(d, metric, schema.F_P50.name)
    return [detect(p.name, metric, t, y, p.start_s, p.end_s) for p in phases(d.summary) if p.kind == "steady"]


MODEL_PARTS: tuple[tuple[str, str], ...] = (
    ("queue", schema.F_SERVER_QUEUE.name),
    ("prefill", schema.F_SERVER_PREFILL.name),
    ("decode", schema.F_SERVER_DECODE.name),
    ("outside the model", schema.F_CLIENT_OVERHEAD.name),
)
SERVER_COMPONENTS: tuple[str, ...] = (schema.SC_QUEUE, schema.SC_PREFILL, schema.SC_DECODE)


def model_vs_system(d: RunData) -> dict[str, Any]:
    """Where a request's time went, per phase.

    Per-request server timings (``llm_request`` server_* fields) when the records carry them:
    p50 and p99 of queue, prefill, decode and time outside the model (``client_overhead_s``);
    ``source = "per-request"``.  Otherwise the interval means of the server's /metrics latency
    components (queue, prefill, decode) over the whole run and the client-side e2e mean,
    ``source = "server /metrics interval means"``.  Empty when neither exists.
    """
    req = d.requests
    has_server = len(req) > 0 and req.column(schema.F_SERVER_QUEUE.name).size > 0
    if has_server:
        out: dict[str, Any] = {"source": "per-request server timings", "phases": {}}
        for ph in req.phases():
            row: dict[str, Any] = {}
            for label, fname in MODEL_PARTS:
                v = req.column(fname, ph)
                if v.size:
                    row[label] = {"p50_ms": float(np.percentile(v, 50)) * 1e3,
                                  "p99_ms": float(np.percentile(v, 99)) * 1e3, "n": int(v.size)}
            if row:
                out["phases"][ph] = row
        return out
    if not d.server_latency:
        return {}
    parts: dict[str, Any] = {}
    for comp in SERVER_COMPONENTS:
        s = d.server_latency.get(comp)
        if s is None:
            continue
        _, cols = s.arrays()
        n, total = cols[schema.SF_COUNT.name], cols[schema.SF_SUM.name]
        ok = np.isfinite(n) & np.isfinite(total)
        if float(n[ok].sum()) > 0:
            parts[comp] = {"mean_ms": float(total[ok].sum() / n[ok].sum()) * 1e3, "n": int(n[ok].sum())}
    e2e = (d.summary.get("overall") or {}).get("latency", {}).get(schema.M_E2E, {}).get("mean_ms")
    if not parts:
        return {}
    return {"source": "server /metrics interval means (whole run)", "components": parts, "client_e2e_mean_ms": e2e}


__all__ = [
    "MODEL_PARTS",
    "Phase",
    "interval_latency",
    "interval_latency_max",
    "model_vs_system",
    "phases",
    "steady_metric",
    "steady_states",
]
