"""Piecewise-constant-rate Poisson processes (non-homogeneous Poisson, exact, no thinning).

- ``onoff{rate_on, rate_off, on_s, off_s}``: a Markov-modulated Poisson process with two
  states.  The phase starts ON; each ON sojourn is Exponential(mean ``on_s``), each OFF
  sojourn Exponential(mean ``off_s``); within a sojourn arrivals are Poisson at ``rate_on`` /
  ``rate_off`` (which may be 0).  Mean rate over a long phase:
  ``(rate_on*on_s + rate_off*off_s) / (on_s + off_s)``.
- ``spike{base_rate, spike_rate, every_s, spike_s, offset_s=0}``: a deterministic schedule.
  Spikes of ``spike_s`` seconds start at ``offset_s + k*every_s`` (k = 0, 1, ...) into the phase;
  arrivals are Poisson at ``spike_rate`` inside a spike and at ``base_rate`` (may be 0) outside.

In each constant-rate piece the number of arrivals is Poisson(rate x length) and their times are
sorted uniforms, which is the exact conditional law of a Poisson process.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from loadgen.arrivals.base import fmt_rate, poisson_interval, register
from loadgen.config.arrivals import OnOffArrivals, SpikeArrivals


@register("onoff")
class OnOff:
    closed_loop_users: int | None = None

    def __init__(self, config: OnOffArrivals) -> None:
        self.c = config

    def times(self, start_s: float, end_s: float, rng: np.random.Generator) -> Iterator[float]:
        c, t, on = self.c, start_s, True
        while t < end_s:
            b = min(end_s, t + float(rng.exponential(c.on_s if on else c.off_s)))
            yield from poisson_interval(rng, c.rate_on if on else c.rate_off, t, b)
            t, on = b, not on

    def expected_count(self, duration_s: float) -> float:
        # P(ON at t | ON at 0) = q + (1 - q) exp(-(a + b) t), a = 1/on_s, b = 1/off_s, q = b/(a+b)
        c = self.c
        a, b = 1.0 / c.on_s, 1.0 / c.off_s
        s = a + b
        on_time = (b / s) * duration_s + (a / s**2) * (1.0 - math.exp(-s * duration_s))
        return c.rate_on * on_time + c.rate_off * (duration_s - on_time)

    def describe(self) -> str:
        c = self.c
        return (
            f"onoff(on={fmt_rate(c.rate_on)} for ~{c.on_s:g}s, off={fmt_rate(c.rate_off)} for ~{c.off_s:g}s)"
        )


@register("spike")
class Spike:
    closed_loop_users: int | None = None

    def __init__(self, config: SpikeArrivals) -> None:
        self.c = config

    def _pieces(self, start_s: float, end_s: float) -> Iterator[tuple[float, float, float]]:
        c = self.c
        t = start_s
        spike_at = start_s + c.offset_s
        while t < end_s:
            if t < spike_at:
                b = min(end_s, spike_at)
                yield t, b, c.base_rate
            else:
                b = min(end_s, spike_at + c.spike_s)
                yield t, b, c.spike_rate
                spike_at += c.every_s
            t = b

    def times(self, start_s: float, end_s: float, rng: np.random.Generator) -> Iterator[float]:
        for a, b, rate in self._pieces(start_s, end_s):
            yield from poisson_interval(rng, rate, a, b)

    def expected_count(self, duration_s: float) -> float:
        return sum(rate * (b - a) for a, b, rate in self._pieces(0.0, duration_s))

    def describe(self) -> str:
        c = self.c
        return (
            f"spike(base={fmt_rate(c.base_rate)}, spike={fmt_rate(c.spike_rate)} for {c.spike_s:g}s "
            f"every {c.every_s:g}s)"
        )


__all__ = ["OnOff", "Spike"]
