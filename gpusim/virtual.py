"""Driving the engine in virtual time: no sleeping, for tests, benchmarks and capacity sketches.

``simulate(engine, arrivals)`` feeds requests at their arrival times and jumps the clock from
event to event (next arrival or end of step), exactly as the real-time runner would if every
sleep were perfectly on time.  ``summarize`` turns the finished sequences into throughput and
mean TTFT / ITL figures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gpusim.engine import Engine, Seq


@dataclass(frozen=True)
class Arrival:
    """A request arriving at ``t`` seconds with known prompt and output lengths."""

    t: float
    prompt_tokens: int
    output_tokens: int
    hashes: tuple[int, ...] = ()


def simulate(engine: Engine, arrivals: Iterable[Arrival], until: float | None = None) -> list[Seq]:
    """Run until every arrival has finished (or ``until`` seconds); returns all sequences."""
    pending = sorted(arrivals, key=lambda a: a.t)
    seqs: list[Seq] = []
    now = 0.0
    k = 0
    while True:
        while k < len(pending) and pending[k].t <= now:
            a = pending[k]
            seq = Seq(f"v{k}", a.prompt_tokens, a.output_tokens, "length", a.t, a.hashes)
            seqs.append(seq)
            engine.add(seq, a.t)
            k += 1
        engine.advance(now)
        wake = engine.next_wakeup()
        nxt = pending[k].t if k < len(pending) else None
        if wake is None and nxt is None:
            break
        candidates = [t for t in (wake, nxt) if t is not None]
        now = max(now, min(candidates))
        if until is not None and now > until:
            break
    return seqs


@dataclass(frozen=True)
class Summary:
    """Aggregates over finished sequences (seconds, tokens per second)."""

    finished: int
    output_tokens: int
    duration_s: float
    throughput_tok_s: float
    mean_ttft_s: float
    mean_itl_s: float


def summarize(seqs: list[Seq], start: float = 0.0, end: float | None = None) -> Summary:
    """Output-token throughput between ``start`` and ``end`` plus mean TTFT/ITL of finished sequences."""
    times = [t for s in seqs for t in s.token_times]
    stop = end if end is not None else (max(times) if times else start)
    in_window = sum(1 for t in times if start <= t <= stop)
    done = [s for s in seqs if s.finished_at is not None and s.first_token is not None]
    ttfts = [s.first_token - s.arrival for s in done if s.first_token is not None]
    gaps = [s.token_times[i + 1] - s.token_times[i] for s in done for i in range(len(s.token_times) - 1)]
    duration = max(stop - start, 1e-12)
    return Summary(
        finished=len(done),
        output_tokens=in_window,
        duration_s=duration,
        throughput_tok_s=in_window / duration,
        mean_ttft_s=sum(ttfts) / len(ttfts) if ttfts else 0.0,
        mean_itl_s=sum(gaps) / len(gaps) if gaps else 0.0,
    )


__all__ = ["Arrival", "Summary", "simulate", "summarize"]
