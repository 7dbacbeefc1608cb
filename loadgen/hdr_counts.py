"""inferload's HDR histograms as numpy count arrays: percentiles and counts above a threshold.

``collectors.histograms`` keeps HdrHistogram objects (1 us to 1 h, 3 significant digits); their
counts array is one fixed layout, so counts of many intervals add as plain int64 arrays.  This
reads such arrays the way HdrHistogram does: the percentile is the highest value of the bucket
holding rank ``int(p * n / 100 + 0.5)`` (at least 1), and a value is *above* a threshold when the
lowest value of its bucket is.  The index tables come from ``collectors.hdr_read.layout`` (built
once, vectorised).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hdrh.histogram import HdrHistogram

from collectors.hdr_read import layout

IntArr = npt.NDArray[np.int64]


class HdrCounts:
    """Index <-> value maps of inferload's HDR layout (computed once)."""

    def __init__(self) -> None:
        low, high, _ = layout()  # the vectorised index tables of collectors/histograms.py
        self.n = len(low)
        self.lowest = low.astype(np.int64)
        self._highest = high.astype(np.int64)

    def counts(self, h: HdrHistogram) -> IntArr:
        """A view of the histogram's counts (no copy)."""
        arr: IntArr = np.ctypeslib.as_array(h.counts).view(np.int64)
        return arr

    def mask_above(self, threshold_s: float) -> npt.NDArray[np.bool_]:
        """Indices whose whole HDR bucket lies above ``threshold_s``."""
        out: npt.NDArray[np.bool_] = self.lowest > threshold_s * 1e6
        return out

    def dense_percentile_s(self, dense: IntArr, percentile: float) -> float | None:
        """HdrHistogram.get_value_at_percentile over a dense counts array, in seconds."""
        cum = np.cumsum(dense)
        total = int(cum[-1]) if len(cum) else 0
        if total == 0:
            return None
        target = max(int(min(percentile, 100.0) * total / 100 + 0.5), 1)
        pos = int(np.searchsorted(cum, target))
        return float(self._highest[pos]) / 1e6

    def sparse(self, h: HdrHistogram) -> tuple[IntArr, IntArr]:
        c = self.counts(h)
        idx = np.nonzero(c)[0].astype(np.int64)
        return idx, c[idx].copy()

    def above(self, idx: IntArr, cnt: IntArr, threshold_s: float) -> int:
        """Values whose whole HDR bucket lies above ``threshold_s``."""
        thr_us = threshold_s * 1e6
        return int(cnt[self.lowest[idx] > thr_us].sum())


_HDR: HdrCounts | None = None


def hdr() -> HdrCounts:
    global _HDR
    if _HDR is None:
        _HDR = HdrCounts()
    return _HDR


__all__ = ["HdrCounts", "IntArr", "hdr"]
