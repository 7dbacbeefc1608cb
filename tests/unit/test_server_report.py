"""The server part of the report: one reading per phase, and what an unknown server looks like."""

from __future__ import annotations

import io

from rich.console import Console

from loadgen.server_report import UNKNOWN_SERVER, batching_text, phase_reading, phase_readings, render_server

BLOCK = {"req_per_s": 8.0, "latency": {"ttft": {"p99_ms": 420.4}}}
BATCH = {"running": {"mean": 12.3, "p50": 12.0, "p95": 19.0}, "tokens_per_step": {"mean": 30.2}}


def test_phase_reading_states_rate_effective_batch_and_ttft() -> None:
    assert phase_reading("steady", BLOCK, BATCH) == (
        "steady: 8.00 req/s, effective batch p50 12 / p95 19, 30 tokens/step, TTFT p99 420 ms")


def test_a_throughput_is_never_printed_without_saying_the_batch_is_unknown() -> None:
    line = phase_reading("steady", {"req_per_s": 3.0, "latency": {"ttft": {"count": 0}}}, None)
    assert line == "steady: 3.00 req/s, effective batch unknown (no server metrics)"
    assert phase_readings({"a": BLOCK}, UNKNOWN_SERVER)["a"].startswith("a: 8.00 req/s, effective batch unknown")
    assert "unknown" in batching_text(UNKNOWN_SERVER) and "target.server_config" in batching_text(UNKNOWN_SERVER)


def test_render_prints_server_and_readings_unwrapped() -> None:
    server = {**UNKNOWN_SERVER, "kind": "vllm", "version": "0.9.1", "batching": {"max_num_seqs": 256, "x": "[y]"},
              "batching_source": "probed", "effective_batch": {"steady": BATCH}}
    summary = {"operating_point": {"server": server, "readings": phase_readings({"steady": BLOCK}, server)}}
    buf = io.StringIO()
    render_server(Console(file=buf, width=40), summary)
    lines = buf.getvalue().splitlines()
    assert lines[0] == "server: vllm 0.9.1; batching (probed): max_num_seqs=256, x=[y]"
    assert lines[1] == "  " + phase_reading("steady", BLOCK, BATCH)
