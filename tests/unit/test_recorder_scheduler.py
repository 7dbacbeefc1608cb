"""The worker scheduler's accounting into its recorder: a real scenario and plan, a fake client.

No Locust, no network: gevent greenlets and a client that just sleeps.  Checks absolute-deadline
sending, drop-and-count above the in-flight cap, skip-and-count of arrivals lost while an
adopted slot had no owner, and cancel-and-count at the end of the drain.
"""

from __future__ import annotations

import time
from pathlib import Path

import gevent

from collectors.counters import (
    C_CANCELLED,
    C_DROPPED,
    C_GENERATOR_FAULT,
    C_LOST_IN_GAP,
    C_OK,
    C_REQUESTS,
    Counters,
)
from collectors.histograms import HistogramSet
from collectors.records import RequestRecord
from loadgen.config import Scenario
from loadgen.locust.messages import AdoptMsg, DoneMsg, PlanMsg
from loadgen.locust.scheduler import Runtime, Scheduler, slot_share
from loadgen.openai.payloads import PreparedRequest
from loadgen.plan import Arrival, Plan
from loadgen.slo import RunHealth, decide_exit, judge
from tests.support.models import scenario
from userinput.errors import EXIT_INVALID_RUN


def _scenario(tmp: Path, offsets: list[float], cap: int | None, drain_s: float) -> Scenario:
    """A real scenario whose one phase replays ``offsets`` exactly (a trace from the phase start)."""
    trace = tmp / "offsets.txt"
    trace.write_text("".join(f"{t!r}\n" for t in offsets), encoding="utf-8")
    phase = {"name": "p", "duration": max(offsets) + 0.01, "arrivals": {"process": "trace", "file": str(trace)}}
    return scenario(phases=[phase], max_inflight=cap, generator={"stop_timeout_s": drain_s})


def _prepared(a: Arrival) -> PreparedRequest:
    """The scheduler hands this to the (fake) client as is."""
    return PreparedRequest(path="/v1/chat/completions", body=b"{}", max_tokens=a.output_tokens)


def _scheduler(tmp: Path, offsets: list[float], service_s: float, cap: int | None, drain_s: float,
               sent: list[tuple[int, int, int]]) -> tuple[Scheduler, list[DoneMsg]]:
    done: list[DoneMsg] = []
    sc = _scenario(tmp, offsets, cap, drain_s)

    def send(prepared: PreparedRequest, rec: RequestRecord) -> None:
        rec.sent_ns = time.monotonic_ns()
        sent.append((rec.idx, rec.scheduled_ns, rec.sent_ns))
        gevent.sleep(service_s)
        rec.first_token_ns = rec.end_ns = time.monotonic_ns()
        rec.token_ns = [rec.first_token_ns]

    def make_runtime(msg: PlanMsg) -> Runtime:
        return Runtime(sc, Plan(sc), _prepared, send)

    return Scheduler(make_runtime, done.append), done


def _plan(s: Scheduler, slot: int = 0, n_slots: int = 1, lead: float = 0.5) -> None:
    s.on_plan(PlanMsg("r", {}, slot, n_slots, time.time() + lead, "w0"))


def _counters(done: list[DoneMsg]) -> Counters:
    c = Counters()
    for d in done:
        c.merge_encoded(d.delta["counters"])
    return c


def test_sends_on_absolute_deadlines_and_reports_done(tmp_path: Path) -> None:
    sent: list[tuple[int, int, int]] = []
    offsets = [0.0, 0.01, 0.02, 0.05, 0.08]
    s, done = _scheduler(tmp_path, offsets, 0.005, None, 1.0, sent)
    # t0 0.5 s ahead (_plan): on_plan's gc.collect()/gc.freeze() in a large pytest process took > 50 ms
    # once in CI and made the first sends late (regression: a 50 ms lead and bound were flaky)
    _plan(s)
    s.start()
    assert s.join(timeout=5)
    assert [i for i, _, _ in sent] == [0, 1, 2, 3, 4]
    scheduled = [sch for _, sch, _ in sent]
    assert [round((x - scheduled[0]) / 1e9, 6) for x in scheduled] == offsets  # exact schedule
    # sent at, never before, the deadline; the upper bound is a loose sanity bound, not a speed test
    assert all(0 <= snt - sch < 0.5e9 for _, sch, snt in sent)
    (d,) = done
    assert d.slots == [0] and _counters(done).total(C_OK) == 5


def test_drops_and_counts_above_max_inflight(tmp_path: Path) -> None:
    sent: list[tuple[int, int, int]] = []
    s, done = _scheduler(tmp_path, [0.0, 0.001, 0.002, 0.003, 0.2], 0.1, 2, 1.0, sent)
    _plan(s)
    s.start()
    assert s.join(timeout=5)
    c = _counters(done)
    assert c.total(C_REQUESTS) == 3 and c.total(C_DROPPED) == 2  # idx 2 and 3 found 2 in flight
    assert sorted(i for i, _, _ in sent) == [0, 1, 4]


def test_cancels_and_counts_streams_still_running_after_the_drain(tmp_path: Path) -> None:
    sent: list[tuple[int, int, int]] = []
    s, done = _scheduler(tmp_path, [0.0, 0.01, 0.02], 10.0, None, 0.1, sent)
    _plan(s)
    s.start()
    assert s.join(timeout=5)
    c = _counters(done)
    assert c.total(C_REQUESTS) == 3 and c.total(C_CANCELLED) == 3 and c.total(C_OK) == 0


def test_adopted_slot_skips_and_counts_the_gap_then_sends_the_rest(tmp_path: Path) -> None:
    sent: list[tuple[int, int, int]] = []
    offsets = [i * 0.02 for i in range(20)]  # slot 1 of 2: odd idx, 0.02 .. 0.38 s
    s, done = _scheduler(tmp_path, offsets, 0.001, None, 1.0, sent)
    s.on_plan(PlanMsg("r", {}, None, 2, time.time(), "w0"))  # a worker without a slot of its own
    gevent.sleep(0.2)  # the slot's owner "died" at 0.05 s; adoption happens at ~0.2 s
    s.on_adopt(AdoptMsg(1, 0.05, 0.2))
    assert s.join(timeout=5)
    c = _counters(done)
    lost = c.total(C_LOST_IN_GAP)
    sent_idx = sorted(i for i, _, _ in sent)
    # odd idx with offset in [0.05, now at adoption) are lost, never burst; later ones are sent
    assert lost >= 3 and all(i % 2 == 1 for i in sent_idx)
    assert lost + len(sent_idx) == sum(1 for i, t in enumerate(offsets) if i % 2 == 1 and t >= 0.05)
    assert done[0].lost_in_gap == {1: lost}


def test_slot_share() -> None:
    assert [slot_share(10, k, 3) for k in range(3)] == [4, 3, 3]
    assert sum(slot_share(7, k, 4) for k in range(4)) == 7


def test_max_inflight_is_split_exactly_across_slots(tmp_path: Path) -> None:
    """Regression (issue 14): each slot's share was rounded up, so the workers together could exceed
    the declared max_inflight (3 slots of a cap of 4 allowed 2 + 2 + 2 = 6 in flight)."""
    sc = _scenario(tmp_path, [0.0, 0.1], cap=4, drain_s=1.0)
    s = Scheduler(lambda msg: Runtime(sc, Plan(sc), _prepared, lambda p, r: None), lambda d: None)
    rt = s._make_runtime(PlanMsg("r", {}, 0, 3, time.time(), "w0"))
    caps = [s._cap(rt, 0, slot, 3) for slot in range(3)]
    assert caps == [2, 1, 1] and sum(c or 0 for c in caps) == 4


def test_an_exception_inside_the_generator_is_a_generator_fault_not_the_targets_error(tmp_path: Path) -> None:
    """Regression (issue 14): a bug inside the scheduler/client was recorded as malformed_chunk."""
    sc = _scenario(tmp_path, [0.0, 0.01], cap=None, drain_s=1.0)
    done: list[DoneMsg] = []

    def broken_send(prepared: PreparedRequest, rec: RequestRecord) -> None:
        raise KeyError("a bug of ours")

    s = Scheduler(lambda msg: Runtime(sc, Plan(sc), _prepared, broken_send), done.append)
    _plan(s, lead=0.2)
    s.start()
    assert s.join(timeout=5)
    c = _counters(done)
    assert c.total(C_REQUESTS) == 2 and c.total(C_GENERATOR_FAULT) == 2
    assert c.errors() == {}, "not counted as the target's error"
    health = RunHealth(generator_faults=c.total(C_GENERATOR_FAULT))
    decision = decide_exit(judge([], None, HistogramSet(), c, ["p"]), health)
    assert decision.code == EXIT_INVALID_RUN and "generator_fault" in decision.rule


def test_the_request_is_built_before_its_deadline_not_after_it(tmp_path: Path) -> None:
    """Regression (schedule lag): the prompt text and body were built after the deadline, inside
    the request's greenlet (~0.5 ms per request, all of it counted as schedule lag)."""
    sc = _scenario(tmp_path, [0.0, 0.05, 0.1], cap=None, drain_s=1.0)
    built: dict[int, int] = {}
    sent: dict[int, tuple[int, int]] = {}
    done: list[DoneMsg] = []

    def make(a: Arrival) -> PreparedRequest:
        built[a.idx] = time.monotonic_ns()
        return _prepared(a)

    def send(prepared: PreparedRequest, rec: RequestRecord) -> None:
        sent[rec.idx] = (rec.scheduled_ns, time.monotonic_ns())
        rec.first_token_ns = rec.end_ns = time.monotonic_ns()
        rec.token_ns = [rec.first_token_ns]

    s = Scheduler(lambda msg: Runtime(sc, Plan(sc), make, send), done.append)
    _plan(s, lead=0.2)
    s.start()
    assert s.join(timeout=5)
    assert sorted(sent) == [0, 1, 2]
    for idx, (scheduled, _) in sent.items():
        assert built[idx] < scheduled, f"request {idx} built after its deadline"


def test_a_request_that_cannot_be_built_is_a_generator_fault(tmp_path: Path) -> None:
    sc = _scenario(tmp_path, [0.0, 0.01], cap=None, drain_s=1.0)
    done: list[DoneMsg] = []
    sends: list[int] = []

    def broken_make(a: Arrival) -> PreparedRequest:
        raise ValueError("a bug of ours in the payload")

    def send(prepared: PreparedRequest, rec: RequestRecord) -> None:
        sends.append(rec.idx)

    s = Scheduler(lambda msg: Runtime(sc, Plan(sc), broken_make, send), done.append)
    _plan(s, lead=0.2)
    s.start()
    assert s.join(timeout=5)
    c = _counters(done)
    assert sends == []
    assert c.total(C_REQUESTS) == 2 and c.total(C_GENERATOR_FAULT) == 2 and c.errors() == {}
