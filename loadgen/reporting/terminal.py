"""Terminal rendering of percentiles with their intervals (rich markup strings).

A latency cell shows the point estimate on its first line and the distribution-free interval
(``lo-hi``) dimmed on the second; a percentile with too few samples to bound shows ``*`` and
``lo-?``.  Used by loadgen/report.py's tables.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console

from loadgen.reporting.ci import DEFAULT_CONFIDENCE, ci_key


def wide_console() -> Console:
    """A console as wide as the terminal, or 160 columns when writing to a file or pipe (CI logs)."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console()
    return Console(width=160)


def _num(v: Any) -> str:
    return "?" if v is None else f"{float(v):.1f}"


def _pname(p: float) -> str:
    return f"p{p:g}".replace(".", "_")


def latency_cell(block: dict[str, Any], percentile: float) -> str:
    """``"78.5\\n60.2-101.3"`` (interval dimmed); ``"-"`` without samples; ``*`` when unbounded."""
    value = block.get(_pname(percentile) + "_ms")
    if value is None:
        return "-"
    ci = block.get(ci_key(percentile))
    if not ci:
        return f"{float(value):.1f}"
    lo, hi = ci
    star = " *" if hi is None else ""
    return f"{float(value):.1f}{star}\n[dim]{_num(lo)}-{_num(hi)}[/]"


def latency_legend(summary: dict[str, Any]) -> str:
    conf = (summary.get("slo") or {}).get("confidence") or DEFAULT_CONFIDENCE
    return (f"second line: {conf:.0%} distribution-free interval (order statistics); "
            "* too few samples to bound the percentile (upper bound ?)")


def objective_value(o: dict[str, Any]) -> str:
    """An SLO row's value: point estimate, interval, and what was judged."""
    if o.get("value_ms") is None:
        return "no samples"
    text = f"{float(o['value_ms']):.1f} ms"
    lo, hi, conf = o.get("ci_lo_ms"), o.get("ci_hi_ms"), o.get("ci_confidence")
    if conf is not None:
        text += f" ({_num(lo)}-{_num(hi)} at {float(conf):.0%}, n={o.get('samples', 0)})"
    if o.get("judged_on") == "upper_bound":
        text += " judged on upper bound" if o.get("judged_ms") is not None else f": {o.get('note', '')}"
    elif hi is None and conf is not None:
        text += ": too few samples to bound"
    return text


__all__ = ["latency_cell", "latency_legend", "objective_value", "wide_console"]
