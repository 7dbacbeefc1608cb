"""The worker-side open-loop scheduler: one per worker process, one greenlet per arrival.

A :class:`Scheduler` receives its plan (scenario, compact slot of N, shared ``t0``) from the
master, then for each slot it runs walks ``plan.arrivals(slot, n_slots)``: it sleeps to the
*absolute* deadline ``t0_mono + offset`` (re-sleeping if woken early), drops and counts an
arrival when the slot's in-flight cap is reached (never a hidden queue), and otherwise spawns one
greenlet into an unbounded tracked ``Group`` that builds the request, fills a
:class:`RequestRecord` and calls the client.  Closed-loop ``concurrency{users}`` phases run that
phase's share of users as back-to-back loops (scheduled time = the moment a loop is ready).

When a slot's arrivals end (plan end or early stop) its in-flight streams get
``generator.stop_timeout_s`` to finish, then are cancelled and counted; only then does the slot
report ``done`` with the final recorder delta.  A slot adopted from a dead worker skips (never
bursts) the arrivals that fell due while it had no owner and counts them as ``lost_in_gap``.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gevent
from gevent.event import Event
from gevent.pool import Group

from collectors.loop_yield import Slicer, yield_to_loop
from collectors.records import ErrorClass, RequestRecord
from loadgen.busy import BusyMeter
from loadgen.config import Scenario
from loadgen.goodput import goodput_rule
from loadgen.locust.messages import AdoptMsg, DoneMsg, PlanMsg
from loadgen.locust.telemetry import NoTelemetry, Telemetry
from loadgen.openai.payloads import PreparedRequest
from loadgen.plan import Arrival, PhaseWindow, Plan
from loadgen.recorder import Recorder

log = logging.getLogger(__name__)
DELTA_WAIT_YIELDS = 10_000  # at most ~1 s waiting for a delta being encoded before a done message


@dataclass(slots=True)
class Runtime:
    """Everything a scheduler needs to send requests, built from the plan message."""

    scenario: Scenario
    plan: Plan
    make_request: Callable[[Arrival], PreparedRequest]
    send: Callable[[PreparedRequest, RequestRecord], None]  # OpenAIClient.send
    closed_loop_request: Callable[[int, int, int, int], Arrival] | None = None  # (phase_index, slot, user, seq)


RuntimeFactory = Callable[[PlanMsg], Runtime]
DoneSender = Callable[[DoneMsg], None]
RequestHook = Callable[[RequestRecord], None]


def slot_share(total: int, slot: int, n_slots: int) -> int:
    """This slot's share of ``total`` (users or in-flight cap), spread as evenly as possible."""
    return total // n_slots + (1 if slot < total % n_slots else 0)


class Scheduler:
    """The open-loop scheduler of one worker process (see module docstring)."""

    def __init__(
        self,
        make_runtime: RuntimeFactory,
        send_done: DoneSender,
        telemetry: Telemetry | None = None,
        on_request: RequestHook | None = None,
    ) -> None:
        self._make_runtime = make_runtime
        self._send_done = send_done
        self.telemetry: Telemetry = telemetry or NoTelemetry()
        self._on_request = on_request
        self.recorder = Recorder()
        self.busy = BusyMeter()  # time spent handing records to the sinks, loop stalls
        self.plan_ready = Event()
        self.stop_evt = Event()
        self.rt: Runtime | None = None
        self.msg: PlanMsg | None = None
        self.t0_mono_ns = 0
        self.wall_offset_ns = 0
        self.released: set[int] = set()
        self.slot_runners = Group()
        self.groups: list[Group] = []
        self.running_slots: set[int] = set()
        self.stop_at_mono_ns: int | None = None
        self.worker_label = "local"
        self.internal_errors = 0  # exceptions inside the generator (ErrorClass.GENERATOR: run invalid)
        self._started = False

    def take_delta(self, sliced: bool = False) -> dict[str, Any]:
        """What the master merges: the recorder's deltas, plus the sampled raw points (``raw``)
        for the master's run folder.  ``sliced`` (a worker's periodic ``il_delta``): the histograms are
        encoded in parts of ~2 ms with a loop yield between them (``collectors.loop_yield.Slicer``)."""
        delta = self.recorder.take(Slicer() if sliced else None)
        raw = self.telemetry.take_raw()
        if raw:
            delta["raw"] = raw
        return delta

    # ---- protocol entry points (called from message handlers) -------------------------------
    def on_plan(self, msg: PlanMsg) -> None:
        self.msg = msg
        self.worker_label = msg.worker_label
        self.rt = self._make_runtime(msg)
        slo = getattr(self.rt.scenario, "slo", None)
        self.recorder.goodput = goodput_rule(slo.objectives if slo is not None else [])
        # Move start-up objects (Locust, Flask, gevent, the plan) out of the collected generations:
        # fewer and shorter GC pauses in the schedule (measured in the reference prototype).
        gc.collect()
        gc.freeze()
        now_wall_ns, now_mono_ns = time.time_ns(), time.monotonic_ns()
        self.wall_offset_ns = now_wall_ns - now_mono_ns
        self.t0_mono_ns = int(msg.t0_wall * 1e9) - self.wall_offset_ns
        self.plan_ready.set()

    def on_adopt(self, msg: AdoptMsg) -> None:
        if not self.plan_ready.is_set() or self.stop_evt.is_set():
            return
        if msg.slot in self.running_slots:
            return
        self.released.discard(msg.slot)
        self.slot_runners.spawn(self._run_slot, msg.slot, msg.silent_since_s)

    def on_release(self, slot: int) -> None:
        self.released.add(slot)

    def stop(self) -> None:
        """Early stop: no new arrivals; in-flight streams get the drain time, then are cancelled."""
        if not self.stop_evt.is_set():
            self.stop_at_mono_ns = time.monotonic_ns()
            self.stop_evt.set()

    @property
    def inflight(self) -> int:
        return sum(len(g) for g in self.groups)

    # ---- main ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start this worker's own slot once the plan is there (idempotent; returns at once).

        The slot runs in greenlets owned by the scheduler, not in the Locust user's greenlet:
        Locust may stop and re-spawn users when workers come and go, and that must not touch
        the schedule.
        """
        if self._started:
            return
        self._started = True
        self.slot_runners.spawn(self._run_own_slot)

    def _run_own_slot(self) -> None:
        self.plan_ready.wait()
        assert self.msg is not None
        if self.msg.slot is not None:
            self._run_slot(self.msg.slot, None)

    def join(self, timeout: float | None = None) -> bool:
        return bool(self.slot_runners.join(timeout=timeout))

    def abort(self) -> None:
        """Locust stopped the test: no new arrivals, cancel every in-flight request now."""
        self.stop()
        self.kill_all()

    def kill_all(self) -> None:
        """Cancel every in-flight request now (their records are counted as cancelled)."""
        for g in self.groups:
            g.kill(block=True, timeout=5)

    def now_offset_s(self) -> float:
        return (time.monotonic_ns() - self.t0_mono_ns) / 1e9

    # ---- one slot -------------------------------------------------------------------------------
    def _run_slot(self, slot: int, adopted_since_s: float | None) -> None:
        rt, msg = self.rt, self.msg
        assert rt is not None and msg is not None
        self.running_slots.add(slot)
        group = Group()
        self.groups.append(group)
        lost = 0
        start_after: float | None = None
        if adopted_since_s is not None:
            start_after = max(adopted_since_s, self.now_offset_s())
            lost = self._count_lost(slot, adopted_since_s, start_after)
        elif msg.start_after_s is not None:  # a resumed run: the master counted the gap before it
            start_after = msg.start_after_s
        try:
            self._start_closed_loops(rt, slot, msg.n_slots, group, start_after)
            self._walk(rt, slot, msg.n_slots, group, start_after)
            self._drain(rt, group)
        finally:
            self.running_slots.discard(slot)
        if slot in self.released:
            log.info("slot %d released (re-assigned); not reporting it done", slot)
            return
        stopped_at = None
        if self.stop_at_mono_ns is not None:
            stopped_at = (self.stop_at_mono_ns - self.t0_mono_ns) / 1e9
        early = stopped_at is not None and stopped_at < float(rt.plan.duration_s)
        # a delta paused between two histograms holds values recorded before this point: it must
        # reach the master before the done message (which ends the slot's accounting)
        waited = 0
        while self.recorder.taking and waited < DELTA_WAIT_YIELDS:
            yield_to_loop()
            waited += 1
        self._send_done(
            DoneMsg(
                self.worker_label, [slot], self.take_delta(),
                {slot: lost} if adopted_since_s is not None else {}, early, stopped_at if early else None,
            )
        )

    def _count_lost(self, slot: int, since_s: float, until_s: float) -> int:
        rt, msg = self.rt, self.msg
        assert rt is not None and msg is not None
        n = 0
        for a in rt.plan.arrivals(slot, msg.n_slots, since_s):
            if a.offset_s >= until_s:
                break
            if a.offset_s < since_s:
                continue
            self.recorder.lost_in_gap(a.phase, a.traffic_class)
            n += 1
        return n

    def _cap(self, rt: Runtime, phase_index: int, slot: int, slot_count: int) -> int | None:
        scenario = rt.scenario
        try:
            total = scenario.phase_max_inflight(scenario.phases[phase_index])
        except (AttributeError, IndexError):
            total = getattr(scenario, "max_inflight", None)
        if total is None:
            return None
        # exact split: the slots' shares add up to the declared cap (a 0 share drops every arrival)
        return slot_share(int(total), slot, slot_count)

    def _sleep_until(self, deadline_ns: int) -> bool:
        """Sleep to an absolute monotonic deadline; False if stopped while sleeping."""
        while True:
            d = deadline_ns - time.monotonic_ns()
            if d <= 0:
                return not self.stop_evt.is_set()
            if self.stop_evt.wait(d / 1e9):
                return False

    def _walk(self, rt: Runtime, slot: int, n_slots: int, group: Group, start_after: float | None) -> None:
        arrivals: Iterator[Arrival] = rt.plan.arrivals(slot, n_slots, start_after)
        for a in arrivals:
            if self.stop_evt.is_set() or slot in self.released:
                return
            if start_after is not None and a.offset_s < start_after:
                continue
            target = self.t0_mono_ns + int(a.offset_s * 1e9)
            # the request (prompt text, JSON body) is built while waiting for its deadline, not
            # after it: building took ~0.5 ms per request, all of it counted as schedule lag
            prepared: PreparedRequest | Exception
            try:
                prepared = rt.make_request(a)
            except Exception as err:  # recorded by _one as the generator's fault
                prepared = err
            if not self._sleep_until(target) or slot in self.released:
                return
            cap = self._cap(rt, a.phase_index, slot, n_slots)
            if cap is not None and len(group) >= cap:
                self.recorder.dropped(a.phase, a.traffic_class)
                continue
            group.spawn(self._one, rt, a, target, prepared)
        # no new arrivals after the plan ends; wait for closed-loop users of this slot
        end_ns = self.t0_mono_ns + int(float(rt.plan.duration_s) * 1e9)
        self._sleep_until(end_ns)

    def _start_closed_loops(
        self, rt: Runtime, slot: int, n_slots: int, group: Group, start_after: float | None
    ) -> None:
        if rt.closed_loop_request is None:
            return
        for ph in rt.plan.phases:
            users = getattr(ph, "closed_loop_users", None)
            if not users:
                continue
            if start_after is not None and ph.end_s <= start_after:
                continue
            for u in range(slot_share(int(users), slot, n_slots)):
                group.spawn(self._closed_loop, rt, slot, ph, u)

    def _closed_loop(self, rt: Runtime, slot: int, ph: PhaseWindow, user: int) -> None:
        assert rt.closed_loop_request is not None
        start_ns = self.t0_mono_ns + int(ph.start_s * 1e9)
        end_ns = self.t0_mono_ns + int(ph.end_s * 1e9)
        if not self._sleep_until(start_ns):
            return
        seq = 0
        while not self.stop_evt.is_set() and slot not in self.released:
            now = time.monotonic_ns()
            if now >= end_ns:
                return
            a = rt.closed_loop_request(ph.index, slot, user, seq)
            seq += 1
            self._one(rt, a, now)

    # ---- one request ----------------------------------------------------------------------------
    def _one(self, rt: Runtime, a: Arrival, scheduled_ns: int,
             prepared: PreparedRequest | Exception | None = None) -> None:
        """One request: ``prepared`` is its request built ahead by the pacer (or the exception
        building it raised); None builds it here (closed loop)."""
        rec = RequestRecord(
            idx=a.idx,
            phase=a.phase,
            traffic_class=a.traffic_class,
            worker=self.worker_label,
            scheduled_ns=scheduled_ns,
            wall_offset_ns=self.wall_offset_ns,
            planned_prompt_tokens=getattr(a, "prompt_tokens", None),
        )
        try:
            if isinstance(prepared, Exception):
                raise prepared
            rt.send(prepared if prepared is not None else rt.make_request(a), rec)
        except gevent.GreenletExit:
            self._cancelled(rec)
            raise
        except Exception as err:  # the client never raises; a failure here is ours, count it
            self.internal_errors += 1
            if self.internal_errors <= 5:
                log.exception("request %d failed inside the load generator", a.idx)
            rec.error = ErrorClass.GENERATOR
            rec.error_detail = f"load generator exception: {type(err).__name__}: {err}"[:200]
            if rec.end_ns is None:
                rec.end_ns = time.monotonic_ns()
        self._finish(rec)

    def _cancelled(self, rec: RequestRecord) -> None:
        now = time.monotonic_ns()
        if rec.sent_ns == 0:
            rec.sent_ns = now
        rec.end_ns = now
        rec.error = ErrorClass.CANCELLED
        rec.error_detail = "in flight at the end of the drain"
        self._finish(rec)

    def _finish(self, rec: RequestRecord) -> None:
        self.recorder.record(rec)
        try:
            t = time.perf_counter()
            self.telemetry.on_record(rec)
            self.busy.add("writing", time.perf_counter() - t)
            if self._on_request is not None:
                self._on_request(rec)
        except Exception:
            log.exception("request hook failed")

    def _drain(self, rt: Runtime, group: Group) -> None:
        timeout_s = float(rt.scenario.generator.stop_timeout_s)
        start = self.stop_at_mono_ns if self.stop_at_mono_ns is not None else time.monotonic_ns()
        remaining = max(0.0, (start - time.monotonic_ns()) / 1e9 + timeout_s)
        if not group.join(timeout=remaining):
            log.info("%d streams still in flight after %.1f s drain: cancelling", len(group), timeout_s)
            group.kill(block=True, timeout=10)


__all__ = [
    "DoneSender",
    "RequestHook",
    "Runtime",
    "RuntimeFactory",
    "Scheduler",
    "slot_share",
]
