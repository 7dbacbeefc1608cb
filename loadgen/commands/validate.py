"""``inferload validate scenario.yaml [--set k=v]``: check a scenario file; sends nothing.

Loads the file exactly as ``inferload run`` does (``load_scenario``), then builds the plan so
trace files and datasets are read and checked too.  Prints ``OK: <name>: N phases, ~M requests
over D s`` and exits 0, or the problems (one per line) and exits 2.  An API key named by the
scenario but not available now (unset env var, missing file) is a warning on stderr only: the
key is needed where the scenario runs, which may be another host.
"""

from __future__ import annotations

import argparse
import sys

from loadgen.config import load_scenario
from loadgen.plan import Plan
from userinput.errors import InputError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inferload validate", description=__doc__.splitlines()[0])
    parser.add_argument("scenario", help="scenario YAML file")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a value by dot path before validation, e.g. phases.0.arrivals.rate=5 (repeatable)",
    )
    return parser


def summary_line(plan: Plan) -> str:
    closed = sum(1 for w in plan.phases if w.closed_loop_users is not None)
    note = f" (+{closed} closed-loop phase{'s' if closed != 1 else ''})" if closed else ""
    n = len(plan.phases)
    return (
        f"OK: {plan.scenario.name}: {n} phase{'s' if n != 1 else ''}, "
        f"~{round(plan.expected_total())} requests over {plan.duration_s:g} s{note}"
    )


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    scenario = load_scenario(args.scenario, args.overrides)
    line = summary_line(Plan(scenario))
    try:
        scenario.target.api_key()  # read now only to warn; `run` reads it again and fails if missing
    except InputError as err:
        sys.stderr.write(f"warning: {err} (needed when the scenario runs)\n")
    print(line)  # noqa: T201
    return 0


__all__ = ["build_parser", "main", "summary_line"]
