"""loadgen/allocator.py: the fixed mmap threshold and the periodic trim of a soak's processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loadgen import allocator

glibc = pytest.mark.skipif(allocator._glibc() is None, reason="glibc only")
REPO = Path(__file__).resolve().parents[2]


CHILD = r"""
import ctypes, sys
from loadgen import allocator

class MI2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                               "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = allocator._glibc()
libc.mallinfo2.restype = MI2
if sys.argv[1] == "tune":
    assert allocator.tune()
first = ctypes.create_string_buffer(8 * 1024 * 1024)  # freed: lifts a dynamic mmap threshold to 8 MiB
del first
before = libc.mallinfo2().hblks
blocks = [ctypes.create_string_buffer(2 * allocator.MMAP_THRESHOLD_BYTES) for _ in range(4)]
print(libc.mallinfo2().hblks - before)
"""


def _new_mappings(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


@glibc
def test_after_tune_large_blocks_are_mapped_even_after_a_larger_free() -> None:
    """Regression (soak RSS creep): glibc lifted its mmap threshold after a large free, so later
    large blocks were carved out of the heap and fragmented it.  In a fresh interpreter each (the
    thresholds are per process)."""
    assert _new_mappings("default") == 0  # glibc's dynamic threshold: from the heap
    assert _new_mappings("tune") == 4  # each its own mapping, returned to the kernel on free


@glibc
def test_trim_runs_and_trim_every_waits_its_period(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def fake_trim() -> float:
        calls.append(1)
        return 0.001

    monkeypatch.setattr(allocator, "trim", fake_trim)
    monkeypatch.setattr(allocator, "_last_trim", [0.0])
    assert allocator.trim_every(100.0, every_s=60.0) == 0.001
    assert allocator.trim_every(130.0, every_s=60.0) == 0.0  # within the period: nothing
    assert allocator.trim_every(161.0, every_s=60.0) == 0.001
    assert len(calls) == 2


@glibc
def test_trim_returns_its_duration() -> None:
    assert 0.0 <= allocator.trim() < 1.0


def test_without_glibc_both_do_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    assert allocator.tune() is False
    assert allocator.trim() == 0.0
