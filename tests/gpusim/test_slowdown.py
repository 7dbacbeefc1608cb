"""faults.slowdown_per_hour: a server that degrades slowly (the soak drift detector's test subject)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from gpusim.config import FaultsConfig, build_config
from gpusim.engine import BatchingEngine, FixedEngine
from gpusim.faults import slowdown_factor
from gpusim.virtual import Arrival, simulate
from tests.gpusim.helpers import chat_body, config, read_sse, serving


def test_slowdown_factor_grows_linearly_with_simulated_hours() -> None:
    cfg = FaultsConfig(slowdown_per_hour=0.2)
    assert slowdown_factor(cfg, 0.0) == 1.0
    assert slowdown_factor(cfg, 3600.0) == pytest.approx(1.2)
    assert slowdown_factor(cfg, 7200.0) == pytest.approx(1.4)
    assert slowdown_factor(FaultsConfig(), 7200.0) == 1.0


def test_negative_slowdown_is_rejected() -> None:
    with pytest.raises(Exception, match="slowdown_per_hour"):
        build_config({"faults": {"slowdown_per_hour": -0.1}})


def _itls(eng: FixedEngine | BatchingEngine, t: float) -> list[float]:
    seqs = simulate(eng, [Arrival(t, 64, 20)])
    s = seqs[0]
    return [s.token_times[i + 1] - s.token_times[i] for i in range(len(s.token_times) - 1)]


def test_fixed_engine_ttft_and_itl_grow_with_simulated_time() -> None:
    cfg = build_config({"engine": {"mode": "fixed", "fixed_ttft_s": 0.1, "fixed_itl_s": 0.01},
                        "faults": {"slowdown_per_hour": 0.5}}, "fixed")
    eng = FixedEngine(cfg.engine)
    eng.slowdown = lambda now: slowdown_factor(cfg.faults, now)
    late = simulate(eng, [Arrival(7200.0, 64, 5)])[0]  # 2 simulated hours in: 2x slower
    assert late.first_token is not None
    assert late.first_token - late.arrival == pytest.approx(0.2, rel=1e-6)
    assert late.token_times[1] - late.token_times[0] == pytest.approx(0.02, rel=1e-3)


def test_batching_engine_steps_slow_down() -> None:
    cfg = build_config({"faults": {"slowdown_per_hour": 1.0}}, "h100-llama8b")
    early, late = BatchingEngine(cfg.engine), BatchingEngine(cfg.engine)
    for eng in (early, late):
        eng.slowdown = lambda now: slowdown_factor(cfg.faults, now)
    itl0 = sum(_itls(early, 0.0)) / 19
    itl3 = sum(_itls(late, 3 * 3600.0)) / 19  # 3 simulated hours: steps 4x as long
    assert itl3 == pytest.approx(4 * itl0, rel=0.01)


@pytest.mark.integration
def test_server_applies_slowdown_set_at_runtime_with_time_scale() -> None:
    async def main() -> tuple[float, float]:
        cfg = config("fixed")
        # 1 real second = 0.01 simulated hour
        async with serving(cfg, time_scale=36.0) as (url, _sim), aiohttp.ClientSession() as http:
            async def ttft() -> float:
                t = time.perf_counter()
                async with http.post(url + "/v1/chat/completions",
                                     json=chat_body(cfg.model, stream=True, max_tokens=2)) as resp:
                    await read_sse(resp)
                return time.perf_counter() - t

            before = await ttft()
            async with http.post(url + "/admin/faults", json={"slowdown_per_hour": 3000.0}) as resp:
                assert resp.status == 200
            await asyncio.sleep(1.0)  # >= 0.01 simulated hour in: every step now >= 31x longer
            return before, await ttft()

    before, after = asyncio.run(main())
    assert after > 5 * before
