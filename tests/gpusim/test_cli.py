"""``inferload sim`` as a real process on port 0: startup line, dcgm port, time scale, thermal sag."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gpusim.trace import read_trace

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def sim_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """Start ``inferload sim --port 0 ARGS``; yields (process, startup lines printed)."""
    proc = subprocess.Popen([sys.executable, "-m", "loadgen.cli", "sim", "--host", "127.0.0.1", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines: list[str] = []
        assert proc.stdout is not None
        want = 2 if "--dcgm-port" in args else 1
        deadline = time.monotonic() + 30
        while len(lines) < want and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
        assert len(lines) == want, f"no startup line; stderr: {proc.stderr.read() if proc.stderr else ''}"
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _families(text: str) -> dict[str, float]:
    return {f.name: f.samples[0].value for f in text_string_to_metric_families(text) if f.samples}


THERMAL = """\
preset: tiny-cpu
gpu:
  thermal_tau_s: 4
  throttle_start_c: 60
  throttle_full_c: 75
"""


def test_time_scaled_run_heats_the_card_and_throughput_sags(tmp_path: Path) -> None:
    cfg = tmp_path / "sim.yaml"
    cfg.write_text(THERMAL)
    trace = tmp_path / "trace.jsonl"
    scale = 5.0
    with sim_process("--config", str(cfg), "--time-scale", str(scale), "--trace", str(trace),
                     "--dcgm-port", "0") as (proc, lines):
        assert lines[0].startswith("gpusim listening on http://127.0.0.1:")
        url = lines[0].rsplit(" ", 1)[1]
        dcgm_url = lines[1].rsplit(" ", 1)[1]
        assert dcgm_url.endswith("/metrics")

        async def load() -> tuple[dict[str, float], dict[str, float]]:
            async with aiohttp.ClientSession() as s:
                async with s.get(dcgm_url) as resp:
                    cold = _families(await resp.text())
                stop = time.monotonic() + 4.0  # 20 simulated seconds: five thermal time constants

                async def client() -> None:
                    body = {"model": "gpusim/tiny", "prompt": "warm up the card " * 8, "max_tokens": 32,
                            "ignore_eos": True, "stream": True}
                    while time.monotonic() < stop:
                        async with s.post(f"{url}/v1/completions", json=body) as resp:
                            await resp.read()
                            assert resp.status == 200

                await asyncio.gather(*(client() for _ in range(24)))
                async with s.get(f"{url}/dcgm/metrics") as resp:
                    hot = _families(await resp.text())
            return cold, hot

        cold, hot = asyncio.run(load())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert hot["DCGM_FI_DEV_GPU_TEMP"] > cold["DCGM_FI_DEV_GPU_TEMP"] + 20
    assert hot["DCGM_FI_DEV_SM_CLOCK"] < cold["DCGM_FI_DEV_SM_CLOCK"]
    assert int(hot["DCGM_FI_DEV_CLOCK_THROTTLE_REASONS"]) & 0x20
    assert hot["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"] > cold["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"]
    anchor, recs = read_trace(trace)  # flushed on SIGTERM
    assert anchor["time_scale"] == scale and recs
    times = sorted(t for r in recs for t in r["token_times_s"])
    t0, t1 = times[0], times[-1]
    assert t1 - t0 > 12.0  # simulated seconds
    early = sum(1 for t in times if t0 <= t < t0 + 2.0) / 2.0
    late = sum(1 for t in times if t1 - 6.0 <= t <= t1) / 6.0
    assert late < early * 0.9, (early, late)


def test_bad_config_exits_2_without_traceback(tmp_path: Path) -> None:
    cfg = tmp_path / "sim.yaml"
    cfg.write_text("engine:\n  max_num_seqs: 0\n")
    proc = subprocess.run([sys.executable, "-m", "loadgen.cli", "sim", "--port", "0", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"{cfg}:2 engine.max_num_seqs" in proc.stderr and "Traceback" not in proc.stderr
