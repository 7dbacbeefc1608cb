"""RequestTelemetry: the one object a load-generator process calls to get its measurements stored.

Build one per process::

    tel = RequestTelemetry(scenario.sinks, run_id=run_id, scenario=scenario.name, worker="w3",
                           role="worker", run_dir=None)
    tel.on_record(record)                         # worker: every finished request (O(1), never raises)
    tel.on_interval(merged_hs, merged_counters)   # master: every aggregate interval
    tel.on_health(inflight=..., dropped_arrivals=..., workers_connected=..., cpu_percent=...)
    tel.write_points(points)                      # other collectors of the run (server scrape, events)
    summary = tel.close()                         # both: drain; the rest stays in the spool

Roles: ``worker`` writes raw request points; ``master`` writes aggregates and health and serves
Prometheus; ``standalone`` (one process, no Locust master) does both.  The counters and
histograms come from the caller (``loadgen.recorder`` on the workers, merged on the master): this
object counts nothing itself, so the interval points and the run summary read the same numbers.

The run folder: with ``run_dir`` set, a master or standalone process also writes every point it
makes to ``<run_dir>/points/intervals.lp`` (aggregates, health, sink accounting, server scrape,
events) and a standalone process its sampled raw points to ``<run_dir>/points/requests.lp`` —
whether or not the scenario has a ``sinks:`` section — so reports work from the folder alone.
Nothing here raises into the caller except bad configuration in ``__init__`` (InputError).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from collectors import lineproto, schema
from collectors.aggregates import AggregateBuilder
from collectors.counters import Counters
from collectors.health import HealthLimits, HealthSample, health_point
from collectors.histograms import HistogramSet
from collectors.loop_yield import yield_to_loop
from collectors.point import Point
from collectors.records import RequestRecord
from collectors.request import RequestCollector
from collectors.sinks.base import Sink, SinkStats
from collectors.sinks.config import FileSinkConfig, SinksConfig

log = logging.getLogger(__name__)

RUN_FOLDER_SINK = "run_folder"
MAX_SHIPPED = 50_000  # raw points a worker holds for the master between two reports (then dropped, counted)
POINTS_DIR = "points"
INTERVALS_FILE = "intervals.lp"
REQUESTS_FILE = "requests.lp"


class Parts:
    """Time of a step done in parts: :meth:`pause` gives the loop a turn between two parts
    (collectors/loop_yield.py) and is not counted; :meth:`done` returns the parts' total."""

    def __init__(self) -> None:
        self.busy = 0.0
        self._t = time.perf_counter()

    def pause(self) -> None:
        now = time.perf_counter()
        self.busy += now - self._t
        yield_to_loop()
        self._t = time.perf_counter()

    def done(self) -> float:
        self.busy += time.perf_counter() - self._t
        self._t = time.perf_counter()
        return self.busy


class RequestTelemetry:
    """See the module docstring.  ``sinks`` overrides the sinks built from the config (tests)."""

    def __init__(
        self,
        sinks_config: SinksConfig | None,
        *,
        run_id: str,
        scenario: str,
        worker: str,
        role: str,
        clock: Callable[[], float] = time.time,
        endpoint: str = "",
        model: str = "",
        health_limits: HealthLimits | None = None,
        run_dir: Path | None = None,
        on_stop_run: Callable[[], None] | None = None,
        sinks: list[Sink] | None = None,
        close_timeout_s: float = 10.0,
        ship_raw: bool = False,
    ) -> None:
        if role not in schema.ROLES:
            raise ValueError(f"role must be one of {', '.join(schema.ROLES)}")
        self.config = sinks_config if sinks_config is not None else SinksConfig()
        self._configured = sinks_config is not None
        self.role = role
        self.worker = worker
        self._clock = clock
        self._limits = health_limits or HealthLimits()
        self._writes_raw = role in ("worker", "standalone")
        self._writes_aggregates = role in ("master", "standalone")
        self._requests = RequestCollector(run_id=run_id, scenario=scenario, worker=worker, endpoint=endpoint,
                                          model=model, sample_ratio=self.config.raw_sample_ratio)
        self._aggregates = AggregateBuilder(run_id=run_id, scenario=scenario, endpoint=endpoint, model=model)
        self._own_tags = {schema.T_RUN_ID.name: run_id, schema.T_SCENARIO.name: scenario,
                          schema.T_WORKER.name: worker, schema.T_ROLE.name: role}
        self.sinks: list[Sink] = sinks if sinks is not None else self._build_sinks(run_dir, on_stop_run)
        self._raw_sinks: list[Sink] = []
        self._all_but_prometheus: list[Sink] = []
        self._run_folder_raw: Sink | None = None
        if sinks is None and run_dir is not None and self._writes_aggregates:
            self._add_run_folder(Path(run_dir))
        self._raw_sinks = [s for s in self.sinks if s.name not in ("prometheus", "grafana", RUN_FOLDER_SINK)]
        if self._run_folder_raw is not None:
            self._raw_sinks.append(self._run_folder_raw)
        self._all_but_prometheus = [s for s in self.sinks if s.name != "prometheus"]
        self.close_timeout_s = close_timeout_s
        # a worker keeps its sampled raw points, encoded, for the master's run folder (take_raw)
        self._ship: list[str] | None = [] if ship_raw and self._writes_raw else None
        self.ship_dropped = 0
        self._last_interval_s: float | None = None
        self._last_lag: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self._records = 0
        self._record_errors = 0
        self.invalid_intervals = 0
        self.intervals = 0
        self._closed = False

    @property
    def configured(self) -> bool:
        """True when the scenario has a ``sinks:`` section (the run folder alone does not count)."""
        return self._configured

    def _build_sinks(self, run_dir: Path | None, on_stop_run: Callable[[], None] | None) -> list[Sink]:
        if not self._configured:
            return []
        cfg = self.config
        out: list[Sink] = []
        if cfg.influxdb is not None:
            from collectors.sinks.influx import InfluxSink

            spool = cfg.influxdb.spool_dir
            if spool is not None:
                spool = Path(spool) / self.worker  # workers on one host must not share a spool
            elif run_dir is not None:
                spool = Path(run_dir) / "spool" / self.worker
            out.append(InfluxSink(cfg.influxdb, spool_dir=spool, on_stop_run=on_stop_run))
        if cfg.file is not None:
            from collectors.sinks.file import FileSink

            path = Path(cfg.file.path)
            if self.role == "worker" or path.is_dir():  # one file per writer: no interleaving
                path = (path if path.is_dir() else path.parent) / f"{path.stem}-{self.worker}{path.suffix or '.lp'}"
            out.append(FileSink(FileSinkConfig(path=path)))
        if cfg.prometheus is not None and self._writes_aggregates:
            from collectors.sinks.prometheus import PrometheusSink

            out.append(PrometheusSink(cfg.prometheus))
        if cfg.grafana is not None and self._writes_aggregates:  # run events as Grafana annotations
            from collectors.sinks.grafana import GrafanaAnnotationSink

            out.append(GrafanaAnnotationSink(cfg.grafana))
        return out

    def _add_run_folder(self, run_dir: Path) -> None:
        from collectors.sinks.file import FileSink

        folder = run_dir / POINTS_DIR
        agg = FileSink(FileSinkConfig(path=folder / INTERVALS_FILE))
        agg.name = RUN_FOLDER_SINK
        self.sinks.append(agg)
        if self._writes_raw or self.role == "master":  # the master writes what workers ship
            raw = FileSink(FileSinkConfig(path=folder / REQUESTS_FILE))
            raw.name = RUN_FOLDER_SINK
            self._run_folder_raw = raw

    def expect(self, phases: list[str], classes: list[str]) -> None:
        """The run's phases and traffic classes, before it starts: sinks that keep one series per
        label set (Prometheus) create them now instead of on the sending loop mid-run."""
        for sink in self.sinks:
            expect = getattr(sink, "expect", None)
            if expect is not None:
                try:
                    expect(phases, classes)
                except Exception:
                    log.exception("telemetry: %s could not prepare its series", sink.name)

    # ---- the request path ------------------------------------------------------------------
    def on_record(self, rec: RequestRecord) -> None:
        """One finished request: (sampled) written as a raw point.  O(1); never raises."""
        if not self._writes_raw or not (self._raw_sinks or self._ship is not None):
            return
        try:
            self._records += 1
            point = self._requests.point(rec)
            if point is not None:
                batch = [point]
                for sink in self._raw_sinks:
                    sink.write(batch)
                if self._ship is not None:
                    if len(self._ship) < MAX_SHIPPED:
                        self._ship.append(lineproto.encode(point))
                    else:
                        self.ship_dropped += 1
        except Exception:
            self._record_errors += 1
            if self._record_errors == 1:
                log.exception("telemetry: a request record could not be processed (counted, logged once)")

    def take_raw(self) -> list[str]:
        """Worker: the raw points (line protocol) sampled since the last call, for the master."""
        if not self._ship:
            return []
        out, self._ship = self._ship, []
        return out

    def write_raw_lines(self, lines: list[str]) -> None:
        """Master: a worker's shipped raw points, appended to ``<run_dir>/points/requests.lp``."""
        raw = self._run_folder_raw
        if raw is not None and lines:
            write_lines = getattr(raw, "write_lines", None)
            if write_lines is not None:
                write_lines(lines)

    # ---- the master's interval ---------------------------------------------------------------
    def on_interval(self, merged: HistogramSet, counters: Counters, now_s: float | None = None,
                    cumulative: HistogramSet | None = None) -> float:
        """Write the interval's aggregates from *this interval's* merged histograms and counters.
        ``cumulative``: the run's histograms so far, this interval included, when the caller keeps
        them (the coordinator does; after a restart they hold the run before it): read, not merged.

        The work comes in parts with a pause between them (:func:`yield_to_loop`: under gevent the
        loop that sends requests runs meanwhile; elsewhere nothing).  Returns the seconds spent in
        the parts, pauses excluded (part of ``aggregate_s`` in the health point).
        """
        parts = Parts()
        try:
            now = self._clock() if now_s is None else now_s
            interval_s = (now - self._last_interval_s) if self._last_interval_s is not None \
                else self.config.aggregate_interval_s
            self._last_interval_s = now
            self._last_lag = HealthSample.lag_from(merged.combined(schema.M_SCHEDULE_LAG))
            now_ns = int(now * 1e9)
            points = self._aggregates.points(merged, counters, interval_s=interval_s, now_ns=now_ns,
                                             cumulative=cumulative, pause=parts.pause)
            points += self._accounting_points(now_ns)
            for sink in self.sinks:
                parts.pause()
                sink.write(points)
            self.intervals += 1
        except Exception:
            log.exception("telemetry: interval aggregates failed")
        return parts.done()

    def on_health(
        self,
        *,
        inflight: int = 0,
        dropped_arrivals: int = 0,
        workers_connected: int = 0,
        cpu_percent: float = 0.0,
        interval_s: float | None = None,
        now_s: float | None = None,
        schedule_lag: tuple[float, float, float] | None = None,
        worker: str | None = None,
        generator_faults: int = 0,
        aggregate_s: float = 0.0,
        loop_stall_max_s: float = 0.0,
    ) -> bool:
        """Write one ``loadgen_health`` point; True when the interval is invalid (generator-bound).

        ``schedule_lag`` is (p50, p99, max) seconds; default: from the last ``on_interval``.
        """
        try:
            now = self._clock() if now_s is None else now_s
            p50, p99, mx = schedule_lag if schedule_lag is not None else self._last_lag
            sample = HealthSample(
                interval_s=interval_s if interval_s is not None else self.config.aggregate_interval_s,
                inflight=inflight, dropped_arrivals=dropped_arrivals, workers_connected=workers_connected,
                cpu_percent=cpu_percent, lag_p50_s=p50, lag_p99_s=p99, lag_max_s=mx,
                generator_faults=generator_faults, aggregate_s=aggregate_s, loop_stall_max_s=loop_stall_max_s,
            )
            tags = dict(self._own_tags)
            if worker is not None:
                tags[schema.T_WORKER.name] = worker
            point = health_point(sample, self._limits, tags=tags, now_ns=int(now * 1e9))
            self._write_all([point])
            invalid = point.fields[schema.F_INVALID.name] > 0
            self.invalid_intervals += int(invalid)
            return invalid
        except Exception:
            log.exception("telemetry: health point failed")
            return False

    def write_points(self, points: list[Point]) -> None:
        """Points of the run's other collectors (server scrape, live SLO and run events): every sink
        (Prometheus keeps only what it exposes: the live SLO counters, run phase, server queue)."""
        try:
            for sink in self.sinks:
                sink.write(points)
        except Exception:
            log.exception("telemetry: writing collector points failed")

    # ---- accounting and shutdown -------------------------------------------------------------
    def _accounting_points(self, now_ns: int) -> list[Point]:
        out = []
        for sink in self.sinks:
            if sink.name in ("prometheus", RUN_FOLDER_SINK):
                continue
            tags = dict(self._own_tags)
            tags[schema.T_SINK.name] = sink.name
            out.append(Point(schema.SINK.name, tags, sink.stats().as_fields(), now_ns))
        return out

    def write_accounting(self, now_s: float | None = None) -> None:
        """Write the ``telemetry_sink`` points now (the master's interval does it itself)."""
        now = self._clock() if now_s is None else now_s
        self._write_all(self._accounting_points(int(now * 1e9)))

    def _write_all(self, points: list[Point]) -> None:
        for sink in self.sinks:
            sink.write(points)

    @property
    def stop_requested(self) -> bool:
        """True when a sink asked the run to stop (InfluxDB spool full with on_spool_full=stop_run)."""
        for s in self.sinks:
            evt = getattr(s, "stop_requested", None)
            if evt is not None and evt.is_set():
                return True
        return False

    def stats(self) -> dict[str, SinkStats]:
        return {s.name: s.stats() for s in self.sinks if s.name != RUN_FOLDER_SINK}

    def close(self, timeout_s: float | None = None) -> dict[str, object]:
        """Drain every sink within ``timeout_s`` in total; the accounting summary (JSON-safe)."""
        if not self._closed:
            self._closed = True
            try:
                if self._configured:
                    self.write_accounting()
            except Exception:
                log.exception("telemetry: final accounting point failed")
        budget = self.close_timeout_s if timeout_s is None else timeout_s
        end = time.monotonic() + budget
        finals: dict[str, object] = {}
        closing = list(self.sinks) + ([self._run_folder_raw] if self._run_folder_raw is not None else [])
        for sink in closing:
            try:
                st = sink.close(max(0.1, end - time.monotonic()))
                if sink.name != RUN_FOLDER_SINK:
                    finals[sink.name] = st.as_dict()
            except Exception:
                log.exception("telemetry: closing sink %s failed", sink.name)
        spool_dir = next((str(getattr(s, "spool_dir", "")) for s in self.sinks if s.name == "influxdb"), None)
        return {
            "records": self._records,
            "raw_points_sampled_out": self._requests.sampled_out,
            "record_errors": self._record_errors,
            "raw_points_not_shipped": self.ship_dropped,
            "intervals": self.intervals,
            "invalid_intervals": self.invalid_intervals,
            "sinks": finals,
            "spool_dir": spool_dir,
        }


__all__ = ["INTERVALS_FILE", "POINTS_DIR", "REQUESTS_FILE", "RUN_FOLDER_SINK", "Parts", "RequestTelemetry"]
