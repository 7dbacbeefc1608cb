"""The gevent client against tests/support/stream_server.py (subprocess, port 0): timing accuracy."""

from __future__ import annotations

import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collectors.records import RequestRecord

ROOT = Path(__file__).resolve().parents[2]
TTFT, ITL, TOKENS = 0.05, 0.01, 16


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.stream_server", "--port", "0", "--ttft", str(TTFT), "--itl", str(ITL)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("PORT "), line
        yield int(line.split()[1])
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _run(port: int, api: str, stream: bool, n: int, spacing_s: float) -> list[RequestRecord]:
    import gevent

    from collectors.records import RequestRecord
    from loadgen.openai.client import CLOCK_NS, OpenAIClient
    from loadgen.openai.payloads import build_request
    from loadgen.workload import Workload
    from tests.support.models import arrival, scenario

    sc = scenario(target={"base_url": f"http://127.0.0.1:{port}", "api": api, "stream": stream,
                          "timeouts": {"connect_s": 5, "read_s": 5, "total_s": 30}},
                  workload={"ignore_eos": True})
    workload = Workload(sc)
    client = OpenAIClient(sc.target, max_connections=16)
    recs: list[RequestRecord] = []

    def one(i: int) -> None:
        r = RequestRecord(idx=i, phase="p", traffic_class="c", worker="w", scheduled_ns=CLOCK_NS())
        client.send(build_request(sc, workload, arrival(i, output_tokens=TOKENS)), r)
        recs.append(r)

    gevent.joinall([gevent.spawn_later(i * spacing_s, one, i) for i in range(n)], timeout=60)
    client.close()
    assert len(recs) == n
    return recs


def _every(values: list[float | None]) -> list[float]:
    known = [v for v in values if v is not None]
    assert len(known) == len(values), "a request lacks this latency"
    return known


@pytest.mark.integration
@pytest.mark.parametrize("api", ["chat", "completions"])
def test_ttft_and_itl_match_configured_values(port: int, api: str) -> None:
    recs = _run(port, api, True, 40, 0.011)
    assert [r.error for r in recs] == [None] * len(recs)
    assert all(r.output_tokens == TOKENS and r.tokens_from_usage and len(r.token_ns) == TOKENS for r in recs)
    assert all(r.finish_reason == "length" and r.status == 200 for r in recs)
    ttft_p50 = statistics.median(_every([r.ttft_s for r in recs]))
    itl_p50 = statistics.median(x for r in recs for x in r.itl_s)
    print(f"TTFT p50 {ttft_p50 * 1e3:.3f} ms ITL p50 {itl_p50 * 1e3:.3f} ms")
    # 5 ms, not 2: the test endpoint (aiohttp) takes the request and wakes from its sleeps late when
    # the whole suite runs on a loaded, slow 2-core CI machine (full `tests/run.sh` runs measured
    # 52.19 and 53.84 ms); ITL, measured between two chunks of one stream, stays within 2 ms. The
    # client's own accuracy is measured against server-stamped times by bench/bench_client.py
    # (docs/performance.md)
    assert abs(ttft_p50 - TTFT) <= 0.005, ttft_p50
    assert abs(itl_p50 - ITL) <= 0.002, itl_p50
    tpot_p50 = statistics.median(_every([r.tpot_s for r in recs]))
    assert abs(tpot_p50 - ITL) <= 0.002, tpot_p50


@pytest.mark.integration
def test_non_streaming(port: int) -> None:
    recs = _run(port, "chat", False, 4, 0.0)
    for r in recs:
        assert r.error is None and r.output_tokens == TOKENS and r.tokens_from_usage
        assert r.first_token_ns is None and r.token_ns == []
        e2e = r.e2e_s
        assert e2e is not None and e2e >= TTFT + (TOKENS - 1) * ITL
