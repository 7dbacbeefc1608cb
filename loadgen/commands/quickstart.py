"""``inferload quickstart``: start gpusim on a free port and run examples/quickstart.yaml against it.

The simulated endpoint runs as a child process (``inferload sim --port 0``); the scenario's
``target.base_url`` is overridden to point at it and, with ``--duration-scale X``, every phase
duration is multiplied by X.  The live view is on (``run --web``: the inferload page and
Locust's web UI on 127.0.0.1, port 8089 or any free port when it is taken; its URL is printed);
``--no-web`` turns it off.  Prints the summary and where the files are; exits like ``run``.
"""

from __future__ import annotations

import argparse
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from userinput.errors import InputError

SIM_START_TIMEOUT_S = 30.0
WEB_PORT = 8089
BANNER = "gpusim listening on "


def default_scenario() -> Path:
    for base in (Path(__file__).resolve().parents[2], Path.cwd()):
        p = base / "examples" / "quickstart.yaml"
        if p.is_file():
            return p
    return Path("examples/quickstart.yaml")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inferload quickstart", description="Start gpusim and run examples/quickstart.yaml against it.")
    p.add_argument("--duration-scale", type=float, default=1.0, metavar="X",
                   help="multiply every phase duration by X (e.g. 0.2 for a 10 s smoke run)")
    p.add_argument("--scenario", type=Path, default=None, help="scenario (default examples/quickstart.yaml)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default runs/<scenario>-<UTC time>/)")
    p.add_argument("--no-web", dest="web", action="store_false",
                   help="no live view (default: served on 127.0.0.1 while the run lasts, URL printed)")
    p.add_argument("--web-port", type=int, default=None,
                   help=f"live view port (default {WEB_PORT}, or any free port when it is taken)")
    p.add_argument("--sim-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for `inferload sim` (repeatable), e.g. --sim-arg=--preset=...")
    return p


def start_sim(extra: list[str]) -> tuple[subprocess.Popen[str], str]:
    """Start ``inferload sim --port 0``; return the process and its base URL."""
    cmd = [sys.executable, "-m", "loadgen.cli", "sim", "--port", "0", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + SIM_START_TIMEOUT_S
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        seen.append(line.rstrip())
        if line.startswith(BANNER):
            return proc, line[len(BANNER):].strip()
    stop_sim(proc)
    raise InputError("gpusim did not start: " + (" | ".join(seen[-5:]) or "no output"))


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when ``host:port`` can be listened on right now."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def stop_sim(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.duration_scale <= 0:
        raise InputError(f"--duration-scale must be > 0 (got {args.duration_scale:g})")
    scenario_path: Path = args.scenario or default_scenario()
    # Locust monkey-patches the standard library on import: do it before any thread or pipe exists.
    import locust  # noqa: F401

    from loadgen.config import load_scenario

    base = load_scenario(scenario_path)  # fail on a bad file before starting anything
    proc, url = start_sim(list(args.sim_arg))
    try:
        sys.stdout.write(f"quickstart: gpusim at {url}, scenario {scenario_path}\n")
        sys.stdout.flush()
        run_argv = [str(scenario_path), "--set", f"target.base_url={url}"]
        if args.duration_scale != 1.0:
            for i, ph in enumerate(base.phases):
                run_argv += ["--set", f"phases.{i}.duration={ph.duration_s * args.duration_scale:g}"]
        if args.out is not None:
            run_argv += ["--out", str(args.out)]
        if args.web:
            port = args.web_port if args.web_port is not None else (WEB_PORT if port_free(WEB_PORT) else 0)
            run_argv += ["--web", "--web-port", str(port)]
        from loadgen.commands import run

        code = run.main(run_argv)
    finally:
        stop_sim(proc)
    sys.stdout.write("quickstart: done. Next: edit the scenario, point target.base_url at your endpoint, "
                     "and `inferload run <scenario.yaml>` (docs/running.md).\n")
    return code


__all__ = ["build_parser", "default_scenario", "main", "port_free", "start_sim", "stop_sim"]
