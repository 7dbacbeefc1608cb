"""Worker-side accounting of finished requests: HDR histograms plus exact counters.

A :class:`Recorder` turns every finished :class:`RequestRecord` (ok, failed, cancelled or failed
inside the generator) into HDR histogram samples (``collectors.histograms.record_request``) and
:class:`collectors.counters.Counters` keyed by phase x traffic class, and counts what never became
a request (arrivals dropped above ``max_inflight``, arrivals lost while a dead worker's slot had no
owner).  ``take()`` returns the deltas since the previous call in a msgpack-safe dict, so a worker
can ship them to the master on the aggregate grid (``il_delta``) and the master merges them
(:func:`merge_delta`): the interval points and the run summary are read from those same merged counters and histograms.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from collectors.counters import (
    C_CANCELLED,
    C_DROPPED,
    C_GENERATOR_FAULT,
    C_GOOD,
    C_LOST_IN_GAP,
    C_OK,
    C_OUTPUT_TOKENS,
    C_PROMPT_TOKENS,
    C_REQUESTS,
    ERROR_PREFIX,
    Counters,
)
from collectors.histograms import HistogramSet, record_request
from collectors.records import ErrorClass, RequestRecord
from loadgen.goodput import GoodputRule


class Recorder:
    """Everything one worker measured since the last :meth:`take`."""

    __slots__ = ("_spare", "counters", "goodput", "histograms", "taking")

    def __init__(self, goodput: GoodputRule | None = None) -> None:
        self.histograms = HistogramSet()
        self.counters = Counters()
        self.goodput = goodput or GoodputRule()  # no thresholds: every ok request is good
        self._spare: HistogramSet | None = None  # the second buffer of take / take_local
        self.taking = 0  # takes in progress (paused between two histograms)

    def record(self, rec: RequestRecord) -> None:
        """One finished request."""
        record_request(self.histograms, rec)
        c = self.counters
        phase, cls = rec.phase, rec.traffic_class
        c.add(phase, cls, C_REQUESTS)
        err = rec.error
        if err is None:
            c.add(phase, cls, C_OK)
            c.add(phase, cls, C_OUTPUT_TOKENS, rec.n_output_tokens)
            c.add(phase, cls, C_PROMPT_TOKENS, rec.n_prompt_tokens)
            if self.goodput.is_good(rec):
                c.add(phase, cls, C_GOOD)
        elif err is ErrorClass.CANCELLED:
            c.add(phase, cls, C_CANCELLED)
        elif err is ErrorClass.GENERATOR:
            c.add(phase, cls, C_GENERATOR_FAULT)
        else:
            c.add(phase, cls, ERROR_PREFIX + err.value)

    def dropped(self, phase: str, cls: str, n: int = 1) -> None:
        self.counters.add(phase, cls, C_DROPPED, n)

    def lost_in_gap(self, phase: str, cls: str, n: int = 1) -> None:
        self.counters.add(phase, cls, C_LOST_IN_GAP, n)

    def take(self, pause: Callable[[], None] | None = None) -> dict[str, Any]:
        """Deltas since the previous call: ``{"hist": {...}, "counters": {...}}`` (msgpack-safe).

        The histograms and counters are swapped out first (records that finish meanwhile go to the
        next delta), then encoded; ``pause`` is called between two histograms (a worker passes a
        ``collectors.loop_yield.Slicer``: encoding dozens of histograms took 7-12 ms in one block
        on the loop that sends requests).  :attr:`taking` counts takes in progress."""
        hs, counters = self.histograms, self.counters
        spare, self._spare = self._spare, None
        if spare is None:
            spare = HistogramSet()
        else:
            spare.reset()
        self.histograms, self.counters = spare, Counters()
        self.taking += 1
        try:
            out = {"hist": hs.encode(pause), "counters": counters.encode()}
        finally:
            self.taking -= 1
        self._spare = hs  # zeroed when it is swapped in again
        return out

    def take_local(self) -> dict[str, Any]:
        """Deltas since the previous call as the objects themselves, for a coordinator in this
        process: ``{"hist_set": HistogramSet, "counter_set": Counters}``.  No encoding and decoding
        (a local run's interval step on the sending loop), the same merge result as :meth:`take`.
        The histogram set is valid until the next call (it is then zeroed and reused): merge it at once."""
        out = {LOCAL_HIST: self.histograms, LOCAL_COUNTERS: self.counters}
        spare = self._spare if self._spare is not None else HistogramSet()
        spare.reset()  # two buffers, zeroed in place: no 188 KiB histogram allocated per key and call
        self._spare, self.histograms = self.histograms, spare
        self.counters = Counters()
        return out


LOCAL_HIST = "hist_set"
LOCAL_COUNTERS = "counter_set"


def decode_delta(delta: Mapping[str, Any], pause: Callable[[], None] | None = None) -> dict[str, Any]:
    """A :meth:`Recorder.take` result as objects (the :meth:`Recorder.take_local` form), each
    histogram decoded once (``pause`` between two, as in :meth:`Recorder.take`); other keys kept.
    The master decodes a worker's delta once and merges the objects into every set that needs them."""
    if LOCAL_HIST in delta:
        return dict(delta)
    out = {k: v for k, v in delta.items() if k not in ("hist", "counters")}
    out[LOCAL_HIST] = HistogramSet.decoded(delta.get("hist") or {}, pause)
    counters = Counters()
    counters.merge_encoded(delta.get("counters") or {})
    out[LOCAL_COUNTERS] = counters
    return out


def merge_delta(hs: HistogramSet, counters: Counters, delta: Mapping[str, Any]) -> None:
    """Merge one :meth:`Recorder.take` (or :meth:`Recorder.take_local`) result into a master-side
    histogram set and counters."""
    local_hs = delta.get(LOCAL_HIST)
    if local_hs is not None:
        hs.merge(local_hs)
        counters.merge(delta[LOCAL_COUNTERS])
        return
    hs.merge_encoded(delta.get("hist") or {})
    counters.merge_encoded(delta.get("counters") or {})


__all__ = ["LOCAL_COUNTERS", "LOCAL_HIST", "Recorder", "decode_delta", "merge_delta"]
