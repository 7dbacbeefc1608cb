"""Open a local HTML file in headless Chromium: DOM, screenshot, console messages, network requests.

Network requests are caught by pointing Chromium at a proxy on loopback that only records what
it is asked for (``--proxy-bypass-list=<-loopback>`` sends even loopback through it); the
browser's own background calls (update, time, account hosts) are filtered out by host.
Console messages come from ``--enable-logging=stderr`` (``INFO:CONSOLE`` lines).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from tests.support import require_tool

BROWSER_HOSTS = re.compile(r"(google\.com|googleapis\.com|gvt1\.com|gstatic\.com|chromium\.org)(:\d+)?\b")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--hide-scrollbars", "--virtual-time-budget=5000"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    require_tool(False, "chromium is not installed (tests/run.sh installs Debian's chromium)")
    raise AssertionError("unreachable")


@dataclass
class PageResult:
    dom: str
    console: list[str]
    requests: list[str]  # request lines the page made (browser background calls excluded)
    screenshot: Path | None


class _Recorder:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(1.0)
                try:
                    first = conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
                except OSError:  # nothing within 1 s: an idle connection, no request line
                    first = ""
                # a connection that sends nothing is Chromium's speculative preconnect to the proxy
                # (seen under CPU load: one [''] failed a CI run), not a request the page made
                if first:
                    self.lines.append(first)

    def close(self) -> list[str]:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
        return self.lines


def open_page(path: Path, screenshot: Path | None = None, size: tuple[int, int] = (1200, 2400)) -> PageResult:
    exe = chromium()
    rec = _Recorder()
    try:
        with tempfile.TemporaryDirectory(prefix="inferload-chromium-") as profile:
            common = [exe, *FLAGS, f"--user-data-dir={profile}", f"--proxy-server=http://127.0.0.1:{rec.port}",
                      "--proxy-bypass-list=<-loopback>", f"--window-size={size[0]},{size[1]}"]
            url = path.resolve().as_uri()
            dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120)
            shot = None
            if screenshot is not None:
                subprocess.run([*common, f"--screenshot={screenshot}", url], capture_output=True, text=True, timeout=120)
                shot = screenshot if screenshot.is_file() else None
    finally:
        lines = rec.close()
    console = [ln for ln in dom.stderr.splitlines() if ":CONSOLE" in ln]
    return PageResult(dom.stdout, console, [ln for ln in lines if not BROWSER_HOSTS.search(ln)], shot)


__all__ = ["PageResult", "chromium", "open_page"]
