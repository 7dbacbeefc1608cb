"""File paths in a scenario are relative to the scenario file's directory.

``load_scenario`` validates with ``context={"base_dir": <scenario dir>}``; :data:`ScenarioPath`
resolves a relative path against it (or against the working directory when a model is built
in code without that context).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, ValidationInfo


def _resolve(value: Path, info: ValidationInfo) -> Path:
    value = value.expanduser()
    if value.is_absolute():
        return value
    ctx = info.context if isinstance(info.context, dict) else {}
    base = ctx.get("base_dir")
    return Path(base) / value if base is not None else value


def _exists(value: Path) -> Path:
    if not value.is_file():
        raise ValueError(f"file not found: {value}")
    return value


ScenarioPath = Annotated[Path, AfterValidator(_resolve)]
"""A path resolved against the scenario file's directory."""

ExistingFile = Annotated[Path, AfterValidator(_resolve), AfterValidator(_exists)]
"""A path resolved against the scenario file's directory that must name an existing file."""

__all__ = ["ExistingFile", "ScenarioPath"]
