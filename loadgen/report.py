"""The end-of-run report: ``summary.json`` and the same numbers as rich terminal tables.

:func:`build_summary` turns the master's merged histograms and counters into one JSON-safe
dict (per phase, and overall for the judged phases), with the operating point, generator health,
request accounting, the SLO verdict and the exit-code decision.  :func:`render` prints it;
:func:`write_summary` stores it.  Latencies are in milliseconds (``*_ms``), read from merged HDR
histograms.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from collectors import schema
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
    Counters,
)
from collectors.hdr_read import summarize
from collectors.histograms import PERCENTILES, HistogramSet, add_histogram, new_histogram
from loadgen.reporting.ci import DEFAULT_CONFIDENCE, add_cis
from loadgen.reporting.terminal import latency_cell, latency_legend, objective_value
from loadgen.server_report import UNKNOWN_SERVER, phase_readings, render_server
from loadgen.slo import ExitDecision, RunHealth, SloVerdict
from loadgen.soak_render import render_soak

SUMMARY_SCHEMA = "inferload.summary/1"
REPORTED_METRICS: tuple[str, ...] = (
    schema.M_TTFT,
    schema.M_ITL,
    schema.M_TPOT,
    schema.M_E2E,
    schema.M_TTFT_SCHED,
    schema.M_E2E_SCHED,
    schema.M_SCHEDULE_LAG,
)
TABLE_METRICS: tuple[str, ...] = (schema.M_TTFT, schema.M_ITL, schema.M_TPOT, schema.M_E2E)


@dataclass(frozen=True, slots=True)
class PhaseInfo:
    """What the plan declared for one phase (the operating point)."""

    name: str
    kind: str
    start_s: float
    end_s: float
    process: str  # e.g. "poisson(rate=20/s)" or "concurrency(users=8)"
    closed_loop_users: int | None = None
    max_inflight: int | None = None
    expected_requests: int | None = None  # None for closed-loop phases

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def loop(self) -> str:
        return "closed" if self.closed_loop_users is not None else "open"


def _pkey(p: float) -> str:
    return f"p{p:g}".replace(".", "_") + "_ms"


def latency_block(
    hs: HistogramSet, metric: str, phases: Sequence[str], cls: str | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, Any]:
    """count, mean, min, max and percentiles (ms) of ``metric`` merged over ``phases`` (one class or all).

    Each percentile also gets its distribution-free interval (``pXX_ci_ms``) and the block lists
    the percentiles with too few samples to bound (loadgen/reporting/ci.py).
    """
    h = new_histogram()
    for phase in phases:
        add_histogram(h, hs.combined(metric, phase, cls))
    s = summarize(h)
    out: dict[str, float] = {"count": int(s["count"])}
    if s["count"]:
        out["mean_ms"] = s["mean"] * 1e3
        out["min_ms"] = s["min"] * 1e3
        out["max_ms"] = s["max"] * 1e3
        for p in PERCENTILES:
            out[_pkey(p)] = s[f"p{p:g}".replace(".", "_")] * 1e3
        add_cis(out, h, PERCENTILES, confidence)
    return out


def counts_block(c: Counters, phases: Sequence[str], cls: str | None = None) -> dict[str, Any]:
    """The request counts of ``phases`` (one class or all): the summary's, the live view's and the
    interval points' numbers all come from these merged counters (collectors/counters.py)."""
    requests = c.total(C_REQUESTS, phases, cls)
    errors = c.errors(phases, cls)
    n_err = sum(errors.values())
    return {
        "requests": requests,
        "ok": c.total(C_OK, phases, cls),
        "errors": n_err,
        "errors_by_class": errors,
        "error_rate": (n_err / requests) if requests else 0.0,
        "cancelled": c.total(C_CANCELLED, phases, cls),
        "dropped_max_inflight": c.total(C_DROPPED, phases, cls),
        "lost_in_gap": c.total(C_LOST_IN_GAP, phases, cls),
        "generator_faults": c.total(C_GENERATOR_FAULT, phases, cls),
        "output_tokens": c.total(C_OUTPUT_TOKENS, phases, cls),
        "prompt_tokens": c.total(C_PROMPT_TOKENS, phases, cls),
        "good": c.total(C_GOOD, phases, cls),
    }


def _block(
    hs: HistogramSet, c: Counters, phases: Sequence[str], duration_s: float, conf: float = DEFAULT_CONFIDENCE
) -> dict[str, Any]:
    counts = counts_block(c, phases)
    lag = latency_block(hs, schema.M_SCHEDULE_LAG, phases)
    per_s = (lambda n: n / duration_s) if duration_s > 0 else (lambda n: 0.0)
    return {
        **counts,
        "goodput_req_per_s": per_s(counts["good"]),
        "duration_s": duration_s,
        "req_per_s": per_s(counts["requests"]),
        "output_tok_per_s": per_s(counts["output_tokens"]),
        "schedule_lag_p99_ms": lag.get("p99_ms"),
        "latency": {m: latency_block(hs, m, phases, confidence=conf) for m in REPORTED_METRICS},
        "classes": {
            cls: {
                **counts_block(c, phases, cls),
                "latency": {m: latency_block(hs, m, phases, cls, conf) for m in TABLE_METRICS},
            }
            for cls in c.classes(phases)
        },
    }


def build_summary(
    *,
    meta: dict[str, Any],
    phases: Sequence[PhaseInfo],
    judged_phases: Sequence[str],
    hs: HistogramSet,
    counters: Counters,
    verdict: SloVerdict,
    health: RunHealth,
    decision: ExitDecision,
    generator: dict[str, Any] | None = None,
    telemetry: dict[str, Any] | None = None,
    not_sent_after_stop: int = 0,
    server: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole run as one JSON-safe dict (the content of ``summary.json``).

    ``not_sent_after_stop``: open-loop arrivals scheduled after an early stop (never due).
    ``server``: the server part of the operating point (``loadgen.server_metrics``); unknown if None.
    """
    per_phase: dict[str, Any] = {}
    conf = verdict.confidence or DEFAULT_CONFIDENCE
    for ph in phases:
        b = _block(hs, counters, [ph.name], ph.duration_s, conf)
        b.update(
            kind=ph.kind,
            loop=ph.loop,
            process=ph.process,
            closed_loop_users=ph.closed_loop_users,
            max_inflight=ph.max_inflight,
            expected_requests=ph.expected_requests,
            start_s=ph.start_s,
            end_s=ph.end_s,
        )
        per_phase[ph.name] = b
    judged = [p for p in phases if p.name in set(judged_phases)]
    overall = _block(hs, counters, [p.name for p in judged], sum(p.duration_s for p in judged), conf)
    overall["phases"] = [p.name for p in judged]
    overall["loop"] = (
        "mixed" if len({p.loop for p in judged}) > 1 else (judged[0].loop if judged else "open")
    )
    expected = sum(p.expected_requests or 0 for p in phases if p.expected_requests is not None)
    open_names = [p.name for p in phases if p.closed_loop_users is None]
    accounted = (
        counters.total(C_REQUESTS, open_names)
        + counters.total(C_DROPPED, open_names)
        + counters.total(C_LOST_IN_GAP, open_names)
    )
    gen = dict(generator or {})
    gen.setdefault("schedule_lag_p99_ms", health.schedule_lag_p99_ms)
    gen.setdefault("max_schedule_lag_p99_ms", health.max_schedule_lag_p99_ms)
    gen.setdefault("max_cpu_percent_seen", health.max_cpu_percent_seen)
    gen.setdefault("max_cpu_percent", health.max_cpu_percent)
    gen["lost_slots"] = list(health.lost_slots)
    gen["missing_done_slots"] = list(health.missing_done_slots)
    return {
        "schema": SUMMARY_SCHEMA,
        **meta,
        "valid": not health.invalid_reasons(),
        "operating_point": {
            "workers": meta.get("workers"),
            "request_profile": meta.get("request_profile"),
            "phases": [
                {
                    "name": p.name,
                    "kind": p.kind,
                    "loop": p.loop,
                    "process": p.process,
                    "closed_loop_users": p.closed_loop_users,
                    "max_inflight": p.max_inflight,
                    "start_s": p.start_s,
                    "end_s": p.end_s,
                    "expected_requests": p.expected_requests,
                }
                for p in phases
            ],
            "server": server or dict(UNKNOWN_SERVER),
            "readings": phase_readings(per_phase, server or UNKNOWN_SERVER),
        },
        "phases": per_phase,
        "overall": overall,
        "accounting": {
            "expected_open_loop_arrivals": expected,
            "accounted": accounted,
            "not_sent_after_stop": not_sent_after_stop,
            "unaccounted": expected - accounted - not_sent_after_stop,
            "note": "accounted = requests + dropped_max_inflight + lost_in_gap over open-loop phases",
        },
        "generator": gen,
        "slo": verdict.to_dict(),
        "verdict": decision.to_dict(),
        "telemetry": dict(telemetry or {}),
        "histograms_clamped": hs.clamped,
    }


def write_summary(summary: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "summary.json"
    path.write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n")
    return path


def _ms(v: Any) -> str:
    return "-" if v is None else f"{float(v):.1f}"


def render(summary: dict[str, Any], console: Console | None = None) -> None:
    """Print the summary as rich tables: phases, latencies, SLO, verdict."""
    con = console or Console()
    obj = summary.get("objective")
    if obj:  # the report opens with what the run is for
        con.print(f"[bold]objective: {obj.get('goal')}[/]" + (f" - {obj['intent']}" if obj.get("intent") else ""))
    op = Table(title=f"inferload run {summary.get('run_id', '')}: {summary.get('scenario', '')} "
                     f"({summary.get('mode', '')}, {summary.get('workers', '?')} worker(s))")
    for col in ("phase", "kind", "loop", "process", "max_inflight", "expected"):
        op.add_column(col)
    for p in summary["operating_point"]["phases"]:
        op.add_row(p["name"], p["kind"], p["loop"], p["process"], str(p["max_inflight"] or "-"),
                   "-" if p["expected_requests"] is None else str(p["expected_requests"]))
    prof = summary["operating_point"].get("request_profile")
    if prof:
        control = ", ".join(k for k in ("ignore_eos", "min_tokens") if prof.get(k)) or "server decides"
        op.caption = (f"{summary.get('model') or '?'} at {summary.get('target', '?')}: {prof['api']}"
                      f"{' streaming' if prof['stream'] else ''}; prompt {prof['prompt_tokens']}, "
                      f"output {prof['output_tokens']} ({control}); classes "
                      + ", ".join(f"{c['name']} x{c['weight']:g}" for c in prof["classes"]))
    con.print(op)

    t = Table(title="results")
    for col in ("phase", "reqs", "req/s", "tok/s", "errors", "dropped", "cancel", "lost", "lag p99"):
        t.add_column(col, justify="left" if col == "phase" else "right")
    rows = [(name, b) for name, b in summary["phases"].items()] + [("overall", summary["overall"])]
    for name, b in rows:
        t.add_row(
            name, str(b["requests"]), f"{b['req_per_s']:.2f}", f"{b['output_tok_per_s']:.1f}", str(b["errors"]),
            str(b["dropped_max_inflight"]), str(b["cancelled"]), str(b["lost_in_gap"]),
            _ms(b["schedule_lag_p99_ms"]),
        )
    con.print(t)
    con.print(f"overall = judged phases: {', '.join(summary['overall']['phases']) or '(none)'}; "
              "lag = send - scheduled (ms); dropped = above max_inflight; lost = no live owner")
    render_server(con, summary)

    lt = Table(title="latency (ms), exact: merged HDR histograms", caption=latency_legend(summary))
    lt.add_column("phase")
    lt.add_column("metric")
    lt.add_column("count", justify="right")
    for p in PERCENTILES:
        lt.add_column(f"p{p:g}", justify="right")
    for name, b in rows:
        for m in TABLE_METRICS:
            lb = b["latency"][m]
            lt.add_row(name, m, str(lb["count"]), *(latency_cell(lb, p) for p in PERCENTILES))
    con.print(lt)

    errs = summary["overall"]["errors_by_class"]
    if errs:
        con.print("errors by class (judged phases): " + ", ".join(f"{k}={v}" for k, v in errs.items()))

    slo = summary["slo"]
    if slo["objectives"] or slo["max_error_rate"] is not None:
        st = Table(title=f"SLO (phases: {', '.join(slo['judged_phases'])})")
        for col in ("objective", "value", "threshold", "result"):
            st.add_column(col)
        for o in slo["objectives"]:
            st.add_row(f"{o['metric']} p{o['percentile']:g}", objective_value(o), f"{o['max_ms']:g} ms",
                       "[green]pass[/]" if o["passed"] else "[red]FAIL[/]")
        if slo["max_error_rate"] is not None:
            st.add_row("error rate", f"{slo['error_rate']:.4f}", f"{slo['max_error_rate']:g}",
                       "[green]pass[/]" if slo["error_rate_passed"] else "[red]FAIL[/]")
        con.print(st)
    _render_live_slo(con, summary)

    gen = summary["generator"]
    for lost in gen.get("lost_slots", []):
        con.print(f"[yellow]lost worker[/]: slot {lost.get('slot')} silent since {lost.get('silent_since_s')} s, "
                  f"adopted at {lost.get('at_s')} s, {lost.get('lost_in_gap', 0)} arrivals lost in the gap")
    for gap in summary.get("gaps") or []:  # a resumed run (--resume, loadgen/checkpoint.py)
        con.print(f"[yellow]master restart[/]: last checkpoint at {gap['checkpoint_offset_s']} s, sending again "
                  f"from {gap['restart_offset_s']} s, {gap['lost_in_gap']} arrivals lost in the gap")
    if summary.get("partial"):
        con.print(f"[yellow]partial[/]: the run so far, from its checkpoint at {summary.get('checkpoint_offset_s')} s")
    acc = summary["accounting"]
    if acc["unaccounted"]:
        con.print(f"[yellow]accounting[/]: {acc['unaccounted']} open-loop arrivals unaccounted "
                  f"({acc['accounted']} of {acc['expected_open_loop_arrivals']})"
                  + ("; sent by a lost worker whose last results never arrived" if gen.get("lost_slots") else ""))
    _render_telemetry(con, summary.get("telemetry") or {})
    v = summary["verdict"]
    colour = {0: "green", 1: "red"}.get(v["exit_code"], "yellow")
    con.print(f"[bold {colour}]exit code {v['exit_code']}[/]: {v['rule']}")
    for extra in v["reasons"][1:]:
        con.print(f"  also: {extra}")


def _render_live_slo(con: Console, summary: dict[str, Any]) -> None:
    """Rolling-window SLO violations (``slo_violations``) and burst recovery times, when computed live."""
    violations = summary.get("slo_violations")
    if violations:
        vt = Table(title="SLO violations (rolling window)")
        for col in ("objective", "phase", "from (s)", "duration (s)", "peak", "threshold"):
            vt.add_column(col)
        for v in violations:
            unit = (lambda x: f"{x * 1000:.1f} ms") if v.get("unit") == "s" else (lambda x: f"{x:.4f}")
            dur = "open" if v.get("duration_s") is None else f"{v['duration_s']:.1f}"
            vt.add_row(v["objective"], v["phase"], f"{v.get('start_offset_s', 0.0):.1f}", dur,
                       unit(v["peak"]), unit(v["threshold"]))
        con.print(vt)
    elif violations is not None:
        con.print("[green]no SLO violation[/] in any rolling window")
    render_soak(con, summary)  # drift, slo.windows (loadgen/soak_render.py)
    for name, block in summary.get("phases", {}).items():
        if "burst_recovery_s" in block:
            rec = block["burst_recovery_s"]
            ref = block.get("burst_recovery_reference") or "no steady phase"
            con.print(f"burst recovery after {name}: "
                      + ("never within 10 % of " + ref if rec is None else f"{rec:.1f} s (reference {ref})"))


def _render_telemetry(con: Console, tel: dict[str, Any]) -> None:
    """One line per sink (generated = written + pending + dropped) and the server scrape."""
    for name, st in sorted((tel.get("sinks") or {}).items()):
        if not isinstance(st, dict) or "generated" not in st:
            continue
        pending = int(st.get("pending_memory", 0)) + int(st.get("pending_spool", 0))
        colour = "green" if not pending and not st.get("dropped") else "yellow"
        line = (f"[{colour}]sink {name}[/]: {st['generated']} points generated = {st['written']} written"
                f" + {pending} pending + {st['dropped']} dropped")
        if st.get("dropped_by_reason"):
            line += f" ({', '.join(f'{k} {v}' for k, v in st['dropped_by_reason'].items())})"
        if pending and tel.get("spool_dir"):
            line += f"; unsent points kept in {tel['spool_dir']}"
        con.print(line)
    sm = tel.get("server_metrics")
    if isinstance(sm, dict):
        con.print(f"server metrics: {sm.get('server') or 'unknown server'} at {sm.get('url')}: "
                  f"{sm.get('scrapes')} scrapes, {sm.get('errors')} errors")


__all__ = [
    "REPORTED_METRICS",
    "SUMMARY_SCHEMA",
    "TABLE_METRICS",
    "PhaseInfo",
    "build_summary",
    "latency_block",
    "render",
    "write_summary",
]
