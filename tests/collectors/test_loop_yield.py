"""collectors/loop_yield.py under gevent (as in a Locust process): a step done in parts lets the
loop fire the timers that fall due between two parts.  Run in a subprocess so gevent's
monkey-patching does not leak into the test process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
from gevent import monkey
monkey.patch_all()
import json, sys, time
import gevent
from collectors.loop_yield import yield_to_loop
from collectors.pipeline import Parts

PARTS, PART_S = 10, 0.002
log = []

def busy(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass

def step(pause):
    for i in range(PARTS):
        busy(PART_S)
        log.append(("part", i))
        pause()

def pacer():  # the sending loop's next arrival: due 1 ms after the step starts
    gevent.sleep(0.001)
    log.append(("timer", None))

pause = {"yield_to_loop": yield_to_loop, "sleep0": lambda: time.sleep(0), "parts": Parts().pause}[sys.argv[1]]
g = gevent.spawn(step, pause)
gevent.sleep(0)  # the step starts first, as the interval step does
p = gevent.spawn(pacer)
gevent.joinall([g, p])
print(json.dumps([e for e, _ in log].index("timer")))
"""


def _parts_before_timer(pause: str) -> int:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, pause], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip())


@pytest.mark.parametrize("pause", ["yield_to_loop", "parts"])
def test_a_timer_due_during_a_step_in_parts_fires_between_two_parts(pause: str) -> None:
    """Bug: the interval step's parts were separated by ``time.sleep(0)`` (``gevent.sleep(0)``),
    which only switches to greenlets in the loop's callback queue: the pacer's due timer waited for
    the whole step (a 1 ms timer fired after 16 ms; send lag p99 of a local run with every sink at
    200 req/s: 14.6 ms, 1.5-2.4x the run without sinks)."""
    # the step starts first; the pacer sleeps 1 ms from the end of part 0: due during part 1
    assert _parts_before_timer(pause) <= 2


def test_sleep_zero_is_not_a_yield_to_timers_under_gevent() -> None:
    """Pins why loop_yield exists: with ``sleep(0)`` the timer fires only after every part."""
    assert _parts_before_timer("sleep0") == 10



def test_slicer_yields_only_after_a_part_has_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import collectors.loop_yield as ly

    now = [0.0]
    yields: list[float] = []
    monkeypatch.setattr(ly.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(ly, "yield_to_loop", lambda: yields.append(now[0]))
    s = ly.Slicer(part_s=0.002)
    for _ in range(10):  # ten pieces of 0.5 ms: a yield after every fourth
        now[0] += 0.0005
        s()
    assert yields == pytest.approx([0.002, 0.004])
    assert s.yields == 2
