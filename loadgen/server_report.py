"""The server part of a run's report: batching configuration, effective batch, one reading per phase.

A throughput figure means little without the batch that produced it, so the summary states, per
phase, one line such as ``steady: 8.00 req/s, effective batch p50 12 / p95 19, TTFT p99 420 ms``
(:func:`phase_reading`), and the terminal summary prints the server's kind, version and batching
configuration above those lines (:func:`render_server`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console

from collectors import schema

UNKNOWN_SERVER: dict[str, Any] = {
    "kind": "unknown", "version": None, "batching": {}, "batching_source": "unknown", "max_running": None,
    "probed": {}, "stated": {}, "probe_sources": [], "metrics_url": None, "sample_period_s": None,
    "effective_batch": {},
}


def _num(v: float) -> str:
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"


def phase_reading(name: str, block: Mapping[str, Any], batch: Mapping[str, Any] | None) -> str:
    """``name: R req/s, effective batch p50 A / p95 B, TTFT p99 T ms`` (parts unknown say so)."""
    parts = [f"{name}: {float(block.get('req_per_s') or 0.0):.2f} req/s"]
    running = (batch or {}).get(schema.SF_RUNNING.name)
    if running:
        parts.append(f"effective batch p50 {_num(running['p50'])} / p95 {_num(running['p95'])}")
    else:
        parts.append("effective batch unknown (no server metrics)")
    tps = (batch or {}).get(schema.SF_TOKENS_PER_STEP.name)
    if tps:
        parts.append(f"{tps['mean']:.0f} tokens/step")
    ttft = ((block.get("latency") or {}).get(schema.M_TTFT) or {}).get("p99_ms")
    if ttft is not None:
        parts.append(f"TTFT p99 {float(ttft):.0f} ms")
    return ", ".join(parts)


def phase_readings(per_phase: Mapping[str, Mapping[str, Any]], server: Mapping[str, Any]) -> dict[str, str]:
    """One reading per phase, in phase order."""
    eb = server.get("effective_batch") or {}
    return {name: phase_reading(name, block, eb.get(name)) for name, block in per_phase.items()}


def batching_text(server: Mapping[str, Any]) -> str:
    batching = server.get("batching") or {}
    if not batching:
        return "batching configuration unknown (the server does not tell; set target.server_config)"
    shown = ", ".join(f"{k}={v}" for k, v in batching.items())
    return f"batching ({server.get('batching_source')}): {shown}"


def render_server(con: Console, summary: Mapping[str, Any]) -> None:
    """The server line and the per-phase readings (printed right after the results table)."""
    op = summary.get("operating_point") or {}
    server = op.get("server")
    if not isinstance(server, Mapping):
        return
    version = f" {server['version']}" if server.get("version") else ""
    # not wrapped: each reading stays one line, whatever the terminal width (grep-able in CI logs)
    con.print(f"server: {server.get('kind', 'unknown')}{version}; {batching_text(server)}", soft_wrap=True, markup=False)
    for line in (op.get("readings") or {}).values():
        con.print(f"  {line}", soft_wrap=True, markup=False)


__all__ = ["UNKNOWN_SERVER", "batching_text", "phase_reading", "phase_readings", "render_server"]
