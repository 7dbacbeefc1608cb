"""Fault injection: which faults a request gets, drawn from a seeded RNG.

The HTTP-status faults (429 with Retry-After, 500, 503) are mutually exclusive and drawn from
one uniform number; the stream faults (reset mid-stream, stream ended without ``[DONE]``,
stall, malformed SSE line, slow first byte) are independent draws, applied to streaming
requests (stall and slow first byte also delay non-streaming ones).  ``close_connection`` is a
switch, not a probability; ``slowdown_per_hour`` (a server degrading over hours: every engine
step slower by that fraction per simulated hour) is applied by the engine through
:func:`slowdown_factor`.  The settings can be replaced at runtime (admin endpoint).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from gpusim.config import FaultsConfig


@dataclass(frozen=True)
class FaultDraw:
    """The faults chosen for one request."""

    status: int | None = None  # 429 / 500 / 503, answered instead of the completion
    reset_mid_stream: bool = False
    no_done: bool = False
    stall: bool = False
    malformed_sse: bool = False
    slow_first_byte: bool = False
    close_connection: bool = False

    def names(self) -> list[str]:
        out = [f"http_{self.status}"] if self.status is not None else []
        out += [n for n in ("reset_mid_stream", "no_done", "stall", "malformed_sse", "slow_first_byte",
                            "close_connection") if getattr(self, n)]
        return out


NO_FAULT = FaultDraw()


def slowdown_factor(cfg: FaultsConfig, sim_now_s: float) -> float:
    """How much longer an engine step takes at simulated time ``sim_now_s`` (``slowdown_per_hour``)."""
    return 1.0 + cfg.slowdown_per_hour * max(0.0, sim_now_s) / 3600.0


class FaultInjector:
    """Seeded per-request fault decisions under a replaceable :class:`FaultsConfig`."""

    def __init__(self, cfg: FaultsConfig, seed: int) -> None:
        self.cfg = cfg
        self._rng = random.Random(seed ^ 0x5EED)

    def update(self, changes: dict[str, Any]) -> FaultsConfig:
        """Replace the settings with ``changes`` merged over the current ones (validated)."""
        self.cfg = FaultsConfig.model_validate({**self.cfg.model_dump(), **changes})
        return self.cfg

    def draw(self, stream: bool) -> FaultDraw:
        c = self.cfg
        rnd = self._rng.random
        status = None
        if c.http_429 or c.http_500 or c.http_503:
            u = rnd()
            if u < c.http_429:
                status = 429
            elif u < c.http_429 + c.http_500:
                status = 500
            elif u < c.http_429 + c.http_500 + c.http_503:
                status = 503
        if status is not None:
            return FaultDraw(status=status, close_connection=c.close_connection)
        reset = bool(stream and c.reset_mid_stream and rnd() < c.reset_mid_stream)
        no_done = bool(stream and not reset and c.no_done and rnd() < c.no_done)
        malformed = bool(stream and c.malformed_sse and rnd() < c.malformed_sse)
        stall = bool(c.stall and rnd() < c.stall)
        slow = bool(c.slow_first_byte and rnd() < c.slow_first_byte)
        if not (reset or no_done or malformed or stall or slow or c.close_connection):
            return NO_FAULT
        return FaultDraw(None, reset, no_done, stall, malformed, slow, c.close_connection)


__all__ = ["NO_FAULT", "FaultDraw", "FaultInjector", "slowdown_factor"]
