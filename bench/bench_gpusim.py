"""Benchmark: how much streaming one gpusim process serves, and how close to schedule.

Run by hand (not in CI)::

    .venv/bin/python bench/bench_gpusim.py [--runs 3] [--seconds 8] [--concurrency 256 512 768]

What it measures (medians over ``--runs``):

* server: ``inferload sim`` in its own process pinned to one core (``taskset -c 0`` when
  available) with a fast batching config, driven by closed-loop streaming clients in separate
  processes (pinned to the other core).  Reports requests/s and streamed tokens/s counted by
  the clients, the server's CPU use (fraction of one core), and the p99 of
  ``gpusim_emit_lateness_seconds`` (how late each SSE write left vs its token's scheduled
  time) estimated from the histogram buckets;
* engine: simulated tokens per CPU second of the pure engine in virtual time;
* memory: bytes of engine + request state per active sequence (tracemalloc), and the
  server's RSS growth per open stream.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from gpusim.config import build_config
from gpusim.engine import BatchingEngine, Seq
from gpusim.runner import ReqState
from gpusim.virtual import Arrival, simulate

CONFIG = """\
preset: h100-llama8b
model: bench
engine:
  max_num_seqs: 1024
  step_overhead_s: {step_s}
  decode_s_per_seq: 0.0
  attention_s_per_kv_token: 0.0
  enable_prefix_caching: false
"""
TOKENS = 256
WARMUP_S = 1.5


def _client(url: str, n: int, seconds: float, out: mp.Queue, seed: int) -> None:
    rng = random.Random(seed)

    async def main() -> tuple[int, int]:
        tokens = requests = 0
        stop = time.monotonic() + seconds

        async def one(s: aiohttp.ClientSession) -> None:
            nonlocal tokens, requests
            await asyncio.sleep(rng.uniform(0, WARMUP_S * 0.8))  # staggered start
            while time.monotonic() < stop:
                # output lengths uniform in [TOKENS/4, 7*TOKENS/4]: completions do not synchronise
                body = {"model": "bench", "prompt": f"bench {rng.random()} " * 16,
                        "max_tokens": rng.randint(TOKENS // 4, 7 * TOKENS // 4), "ignore_eos": True, "stream": True}
                async with s.post(f"{url}/v1/completions", json=body) as resp:
                    async for chunk in resp.content.iter_any():
                        tokens += chunk.count(b"data: {")
                requests += 1

        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn) as s:
            await asyncio.gather(*(one(s) for _ in range(n)))
        return tokens, requests

    out.put(asyncio.run(main()))


def _scrape(url: str) -> dict[str, list[tuple[dict[str, str], float, str]]]:
    import urllib.request

    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:  # noqa: S310 (loopback)
        text = resp.read().decode()
    fams: dict[str, list[tuple[dict[str, str], float, str]]] = {}
    for fam in text_string_to_metric_families(text):
        fams[fam.name] = [(s.labels, s.value, s.name) for s in fam.samples]
    return fams


def _quantile_from_buckets(after: list[tuple[dict[str, str], float, str]],
                           before: list[tuple[dict[str, str], float, str]], q: float) -> float:
    """Upper bucket bound holding quantile ``q`` of the observations made between two scrapes."""
    old = {lb["le"]: v for lb, v, name in before if name.endswith("_bucket")}
    buckets = sorted((float(lb["le"]), v - old.get(lb["le"], 0.0)) for lb, v, name in after
                     if name.endswith("_bucket"))
    total = buckets[-1][1]
    for le, count in buckets:
        if count >= q * total:
            return le
    return float("inf")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def server_run(concurrency: int, seconds: float, clients: int, pin_cores: bool = True,
               step_s: float = 0.004) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp())
    cfg = tmp / "sim.yaml"
    cfg.write_text(CONFIG.format(step_s=step_s))
    pin = ["taskset", "-c", "0"] if pin_cores and shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
    proc = subprocess.Popen([*pin, sys.executable, "-m", "loadgen.cli", "sim", "--port", "0", "--config", str(cfg)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().rsplit(" ", 1)[1]
        rss0 = _rss_kib(proc.pid)
        out: mp.Queue = mp.Queue()
        per = [concurrency // clients + (1 if i < concurrency % clients else 0) for i in range(clients)]
        procs = [mp.Process(target=_client, args=(url, n, WARMUP_S + seconds, out, i)) for i, n in enumerate(per)]
        for p in procs:
            p.start()
            if pin:
                subprocess.run(["taskset", "-p", "-c", "1", str(p.pid)], capture_output=True, check=False)
        time.sleep(WARMUP_S)  # ramp-up excluded from every figure
        before = _scrape(url)
        cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds / 2)
        rss_mid = _rss_kib(proc.pid)
        mid = _scrape(url)
        time.sleep(max(0.0, t0 + seconds - time.monotonic()))
        elapsed = time.monotonic() - t0
        cpu = _cpu_seconds(proc.pid) - cpu0
        after = _scrape(url)
        results = [out.get(timeout=seconds + 120) for _ in procs]
        for p in procs:
            p.join()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)
    def total(fams: dict[str, list[tuple[dict[str, str], float, str]]], fam: str) -> float:
        return next(v for _, v, n in fams[fam] if n.endswith("_total"))

    def q(fam: str, quantile: float) -> float:
        return _quantile_from_buckets(after[fam], before[fam], quantile) * 1000

    running = next(v for _, v, _n in mid["vllm:num_requests_running"])
    streamed = total(after, "vllm:generation_tokens") - total(before, "vllm:generation_tokens")
    finished = sum(v for lb, v, n in after["vllm:request_success"] if n.endswith("_total")) - sum(
        v for lb, v, n in before["vllm:request_success"] if n.endswith("_total"))
    return {
        "tokens_s": streamed / elapsed,
        "requests_s": finished / elapsed,
        "client_tokens": float(sum(r[0] for r in results)),
        "cpu_core": cpu / elapsed,
        "emit_p50_ms": q("gpusim_emit_lateness_seconds", 0.50),
        "emit_p99_ms": q("gpusim_emit_lateness_seconds", 0.99),
        "step_p99_ms": q("gpusim_step_lateness_seconds", 0.99),
        "rss_per_stream_kib": (rss_mid - rss0) / max(running, 1),
    }


def engine_speed() -> float:
    """Simulated tokens per CPU second of the pure engine (virtual time, saturated)."""
    cfg = build_config({"engine": {"enable_prefix_caching": False}}, "h100-llama8b")
    arrivals = [Arrival(0.0, 300, 200) for _ in range(3000)]
    eng = BatchingEngine(cfg.engine)
    t0 = time.process_time()
    seqs = simulate(eng, arrivals)
    return sum(len(s.token_times) for s in seqs) / (time.process_time() - t0)


def state_bytes_per_seq(n: int = 5000, tokens: int = 256) -> float:
    """tracemalloc bytes per running sequence (Seq + ReqState + engine bookkeeping, `tokens` emitted)."""
    cfg = build_config({"engine": {"max_num_seqs": n, "num_gpu_blocks": 200000}}, "h100-llama8b")
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    eng = BatchingEngine(cfg.engine)
    seqs = []
    for i in range(n):
        seq = Seq(f"cmpl-{i:08d}", 300, tokens + 100, "length", 0.0, tuple(range(i * 32, i * 32 + 18)))
        seq.user = ReqState("chat", [])
        eng.add(seq, 0.0)
        seqs.append(seq)
    now = 0.0
    while min(len(s.token_times) for s in seqs) < tokens:
        eng.advance(now)
        now = eng.next_wakeup() or now
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return used / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[48, 64, 96])
    ap.add_argument("--clients", type=int, default=2, help="client processes")
    ap.add_argument("--step-ms", type=float, default=2.5, help="model step time (every step decodes the whole batch)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin server/clients to cores 0/1")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {os.uname().machine}")
    print(f"engine: {statistics.median(engine_speed() for _ in range(args.runs)):,.0f} simulated tokens per CPU s")
    print(f"state per active sequence ({TOKENS} tokens emitted): {state_bytes_per_seq():,.0f} B")
    for c in args.concurrency:
        runs = [server_run(c, args.seconds, args.clients, not args.no_pin, args.step_ms / 1000) for _ in range(args.runs)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"step {args.step_ms} ms, concurrency {c}: " + ", ".join(f"{k}={v:,.2f}" for k, v in med.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
