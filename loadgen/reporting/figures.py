"""The report's figures, drawn with matplotlib (imported lazily, Agg backend, no network).

Each figure function returns a :class:`Figure` (or None when the run has no data for it): a
title, a one-line reading, and the matplotlib figure, which :func:`render` turns into an inline
SVG string (fonts as paths, fixed hash salt: deterministic and self-contained) and a PNG file.
Every axis states its unit.  Phases are shaded on time axes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from collectors import schema
from loadgen.reporting.analysis import Phase, interval_latency, interval_latency_max, model_vs_system, phases
from loadgen.reporting.runfolder import RunData

PHASE_COLOURS = {"warmup": "#eeeeee", "ramp": "#e3f2fd", "steady": "#e8f5e9", "peak": "#fff3e0",
                 "burst": "#fce4ec", "cooldown": "#f3e5f5"}
RUN_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


@dataclass
class Figure:
    key: str  # file stem, e.g. "latency_over_time"
    title: str
    reading: str  # one line: what the figure says
    fig: Any  # matplotlib.figure.Figure
    points: int  # data points drawn (0: nothing drawn)


@dataclass(frozen=True, slots=True)
class Rendered:
    key: str
    title: str
    reading: str
    svg: str
    png: Path | None
    points: int


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend with the report's settings (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update({
        "svg.fonttype": "path", "svg.hashsalt": "inferload", "font.size": 9, "axes.grid": True,
        "grid.alpha": 0.3, "figure.dpi": 100, "axes.titlesize": 10,
    })
    import matplotlib.pyplot as plt

    return plt


def _shade(ax: Any, ph: Sequence[Phase]) -> None:
    for p in ph:
        ax.axvspan(p.start_s, p.end_s, color=PHASE_COLOURS.get(p.kind, "#f5f5f5"), alpha=0.7, lw=0, zorder=0)
        ax.text((p.start_s + p.end_s) / 2, 0.99, p.name, transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize=7, color="#555555")


def _slo_lines(ax: Any, summary: dict[str, Any], metric: str) -> None:
    for o in (summary.get("slo") or {}).get("objectives") or []:
        if o.get("metric") == metric:
            ax.axhline(float(o["max_ms"]), color="#b71c1c", ls="--", lw=1)
            ax.text(0.995, float(o["max_ms"]), f" SLO p{o['percentile']:g} {o['max_ms']:g} ms",
                    transform=ax.get_yaxis_transform(), ha="right", va="bottom", fontsize=7, color="#b71c1c")


def latency_over_time(d: RunData) -> Figure | None:
    plt = pyplot()
    metrics = [m for m in (schema.M_TTFT, schema.M_TPOT, schema.M_E2E) if any(k[0] == m for k in d.latency)]
    if not metrics:
        return None
    ph = phases(d.summary)
    fig, axes = plt.subplots(len(metrics), 1, figsize=(10, 2.6 * len(metrics)), sharex=True, squeeze=False)
    drawn, worst = 0, ""
    for ax, m in zip(axes[:, 0], metrics, strict=True):
        _shade(ax, ph)
        for col, style in ((schema.F_P50.name, "-"), (schema.F_P90.name, ":"), (schema.F_P99.name, "--")):
            t, y = interval_latency_max(d, m, col)
            ax.plot(t, y * 1e3, style, lw=1.2, label=col[:-2], color="#1f77b4" if col != schema.F_P99.name else "#d62728")
            drawn += len(t)
            if col == schema.F_P99.name and len(y):
                worst = f"{m} p99 peaked at {np.nanmax(y) * 1e3:.0f} ms (t = {t[int(np.nanargmax(y))]:.0f} s)"
        _slo_lines(ax, d.summary, m)
        ax.set_ylabel(f"{m} (ms)")
        ax.legend(loc="upper left", fontsize=7)
    axes[-1, 0].set_xlabel("time since the plan's start (s)")
    fig.suptitle("Latency percentiles per interval (worst traffic class)")
    fig.tight_layout()
    return Figure("latency_over_time", "Latency percentiles over time, phases shaded, SLO thresholds dashed",
                  worst or "no latency intervals", fig, drawn)


def steady_vs_peak(d: RunData) -> Figure | None:
    plt = pyplot()
    blocks = d.summary.get("phases") or {}
    names = [n for n, b in blocks.items() if b.get("kind") not in ("warmup", "cooldown")]
    metrics = [(m, k) for m in (schema.M_TTFT, schema.M_TPOT, schema.M_E2E) for k in ("p50_ms", "p99_ms")
               if any((blocks[n].get("latency", {}).get(m) or {}).get(k) is not None for n in names)]
    if not names or not metrics:
        return None
    fig, ax = plt.subplots(figsize=(10, 3.4))
    width = 0.8 / len(names)
    x = np.arange(len(metrics))
    drawn = 0
    for i, n in enumerate(names):
        vals = [(blocks[n].get("latency", {}).get(m) or {}).get(k) for m, k in metrics]
        ys = np.array([np.nan if v is None else v for v in vals], dtype=float)
        ax.bar(x + i * width - 0.4 + width / 2, ys, width, label=f"{n} ({blocks[n].get('kind')})",
               color=PHASE_COLOURS.get(str(blocks[n].get("kind")), "#cccccc"), edgecolor="#333333", lw=0.6)
        drawn += int(np.isfinite(ys).sum())
    ax.set_xticks(x, [f"{m} {k[:-3]}" for m, k in metrics])
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms, log scale)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    ref = next((n for n in names if blocks[n].get("kind") == "steady"), names[0])
    peaks = [n for n in names if blocks[n].get("kind") in ("peak", "burst")]
    reading = "no burst or peak phase to compare with"
    if peaks:
        r = [((blocks[p].get("latency", {}).get(schema.M_E2E) or {}).get("p99_ms"), p) for p in peaks]
        base = (blocks[ref].get("latency", {}).get(schema.M_E2E) or {}).get("p99_ms")
        parts = [f"{p} e2e p99 {v / base:.1f}x {ref}" for v, p in r if v is not None and base]
        reading = "; ".join(parts) or reading
    return Figure("steady_vs_peak", "Steady vs peak: percentiles per phase", reading, fig, drawn)


def model_vs_system_fig(d: RunData) -> Figure | None:
    plt = pyplot()
    mv = model_vs_system(d)
    if not mv:
        return None
    fig, ax = plt.subplots(figsize=(10, 2.8))
    colours = {"queue": "#ffb74d", "prefill": "#64b5f6", "decode": "#81c784", "outside the model": "#bdbdbd"}
    drawn = 0
    if "phases" in mv:
        rows = list(mv["phases"].items())
        for i, (_ph, parts) in enumerate(rows):
            left = 0.0
            for label, c in colours.items():
                v = (parts.get(label) or {}).get("p50_ms")
                if v is None:
                    continue
                ax.barh(i, v, left=left, color=c, label=label if i == 0 else None)
                left += v
                drawn += 1
        ax.set_yticks(range(len(rows)), [r[0] for r in rows])
        ax.set_xlabel("median time per request (ms): per-request server timings")
    else:
        comps = mv["components"]
        left = 0.0
        for label in ("queue", "prefill", "decode"):
            if label in comps:
                ax.barh(0, comps[label]["mean_ms"], left=left, color=colours[label], label=label)
                left += comps[label]["mean_ms"]
                drawn += 1
        e2e = mv.get("client_e2e_mean_ms")
        if e2e is not None and e2e > left:
            ax.barh(0, e2e - left, left=left, color=colours["outside the model"], label="outside the model (client e2e - sum)")
            drawn += 1
        ax.set_yticks([0], ["whole run"])
        ax.set_xlabel("mean time per request (ms): server /metrics interval means, client e2e mean")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    reading = f"source: {mv['source']}"
    if "components" in mv and mv.get("client_e2e_mean_ms"):
        inside = sum(c["mean_ms"] for c in mv["components"].values())
        reading += f"; the model accounts for {inside / mv['client_e2e_mean_ms']:.0%} of the client's mean e2e"
    return Figure("model_vs_system", "Model vs system: where a request's time went", reading, fig, drawn)


def throughput_vs_latency(d: RunData) -> Figure | None:
    plt = pyplot()
    t, cols = d.throughput.arrays(d.t0_ns)
    if not len(t):
        return None
    rate = cols[schema.F_REQUESTS.name] / cols[schema.F_INTERVAL.name]
    lt, lp99 = interval_latency_max(d, schema.M_E2E, schema.F_P99.name)
    _, lp50 = interval_latency(d, schema.M_E2E, schema.F_P50.name)
    idx = {round(v, 3): i for i, v in enumerate(lt.tolist())}
    pairs = [(r, lp99[idx[k]], lp50[idx[k]]) for r, k in zip(rate.tolist(), (round(v, 3) for v in t.tolist()), strict=True)
             if k in idx and r == r]
    fig, ax = plt.subplots(figsize=(10, 3.4))
    drawn = 0
    if pairs:
        a = np.array(pairs)
        ax.scatter(a[:, 0], a[:, 2] * 1e3, s=10, alpha=0.5, label="interval e2e p50", color="#1f77b4")
        ax.scatter(a[:, 0], a[:, 1] * 1e3, s=10, alpha=0.5, label="interval e2e p99 (worst class)", color="#d62728")
        drawn += 2 * len(a)
    for name, b in (d.summary.get("phases") or {}).items():
        lat = (b.get("latency") or {}).get(schema.M_E2E) or {}
        if lat.get("p99_ms") is not None:
            ax.plot([b["req_per_s"]], [lat["p99_ms"]], "D", color="#333333", ms=6)
            ax.annotate(name, (b["req_per_s"], lat["p99_ms"]), fontsize=7, xytext=(4, 4), textcoords="offset points")
            drawn += 1
    ax.set_xlabel("throughput (requests/s finished)")
    ax.set_ylabel("e2e latency (ms)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    reading = "diamonds: whole phases (e2e p99)"
    if pairs:
        reading = (f"over {len(pairs)} intervals at {min(p[0] for p in pairs):.1f}-{max(p[0] for p in pairs):.1f} req/s, "
                   f"e2e p99 ranged {min(p[1] for p in pairs) * 1e3:.0f}-{max(p[1] for p in pairs) * 1e3:.0f} ms; " + reading)
    return Figure("throughput_vs_latency", "Throughput vs latency", reading, fig, drawn)


def errors_over_time(d: RunData) -> Figure | None:
    plt = pyplot()
    t, cols = d.throughput.arrays(d.t0_ns)
    if not len(t):
        return None
    fig, ax = plt.subplots(figsize=(10, 2.6))
    _shade(ax, phases(d.summary))
    width = float(np.nanmedian(cols[schema.F_INTERVAL.name])) if len(t) else 1.0
    bottom = np.zeros(len(t))
    total = 0
    tindex = {round(v, 3): i for i, v in enumerate(t.tolist())}
    for err, k in sorted(d.errors.items()):
        et, ec = k.arrays(d.t0_ns)
        y = np.zeros(len(t))
        for ti, ci in zip(et.tolist(), ec[schema.F_COUNT.name].tolist(), strict=True):
            i = tindex.get(round(ti, 3))
            if i is not None and ci == ci:
                y[i] += ci
        ax.bar(t, y, width=width, bottom=bottom, label=err, align="edge")
        bottom += y
        total += int(y.sum())
    ax.plot(t, cols[schema.F_REQUESTS.name], color="#555555", lw=0.8, label="requests (all)")
    ax.set_xlabel("time since the plan's start (s)")
    ax.set_ylabel("requests per interval")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    reading = (f"{total} failed requests, by class: " + ", ".join(sorted(d.errors))) if total else \
        f"no failed requests in {int(np.nansum(cols[schema.F_REQUESTS.name]))} finished"
    return Figure("errors_over_time", "Errors by class over time", reading, fig, len(t))


def generator_health(d: RunData) -> Figure | None:
    plt = pyplot()
    t, cols = d.health.arrays(d.t0_ns)
    if not len(t):
        return None
    fig, ax = plt.subplots(figsize=(10, 2.6))
    _shade(ax, phases(d.summary))
    lag = cols[schema.F_LAG_P99.name] * 1e3
    ax.plot(t, lag, color="#6a1b9a", lw=1.2, label="schedule lag p99 (ms)")
    limit = (d.summary.get("generator") or {}).get("max_schedule_lag_p99_ms")
    if limit:
        ax.axhline(float(limit), color="#6a1b9a", ls="--", lw=0.8)
    ax.set_ylabel("schedule lag p99 (ms)")
    ax2 = ax.twinx()
    ax2.plot(t, cols[schema.F_CPU.name], color="#ef6c00", lw=1, label="worker CPU (%)")
    ax2.set_ylabel("worker CPU (%, 100 = one core)")
    ax2.grid(False)
    ax.set_xlabel("time since the plan's start (s)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
    fig.tight_layout()
    dropped = int(np.nansum(cols[schema.F_DROPPED_ARRIVALS.name]))
    reading = (f"schedule lag p99 at most {np.nanmax(lag):.1f} ms, worker CPU at most "
               f"{np.nanmax(cols[schema.F_CPU.name]):.0f}%, {dropped} arrivals dropped (max_inflight)")
    return Figure("generator_health", "Load-generator health", reading, fig, 2 * len(t))


def gpu_panels(d: RunData) -> Figure | None:
    plt = pyplot()
    if not d.gpus:
        return None
    panels = ((schema.GF_GPU_UTIL.name, "GPU utilisation (%)"), (schema.GF_POWER.name, "power (W)"),
              (schema.GF_FB_USED.name, "memory used (MiB)"), (schema.GF_GPU_TEMP.name, "temperature (C)"))
    fig, axes = plt.subplots(2, 2, figsize=(10, 4.4), sharex=True)
    ph = phases(d.summary)
    drawn = 0
    for ax, (col, label) in zip(axes.flat, panels, strict=True):
        _shade(ax, ph)
        for key, s in sorted(d.gpus.items()):
            t, cols = s.arrays()
            ax.plot(t, cols[col], lw=1, label=key)
            drawn += int(np.isfinite(cols[col]).sum())
        ax.set_ylabel(label)
        ax.set_xlabel("time since the plan's start (s)")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    utils = [float(np.nanmean(s.arrays()[1][schema.GF_GPU_UTIL.name])) for s in d.gpus.values()]
    reading = f"{len(d.gpus)} GPU(s); mean utilisation " + ", ".join(f"{u:.0f}%" for u in utils)
    return Figure("gpu", "GPU telemetry", reading, fig, drawn)


def server_state(d: RunData) -> Figure | None:
    plt = pyplot()
    if not len(d.server):
        return None
    t, cols = d.server.arrays()
    fig, ax = plt.subplots(figsize=(10, 2.6))
    _shade(ax, phases(d.summary))
    ax.plot(t, cols[schema.SF_RUNNING.name], lw=1.2, label="running")
    ax.plot(t, cols[schema.SF_WAITING.name], lw=1.2, label="waiting (queue)")
    ax.set_ylabel("requests in the engine")
    ax.set_xlabel("time since the plan's start (s)")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    w = cols[schema.SF_WAITING.name]
    reading = f"{d.server_info.get('server', 'server')} scrape: up to {np.nanmax(w):.0f} waiting, " \
              f"{np.nanmax(cols[schema.SF_RUNNING.name]):.0f} running" if np.isfinite(w).any() else "no queue gauge"
    return Figure("server_state", "Server engine state (/metrics)", reading, fig, 2 * len(t))


FIGURES: tuple[Callable[[RunData], Figure | None], ...] = (
    latency_over_time, steady_vs_peak, model_vs_system_fig, throughput_vs_latency, errors_over_time,
    generator_health, server_state, gpu_panels,
)


def render(fig: Figure, png_dir: Path | None) -> Rendered:
    """SVG text (for inlining) and, with ``png_dir``, ``<png_dir>/<key>.png``."""
    plt = pyplot()
    buf = io.StringIO()
    fig.fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "inferload"})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML prolog and doctype: inlined in HTML
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)  # RDF boilerplate
    png: Path | None = None
    if png_dir is not None:
        png_dir.mkdir(parents=True, exist_ok=True)
        png = png_dir / f"{fig.key}.png"
        fig.fig.savefig(png, format="png", dpi=110, metadata={"Software": "inferload"})
    plt.close(fig.fig)
    return Rendered(fig.key, fig.title, fig.reading, svg, png, fig.points)


def render_all(d: RunData, png_dir: Path | None) -> list[Rendered]:
    out = []
    for make in FIGURES:
        f = make(d)
        if f is not None:
            out.append(render(f, png_dir))
    return out


__all__ = ["FIGURES", "PHASE_COLOURS", "RUN_COLOURS", "Figure", "Rendered", "pyplot", "render", "render_all"]
