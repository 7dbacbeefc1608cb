"""Exact, mergeable latency distributions: microsecond HDR histograms keyed by metric x phase x class.

Workers record into a :class:`HistogramSet`, ship ``encode()`` output (a small dict of compressed
base64 HDR blobs) to the master, and the master ``merge_encoded()``s them.  Percentiles are
always read from merged histograms; per-worker percentiles are never averaged.

Values are recorded in seconds and stored as integer microseconds, 1 us to 1 h, 3 significant
digits (relative error <= 0.1 %).  Values above 1 h are clamped and counted in ``clamped``.

Reading a histogram (:func:`summarize`, :func:`value_at_percentile`, :func:`count_above`) is
vectorised over the counts array with numpy: the ``hdrh`` package's own readers walk up to 23,552
buckets in pure Python (~80 ms for one summary), which stalled the gevent loop that sends requests
when the master aggregated every interval (issue: "every local run with sinks is judged invalid").
The results are exactly hdrh's (same rounding rules; pinned by tests/unit/test_histograms_fast.py).
"""

from __future__ import annotations

import ctypes
import sys
import weakref
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache

import numpy as np
from hdrh.histogram import HdrHistogram

from collectors import schema
from collectors.records import RequestRecord

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # 1 hour
SIG_DIGITS = 3
PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0, 99.9)

Key = tuple[str, str, str]  # (metric, phase, traffic_class)


def _key_str(key: Key) -> str:
    return "|".join(key)


def _key_tuple(s: str) -> Key:
    metric, phase, cls = s.split("|", 2)
    return (metric, phase, cls)


def _acyclic(h: HdrHistogram) -> HdrHistogram:
    """Break hdrh's reference cycle (histogram -> encoder -> histogram).

    With the cycle every histogram (188 KiB of counts) is garbage only the cyclic collector can
    free, and it runs by object counts, not bytes: a run that decodes and replaces histograms every
    report grew its RSS until a full collection (and then paused the loop to collect).  With a weak
    back-reference plain reference counting frees each histogram the moment it is dropped.
    """
    h.encoder.histogram = weakref.proxy(h)
    h._il_counts = np.ctypeslib.as_array(h.counts)  # a numpy view of the counts (no copy), read below
    return h


def _view(h: HdrHistogram) -> np.ndarray:
    """The counts of ``h`` as a numpy int64 view (cached on the histogram)."""
    v: np.ndarray | None = getattr(h, "_il_counts", None)
    if v is None:
        v = h._il_counts = np.ctypeslib.as_array(h.counts)
    return v


def _index_range(h: HdrHistogram) -> tuple[int, int]:
    """First and last counts index that can hold a value (from the recorded min and max)."""
    hi = h._counts_index_for(h.max_value) if h.max_value else h.counts_len - 1
    if h.min_value == sys.maxsize or h.counts[0]:
        return 0, hi
    return h._counts_index_for(h.min_value), hi


def new_histogram() -> HdrHistogram:
    return _acyclic(HdrHistogram(LOWEST_US, HIGHEST_US, SIG_DIGITS))


def decode_histogram(blob: str | bytes) -> HdrHistogram:
    """``HdrHistogram.decode`` without the reference cycle."""
    return _acyclic(HdrHistogram.decode(blob.encode("ascii") if isinstance(blob, str) else blob))


def add_histogram(dst: HdrHistogram, src: HdrHistogram) -> None:
    """``dst.add(src)`` with numpy over the index range ``src`` uses (same result as hdrh's ``add``),
    skipping an empty ``src`` (hdrh's ``add`` of an empty histogram sets the minimum to 0: a
    summary's ``min_ms`` read 0 whenever one of the merged parts had no values)."""
    n = src.total_count
    if not n:
        return
    lo, hi = _index_range(src)
    view = _view(dst)
    view[lo:hi + 1] += _view(src)[lo:hi + 1]  # hdrh's add walks all 23,552 counts; this only the used range
    src_min, src_max = src.get_min_value(), src.get_max_value()
    dst.total_count += n
    dst.max_value = max(dst.max_value, src_max)
    dst.min_value = min(dst.min_value, src_min)
    dst.start_time_stamp_msec = min(dst.start_time_stamp_msec, src.start_time_stamp_msec)
    dst.end_time_stamp_msec = max(dst.end_time_stamp_msec, src.end_time_stamp_msec)


def reset_histogram(h: HdrHistogram) -> None:
    """Zero ``h`` in place (hdrh's own ``reset`` walks 23,552 counters in Python): only the range
    between the buckets of its smallest and largest value can hold counts."""
    if h.total_count:
        lo, hi = _index_range(h)
        _view(h)[lo:hi + 1] = 0
    elif h.max_value:  # no count but a maximum: not one of ours; zero it all
        ctypes.memset(ctypes.addressof(h.counts), 0, ctypes.sizeof(h.counts))
    h.total_count = 0
    h.min_value = sys.maxsize
    h.max_value = 0
    h.start_time_stamp_msec = sys.maxsize
    h.end_time_stamp_msec = 0


class HistogramSet:
    """A dict of HDR histograms keyed by ``(metric, phase, traffic_class)``."""

    __slots__ = ("_h", "clamped")

    def __init__(self) -> None:
        self._h: dict[Key, HdrHistogram] = {}
        self.clamped = 0

    # ---- recording -------------------------------------------------------------------
    def record(self, metric: str, phase: str, cls: str, seconds: float) -> None:
        key = (metric, phase, cls)
        h = self._h.get(key)
        if h is None:
            h = self._h[key] = new_histogram()
        us = int(round(seconds * 1e6))
        if us < LOWEST_US:
            us = LOWEST_US
        elif us > HIGHEST_US:
            us = HIGHEST_US
            self.clamped += 1
        h.record_value(us)

    def record_many(self, metric: str, phase: str, cls: str, values: Iterable[float]) -> None:
        for v in values:
            self.record(metric, phase, cls, v)

    # ---- shipping and merging ----------------------------------------------------------
    def encode(self) -> dict[str, str]:
        """Compressed, base64 HDR blobs keyed ``metric|phase|class`` (msgpack/JSON-safe)."""
        out: dict[str, str] = {}
        for key, h in self._h.items():
            if h.get_total_count():
                blob = h.encode()
                out[_key_str(key)] = blob.decode("ascii") if isinstance(blob, bytes) else blob
        return out

    def encode_and_reset(self) -> dict[str, str]:
        """``encode()``, then zero every histogram in place (kept for reuse: no allocation churn)."""
        out = self.encode()
        self.reset()
        return out

    def reset(self) -> None:
        """Zero every histogram in place; keys stay (``keys()`` skips empty ones)."""
        for h in self._h.values():
            if h.get_total_count():
                reset_histogram(h)

    def ensure(self, metric: str, phase: str, cls: str) -> None:
        """Create the (empty) histogram of a key ahead of its first value (empty keys stay invisible
        to ``keys()``, ``phases()`` and ``encode()``)."""
        if (metric, phase, cls) not in self._h:
            self._h[(metric, phase, cls)] = new_histogram()

    def merge_encoded(self, encoded: Mapping[str, str]) -> None:
        for ks, blob in encoded.items():
            self._merge_one(_key_tuple(ks), decode_histogram(blob))

    def merge(self, other: HistogramSet) -> None:
        for key, h in other._h.items():
            self._merge_one(key, h)
        self.clamped += other.clamped

    def _merge_one(self, key: Key, other: HdrHistogram) -> None:
        mine = self._h.get(key)
        if mine is None:
            mine = self._h[key] = new_histogram()
        add_histogram(mine, other)

    # ---- reading ------------------------------------------------------------------------
    def keys(self) -> Iterator[Key]:
        """Keys holding at least one value, sorted."""
        return iter(sorted(k for k, h in self._h.items() if h.get_total_count()))

    def __iter__(self) -> Iterator[Key]:
        return self.keys()

    def get(self, metric: str, phase: str, cls: str) -> HdrHistogram | None:
        return self._h.get((metric, phase, cls))

    def combined(self, metric: str, phase: str | None = None, cls: str | None = None) -> HdrHistogram:
        """One histogram merging every key matching ``metric`` (and phase/class when given)."""
        out = new_histogram()
        for (m, p, c), h in self._h.items():
            if m == metric and (phase is None or p == phase) and (cls is None or c == cls):
                add_histogram(out, h)
        return out

    def count(self, metric: str, phase: str | None = None, cls: str | None = None) -> int:
        return sum(
            h.get_total_count()
            for (m, p, c), h in self._h.items()
            if m == metric and (phase is None or p == phase) and (cls is None or c == cls)
        )

    def classes_of(self, metric: str, phase: str) -> list[str]:
        """The classes holding values of ``metric`` in ``phase``, sorted."""
        return sorted(c for (m, p, c), h in self._h.items() if m == metric and p == phase and h.total_count)

    def phases(self) -> list[str]:
        return sorted({p for (_, p, _), h in self._h.items() if h.get_total_count()})

    def classes(self) -> list[str]:
        return sorted({c for (_, _, c), h in self._h.items() if h.get_total_count()})


def record_request(hs: HistogramSet, rec: RequestRecord) -> None:
    """Record one finished request's latencies (successful requests only; lag always)."""
    phase, cls = rec.phase, rec.traffic_class
    hs.record(schema.M_SCHEDULE_LAG, phase, cls, max(0.0, rec.schedule_lag_s))
    if not rec.ok:
        return
    for metric, value in (
        (schema.M_TTFT, rec.ttft_s),
        (schema.M_TTFT_SCHED, rec.ttft_sched_s),
        (schema.M_TTFRT, rec.ttfrt_s),
        (schema.M_TPOT, rec.tpot_s),
        (schema.M_E2E, rec.e2e_s),
        (schema.M_E2E_SCHED, rec.e2e_sched_s),
    ):
        if value is not None:
            hs.record(metric, phase, cls, value)
    t = rec.token_ns
    for i in range(1, len(t)):
        hs.record(schema.M_ITL, phase, cls, (t[i] - t[i - 1]) * 1e-9)


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
    lo, hi = _index_range(h)
    hi = min(hi, h.counts_len - 1)
    low, high, mid = _geometry(h.counts_len, h.lowest_trackable_value, h.highest_trackable_value,
                               h.significant_figures)
    return _view(h)[lo:hi + 1], low[lo:hi + 1], high[lo:hi + 1], mid[lo:hi + 1]


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


def summarize_groups(groups: list[list[HdrHistogram]], percentiles: Iterable[float] = PERCENTILES
                     ) -> list[tuple[list[dict[str, float]], dict[str, float]]]:
    """Per group, :func:`summarize` of each histogram and of the group's sum (what
    ``HistogramSet.combined`` would read), in a few numpy calls for all groups together.

    Each group is stacked on its own index range and cut down to the buckets that hold values; the
    rows of every group then lie end to end in one flat array, whose running sum gives every row's
    count, mean and (with one ``searchsorted``) every percentile.  The interval step reads all its
    metric x phase groups (their classes and the phase) this way: its cost grows with the buckets
    in use, not with 23,552 buckets per histogram, and the numpy calls per group are few.
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
    low, high, mid = _geometry(first.counts_len, first.lowest_trackable_value, first.highest_trackable_value,
                               first.significant_figures)
    # every row's first and last bucket from its recorded min and max (one searchsorted: the lowest
    # values ascend with the index); a recorded 0 sits in bucket 0
    ends = (np.searchsorted(low, [v for h in rows for v in (h.min_value, h.max_value)], side="right") - 1
            ).reshape(-1, 2)
    zero = [r for r, h in enumerate(rows) if h.counts[0]]
    ends[zero, 0] = 0
    lo_l, hi_l = ends[:, 0].tolist(), ends[:, 1].tolist()
    blocks: list[np.ndarray] = []  # flat: per group, its rows then its sum, on the buckets in use
    buckets: list[np.ndarray] = []  # the bucket index of every value of ``blocks`` (a group's, k + 1 times)
    row_len: list[int] = []
    r = 0
    for mem in members:
        if not mem:
            continue
        k = len(mem)
        lo, hi = min(lo_l[r:r + k]), max(hi_l[r:r + k])
        r += k
        stacked = np.stack([_view(h)[lo:hi + 1] for h in mem])
        total = stacked.sum(axis=0)
        cols = np.flatnonzero(total)
        blocks += [stacked[:, cols].ravel(), total[cols]]
        buckets += [cols + lo] * (k + 1)  # the same array k + 1 times: one concatenate below
        row_len += [len(cols)] * (k + 1)
    flat = np.concatenate(blocks)
    bucket = np.concatenate(buckets)
    starts = np.cumsum([0, *row_len[:-1]])
    running = np.cumsum(flat)
    n = np.add.reduceat(flat, starts)
    means = np.add.reduceat(flat * mid[bucket], starts) / n / 1e6
    before = running[starts] - flat[starts]  # the running sum before each row
    # hdrh's rank for percentile p of n values: max(int(p * n / 100 + 0.5), 1); found in the running
    # sum of all rows at (sum before the row + rank)
    pa = np.minimum(np.array(ps, dtype=np.float64), 100.0)
    targets = np.maximum((pa[None, :] * n[:, None] / 100 + 0.5).astype(np.int64), 1)
    pos = np.searchsorted(running, (targets + before[:, None]).ravel(), side="left").reshape(targets.shape)
    at = bucket[pos]
    pick = (np.where(pa > 0, high[at], low[at]) / 1e6).tolist()
    mins = (low[ends[:, 0]] / 1e6).tolist()
    for z in zero:
        mins[z] = 0.0
    maxs = (high[ends[:, 1]] / 1e6).tolist()
    counts, mean_l = n.tolist(), means.tolist()

    def summary(row: int, lo_v: float, hi_v: float) -> dict[str, float]:
        d = {"count": float(counts[row]), "mean": mean_l[row], "min": lo_v, "max": hi_v}
        d.update(zip(keys, pick[row], strict=True))
        return d

    out_row = 0  # rows of the flat layout: each group's members, then its sum
    member = 0  # index into rows / mins / maxs
    for k, g in enumerate(groups):
        if not members[k]:
            continue
        per, _ = result[k]
        first_member = member
        for i, h in enumerate(g):
            if h.total_count:
                per[i] = summary(out_row, mins[member], maxs[member])
                out_row += 1
                member += 1
        result[k] = (per, summary(out_row, min(mins[first_member:member]), max(maxs[first_member:member])))
        out_row += 1
    return result


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


__all__ = [
    "HIGHEST_US",
    "LOWEST_US",
    "PERCENTILES",
    "SIG_DIGITS",
    "HistogramSet",
    "Key",
    "add_histogram",
    "count_above",
    "decode_histogram",
    "layout",
    "new_histogram",
    "record_request",
    "reset_histogram",
    "summarize",
    "summarize_group",
    "summarize_groups",
    "value_at_percentile",
]
