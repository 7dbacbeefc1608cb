"""Renewal processes: independent, identically distributed gaps between arrivals.

- ``poisson{rate}``: gaps ~ Exponential(mean 1/rate); counts in any window are Poisson.
- ``gamma{rate, burstiness}``: gaps ~ Gamma(shape=burstiness, scale=1/(rate*burstiness)), vLLM's
  definition: mean gap 1/rate, CV = 1/sqrt(burstiness); burstiness 1 is Poisson, < 1 burstier,
  > 1 smoother.  Unlike ``vllm bench serve``, the total duration is *not* rescaled.
- ``constant{rate}``: arrivals exactly at ``start + k/rate`` for k = 0, 1, 2, ...

The first gap of poisson/gamma is drawn like the others, from the phase start.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from loadgen.arrivals.base import chunk_size, fmt_rate, register, renewal_times
from loadgen.config.arrivals import ConstantArrivals, GammaArrivals, PoissonArrivals


@register("poisson")
class Poisson:
    closed_loop_users: int | None = None

    def __init__(self, config: PoissonArrivals) -> None:
        self.rate = config.rate

    def times(self, start_s: float, end_s: float, rng: np.random.Generator) -> Iterator[float]:
        scale = 1.0 / self.rate
        return renewal_times(start_s, end_s, lambda n: rng.exponential(scale, size=n), scale)

    def expected_count(self, duration_s: float) -> float:
        return self.rate * duration_s

    def describe(self) -> str:
        return f"poisson(rate={fmt_rate(self.rate)})"


@register("gamma")
class Gamma:
    closed_loop_users: int | None = None

    def __init__(self, config: GammaArrivals) -> None:
        self.rate, self.burstiness = config.rate, config.burstiness

    def times(self, start_s: float, end_s: float, rng: np.random.Generator) -> Iterator[float]:
        shape, scale = self.burstiness, 1.0 / (self.rate * self.burstiness)
        return renewal_times(start_s, end_s, lambda n: rng.gamma(shape, scale, size=n), 1.0 / self.rate)

    def expected_count(self, duration_s: float) -> float:
        return self.rate * duration_s

    def describe(self) -> str:
        return f"gamma(rate={fmt_rate(self.rate)}, burstiness={self.burstiness:g})"


@register("constant")
class Constant:
    closed_loop_users: int | None = None

    def __init__(self, config: ConstantArrivals) -> None:
        self.rate = config.rate

    def _count(self, span: float) -> int:
        """Number of k >= 0 with k/rate < span (robust to rounding of span*rate)."""
        n = max(0, math.ceil(span * self.rate))
        while n > 0 and (n - 1) / self.rate >= span:
            n -= 1
        while n / self.rate < span:
            n += 1
        return n

    def times(self, start_s: float, end_s: float, rng: np.random.Generator) -> Iterator[float]:
        total = self._count(end_s - start_s)
        k = 0
        while k < total:
            n = min(chunk_size(total - k), total - k)
            ts = start_s + np.arange(k, k + n, dtype=np.float64) / self.rate
            yield from ts[ts < end_s].tolist()
            k += n

    def expected_count(self, duration_s: float) -> float:
        return float(self._count(duration_s))

    def describe(self) -> str:
        return f"constant(rate={fmt_rate(self.rate)})"


__all__ = ["Constant", "Gamma", "Poisson"]
