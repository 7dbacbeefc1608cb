"""The master's live view of a run: chart series, server-scrape tap and the cached JSON payload.

:class:`LiveView` is attached to the :class:`~loadgen.locust.master.Coordinator`: it receives
every merged recorder delta (``coord.merge_listeners``) for its chart intervals, a snapshot per
coordinator tick (:meth:`LiveView.on_tick`), and (through :class:`ScrapeTap`) the points of the
server-metrics scrape when there is one.  :meth:`LiveView.payload` builds the JSON the page polls,
at most once per ``cache_s`` whatever the number of viewers; concurrent requests share one build.

A build copies the merged histograms and counters on the gevent loop (yielding every 2
histograms, ~0.3 ms each), then reads percentiles from the copy in a real thread (gevent's thread
pool), so the loop that sends requests keeps running meanwhile (docs/performance.md, "Live view").
"""

from __future__ import annotations

import json
import logging
import math
import sys
import threading
import time
import types
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from collectors import schema
from collectors.health import HealthLimits
from collectors.histograms import HistogramSet
from collectors.loop_yield import yield_to_loop
from collectors.point import Point
from loadgen.web.payload import BlockCache, Pause, RunState, build_payload, rolling_tiles
from loadgen.web.series import LiveSeries

log = logging.getLogger(__name__)

LOCAL_CHART_INTERVAL_S = 2.0  # local runs merge every coordinator tick (1 s)
DISTRIBUTED_CHART_INTERVAL_S = 6.0  # workers report every 3 s: two reports per chart point
SWITCH_INTERVAL_S = 0.0005  # GIL hand-over interval while a build runs in its thread
CACHE_S = 2.0  # the page polls every 2 s: at most one build per poll period, whatever the viewers


def _ms(v: float | None) -> float | None:
    return None if v is None else v * 1e3


class ScrapeTap:
    """Keeps the recent server-scrape values; forwards every point to the run's telemetry.

    Stands in for the telemetry object given to :func:`loadgen.server_metrics.start_server_metrics`
    (which only calls ``write_points``, from the scrape thread).  Per latency component it keeps
    the scrapes of the last ``window_s`` seconds: mean = sum of the sums / sum of the counts, and
    the latest scrape's p50/p99 (percentiles of different scrapes cannot be combined).
    """

    def __init__(self, telemetry: Any, clock: Callable[[], float] = time.time, window_s: float = 10.0) -> None:
        self._telemetry = telemetry
        self._clock = clock
        self.window_s = window_s
        self.latest: dict[str, Any] | None = None
        self._recent: deque[tuple[float, str, float, float]] = deque(maxlen=4096)  # (t, component, n, sum)
        self._last: dict[str, dict[str, float | None]] = {}
        self._gauges: dict[str, float] = {}
        self._server: str | None = None
        self._lock = threading.Lock()

    def write_points(self, points: list[Point]) -> None:
        try:
            self.observe(points)
        except Exception:
            log.exception("live view: server scrape tap failed")
        self._telemetry.write_points(points)

    def observe(self, points: Iterable[Point]) -> None:
        now = self._clock()
        with self._lock:
            for p in points:
                if p.measurement == schema.SERVER_LATENCY.name:
                    comp = p.tags.get(schema.T_COMPONENT.name, "?")
                    f = p.fields
                    n = float(f.get(schema.SF_COUNT.name, 0.0))
                    if n > 0:
                        self._recent.append((now, comp, n, float(f.get(schema.SF_SUM.name, 0.0))))
                        self._last[comp] = {"p50_ms": _ms(f.get(schema.SF_P50.name)),
                                            "p99_ms": _ms(f.get(schema.SF_P99.name))}
                    self._server = p.tags.get(schema.T_SERVER.name) or self._server
                elif p.measurement == schema.SERVER.name:
                    self._gauges = {k: p.fields[k] for k in (schema.SF_RUNNING.name, schema.SF_WAITING.name,
                                                             schema.SF_KV_CACHE_USAGE.name) if k in p.fields}
                    self._server = p.tags.get(schema.T_SERVER.name) or self._server
            while self._recent and self._recent[0][0] < now - self.window_s:
                self._recent.popleft()
            sums: dict[str, list[float]] = {}
            for _, comp, n, total in self._recent:
                acc = sums.setdefault(comp, [0.0, 0.0])
                acc[0] += n
                acc[1] += total
            order = {c: i for i, c in enumerate(schema.LATENCY_COMPONENTS)}
            components = {
                comp: {"mean_ms": acc[1] / acc[0] * 1e3 if acc[0] else None, "count": acc[0],
                       **self._last.get(comp, {})}
                for comp, acc in sorted(sums.items(), key=lambda kv: order.get(kv[0], 99))
            }
            if components or self._gauges:
                self.latest = {"server": self._server, "at": now, "window_s": self.window_s,
                               "components": components, "gauges": dict(self._gauges)}


class LiveView:
    """Everything the web view shows about one run (master or local process)."""

    def __init__(
        self,
        state: RunState,
        *,
        run_id: str,
        mode: str,
        slo_source: Any | None = None,
        chart_interval_s: float | None = None,
        cache_s: float = CACHE_S,
        clock: Callable[[], float] = time.time,
        pause: Pause | None = None,  # default: yield_to_loop() between histogram copies
        offload: Callable[[Callable[[], Any]], Any] | None = None,
    ) -> None:
        self.state = state
        self.run_id = run_id
        self.mode = mode
        self.slo_source = slo_source  # a LiveRun/LiveSlo, or a callable returning one (or None)
        self.cache_s = cache_s
        self.clock = clock
        self.pause = pause
        self.offload = offload or _in_thread  # where the histogram reads run (default: a real thread)
        gen = state.scenario.generator
        interval = chart_interval_s or (LOCAL_CHART_INTERVAL_S if mode == "local" else DISTRIBUTED_CHART_INTERVAL_S)
        self.series = LiveSeries(
            state.plan, interval_s=interval, goodput=True,
            limits=HealthLimits(lag_p99_s=float(gen.max_schedule_lag_p99_ms) / 1e3,
                                cpu_percent=float(gen.max_cpu_percent)),
        )
        self.snapshot: Any | None = None
        self.scrape: ScrapeTap | None = None
        self._cached: dict[str, Any] | None = None
        self._cached_json: bytes = b""
        self._cached_at = float("-inf")
        self._building: Any | None = None
        self.blocks = BlockCache()
        self.builds = 0

    def attach(self) -> None:
        """Receive the coordinator's merged deltas."""
        listeners = getattr(self.state, "merge_listeners", None)
        if listeners is not None:
            listeners.append(self.series.on_delta)

    def tap(self, telemetry: Any) -> ScrapeTap:
        """The object to hand the server-metrics scrape instead of ``telemetry``."""
        self.scrape = ScrapeTap(telemetry, self.clock)
        return self.scrape

    def chain(self, on_tick: Callable[[Any], None]) -> Callable[[Any], None]:
        """A tick callback that calls ``on_tick`` (the progress display), then :meth:`on_tick`."""

        def both(snapshot: Any) -> None:
            on_tick(snapshot)
            self.on_tick(snapshot)

        return both

    def on_tick(self, snapshot: Any) -> None:
        """The coordinator's tick (about once a second): keep the snapshot, close chart intervals."""
        self.snapshot = snapshot
        st = self.state
        if st.t0_wall <= 0:
            return
        try:
            self.series.tick(now_wall=self.clock(), t0_wall=st.t0_wall, inflight=sum(st.inflight.values()),
                             workers=int(getattr(snapshot, "workers", st.n_slots)),
                             cpu_percent=max(st.cpu_now.values(), default=0.0))
        except Exception:
            log.exception("live view: chart interval failed")

    def finish(self) -> None:
        """Run end: close the last (partial) chart interval."""
        st = self.state
        if st.t0_wall > 0:
            self.series.close_interval(now_wall=self.clock(), t0_wall=st.t0_wall,
                                       inflight=sum(st.inflight.values()),
                                       cpu_percent=max(st.cpu_now.values(), default=0.0))
        self._cached_at = float("-inf")

    def freeze(self) -> tuple[Any, Any, list[dict[str, Any]] | None]:
        """A private copy of what the payload reads (on the loop, yielding between histograms)."""
        st = self.state
        pause = self.pause or _yield
        frozen = types.SimpleNamespace(
            scenario=st.scenario, plan=st.plan, hs=HistogramCopy.of(st.hs, pause), counters=st.counters.copy(),
            t0_wall=st.t0_wall, n_slots=st.n_slots, stop_requested_at=st.stop_requested_at,
            lost_slots=[dict(x) for x in st.lost_slots], cpu_now=dict(st.cpu_now), cpu_max=dict(st.cpu_max),
            inflight=dict(st.inflight),
        )
        series = types.SimpleNamespace(points=list(self.series.points), interval_s=self.series.interval_s,
                                       invalid_intervals=self.series.invalid_intervals,
                                       intervals=self.series.intervals)
        source = self.slo_source() if callable(self.slo_source) else self.slo_source
        live_slo = getattr(source, "slo", source)
        rolling = None
        if live_slo is not None and getattr(live_slo, "objectives", None):
            off = self.clock() - st.t0_wall
            phase = st.plan.phase_at(off).name if st.t0_wall > 0 and 0 <= off < float(st.plan.duration_s) else None
            rolling = rolling_tiles(live_slo, None if phase is None else str(phase))
        return frozen, series, rolling

    def build(self) -> tuple[dict[str, Any], bytes]:
        """Freeze the state on the loop, then read the histograms in a worker thread (``offload``)."""
        frozen, series, rolling = self.freeze()
        snapshot, server, now = self.snapshot, None if self.scrape is None else self.scrape.latest, self.clock()

        def work() -> tuple[dict[str, Any], bytes]:
            data = build_payload(frozen, series=series, run_id=self.run_id, mode=self.mode, snapshot=snapshot,
                                 server=server, now_wall=now, blocks=self.blocks, rolling=rolling)
            return data, json.dumps(_finite(data), allow_nan=False, default=_json_default).encode()

        out: tuple[dict[str, Any], bytes] = self.offload(work)
        return out

    def payload(self) -> tuple[dict[str, Any], bytes]:
        """The current payload and its JSON, rebuilt at most once per ``cache_s``."""
        if self.clock() - self._cached_at < self.cache_s and self._cached is not None:
            return self._cached, self._cached_json
        if self._building is not None:  # another request is building it: wait for that one
            self._building.wait(timeout=30)
            if self._cached is not None:
                return self._cached, self._cached_json
        from gevent.event import Event

        self._building = ev = Event()
        try:
            data, body = self.build()
            self._cached = data
            self._cached_json = body
            self._cached_at = self.clock()
            self.builds += 1
        finally:
            self._building = None
            ev.set()
        return data, self._cached_json


class HistogramCopy(HistogramSet):
    """A private copy of a :class:`HistogramSet` (the live view reads it in another thread)."""

    __slots__ = ()

    @classmethod
    def of(cls, hs: HistogramSet, pause: Pause, every: int = 2) -> HistogramCopy:
        out = cls()
        for i, key in enumerate(list(hs.keys())):
            h = hs.get(*key)
            if h is not None:
                out._merge_one(key, h)
            if i % every == every - 1:
                pause()
        out.clamped = hs.clamped
        return out


def _in_thread(work: Callable[[], Any]) -> Any:
    """Run ``work`` in gevent's pool of real threads: the loop keeps sending meanwhile.

    While it runs, the interpreter hands the GIL over every 0.5 ms instead of 5 ms, so the loop
    waits at most about that long whenever it wakes up (the reads are pure Python and hold the GIL).
    """
    import gevent

    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, SWITCH_INTERVAL_S))
    try:
        return gevent.get_hub().threadpool.apply(work)
    finally:
        sys.setswitchinterval(before)


def _yield() -> None:
    """Let the loop (the greenlets sending requests) run between histogram reads."""
    yield_to_loop()


def _finite(o: Any) -> Any:
    """NaN and infinities -> None (JSON has neither)."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_finite(v) for v in o]
    return o


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    return str(o)


__all__ = ["CACHE_S", "DISTRIBUTED_CHART_INTERVAL_S", "LOCAL_CHART_INTERVAL_S", "HistogramCopy", "LiveView", "ScrapeTap"]
