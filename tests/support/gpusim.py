"""Start gpusim (``inferload sim``) on a free loopback port for a test; stop it afterwards."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def gpusim(*args: str) -> Iterator[str]:
    """``with gpusim("--preset", "tiny-cpu") as base_url: ...`` (``http://127.0.0.1:PORT``)."""
    proc = subprocess.Popen([sys.executable, "-m", "loadgen.cli", "sim", "--host", "127.0.0.1", "--port", "0", *args],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"gpusim did not start: {line!r}")
        yield line.strip().rsplit(" ", 1)[-1]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


__all__ = ["gpusim"]
