"""Server collector against live gpusim: queue/prefill/decode deltas agree with gpusim's trace."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from collectors import schema as s
from collectors.http import http_get
from collectors.server.scrape import ServerMetricsCollector

REPO = Path(__file__).resolve().parents[2]
N_REQUESTS = 8

pytestmark = pytest.mark.integration


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def test_server_deltas_agree_with_gpusim_trace(tmp_path: Path) -> None:
    pytest.importorskip("gpusim.cli")
    trace = tmp_path / "trace.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadgen.cli", "sim", "--port", "0", "--host", "127.0.0.1",
         "--trace", str(trace), "--time-scale", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        m = re.search(r"gpusim listening on (http://\S+)", proc.stdout.readline())
        assert m, "gpusim did not start"
        base = m.group(1)
        model = json.loads(http_get(base + "/v1/models", 10))["data"][0]["id"]

        collector = ServerMetricsCollector(base + "/metrics", get=http_get, tags={"host": "t"})
        collector.collect(1)  # baseline
        assert collector.mapping is not None and collector.mapping.kind == "vllm"  # auto-detected

        body = {"model": model, "prompt": "hello world " * 40, "max_tokens": 24}
        with ThreadPoolExecutor(N_REQUESTS) as pool:
            results = list(pool.map(lambda _: _post(base + "/v1/completions", body), range(N_REQUESTS)))
        assert len(results) == N_REQUESTS

        points = list(collector.collect(2))
    finally:
        proc.send_signal(signal.SIGTERM)  # gpusim flushes the trace on shutdown
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    records = [r for r in map(json.loads, trace.read_text().splitlines()) if r.get("type") == "request"]
    assert len(records) == N_REQUESTS
    truth = {
        "queue": sum(r["queue_exit_s"] - r["arrival_s"] for r in records),
        "prefill": sum(r["prefill_end_s"] - r["prefill_start_s"] for r in records),
        "decode": sum(r["token_times_s"][-1] - r["prefill_end_s"] for r in records),
    }
    latency = {p.tags[s.T_COMPONENT.name]: p.fields for p in points if p.measurement == s.SERVER_LATENCY.name}
    for component, expected in truth.items():
        assert component in latency, component
        assert latency[component][s.SF_COUNT.name] == N_REQUESTS
        assert latency[component][s.SF_SUM.name] == pytest.approx(expected, rel=1e-6, abs=1e-6), component
    server = next(p for p in points if p.measurement == s.SERVER.name)
    assert server.fields[s.SF_GENERATION_TOKENS.name] == sum(r["output_tokens"] for r in records)
    assert server.fields[s.SF_RESETS.name] == 0.0
