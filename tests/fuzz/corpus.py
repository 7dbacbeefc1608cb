"""The fuzz corpus: pathological variants of a valid input, one set for every reader.

Each variant is ``(name, bytes)``: truncated at several points, binary (random bytes, a NUL in
text, invalid UTF-8), one huge line, and deeply nested (YAML mappings and flow lists, JSON
arrays); YAML readers also get alias and merge-key bombs.  Deterministic (seeded), so a failure
names a variant that can be reproduced.
"""

from __future__ import annotations

import random

HUGE = 3 * 1024 * 1024  # bytes on one line: above every reader's YAML cap, a few MB for JSON readers
DEEP = 50_000  # nesting levels


def truncations(valid: bytes) -> list[tuple[str, bytes]]:
    """``valid`` cut at a quarter, half, three quarters, and one byte short of its end."""
    n = len(valid)
    return [(f"truncated_at_{k}", valid[:k]) for k in sorted({n // 4, n // 2, 3 * n // 4, n - 1}) if k > 0]


def binary() -> list[tuple[str, bytes]]:
    rng = random.Random(7)
    return [
        ("random_bytes", bytes(rng.randrange(256) for _ in range(4096))),
        ("nul_in_text", b"a: b\x00c\n"),
        ("invalid_utf8", b"name: \xff\xfe\xfd\n"),
        ("empty", b""),
    ]


def yaml_variants(valid: bytes) -> list[tuple[str, bytes]]:
    bomb = '# "billion laughs": 9 aliases of 9 aliases ... expand to 9^9 strings\na0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, 9):
        bomb += f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n"
    merge = "m0: &m0 {x: 1}\n" + "".join(
        f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: 1}}\n" for i in range(1, 60))
    nested_map = "".join("  " * i + f"k{i}:\n" for i in range(2000)) + "  " * 2000 + "v\n"
    return [
        *truncations(valid),
        *binary(),
        ("huge_line", b"name: '" + b"x" * HUGE + b"'\n"),
        ("huge_file_many_lines", b"".join(b"k%d: 1\n" % i for i in range(200_000))),
        ("many_values_small_file", b"a: [" + b"1," * 150_000 + b"1]\n"),  # 300 KB, 150k values
        ("deep_flow_lists", b"a: " + b"[" * DEEP + b"]" * DEEP + b"\n"),
        ("deep_block_mappings", nested_map.encode()),
        ("alias_bomb", bomb.encode()),
        ("merge_key_bomb", merge.encode()),
        ("not_a_mapping", b"- 1\n- 2\n"),
    ]


def json_lines_variants(valid: bytes) -> list[tuple[str, bytes]]:
    return [
        *truncations(valid),
        *binary(),
        ("huge_line", b'{"prompt": "' + b"x" * HUGE + b'"\n'),
        ("huge_number", b"1" * 100_000 + b"\n"),
        ("deep_arrays", b"[" * DEEP + b"]" * DEEP + b"\n"),
        ("deep_objects", b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"\n"),
    ]


def spool_variants(valid: bytes) -> list[tuple[str, bytes]]:
    return [
        *truncations(valid),
        *binary(),
        ("huge_line", b"m v=1 " + b"9" * HUGE + b"\n"),
        ("huge_line_no_newline", b"m,t=" + b"x" * HUGE),
        ("deep_brackets", b"m v=" + b"[" * DEEP + b" 1\n"),
        ("good_and_bad_lines", valid + b"\xff\xfe garbage\n" + b"no timestamp here\n" + valid),
    ]


__all__ = ["DEEP", "HUGE", "binary", "json_lines_variants", "spool_variants", "truncations", "yaml_variants"]
