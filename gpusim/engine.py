"""The pure engine core: sequences and the vLLM-like step scheduler, in injected time.

No I/O and no clock of its own: the driver calls ``advance(now)`` and sleeps until
``next_wakeup()``.  :class:`BatchingEngine` plans one step at a time (running set first, then
admission from the waiting queue, under ``max_num_seqs``, the token budget with chunked
prefill and the KV block pool, preempting by recompute when decode outgrows the pool) and
applies it at the step's end, emitting one token to each sequence whose known tokens are all
computed.  :class:`FixedEngine` gives every sequence a constant TTFT and ITL.
"""

from __future__ import annotations

import heapq
from array import array
from collections import deque
from collections.abc import Callable
from typing import Any

from gpusim.config import EngineConfig
from gpusim.gpu import GpuModel
from gpusim.kvcache import BlockPool

WAITING, RUNNING, DONE = 0, 1, 2


class Seq:
    """One request inside the engine, with its ground-truth timeline (simulated seconds)."""

    __slots__ = (
        "arrival", "cached_tokens", "computed", "finish_reason", "finished_at", "first_token",
        "hashes", "held", "id", "output", "preemptions", "private", "prompt_tokens", "scheduled",
        "status", "stop_reason", "target", "token_times", "user",
    )

    def __init__(self, rid: str, prompt_tokens: int, target: int, stop_reason: str, arrival: float,
                 hashes: tuple[int, ...] = ()) -> None:
        self.id = rid
        self.prompt_tokens = prompt_tokens
        self.target = target  # output tokens to generate
        self.stop_reason = stop_reason  # finish_reason when target is reached
        self.hashes = hashes
        self.arrival = arrival
        self.scheduled: float | None = None  # queue exit = prefill start
        self.first_token: float | None = None  # prefill end
        self.token_times = array("d")
        self.finished_at: float | None = None
        self.finish_reason: str | None = None
        self.computed = 0
        self.output = 0
        self.private = 0
        self.held: list[int] = []
        self.cached_tokens = 0
        self.preemptions = 0
        self.status = WAITING
        self.user: Any = None  # the server's per-request state

    @property
    def done(self) -> bool:
        return self.status == DONE


class _EngineBase:
    def __init__(self, gpu: GpuModel | None) -> None:
        self.gpu = gpu
        self.running: list[Seq] = []
        self.waiting: deque[Seq] = deque()
        self.num_preemptions = 0
        self.steps = 0
        self.last_time = 0.0  # how far the GPU model has been advanced
        # faults.slowdown_per_hour: step-time multiplier at a simulated time (None: 1.0)
        self.slowdown: Callable[[float], float] | None = None

    def _slow(self, now: float) -> float:
        return 1.0 if self.slowdown is None else self.slowdown(now)

    @property
    def num_running(self) -> int:
        return len(self.running)

    @property
    def num_waiting(self) -> int:
        return len(self.waiting)

    def kv_usage(self) -> float:
        return 0.0

    def prefix_counts(self) -> tuple[int, int]:
        """(queried prompt tokens, hit tokens)."""
        return 0, 0

    def _finish(self, seq: Seq, t: float, reason: str) -> None:
        seq.status = DONE
        seq.finished_at = t
        seq.finish_reason = reason


class BatchingEngine(_EngineBase):
    """Continuous batching as vLLM's V1 scheduler does it (see module docstring)."""

    def __init__(self, cfg: EngineConfig, gpu: GpuModel | None = None) -> None:
        super().__init__(gpu)
        self.cfg = cfg
        self.pool = BlockPool(cfg.num_gpu_blocks, cfg.block_size, cfg.enable_prefix_caching)
        self.step_end: float | None = None
        # a driver that woke more than this late starts the next step now, not back-to-back
        self.max_lag = float("inf")
        self._batch: list[tuple[Seq, int]] = []
        self.last_step: tuple[float, float, int, int, int] = (0.0, 0.0, 0, 0, 0)

    def kv_usage(self) -> float:
        return self.pool.usage()

    def prefix_counts(self) -> tuple[int, int]:
        return self.pool.queries, self.pool.hits

    def add(self, seq: Seq, now: float) -> None:
        self.waiting.append(seq)

    def abort(self, seq: Seq, now: float) -> None:
        """Drop ``seq`` (client went away); frees its blocks at once."""
        if seq.status == DONE:
            return
        if seq.status == WAITING:
            try:
                self.waiting.remove(seq)
            except ValueError:
                pass
        else:
            self.running.remove(seq)
        self._free(seq)
        self._finish(seq, now, "abort")

    def next_wakeup(self) -> float | None:
        return self.step_end

    def wants_arrival_wakeup(self) -> bool:
        return self.step_end is None

    def advance(self, now: float) -> list[Seq]:
        """Finish the step in flight if it has ended; start the next one. Returns touched sequences."""
        touched: list[Seq] = []
        start = now
        if self.step_end is not None:
            if now < self.step_end:
                return touched
            touched = self._complete(self.step_end)
            if now - self.step_end <= self.max_lag:
                start = self.step_end
            self.step_end = None
        if self.running or self.waiting:
            self._plan(start)
            if self.step_end is None and start < now:
                self._plan(now)  # only requests that arrived after `start` wait: start them now
        return touched

    # -- internals ---------------------------------------------------------------------------

    def _free(self, seq: Seq) -> None:
        self.pool.release(seq.held)
        self.pool.give_back(seq.private)
        seq.held = []
        seq.private = 0

    def _preempt(self, seq: Seq) -> None:
        self._free(seq)
        seq.computed = 0
        seq.status = WAITING
        seq.preemptions += 1
        self.num_preemptions += 1
        self.waiting.appendleft(seq)

    def _grow(self, seq: Seq, n: int) -> bool:
        need = self.pool.blocks_for(seq.computed + n) - len(seq.held) - seq.private
        if self.pool.take(need):
            seq.private += max(0, need)
            return True
        return False

    def _plan(self, start: float) -> None:
        cfg = self.cfg
        budget = cfg.max_num_batched_tokens
        batch: list[tuple[Seq, int]] = []
        prefill_tokens = decode_seqs = kv_tokens = 0
        preempted = False
        running = self.running
        i = 0
        while i < len(running) and budget > 0:
            seq = running[i]
            n = min(seq.prompt_tokens + seq.output - seq.computed, budget)
            scheduled = True
            while not self._grow(seq, n):
                victim = running.pop()
                self._preempt(victim)
                preempted = True
                if victim is seq:
                    scheduled = False
                    break
            if not scheduled:
                break
            batch.append((seq, n))
            budget -= n
            kv_tokens += seq.computed + n
            if n == 1 and seq.output > 0:
                decode_seqs += 1
            else:
                prefill_tokens += n
            i += 1
        pool = self.pool
        while self.waiting and not preempted and len(running) < cfg.max_num_seqs and budget > 0:
            seq = self.waiting[0]
            if seq.arrival > start:
                # a late driver starts this step back-to-back in the past (within max_lag): a
                # request that arrived after the step began joins the next one, so no token ever
                # precedes its request's arrival (negative latencies made /metrics sums go down)
                break
            held = pool.match_prefix(seq.hashes, seq.prompt_tokens)
            seq.held = held
            seq.computed = len(held) * cfg.block_size
            n = min(seq.prompt_tokens + seq.output - seq.computed, budget)
            if not self._grow(seq, n):
                pool.release(held)
                seq.held = []
                seq.computed = 0
                break
            self.waiting.popleft()
            if pool.prefix_caching:
                pool.queries += seq.prompt_tokens
                pool.hits += seq.computed
            if seq.scheduled is None:
                seq.scheduled = max(start, seq.arrival)
                seq.cached_tokens = seq.computed
            seq.status = RUNNING
            running.append(seq)
            batch.append((seq, n))
            budget -= n
            kv_tokens += seq.computed + n
            prefill_tokens += n
        if not batch:
            return
        cost = (cfg.step_overhead_s + cfg.prefill_s_per_token * prefill_tokens
                + cfg.decode_s_per_seq * decode_seqs + cfg.attention_s_per_kv_token * kv_tokens)
        gpu = self.gpu
        if gpu is not None:
            gpu.run(start - self.last_time, 0.0)
            cost /= gpu.clock_factor()
        cost *= self._slow(start)
        self._batch = batch
        self.step_end = start + cost
        self.last_time = start
        self.last_step = (start, cost, prefill_tokens, decode_seqs, kv_tokens)

    def _complete(self, end: float) -> list[Seq]:
        if self.gpu is not None:
            self.gpu.run(end - self.last_time, 1.0)
        self.last_time = end
        self.steps += 1
        touched: list[Seq] = []
        finished = False
        for seq, n in self._batch:
            if seq.status != RUNNING:
                continue  # aborted (or preempted later in planning) meanwhile
            seq.computed += n
            if seq.computed != seq.prompt_tokens + seq.output:
                continue  # a prefill chunk: no token yet
            seq.output += 1
            seq.token_times.append(end)
            if seq.first_token is None:
                seq.first_token = end
                if seq.hashes:
                    done = self.pool.publish(seq.hashes[: seq.prompt_tokens // self.cfg.block_size], len(seq.held))
                    if done:
                        seq.held.extend(done)
                        seq.private -= len(done)
            touched.append(seq)
            if seq.output >= seq.target:
                self._free(seq)
                self._finish(seq, end, seq.stop_reason)
                finished = True
        self._batch = []
        if finished:
            self.running = [s for s in self.running if s.status == RUNNING]
        return touched


class FixedEngine(_EngineBase):
    """Constant TTFT and ITL for every request: no batching effects, no queueing."""

    def __init__(self, cfg: EngineConfig, gpu: GpuModel | None = None) -> None:
        super().__init__(gpu)
        self.ttft = cfg.fixed_ttft_s
        self.itl = cfg.fixed_itl_s
        self._heap: list[tuple[float, int, Seq]] = []
        self._n = 0

    def add(self, seq: Seq, now: float) -> None:
        seq.scheduled = now
        seq.status = RUNNING
        self.running.append(seq)
        self._n += 1
        heapq.heappush(self._heap, (now + self.ttft * self._slow(now), self._n, seq))

    def abort(self, seq: Seq, now: float) -> None:
        if seq.status != DONE:
            self.running.remove(seq)
            self._finish(seq, now, "abort")

    def next_wakeup(self) -> float | None:
        while self._heap and self._heap[0][2].status == DONE:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def wants_arrival_wakeup(self) -> bool:
        return True

    def advance(self, now: float) -> list[Seq]:
        if self.gpu is not None:
            self.gpu.run(now - self.last_time, 1.0 if self.running else 0.0)
        self.last_time = max(self.last_time, now)
        touched: list[Seq] = []
        heap = self._heap
        finished = False
        while heap and heap[0][0] <= now:
            due, _, seq = heapq.heappop(heap)
            if seq.status == DONE:
                continue
            seq.output += 1
            seq.token_times.append(due)
            if seq.first_token is None:
                seq.first_token = due
            touched.append(seq)
            if seq.output >= seq.target:
                self._finish(seq, due, seq.stop_reason)
                finished = True
            else:
                self._n += 1
                heapq.heappush(heap, (due + self.itl * self._slow(due), self._n, seq))
        if touched:
            self.steps += 1
        if finished:
            self.running = [s for s in self.running if s.status != DONE]
        return touched


Engine = BatchingEngine | FixedEngine


def make_engine(cfg: EngineConfig, gpu: GpuModel | None = None) -> Engine:
    return FixedEngine(cfg, gpu) if cfg.mode == "fixed" else BatchingEngine(cfg, gpu)


__all__ = ["DONE", "RUNNING", "WAITING", "BatchingEngine", "Engine", "FixedEngine", "Seq", "make_engine"]
