"""``inferload worker``: join a master and generate load; the master sends the scenario."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inferload worker", description="Join a master and generate load; the master sends the scenario.")
    p.add_argument("--master-host", required=True, help="host of `inferload run --master`")
    p.add_argument("--master-port", type=int, default=5557, help="its --master-bind-port (default 5557)")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    import locust  # noqa: F401  (monkey-patches the standard library first)

    from loadgen.locust.session import serve_worker, setup_logging

    setup_logging()

    try:
        return serve_worker(args.master_host, args.master_port)
    except ConnectionError:
        sys.stderr.write(f"inferload worker: error: no master answered at {args.master_host}:{args.master_port}\n")
        return 1


__all__ = ["build_parser", "main"]
