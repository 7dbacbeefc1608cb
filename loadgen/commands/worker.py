"""``inferload worker``: join a master and generate load; the master sends the scenario."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inferload worker", description="Join a master and generate load; the master sends the scenario.")
    p.add_argument("--master-host", required=True, help="host of `inferload run --master`")
    p.add_argument("--master-port", type=int, default=5557, help="its --master-bind-port (default 5557)")
    p.add_argument("--log-file", type=Path, default=None, metavar="PATH",
                   help="also write the log to PATH (stderr keeps it), rotating at --log-max-mb, 5 old files kept")
    p.add_argument("--log-max-mb", type=float, default=20.0, metavar="MB",
                   help="rotate --log-file at this size in MiB (default 20)")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.log_file is not None:
        from loadgen.log_file import check_log_file

        check_log_file(args.log_file, args.log_max_mb)  # bad input before Locust starts
    import locust  # noqa: F401  (monkey-patches the standard library first)

    from loadgen.allocator import tune

    tune()  # a fixed mmap threshold before the run allocates (loadgen/allocator.py)
    from loadgen.locust.session import serve_worker, setup_logging

    setup_logging(args.log_file, args.log_max_mb)

    try:
        return serve_worker(args.master_host, args.master_port)
    except ConnectionError:
        sys.stderr.write(f"inferload worker: error: no master answered at {args.master_host}:{args.master_port}\n")
        return 1


__all__ = ["build_parser", "main"]
