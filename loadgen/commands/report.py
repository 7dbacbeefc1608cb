"""``inferload report RUN_DIR [--out report.html]``: one self-contained HTML report of a run folder.

Reads ``summary.json`` and the line-protocol points under ``RUN_DIR/points/`` (no InfluxDB),
writes the HTML (default ``RUN_DIR/report.html``) and the same figures as PNG files (default
``RUN_DIR/figures/``).  Exit 0, or 2 when the folder is not a run folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from userinput.errors import InputError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inferload report", description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path, help="run folder (holds summary.json and points/)")
    p.add_argument("--out", type=Path, default=None, help="HTML file (default RUN_DIR/report.html)")
    p.add_argument("--png-dir", type=Path, default=None, help="PNG figures folder (default: figures/ beside --out)")
    p.add_argument("--no-png", action="store_true", help="write no PNG files")
    p.add_argument("--max-requests", type=int, default=None, metavar="N",
                   help="per-request records kept in memory (uniform sample; default 500000)")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from loadgen.reporting.report_page import build
    from loadgen.reporting.runfolder import DEFAULT_MAX_REQUESTS, read_run

    if args.max_requests is not None and args.max_requests < 1:
        raise InputError(f"--max-requests must be >= 1 (got {args.max_requests})")
    data = read_run(args.run_dir, args.max_requests or DEFAULT_MAX_REQUESTS)
    out: Path = args.out or args.run_dir / "report.html"
    png_dir = None if args.no_png else (args.png_dir or out.parent / "figures")
    text, figs = build(data, png_dir)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as err:
        raise InputError(f"cannot write {out}: {err.strerror or err}") from None
    print(f"report: {out} ({len(figs)} figures{'' if png_dir is None else f', PNG in {png_dir}'})")  # noqa: T201
    if data.bad_line_count:
        sys.stderr.write(f"warning: {data.bad_line_count} malformed line(s) skipped; first: {data.bad_lines[0]}\n")
    return 0


__all__ = ["build_parser", "main"]
