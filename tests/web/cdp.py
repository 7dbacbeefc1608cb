"""A small Chrome DevTools Protocol client for the browser tests: headless Chromium on loopback.

:class:`Browser` starts Debian's ``chromium`` headless with remote debugging on a free loopback
port, opens pages, evaluates JavaScript, takes screenshots and records every page's network
requests, console messages and uncaught exceptions (the tests assert on them).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import websocket

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
)


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class CdpError(RuntimeError):
    pass


class Browser:
    """One headless Chromium; call :meth:`close` (or use it as a context manager)."""

    def __init__(self, user_data_dir: Path, *, width: int = 1400, height: int = 1000, timeout_s: float = 30.0) -> None:
        exe = chromium_path()
        if exe is None:
            raise CdpError("chromium is not installed")
        self.proc = subprocess.Popen(
            [exe, *CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}", f"--window-size={width},{height}",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout_s
        url = None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                if self.proc.poll() is not None:
                    break
                continue
            if line.startswith("DevTools listening on "):
                url = line.split("DevTools listening on ", 1)[1].strip()
                break
        if url is None:
            self.close()
            raise CdpError("chromium did not start its DevTools endpoint")
        self.ws = websocket.create_connection(url, timeout=timeout_s, suppress_origin=True)
        self._id = 0
        self.events: list[dict[str, Any]] = []
        self.width, self.height = width, height

    # ---- protocol -------------------------------------------------------------------------------
    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session is not None:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise CdpError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self.events.append(reply)

    def pump(self, seconds: float) -> None:
        """Read events for ``seconds`` (the page keeps running meanwhile)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.ws.settimeout(max(0.01, end - time.monotonic()))
            try:
                reply = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                break
            finally:
                self.ws.settimeout(30)
            if "method" in reply:
                self.events.append(reply)

    # ---- pages ------------------------------------------------------------------------------------------
    def new_page(self) -> str:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session: str = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable", session=session)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False}, session)
        return session

    def navigate(self, session: str, url: str) -> None:
        self.call("Page.navigate", {"url": url}, session)

    def evaluate(self, session: str, expression: str) -> Any:
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                      session)
        if "exceptionDetails" in r:
            raise CdpError(f"evaluate failed: {r['exceptionDetails']}")
        return r.get("result", {}).get("value")

    def wait_for(self, session: str, expression: str, timeout_s: float = 30.0, poll_s: float = 0.5) -> Any:
        """Evaluate ``expression`` until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout_s
        last: Any = None
        while time.monotonic() < deadline:
            last = self.evaluate(session, expression)
            if last:
                return last
            self.pump(poll_s)
        raise CdpError(f"timed out waiting for {expression!r} (last value {last!r})")

    def screenshot(self, session: str, path: Path, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            h = int(self.evaluate(session, "document.documentElement.scrollHeight") or self.height)
            params["clip"] = {"x": 0, "y": 0, "width": self.width, "height": max(h, 100), "scale": 1}
        data = self.call("Page.captureScreenshot", params, session)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def response_body(self, session: str, request_id: str) -> str:
        r = self.call("Network.getResponseBody", {"requestId": request_id}, session)
        body: str = r["body"]
        return base64.b64decode(body).decode() if r.get("base64Encoded") else body

    # ---- what happened -------------------------------------------------------------------------------------
    def of(self, method: str, where: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
        return [e["params"] for e in self.events if e.get("method") == method and (where is None or where(e["params"]))]

    def requested_urls(self) -> list[str]:
        return [p["request"]["url"] for p in self.of("Network.requestWillBeSent")]

    def console_errors(self) -> list[str]:
        out = [" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
               for p in self.of("Runtime.consoleAPICalled", lambda p: p.get("type") in ("error", "assert"))]
        out += [str(p.get("exceptionDetails", {}).get("exception", {}).get("description")
                    or p.get("exceptionDetails", {}).get("text")) for p in self.of("Runtime.exceptionThrown")]
        out += [f"{p['entry'].get('source')}: {p['entry'].get('text')} {p['entry'].get('url', '')}"
                for p in self.of("Log.entryAdded", lambda p: p["entry"].get("level") == "error")]
        return out

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                try:
                    self.call("Browser.close")
                except Exception:
                    pass
                self.ws.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["CHROMIUM_FLAGS", "Browser", "CdpError", "chromium_path"]
