"""Turning pydantic validation errors into ``file:line yaml.path: message`` lines.

One line per problem: the file name as given, the 1-based line of the offending key (or of the
enclosing key when the key is missing), the YAML path, and a message in the project's words
("must be > 0 (got 0)"), with a "did you mean" hint for misspelt keys and values.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from userinput.durations import LOCATED
from userinput.yaml_source import LineMap, YamlPath, format_path


def _show(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 80 else repr(value[:77] + "...")
    return None


def _hint(word: str, choices: list[str]) -> str:
    guess = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not guess and len(word) >= 3:
        guess = [c for c in choices if c.startswith(word) or word.startswith(c)][:1]
    return f" (did you mean '{guess[0]}'?)" if guess else ""


def _unwrap(tp: Any) -> list[Any]:
    """The concrete alternatives of an annotation (Annotated/Optional/Union stripped)."""
    origin = get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [alt for arg in get_args(tp) for alt in _unwrap(arg)]
    return [tp]


def _model_keys(cls: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in cls.model_fields.items() if not f.exclude]


def _tag_matches(cls: type[BaseModel], data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    for name, f in cls.model_fields.items():
        if get_origin(f.annotation) is Literal and name in data:
            return data[name] in get_args(f.annotation)
    return False


def _pick_model(alternatives: list[Any], data: Any) -> list[type[BaseModel]]:
    models = [a for a in alternatives if isinstance(a, type) and issubclass(a, BaseModel)]
    tagged = [m for m in models if _tag_matches(m, data)]
    return tagged or models


def _field_type(cls: type[BaseModel], key: str) -> Any:
    for name, f in cls.model_fields.items():
        if key in (name, f.alias):
            return f.annotation
    return None


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def allowed_keys(root: type[BaseModel], path: YamlPath, data: Any) -> list[str]:
    """Keys accepted by the model found at ``path`` (empty if it cannot be determined)."""
    current: list[Any] = [root]
    node = data
    for part in path:
        nxt: list[Any] = []
        alts = [a for t in current for a in _unwrap(t)]
        models = _pick_model(alts, node)
        for alt in alts:
            origin = get_origin(alt)
            if isinstance(part, int) and origin in (list, tuple):
                nxt.extend(get_args(alt)[:1])
            elif isinstance(part, str) and origin is dict:
                nxt.extend(get_args(alt)[1:2])
        if isinstance(part, str):
            nxt.extend(t for m in models if (t := _field_type(m, part)) is not None)
        if not nxt:
            return []
        current = nxt
        node = _child(node, part)
    keys: list[str] = []
    for m in _pick_model([a for t in current for a in _unwrap(t)], node):
        keys += [k for k in _model_keys(m) if k not in keys]
    return keys


def _clean_loc(loc: tuple[int | str, ...], data: Any, kind: str) -> YamlPath:
    """Drop pydantic's union-tag / validator components that are not keys of the data."""
    out: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            out.append(part)
            node = node[part]
        elif last and kind == "missing" and isinstance(node, dict) and isinstance(part, str):
            out.append(part)  # a missing key
            node = None
    return tuple(out)


_COMPARE = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
_TYPE_WORDS = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "a whole number",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
    "bool_parsing": "true or false", "string_type": "a string", "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)", "model_attributes_type": "a mapping (key: value)",
    "list_type": "a list", "finite_number": "a finite number",
}


def _message(err: ErrorDetails, path: YamlPath, root: type[BaseModel], data: Any) -> tuple[YamlPath, str]:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    got = _show(value)
    got_s = f" (got {got})" if got is not None else ""
    if kind in _COMPARE:
        limit = _show(next(iter(ctx.values()))) if ctx else "?"
        return path, f"must be {_COMPARE[kind]} {limit}{got_s}"
    if kind == "missing":
        return path, "required key is missing"
    if kind == "extra_forbidden":
        keys = allowed_keys(root, path[:-1], data)
        word = str(path[-1]) if path else ""
        expected = f"; expected one of: {', '.join(keys)}" if keys else ""
        return path, f"unknown key{_hint(word, keys)}{expected}"
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return path, f"must be one of {ctx.get('expected')}{got_s}{_hint(str(value), choices)}"
    if kind == "union_tag_invalid":
        key = str(ctx.get("discriminator", "")).strip("'")
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
        tag = ctx.get("tag")
        return (*path, key), f"unknown {key} {tag!r}{_hint(str(tag), choices)}; expected one of: {', '.join(choices)}"
    if kind == "union_tag_not_found":
        key = str(ctx.get("discriminator", "")).strip("'")
        return (*path, key), "required key is missing"
    if kind in ("too_short", "too_long"):
        field_type = str(ctx.get("field_type", "List")).lower()
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        word = "at least" if kind == "too_short" else "at most"
        return path, f"must have {word} {n} item{'s' if n != 1 else ''} ({field_type} has {ctx.get('actual_length')})"
    if kind == "string_too_short":
        return path, "must not be empty"
    if kind == "string_pattern_mismatch":
        return path, f"must match {ctx.get('pattern')}{got_s}"
    if kind == "value_error":
        msg = str(ctx.get("error", err["msg"]))
        located = LOCATED.match(msg)
        if located:
            extra = _parse_rel(located.group(1))
            return (*path, *extra), located.group(2)
        return path, msg
    if kind in _TYPE_WORDS:
        return path, f"must be {_TYPE_WORDS[kind]}{got_s}"
    msg = err["msg"].replace("Input should be", "must be").replace("Value error, ", "")
    return path, f"{msg}{got_s}"


def _parse_rel(text: str) -> YamlPath:
    out: list[str | int] = []
    for name, index in re.findall(r"([A-Za-z_]\w*)|\[(\d+)\]", text):
        out.append(name if name else int(index))
    return tuple(out)


def format_errors(exc: ValidationError, label: str, data: Any, lines: LineMap, root: type[BaseModel]) -> str:
    """One ``label:line path: message`` line per problem, in file order, duplicates removed."""
    rows: list[tuple[int, str]] = []
    seen: set[str] = set()
    for err in exc.errors(include_url=False):
        path, message = _message(err, _clean_loc(err["loc"], data, err["type"]), root, data)
        override = lines.override_of(path)
        where = f"--set {override}:" if override else f"{label}:{lines.line_of(path)}"
        text = f"{where} {format_path(path) or '(top level)'}: {message}"
        if text not in seen:
            seen.add(text)
            rows.append((lines.line_of(path), text))
    rows.sort(key=lambda r: r[0])
    return "\n".join(text for _, text in rows)


__all__ = ["allowed_keys", "format_errors"]
