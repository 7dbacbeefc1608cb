"""Prompt datasets: a JSONL or ShareGPT file read into its prompts, in file order.

``format: jsonl`` (default): one JSON value per line, either a string or an object whose
``field`` (default ``prompt``, then ``text``) is a string; blank lines are skipped.
``format: sharegpt``: a JSON array (or JSONL) of objects whose ``conversations`` list holds the
prompt as the first turn ``from: human`` (or ``user``).  A bad row is an :class:`InputError`
naming ``file:line`` (or the array entry); a file without prompts is one too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loadgen.config import DatasetConfig
from userinput.errors import InputError


def _row_prompt(obj: Any, cfg: DatasetConfig) -> str | None:
    if isinstance(obj, str):
        return obj
    if not isinstance(obj, dict):
        return None
    if cfg.format == "sharegpt":
        turns = obj.get("conversations")
        if not isinstance(turns, list):
            return None
        for turn in turns:
            if isinstance(turn, dict) and turn.get("from") in ("human", "user") and isinstance(turn.get("value"), str):
                return str(turn["value"])
        return None
    for key in (cfg.field,) if cfg.field else ("prompt", "text"):
        value = obj.get(key)
        if isinstance(value, str):
            return value
    return None


def _what(cfg: DatasetConfig) -> str:
    if cfg.format == "sharegpt":
        return "an object with conversations: [{from: human, value: ...}, ...]"
    keys = f"'{cfg.field}'" if cfg.field else "'prompt' or 'text'"
    return f"a JSON string or an object with a string {keys}"


def _loads(text: str, path: Path, lineno: int | None = None) -> Any:
    """``json.loads``, or an :class:`InputError` naming ``path:line`` (for a whole file: the
    line of the error)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{lineno or err.lineno}: not valid JSON: {err.msg}") from None
    except (ValueError, RecursionError):  # a number too long to convert, or nested too deeply
        where = f"{path}:{lineno}" if lineno else str(path)
        raise InputError(f"{where}: not valid JSON: a number too long or nesting too deep") from None


def _prompt(obj: Any, cfg: DatasetConfig, where: str) -> str:
    prompt = _row_prompt(obj, cfg)
    if prompt is None:
        raise InputError(f"{where}: expected {_what(cfg)}")
    return prompt


def load_dataset(cfg: DatasetConfig) -> list[str]:
    """The prompts of a dataset file, in file order; :class:`InputError` names file:line."""
    path = Path(cfg.path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(f"{path}: cannot read dataset: {err.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: dataset is not UTF-8 text") from None
    if cfg.format == "sharegpt" and text.lstrip().startswith("["):
        items = _loads(text, path)
        prompts = [_prompt(item, cfg, f"{path}: entry [{i}]") for i, item in enumerate(items)]
    else:
        prompts = [_prompt(_loads(line, path, lineno), cfg, f"{path}:{lineno}")
                   for lineno, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not prompts:
        raise InputError(f"{path}: dataset has no prompts")
    return prompts


__all__ = ["load_dataset"]
