"""``inferload plan scenario.yaml [--first N] [--json]``: show the plan; sends nothing.

A table per phase (kind, window, arrival process, expected requests, max_inflight) and the
first N arrivals of the global sequence, or the same as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from typing import Any

from loadgen.config import load_scenario
from loadgen.plan import Arrival, Plan


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inferload plan", description=__doc__.splitlines()[0])
    parser.add_argument("scenario", help="scenario YAML file")
    parser.add_argument("--first", type=int, default=10, metavar="N", help="show the first N arrivals (default 10)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a value by dot path, e.g. phases.0.arrivals.rate=5 (repeatable)",
    )
    return parser


def _arrival_dict(a: Arrival) -> dict[str, Any]:
    return {
        "idx": a.idx, "offset_s": round(a.offset_s, 6), "phase": a.phase, "class": a.traffic_class,
        "prompt_tokens": a.prompt_tokens, "output_tokens": a.output_tokens, "prompt_row": a.prompt_row,
    }


def _print_tables(plan: Plan, first: list[Arrival]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160)
    sc = plan.scenario
    table = Table(title=f"{sc.name}: {len(plan.phases)} phases, {plan.duration_s:g} s, seed {sc.seed}")
    for col in ("#", "phase", "kind", "window (s)", "process", "expected requests", "max_inflight"):
        table.add_column(col, justify="right" if col in ("#", "expected requests") else "left")
    for w in plan.phases:
        expected = f"closed loop, {w.closed_loop_users} users" if w.closed_loop_users else f"{w.expected:,.0f}"
        table.add_row(
            str(w.index), w.name, w.kind, f"{w.start_s:g} - {w.end_s:g}", w.process, expected,
            "unbounded" if w.max_inflight is None else str(w.max_inflight),
        )
    table.add_section()
    table.add_row("", "total", "", f"0 - {plan.duration_s:g}", "", f"{plan.expected_total():,.0f}", "")
    console.print(table)
    if first:
        arr = Table(title=f"first {len(first)} arrivals")
        for col in ("idx", "offset (s)", "phase", "class", "prompt tokens", "output tokens"):
            arr.add_column(col, justify="left" if col in ("phase", "class") else "right")
        for a in first:
            arr.add_row(str(a.idx), f"{a.offset_s:.6f}", a.phase, a.traffic_class, str(a.prompt_tokens), str(a.output_tokens))
        console.print(arr)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.first < 0:
        build_parser().error("--first must be >= 0")
    scenario = load_scenario(args.scenario, args.overrides)
    plan = Plan(scenario)
    first = list(itertools.islice(plan.arrivals(), args.first))
    if args.json:
        out = plan.to_dict()
        out["first_arrivals"] = [_arrival_dict(a) for a in first]
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_tables(plan, first)
    return 0


__all__ = ["build_parser", "main"]
