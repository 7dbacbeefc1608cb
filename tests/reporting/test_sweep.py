"""``sweep``: saturation, bracket-and-bisect capacity search, knee (with a fake prober), and a real
``--find-capacity`` against gpusim compared with gpusim's own capacity prediction."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gpusim.capacity import CapacityModel
from gpusim.config import build_config
from loadgen.cli import main as cli
from loadgen.commands.quickstart import start_sim, stop_sim
from loadgen.reporting.runfolder import read_run
from loadgen.reporting.sweep import Probe, find_capacity, knee, rate_sweep

REPO = Path(__file__).resolve().parents[2]


def fake(capacity: float, saturation: float) -> tuple[list[float], object]:
    """A system meeting the SLO below ``capacity`` and saturating at ``saturation``."""
    asked: list[float] = []

    def probe(rate: float) -> Probe:
        asked.append(rate)
        served = min(rate, saturation)
        lat = 100.0 / max(1e-3, 1 - served / (saturation * 1.01))
        return Probe(rate, f"rate-{rate:g}", 0 if rate <= capacity else 1, served, served if rate <= capacity else 0.0,
                     0.0, 0, lat / 2, lat, lat / 4, rate < saturation, rate <= capacity)

    return asked, probe


def test_find_capacity_brackets_then_bisects_to_the_tolerance() -> None:
    asked, probe = fake(capacity=13.0, saturation=20.0)
    cap, probes = find_capacity(2.0, probe, tolerance=0.05)  # type: ignore[arg-type]
    assert cap is not None and 13.0 * 0.95 <= cap <= 13.0
    assert asked[:4] == [2.0, 4.0, 8.0, 16.0]  # doubling until the first miss
    assert len(probes) == len(asked) <= 12


def test_find_capacity_halves_when_the_start_is_too_high() -> None:
    asked, probe = fake(capacity=1.5, saturation=20.0)
    cap, _ = find_capacity(10.0, probe, tolerance=0.05)  # type: ignore[arg-type]
    assert asked[:4] == [10.0, 5.0, 2.5, 1.25] and cap is not None and 1.5 * 0.95 <= cap <= 1.5


def test_rate_sweep_stops_past_saturation_and_the_knee() -> None:
    asked, probe = fake(capacity=6.0, saturation=10.0)
    probes = rate_sweep([1, 2, 4, 8, 12, 16], probe)  # type: ignore[arg-type]
    assert asked == [1, 2, 4, 8, 12] and probes[-1].saturated and "queue growing" in probes[-1].saturated_reasons[0]
    k = knee(probes)
    assert k is not None and k.rate == 8  # latency turns up between 8 and 12 req/s


def test_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scen = REPO / "examples" / "quickstart.yaml"
    assert cli(["sweep", str(scen), "--rates", "1,x"]) == 2
    assert cli(["sweep", str(scen), "--rates", "1", "--duration", "soon"]) == 2
    err = capsys.readouterr().err
    assert "expected comma-separated numbers" in err and "--duration" in err and "Traceback" not in err


SCENARIO = """name: sweep-e2e
seed: 2
target: {base_url: "http://127.0.0.1:1", api: chat, stream: true}
workload:
  prompt_tokens: {dist: uniform, min: 80, max: 120}
  output_tokens: 200
  ignore_eos: true
slo:
  objectives: [{metric: tpot, percentile: 50, max_ms: 4}]
  max_error_rate: 0.01
generator: {stop_timeout_s: 5, max_schedule_lag_p99_ms: 2000, max_cpu_percent: 100}
phases: [{name: x, duration: 1s, arrivals: {process: poisson, rate: 1}}]
"""


@pytest.mark.integration
@pytest.mark.slow
def test_find_capacity_against_gpusim_matches_its_prediction(tmp_path: Path) -> None:
    scen = tmp_path / "s.yaml"
    scen.write_text(SCENARIO)
    out = tmp_path / "sweep"
    proc, url = start_sim(["--preset", "tiny-cpu"])
    try:
        res = subprocess.run(
            [sys.executable, "-m", "loadgen.cli", "sweep", str(scen), "--find-capacity", "--start", "4",
             "--tolerance", "0.1", "--warmup", "2s", "--duration", "6s", "--out", str(out),
             "--set", f"target.base_url={url}"],
            capture_output=True, text=True, timeout=400, cwd=REPO,
        )
    finally:
        stop_sim(proc)
    assert res.returncode == 0, res.stderr[-2000:]
    result = json.loads((out / "sweep.json").read_text())
    found = result["capacity_at_slo_req_per_s"]
    # gpusim's prediction for the same workload: prompt tokens as the server counted them (usage)
    first = read_run(Path(result["probes"][0]["run_dir"]))
    prompt = float(np.mean(first.requests.column("prompt_tokens")))
    predicted = CapacityModel(build_config({}, "tiny-cpu").engine, prompt, 200).capacity_at(tpot_s=0.004)
    assert found == pytest.approx(predicted, rel=0.15), (found, predicted, result["probes"])
    assert (out / "sweep.html").is_file() and "Capacity at SLO" in (out / "sweep.html").read_text()
