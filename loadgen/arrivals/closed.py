"""``concurrency{users}``: closed loop, for comparison with the open-loop processes.

``users`` loops each send a request and the next one only when it completes, so the offered
load falls when the server slows down (and latencies suffer coordinated omission).  The plan
yields no arrivals for such a phase; it marks the window with ``closed_loop_users``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from loadgen.arrivals.base import register
from loadgen.config.arrivals import ConcurrencyArrivals


@register("concurrency")
class Concurrency:
    def __init__(self, config: ConcurrencyArrivals) -> None:
        self.closed_loop_users: int | None = config.users

    def times(self, start_s: float, end_s: float, rng: np.random.Generator) -> Iterator[float]:
        return iter(())

    def expected_count(self, duration_s: float) -> float:
        return 0.0

    def describe(self) -> str:
        return f"concurrency(users={self.closed_loop_users}, closed loop)"


__all__ = ["Concurrency"]
