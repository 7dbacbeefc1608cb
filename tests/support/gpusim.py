"""Start gpusim (``inferload sim``) on a free loopback port for a test; stop it afterwards."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def start_gpusim(*args: str) -> tuple[subprocess.Popen[str], str]:
    """A running gpusim and its base URL (``http://127.0.0.1:PORT``); stop it with :func:`stop`."""
    proc = subprocess.Popen([sys.executable, "-m", "loadgen.cli", "sim", "--host", "127.0.0.1", "--port", "0", *args],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        stop(proc)
        raise RuntimeError(f"gpusim did not start: {line!r}")
    return proc, line.strip().rsplit(" ", 1)[-1]


def stop(proc: subprocess.Popen[Any]) -> None:
    """Terminate (then kill) a child process and wait for it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def gpusim(*args: str) -> Iterator[str]:
    """``with gpusim("--preset", "tiny-cpu") as base_url: ...``"""
    proc, base = start_gpusim(*args)
    try:
        yield base
    finally:
        stop(proc)


__all__ = ["gpusim", "start_gpusim", "stop"]
