"""Exact, mergeable latency distributions: microsecond HDR histograms keyed by metric x phase x class.

Workers record into a :class:`HistogramSet`, ship ``encode()`` output (a small dict of compressed
base64 HDR blobs) to the master, and the master ``merge_encoded()``s them.  Percentiles are
always read from merged histograms; per-worker percentiles are never averaged.

Values are recorded in seconds and stored as integer microseconds, 1 us to 1 h, 3 significant
digits (relative error <= 0.1 %).  Values above 1 h are clamped and counted in ``clamped``.

Reading percentiles, means and counts from them: ``collectors.hdr_read`` (vectorised; hdrh's own
readers walk every bucket in pure Python).
"""

from __future__ import annotations

import ctypes
import sys
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping

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


def counts_view(h: HdrHistogram) -> np.ndarray:
    """The counts of ``h`` as a numpy int64 view (cached on the histogram)."""
    v: np.ndarray | None = getattr(h, "_il_counts", None)
    if v is None:
        v = h._il_counts = np.ctypeslib.as_array(h.counts)
    return v


def index_range(h: HdrHistogram) -> tuple[int, int]:
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
    lo, hi = index_range(src)
    view = counts_view(dst)
    view[lo:hi + 1] += counts_view(src)[lo:hi + 1]  # hdrh's add walks all 23,552 counts; this only the used range
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
        lo, hi = index_range(h)
        counts_view(h)[lo:hi + 1] = 0
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
    def encode(self, pause: Callable[[], None] | None = None) -> dict[str, str]:
        """Compressed, base64 HDR blobs keyed ``metric|phase|class`` (msgpack/JSON-safe).
        ``pause`` is called after each histogram (``collectors.loop_yield.Slicer``: the loop gets a
        turn every few ms; hdrh's encode takes ~0.15 ms per histogram, a worker ships dozens)."""
        out: dict[str, str] = {}
        for key, h in list(self._h.items()):
            if h.get_total_count():
                blob = h.encode()
                out[_key_str(key)] = blob.decode("ascii") if isinstance(blob, bytes) else blob
                if pause is not None:
                    pause()
        return out

    @classmethod
    def decoded(cls, encoded: Mapping[str, str], pause: Callable[[], None] | None = None) -> HistogramSet:
        """A new set holding :meth:`encode`'s output, each histogram decoded once (``pause`` after
        each, as in :meth:`encode`)."""
        out = cls()
        for ks, blob in encoded.items():
            key = _key_tuple(ks)
            h = decode_histogram(blob)
            if key in out._h:  # not from encode(): keys are unique there
                add_histogram(out._h[key], h)
            else:
                out._h[key] = h  # kept as decoded: merged from it, as merge_encoded does
            if pause is not None:
                pause()
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


__all__ = [
    "HIGHEST_US",
    "LOWEST_US",
    "PERCENTILES",
    "SIG_DIGITS",
    "HistogramSet",
    "Key",
    "add_histogram",
    "counts_view",
    "decode_histogram",
    "index_range",
    "new_histogram",
    "record_request",
    "reset_histogram",
]
