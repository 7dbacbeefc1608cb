"""``ramp{from_rate, to_rate}``: a non-homogeneous Poisson process whose rate changes linearly
from ``from_rate`` at the phase start to ``to_rate`` at its end (either may be 0, not both).

Exact inversion: with ``a = from_rate``, ``c = (to_rate - from_rate) / T`` the cumulative
intensity is ``L(t) = a*t + c*t**2/2``; the points of a unit-rate Poisson process ``E_k``
(cumulated exponential gaps) map to ``t_k = L^-1(E_k) = 2*E_k / (a + sqrt(a**2 + 2*c*E_k))``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from loadgen.arrivals.base import chunk_size, fmt_rate, register
from loadgen.config.arrivals import RampArrivals


@register("ramp")
class Ramp:
    closed_loop_users: int | None = None

    def __init__(self, config: RampArrivals) -> None:
        self.from_rate, self.to_rate = config.from_rate, config.to_rate

    def times(self, start_s: float, end_s: float, rng: np.random.Generator) -> Iterator[float]:
        span = end_s - start_s
        if span <= 0:
            return
        a = self.from_rate
        c = (self.to_rate - self.from_rate) / span
        total = (self.from_rate + self.to_rate) * span / 2  # L(T)
        level = 0.0
        while level < total:
            e = level + np.cumsum(rng.exponential(1.0, size=chunk_size(total - level)))
            level = float(e[-1])
            e = e[e < total]
            t = 2.0 * e / (a + np.sqrt(np.maximum(a * a + 2.0 * c * e, 0.0)))
            ts = start_s + t
            yield from ts[ts < end_s].tolist()

    def expected_count(self, duration_s: float) -> float:
        return (self.from_rate + self.to_rate) * duration_s / 2

    def describe(self) -> str:
        return f"ramp({fmt_rate(self.from_rate)} -> {fmt_rate(self.to_rate)}, linear)"


__all__ = ["Ramp"]
