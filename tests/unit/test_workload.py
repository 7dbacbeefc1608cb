"""Workload: deterministic synthetic prompts, dataset prompts with file:line errors, priorities."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadgen.config import DatasetConfig, load_scenario
from loadgen.dataset import load_dataset
from loadgen.plan import Arrival, Plan
from loadgen.workload import Workload
from userinput.errors import InputError

DATA = Path(__file__).resolve().parents[1] / "testdata" / "scenarios" / "good"


def _arrival(idx: int, prompt_tokens: int = 200, row: int | None = None, cls: str = "default") -> Arrival:
    return Arrival(idx, 0.0, "steady", 0, cls, prompt_tokens, 16, row)


@pytest.fixture(scope="module")
def workload() -> Workload:
    return Workload(load_scenario(DATA / "all_processes.yaml"))


def test_synthetic_prompt_is_deterministic_and_sized(workload: Workload) -> None:
    text = workload.prompt_text(_arrival(7, 300))
    assert text == workload.prompt_text(_arrival(7, 300))
    assert text.startswith("Request 7: ")
    assert len(text.split()) == 2 + 300 - 4  # "Request 7:" + words, about prompt_tokens tokens
    assert len(workload.prompt_text(_arrival(8, 1)).split()) == 3


def test_synthetic_prompts_differ_from_the_first_token(workload: Workload) -> None:
    a, b = workload.prompt_text(_arrival(1, 500)), workload.prompt_text(_arrival(2, 500))
    assert a.split()[1] != b.split()[1]
    assert a.split()[2:] != b.split()[2:]
    assert len(set(a.split()[2:])) > 100  # varied words, not a repeated token


def test_priority(workload: Workload) -> None:
    assert workload.priority("interactive") == 0
    assert workload.priority("batch") == 10
    assert workload.priority("nope") is None


def test_jsonl_dataset_prompts() -> None:
    sc = load_scenario(DATA / "dataset_jsonl.yaml")
    wl = Workload(sc)
    assert wl.rows == [
        "Explain the KV cache in one paragraph.",
        "Write a haiku about GPUs.",
        "A bare JSON string is a prompt too.",
    ]
    first = next(Plan(sc).arrivals())
    assert first.prompt_row is not None
    assert wl.prompt_text(first) == wl.rows[first.prompt_row]


def test_sharegpt_dataset_takes_the_first_human_turn() -> None:
    wl = Workload(load_scenario(DATA / "dataset_sharegpt.yaml"))
    assert wl.rows == ["What is PagedAttention?", "Define TTFT."]


def test_sharegpt_as_jsonl(tmp_path: Path) -> None:
    f = tmp_path / "sg.jsonl"
    f.write_text('{"conversations": [{"from": "user", "value": "hi"}]}\n')
    assert load_dataset(DatasetConfig(path=f, format="sharegpt")) == ["hi"]


def test_jsonl_custom_field(tmp_path: Path) -> None:
    f = tmp_path / "p.jsonl"
    f.write_text('{"question": "q1"}\n{"question": "q2"}\n')
    assert load_dataset(DatasetConfig(path=f, field="question")) == ["q1", "q2"]


@pytest.mark.parametrize(
    ("name", "text", "fmt", "message"),
    [
        ("a.jsonl", '{"prompt": "ok"}\n{"prompt": \n', "jsonl", r"a\.jsonl:2: not valid JSON"),
        ("b.jsonl", '{"prompt": "ok"}\n\n{"text2": "x"}\n', "jsonl", r"b\.jsonl:3: expected a JSON string or an object"),
        ("c.jsonl", "\n\n", "jsonl", "dataset has no prompts"),
        ("d.json", '[{"conversations": [{"from": "gpt", "value": "x"}]}]', "sharegpt", r"entry \[0\]: expected an object with conversations"),
        ("e.json", '[{"conversations": []},\n oops]', "sharegpt", r"e\.json:2: not valid JSON"),
    ],
)
def test_dataset_errors_name_file_and_line(tmp_path: Path, name: str, text: str, fmt: str, message: str) -> None:
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(InputError, match=message):
        load_dataset(DatasetConfig(path=f, format=fmt))
