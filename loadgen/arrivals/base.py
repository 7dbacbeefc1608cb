"""The arrival-process protocol, the registry keyed by ``process`` name, and shared helpers.

An arrival process is a pure, seeded generator of absolute offsets in seconds: given a window
``[start_s, end_s)`` and a ``numpy.random.Generator`` it yields increasing times and never
sleeps.  Gaps are drawn in numpy chunks so walking the whole global sequence costs well under a
microsecond per arrival.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from loadgen.config.arrivals import ArrivalConfig

CHUNK_MAX = 65_536
CHUNK_MIN = 64


class ArrivalProcess(Protocol):
    """What :class:`loadgen.plan.Plan` needs from a process."""

    closed_loop_users: int | None  # set only by the closed-loop ``concurrency`` process

    def times(self, start_s: float, end_s: float, rng: np.random.Generator) -> Iterator[float]:
        """Arrival offsets in ``[start_s, end_s)``, increasing, drawn from ``rng``."""
        ...

    def expected_count(self, duration_s: float) -> float:
        """Mean number of arrivals in a window of ``duration_s`` seconds."""
        ...

    def describe(self) -> str:
        """Short definition for reports, e.g. ``gamma(rate=20/s, burstiness=0.5)``."""
        ...


_REGISTRY: dict[str, Callable[[Any], ArrivalProcess]] = {}


def register(process: str) -> Callable[[Callable[[Any], ArrivalProcess]], Callable[[Any], ArrivalProcess]]:
    """Class decorator: ``@register("poisson")`` makes the class the factory for that config."""

    def deco(factory: Callable[[Any], ArrivalProcess]) -> Callable[[Any], ArrivalProcess]:
        if process in _REGISTRY:
            raise RuntimeError(f"arrival process {process!r} registered twice")
        _REGISTRY[process] = factory
        return factory

    return deco


def make_process(config: ArrivalConfig) -> ArrivalProcess:
    """The process for a phase's ``arrivals:`` config (chosen by its ``process`` name)."""
    try:
        factory = _REGISTRY[config.process]
    except KeyError:
        raise ValueError(f"no arrival process registered for {config.process!r}") from None
    return factory(config)


def registered() -> list[str]:
    return sorted(_REGISTRY)


def chunk_size(expected: float) -> int:
    """A numpy batch size for about ``expected`` remaining draws."""
    return int(min(CHUNK_MAX, max(CHUNK_MIN, expected * 1.05 + 16)))


def renewal_times(
    start_s: float, end_s: float, draw: Callable[[int], np.ndarray], mean_gap: float
) -> Iterator[float]:
    """Times ``start + g1``, ``start + g1 + g2``, ... below ``end_s``; gaps from ``draw(n)``."""
    t = start_s
    while True:
        gaps = draw(chunk_size((end_s - t) / mean_gap))
        ts = t + np.cumsum(gaps)
        if ts[-1] >= end_s:
            yield from ts[ts < end_s].tolist()
            return
        yield from ts.tolist()
        t = float(ts[-1])


def poisson_interval(rng: np.random.Generator, rate: float, a: float, b: float) -> Iterator[float]:
    """A homogeneous Poisson process of ``rate`` on ``[a, b)``: a Poisson count, then sorted
    uniform positions (exact; long intervals are cut into pieces of bounded expected size)."""
    if rate <= 0 or b <= a:
        return
    piece = max((b - a) / max(1.0, rate * (b - a) / CHUNK_MAX), 1e-9)
    lo = a
    while lo < b:
        hi = min(b, lo + piece)
        n = int(rng.poisson(rate * (hi - lo)))
        if n:
            pts = np.sort(rng.uniform(lo, hi, size=n))
            yield from pts[pts < hi].tolist()
        lo = hi


def fmt_rate(rate: float) -> str:
    return f"{rate:g}/s"


__all__ = [
    "ArrivalProcess",
    "chunk_size",
    "fmt_rate",
    "make_process",
    "poisson_interval",
    "register",
    "registered",
    "renewal_times",
]
