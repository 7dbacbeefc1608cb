"""Reading a YAML input file: safe YAML with the line of every key, duplicate keys rejected.

:func:`read_yaml` returns plain Python data plus a :class:`LineMap` from YAML paths (tuples of
keys and list indices) to 1-based lines (:func:`read_yaml_document` is the same for any YAML
document, e.g. gpusim's ``sim.yaml``).  :func:`apply_overrides` applies ``--set a.b.0.c=v``
strings to that data before validation and marks the paths it touched.

Limits, so a pathological file is one clear error (exit 2) within about a second and in bounded
memory, never a traceback or a hang: at most :data:`MAX_YAML_BYTES` bytes, :data:`MAX_DEPTH`
levels of nesting and :data:`MAX_NODES` values *after* alias and merge-key (``<<``) expansion
(a "billion laughs" document of a few lines expands to billions).  Depth and size are checked
on the parser's event stream (libyaml's when available) before anything is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from userinput.errors import InputError

MAX_YAML_BYTES = 1024 * 1024  # 1 MiB: scenario and sim files are a few KB; datasets are separate files
MAX_DEPTH = 64  # nested mappings/lists
MAX_NODES = 100_000  # values after alias expansion

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _TooBig(Exception):
    """A limit was hit; ``str`` is the message (without the file label)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class _LimitedLoader(_Loader):  # type: ignore[misc, valid-type]
    """The safe loader with merge-key (``<<``) expansion capped at :data:`MAX_NODES` pairs."""

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        super().flatten_mapping(node)
        if len(node.value) > MAX_NODES:
            raise _TooBig(f"YAML merge keys (<<) expand to more than {MAX_NODES} entries",
                          node.start_mark.line + 1)

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
        self.built = 0

    def build(self, node: yaml.Node, path: YamlPath) -> Any:
        self.built += 1
        if self.built > MAX_NODES:  # aliases re-visit the node they name: this bounds the expansion
            raise _TooBig(f"more than {MAX_NODES} values once YAML aliases (*name) are expanded",
                          node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            n_explicit = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
            self.loader.flatten_mapping(node)  # YAML merge keys (<<): merged pairs come first
            n_merged = len(node.value) - n_explicit
            out: dict[Any, Any] = {}
            first_line: dict[Any, int] = {}
            for i, (key_node, value_node) in enumerate(node.value):
                line = key_node.start_mark.line + 1
                key = self.loader.construct_object(key_node, deep=True) if isinstance(key_node, yaml.ScalarNode) \
                    else None
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


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _line(event: yaml.Event) -> int | None:
    mark = event.start_mark
    return None if mark is None else int(mark.line) + 1


def _check_events(text: str) -> None:
    """Depth and size limits on the event stream, before any node is built (no recursion)."""
    depth = 0
    for events, event in enumerate(yaml.parse(text, Loader=_Loader), start=1):
        if events > MAX_NODES:
            raise _TooBig(f"more than {MAX_NODES} YAML values", _line(event))
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _TooBig(f"nested deeper than {MAX_DEPTH} levels", _line(event))
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def read_yaml_document(path: str | Path, what: str = "YAML file") -> tuple[Any, LineMap]:
    """Parse one YAML document within the limits; ``(data, lines)`` (``data`` None when empty).

    Raises :class:`InputError` naming the file (and line) for anything that is not readable,
    valid, limited YAML; ``what`` names the kind of file in messages ("scenario file").
    """
    label = str(path)
    p = Path(path)
    try:
        size = p.stat().st_size
        if p.is_file() and size > MAX_YAML_BYTES:
            raise InputError(f"{label}: {size} bytes is too large for a {what} (at most {MAX_YAML_BYTES})")
        with p.open("rb") as f:
            raw = f.read(MAX_YAML_BYTES + 1)
        if len(raw) > MAX_YAML_BYTES:
            raise InputError(f"{label}: too large for a {what} (at most {MAX_YAML_BYTES} bytes)")
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise InputError(f"{label}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{label}: is a directory, not a {what}") from None
    except UnicodeDecodeError:
        raise InputError(f"{label}: not a text file (not UTF-8)") from None
    except OSError as err:
        raise InputError(f"{label}: cannot read: {err.strerror}") from None
    lines = LineMap()
    errors: list[str] = []
    loader = _LimitedLoader(text)
    try:
        _check_events(text)
        node = loader.get_single_node()
        data = _Builder(loader, lines, errors, label).build(node, ()) if node is not None else None
    except _TooBig as err:
        where = f"{label}:{err.line}" if err.line is not None else label
        raise InputError(f"{where}: {err} (limits: docs/scenario.md, YAML limits)") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{label}:{mark.line + 1}" if mark is not None else label
        what_ = ": ".join(_one_line(s) for s in (err.context, err.problem) if s)
        raise InputError(f"{where}: YAML syntax error: {what_}") from None
    except yaml.YAMLError as err:
        raise InputError(f"{label}: YAML error: {_one_line(str(err))}") from None
    except (RecursionError, MemoryError, ValueError, TypeError, OverflowError) as err:
        # values the safe constructor cannot build (e.g. a timestamp out of range)
        raise InputError(f"{label}: YAML error: {_one_line(str(err)) or type(err).__name__}") from None
    finally:
        loader.dispose()
    if errors:
        raise InputError("\n".join(errors))
    return data, lines


def read_yaml(path: str | Path) -> tuple[Any, LineMap]:
    """Parse a scenario file; raise :class:`InputError` (with file and line) if it cannot be read."""
    label = str(path)
    data, lines = read_yaml_document(path, "scenario file")
    if data is None:
        raise InputError(f"{label}: empty file; a scenario is a YAML mapping (target:, workload:, phases:)")
    if not isinstance(data, dict):
        raise InputError(f"{label}:1: a scenario must be a YAML mapping of sections, not a {_kind(data)}")
    return data, lines


def _kind(value: Any) -> str:
    return "list" if isinstance(value, list) else type(value).__name__


def _load_value(text: str) -> Any:
    """One YAML value (a ``--set`` right-hand side) within the same limits as a file."""
    _check_events(text)
    loader = _LimitedLoader(text)
    try:
        node = loader.get_single_node()
        return _Builder(loader, LineMap(), [], "--set").build(node, ()) if node is not None else None
    finally:
        loader.dispose()


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
        if len(raw) > MAX_YAML_BYTES:
            raise InputError(f"--set {key.strip()}=...: the value is too large (at most {MAX_YAML_BYTES} bytes)")
        value = _load_value(raw) if raw.strip() else ""
    except _TooBig as err:
        raise InputError(f"--set {key.strip()}=...: {err}") from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError):
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


__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_YAML_BYTES",
    "LineMap",
    "YamlPath",
    "apply_overrides",
    "format_path",
    "read_yaml",
    "read_yaml_document",
]
