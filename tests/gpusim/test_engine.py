"""The engine core in virtual time: scheduler rules and the throughput/latency trade-off."""

from __future__ import annotations

from typing import Any

import pytest

from gpusim.config import EngineConfig, GpuConfig, build_config
from gpusim.engine import BatchingEngine, FixedEngine, Seq
from gpusim.gpu import GpuModel
from gpusim.virtual import Arrival, simulate, summarize


def engine(preset: str = "h100-llama8b", gpu: bool = False, **over: Any) -> BatchingEngine:
    cfg = build_config({"engine": over}, preset)
    eng = BatchingEngine(cfg.engine, GpuModel(cfg.gpu) if gpu else None)
    return eng


def saturating(n: int = 600, prompt: int = 400, out: int = 150) -> list[Arrival]:
    return [Arrival(0.0, prompt, out) for _ in range(n)]


def test_doubling_max_num_seqs_raises_throughput_and_itl_at_saturation() -> None:
    small = summarize(simulate(engine(max_num_seqs=32), saturating()))
    big = summarize(simulate(engine(max_num_seqs=64), saturating()))
    assert small.finished == big.finished == 600
    assert big.throughput_tok_s > small.throughput_tok_s * 1.2
    assert big.mean_itl_s > small.mean_itl_s * 1.2


def test_ttft_grows_with_arrival_rate_past_capacity() -> None:
    def run(rate: float) -> float:
        arrivals = [Arrival(i / rate, 300, 100) for i in range(int(rate * 20))]
        return summarize(simulate(engine(max_num_seqs=32), arrivals)).mean_ttft_s

    # capacity here is roughly 32 seqs / (100 tokens * ~9 ms) ~ 35 req/s
    below, above, far_above = run(10), run(60), run(120)
    assert below < 0.1
    assert above > below * 10
    assert far_above > above * 1.5


def test_long_prompts_raise_everyones_itl() -> None:
    def itl_of_short(with_long: bool) -> float:
        arrivals = [Arrival(0.0, 100, 200) for _ in range(16)]
        if with_long:
            arrivals += [Arrival(0.2 + 0.2 * i, 6000, 1) for i in range(10)]
        seqs = simulate(engine(), arrivals)
        return summarize([s for s in seqs if s.prompt_tokens == 100]).mean_itl_s

    assert itl_of_short(True) > itl_of_short(False) * 1.5


def test_chunked_prefill_respects_token_budget() -> None:
    eng = engine(max_num_batched_tokens=512, enable_prefix_caching=False)
    seq = Seq("a", 2000, 3, "length", 0.0)
    eng.add(seq, 0.0)
    eng.advance(0.0)
    steps = 0
    while not seq.done:
        wake = eng.next_wakeup()
        assert wake is not None
        assert eng.last_step[2] <= 512
        eng.advance(wake)
        steps += 1
    assert seq.first_token is not None and seq.scheduled == 0.0
    assert steps == 4 + 2  # ceil(2000/512) prefill chunks, then 2 decode steps
    assert len(seq.token_times) == 3 and seq.finish_reason == "length"


def test_admission_waits_when_kv_cache_is_full() -> None:
    # 64 blocks of 16 tokens = 1024 tokens: three 300-token prompts fit, the fourth waits
    eng = engine(num_gpu_blocks=64, max_model_len=1024, enable_prefix_caching=False)
    seqs = [Seq(str(i), 300, 2, "length", 0.0) for i in range(4)]
    for s in seqs:
        eng.add(s, 0.0)
    eng.advance(0.0)
    assert eng.num_running == 3 and eng.num_waiting == 1
    simulate(eng, [])  # no new arrivals: runs the queued work to completion
    assert all(s.done for s in seqs)
    assert seqs[3].scheduled is not None and seqs[3].scheduled >= seqs[0].finished_at  # type: ignore[operator]


def test_preemption_by_recompute_when_decode_outgrows_cache() -> None:
    eng = engine(num_gpu_blocks=64, max_model_len=1024, enable_prefix_caching=False)
    arrivals = [Arrival(0.0, 200, 300) for _ in range(4)]
    seqs = simulate(eng, arrivals)
    assert eng.num_preemptions > 0
    assert all(s.done and len(s.token_times) == 300 for s in seqs)
    assert any(s.preemptions > 0 for s in seqs)
    assert eng.pool.used == 0  # every block returned


def test_prefix_cache_hits_are_counted_in_tokens() -> None:
    eng = engine()
    hashes = tuple(range(1, 33))  # 32 full blocks = 512 tokens
    first = Seq("a", 520, 2, "length", 0.0, hashes)
    eng.add(first, 0.0)
    simulate(eng, [])
    assert first.done
    second = Seq("b", 520, 2, "length", 1.0, hashes)
    eng.add(second, 1.0)
    eng.advance(1.0)
    queries, hits = eng.prefix_counts()
    assert queries == 1040
    assert hits == 512 and second.cached_tokens == 512
    assert eng.last_step[2] == 520 - 512  # only the uncached tail is prefilled


def test_thermal_throttling_lowers_throughput_over_a_long_run() -> None:
    eng = engine("tiny-cpu", gpu=True)
    arrivals = [Arrival(i * 0.01, 200, 100) for i in range(40000)]
    seqs = simulate(eng, arrivals, until=200.0)
    peak = summarize(seqs, 0.0, 10.0)
    steady = summarize(seqs, 150.0, 200.0)
    assert eng.gpu is not None and eng.gpu.throttled()
    assert eng.gpu.temp_c > eng.gpu.cfg.throttle_start_c
    assert steady.throughput_tok_s < peak.throughput_tok_s * 0.9


def test_fixed_engine_gives_constant_ttft_and_itl_whatever_the_load() -> None:
    cfg = build_config({}, "fixed")
    eng = FixedEngine(cfg.engine)
    seqs = simulate(eng, [Arrival(i * 0.001, 100, 5) for i in range(500)])
    for s in seqs:
        assert s.first_token == pytest.approx(s.arrival + 0.05)
        gaps = [b - a for a, b in zip(s.token_times, s.token_times[1:], strict=False)]
        assert gaps == pytest.approx([0.01] * 4)


def test_engine_config_rejects_cache_smaller_than_one_sequence() -> None:
    with pytest.raises(ValueError, match="max_model_len"):
        EngineConfig(num_gpu_blocks=10, block_size=16, max_model_len=1024)
    GpuConfig()
