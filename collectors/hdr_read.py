"""Reading an HDR histogram, vectorised: percentiles, mean, min, max, counts above a threshold.

The ``hdrh`` package's own readers walk up to 23,552 buckets in pure Python (~80 ms for one
summary), which stalled the gevent loop that sends requests when the master aggregated every
interval (issue: "every local run with sinks is judged invalid").  These read the counts array with
numpy over the buckets in use: :func:`summarize` (one histogram), :func:`summarize_groups` (many
groups of histograms in a few numpy calls: the interval step), :func:`value_at_percentile`,
:func:`count_above`, and :func:`layout` (each bucket's value range, for code that keeps counts
arrays).  The results are exactly hdrh's (same rounding rules; pinned by
tests/unit/test_histograms_fast.py).  Storing, merging and shipping histograms: ``collectors.histograms``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
from hdrh.histogram import HdrHistogram

from collectors.histograms import PERCENTILES, counts_view, index_range, new_histogram


@lru_cache(maxsize=4)
def _geometry(counts_len: int, lowest_us: int, highest_us: int, sig_digits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per counts index: the lowest, highest and median equivalent value, by hdrh's own formulas
    (``get_value_from_index``, ``get_highest_equivalent_value``, ``_hdr_median_equiv_value``), vectorised."""
    h = HdrHistogram(lowest_us, highest_us, sig_digits)
    assert h.counts_len == counts_len
    shm, half, unit = h.sub_bucket_half_count_magnitude, h.sub_bucket_half_count, h.unit_magnitude
    i = np.arange(counts_len, dtype=np.int64)
    bucket = (i >> shm) - 1
    sub = (i & (half - 1)) + half
    first = bucket < 0
    sub[first] -= half
    bucket[first] = 0
    low = sub << (bucket + unit)
    # the bucket of the value itself (hdrh recomputes it from the value)
    masked = low | h.sub_bucket_mask
    bit_length = np.floor(np.log2(np.maximum(masked, 1).astype(np.float64))).astype(np.int64) + 1
    vb = bit_length - unit - (shm + 1)
    vsub = low >> (vb + unit)
    vb = np.where(vsub >= h.sub_bucket_count, vb + 1, vb)
    size = np.left_shift(np.int64(1), unit + vb)
    return low.astype(np.float64), (low + size - 1).astype(np.float64), (low + (size >> 1)).astype(np.float64)


def layout() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per counts index of inferload's histograms (1 us to 1 h, 3 digits): the lowest, highest and
    median equivalent value in microseconds (float arrays, shared: do not modify)."""
    h = new_histogram()
    return _geometry(h.counts_len, h.lowest_trackable_value, h.highest_trackable_value, h.significant_figures)


def _arrays(h: HdrHistogram) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The counts from the bucket of the smallest to that of the largest value recorded (no other
    bucket holds a value) and the matching value arrays."""
    lo, hi = index_range(h)
    hi = min(hi, h.counts_len - 1)
    low, high, mid = _geometry(h.counts_len, h.lowest_trackable_value, h.highest_trackable_value,
                               h.significant_figures)
    return counts_view(h)[lo:hi + 1], low[lo:hi + 1], high[lo:hi + 1], mid[lo:hi + 1]


def _at_percentiles(h: HdrHistogram, cum: np.ndarray, low: np.ndarray, high: np.ndarray,
                    percentiles: Iterable[float]) -> list[float]:
    """hdrh's ``get_value_at_percentile`` for each percentile, in microseconds (one searchsorted)."""
    total = h.get_total_count()
    ps = list(percentiles)
    targets = [max(int(min(p, 100.0) * total / 100 + 0.5), 1) for p in ps]
    idx = np.searchsorted(cum, targets, side="left")
    last = len(cum)
    return [0.0 if i >= last else float(high[i] if p else low[i]) for p, i in zip(ps, idx.tolist(), strict=True)]


def value_at_percentile(h: HdrHistogram, percentile: float) -> float:
    """``h.get_value_at_percentile(percentile)`` (microseconds), vectorised."""
    if not h.get_total_count():
        return 0.0
    counts, low, high, _ = _arrays(h)
    return _at_percentiles(h, np.cumsum(counts), low, high, (percentile,))[0]


def count_above(h: HdrHistogram, threshold_us: float) -> int:
    """Values recorded above ``threshold_us`` (a value counts when its bucket's lowest value is above it)."""
    if not h.get_total_count():
        return 0
    counts, low, _, _ = _arrays(h)
    return int(counts[low > threshold_us].sum())


@lru_cache(maxsize=8)
def _pct_keys(percentiles: tuple[float, ...]) -> tuple[str, ...]:
    return tuple(f"p{p:g}".replace(".", "_") for p in percentiles)


def summarize_group(hists: list[HdrHistogram], percentiles: Iterable[float] = PERCENTILES
                    ) -> tuple[list[dict[str, float]], dict[str, float]]:
    """:func:`summarize` of each histogram and of their sum: ``summarize_groups`` of one group."""
    return summarize_groups([hists], percentiles)[0]


BLOCK = 64  # buckets per block of the two-level reading in summarize_groups


def summarize_groups(groups: list[list[HdrHistogram]], percentiles: Iterable[float] = PERCENTILES
                     ) -> list[tuple[list[dict[str, float]], dict[str, float]]]:
    """Per group, :func:`summarize` of each histogram and of the group's sum (what
    ``HistogramSet.combined`` would read): the interval step reads all its metric x phase groups
    (their classes, then the phase) this way.

    Two levels: each group's histograms are copied once over the group's range (aligned to
    :data:`BLOCK` buckets) and summed per block; a group's sum row is the sum of its histograms'
    block sums.  Every percentile's rank is found in the running sum of its row's block sums (all
    rows at once), then inside that one block.  Means come from one integer product per group with
    the buckets' mid values.  About six numpy calls per group and fifteen for all of them: the cost
    grows with the range in use and the number of histograms, not with 23,552 buckets per histogram
    or with the values recorded (a long run's cumulative histograms cost what an interval's do).
    Percentiles, count, min and max equal :func:`summarize`'s exactly; the mean to float rounding."""
    ps = tuple(percentiles)
    keys = _pct_keys(ps)
    result: list[tuple[list[dict[str, float]], dict[str, float]]] = [
        ([{"count": float(h.total_count)} for h in g], {"count": 0.0}) for g in groups]
    members = [[h for h in g if h.total_count] for g in groups]
    rows = [h for mem in members for h in mem]
    if not rows:
        return result
    first = rows[0]
    geometry = (first.counts_len, first.lowest_trackable_value, first.highest_trackable_value,
                first.significant_figures)
    low, high, _ = _geometry(*geometry)
    mid_i = _int_mids(*geometry)
    size = math.gcd(BLOCK, first.counts_len)  # counts_len is a multiple of the half sub-bucket count
    # every row's first and last bucket from its recorded min and max (one searchsorted: the lowest
    # values ascend with the index); a recorded 0 sits in bucket 0
    ends = (np.searchsorted(low, [v for h in rows for v in (h.min_value, h.max_value)], side="right") - 1
            ).reshape(-1, 2)
    zero = [r for r, h in enumerate(rows) if h.counts[0]]
    ends[zero, 0] = 0
    mins = (low[ends[:, 0]] / 1e6).tolist()
    for z in zero:
        mins[z] = 0.0
    maxs = (high[ends[:, 1]] / 1e6).tolist()
    lo_l, hi_l = ends[:, 0].tolist(), ends[:, 1].tolist()
    # per group: its first row, its histograms and its block-aligned range
    spans: list[tuple[int, int, int, int]] = []
    r = 0
    for mem in members:
        if mem:
            m = len(mem)
            spans.append((r, m, min(lo_l[r:r + m]) // size * size, (max(hi_l[r:r + m]) // size + 1) * size))
            r += m
    n_rows, n_groups = len(rows), len(spans)
    width = max(hi - lo for _, _, lo, hi in spans) // size
    # rows of ``sums``: every histogram (group by group), then every group's sum
    sums = np.zeros((n_rows + n_groups, width), dtype=np.uint64)  # the counts' own type: no cast
    weighted = np.empty(n_rows + n_groups, dtype=np.uint64)
    stacks: list[np.ndarray] = []  # per group: m x blocks x size
    for first_row, m, lo, hi in spans:
        stacked = np.stack([counts_view(h)[lo:hi] for h in rows[first_row:first_row + m]])
        np.matmul(stacked, mid_i[lo:hi], out=weighted[first_row:first_row + m])
        stacked = stacked.reshape(m, -1, size)
        stacked.sum(axis=2, out=sums[first_row:first_row + m, :stacked.shape[1]])
        stacks.append(stacked)
    group_first = [first_row for first_row, _, _, _ in spans]
    np.add.reduceat(sums[:n_rows], group_first, axis=0, out=sums[n_rows:])
    np.add.reduceat(weighted[:n_rows], group_first, out=weighted[n_rows:])
    running = np.cumsum(sums, axis=1)
    n = running[:, -1]
    # hdrh's rank for percentile p of n values: max(int(p * n / 100 + 0.5), 1); its block: found in
    # the running sums of all rows laid end to end (each row offset by the rows before it)
    pa = np.minimum(np.array(ps, dtype=np.float64), 100.0)
    rank = np.maximum((pa[None, :] * n[:, None] / 100 + 0.5).astype(np.uint64), np.uint64(1))
    base = np.cumsum(n) - n
    flat_pos = np.searchsorted((running + base[:, None]).ravel(), (rank + base[:, None]).ravel(), side="left")
    block = flat_pos.reshape(rank.shape) - np.arange(len(n))[:, None] * width
    before = np.where(block > 0, np.take_along_axis(running, np.maximum(block - 1, 0), axis=1), np.uint64(0))
    # the counts of each percentile's block, per row (the histograms', then the groups' sums)
    inner = [stacked[np.arange(m)[:, None], block[first_row:first_row + m]]  # m x percentiles x size
             for (first_row, m, _, _), stacked in zip(spans, stacks, strict=True)]
    inner += [stacked[:, block[n_rows + g]].sum(axis=0)[None] for g, stacked in enumerate(stacks)]
    within = (np.cumsum(np.concatenate(inner), axis=2) < (rank - before)[:, :, None]).sum(axis=2)
    starts = np.array([lo for _, m, lo, _ in spans for _ in range(m)] + [lo for _, _, lo, _ in spans])
    at = starts[:, None] + block * size + within
    pick = (np.where(pa > 0, high[at], low[at]) / 1e6).tolist()
    counts = n.tolist()
    means = (weighted / n / 1e6).tolist()
    group = 0
    for k, g in enumerate(groups):
        if not members[k]:
            continue
        first_row, m, _, _ = spans[group]
        per, _ = result[k]
        row = first_row
        for j, h in enumerate(g):
            if h.total_count:
                d = {"count": float(counts[row]), "mean": means[row], "min": mins[row], "max": maxs[row]}
                d.update(zip(keys, pick[row], strict=True))
                per[j] = d
                row += 1
        srow = n_rows + group
        d = {"count": float(counts[srow]), "mean": means[srow], "min": min(mins[first_row:row]),
             "max": max(maxs[first_row:row])}
        d.update(zip(keys, pick[srow], strict=True))
        result[k] = (per, d)
        group += 1
    return result


@lru_cache(maxsize=4)
def _int_mids(counts_len: int, lowest_us: int, highest_us: int, sig_digits: int) -> np.ndarray:
    """The median equivalent values as uint64, the counts' type (an integer product: no float copy)."""
    return _geometry(counts_len, lowest_us, highest_us, sig_digits)[2].astype(np.uint64)


def summarize(h: HdrHistogram, percentiles: Iterable[float] = PERCENTILES) -> dict[str, float]:
    """count, mean, min, max and the given percentiles of ``h``, in seconds (count as float).

    Equal to hdrh's ``get_mean_value``/``get_min_value``/``get_max_value``/``get_value_at_percentile``,
    at a cost of a few tens of microseconds (numpy over the counts array).
    """
    n = h.get_total_count()
    out: dict[str, float] = {"count": float(n)}
    if n == 0:
        return out
    counts, low, high, mid = _arrays(h)
    cum = np.cumsum(counts)
    out["mean"] = float((counts * mid).sum()) / n / 1e6
    out["min"] = h.get_min_value() / 1e6
    out["max"] = h.get_max_value() / 1e6
    ps = list(percentiles)
    for p, v in zip(ps, _at_percentiles(h, cum, low, high, ps), strict=True):
        out[f"p{p:g}".replace(".", "_")] = v / 1e6
    return out


__all__ = ["count_above", "layout", "summarize", "summarize_group", "summarize_groups", "value_at_percentile"]
