"""Goodput: which finished requests count as *good* (docs/metrics.md, "Goodput").

A request is good when it succeeded and meets every per-request threshold the scenario's SLO
implies, one per objective:

- ``ttft``, ``ttft_sched``, ``e2e``, ``e2e_sched``: the request's own value <= ``max_ms``
  (a request without the value, e.g. no content token, is not good);
- ``tpot``: the request's TPOT <= ``max_ms`` (fewer than 2 output tokens: no TPOT, passes);
- ``itl``: the request's own inter-token gaps at the objective's percentile (nearest rank over
  its gaps) <= ``max_ms`` — a p99 ITL objective asks that at most 1 % of *this request's* gaps
  exceed the bound (fewer than 2 content chunks: no gap, passes).

With no objective every ok request is good, so goodput then equals the ok rate.  The percentile of
a TTFT/TPOT/E2E objective does not apply to one request (vLLM's ``--goodput`` rule).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from collectors.records import RequestRecord

_NS = 1e-9


@dataclass(frozen=True, slots=True)
class Threshold:
    metric: str  # ttft | ttft_sched | tpot | e2e | e2e_sched | itl
    max_s: float
    percentile: float = 100.0  # used by itl only


def _nearest_rank(sorted_gaps: Sequence[int], percentile: float) -> int:
    rank = max(1, math.ceil(percentile / 100.0 * len(sorted_gaps)))
    return sorted_gaps[rank - 1]


@dataclass(frozen=True, slots=True)
class GoodputRule:
    """The per-request test; ``thresholds`` empty: every ok request is good."""

    thresholds: tuple[Threshold, ...] = ()

    def is_good(self, rec: RequestRecord) -> bool:
        if rec.error is not None:
            return False
        for t in self.thresholds:
            if t.metric == "itl":
                tok = rec.token_ns
                if len(tok) < 2:
                    continue
                gaps = sorted(tok[i] - tok[i - 1] for i in range(1, len(tok)))
                if _nearest_rank(gaps, t.percentile) * _NS > t.max_s:
                    return False
                continue
            value = getattr(rec, f"{t.metric}_s")
            if value is None:
                if t.metric == "tpot":
                    continue
                return False
            if value > t.max_s:
                return False
        return True

    def describe(self) -> str:
        if not self.thresholds:
            return "every ok request (no SLO objective)"
        parts = []
        for t in self.thresholds:
            bound = f"<= {t.max_s * 1e3:g} ms"
            parts.append(f"itl p{t.percentile:g} of the request {bound}" if t.metric == "itl" else f"{t.metric} {bound}")
        return "ok and " + ", ".join(parts)


def goodput_rule(objectives: Sequence[object]) -> GoodputRule:
    """The rule implied by SLO objectives (``metric``, ``percentile``, ``max_ms`` each).

    Per latency metric the tightest bound wins; every ITL objective is kept (each has its percentile).
    """
    best: dict[str, Threshold] = {}
    itl: list[Threshold] = []
    for o in objectives:
        metric = str(getattr(o, "metric"))  # noqa: B009 (duck-typed objective)
        max_s = float(getattr(o, "max_ms")) / 1000.0  # noqa: B009
        pct = float(getattr(o, "percentile"))  # noqa: B009
        if metric == "itl":
            itl.append(Threshold("itl", max_s, pct))
        elif metric in ("ttft", "ttft_sched", "tpot", "e2e", "e2e_sched") and (
                metric not in best or max_s < best[metric].max_s):
            best[metric] = Threshold(metric, max_s)
    return GoodputRule(tuple(best[m] for m in sorted(best)) + tuple(itl))


__all__ = ["GoodputRule", "Threshold", "goodput_rule"]
