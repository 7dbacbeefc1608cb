"""The simulated GPU: utilisation, power, energy, first-order thermal model and SM clock.

The engine tells the card how long it was busy or idle (``run(dt, busy)``); the card answers
with a clock factor (current SM clock / boost clock) that divides every step's duration, so
a hot card runs slower.  Equations (docs/gpusim.md):

* utilisation ``u`` and reported power: exponential averages over ``util_window_s``;
* instantaneous power ``P = P_idle + (TDP - P_idle) * busy * clock_factor``;
* temperature ``dT/dt = (T_amb + R * P - T) / tau``, integrated exactly per interval;
* clock falls linearly from boost at ``throttle_start_c`` to ``min_clock_mhz`` at ``throttle_full_c``.
"""

from __future__ import annotations

import math

from gpusim.config import GpuConfig

REASON_GPU_IDLE = 0x1
REASON_SW_THERMAL_SLOWDOWN = 0x20


class GpuModel:
    """One simulated card's state, advanced in simulated seconds."""

    def __init__(self, cfg: GpuConfig) -> None:
        self.cfg = cfg
        self.util = 0.0
        self.power_w = cfg.idle_power_w
        self.temp_c = cfg.ambient_c
        self.clock_mhz = float(cfg.boost_clock_mhz)
        self.energy_mj = 0.0
        self.busy_s = 0.0
        self.elapsed_s = 0.0
        self.thermal_violation_ns = 0.0

    def clock_factor(self) -> float:
        return self.clock_mhz / self.cfg.boost_clock_mhz

    def throttled(self) -> bool:
        return self.clock_mhz < self.cfg.boost_clock_mhz

    def run(self, dt: float, busy: float) -> None:
        """Advance ``dt`` simulated seconds during which the card was busy a fraction ``busy``."""
        if dt <= 0:
            return
        c = self.cfg
        a = -math.expm1(-dt / c.util_window_s)
        factor = self.clock_factor()
        p_inst = c.idle_power_w + (c.tdp_w - c.idle_power_w) * busy * factor
        self.util += (busy - self.util) * a
        self.power_w += (p_inst - self.power_w) * a
        self.energy_mj += p_inst * dt * 1000.0
        target = c.ambient_c + c.thermal_resistance_c_per_w * p_inst
        self.temp_c = target + (self.temp_c - target) * math.exp(-dt / c.thermal_tau_s)
        frac = (self.temp_c - c.throttle_start_c) / (c.throttle_full_c - c.throttle_start_c)
        frac = min(1.0, max(0.0, frac))
        self.clock_mhz = c.boost_clock_mhz - (c.boost_clock_mhz - c.min_clock_mhz) * frac
        if frac > 0:
            self.thermal_violation_ns += dt * 1e9
        self.busy_s += dt * busy
        self.elapsed_s += dt

    def throttle_reasons(self) -> int:
        """NVML clocks-event-reason bitmask (GpuIdle 0x1, SwThermalSlowdown 0x20)."""
        bits = 0
        if self.util < 0.01:
            bits |= REASON_GPU_IDLE
        if self.throttled():
            bits |= REASON_SW_THERMAL_SLOWDOWN
        return bits

    def fb_used_mib(self) -> int:
        """Framebuffer in use: like vLLM, weights plus a KV pool preallocated to 90 % of memory."""
        return max(self.cfg.weights_mib, round(self.cfg.fb_total_mib * 0.9))


__all__ = ["REASON_GPU_IDLE", "REASON_SW_THERMAL_SLOWDOWN", "GpuModel"]
