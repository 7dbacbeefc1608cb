"""Arrival processes: pure, seeded generators of absolute offsets, registered by ``process``.

One module per family: ``renewal`` (poisson, gamma, constant), ``modulated`` (onoff, spike),
``ramp``, ``trace`` and ``closed`` (concurrency).  Definitions are in each module's docstring
and in docs/arrivals.md.
"""

from __future__ import annotations

from loadgen.arrivals import closed, modulated, ramp, renewal, trace  # noqa: F401  (registration)
from loadgen.arrivals.base import ArrivalProcess, make_process, registered

__all__ = ["ArrivalProcess", "make_process", "registered"]
