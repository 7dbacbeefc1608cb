"""Terminal lines for a soak's findings: drifting series and ``slo.windows`` results (summary.json)."""

from __future__ import annotations

from typing import Any

from rich.console import Console

_UNITS = {"s": lambda v: f"{v * 1000:+.2f} ms/h", "ratio": lambda v: f"{v:+.4f}/h",
          "requests": lambda v: f"{v:+.2f} req/h", "MiB": lambda v: f"{v:+.1f} MiB/h"}


def render_soak(con: Console, summary: dict[str, Any]) -> None:
    """One line per flagged drift, one per ``slo.windows`` length (its violations are in the verdict)."""
    drift = summary.get("drift") or {}
    for sid in drift.get("flagged", []):
        row = drift.get("series", {}).get(sid, {})
        fmt = _UNITS.get(str(row.get("unit")), lambda v: f"{v:+.4g}/h")
        slope, lo, hi = row.get("slope_per_h"), row.get("ci_lo_per_h"), row.get("ci_hi_per_h")
        if slope is None or lo is None or hi is None:
            continue
        con.print(f"[yellow]drift[/]: {sid} rises {fmt(slope)} (95 % CI {fmt(lo)} .. {fmt(hi)}), "
                  f"+{row.get('rise_fraction', 0.0):.0%} over the run (docs/soak.md)")
    for label, w in (summary.get("slo_windows") or {}).items():
        colour = "green" if w.get("passed") else "red"
        con.print(f"[{colour}]slo.windows {label}[/]: {w.get('violating', 0)} of {w.get('judged', 0)} windows "
                  f"violate ({w.get('not_judged', 0)} not judged)")


__all__ = ["render_soak"]
