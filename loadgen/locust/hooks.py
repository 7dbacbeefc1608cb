"""Worker-side wiring into Locust: message handlers, stats reports, request events.

:func:`install_worker` attaches one :class:`~loadgen.locust.scheduler.Scheduler` to a Locust
environment whose runner exists (worker or local runner): it handles ``il_plan`` / ``il_adopt``
/ ``il_release`` / ``il_stop``, ships the recorder delta at every aggregate boundary
(``il_delta``, :func:`loadgen.locust.messages.boundaries`) and its state with every Locust stats
report (``report_to_master``), sends ``il_done`` per finished slot, and fires one Locust request
event per finished request, named ``e2e:<phase>`` (for Locust's web UI; exact numbers stay in the HDR
histograms).  The scheduler user finds its scheduler with :func:`scheduler_for`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent
from locust.env import Environment

from collectors.records import RequestRecord
from loadgen.allocator import trim_every
from loadgen.busy import LoopMonitor
from loadgen.locust import messages as m
from loadgen.locust.scheduler import RuntimeFactory, Scheduler
from loadgen.locust.stats_cap import error_message
from loadgen.locust.telemetry import Role, Telemetry, interval_s, make_telemetry

log = logging.getLogger(__name__)

_SCHEDULERS: dict[int, Scheduler] = {}


def scheduler_for(environment: Environment) -> Scheduler | None:
    return _SCHEDULERS.get(id(environment))


def _fire_request_event(environment: Environment, rec: RequestRecord) -> None:
    e2e = rec.e2e_s
    exc: Exception | None = None
    if rec.error is not None:
        exc = RuntimeError(error_message(str(rec.error), rec.error_detail))  # ids masked: bounded error entries
    environment.events.request.fire(
        request_type="LLM",
        name=f"e2e:{rec.phase}",
        response_time=(e2e or 0.0) * 1000.0,
        response_length=rec.n_output_tokens,
        exception=exc,
        context={"phase": rec.phase, "idx": rec.idx, "class": rec.traffic_class},
    )


def install_worker(
    environment: Environment,
    make_runtime: RuntimeFactory,
    *,
    role: Role = "worker",
    telemetry: Telemetry | None = None,
) -> Scheduler:
    """Attach a scheduler to ``environment.runner`` (a worker or local runner)."""
    runner = environment.runner
    assert runner is not None, "create the runner before install_worker"

    def send_done(done: m.DoneMsg) -> None:
        runner.send_message(m.DONE, done.to_dict())

    sched = Scheduler(make_runtime, send_done, telemetry, on_request=lambda r: _fire_request_event(environment, r))
    monitor = LoopMonitor(sched.busy)
    _SCHEDULERS[id(environment)] = sched
    shipper: list[gevent.Greenlet] = []

    def state() -> dict[str, Any]:
        return {"inflight": sched.inflight, "stop_run": sched.telemetry.stop_requested, "busy": sched.busy.to_dict()}

    def ship_deltas(t0_wall: float, every_s: float) -> None:
        """The recorder delta at each point of a grid holding every aggregate boundary (the swap
        happens at the grid point; the encoding after it, in parts)."""
        for boundary in m.boundaries(t0_wall, m.ship_period(every_s)):
            gevent.sleep(max(0.0, boundary - time.time()))
            try:
                runner.send_message(m.DELTA, {"delta": sched.take_delta(sliced=True), **state()})
            except Exception:
                log.exception("sending the interval delta failed (it stays counted in the next)")

    def on_plan(environment: Environment, msg: Any, **_kw: Any) -> None:
        plan = m.PlanMsg.from_dict(msg.data)
        try:
            sched.on_plan(plan)
        except Exception:
            if role == "local":
                raise
            # e.g. a dataset file missing on this host: leave, so the master re-assigns the slot
            log.exception("cannot run the plan from the master; this worker quits")
            gevent.spawn(runner.quit)
            return
        if telemetry is None and sched.rt is not None:
            sched.telemetry = make_telemetry(sched.rt.scenario, role, plan.run_id, plan.worker_label)
        log.info("plan received: slot %s of %d, t0 in %.2f s", plan.slot, plan.n_slots, -sched.now_offset_s())
        if role == "worker":
            monitor.start()  # loop stalls of this worker (the master's own run in its coordinator)
            for g in shipper:  # a plan from a restarted master replaces the previous one
                g.kill(block=False)
            assert sched.rt is not None  # on_plan built it
            shipper[:] = [gevent.spawn(ship_deltas, plan.t0_wall, interval_s(sched.rt.scenario))]
        sched.start()  # do not depend on Locust's user dispatch (it may leave a planned worker userless)

    def on_adopt(environment: Environment, msg: Any, **_kw: Any) -> None:
        adopt = m.AdoptMsg.from_dict(msg.data)
        log.warning("adopting slot %d (owner silent since %.2f s)", adopt.slot, adopt.silent_since_s)
        sched.on_adopt(adopt)

    def on_release(environment: Environment, msg: Any, **_kw: Any) -> None:
        sched.on_release(int(msg.data["slot"]))

    def on_stop(environment: Environment, msg: Any, **_kw: Any) -> None:
        sched.stop()

    runner.register_message(m.PLAN, on_plan)
    runner.register_message(m.ADOPT, on_adopt)
    runner.register_message(m.RELEASE, on_release)
    runner.register_message(m.STOP, on_stop)

    def on_report_to_master(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
        trim_every(time.monotonic())  # free heap pages back to the kernel, once a minute
        data[m.REPORT_KEY] = state()  # the deltas go at the aggregate boundaries (il_delta)

    environment.events.report_to_master.add_listener(on_report_to_master)

    def on_test_stopping(environment: Environment, **_kw: Any) -> None:
        sched.abort()  # finished slots have nothing in flight; an unfinished one is cut here

    environment.events.test_stopping.add_listener(on_test_stopping)

    def on_quitting(environment: Environment, **_kw: Any) -> None:
        for g in shipper:
            g.kill(block=False)
        sched.abort()
        try:
            sched.telemetry.close()
        except Exception:
            log.exception("telemetry close failed")

    if role == "worker":
        environment.events.quitting.add_listener(on_quitting)
    return sched


__all__ = ["install_worker", "scheduler_for"]
