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

from loadgen.checkpoint import CHECKPOINT_FILE, Checkpointer
from loadgen.config import Scenario
from loadgen.locust import messages as m
from loadgen.locust.hooks import install_worker
from loadgen.locust.master import Coordinator
from loadgen.locust.runtime import build_runtime, scenario_to_dict
from loadgen.locust.telemetry import Role, make_telemetry
from loadgen.locust.user import SchedulerUser
from loadgen.plan import Plan
from loadgen.progress import Progress
from loadgen.run_summary import exact_counts, phase_infos, request_profile, summarize
from loadgen.server_metrics import start_server_metrics
from userinput.errors import InputError

log = logging.getLogger(__name__)


def setup_logging(log_file: Path | None = None, log_max_mb: float = 20.0) -> None:
    """inferload's own messages at INFO, everything else (Locust) at WARNING, on stderr; with
    ``log_file`` (``--log-file``) the same lines also go to that file, rotating at ``log_max_mb``
    MiB with 5 old files kept (loadgen/log_file.py)."""
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.WARNING, format=fmt)
    logging.getLogger("loadgen").setLevel(logging.INFO)
    if log_file is not None:
        from loadgen.log_file import rotating_handler

        handler = rotating_handler(log_file, log_max_mb)
        handler.setFormatter(logging.Formatter(fmt))
        logging.getLogger().addHandler(handler)


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
    web_login: tuple[str, str] | None = None  # (username, password): the live view asks for them
    out_dir: Path | None = None  # the run's output folder (sink spool default: <out_dir>/spool)
    resume: dict[str, Any] | None = None  # --resume: the run folder's checkpoint (loadgen/checkpoint.py)
    max_duration_s: float | None = None  # --max-duration: clean stop at this plan offset


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
    scenario: Scenario, plan: Plan, opts: SessionOptions, progress_stream: TextIO | None = None
) -> dict[str, Any]:
    """Run ``scenario``; return the summary dict (``summary["verdict"]["exit_code"]``)."""
    started = datetime.now(UTC)
    if opts.resume is not None and opts.resume.get("started_at"):
        started = datetime.fromisoformat(str(opts.resume["started_at"]))
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
        from loadgen.web.live import LiveView
        from loadgen.web.server import start_web

        live = LiveView(coord, run_id=opts.run_id, mode="distributed" if opts.master else "local",
                        slo_source=lambda: coord.live)
        live.attach()
        _, url = start_web(env, live, host=opts.web_host, port=opts.web_port, on_stop=coord.request_stop,
                           login=opts.web_login)
        sys.stdout.write(f"inferload live view: {url}inferload/  (Locust web UI: {url})\n")
        sys.stdout.flush()
    coord.started_at = started
    coord.resume_from = opts.resume
    coord.max_duration_s = opts.max_duration_s
    if opts.out_dir is not None:
        coord.checkpointer = Checkpointer(opts.out_dir / CHECKPOINT_FILE)
    _install_signals(coord)
    # the drift detector sees the server's KV usage and queue (loadgen/drift.py), the live view its values
    scrape = start_server_metrics(
        scenario, coord.soak.tap(telemetry if live is None else live.tap(telemetry)), opts.run_id)
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
    return summarize(scenario, plan, opts.run_id, opts.master, coord, started, ended, tel, server)


def serve_worker(master_host: str, master_port: int) -> int:
    """Join a master and generate load until it says quit (or stays silent).

    SIGTERM/SIGINT: stop sending, give in-flight streams the drain time, report, then leave
    (the master re-assigns the rest of this worker's slot).  A master silent for
    :data:`~loadgen.locust.messages.MASTER_SILENT_S` during a run is gone (killed, evicted): nothing could record the
    results, so the worker stops sending the same way and leaves; the orchestrator restarts it
    and it joins the restarted master (``inferload run --resume``, docs/soak.md).
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

    def watch_master() -> None:
        while not sched.stop_evt.is_set():
            gevent.sleep(1.0)
            last = runner.last_heartbeat_timestamp
            if sched.plan_ready.is_set() and last and time.time() - last > m.MASTER_SILENT_S:
                log.error("no heartbeat from the master for %.0f s: stop sending and leave", m.MASTER_SILENT_S)
                graceful()
                return

    gevent.spawn(watch_master)

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
