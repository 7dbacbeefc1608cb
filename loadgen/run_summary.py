"""The end-of-run summary of a session, from the coordinator's merged state (no Locust, no gevent).

:func:`summarize` turns what the master (or a checkpoint of it, ``loadgen/checkpoint.py``)
holds — merged HDR histograms and counters, worker health, live SLO state, gaps of a resumed
run — into the ``summary.json`` dict (``loadgen/report.py`` :func:`build_summary`).  Kept free of
Locust so ``inferload report`` can summarize a checkpoint without importing it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from collectors import schema
from collectors.counters import C_GENERATOR_FAULT
from loadgen.busy import busiest
from loadgen.locust.telemetry import endpoint_alias
from loadgen.report import PhaseInfo, build_summary
from loadgen.slo import RunHealth, decide_exit, judge, percentile_ms


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


def summarize(
    scenario: Any, plan: Any, run_id: str, master: bool, coord: Any,
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
    soak = getattr(coord, "soak", None)  # drift and slo.windows (loadgen/soak_watch.py)
    decision = decide_exit(verdict, health, soak.window_failures() if soak is not None else ())
    meta = {
        "run_id": run_id,
        "scenario": scenario.name,
        "objective": scenario.objective.model_dump() if getattr(scenario, "objective", None) else None,
        "target": str(scenario.target.base_url),
        "endpoint": endpoint_alias(scenario),
        "model": scenario.target.model,
        "mode": "distributed" if master else "local",
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
    if soak is not None:  # "drift" and (with slo.windows) "slo_windows"
        summary.update(soak.summary())
    gaps = list(getattr(coord, "gaps", None) or [])
    if gaps:  # a resumed run (--resume): the arrivals between its last checkpoint and the restart
        summary["gaps"] = gaps
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



__all__ = ["exact_counts", "phase_infos", "request_profile", "summarize"]
