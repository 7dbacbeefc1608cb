"""Scenario loading: the bad-file corpus with its exact messages, good files, overrides, secrets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loadgen.config import (
    FixedLength,
    GammaArrivals,
    LognormalLength,
    Scenario,
    TargetConfig,
    UniformLength,
    load_scenario,
    parse_duration,
)
from userinput.errors import InputError

DATA = Path(__file__).resolve().parents[1] / "testdata" / "scenarios"
BAD = sorted((DATA / "bad").glob("*.yaml"))
GOOD = sorted((DATA / "good").glob("*.yaml"))

MINIMAL = """\
target:
  base_url: http://127.0.0.1:8000
workload:
  prompt_tokens: 128
  output_tokens: 64
phases:
  - name: warmup
    kind: warmup
    duration: 10s
    arrivals: {process: poisson, rate: 2}
  - name: steady
    duration: 1m
    arrivals: {process: gamma, rate: 5, burstiness: 0.5}
"""


def _error(path: Path | str, overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(InputError) as info:
        load_scenario(path, overrides)
    return str(info.value)


@pytest.fixture
def minimal(tmp_path: Path) -> Path:
    path = tmp_path / "mini.yaml"
    path.write_text(MINIMAL)
    return path


# ---- the corpus of bad files -------------------------------------------------------------


def test_corpus_is_complete() -> None:
    assert len(BAD) >= 20
    expected = {p.with_suffix(".yaml") for p in (DATA / "bad").glob("*.expected")}
    assert expected == set(BAD), "every bad file needs a .expected file and vice versa"


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_file_gives_its_expected_message(path: Path) -> None:
    expected = path.with_suffix(".expected").read_text().rstrip("\n")
    expected = expected.replace("{file}", str(path)).replace("{dir}", str(path.parent.resolve()))
    assert _error(path) == expected


def test_every_error_line_names_file_line_and_path() -> None:
    for path in BAD:
        for line in _error(path).splitlines():
            assert line.startswith(f"{path}:") or line.startswith(f"{path}: "), line


def test_yaml_syntax_error_reports_its_line() -> None:
    assert _error(DATA / "bad" / "yaml_syntax.yaml").startswith(f"{DATA / 'bad' / 'yaml_syntax.yaml'}:9: YAML syntax error")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert _error(tmp_path / "nope.yaml") == f"{tmp_path / 'nope.yaml'}: file not found"
    assert "is a directory" in _error(tmp_path)


def test_duplicate_keys_rejected_at_any_depth(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(MINIMAL + "seed: 1\nseed: 2\n")
    assert _error(path) == f"{path}:15 seed: duplicate key (first at line 14)"


# ---- good files ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_good_file_loads_and_round_trips(path: Path) -> None:
    sc = load_scenario(path)
    assert sc.source_path == path.resolve()
    dumped = sc.model_dump(mode="json", by_alias=True)
    assert "source_path" not in dumped
    again = Scenario.model_validate(dumped)  # what a worker does with the master's copy
    assert again.model_dump(mode="json", by_alias=True) == dumped


def test_defaults(minimal: Path) -> None:
    sc = load_scenario(minimal)
    assert sc.name == "mini"  # the file stem
    assert sc.seed == 0
    assert sc.max_inflight is None
    assert sc.slo is None and sc.sinks is None
    assert sc.target.api == "chat" and sc.target.stream is True and sc.target.model is None
    assert (sc.target.timeouts.connect_s, sc.target.timeouts.read_s, sc.target.timeouts.total_s) == (10, 60, 600)
    g = sc.generator
    assert (g.max_schedule_lag_p99_ms, g.max_cpu_percent, g.stop_timeout_s, g.connections) == (50, 90, 30, None)
    assert [c.name for c in sc.workload.classes] == ["default"]
    assert sc.workload.prompt_tokens == FixedLength(value=128)
    assert [p.duration_s for p in sc.phases] == [10.0, 60.0]
    assert sc.phases[1].kind == "steady"
    assert sc.slo_phases() == ["steady"]  # warmup excluded


def test_slo_phases_default_excludes_warmup_and_cooldown() -> None:
    sc = load_scenario(DATA / "good" / "all_processes.yaml")
    assert "warmup" not in sc.slo_phases() and "cooldown" not in sc.slo_phases()
    assert "steady" in sc.slo_phases() and "burst" in sc.slo_phases()


def test_phase_max_inflight_override() -> None:
    sc = load_scenario(DATA / "good" / "all_processes.yaml")
    by_name = {p.name: sc.phase_max_inflight(p) for p in sc.phases}
    assert by_name["onoff"] == 64 and by_name["steady"] == 256


def test_relative_paths_resolve_against_the_scenario_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    sc = load_scenario(DATA / "good" / "all_processes.yaml")
    arrivals = sc.phases[6].arrivals
    assert getattr(arrivals, "file") == DATA / "good" / "trace.txt"  # noqa: B009


def test_anchors_and_merge_keys(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(
        MINIMAL
        + "  - &base {name: a, duration: 5, arrivals: {process: constant, rate: 1}}\n"
        + "  - {<<: *base, name: b}\n"
    )
    sc = load_scenario(path)
    assert [p.name for p in sc.phases][-2:] == ["a", "b"]


def test_embeddings_do_not_stream_by_default() -> None:
    t = TargetConfig.model_validate({"base_url": "http://h:1", "api": "embeddings"})
    assert t.stream is False


def test_seed_zero_is_valid_and_negative_is_not(minimal: Path) -> None:
    assert load_scenario(minimal, ["seed=0"]).seed == 0
    assert "seed: must be >= 0 (got -1)" in _error(minimal, ("seed=-1",))


# ---- overrides ----------------------------------------------------------------------------


def test_overrides_apply_before_validation(minimal: Path) -> None:
    sc = load_scenario(minimal, ["phases.1.arrivals.rate=7.5", "target.model=m", "phases.0.duration=2m", "max_inflight=9"])
    arrivals = sc.phases[1].arrivals
    assert isinstance(arrivals, GammaArrivals) and arrivals.rate == 7.5
    assert sc.target.model == "m" and sc.phases[0].duration_s == 120 and sc.max_inflight == 9


def test_override_errors_name_the_override(minimal: Path) -> None:
    msg = _error(minimal, ("phases.1.arrivals.rate=0",))
    assert msg == "--set phases.1.arrivals.rate=0: phases[1].arrivals.rate: must be > 0 (got 0)"
    assert "index out of range" in _error(minimal, ("phases.5.arrivals.rate=1",))
    assert "expected dot.path=value" in _error(minimal, ("phases.1.arrivals.rate",))
    assert "workload.classes is not in the file, so it has no item 0" in _error(minimal, ("workload.classes.0.name=x",))
    assert "unknown key (did you mean 'seed'?)" in _error(minimal, ("sed=1",))


# ---- secrets ------------------------------------------------------------------------------


def test_api_key_from_env_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    t = TargetConfig(base_url="https://api.example.com", api_key_env="INFERLOAD_TEST_KEY")
    monkeypatch.delenv("INFERLOAD_TEST_KEY", raising=False)
    with pytest.raises(InputError, match="INFERLOAD_TEST_KEY is not set"):
        t.api_key()
    monkeypatch.setenv("INFERLOAD_TEST_KEY", "sk-secret-123")
    assert t.api_key() == "sk-secret-123"
    assert "sk-secret-123" not in repr(t) and "sk-secret-123" not in t.model_dump_json()


def test_api_key_from_file(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("sk-file-456\n")
    t = TargetConfig(base_url="https://api.example.com", api_key_file=key)
    assert t.api_key() == "sk-file-456"
    assert "sk-file-456" not in repr(t) and "sk-file-456" not in t.model_dump_json()
    key.unlink()
    with pytest.raises(InputError, match="cannot read"):
        t.api_key()
    assert TargetConfig(base_url="http://h").api_key() is None


@pytest.mark.parametrize("header", ["Authorization", "authorization", "Proxy-Authorization"])
def test_authorization_header_rejected(header: str) -> None:
    with pytest.raises(ValueError, match="api_key_env"):
        TargetConfig(base_url="http://h", headers={header: "Bearer x"})


@pytest.mark.parametrize(
    "url", ["localhost:8000", "ftp://h", "http://", "http://h:99999", "http://u:p@h", "http://h/?q=1"]
)
def test_bad_base_urls(url: str) -> None:
    with pytest.raises(ValueError):
        TargetConfig(base_url=url)


def test_base_url_trailing_slash_removed() -> None:
    assert TargetConfig(base_url="http://h:8000/v1/").base_url == "http://h:8000/v1"


# ---- units and lengths --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(30, 30.0), (1.5, 1.5), ("30", 30.0), ("30s", 30.0), ("5m", 300.0), ("2h", 7200.0),
     ("1h30m", 5400.0), ("250ms", 0.25), ("1m 30s", 90.0), ("-5m", -300.0)],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["10 minutes", "5x", "m", ""])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_lognormal_mean_is_in_tokens() -> None:
    d = LognormalLength(dist="lognormal", mean=500, sigma=0.8, min=1, max=None)
    x = d.sample(np.random.default_rng(0), 200_000)
    assert abs(x.mean() / 500 - 1) < 0.02
    assert x.min() >= 1


def test_uniform_is_inclusive_and_lengths_are_at_least_one() -> None:
    x = UniformLength(dist="uniform", min=3, max=5).sample(np.random.default_rng(0), 10_000)
    assert set(x.tolist()) == {3, 4, 5}
    with pytest.raises(ValueError):
        FixedLength(value=0)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("target.timeouts.conect_s=3", "target.timeouts.conect_s: unknown key (did you mean 'connect_s'?)"),
        ("workload.classes=[{name: a, wieght: 2}]", "workload.classes[0].wieght: unknown key (did you mean 'weight'?)"),
        ("phases.1.arrivals.burstyness=2", "phases[1].arrivals.burstyness: unknown key (did you mean 'burstiness'?)"),
        ("sinks.prom.port=1", "sinks.prom: unknown key (did you mean 'prometheus'?)"),
        ("sinks.influxdb.tokn_env=X", "sinks.influxdb.tokn_env: unknown key (did you mean 'token_env'?)"),
        ("phases.0.duraton=5", "phases[0].duraton: unknown key (did you mean 'duration'?)"),
    ],
)
def test_did_you_mean_at_any_depth(minimal: Path, override: str, expected: str) -> None:
    assert expected in _error(minimal, (override,))


def test_unknown_key_lists_the_keys_of_the_chosen_variant(minimal: Path) -> None:
    msg = _error(minimal, ("workload.prompt_tokens={dist: uniform, min: 1, max: 3, mean: 2}",))
    assert msg.endswith("workload.prompt_tokens.mean: unknown key; expected one of: dist, min, max")
