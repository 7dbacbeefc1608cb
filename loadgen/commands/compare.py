"""``inferload compare A B [C ...]``: per-phase changes of runs against the first, with significance.

Reads each run folder (summary.json and points/; no InfluxDB), prints operating-point
differences first, then per phase the headline metrics with absolute and relative change and
whether each change is beyond noise (Mann–Whitney U on per-request values for latency,
two-proportion z test for error rate).  ``--out`` writes an HTML page with overlaid figures,
``--json`` the numbers, ``--junit`` one test case per compared metric.  Exit 1 with
``--fail-on-regression`` when a judged metric got worse by more than its bound and the change
is significant; 2 on bad input; 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from userinput.errors import EXIT_PASS, EXIT_SLO_FAILED, InputError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inferload compare", description=__doc__.splitlines()[0])
    p.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR", help="run folders; the first is the baseline")
    p.add_argument("--fail-on-regression", default=None, metavar="BOUND",
                   help="exit 1 on a significant worsening beyond BOUND: '5%%' (every judged metric) "
                        "and/or per metric 'e2e_p99=10%%,error_rate=1%%'")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument("--out", type=Path, default=None, help="HTML page with overlaid figures")
    p.add_argument("--json", type=Path, default=None, help="write the comparison as JSON")
    p.add_argument("--junit", type=Path, default=None, metavar="FILE", help="JUnit XML, one case per compared metric")
    p.add_argument("--max-requests", type=int, default=500_000, metavar="N",
                   help="per-request records kept per run (uniform sample; default 500000)")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if len(args.runs) < 2:
        raise InputError("compare needs at least two run folders (baseline first)")
    if not 0 < args.alpha < 1:
        raise InputError(f"--alpha must be between 0 and 1 (got {args.alpha})")
    from loadgen.reporting import junit
    from loadgen.reporting.compare import compare, parse_bounds
    from loadgen.reporting.compare_page import build, render_terminal
    from loadgen.reporting.runfolder import read_run

    bounds = parse_bounds(args.fail_on_regression)
    runs = [read_run(r, args.max_requests) for r in args.runs]
    if len({d.name for d in runs}) < len(runs):  # same run ids: name them by folder
        for d in runs:
            d.label = str(d.path)
    cmps = [compare(runs[0], other, bounds, args.alpha) for other in runs[1:]]
    render_terminal(cmps)
    if args.json is not None:
        args.json.write_text(json.dumps({"alpha": args.alpha, "comparisons": [c.to_dict() for c in cmps]}, indent=2) + "\n")
    if args.junit is not None:
        junit.write(junit.compare_junit(cmps), args.junit)
    if args.out is not None:
        text, _ = build(runs, cmps, args.out.parent / (args.out.stem + "-figures"), args.alpha)
        args.out.write_text(text, encoding="utf-8")
        print(f"compare: {args.out}")  # noqa: T201
    if args.fail_on_regression and any(c.regressions for c in cmps):
        return EXIT_SLO_FAILED
    return EXIT_PASS


__all__ = ["build_parser", "main"]
