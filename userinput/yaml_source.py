"""Reading a scenario file: safe YAML with the line of every key, duplicate keys rejected.

:func:`read_yaml` returns plain Python data plus a :class:`LineMap` from YAML paths (tuples of
keys and list indices) to 1-based lines.  :func:`apply_overrides` applies ``--set a.b.0.c=v``
strings to that data before validation and marks the paths it touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from userinput.errors import InputError

YamlPath = tuple[str | int, ...]


class LineMap:
    """1-based line of each YAML path; lookups fall back to the nearest enclosing path."""

    def __init__(self) -> None:
        self.lines: dict[YamlPath, int] = {(): 1}
        self.overrides: dict[YamlPath, str] = {}

    def line_of(self, path: YamlPath) -> int:
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 1

    def override_of(self, path: YamlPath) -> str | None:
        for end in range(len(path), 0, -1):
            text = self.overrides.get(path[:end])
            if text is not None:
                return text
        return None


def format_path(path: YamlPath) -> str:
    """``("phases", 1, "arrivals", "rate")`` -> ``phases[1].arrivals.rate``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, lines: LineMap, errors: list[str], label: str) -> None:
        self.loader, self.lines, self.errors, self.label = loader, lines, errors, label

    def build(self, node: yaml.Node, path: YamlPath) -> Any:
        if isinstance(node, yaml.MappingNode):
            n_explicit = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
            self.loader.flatten_mapping(node)  # YAML merge keys (<<): merged pairs come first
            n_merged = len(node.value) - n_explicit
            out: dict[Any, Any] = {}
            first_line: dict[Any, int] = {}
            for i, (key_node, value_node) in enumerate(node.value):
                key = self.loader.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if not isinstance(key, str | int | float | bool) or key is None:
                    self.errors.append(f"{self.label}:{line} {format_path(path) or '(top level)'}: keys must be plain scalars")
                    continue
                if isinstance(key, bool | int | float):
                    key = str(key).lower() if isinstance(key, bool) else str(key)
                if i < n_merged:  # merged keys may be overridden by explicit ones
                    self.lines.lines[(*path, key)] = line
                    out[key] = self.build(value_node, (*path, key))
                    continue
                if key in first_line:
                    self.errors.append(
                        f"{self.label}:{line} {format_path((*path, key))}: duplicate key "
                        f"(first at line {first_line[key]})"
                    )
                    continue
                first_line[key] = line
                self.lines.lines[(*path, key)] = line
                out[key] = self.build(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                self.lines.lines[(*path, i)] = item.start_mark.line + 1
                items.append(self.build(item, (*path, i)))
            return items
        return self.loader.construct_object(node, deep=True)


def read_yaml(path: str | Path) -> tuple[Any, LineMap]:
    """Parse a YAML file; raise :class:`InputError` (with file and line) if it cannot be read."""
    label = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{label}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{label}: is a directory, not a scenario file") from None
    except UnicodeDecodeError:
        raise InputError(f"{label}: not a text file (not UTF-8)") from None
    except OSError as err:
        raise InputError(f"{label}: cannot read: {err.strerror}") from None
    lines = LineMap()
    errors: list[str] = []
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = _Builder(loader, lines, errors, label).build(node, ()) if node is not None else None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{label}:{mark.line + 1}" if mark is not None else label
        what = ": ".join(s for s in (err.context, err.problem) if s)
        raise InputError(f"{where}: YAML syntax error: {what}") from None
    except yaml.YAMLError as err:
        raise InputError(f"{label}: YAML error: {err}") from None
    finally:
        loader.dispose()
    if errors:
        raise InputError("\n".join(errors))
    if data is None:
        raise InputError(f"{label}: empty file; a scenario is a YAML mapping (target:, workload:, phases:)")
    if not isinstance(data, dict):
        raise InputError(f"{label}:1: a scenario must be a YAML mapping of sections, not a {_kind(data)}")
    return data, lines


def _kind(value: Any) -> str:
    return "list" if isinstance(value, list) else type(value).__name__


def _parse_override(text: str) -> tuple[YamlPath, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--set {text}: expected dot.path=value (e.g. phases.0.arrivals.rate=5)")
    parts: list[str | int] = []
    for part in key.strip().split("."):
        if not part:
            raise InputError(f"--set {text}: empty component in {key.strip()!r}")
        parts.append(int(part) if part.isdigit() else part)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return tuple(parts), value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str], lines: LineMap) -> None:
    """Apply ``dot.path=value`` overrides in place (values parsed as YAML scalars)."""
    for text in overrides:
        path, value = _parse_override(text)
        node: Any = data
        actual: list[str | int] = []
        for depth, part in enumerate(path):
            last = depth == len(path) - 1
            where = format_path(path[: depth + 1])
            if isinstance(node, list):
                if not isinstance(part, int):
                    raise InputError(f"--set {text}: {format_path(path[:depth])} is a list; use an index, not {part!r}")
                if not -len(node) <= part < len(node):
                    raise InputError(f"--set {text}: {where}: index out of range (the list has {len(node)} items)")
            elif isinstance(node, dict):
                part = str(part)
            else:
                raise InputError(f"--set {text}: {format_path(path[:depth])} is not a mapping or list")
            actual.append(part)
            if last:
                node[part] = value
            else:
                if isinstance(node, dict) and part not in node:
                    if isinstance(path[depth + 1], int):
                        raise InputError(f"--set {text}: {where} is not in the file, so it has no item {path[depth + 1]}")
                    node[part] = {}
                node = node[part]
        lines.overrides[tuple(actual)] = text


__all__ = ["LineMap", "YamlPath", "apply_overrides", "format_path", "read_yaml"]
