"""``inferload report``: one offline HTML file plus PNGs, checked in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from loadgen.cli import main as cli
from tests.reporting.chromium import open_page
from tests.reporting.synth import make_run

EXPECTED_FIGURES = {"latency_over_time", "steady_vs_peak", "model_vs_system", "throughput_vs_latency",
                    "errors_over_time", "generator_health", "server_state", "gpu"}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("rep") / "run"
    make_run(run, seed=3, error_rate=0.02, growth_per_s=0.01)
    assert cli(["report", str(run)]) == 0
    return run


def test_self_contained_html_and_pngs(report: Path) -> None:
    text = (report / "report.html").read_text()
    # nothing to fetch: no script, no stylesheet or image reference, no URL outside SVG namespaces
    assert "<script" not in text and "<link" not in text and " src=" not in text
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", text)) - {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert urls <= {"http://127.0.0.1:8000"}  # the run's target, as text
    figs = set(re.findall(r'<figure id="fig-([a-z_]+)" data-points="(\d+)"', text))
    assert {k for k, _ in figs} == EXPECTED_FIGURES and all(int(n) > 0 for _, n in figs)
    assert {p.stem for p in (report / "figures").glob("*.png")} == EXPECTED_FIGURES
    # the report opens with the objective, then says whether the steady phase ever became steady
    assert text.index("Objective: latency") < text.index("Operating point")
    assert "never became steady" in text and "too few samples" in text


@pytest.mark.integration
def test_opens_in_chromium_without_errors_or_network(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    page = open_page(report / "report.html", shot)
    assert page.console == [] and page.requests == []
    figures = re.findall(r'<figure id="fig-([a-z_]+)"[^>]*>(.*?)</figure>', page.dom, flags=re.S)
    assert {k for k, _ in figures} == EXPECTED_FIGURES
    for key, body in figures:  # every figure drew data: an SVG with many path elements
        assert "<svg" in body and body.count("<path") > 20, key
    assert shot.is_file()
    from matplotlib.image import imread

    img = imread(shot)
    assert img.shape[0] >= 2000 and float(np.std(img[..., :3])) > 0.05  # not a blank page


@pytest.mark.integration
def test_the_checks_catch_console_errors_and_fetches(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><script>console.error("boom")</script>'
                   '<img src="http://example.invalid/x.png"></body></html>')
    page = open_page(bad)
    assert any("boom" in c for c in page.console)
    assert any("example.invalid" in r for r in page.requests)


def test_not_a_run_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["report", str(tmp_path)]) == 2
    (tmp_path / "summary.json").write_text("{}")
    assert cli(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no summary.json" in err and "not an inferload summary" in err and "Traceback" not in err


def test_bad_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    run = tmp_path / "run"
    make_run(run, seed=1, gpus=0)
    with (run / "points" / "run.lp").open("a") as f:
        f.write("llm_latency,metric=e2e broken\n")
    (run / "old.lp").write_text((run / "points" / "run.lp").read_text().splitlines()[0] + "\n")  # top-level file read too
    from loadgen.reporting.runfolder import read_run

    d = read_run(run)
    assert d.bad_line_count == 1 and d.files[-1].name == "old.lp"
    assert cli(["report", str(run), "--no-png", "--out", str(tmp_path / "r.html")]) == 0
    assert "1 malformed line(s) skipped" in (tmp_path / "r.html").read_text()
    assert not (tmp_path / "figures").exists()


def test_model_vs_system_uses_per_request_server_timings(tmp_path: Path) -> None:
    from loadgen.reporting.analysis import model_vs_system
    from loadgen.reporting.runfolder import read_run

    run = tmp_path / "run"
    make_run(run, seed=2, gpus=0, buckets=0, server_timings=True)
    mv = model_vs_system(read_run(run))
    assert mv["source"] == "per-request server timings"
    steady = mv["phases"]["steady"]
    assert set(steady) == {"queue", "prefill", "decode", "outside the model"}
    assert steady["outside the model"]["p50_ms"] == pytest.approx(2.0)
    assert 15 < steady["queue"]["p50_ms"] < 25  # 40 % of a ~50 ms TTFT
    # without them: the server's /metrics interval means, labelled as such
    make_run(tmp_path / "plain", seed=2, gpus=0, buckets=0)
    assert model_vs_system(read_run(tmp_path / "plain"))["source"].startswith("server /metrics interval means")
