"""The live view in a real browser: headless Chromium during a real ``inferload run --web`` on gpusim.

One run (warmup 4 s, steady 14 s), one browser.  On the inferload page, once the run is 3 s into
its steady phase:

- every number on the page (``data-k``/``data-v``/``data-f``) equals the value at that path in
  the very ``live.json`` body the page rendered (read back through the DevTools protocol), and
  its text is that value in its format;
- the warmup phase (finished, every request merged) shows exactly what ``summary.json`` prints
  at the end of the run: the page's numbers are the summary's numbers;
- no console error or uncaught exception, and no request left the run's own server;
- a screenshot is taken (kept in the test's tmp dir, or ``$INFERLOAD_SCREENSHOTS``).

On Locust's UI: the inferload strip shows the current phase and target rate and links to the
page, the user-count controls are hidden, and the "LLM latency" tab lists TTFT/ITL/TPOT/E2E per
phase.  The run then ends normally (exit 0; 3 is tolerated only for a generator slowed by a busy
machine).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import require_tool
from tests.web.cdp import Browser, chromium_path

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
WARMUP_S, STEADY_S = 4, 14

SCENARIO = """name: webview
seed: 11
target:
  base_url: http://127.0.0.1:1
  api: chat
  stream: true
workload:
  prompt_tokens: 64
  output_tokens: {{dist: uniform, min: 16, max: 48}}
max_inflight: 64
phases:
  - name: warmup
    kind: warmup
    duration: {warmup}s
    arrivals: {{process: poisson, rate: 5}}
  - name: steady
    kind: steady
    duration: {steady}s
    arrivals: {{process: poisson, rate: 8}}
slo:
  objectives:
    - {{metric: ttft, percentile: 99, max_ms: 2000}}
    - {{metric: itl, percentile: 99, max_ms: 200}}
  max_error_rate: 0.01
generator:
  max_cpu_percent: 100
  max_schedule_lag_p99_ms: 1000
"""


def fmt(f: str, v: Any) -> str:
    """Python twin of live.js ``fmt`` (JavaScript's toFixed rounds the binary value, as Python does)."""
    if v is None:
        return "-"
    if f == "ms":
        return f"{v:.1f}"
    if f == "int":
        return str(round(v))
    if f == "rps":
        return f"{v:.2f}"
    if f == "pct":
        return f"{v * 100:.2f} %"
    if f == "cpu":
        return f"{v:.0f} %"
    if f == "s":
        return f"{v:.0f} s"
    return str(v)


def at(obj: Any, path: list[Any]) -> Any:
    for k in path:
        if obj is None:
            return None
        obj = obj[k] if not isinstance(obj, list) else obj[int(k)]
    return obj


def _chromium_or_skip() -> None:
    require_tool(chromium_path() is not None, "chromium is not installed (tests/run.sh installs Debian's chromium)")


@pytest.fixture
def sim() -> Iterator[str]:
    from loadgen.commands.quickstart import start_sim, stop_sim

    proc, url = start_sim([])
    yield url
    stop_sim(proc)


class Run:
    """``inferload run --web --web-port 0`` as a child process; its output read in a thread."""

    def __init__(self, scenario: Path, base_url: str, out: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "loadgen.cli", "run", str(scenario), "--set", f"target.base_url={base_url}",
             "--web", "--web-port", "0", "--out", str(out)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_line(self, prefix: str, timeout_s: float = 30.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.log.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no line starting {prefix!r}; output so far:\n{''.join(self.log)}")

    def output(self) -> str:
        while True:
            try:
                self.log.append(self.lines.get_nowait())
            except queue.Empty:
                return "".join(self.log)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def _dom_numbers(browser: Browser, page: str) -> tuple[float, list[dict[str, Any]]]:
    got = browser.evaluate(page, """(() => ({
        asOf: document.body.getAttribute('data-as-of'),
        items: Array.from(document.querySelectorAll('[data-k]')).map(e => ({
            k: e.getAttribute('data-k'), v: e.getAttribute('data-v'), f: e.getAttribute('data-f'),
            text: e.textContent}))
    }))()""")
    return float(got["asOf"]), list(got["items"])


def _rendered_body(browser: Browser, page: str, as_of: float) -> dict[str, Any]:
    """The live.json body the page rendered last (found by its ``as_of``)."""
    done = {p["requestId"] for p in browser.of("Network.loadingFinished")}
    ids = [p["requestId"] for p in browser.of("Network.responseReceived",
                                              lambda p: p["response"]["url"].endswith("/inferload/api/live.json"))]
    for rid in reversed(ids):
        if rid not in done:
            continue
        body: dict[str, Any] = json.loads(browser.response_body(page, rid))
        if body["as_of"] == as_of:
            return body
    raise AssertionError(f"no captured live.json with as_of {as_of}")


def _save(path: Path) -> None:
    keep = os.environ.get("INFERLOAD_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)


def test_live_view_in_chromium_during_a_real_run(sim: str, tmp_path: Path) -> None:
    _chromium_or_skip()
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO.format(warmup=WARMUP_S, steady=STEADY_S))
    out = tmp_path / "out"
    run = Run(scenario, sim, out)
    browser: Browser | None = None
    try:
        line = run.wait_line("inferload live view: ")
        page_url = line.split("inferload live view: ", 1)[1].split()[0]
        base = page_url.removesuffix("inferload/")
        assert base.startswith("http://127.0.0.1:"), line
        browser = Browser(tmp_path / "chromium")
        page = browser.new_page()
        browser.navigate(page, page_url)
        # 3 s into steady: every warmup request has finished and been merged (local: every tick)
        browser.wait_for(page, f"""(() => {{
            const v = document.querySelector('[data-k=\\'["now","elapsed_s"]\\']');
            return v && JSON.parse(v.getAttribute('data-v')) >= {WARMUP_S + 3};
        }})()""", timeout_s=40)
        as_of, items = _dom_numbers(browser, page)
        body = _rendered_body(browser, page, as_of)
        shot = browser.screenshot(page, tmp_path / "inferload-live-view.png")
        _save(shot)

        # every number shown is the number fetched, in its format
        assert len(items) > 100, items
        for it in items:
            path = json.loads(it["k"])
            assert json.loads(it["v"]) == at(body, path), it
            assert it["text"] == fmt(it["f"], at(body, path)), it
        keys = {it["k"] for it in items}
        for phase in ("warmup", "steady"):
            for metric in ("ttft", "itl", "tpot", "e2e"):
                assert json.dumps(["phases", phase, "latency", metric, "p99_ms"], separators=(",", ":")) in keys
        assert body["now"]["phase"] == "steady" and body["now"]["target_rps"] == 8.0
        assert [t["id"] for t in body["slo"]["tiles"]] == ["ttft_p99", "itl_p99", "error_rate"]
        assert body["series"]["points"], "no chart points"
        assert browser.evaluate(page, "document.querySelectorAll('#chart-latency path[data-series]').length") >= 1

        # Locust's UI: strip with phase and target rate, link, no user-count controls, LLM tab
        locust = browser.new_page()
        browser.navigate(locust, base)
        browser.wait_for(locust, "document.querySelector('#inferload-bar [data-k=\"phase\"]') !== null")
        bar = browser.evaluate(locust, "document.getElementById('inferload-bar').textContent")
        assert "phase steady" in bar and "target 8.00 req/s" in bar, bar
        assert browser.evaluate(locust, "document.querySelector('#inferload-bar a').getAttribute('href')") == "./inferload/"
        browser.wait_for(locust, "Array.from(document.querySelectorAll('[role=tab]')).some(t => /LLM latency/i.test(t.textContent))")
        visible_buttons = browser.evaluate(locust, """Array.from(document.querySelectorAll('#root button'))
            .filter(b => b.offsetParent !== null).map(b => b.textContent.trim())""")
        assert "Edit" not in visible_buttons, visible_buttons
        assert browser.evaluate(locust, "document.querySelector('[data-inferload-hidden=\"users\"]') !== null")
        _save(browser.screenshot(locust, tmp_path / "locust-ui.png", full_page=False))
        browser.navigate(locust, base + "?tab=llm")
        rows = browser.wait_for(locust, """(() => {
            const r = Array.from(document.querySelectorAll('table tbody tr')).map(tr => tr.textContent);
            return r.some(t => t.includes('steady') && t.includes('ttft')) ? r : null; })()""")
        assert any("warmup" in r and "itl" in r for r in rows), rows
        assert any("tpot" in r for r in rows) and any("e2e" in r for r in rows), rows
        _save(browser.screenshot(locust, tmp_path / "locust-llm-tab.png", full_page=False))

        # nothing but the run's own server, and no console errors
        urls = browser.requested_urls()
        assert urls
        outside = [u for u in urls if not (u.startswith(base) or u.startswith("data:") or u == "about:blank")]
        assert not outside, outside
        assert not browser.console_errors(), browser.console_errors()
    finally:
        if browser is not None:
            browser.close()
        code = run.proc.wait(timeout=90) if run.proc.poll() is None else run.proc.returncode
        run.stop()
    summary = json.loads((out / "summary.json").read_text())
    verdict = summary["verdict"]
    assert verdict["exit_code"] == code, run.output()
    # 0; or 3 only because this shared machine slowed the generator (not a lost or missing result)
    assert code == 0 or (code == 3 and all(r.startswith(("generator fell behind", "generator ran too hot"))
                                           for r in verdict["reasons"])), (verdict, run.output())
    # the finished warmup phase: the page showed exactly the summary's numbers
    warm = summary["phases"]["warmup"]
    assert body["phases"]["warmup"]["requests"] == warm["requests"] > 0
    for metric in ("ttft", "itl", "tpot", "e2e"):
        for key in ("count", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p99_9_ms", "mean_ms"):
            shown = [json.loads(it["v"]) for it in items
                     if json.loads(it["k"]) == ["phases", "warmup", "latency", metric, key]]
            assert shown == [warm["latency"][metric][key]], (metric, key, shown)
