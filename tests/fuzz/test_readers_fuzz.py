"""Every file the tool reads, fed truncated, binary, huge-line and deeply nested input (issue 7 §5).

Regression: a deeply nested scenario made ``inferload validate`` print a traceback and exit 1;
a few-line "billion laughs" file made it run for more than 30 s.  Each reader must answer with
bad input (InputError: exit 2, one line naming the file) or a counted skip (spool lines), never
an unexpected exception, a hang or unbounded memory.

- in-process, the whole corpus for each reader (scenario YAML, gpusim's sim.yaml, JSONL and
  ShareGPT datasets, arrival traces, spool segments), with the memory the reader allocated
  traced (tracemalloc peak);
- as commands (the real CLI in a subprocess, with a timeout and its peak RSS), the pathological
  cases of each: ``inferload validate``, ``inferload sim --config``, ``inferload collect replay``.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors.sinks.config import InfluxSinkConfig
from collectors.sinks.influx import InfluxSink
from collectors.sinks.spool import Spool
from gpusim.config import load_config
from loadgen.arrivals.trace import read_trace
from loadgen.config import DatasetConfig, load_scenario
from loadgen.dataset import load_dataset
from tests.fuzz.corpus import json_lines_variants, spool_variants, yaml_variants
from userinput.errors import InputError

REPO = Path(__file__).resolve().parents[2]
MAX_TRACED_BYTES = 64 * 1024 * 1024  # what a reader may allocate for one of these inputs
MAX_RSS_KB = 400 * 1024  # a whole `inferload` process (Python, pydantic, numpy): ~100 MB normally
CLI_TIMEOUT_S = 60.0  # a hang, not a speed target

SCENARIO = (REPO / "examples" / "quickstart.yaml").read_bytes()
SIM = (REPO / "examples" / "sim.yaml").read_bytes()
JSONL = b'{"prompt": "Tell me about GPUs."}\n{"text": "And about batching."}\n"plain string prompt"\n'
TRACE = b"0.0\n0.5\n{\"timestamp\": 1.25}\n2.0\n"
SPOOL = b"".join(b"m,run_id=r v=%d 17000000000000000%02d\n" % (i, i) for i in range(10))

Outcome = str  # "ok", "input_error" or "counted_skip"


def bounded(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` with tracemalloc; fail if it allocated more than MAX_TRACED_BYTES at peak."""
    tracemalloc.start()
    try:
        return fn()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < MAX_TRACED_BYTES, f"peak {peak / 1e6:.0f} MB"


def expect_input_error_or_ok(fn: Callable[[], Any]) -> Outcome:
    try:
        bounded(fn)
    except InputError as err:
        text = str(err)
        assert text and "Traceback" not in text
        return "input_error"
    return "ok"


def ids(variants: list[tuple[str, bytes]]) -> list[str]:
    return [name for name, _ in variants]


YAML_CASES = yaml_variants(SCENARIO)
SIM_CASES = yaml_variants(SIM)
JSON_CASES = json_lines_variants(JSONL)
TRACE_CASES = json_lines_variants(TRACE)
SPOOL_CASES = spool_variants(SPOOL)
MUST_FAIL = {"random_bytes", "nul_in_text", "invalid_utf8", "huge_line", "huge_file_many_lines",
             "many_values_small_file", "deep_flow_lists",
             "deep_block_mappings", "alias_bomb", "huge_number", "deep_arrays", "deep_objects", "not_a_mapping"}


# ---- in-process: every reader, the whole corpus ---------------------------------------------

@pytest.mark.parametrize(("name", "data"), YAML_CASES, ids=ids(YAML_CASES))
def test_scenario_reader(name: str, data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_bytes(data)
    outcome = expect_input_error_or_ok(lambda: load_scenario(path))
    if name in MUST_FAIL or name == "empty":
        assert outcome == "input_error"


@pytest.mark.parametrize(("name", "data"), SIM_CASES, ids=ids(SIM_CASES))
def test_sim_config_reader(name: str, data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_bytes(data)
    outcome = expect_input_error_or_ok(lambda: load_config(path))
    if name in MUST_FAIL:
        assert outcome == "input_error"


@pytest.mark.parametrize("fmt", ["jsonl", "sharegpt"])
@pytest.mark.parametrize(("name", "data"), JSON_CASES, ids=ids(JSON_CASES))
def test_dataset_reader(name: str, data: bytes, fmt: str, tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_bytes(data)
    cfg = DatasetConfig(path=path, format=fmt)
    outcome = expect_input_error_or_ok(lambda: load_dataset(cfg))
    if name in MUST_FAIL or name == "empty":
        assert outcome == "input_error"


@pytest.mark.parametrize(("name", "data"), TRACE_CASES, ids=ids(TRACE_CASES))
def test_trace_reader(name: str, data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "trace.txt"
    path.write_bytes(data)
    outcome = expect_input_error_or_ok(lambda: read_trace(path))
    if name in MUST_FAIL or name == "empty":
        assert outcome == "input_error"


class _Accept:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, body: str) -> None:
        self.lines.extend(body.split("\n"))


@pytest.mark.parametrize(("name", "data"), SPOOL_CASES, ids=ids(SPOOL_CASES))
def test_spool_reader(name: str, data: bytes, tmp_path: Path) -> None:
    (tmp_path / "seg-001000000000.lp").write_bytes(data)
    accept = _Accept()
    cfg = InfluxSinkConfig(url="http://127.0.0.1:1", bucket="b", flush_interval_s=0.05, close_timeout_s=1)
    sink = bounded(lambda: InfluxSink(cfg, transport=accept, spool_dir=tmp_path))  # reopening reads the spool
    assert sink.flush(10)
    st = sink.close()
    # what is left is valid line protocol only, and every line is accounted for
    assert st.balanced() and st.pending == 0
    total, bad = st.written, st.dropped_by_reason.get("io_error", 0)
    assert total == len(accept.lines) and st.dropped == bad
    assert Spool(tmp_path, 10**9).lines == 0
    if name == "deep_brackets":  # shaped like a line (ends in a timestamp): InfluxDB judges it (400: rejected)
        assert (total, bad) == (1, 0)
        return
    for line in accept.lines:
        assert line.startswith("m,run_id=r v=") and line.rsplit(" ", 1)[1].isdigit(), line[:80]
    if name == "good_and_bad_lines":
        assert (total, bad) == (20, 2)
    elif name.startswith("truncated") or name == "huge_line_no_newline":
        assert bad == (1 if not data.endswith(b"\n") else 0)  # a torn last line is a counted skip
    elif name in ("random_bytes", "nul_in_text", "invalid_utf8", "huge_line"):
        assert total == 0 and bad >= 1


# ---- commands: the real CLI in a subprocess --------------------------------------------------

def run_cli(args: list[str], tmp_path: Path) -> tuple[int, str, int]:
    """``inferload ARGS``: (exit code, stderr, peak RSS in KB); fails on a hang."""
    out_path, err_path = tmp_path / "cli.out", tmp_path / "cli.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "loadgen.cli", *args], cwd=REPO, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)
    end = time.monotonic() + CLI_TIMEOUT_S
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > end:
            proc.kill()
            proc.wait()
            pytest.fail(f"inferload {' '.join(args[:2])} hung for {CLI_TIMEOUT_S} s")
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, err_path.read_text(errors="replace"), int(usage.ru_maxrss)


def _one_line_exit_2(rc: int, err: str, rss_kb: int, label: str) -> None:
    assert "Traceback" not in err, err[-2000:]
    assert rc == 2, (rc, err[-2000:])
    lines = err.strip().splitlines()
    assert len(lines) == 1 and label in lines[0], lines[:5]
    assert rss_kb < MAX_RSS_KB, f"peak RSS {rss_kb} KB"


def _case(cases: list[tuple[str, bytes]], name: str) -> bytes:
    return dict(cases)[name]


CLI_YAML = [f"truncated_at_{len(SCENARIO) // 2}", "random_bytes", "huge_line", "many_values_small_file",
            "deep_flow_lists", "deep_block_mappings", "alias_bomb"]


@pytest.mark.integration
@pytest.mark.parametrize("name", CLI_YAML)
def test_validate_command(name: str, tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_bytes(_case(YAML_CASES, name))
    rc, err, rss = run_cli(["validate", str(path)], tmp_path)
    if name.startswith("truncated"):
        assert "Traceback" not in err and rc == 2, err  # may list several problems, one per line
        assert all(x.startswith(("inferload validate: error: " + str(path), str(path))) for x in err.splitlines())
    else:
        _one_line_exit_2(rc, err, rss, str(path))


@pytest.mark.integration
@pytest.mark.parametrize("name", ["random_bytes", "deep_flow_lists", "deep_block_mappings", "alias_bomb"])
def test_sim_config_command(name: str, tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_bytes(_case(SIM_CASES, name))
    rc, err, rss = run_cli(["sim", "--port", "0", "--config", str(path)], tmp_path)
    _one_line_exit_2(rc, err, rss, str(path))


def _scenario_with(tmp_path: Path, workload_extra: str = "", arrivals: str = "{process: poisson, rate: 1}") -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(f"""target: {{base_url: http://127.0.0.1:9}}
workload:
  prompt_tokens: 16
  output_tokens: 8{workload_extra}
phases:
  - {{name: s, duration: 10s, arrivals: {arrivals}}}
""")
    return path


@pytest.mark.integration
@pytest.mark.parametrize("name", ["random_bytes", "huge_number", "deep_arrays", "deep_objects"])
def test_validate_command_reads_the_dataset(name: str, tmp_path: Path) -> None:
    (tmp_path / "prompts.jsonl").write_bytes(_case(JSON_CASES, name))
    path = _scenario_with(tmp_path, "\n  dataset: {path: prompts.jsonl}")
    rc, err, rss = run_cli(["validate", str(path)], tmp_path)
    _one_line_exit_2(rc, err, rss, "prompts.jsonl")


@pytest.mark.integration
@pytest.mark.parametrize("name", ["random_bytes", "huge_number", "deep_arrays"])
def test_validate_command_reads_the_trace(name: str, tmp_path: Path) -> None:
    (tmp_path / "trace.txt").write_bytes(_case(TRACE_CASES, name))
    path = _scenario_with(tmp_path, arrivals="{process: trace, file: trace.txt}")
    rc, err, rss = run_cli(["validate", str(path)], tmp_path)
    _one_line_exit_2(rc, err, rss, "trace.txt")


class _WriteHandler(http.server.BaseHTTPRequestHandler):
    lines = 0

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).lines += len(body.split(b"\n"))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def write_endpoint() -> Iterator[str]:
    """A stand-in for InfluxDB's write API that accepts everything (loopback only)."""
    _WriteHandler.lines = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _WriteHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.integration
@pytest.mark.parametrize("name", ["good_and_bad_lines", "random_bytes", "huge_line_no_newline"])
def test_replay_command_skips_and_counts_corrupt_spool_lines(name: str, tmp_path: Path, write_endpoint: str) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "seg-001000000000.lp").write_bytes(_case(SPOOL_CASES, name))
    rc, err, rss = run_cli(["collect", "replay", str(spool), "--influx-url", write_endpoint,
                            "--influx-bucket", "b", "--timeout", "20"], tmp_path)
    assert "Traceback" not in err and rc == 0, err[-2000:]
    assert rss < MAX_RSS_KB
    summary = err.strip().splitlines()[-1]
    if name == "good_and_bad_lines":
        assert "20 points written, 0 still in" in summary and "2 dropped (io_error 2)" in summary, summary
        assert _WriteHandler.lines == 20
    else:
        assert "0 points written, 0 still in" in summary and "(io_error " in summary, summary


@pytest.mark.integration
def test_replay_command_on_a_file_is_bad_input(tmp_path: Path) -> None:
    f = tmp_path / "not-a-folder"
    f.write_bytes(b"\x00\x01")
    rc, err, rss = run_cli(["collect", "replay", str(f), "--influx-url", "http://127.0.0.1:9",
                            "--influx-bucket", "b"], tmp_path)
    _one_line_exit_2(rc, err, rss, str(f))
