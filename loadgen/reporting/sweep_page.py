"""``sweep`` output: the terminal table and ``sweep.html`` (the throughput–latency curve)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from loadgen.reporting import html
from loadgen.reporting.figures import Figure, pyplot, render
from loadgen.reporting.terminal import wide_console


def render_terminal(result: dict[str, Any], console: Console | None = None) -> None:
    con = console or wide_console()
    t = Table(title=f"sweep of {result['scenario']} ({result['mode']})")
    for col in ("rate", "served req/s", "goodput", "e2e p50", "e2e p99", "ttft p99", "errors", "dropped", "steady",
                "SLO", "saturated"):
        t.add_column(col, justify="right")
    for p in result["probes"]:
        t.add_row(f"{p['rate']:g}", f"{p['throughput']:.2f}", f"{p['goodput']:.2f}", html.fmt(p["e2e_p50_ms"]),
                  html.fmt(p["e2e_p99_ms"]), html.fmt(p["ttft_p99_ms"]), f"{p['error_rate']:.3f}", str(p["dropped"]),
                  {True: "yes", False: "no", None: "?"}[p["steady"]], "meets" if p["meets_slo"] else "misses",
                  "; ".join(p["saturated_reasons"]) or "-")
    con.print(t)
    cap, knee = result.get("capacity_at_slo_req_per_s"), result.get("knee_req_per_s")
    if result["mode"] == "find-capacity":
        con.print(f"capacity at SLO: {'none of the probed rates met it' if cap is None else f'{cap:.2f} req/s'}")
    con.print(f"knee of the throughput-latency curve: {'-' if knee is None else f'{knee:.2f} req/s'}")


def _curve(result: dict[str, Any]) -> Figure:
    plt = pyplot()
    probes = [p for p in result["probes"] if p["e2e_p99_ms"] is not None]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    x = np.array([p["throughput"] for p in probes])
    y = np.array([p["e2e_p99_ms"] for p in probes])
    order = np.argsort(x)
    ax.plot(x[order], y[order], "-", color="#1f77b4", lw=1)
    for p in probes:
        colour = "#2e7d32" if p["meets_slo"] else "#c62828"
        ax.plot([p["throughput"]], [p["e2e_p99_ms"]], "o", color=colour, ms=6)
        ax.annotate(f"{p['rate']:g}/s", (p["throughput"], p["e2e_p99_ms"]), fontsize=7, xytext=(4, 4),
                    textcoords="offset points")
    if result.get("knee_req_per_s") is not None:
        ax.axvline(result["knee_req_per_s"], color="#6a1b9a", ls=":", lw=1, label="knee")
    if result.get("capacity_at_slo_req_per_s") is not None:
        ax.axvline(result["capacity_at_slo_req_per_s"], color="#2e7d32", ls="--", lw=1, label="capacity at SLO")
    ax.set_xlabel("throughput (requests/s served, steady phase)")
    ax.set_ylabel("e2e p99 (ms)")
    ax.legend(fontsize=7)
    rates = np.array([p["rate"] for p in result["probes"]])
    o2 = np.argsort(rates)
    ax2.plot(rates[o2], rates[o2], ":", color="#999999", lw=1, label="offered")
    ax2.plot(rates[o2], np.array([p["throughput"] for p in result["probes"]])[o2], "o-", label="served")
    ax2.plot(rates[o2], np.array([p["goodput"] for p in result["probes"]])[o2], "s-", label="goodput")
    ax2.set_xlabel("offered rate (requests/s)")
    ax2.set_ylabel("requests/s")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    cap = result.get("capacity_at_slo_req_per_s")
    reading = f"{len(result['probes'])} probes; " + (f"capacity at SLO {cap:.2f} req/s" if cap is not None
                                                     else "green: meets the SLO, red: misses it")
    return Figure("sweep_curve", "Throughput vs latency, and served vs offered", reading, fig,
                  int(len(probes) + 3 * len(result["probes"])))


def write_page(result: dict[str, Any], out: Path) -> Path:
    sections = [f"<h1>inferload sweep: {escape(str(result['scenario']))}</h1>",
                "<p class=\"muted\">Rules (saturation, meeting the SLO, bisection, knee): docs/reports.md, "
                "\"sweep\".</p>"]
    cap, knee = result.get("capacity_at_slo_req_per_s"), result.get("knee_req_per_s")
    if result["mode"] == "find-capacity":
        sections.append(f"<p><b>Capacity at SLO: {'none of the probed rates met it' if cap is None else f'{cap:.2f} req/s'}"
                        f"</b> (tolerance {result['tolerance']:.0%})</p>")
    sections.append(f"<p>Knee of the throughput–latency curve: {'–' if knee is None else f'{knee:.2f} req/s'}</p>")
    sections.append(html.table(
        ["rate", "served", "goodput", "e2e p50 (ms)", "e2e p99 (ms)", "errors", "dropped", "steady", "SLO", "saturated",
         "run folder"],
        [[f"{p['rate']:g}", p["throughput"], p["goodput"], p["e2e_p50_ms"], p["e2e_p99_ms"], f"{p['error_rate']:.3f}",
          p["dropped"], p["steady"], "meets" if p["meets_slo"] else "misses", "; ".join(p["saturated_reasons"]) or "–",
          Path(p["run_dir"]).name] for p in result["probes"]], left=0))
    if any(p["e2e_p99_ms"] is not None for p in result["probes"]):
        sections.append(html.figure(render(_curve(result), out / "figures")))
    path = out / "sweep.html"
    path.write_text(html.page(f"inferload sweep: {result['scenario']}", sections), encoding="utf-8")
    return path


__all__ = ["render_terminal", "write_page"]
