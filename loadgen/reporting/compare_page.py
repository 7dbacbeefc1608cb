"""``compare`` output: the rich terminal table and the HTML page with overlaid figures."""

from __future__ import annotations

import math
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from collectors import schema
from loadgen.reporting import html
from loadgen.reporting.compare import Comparison, Row
from loadgen.reporting.figures import RUN_COLOURS, Figure, Rendered, pyplot, render
from loadgen.reporting.runfolder import RunData
from loadgen.reporting.terminal import wide_console


def _num(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}" if unit == "ratio" else f"{v:.1f}"


def _rel(r: Row) -> str:
    rel = r.relative
    if rel is None:
        return "-"
    return ("+inf" if rel > 0 else "-inf") if not math.isfinite(rel) else f"{rel:+.1%}"


def _verdict(r: Row) -> str:
    if r.test is None:
        return "not tested"
    if r.test.p_value is None:
        return "too few records"
    return f"p={r.test.p_value:.3g} " + ("beyond noise" if r.significant else "within noise")


def render_terminal(cmps: list[Comparison], console: Console | None = None) -> None:
    con = console or wide_console()
    for c in cmps:
        if c.op_differences:
            con.print(f"[yellow]operating points differ[/] ({c.base} -> {c.other}):")
            for line in c.op_differences:
                con.print(f"  {line}")
        t = Table(title=f"{c.base} (baseline) -> {c.other}")
        for col in ("phase", "metric", c.base, c.other, "change", "relative", "significance", ""):
            t.add_column(col, justify="left" if col in ("phase", "metric", "significance", "") else "right")
        for r in c.rows:
            delta = r.delta
            flag = "[red]REGRESSION[/]" if r.regression else ""
            t.add_row(r.phase, r.metric, _num(r.base, r.unit), _num(r.other, r.unit),
                      "-" if delta is None else f"{delta:+.4f}" if r.unit == "ratio" else f"{delta:+.1f}",
                      _rel(r), _verdict(r), flag)
        con.print(t)
        con.print("significance: latency = two-sided Mann-Whitney U on per-request values of the phase; "
                  "error rate = two-proportion z test; beyond noise when p < alpha")
        n = len(c.regressions)
        con.print(f"[{'red' if n else 'green'}]{n} regression(s)[/] in {c.other} vs {c.base}")


def _cdf_figure(runs: list[RunData], metric: str, fname: str) -> Figure | None:
    plt = pyplot()
    series = []
    for d in runs:
        names = list((d.summary.get("overall") or {}).get("phases") or [])
        vals = np.concatenate([d.requests.column(fname, p) for p in names]) if names else np.zeros(0)
        if vals.size:  # at most 2,000 quantiles drawn: the curve, not every request
            q = np.linspace(0.0, 1.0, min(vals.size, 2000))
            series.append((d.name, np.quantile(vals, q) * 1e3))
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(10, 3.2))
    for i, (name, v) in enumerate(series):
        ax.plot(v, np.linspace(0.0, 1.0, v.size), color=RUN_COLOURS[i % len(RUN_COLOURS)], lw=1.4, label=name)
    ax.set_xscale("log")
    ax.set_xlabel(f"{metric} (ms, log scale)")
    ax.set_ylabel("fraction of requests ≤ x")
    ax.legend(fontsize=7)
    fig.tight_layout()
    med = ", ".join(f"{n} median {float(np.median(v)):.0f} ms" for n, v in series)
    return Figure(f"compare_{metric}_cdf", f"{metric}: distribution per run (judged phases)", med, fig,
                  sum(v.size for _, v in series))


def _phase_bars(runs: list[RunData], metric: str) -> Figure | None:
    plt = pyplot()
    phases = [p for p in (runs[0].summary.get("phases") or {})
              if all(p in (d.summary.get("phases") or {}) for d in runs)]
    if not phases:
        return None
    fig, ax = plt.subplots(figsize=(10, 3.2))
    width = 0.8 / len(runs)
    x = np.arange(len(phases))
    drawn = 0
    for i, d in enumerate(runs):
        ys = np.array([((d.summary["phases"][p].get("latency") or {}).get(metric) or {}).get("p99_ms") or np.nan
                       for p in phases], dtype=float)
        ax.bar(x + i * width - 0.4 + width / 2, ys, width, color=RUN_COLOURS[i % len(RUN_COLOURS)], label=d.name)
        drawn += int(np.isfinite(ys).sum())
    ax.set_xticks(x, phases)
    ax.set_ylabel(f"{metric} p99 (ms)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return Figure(f"compare_{metric}_p99_phases", f"{metric} p99 per phase and run", "one bar per run", fig, drawn)


def build(runs: list[RunData], cmps: list[Comparison], png_dir: Path | None, alpha: float) -> tuple[str, list[Rendered]]:
    figs: list[Rendered] = []
    for make in (lambda: _cdf_figure(runs, schema.M_E2E, schema.F_E2E.name),
                 lambda: _cdf_figure(runs, schema.M_TTFT, schema.F_TTFT.name),
                 lambda: _phase_bars(runs, schema.M_E2E)):
        f = make()
        if f is not None:
            figs.append(render(f, png_dir))
    sections = [f"<h1>inferload compare: {escape(', '.join(d.name for d in runs))}</h1>",
                f"<p class=\"muted\">Baseline {escape(runs[0].name)}. Latency changes are tested with a two-sided "
                f"Mann–Whitney U test on the per-request values of the phase (successful requests); error rates "
                f"with a two-proportion z test; beyond noise when p &lt; {alpha:g}. Rates are shown, not tested.</p>"]
    for c in cmps:
        sections.append(f"<h2>{escape(c.base)} → {escape(c.other)}: {len(c.regressions)} regression(s)</h2>")
        if c.op_differences:
            sections.append("<p class=\"warn\">Operating points differ:</p><ul>"
                            + "".join(f"<li>{escape(x)}</li>" for x in c.op_differences) + "</ul>")
        rows: list[list[Any]] = []
        for r in c.rows:
            rows.append([escape(r.phase), escape(r.metric), escape(_num(r.base, r.unit)), escape(_num(r.other, r.unit)),
                         escape(_rel(r)), escape(_verdict(r)),
                         '<span class="fail">REGRESSION</span>' if r.regression else ""])
        sections.append(html.table(["phase", "metric", c.base, c.other, "relative", "significance", ""], rows,
                                   left=2, raw=True))
    sections.append("<h2>Figures</h2>")
    sections += [html.figure(f) for f in figs]
    return html.page("inferload compare", sections), figs


__all__ = ["build", "render_terminal"]
