"""One whole run in this process, through Locust's Environment API: local or as master.

:func:`run_session` creates the Locust environment and runner (local, or master waiting for
``expect_workers`` workers), installs the coordinator (and, locally, the in-process scheduler),
starts one scheduler user per worker, shows progress, waits for every slot's ``done``, quits the
workers, and returns the summary and exit decision.  :func:`serve_worker` is the worker side.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import gevent
from locust.env import Environment

from collectors import schema
from collectors.counters import C_GENERATOR_FAULT
from loadgen.busy import busiest
from loadgen.locust.hooks import install_worker
from loadgen.locust.master import Coordinator
from loadgen.locust.runtime import build_runtime, scenario_to_dict
from loadgen.locust.telemetry import Role, endpoint_alias, make_telemetry
from loadgen.locust.user import SchedulerUser
from loadgen.progress import Progress
from loadgen.report import PhaseInfo, build_summary
from loadgen.server_metrics import start_server_metrics
from loadgen.slo import RunHealth, decide_exit, judge, percentile_ms
from userinput.errors import InputError

log = logging.getLogger(__name__)


def setup_logging() -> None:
    """inferload's own messages at INFO, everything else (Locust) at WARNING, on stderr."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("loadgen").setLevel(logging.INFO)


@dataclass(slots=True)
class SessionOptions:
    run_id: str
    master: bool = False
    expect_workers: int = 1
    expect_workers_max_wait_s: float = 120.0
    master_bind_host: str = "*"
    master_bind_port: int = 5557
    web: bool = False
    web_host: str = "127.0.0.1"
    web_port: int = 8089
    out_dir: Path | None = None  # the run's output folder (sink spool default: <out_dir>/spool)


def exact_counts(plan: Any) -> dict[str, int]:
    """Arrivals per phase of the whole global sequence (walked once; ~1 us per arrival)."""
    out: dict[str, int] = {w.name: 0 for w in plan.phases}
    for a in plan.arrivals(0, 1):
        out[a.phase] += 1
    return out


def phase_infos(scenario: Any, plan: Any) -> list[PhaseInfo]:
    """The plan's phase windows as report rows (operating point per phase)."""
    expected = exact_counts(plan)
    out: list[PhaseInfo] = []
    for i, w in enumerate(plan.phases):
        cfg = scenario.phases[i]
        users = getattr(w, "closed_loop_users", None)
        exp = expected.get(w.name)
        out.append(
            PhaseInfo(
                name=w.name,
                kind=str(getattr(w, "kind", cfg.kind)),
                start_s=float(w.start_s),
                end_s=float(w.end_s),
                process=str(getattr(w, "process", "") or ""),
                closed_loop_users=None if users is None else int(users),
                max_inflight=scenario.phase_max_inflight(cfg),
                expected_requests=None if users is not None or exp is None else int(exp),
            )
        )
    return out


def _install_signals(coord: Coordinator) -> None:
    def on_signal() -> None:
        if coord.stop_requested_at is None:
            coord.request_stop()
        else:
            sys.stderr.write("inferload: second signal, quitting without drain\n")
            coord.deadline_wall = lambda: 0.0  # type: ignore[method-assign]

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            gevent.signal_handler(sig, on_signal)
        except (ValueError, OSError):  # not the main thread
            pass


def run_session(
    scenario: Any, plan: Any, opts: SessionOptions, progress_stream: TextIO | None = None
) -> dict[str, Any]:
    """Run ``scenario``; return the summary dict (``summary["verdict"]["exit_code"]``)."""
    started = datetime.now(UTC)
    role: Role = "master" if opts.master else "local"
    telemetry = make_telemetry(scenario, role, opts.run_id, role, run_dir=opts.out_dir)
    env = Environment(user_classes=[SchedulerUser], host=str(scenario.target.base_url), stop_timeout=0)
    scenario_dict = scenario_to_dict(scenario)
    local_sched = None
    if opts.master:
        runner = env.create_master_runner(opts.master_bind_host, opts.master_bind_port)
        port = runner.server.port
        sys.stdout.write(f"inferload master listening on {opts.master_bind_host}:{port}\n")
        sys.stdout.flush()
    else:
        env.create_local_runner()
        local_sched = install_worker(env, build_runtime, role="local", telemetry=telemetry)
    assert env.runner is not None
    coord = Coordinator(
        env, scenario=scenario, scenario_dict=scenario_dict, plan=plan, run_id=opts.run_id,
        telemetry=telemetry, local_scheduler=local_sched,
    )
    live = None
    if opts.web:
        from loadgen.web import LiveView, start_web

        live = LiveView(coord, run_id=opts.run_id, mode="distributed" if opts.master else "local",
                        slo_source=lambda: getattr(coord, "live_run", None))
        live.attach()
        # Locust's web UI re-parses sys.argv with its own parser (ui_extra_args_dict): hide ours.
        sys.argv[1:] = []
        _, url = start_web(env, live, host=opts.web_host, port=opts.web_port, on_stop=coord.request_stop)
        sys.stdout.write(f"inferload live view: {url}inferload/  (Locust web UI: {url})\n")
        sys.stdout.flush()
    _install_signals(coord)
    scrape = start_server_metrics(scenario, telemetry if live is None else live.tap(telemetry), opts.run_id)
    progress = Progress(progress_stream)
    try:
        if opts.master:
            from locust.runners import MasterRunner

            mr = env.runner
            assert isinstance(mr, MasterRunner)
            deadline = time.time() + opts.expect_workers_max_wait_s
            while len(mr.clients.ready) < opts.expect_workers:
                if time.time() > deadline:
                    raise InputError(
                        f"--expect-workers {opts.expect_workers}: only {len(mr.clients.ready)} worker(s) "
                        f"connected within {opts.expect_workers_max_wait_s:g} s"
                    )
                gevent.sleep(0.1)
            ids = [c.id for c in mr.clients.ready][: opts.expect_workers]
            coord.start(ids)
            env.runner.start(len(ids), spawn_rate=max(1, len(ids)))
        else:
            coord.start(["local"])
            env.runner.start(1, spawn_rate=1)
        coord.wait(on_tick=progress.update if live is None else live.chain(progress.update))
    finally:
        progress.close()
        env.runner.quit()
        if env.web_ui is not None:
            env.web_ui.stop()
    coord.poll_local()
    ended = datetime.now(UTC)
    server_metrics = scrape.stop()
    tel = telemetry.close()
    if server_metrics is not None:
        tel["server_metrics"] = server_metrics
    server = scrape.operating_point(plan.phases, coord.t0_wall)
    return _summarize(scenario, plan, opts, coord, started, ended, tel, server)


def _summarize(
    scenario: Any, plan: Any, opts: SessionOptions, coord: Coordinator,
    started: datetime, ended: datetime, telemetry: dict[str, Any], server: dict[str, Any] | None = None,
) -> dict[str, Any]:
    phases = phase_infos(scenario, plan)
    judged = [p for p in scenario.slo_phases() if p in {ph.name for ph in phases}]
    slo_cfg = scenario.slo
    verdict = judge(
        slo_cfg.objectives if slo_cfg is not None else [],
        slo_cfg.max_error_rate if slo_cfg is not None else None,
        coord.hs, coord.counters, judged,
        confidence=slo_cfg.confidence if slo_cfg is not None else None,
    )
    lag_p99, _ = percentile_ms(coord.hs, schema.M_SCHEDULE_LAG, coord.hs.phases(), 99.0)
    lag_p50, _ = percentile_ms(coord.hs, schema.M_SCHEDULE_LAG, coord.hs.phases(), 50.0)
    gen = scenario.generator
    busy = {("local" if coord.local else "master"): coord.busy.to_dict(), **coord.busy_by_worker}
    health = RunHealth(
        schedule_lag_p99_ms=lag_p99,
        max_schedule_lag_p99_ms=float(gen.max_schedule_lag_p99_ms),
        max_cpu_percent_seen=max(coord.cpu_max.values()) if coord.cpu_max else None,
        max_cpu_percent=float(gen.max_cpu_percent),
        lost_slots=coord.lost_slots,
        missing_done_slots=coord.missing_done_slots(),
        # a sink (InfluxDB spool full, on_spool_full: stop_run) asked for the stop: here, or on a
        # worker (its report's stop_run flag; the coordinator sets ``stopped_by_sink``)
        stopped_by_sink="influxdb" if coord.stop_requested_at is not None and (
            coord.telemetry.stop_requested or getattr(coord, "stopped_by_sink", False)) else None,
        generator_faults=coord.counters.total(C_GENERATOR_FAULT),
        busiest=busiest(busy),
    )
    decision = decide_exit(verdict, health)
    meta = {
        "run_id": opts.run_id,
        "scenario": scenario.name,
        "objective": scenario.objective.model_dump() if getattr(scenario, "objective", None) else None,
        "target": str(scenario.target.base_url),
        "endpoint": endpoint_alias(scenario),
        "model": scenario.target.model,
        "mode": "distributed" if opts.master else "local",
        "workers": coord.n_slots,
        "seed": scenario.seed,
        "started_at": started.isoformat(),
        "ended_at": ended.isoformat(),
        "t0_unix": coord.t0_wall,
        "plan_duration_s": float(plan.duration_s),
        "max_inflight": scenario.max_inflight,
        "stopped_early": coord.stop_requested_at is not None,
        "request_profile": request_profile(scenario),
    }
    generator = {
        "schedule_lag_p50_ms": lag_p50,
        "worker_cpu_max_percent": dict(coord.cpu_max),
        "stop_timeout_s": float(gen.stop_timeout_s),
        "generator_faults": coord.counters.total(C_GENERATOR_FAULT),
        "busy": busy,
    }
    after_stop = 0
    if coord.stop_requested_at is not None:
        stop_s = coord.offset_s(coord.stop_requested_at)
        after_stop = sum(1 for a in plan.arrivals(0, 1, max(stop_s, 0.0)))
    summary = build_summary(
        meta=meta, phases=phases, judged_phases=judged, hs=coord.hs, counters=coord.counters,
        verdict=verdict, health=health, decision=decision, generator=generator, telemetry=telemetry,
        not_sent_after_stop=after_stop, server=server,
    )
    if coord.live is not None:  # live SLO windows (loadgen/live_run.py): violations, burst recovery
        live = coord.live.summary()
        summary["slo_violations"] = live["slo_violations"]
        for name, seconds in live["burst_recovery_s"].items():
            if name in summary["phases"]:
                summary["phases"][name]["burst_recovery_s"] = seconds
                summary["phases"][name]["burst_recovery_reference"] = live["burst_recovery_reference"][name]
    return summary


def request_profile(scenario: Any) -> dict[str, Any]:
    """The request side of the operating point: API, lengths, output control, classes."""
    wl = scenario.workload
    return {
        "api": scenario.target.api,
        "stream": bool(scenario.target.stream),
        "prompt_tokens": "dataset " + str(wl.dataset.path) if wl.dataset is not None else wl.prompt_tokens.describe(),
        "output_tokens": wl.output_tokens.describe(),
        "ignore_eos": wl.ignore_eos,
        "min_tokens": wl.min_tokens,
        "classes": [
            {"name": c.name, "weight": c.weight, "priority": c.priority,
             "prompt_tokens": wl.prompt_dist(c).describe(), "output_tokens": wl.output_dist(c).describe()}
            for c in wl.classes
        ],
    }


def serve_worker(master_host: str, master_port: int) -> int:
    """Join a master and generate load until it says quit (or stays silent for 60 s).

    SIGTERM/SIGINT: stop sending, give in-flight streams the drain time, report, then leave
    (the master re-assigns the rest of this worker's slot).
    """
    env = Environment(user_classes=[SchedulerUser], stop_timeout=0)
    runner = env.create_worker_runner(master_host, master_port)
    sched = install_worker(env, build_runtime, role="worker")
    sys.stdout.write(f"inferload worker connected to {master_host}:{master_port}\n")
    sys.stdout.flush()

    def graceful() -> None:
        drain = float(sched.rt.scenario.generator.stop_timeout_s) if sched.rt is not None else 0.0
        sched.stop()
        sched.join(timeout=drain + 5)
        runner.quit()

    def on_term() -> None:
        gevent.spawn(graceful)

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            gevent.signal_handler(sig, on_term)
        except (ValueError, OSError):
            pass
    runner.greenlet.join()
    sched.join(timeout=5)  # a slot cut by Locust's stop still reports what it has
    env.events.quitting.fire(environment=env, reverse=True)
    return 0


def default_out_dir(scenario_name: str, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return Path("runs") / f"{scenario_name}-{stamp}"


__all__ = [
    "SessionOptions",
    "default_out_dir",
    "exact_counts",
    "phase_infos",
    "request_profile",
    "run_session",
    "serve_worker",
    "setup_logging",
]
