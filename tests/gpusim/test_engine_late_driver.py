"""A late driver never gives a request a token before its arrival (issue 14, section 2 item 8).

The real-time runner lets a step start back-to-back at the previous step's end when it wakes
within ``max_lag`` (0.005 real s x ``--time-scale`` simulated s).  A request that arrived after
that start used to be admitted into the step anyway: its first token then came *before* its
arrival, the TTFT / prefill observations were negative, and the histograms' ``_sum`` went down
(the server collector saw that as a counter reset: ``resets == 49`` under CPU load).
"""

from __future__ import annotations

from gpusim.config import EngineConfig
from gpusim.engine import BatchingEngine, Seq


def test_request_arriving_after_a_late_step_start_joins_the_next_step() -> None:
    eng = BatchingEngine(EngineConfig())
    eng.max_lag = 0.1  # time-scale 20
    first = Seq("a", 100, 5, "length", 0.0)
    eng.add(first, 0.0)
    eng.advance(0.0)
    assert eng.step_end is not None
    late = Seq("b", 100, 5, "length", eng.step_end + 0.02)  # arrives after the step ended...
    eng.add(late, late.arrival)
    eng.advance(late.arrival + 0.001)  # ...and the driver wakes within max_lag
    while eng.step_end is not None:
        eng.advance(eng.step_end)
    for seq in (first, late):
        assert seq.scheduled is not None and seq.first_token is not None
        assert seq.arrival <= seq.scheduled <= seq.first_token <= seq.token_times[-1]
    assert late.done and first.done


def test_idle_engine_with_only_later_arrivals_still_starts_them() -> None:
    eng = BatchingEngine(EngineConfig())
    eng.max_lag = 0.1
    first = Seq("a", 10, 1, "length", 0.0)
    eng.add(first, 0.0)
    eng.advance(0.0)
    assert eng.step_end is not None
    end = eng.step_end
    late = Seq("b", 10, 3, "length", end + 0.01)
    eng.add(late, late.arrival)
    eng.advance(end + 0.02)  # first finishes; nothing had arrived by `end`: b starts now
    assert first.done
    assert eng.step_end is not None and late.scheduled == end + 0.02
