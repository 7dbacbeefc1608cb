"""``sweep``: one steady phase per rate, saturation, capacity at the SLO and the curve's knee.

Pure logic; the command (loadgen/commands/sweep.py) runs each probe as an ``inferload run``.

- A **probe** at rate ``r`` runs a warmup then a steady phase, both Poisson at ``r``.
- It is **saturated** when arrivals were dropped (``max_inflight``), the error rate exceeded
  ``slo.max_error_rate`` (1 % without an SLO), the steady phase never became steady (the rule of
  loadgen/reporting/steady.py: queue growing), or the run was invalid (the generator fell
  behind: exit 3).  A ``--rates`` sweep stops at the first saturated probe.
- It **meets the SLO** when its verdict passed (every objective and the error-rate bound, judged
  on the steady phase) and it is not saturated.
- ``--find-capacity``: from the first rate, double while probes meet the SLO (halve while they
  do not) to bracket, then bisect until ``(high - low) / low <= tolerance``; the capacity at SLO
  is the highest rate that met it.
- The **knee** of the throughput–latency curve: over the probes sorted by throughput, with
  throughput and latency (steady e2e p99) each scaled to [0, 1], the probe farthest below the
  chord from the first to the last probe (the Kneedle rule); none with fewer than 3 probes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Probe:
    rate: float
    run_dir: str
    exit_code: int
    throughput: float  # steady req/s finished
    goodput: float  # steady good req/s
    error_rate: float
    dropped: int
    e2e_p50_ms: float | None
    e2e_p99_ms: float | None
    ttft_p99_ms: float | None
    steady: bool | None  # steady-state rule; None: undetermined
    slo_passed: bool
    error_bound: float = 0.01

    @property
    def saturated_reasons(self) -> list[str]:
        out = []
        if self.dropped:
            out.append(f"{self.dropped} arrivals dropped (max_inflight)")
        if self.error_rate > self.error_bound:
            out.append(f"error rate {self.error_rate:.3f} > {self.error_bound:g}")
        if self.steady is False:
            out.append("never became steady (queue growing)")
        if self.exit_code == 3:
            out.append("invalid run (the load generator fell behind)")
        return out

    @property
    def saturated(self) -> bool:
        return bool(self.saturated_reasons)

    @property
    def meets_slo(self) -> bool:
        return self.slo_passed and not self.saturated

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "saturated": self.saturated, "saturated_reasons": self.saturated_reasons,
                "meets_slo": self.meets_slo}


def probe_from_summary(rate: float, run_dir: str, exit_code: int, summary: dict[str, Any], steady: bool | None) -> Probe:
    b = (summary.get("phases") or {}).get("steady") or {}
    lat = b.get("latency") or {}
    slo = summary.get("slo") or {}
    bound = slo.get("max_error_rate")
    return Probe(
        rate=rate, run_dir=run_dir, exit_code=exit_code, throughput=float(b.get("req_per_s") or 0.0),
        goodput=float(b.get("goodput_req_per_s") or 0.0), error_rate=float(b.get("error_rate") or 0.0),
        dropped=int(b.get("dropped_max_inflight") or 0),
        e2e_p50_ms=(lat.get("e2e") or {}).get("p50_ms"), e2e_p99_ms=(lat.get("e2e") or {}).get("p99_ms"),
        ttft_p99_ms=(lat.get("ttft") or {}).get("p99_ms"), steady=steady,
        slo_passed=bool(slo.get("passed", True)),
        error_bound=0.01 if bound is None else float(bound),
    )


def rate_sweep(rates: list[float], probe: Callable[[float], Probe]) -> list[Probe]:
    """Probe each rate in order; stop after the first saturated probe."""
    out: list[Probe] = []
    for r in rates:
        p = probe(r)
        out.append(p)
        if p.saturated:
            break
    return out


def find_capacity(start: float, probe: Callable[[float], Probe], tolerance: float = 0.05,
                  max_probes: int = 12) -> tuple[float | None, list[Probe]]:
    """Bracket (double or halve from ``start``), then bisect; (capacity at SLO or None, probes)."""
    probes: list[Probe] = []

    def run(r: float) -> bool:
        p = probe(r)
        probes.append(p)
        return p.meets_slo

    lo: float | None = None
    hi: float | None = None
    r = start
    if run(r):
        lo = r
        while len(probes) < max_probes:
            r *= 2
            if run(r):
                lo = r
            else:
                hi = r
                break
    else:
        hi = r
        while len(probes) < max_probes:
            r /= 2
            if run(r):
                lo = r
                break
            hi = r
    if lo is None or hi is None:
        return lo, probes
    while len(probes) < max_probes and (hi - lo) / lo > tolerance:
        mid = (lo + hi) / 2
        if run(mid):
            lo = mid
        else:
            hi = mid
    return lo, probes


def knee(probes: list[Probe]) -> Probe | None:
    """The Kneedle knee of (throughput, e2e p99) over the probes (None with fewer than 3)."""
    pts = sorted((p for p in probes if p.e2e_p99_ms is not None), key=lambda p: p.throughput)
    if len(pts) < 3:
        return None
    xs = [p.throughput for p in pts]
    ys = [float(p.e2e_p99_ms or 0.0) for p in pts]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if x1 == x0 or y1 == y0:
        return None
    nx = [(x - x0) / (x1 - x0) for x in xs]
    ny = [(y - y0) / (y1 - y0) for y in ys]
    ax, ay, bx, by = nx[0], ny[0], nx[-1], ny[-1]
    # signed distance below the chord (latency rises late: the knee is where the curve is lowest)
    best, best_d = None, 0.0
    for p, x, y in zip(pts, nx, ny, strict=True):
        chord_y = ay + (by - ay) * ((x - ax) / (bx - ax) if bx != ax else 0.0)
        d = chord_y - y
        if d > best_d:
            best, best_d = p, d
    return best


__all__ = ["Probe", "find_capacity", "knee", "probe_from_summary", "rate_sweep"]
