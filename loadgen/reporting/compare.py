"""``compare``: the headline metrics of runs side by side, per phase, with significance.

Every run is compared with the first (the baseline).  Per phase present in both (and the
judged ``overall``):

- latency ``ttft``, ``tpot``, ``e2e`` (``p50``, ``p99``: exact, from summary.json; ``itl``
  p50/p99 shown, its test uses each request's mean ITL): the change is *beyond noise* when a
  two-sided Mann–Whitney U test on the per-request values of that metric in that phase (the
  ``llm_request`` records in the run folders, successful requests only) gives p < alpha;
- ``error_rate``: two-proportion z test on the summary's request and error counts;
- ``req/s``, ``output tok/s``, ``goodput``: shown, not tested (open-loop: set by the arrivals).

A *regression* is a judged metric (latency percentiles, error rate) that got worse by more than
its bound (relative change; from a zero baseline any increase is unbounded) **and** whose change
is beyond noise.  Judged: phases other than warmup/cooldown and ``overall``, and a percentile
only when both runs have enough samples to bound it (summary.json ``too_few_samples``).  Bounds: ``--fail-on-regression 5%`` (all judged metrics) and/or per metric
``e2e_p99=10%,error_rate=1%``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from collectors import schema
from loadgen.reporting.runfolder import RunData
from loadgen.reporting.stats import TestResult, mann_whitney, two_proportions
from userinput.errors import InputError

DEFAULT_ALPHA = 0.05
UNJUDGED_KINDS = frozenset({"warmup", "cooldown"})
LATENCY: tuple[tuple[str, str], ...] = (
    (schema.M_TTFT, schema.F_TTFT.name), (schema.M_TPOT, schema.F_TPOT.name),
    (schema.M_E2E, schema.F_E2E.name), (schema.M_ITL, schema.F_ITL_MEAN.name),
)
PCTS = ("p50", "p99")
RATES: tuple[tuple[str, str], ...] = (
    ("req_per_s", "req/s"), ("output_tok_per_s", "output tok/s"), ("goodput_req_per_s", "goodput req/s"),
)
OP_KEYS = ("scenario", "target", "model", "mode", "workers", "max_inflight", "request_profile")


@dataclass
class Row:
    phase: str
    metric: str  # e.g. "e2e_p99", "error_rate", "req/s"
    unit: str
    base: float | None
    other: float | None
    test: TestResult | None
    judged: bool  # can be a regression
    bound: float | None = None  # relative bound in force for this metric
    alpha: float = DEFAULT_ALPHA

    @property
    def delta(self) -> float | None:
        return None if self.base is None or self.other is None else self.other - self.base

    @property
    def relative(self) -> float | None:
        d = self.delta
        if d is None or self.base is None:
            return None
        if self.base == 0:
            return 0.0 if d == 0 else math.copysign(math.inf, d)
        return d / abs(self.base)

    @property
    def significant(self) -> bool | None:
        if self.test is None or self.test.p_value is None:
            return None
        return self.test.p_value < self.alpha

    @property
    def regression(self) -> bool:
        rel = self.relative
        return bool(self.judged and self.bound is not None and rel is not None and rel > self.bound
                    and self.significant)

    def to_dict(self) -> dict[str, Any]:
        rel = self.relative
        return {
            "phase": self.phase, "metric": self.metric, "unit": self.unit, "base": self.base, "other": self.other,
            "delta": self.delta, "relative": None if rel is None or not math.isfinite(rel) else rel,
            "relative_unbounded": rel is not None and not math.isfinite(rel),
            "test": None if self.test is None else self.test.test,
            "p_value": None if self.test is None else self.test.p_value,
            "n_base": None if self.test is None else self.test.n_a,
            "n_other": None if self.test is None else self.test.n_b,
            "significant": self.significant, "judged": self.judged, "bound": self.bound,
            "regression": self.regression,
        }


@dataclass
class Comparison:
    base: str
    other: str
    op_differences: list[str]
    rows: list[Row] = field(default_factory=list)

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.regression]

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base, "other": self.other, "operating_point_differences": self.op_differences,
                "rows": [r.to_dict() for r in self.rows], "regressions": len(self.regressions)}


def parse_bounds(spec: str | None) -> tuple[float | None, dict[str, float]]:
    """``"5%"`` -> (0.05, {}); ``"e2e_p99=10%,error_rate=0.5%"`` -> (None, {...}); both may mix."""
    if not spec:
        return None, {}
    glob: float | None = None
    per: dict[str, float] = {}
    known = {f"{m}_{p}" for m, _ in LATENCY for p in PCTS} | {"error_rate"}
    for part in (s.strip() for s in spec.split(",") if s.strip()):
        name, sep, val = part.rpartition("=")
        bound = _fraction(val, part)
        if not sep:
            glob = bound
        elif name in known:
            per[name] = bound
        else:
            raise InputError(f"--fail-on-regression: unknown metric {name!r} (known: {', '.join(sorted(known))})")
    return glob, per


def _fraction(val: str, part: str) -> float:
    v = val.strip()
    try:
        f = float(v[:-1]) / 100.0 if v.endswith("%") else float(v)
    except ValueError:
        raise InputError(f"--fail-on-regression: {part!r} is not a bound like 5% or 0.05") from None
    if not math.isfinite(f) or f < 0:
        raise InputError(f"--fail-on-regression: {part!r} must be a finite bound >= 0")
    return f


def op_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Human-readable differences of the two runs' operating points (empty when the same)."""
    out = [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in OP_KEYS if a.get(k) != b.get(k)]
    pa = {p["name"]: p for p in (a.get("operating_point") or {}).get("phases") or []}
    pb = {p["name"]: p for p in (b.get("operating_point") or {}).get("phases") or []}
    for name in sorted(set(pa) ^ set(pb)):
        out.append(f"phase {name}: only in {'the baseline' if name in pa else 'the other run'}")
    for name in [n for n in pa if n in pb]:
        for k in ("kind", "process", "max_inflight", "start_s", "end_s"):
            if pa[name].get(k) != pb[name].get(k):
                out.append(f"phase {name} {k}: {pa[name].get(k)!r} -> {pb[name].get(k)!r}")
    return out


def _block(d: RunData, phase: str) -> dict[str, Any]:
    return (d.summary.get("overall") if phase == "overall" else (d.summary.get("phases") or {}).get(phase)) or {}


def _req_phases(d: RunData, phase: str) -> list[str] | None:
    if phase != "overall":
        return [phase]
    return list((d.summary.get("overall") or {}).get("phases") or [])


def _values(d: RunData, fname: str, phase: str) -> Any:
    import numpy as np

    names = _req_phases(d, phase) or []
    parts = [d.requests.column(fname, p) for p in names]
    return np.concatenate(parts) if parts else np.zeros(0)


def compare(a: RunData, b: RunData, bounds: tuple[float | None, dict[str, float]] = (None, {}),
            alpha: float = DEFAULT_ALPHA) -> Comparison:
    glob, per = bounds
    cmp = Comparison(a.name, b.name, op_differences(a.summary, b.summary))
    phases = [p for p in (a.summary.get("phases") or {}) if p in (b.summary.get("phases") or {})] + ["overall"]
    for ph in phases:
        ba, bb = _block(a, ph), _block(b, ph)
        if not ba or not bb:
            continue
        judged_phase = ph == "overall" or ba.get("kind") not in UNJUDGED_KINDS
        for metric, fname in LATENCY:
            la, lb = (ba.get("latency") or {}).get(metric) or {}, (bb.get("latency") or {}).get(metric) or {}
            if not la.get("count") or not lb.get("count"):
                continue
            test = mann_whitney(_values(a, fname, ph), _values(b, fname, ph))
            for p in PCTS:
                key = f"{metric}_{p}"
                bounded = p not in la.get("too_few_samples", []) and p not in lb.get("too_few_samples", [])
                cmp.rows.append(Row(ph, key, "ms", la.get(f"{p}_ms"), lb.get(f"{p}_ms"), test,
                                    judged=judged_phase and bounded, bound=per.get(key, glob), alpha=alpha))
        ra, rb = int(ba.get("requests") or 0), int(bb.get("requests") or 0)
        ea, eb = int(ba.get("errors") or 0), int(bb.get("errors") or 0)
        cmp.rows.append(Row(ph, "error_rate", "ratio", ba.get("error_rate"), bb.get("error_rate"),
                            two_proportions(ea, ra, eb, rb), judged=judged_phase,
                            bound=per.get("error_rate", glob), alpha=alpha))
        for key, label in RATES:
            if ba.get(key) is not None and bb.get(key) is not None:
                cmp.rows.append(Row(ph, label, "1/s", ba.get(key), bb.get(key), None, judged=False, alpha=alpha))
    return cmp


__all__ = ["DEFAULT_ALPHA", "Comparison", "Row", "compare", "op_differences", "parse_bounds"]
