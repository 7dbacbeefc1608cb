"""sim.yaml loading: presets, merging, and errors that name file, line and YAML path."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpusim import cli
from gpusim.config import SimConfigError, load_config
from gpusim.presets import PRESETS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sim.yaml"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_validates(name: str) -> None:
    cfg = load_config(None, name)
    assert cfg.preset == name
    assert cfg.engine.mode == ("fixed" if name == "fixed" else "batching")


def test_file_values_override_the_preset(tmp_path: Path) -> None:
    f = tmp_path / "sim.yaml"
    f.write_text("preset: tiny-cpu\nengine:\n  max_num_seqs: 7\nfaults:\n  http_429: 0.25\n")
    cfg = load_config(f)
    assert cfg.engine.max_num_seqs == 7
    assert cfg.engine.max_num_batched_tokens == PRESETS["tiny-cpu"]["engine"]["max_num_batched_tokens"]
    assert cfg.faults.http_429 == 0.25
    assert load_config(f, "h100-llama8b").engine.num_gpu_blocks == 25000  # --preset wins over the file's


def test_unknown_key_names_file_line_and_path(tmp_path: Path) -> None:
    f = tmp_path / "sim.yaml"
    f.write_text("model: m\nengine:\n  max_num_seqs: 8\n  max_num_seq: 9\n")
    with pytest.raises(SimConfigError) as err:
        load_config(f)
    assert f"{f}:4 engine.max_num_seq:" in str(err.value)


def test_bad_value_names_its_line(tmp_path: Path) -> None:
    f = tmp_path / "sim.yaml"
    f.write_text("faults:\n  http_500: 0.1\n  http_503: 2\n")
    with pytest.raises(SimConfigError) as err:
        load_config(f)
    assert f"{f}:3 faults.http_503:" in str(err.value)


def test_invalid_yaml_and_unknown_preset(tmp_path: Path) -> None:
    f = tmp_path / "sim.yaml"
    f.write_text("engine: [1,\n")
    with pytest.raises(SimConfigError, match="YAML syntax error"):
        load_config(f)
    f.write_text("preset: b200-gpt5\n")
    with pytest.raises(SimConfigError, match="unknown preset 'b200-gpt5'"):
        load_config(f)


def test_cli_reports_bad_config_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "sim.yaml"
    f.write_text("gpu:\n  tdp_w: -1\n")
    assert cli.main(["--config", str(f), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert f"{f}:2 gpu.tdp_w:" in err and "Traceback" not in err
    assert cli.main(["--api-key-env", "GPUSIM_TEST_SURELY_UNSET_VAR"]) == 2
    assert "GPUSIM_TEST_SURELY_UNSET_VAR" in capsys.readouterr().err


def test_example_config_loads() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.server.per_request_metrics is True
