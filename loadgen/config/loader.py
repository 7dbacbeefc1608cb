"""``load_scenario``: the one way a scenario file becomes a validated :class:`Scenario`.

Read safely (line numbers kept, duplicate keys rejected), apply ``--set`` overrides, validate
once from the root with relative paths resolved against the file's directory, and turn every
problem into one :class:`InputError` listing all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from loadgen.config.scenario import Scenario
from userinput.errors import InputError
from userinput.validation import format_errors
from userinput.yaml_source import apply_overrides, read_yaml


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Load and validate a scenario file; raise :class:`InputError` naming file, line and key."""
    label = str(path)
    data, lines = read_yaml(path)
    apply_overrides(data, overrides, lines)
    data.setdefault("name", Path(path).stem)
    source = Path(path).resolve()
    try:
        scenario = Scenario.model_validate(data, context={"base_dir": source.parent})
    except ValidationError as exc:
        raise InputError(format_errors(exc, label, data, lines, Scenario)) from None
    return scenario.model_copy(update={"source_path": source})


__all__ = ["load_scenario"]
