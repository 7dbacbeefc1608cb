"""gpusim's capacity prediction (gpusim/capacity.py) against its own engine in virtual time."""

from __future__ import annotations

import numpy as np
import pytest

from gpusim.capacity import CapacityModel
from gpusim.config import build_config
from gpusim.engine import BatchingEngine
from gpusim.virtual import Arrival, simulate, summarize


def _measure(preset: str, prompt: int, out: int, rate: float, dur: float = 60.0) -> tuple[float, float, float]:
    """(served requests/s, mean ITL s, mean TTFT s) over the last 70 % of ``dur`` simulated seconds."""
    cfg = build_config({}, preset)
    ts = np.sort(np.random.default_rng(0).uniform(0.0, dur, int(rate * dur)))
    seqs = simulate(BatchingEngine(cfg.engine, None), [Arrival(float(t), prompt, out) for t in ts], until=dur)
    s = summarize(seqs, start=0.3 * dur, end=dur)
    return s.throughput_tok_s / out, s.mean_itl_s, s.mean_ttft_s


@pytest.mark.parametrize(("preset", "prompt", "out"), [("h100-llama8b", 400, 150), ("tiny-cpu", 120, 30)])
def test_saturation_rate_and_step_time_match_the_engine(preset: str, prompt: int, out: int) -> None:
    m = CapacityModel(build_config({}, preset).engine, prompt, out)
    sat = m.capacity().saturation_rate
    served, _, _ = _measure(preset, prompt, out, 1.5 * sat)  # overloaded: serves its capacity
    assert served == pytest.approx(sat, rel=0.10)
    served, itl, ttft = _measure(preset, prompt, out, 0.5 * sat)  # half load: serves all, ITL = t(rate)
    p = m.predict(0.5 * sat)
    assert served == pytest.approx(0.5 * sat, rel=0.05)
    assert itl == pytest.approx(p.step_s, rel=0.12)
    assert ttft == pytest.approx(p.ttft_s, rel=0.35)


def test_capacity_at_an_slo_and_the_batch_limit() -> None:
    cfg = build_config({}, "h100-llama8b").engine
    m = CapacityModel(cfg, 400, 150)
    cap = m.capacity()
    assert cap.batch_limit == "max_num_seqs" and cap.max_batch == 256
    rate = m.capacity_at(tpot_s=0.012)
    assert 0 < rate < cap.saturation_rate and m.predict(rate).step_s == pytest.approx(0.012, rel=1e-6)
    assert m.capacity_at(tpot_s=0.001) == 0.0  # below one step's overhead: nothing meets it
    assert m.capacity_at(tpot_s=10.0) == pytest.approx(cap.saturation_rate, rel=1e-2)
    assert m.predict(cap.saturation_rate * 1.01).saturated
    small_kv = CapacityModel(build_config({"engine": {"num_gpu_blocks": 600}}, "h100-llama8b").engine, 400, 150)
    assert small_kv.capacity().batch_limit == "kv_cache" and small_kv.capacity().max_batch == pytest.approx(600 / 35)
