"""``inferload report``: the HTML page of one run folder (objective first, then the evidence).

Order: objective and verdict; operating point; SLO with intervals; latency per phase with
intervals; steady state; peak vs steady; model vs system; figures; data notes.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from collectors import schema
from loadgen.reporting import html
from loadgen.reporting.analysis import model_vs_system, steady_states
from loadgen.reporting.figures import Rendered, render_all
from loadgen.reporting.runfolder import RunData
from loadgen.reporting.steady import peak_vs_steady

LATENCY_METRICS = (schema.M_TTFT, schema.M_ITL, schema.M_TPOT, schema.M_E2E, schema.M_TTFT_SCHED, schema.M_E2E_SCHED)


def server_kind(d: RunData) -> str:
    """Server kind and version: the run's probe (operating_point.server), else its /metrics scrape."""
    probed = (d.summary.get("operating_point") or {}).get("server") or {}
    if isinstance(probed, dict) and probed.get("kind") not in (None, "unknown"):
        return f"{probed['kind']} {probed.get('version') or ''}".strip()
    sm = (d.summary.get("telemetry") or {}).get("server_metrics") or {}
    return str(d.server_info.get("server") or sm.get("server") or "unknown (no /metrics scrape)")


def header(d: RunData) -> str:
    s = d.summary
    v = s.get("verdict") or {}
    code = int(v.get("exit_code", 0))
    badge = {0: "pass", 1: "SLO failed", 3: "invalid run"}.get(code, f"exit {code}")
    obj = s.get("objective") or {}
    goal = (f"<p><b>Objective: {escape(str(obj.get('goal', '')))}</b>"
            + (f" — {escape(str(obj.get('intent', '')))}" if obj.get("intent") else "") + "</p>") if obj else \
        '<p class="muted">No objective declared (scenario <code>objective:</code>).</p>'
    return (f"<h1>inferload report: {escape(str(s.get('scenario', '')))} "
            f"<span class=\"muted\">{escape(d.name)}</span></h1>{goal}"
            f"<p><span class=\"badge b{code if code in (0, 1, 3) else 3}\">{escape(badge)}</span> "
            f"{escape(str(v.get('rule', '')))}</p>")


def operating_point(d: RunData) -> str:
    s = d.summary
    prof = (s.get("operating_point") or {}).get("request_profile") or s.get("request_profile") or {}
    facts = [
        ("target", s.get("target")), ("model", s.get("model") or d.server_info.get("model")),
        ("server", server_kind(d)), ("mode", s.get("mode")), ("workers", s.get("workers")),
        ("max_inflight", s.get("max_inflight")), ("started", s.get("started_at")), ("seed", s.get("seed")),
    ]
    if prof:
        facts += [("request", f"{prof.get('api')}{' streaming' if prof.get('stream') else ''}; prompt "
                              f"{prof.get('prompt_tokens')}; output {prof.get('output_tokens')}"),
                  ("classes", ", ".join(f"{c['name']} x{c['weight']:g}" for c in prof.get("classes", [])))]
    rows = []
    blocks = s.get("phases") or {}
    for p in (s.get("operating_point") or {}).get("phases") or []:
        b = blocks.get(p["name"], {})
        rows.append([p["name"], p.get("kind"), p.get("loop"), p.get("process"), p.get("max_inflight"),
                     p.get("expected_requests"), b.get("requests"), b.get("req_per_s"), b.get("output_tok_per_s"),
                     b.get("errors"), b.get("dropped_max_inflight")])
    return ("<h2>Operating point</h2>" + html.table(["", ""], facts, left=2)
            + html.table(["phase", "kind", "loop", "arrivals", "max_inflight", "expected", "requests", "req/s",
                          "tok/s", "errors", "dropped"], rows, left=4))


def slo_section(s: dict[str, Any]) -> str:
    slo = s.get("slo") or {}
    if not slo.get("objectives") and slo.get("max_error_rate") is None:
        return "<h2>SLO</h2><p class=\"muted\">No SLO declared.</p>"
    conf = slo.get("confidence")
    rows = []
    for o in slo.get("objectives") or []:
        lo, hi = o.get("ci_lo_ms"), o.get("ci_hi_ms")
        interval = "–" if o.get("ci_confidence") is None else \
            f"{html.fmt(lo)}–{html.fmt(hi) if hi is not None else '? (too few samples)'}"
        rows.append([escape(f"{o['metric']} p{o['percentile']:g}"), escape(html.fmt(o.get("value_ms"))),
                     escape(interval), str(o.get("samples", "")),
                     escape("upper bound" if o.get("judged_on") == "upper_bound" else "point estimate"),
                     escape(f"{o['max_ms']:g}"),
                     '<span class="pass">pass</span>' if o["passed"] else '<span class="fail">FAIL</span>'
                     + (f" ({escape(o['note'])})" if o.get("note") else "")])
    if slo.get("max_error_rate") is not None:
        rows.append(["error rate", escape(f"{slo['error_rate']:.4f}"), "–", "", "point estimate",
                     escape(f"{slo['max_error_rate']:g}"),
                     '<span class="pass">pass</span>' if slo.get("error_rate_passed") else '<span class="fail">FAIL</span>'])
    note = (f"judged on the upper bound of the {conf:.0%} interval (slo.confidence)" if conf
            else "judged on the point estimate; the 95 % distribution-free interval is shown")
    return (f"<h2>SLO</h2><p class=\"muted\">phases {escape(', '.join(slo.get('judged_phases') or []))}; {escape(note)}</p>"
            + html.table(["objective", "value (ms)", "interval (ms)", "n", "judged on", "threshold", "result"], rows,
                         raw=True))


def latency_section(s: dict[str, Any]) -> str:
    blocks = dict(s.get("phases") or {})
    blocks["overall (judged)"] = s.get("overall") or {}
    conf = (s.get("slo") or {}).get("confidence") or 0.95
    return (f"<h2>Latency</h2><p class=\"muted\">Merged HDR histograms (exact to 0.1 %). Under each value its "
            f"{conf:.0%} distribution-free interval (order statistics, binomial); * too few samples to bound "
            "that percentile.</p>" + html.latency_table(blocks, LATENCY_METRICS))


def steady_section(d: RunData) -> str:
    res = steady_states(d)
    ratios = peak_vs_steady(d.summary)
    out = ["<h2>Steady state and peaks</h2>"]
    if res:
        out.append("<ul>" + "".join(
            f"<li class=\"{'warn' if r.steady is False else ''}\">{escape(r.reading)}</li>" for r in res) + "</ul>")
    else:
        out.append('<p class="muted">No phase of kind steady.</p>')
    if ratios:
        out.append(html.table(
            ["phase", "metric", "value", "steady value", "ratio"],
            [[r["phase"], r["metric"], r.get("value_ms", r.get("value")), r.get("steady_ms", r.get("steady")),
              None if r["ratio"] is None else f"{r['ratio']:.2f}x"] for r in ratios], left=2))
    blocks = d.summary.get("phases") or {}
    recovery = {n: b["burst_recovery_s"] for n, b in blocks.items() if "burst_recovery_s" in b}
    rec = [e for e in d.events if e.get(schema.T_EVENT.name) == schema.EVENT_RECOVERY]
    if recovery:
        out.append("<p>Burst recovery time (docs/metrics.md, \"Burst recovery time\"): " + escape(", ".join(
            f"{n} {'never recovered' if v is None else f'{v:.0f} s'}" for n, v in recovery.items())) + "</p>")
    elif rec:
        out.append("<p>Burst recovery (definition: docs/metrics.md): " + escape(", ".join(
            f"{e.get(schema.T_PHASE.name, '')} {e.get(schema.T_OBJECTIVE.name, '')} {html.fmt(e.get('value'))} s"
            for e in rec)) + "</p>")
    return "".join(out)


def model_section(d: RunData) -> str:
    mv = model_vs_system(d)
    if not mv:
        return ("<h2>Model vs system</h2><p class=\"muted\">No per-request server timings and no server "
                "/metrics latency in this run folder.</p>")
    if "phases" in mv:
        rows = [[ph, label, v["p50_ms"], v["p99_ms"], v["n"]] for ph, parts in mv["phases"].items()
                for label, v in parts.items()]
        tab = html.table(["phase", "part", "p50 (ms)", "p99 (ms)", "n"], rows, left=2)
    else:
        rows = [[c, v["mean_ms"], v["n"]] for c, v in mv["components"].items()]
        rows.append(["client e2e (mean)", mv.get("client_e2e_mean_ms"), None])
        tab = html.table(["component", "mean (ms)", "observations"], rows)
    return f"<h2>Model vs system</h2><p class=\"muted\">source: {escape(mv['source'])}</p>{tab}"


def notes(d: RunData) -> str:
    r = d.requests
    items = [f"{len(d.files)} point file(s), {d.points} points read",
             f"{r.seen} per-request records ({r.sampled_out} left out of the in-memory sample of {r.capacity})"]
    if d.bad_line_count:
        items.append(f"{d.bad_line_count} malformed line(s) skipped, first: {d.bad_lines[0]}")
    acc = d.summary.get("accounting") or {}
    if acc.get("unaccounted"):
        items.append(f"{acc['unaccounted']} open-loop arrivals unaccounted")
    return "<h2>Data</h2><ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def build(d: RunData, png_dir: Path | None) -> tuple[str, list[Rendered]]:
    figs = render_all(d, png_dir)
    sections = [header(d), operating_point(d), slo_section(d.summary), latency_section(d.summary),
                steady_section(d), model_section(d), "<h2>Figures</h2>", *(html.figure(f) for f in figs), notes(d)]
    return html.page(f"inferload report: {d.name}", sections), figs


__all__ = ["build", "header", "operating_point", "server_kind", "slo_section"]
