"""Trend of a series over a long run: an OLS slope per hour with an autocorrelation-widened
t-interval (:func:`fit_trend`), and the fixed-size time bins a series is kept in (:class:`BinnedSeries`).

The statistics behind drift detection (``loadgen/drift.py``) and the soak benchmark's RSS slopes
(``bench/bench_soak.py``).  Pure: numpy and the standard library.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from userinput.strict import StrictModel

MAX_BINS = 512
CONFIDENCE = 0.95  # the interval reported


def t_quantile(p: float, df: float) -> float:
    """Student-t quantile (Cornish-Fisher expansion around the normal; < 1 % off for df >= 3, < 0.1 % for df >= 5)."""
    if df < 2:  # the expansion is poor below 3: the closed forms at df 1 and 2 (never narrower)
        return math.tan(math.pi * (p - 0.5))
    if df < 3:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    z = _norm_ppf(p)
    if math.isinf(df):
        return z
    z3, z5, z7, z9 = z**3, z**5, z**7, z**9
    return (z + (z3 + z) / (4 * df) + (5 * z5 + 16 * z3 + 3 * z) / (96 * df**2)
            + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df**3)
            + (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / (92160 * df**4))


def _norm_ppf(p: float) -> float:
    """Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9 after refinement)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
         -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
         -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
         4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    lo = 0.02425
    if p < lo:
        q = math.sqrt(-2 * math.log(p))
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    elif p <= 1 - lo:
        q = p - 0.5
        r = q * q
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / \
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    else:
        q = math.sqrt(-2 * math.log(1 - p))
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    # one Halley step on erfc
    e = 0.5 * math.erfc(-x / math.sqrt(2)) - p
    u = e * math.sqrt(2 * math.pi) * math.exp(x * x / 2)
    return x - u / (1 + x * u / 2)


@dataclass(frozen=True, slots=True)
class Trend:
    """An OLS line ``value = start + slope * (t - t_first)`` (t in hours) with its interval."""

    points: int
    span_h: float
    slope_per_h: float
    ci_lo_per_h: float
    ci_hi_per_h: float
    start: float  # fitted value at the first bin
    end: float  # fitted value at the last bin
    autocorrelation: float  # lag-1 autocorrelation of the residuals (0 when negative)
    effective_df: float  # degrees of freedom after the autocorrelation (independent values - 2)

    def rise_fraction(self, floor: float) -> float:
        return (self.end - self.start) / max(abs(self.start), floor)


def fit_trend(t_h: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray,
              confidence: float = CONFIDENCE) -> Trend | None:
    """OLS slope per hour with an autocorrelation-widened t-interval; None with < 3 points or no span."""
    t = np.asarray(t_h, dtype=np.float64)
    v = np.asarray(y, dtype=np.float64)
    n = len(t)
    if n < 3:
        return None
    tm, vm = float(t.mean()), float(v.mean())
    dt = t - tm
    sxx = float(dt @ dt)
    if sxx <= 0.0:
        return None
    slope = float(dt @ (v - vm)) / sxx
    resid = v - (vm + slope * dt)
    rss = float(resid @ resid)
    r = 0.0
    if rss > 0.0 and n > 3:
        r = float(resid[1:] @ resid[:-1]) / rss
        r = max(0.0, min(0.99, r + (1 + 4 * r) / n))  # Kendall's small-sample bias correction
    se = math.sqrt(rss / (n - 2) / sxx) * math.sqrt((1 + r) / (1 - r))
    df = max(1.0, (n - 2) * (1 - r) / (1 + r))
    half = t_quantile(0.5 + confidence / 2, df) * se
    t_first, t_last = float(t[0]), float(t[-1])
    return Trend(n, t_last - t_first, slope, slope - half, slope + half,
                 vm + slope * (t_first - tm), vm + slope * (t_last - tm), r, df)


class BinnedSeries:
    """At most ``max_bins`` (mean time, mean value) bins; when full, neighbours merge pairwise."""

    __slots__ = ("_n", "_t", "_y", "max_bins", "per_bin", "values")

    def __init__(self, max_bins: int = MAX_BINS) -> None:
        self.max_bins = max_bins
        self.per_bin = 1  # values per bin (doubles at every merge)
        self._t: list[float] = []
        self._y: list[float] = []
        self._n: list[int] = []
        self.values = 0

    def add(self, t: float, y: float) -> None:
        if not math.isfinite(y):
            return
        self.values += 1
        if self._n and self._n[-1] < self.per_bin:
            k = self._n[-1]
            self._t[-1] = (self._t[-1] * k + t) / (k + 1)
            self._y[-1] = (self._y[-1] * k + y) / (k + 1)
            self._n[-1] = k + 1
            return
        if len(self._n) >= self.max_bins:
            self._halve()
        self._t.append(t)
        self._y.append(y)
        self._n.append(1)

    def _halve(self) -> None:
        t, y, n = self._t, self._y, self._n
        nt: list[float] = []
        ny: list[float] = []
        nn: list[int] = []
        for i in range(0, len(n) - 1, 2):
            k = n[i] + n[i + 1]
            nt.append((t[i] * n[i] + t[i + 1] * n[i + 1]) / k)
            ny.append((y[i] * n[i] + y[i + 1] * n[i + 1]) / k)
            nn.append(k)
        if len(n) % 2:
            nt.append(t[-1])
            ny.append(y[-1])
            nn.append(n[-1])
        self._t, self._y, self._n = nt, ny, nn
        self.per_bin *= 2

    def __len__(self) -> int:
        return len(self._n)

    def arrays(self) -> tuple[list[float], list[float]]:
        return list(self._t), list(self._y)

    def state(self) -> dict[str, Any]:
        """JSON-safe: at most ``max_bins`` (time, value, count) bins and the counts."""
        return {"per_bin": self.per_bin, "values": self.values, "t": list(self._t), "y": list(self._y),
                "n": list(self._n)}

    @classmethod
    def from_state(cls, state: BinsState, max_bins: int = MAX_BINS) -> BinnedSeries:
        """Back from :meth:`state`; ValueError when it is not one (lengths, bounds, counts)."""
        if not len(state.t) == len(state.y) == len(state.n):
            raise ValueError(f"bins: t, y and n differ in length ({len(state.t)}, {len(state.y)}, {len(state.n)})")
        if len(state.n) > max_bins:
            raise ValueError(f"bins: {len(state.n)} bins, more than the {max_bins} kept")
        if any(k < 1 or k > state.per_bin for k in state.n) or sum(state.n) != state.values:
            raise ValueError("bins: the bin counts do not add up to the values")
        if not all(math.isfinite(v) for v in (*state.t, *state.y)):
            raise ValueError("bins: a time or value is not finite")
        b = cls(max_bins)
        b.per_bin, b.values = state.per_bin, state.values
        b._t, b._y, b._n = list(state.t), list(state.y), list(state.n)
        return b


class BinsState(StrictModel):
    per_bin: int = Field(ge=1)
    values: int = Field(ge=0)
    t: list[float]
    y: list[float]
    n: list[int]


__all__ = ["CONFIDENCE", "MAX_BINS", "BinnedSeries", "BinsState", "Trend", "fit_trend", "t_quantile"]
