"""``inferload quickstart`` turns the live view on and prints its URL, which answers during the run.

``--no-web`` runs without it (no URL printed, nothing listening).
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _start(args: list[str]) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "loadgen.cli", "quickstart", "--duration-scale", "0.15", *args],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def _drain(lines: queue.Queue[str], seen: list[str], until: str | None, timeout_s: float) -> str | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        if until is not None and line.startswith(until):
            return line
    return None


def test_quickstart_serves_the_live_view(tmp_path: Path) -> None:
    proc, lines = _start(["--out", str(tmp_path / "qs")])
    seen: list[str] = []
    try:
        line = _drain(lines, seen, "inferload live view: http://127.0.0.1:", 60)
        assert line is not None, "".join(seen)
        url = line.split()[3]
        assert url.endswith("/inferload/")
        body: dict[str, Any] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not body.get("series", {}).get("points"):
            with urllib.request.urlopen(url + "api/live.json", timeout=10) as r:
                body = json.loads(r.read())
            time.sleep(1)
        assert body["operating_point"]["scenario"] == "quickstart" and body["series"]["points"], body
        # 3 (generator-bound) is possible on a busy shared machine: this test is about the URL
        assert proc.wait(timeout=120) in (0, 1, 3), "".join(seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_quickstart_no_web(tmp_path: Path) -> None:
    proc, lines = _start(["--no-web", "--out", str(tmp_path / "qs")])
    seen: list[str] = []
    try:
        assert proc.wait(timeout=120) in (0, 1, 3)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    _drain(lines, seen, None, 1.0)
    out = "".join(seen)
    assert "summary:" in out and "live view" not in out, out
