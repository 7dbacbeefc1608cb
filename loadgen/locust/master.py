"""The master side of an open-loop run: slots, shared t0, merging, worker-loss watchdog, done.

The :class:`Coordinator` assigns compact slots 0..N-1 to the connected workers (ordered by
Locust's worker index) and sends each its plan with one shared ``t0`` (wall clock, a few
seconds ahead).  It merges every recorder delta (periodic Locust reports and final ``il_done``
messages) into cumulative and per-interval HDR histograms and counters, watches worker liveness
(Locust marks a silent worker *missing* after ~4 s; a worker that quit is gone at once) and
re-assigns a dead worker's unfinished slot to the live worker with the fewest slots, and waits
until every slot has reported ``done`` (or a deadline) before the run ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import STATE_MISSING, LocalRunner, MasterRunner

from collectors import schema
from collectors.counters import C_DROPPED, C_GENERATOR_FAULT, C_REQUESTS, Counters
from collectors.histograms import HistogramSet
from collectors.loop_yield import Slicer, yield_to_loop
from loadgen import checkpoint as ckpt
from loadgen.allocator import trim_every
from loadgen.busy import BusyMeter, LoopMonitor
from loadgen.config import Scenario
from loadgen.live_run import LiveRun
from loadgen.locust import messages as m
from loadgen.locust.scheduler import Scheduler
from loadgen.locust.stats_cap import trim_locust_stats
from loadgen.locust.telemetry import Telemetry, interval_s
from loadgen.plan import Plan
from loadgen.progress import Snapshot
from loadgen.recorder import decode_delta, merge_delta
from loadgen.slo import percentile_ms
from loadgen.soak_watch import SoakWatch

log = logging.getLogger(__name__)

START_LEAD_S = 3.0  # t0 = now + this, so every worker has its plan and user before t0
DONE_GRACE_S = 15.0  # after plan end + drain, how long to wait for late done messages
CPU_SETTLE_S = 10.0  # Locust samples CPU every 10 s: ignore samples covering start-up
REPORT_GRACE_S = 0.25  # a master's interval step runs this long after its boundary (deltas in flight)
AHEAD_S = 30.0  # the next phase's histograms are created during the last this-many seconds before it
AHEAD_PER_TICK = 8  # ... this many keys per tick (each 188 KiB, fresh pages: ~0.1 ms on a small VM)


@dataclass(slots=True)
class _RateWindow:
    samples: list[tuple[float, int]] = field(default_factory=list)

    def add(self, t: float, n: int, window_s: float = 10.0) -> float:
        self.samples.append((t, n))
        while len(self.samples) > 2 and self.samples[1][0] < t - window_s:
            self.samples.pop(0)
        t0, n0 = self.samples[0]
        return (n - n0) / (t - t0) if t > t0 else 0.0


class Coordinator:
    """Drives one run from the master (or the single local process)."""

    def __init__(
        self,
        environment: Environment,
        *,
        scenario: Scenario,
        scenario_dict: dict[str, Any],
        plan: Plan,
        run_id: str,
        telemetry: Telemetry,
        local_scheduler: Scheduler | None = None,
    ) -> None:
        self.env = environment
        runner = environment.runner
        assert runner is not None
        self.runner = runner
        self.local = isinstance(runner, LocalRunner)
        self.scenario = scenario
        self.scenario_dict = scenario_dict
        self.plan = plan
        self.run_id = run_id
        self.telemetry = telemetry
        self.local_scheduler = local_scheduler
        self.hs = HistogramSet()
        self.counters = Counters()
        self.interval_hs = HistogramSet()
        self.interval_counters = Counters()
        self._spare_hs = HistogramSet()  # the interval sets alternate (see _interval)
        self._ahead: dict[str, list[tuple[str, str, str]]] = {}  # next phase's keys still to create
        self.slot_owner: dict[int, str] = {}
        self.labels: dict[str, str] = {}
        self.done_slots: set[int] = set()
        self.lost_slots: list[dict[str, Any]] = []
        self.last_heartbeat: dict[str, float] = {}
        self.cpu_max: dict[str, float] = {}
        self.cpu_now: dict[str, float] = {}
        self.stopped_at: dict[int, float] = {}  # slot -> plan offset where its worker stopped early
        self.inflight: dict[str, int] = {}
        self.t0_wall = 0.0
        self.n_slots = 0
        self.stop_requested_at: float | None = None
        self._rate = _RateWindow()
        self.stopped_by_sink = False  # a worker's sink asked for the stop (on_spool_full: stop_run)
        # this process: aggregating, writing, loop stalls (loadgen/busy.py); shared with a local scheduler
        self.busy = local_scheduler.busy if local_scheduler is not None else BusyMeter()
        self.busy_by_worker: dict[str, dict[str, Any]] = {}  # the workers' own, from their reports
        self._loop_monitor = LoopMonitor(self.busy)
        self.live: LiveRun | None = None  # live SLO windows and run events, from start()
        # drift detection and slo.windows verdicts (loadgen/soak_watch.py); started in start()
        self.soak = SoakWatch(scenario=scenario, run_id=run_id)
        # checkpoints and restarts (loadgen/checkpoint.py, docs/soak.md); set by the session
        self.checkpointer: ckpt.Checkpointer | None = None  # None: no checkpoints
        self.resume_from: dict[str, Any] | None = None  # a checkpoint to continue (--resume)
        self.max_duration_s: float | None = None  # --max-duration: stop at this plan offset
        self.started_at: datetime | None = None
        self.gaps: list[dict[str, Any]] = []  # restarts: arrivals lost between checkpoint and restart
        # called with every merged recorder delta (the live view keeps its own chart intervals)
        self.merge_listeners: list[Callable[[dict[str, Any]], None]] = []
        runner.register_message(m.DONE, self._on_done)
        runner.register_message(m.DELTA, self._on_delta)
        environment.events.worker_report.add_listener(self._on_worker_report)
        environment.events.heartbeat_sent.add_listener(self._on_heartbeat)

    # ---- start --------------------------------------------------------------------------------
    def start(self, client_ids: list[str]) -> None:
        """Assign slots 0..N-1 in worker-index order and send every worker its plan."""
        if isinstance(self.runner, MasterRunner):
            mr = self.runner
            client_ids = sorted(client_ids, key=lambda c: mr.get_worker_index(c))
        self.n_slots = len(client_ids)
        lead = START_LEAD_S + 0.05 * self.n_slots
        resume_at: float | None = None  # a resumed run: same t0, send from this plan offset on
        walker: ckpt.DueWalker | None = None
        if self.resume_from is not None:
            self.t0_wall = float(self.resume_from["t0_unix"])
            resume_at, walker = ckpt.restart_offset(self.plan, self.t0_wall, lead)
        else:
            self.t0_wall = time.time() + lead
        for slot, cid in enumerate(client_ids):
            label = "local" if self.local else f"w{slot}"
            self.labels[cid] = label
            self.slot_owner[slot] = cid
            self.last_heartbeat[cid] = time.time()
            msg = m.PlanMsg(self.run_id, self.scenario_dict, slot, self.n_slots, self.t0_wall, label, resume_at)
            self.runner.send_message(m.PLAN, msg.to_dict(), client_id=cid)
        # live SLO windows, phase and violation events: every interval runs it (loadgen/live_run.py)
        self.live = LiveRun(scenario=self.scenario, plan=self.plan, run_id=self.run_id,
                            t0_wall=self.t0_wall, cumulative=self.hs)
        self.soak.start(self.t0_wall, self.plan)
        if self.resume_from is not None and resume_at is not None:
            ckpt.restore(self, self.resume_from, resume_at, walker)

    def offset_s(self, wall: float | None = None) -> float:
        return (time.time() if wall is None else wall) - self.t0_wall

    @property
    def plan_end_wall(self) -> float:
        return self.t0_wall + float(self.plan.duration_s)

    # ---- incoming data ----------------------------------------------------------------------------
    def _merge(self, delta: dict[str, Any]) -> None:
        # decoded once, in parts of ~2 ms (dozens of histograms per report: 7 ms and more in one
        # block, three times over with the live view); merged at once after
        delta = decode_delta(delta, Slicer())
        merge_delta(self.hs, self.counters, delta)
        merge_delta(self.interval_hs, self.interval_counters, delta)
        raw = delta.get("raw")
        if raw:  # a worker's sampled raw points, for the run folder
            self.telemetry.write_raw_lines(raw)
        for listener in self.merge_listeners:
            try:
                listener(delta)
            except Exception:
                log.exception("merge listener failed")

    def _known(self, client_id: str | None) -> bool:
        """A worker this master gave a plan (a worker of a master that died before a restart is not)."""
        return self.local or client_id in self.labels

    def _on_worker_report(self, client_id: str, data: dict[str, Any], **_kw: Any) -> None:
        """Locust's stats report (every 3 s): the worker's state (its deltas come as ``il_delta``)."""
        if self._known(client_id):
            self._take_payload(client_id, data.get(m.REPORT_KEY))

    def _on_delta(self, environment: Environment, msg: Any, **_kw: Any) -> None:
        """A worker's delta of one aggregate interval, sent at the boundary."""
        client_id = getattr(msg, "node_id", None)
        if self._known(client_id):
            self._take_payload(str(client_id), msg.data)

    def _take_payload(self, client_id: str, payload: dict[str, Any] | None) -> None:
        if payload:
            if payload.get("delta"):
                self._merge(payload["delta"])
            self.inflight[client_id] = int(payload.get("inflight", 0))
            if payload.get("busy"):
                self.busy_by_worker[self.labels.get(client_id, client_id)] = payload["busy"]
            if payload.get("stop_run"):
                self.stopped_by_sink = True  # the verdict: invalid run, stopped by its own sink
            if payload.get("stop_run") and self.stop_requested_at is None:
                log.error("worker %s: its telemetry spool is full and sinks.influxdb.on_spool_full is "
                          "stop_run: stopping the run", client_id)
                self.request_stop()

    def _on_heartbeat(self, client_id: str, timestamp: float, **_kw: Any) -> None:
        self.last_heartbeat[client_id] = timestamp

    def _on_done(self, environment: Environment, msg: Any, **_kw: Any) -> None:
        if not self._known(getattr(msg, "node_id", None)):
            return
        done = m.DoneMsg.from_dict(msg.data)
        self._merge(done.delta)
        if done.early and self.stop_requested_at is None:
            # the worker is shutting down mid-run: its slot is not finished; the watchdog
            # re-assigns it once the worker is gone
            log.warning("%s stopped slots %s before the plan's end", done.worker_label, done.slots)
            for slot in done.slots:
                if done.stopped_at_s is not None:
                    self.stopped_at[slot] = done.stopped_at_s
            return
        for slot in done.slots:
            self.done_slots.add(slot)
        for slot, lost in done.lost_in_gap.items():
            for entry in self.lost_slots:
                if entry["slot"] == slot:
                    entry["lost_in_gap"] = entry.get("lost_in_gap", 0) + lost
        log.info("done: %s slots %s", done.worker_label, done.slots)

    def prepare_ahead(self, now: float) -> None:
        """Create the next phase's histograms a few per tick before it starts (keys as in the phases
        so far): its first interval would otherwise allocate them all at once on this loop."""
        off = self.offset_s(now)
        nxt = next((w for w in self.plan.phases if off < w.start_s <= off + AHEAD_S), None)
        if nxt is None:
            return
        pending = self._ahead.get(nxt.name)
        if pending is None:
            seen = sorted({(mt, c) for mt, _, c in self.hs})
            if not seen:  # nothing recorded yet: look again next tick
                return
            pending = self._ahead[nxt.name] = [(mt, nxt.name, c) for mt, c in reversed(seen)]
        for _ in range(min(AHEAD_PER_TICK, len(pending))):
            key = pending.pop()
            for hs in (self.hs, self.interval_hs, self._spare_hs):
                hs.ensure(*key)
            yield_to_loop()  # one key at a time between sends

    def poll_local(self) -> None:
        """Local mode has no worker reports: take the in-process scheduler's delta directly."""
        if self.local_scheduler is not None:
            self._merge(self.local_scheduler.recorder.take_local())  # objects: no encode/decode
            self.inflight["local"] = self.local_scheduler.inflight

    # ---- liveness -----------------------------------------------------------------------------------
    def _alive(self) -> list[str]:
        if self.local:
            return ["local"]
        assert isinstance(self.runner, MasterRunner)
        return [
            c.id for c in self.runner.clients.all if c.state != STATE_MISSING and c.id in self.labels
        ]

    def watchdog(self) -> None:
        """Re-assign every unfinished slot whose owner is gone or missing."""
        if self.local or not self.n_slots:
            return
        alive = self._alive()
        for slot, owner in sorted(self.slot_owner.items()):
            if slot in self.done_slots or owner in alive:
                continue
            if not alive:
                continue
            load = {c: sum(1 for o in self.slot_owner.values() if o == c) for c in alive}
            heir = min(alive, key=lambda c: (load[c], c))
            silent_since = self.offset_s(self.last_heartbeat.get(owner, self.t0_wall))
            if slot in self.stopped_at:  # the owner reported exactly when it stopped sending
                silent_since = self.stopped_at.pop(slot)
            at = self.offset_s()
            self.slot_owner[slot] = heir
            self.lost_slots.append(
                {
                    "slot": slot,
                    "worker": self.labels.get(owner, owner),
                    "adopted_by": self.labels.get(heir, heir),
                    "silent_since_s": round(silent_since, 3),
                    "at_s": round(at, 3),
                    "lost_in_gap": 0,
                }
            )
            log.warning("worker %s lost: slot %d -> %s", self.labels.get(owner, owner), slot, self.labels.get(heir))
            self.runner.send_message(m.ADOPT, m.AdoptMsg(slot, silent_since, at).to_dict(), client_id=heir)
            try:
                self.runner.send_message(m.RELEASE, {"slot": slot}, client_id=owner)
            except Exception:  # the old owner may be gone for good
                pass

    def sample_cpu(self) -> None:
        """Current worker CPU (Locust's samples); the maximum during the plan decides validity."""
        now = time.time()
        if self.local:
            usage = {"local": float(getattr(self.runner, "current_cpu_usage", 0.0))}
        else:
            assert isinstance(self.runner, MasterRunner)
            usage = {
                self.labels[c.id]: float(c.cpu_usage) for c in self.runner.clients.all if c.id in self.labels
            }
        self.cpu_now = usage
        if now < self.t0_wall + CPU_SETTLE_S or now > self.plan_end_wall:
            return
        for k, v in usage.items():
            self.cpu_max[k] = max(self.cpu_max.get(k, 0.0), v)

    # ---- stop and wait ---------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Early stop: every worker stops sending, drains, and reports done."""
        if self.stop_requested_at is None:
            self.stop_requested_at = time.time()
            log.warning("stop requested: draining in-flight streams")
            self.runner.send_message(m.STOP, {})

    def all_done(self) -> bool:
        return self.n_slots > 0 and len(self.done_slots) >= self.n_slots

    def deadline_wall(self) -> float:
        drain = float(self.scenario.generator.stop_timeout_s)
        end = self.plan_end_wall
        if self.stop_requested_at is not None:
            end = min(end, self.stop_requested_at)
        return end + drain + DONE_GRACE_S

    def snapshot(self) -> Snapshot:
        now = time.time()
        off = self.offset_s(now)
        requests = self.counters.total(C_REQUESTS)
        phase = "starting" if off < 0 else "draining"
        if 0 <= off < float(self.plan.duration_s):
            try:
                ph = self.plan.phase_at(off)
                phase = str(getattr(ph, "name", ph))
            except Exception:
                phase = "?"
        ttft, _ = percentile_ms(self.hs, schema.M_TTFT, self.hs.phases(), 99.0)
        return Snapshot(
            phase=phase,
            elapsed_s=max(0.0, off),
            remaining_s=max(0.0, float(self.plan.duration_s) - off),
            req_per_s=self._rate.add(now, requests),
            requests=requests,
            ttft_p99_ms=ttft,
            errors=sum(self.counters.errors().values()),
            dropped=self.counters.total(C_DROPPED),
            inflight=sum(self.inflight.values()),
            workers=len(self._alive()),
            stopping=self.stop_requested_at is not None,
        )

    def _interval(self, now: float) -> None:
        """One aggregate interval: the interval's points, live SLO windows, drift, then the health
        point, whose ``aggregate_s`` is the time of all of it.  The step runs in parts with a loop
        yield between them (arrivals that fall due meanwhile are sent on time); deltas merged during
        a yield go to the next interval (the interval's sets are swapped out first)."""
        hs, counters = self.interval_hs, self.interval_counters
        self.interval_hs, self.interval_counters = self._spare_hs, Counters()
        t = time.perf_counter()
        lag, _ = percentile_ms(hs, schema.M_SCHEDULE_LAG, hs.phases(), 99.0)
        spent = time.perf_counter() - t
        try:  # in parts, with loop yields between them: its own time comes back
            spent += self.telemetry.on_interval(hs, counters, now, cumulative=self.hs)  # one cumulative set
        except Exception:
            log.exception("telemetry interval failed")
        yield_to_loop()
        t = time.perf_counter()
        if self.live is not None:  # live SLO windows, phase and violation events (loadgen/live_run.py)
            try:
                self.telemetry.write_points(self.live.on_interval(
                    now, hs, counters, lag_p99_ms=lag, cpu_percent=self.cpu_now))
            except Exception:
                log.exception("live SLO evaluation failed")
        spent += time.perf_counter() - t
        yield_to_loop()
        t = time.perf_counter()
        try:  # drift trends, slo.windows (loadgen/soak_watch.py)
            self.telemetry.write_points(self.soak.on_interval(now, hs, counters))
        except Exception:
            log.exception("drift / window evaluation failed")
        try:
            self.telemetry.on_health(
                now_s=now,
                inflight=sum(self.inflight.values()),
                dropped_arrivals=counters.total(C_DROPPED),
                workers_connected=len(self._alive()),
                cpu_percent=max(self.cpu_now.values(), default=0.0),
                generator_faults=counters.total(C_GENERATOR_FAULT),
                aggregate_s=spent + (time.perf_counter() - t),
                loop_stall_max_s=self.busy.take_interval_stall(),
            )
        except Exception:
            log.exception("telemetry health failed")
        hs.reset()  # zeroed in place, keys kept: the next interval's set (no allocation per interval)
        self._spare_hs = hs
        try:  # Locust's own per-second counts, chart history and error entries (loadgen/locust/stats_cap.py)
            trim_locust_stats(self.env.stats, now)
        except Exception:
            log.exception("trimming Locust's statistics failed")
        spent += time.perf_counter() - t
        self.busy.add("aggregating", spent)

    def wait(self, on_tick: Callable[[Snapshot], None] | None = None, tick_s: float = 1.0) -> None:
        """Run until every slot is done or the deadline passes; ``on_tick`` gets a snapshot each tick."""
        every_s = interval_s(self.scenario)  # the run folder always gets the interval points
        # the boundaries t0 + k * every_s, as on the workers (loadgen/locust/messages.py boundaries);
        # a master steps REPORT_GRACE_S after each, when the workers' deltas for it have arrived
        boundary = m.boundaries(self.t0_wall, every_s)
        next_interval = next(boundary)
        grace = 0.0 if self.local else min(REPORT_GRACE_S, every_s / 4)
        every_ckpt_s = float(self.scenario.generator.checkpoint_interval_s)
        next_ckpt = max(time.time(), self.t0_wall) + every_ckpt_s
        self._loop_monitor.start()
        while True:
            self.poll_local()
            self.watchdog()
            self.sample_cpu()
            now = time.time()
            self.prepare_ahead(now)
            trim_every(time.monotonic())  # free heap pages back to the kernel, once a minute
            if (self.max_duration_s is not None and self.stop_requested_at is None
                    and self.offset_s(now) >= self.max_duration_s):
                log.warning("--max-duration %.0f s reached: stopping the run", self.max_duration_s)
                self.request_stop()
            if now >= next_ckpt:
                self.checkpoint(now)
                while next_ckpt <= now:
                    next_ckpt += every_ckpt_s
            if self.telemetry.stop_requested and self.stop_requested_at is None:
                log.error("telemetry spool full and sinks.influxdb.on_spool_full is stop_run: stopping the run")
                self.request_stop()
            if now >= next_interval + grace:
                yield_to_loop()  # the merge above and the interval step are separate parts
                self._interval(next_interval)  # stamped at its boundary
                next_interval = next(boundary)  # absolute deadlines: no drift (a missed one is skipped)
            if on_tick is not None:
                on_tick(self.snapshot())
            if self.all_done() or now > self.deadline_wall():
                break
            if not self.local and not self._alive() and now > self.t0_wall:
                log.error("no live worker left")
                break
            gevent.sleep(max(0.0, min(tick_s, next_interval + grace - time.time())))
        self.poll_local()
        self._interval(time.time())
        self._loop_monitor.stop()
        if self.live is not None:
            try:
                self.telemetry.write_points(self.live.close(time.time(), self.stop_requested_at))
            except Exception:
                log.exception("live SLO close failed")
        try:
            self.telemetry.write_points(self.soak.close(time.time()))
        except Exception:
            log.exception("drift / window close failed")
        self.checkpoint(time.time(), final=True)

    def checkpoint(self, now: float, *, final: bool = False) -> None:
        if self.checkpointer is not None and self.n_slots:
            self.checkpointer.save(self, now, final=final)

    def missing_done_slots(self) -> list[int]:
        return sorted(set(range(self.n_slots)) - self.done_slots)


__all__ = ["CPU_SETTLE_S", "DONE_GRACE_S", "START_LEAD_S", "Coordinator"]
