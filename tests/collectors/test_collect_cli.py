"""``inferload collect``: --once to stdout, bad flags, no driver, SIGTERM with a final flush."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pynvml
import pytest

from collectors import cli
from collectors import schema as s
from loadgen.cli import main as inferload
from tests.support.fake_nvml import FakeNvml

REPO = Path(__file__).resolve().parents[2]
METRICS = REPO / "tests" / "testdata" / "metrics"


@pytest.fixture
def metrics_server() -> Iterator[str]:
    """A loopback server: /vllm -> the vLLM snapshot, /dcgm -> the dcgm-exporter snapshot."""
    pages = {"/vllm": (METRICS / "vllm.txt").read_bytes(), "/dcgm": (METRICS / "dcgm-exporter.txt").read_bytes()}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = pages.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body or b"not found")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _run(argv: list[str], **kwargs: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(argv, stdout=out, stderr=err, **kwargs)  # type: ignore[arg-type]
    return code, out.getvalue(), err.getvalue()


def _measurements(lines: str) -> list[str]:
    return [line.split(",", 1)[0] for line in lines.splitlines()]


def test_gpu_once_prints_line_protocol(caplog: pytest.LogCaptureFixture) -> None:
    code, out, err = _run(["gpu", "--once", "--host", "node7", "--run-id", "r42"], nvml=FakeNvml())
    assert code == 0
    lines = out.splitlines()
    assert _measurements(out) == [s.GPU.name] * 8 + [s.COLLECTOR.name]
    first = lines[0]
    assert first.startswith("gpu,gpu=0,gpu_model=NVIDIA\\ H100\\ 80GB\\ HBM3,host=node7,run_id=r42,source=nvml,uuid=GPU-")
    assert "DCGM_FI_DEV_POWER_USAGE=100," in first and "DCGM_FI_DEV_FB_USED=10240," in first
    assert int(first.rsplit(" ", 1)[1]) > 1_600_000_000 * 10**9  # Unix ns
    assert "collector=gpu" in lines[-1] and "errors=0" in lines[-1]
    assert "8 GPU(s)" in err and "1 collections" in err


def test_gpu_dcgm_source_once(metrics_server: str) -> None:
    code, out, _ = _run(["gpu", "--source", "dcgm", "--dcgm-url", metrics_server + "/dcgm", "--once"])
    assert code == 0
    assert _measurements(out) == [s.GPU.name] * 8 + [s.COLLECTOR.name]
    assert "source=dcgm" in out.splitlines()[0]


def test_server_once_prints_gauges(metrics_server: str) -> None:
    code, out, err = _run(["server", "--url", metrics_server + "/vllm", "--once", "--host", "h"])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("llm_server,host=h,model=meta-llama/Llama-3.1-8B-Instruct,server=vllm ")
    assert "running=3," in lines[0]
    assert _measurements(out)[-1] == s.COLLECTOR.name


def test_server_once_unreachable_exits_1_with_the_error() -> None:
    code, out, err = _run(["server", "--url", "http://127.0.0.1:9/metrics", "--once", "--timeout", "2"])
    assert code == 1
    assert "1 errors" in err and "FetchError" in err
    assert _measurements(out) == [s.COLLECTOR.name]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["collect", "gpu", "--period", "0"], "--period: must be > 0"),
        (["collect", "gpu", "--period", "soon"], "expected a number of seconds"),
        (["collect", "gpu", "--source", "rocm"], "invalid choice: 'rocm'"),
        (["collect", "server", "--once"], "the following arguments are required: --url"),
        (["collect", "server", "--url", "http://x", "--server", "ollama"], "invalid choice: 'ollama'"),
        (["collect", "server", "--url", "file:///etc/passwd"], "--url: expected an http:// or https:// URL"),
        (["collect", "gpu", "--source", "dcgm", "--dcgm-url", "localhost:9400"], "--dcgm-url: expected an http"),
        (["collect", "gpu", "--influx-url", "http://influx:8086"], "--influx-url and --influx-bucket go together"),
        (["collect", "gpu", "--influx-token-env", "T"], "need --influx-url and --influx-bucket"),
        (["collect", "gpu", "--influx-url", "http://i", "--influx-bucket", "b", "--influx-token-env", "T",
          "--influx-token-file", "f"], "not allowed with argument"),
        (["collect"], "required: {gpu,server,replay}"),
    ],
)
def test_bad_flags_exit_2_with_a_message(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert inferload(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def _driverless() -> bool:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return True
    pynvml.nvmlShutdown()
    return False


@pytest.mark.integration
def test_no_driver_exits_2_with_a_clear_message() -> None:
    if not _driverless():
        pytest.skip("an NVIDIA driver is present")
    proc = subprocess.run([sys.executable, "-m", "loadgen.cli", "collect", "gpu", "--once"], cwd=REPO,
                          capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 2
    assert "NVML unavailable" in proc.stderr and "--source dcgm" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


@pytest.mark.integration
def test_sigterm_stops_and_flushes_the_file_sink(metrics_server: str, tmp_path: Path) -> None:
    out = tmp_path / "out.lp"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadgen.cli", "collect", "server", "--url", metrics_server + "/vllm",
         "--period", "0.2", "--file", str(out), "--host", "h"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not out.exists() or out.read_text().count("collector_health") < 3):
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    text = out.read_text()
    health = [line for line in text.splitlines() if line.startswith("collector_health,")]
    assert len(health) >= 3
    collections = [int(line.split("collections=")[1].split(",")[0]) for line in health]
    assert collections == list(range(1, len(health) + 1))  # every collection's points reached the file
    assert "llm_server," in text
    assert "Traceback" not in err and "server:" in err.splitlines()[-1]


def test_credentials_in_the_url_never_printed(metrics_server: str) -> None:
    canary = "sk-canary-7f3a9"
    url = metrics_server + f"/nowhere?api_key={canary}"
    code, out, err = _run(["server", "--url", url, "--once", "--timeout", "2"])
    assert code == 1  # 404: the collection failed, and said so
    assert "HTTP Error 404" in err
    assert canary not in out and canary not in err
