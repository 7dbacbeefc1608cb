"""Length model, GPU thermal model, fault draws and request validation (pure units)."""

from __future__ import annotations

import math

import pytest

from gpusim.config import FaultsConfig, GpuConfig, LengthConfig, build_config
from gpusim.faults import FaultInjector
from gpusim.gpu import REASON_GPU_IDLE, REASON_SW_THERMAL_SLOWDOWN, GpuModel
from gpusim.lengths import block_hashes, natural_output_len, output_target, token_count
from gpusim.protocol import ApiError, parse_generation

CFG = build_config({}, "tiny-cpu")


def test_token_count_is_chars_over_four() -> None:
    lc = LengthConfig()
    assert token_count("", lc) == 0
    assert token_count("abcd", lc) == 1
    assert token_count("abcde", lc) == 2


def test_natural_length_is_deterministic_and_seeded() -> None:
    lc = LengthConfig()
    assert natural_output_len("hello", 0, lc) == natural_output_len("hello", 0, lc)
    draws = [natural_output_len(f"p{i}", 0, lc) for i in range(2000)]
    median = sorted(draws)[1000]
    assert 170 < median < 230  # configured median 200
    assert [natural_output_len(f"p{i}", 1, lc) for i in range(50)] != draws[:50]


def test_output_target_honours_max_min_and_ignore_eos() -> None:
    assert output_target(100, 30, 0, False) == (30, "stop")
    assert output_target(100, 300, 0, False) == (100, "length")
    assert output_target(100, 30, 0, True) == (100, "length")
    assert output_target(100, 30, 50, False) == (50, "stop")
    assert output_target(100, 30, 100, False) == (100, "length")


def test_block_hashes_share_prefixes_only() -> None:
    lc = LengthConfig()
    a = block_hashes("x" * 640 + "tail-a", 162, 16, lc)
    b = block_hashes("x" * 640 + "tail-b", 162, 16, lc)
    c = block_hashes("y" + "x" * 639 + "tail-a", 162, 16, lc)
    assert len(a) == 10 and a == b
    assert all(x != y for x, y in zip(a, c, strict=True))


def test_gpu_heats_towards_equilibrium_and_throttles() -> None:
    cfg = GpuConfig(thermal_tau_s=10.0, thermal_resistance_c_per_w=0.1, tdp_w=700, idle_power_w=70,
                    throttle_start_c=80, throttle_full_c=90)
    g = GpuModel(cfg)
    assert g.throttle_reasons() == REASON_GPU_IDLE
    for _ in range(10000):
        g.run(0.01, 1.0)
    # equilibrium: T = 30 + 0.1 * P with P falling as the clock throttles; between the thresholds
    assert 80 < g.temp_c < 90
    assert cfg.min_clock_mhz < g.clock_mhz < cfg.boost_clock_mhz
    assert g.throttle_reasons() & REASON_SW_THERMAL_SLOWDOWN
    assert cfg.idle_power_w < g.power_w < cfg.tdp_w
    assert g.util == pytest.approx(1.0)
    assert g.energy_mj > 100 * cfg.idle_power_w * 1000
    for _ in range(100000):
        g.run(0.01, 0.0)
    assert g.temp_c == pytest.approx(30 + 0.1 * 70, abs=0.1)
    assert g.clock_mhz == cfg.boost_clock_mhz and g.power_w == pytest.approx(70)


def test_temperature_follows_first_order_step_response() -> None:
    cfg = GpuConfig(thermal_tau_s=50.0, thermal_resistance_c_per_w=0.05, throttle_start_c=500, throttle_full_c=600)
    g = GpuModel(cfg)
    g.run(50.0, 1.0)  # one time constant at full power: 63 % of the way to equilibrium
    target = 30 + 0.05 * 700
    assert g.temp_c == pytest.approx(target + (30 - target) * math.exp(-1))


def test_status_faults_drawn_from_one_uniform() -> None:
    inj = FaultInjector(FaultsConfig(http_429=0.2, http_500=0.3, http_503=0.1), seed=3)
    draws = [inj.draw(True).status for _ in range(20000)]
    for status, p in ((429, 0.2), (500, 0.3), (503, 0.1), (None, 0.4)):
        assert draws.count(status) / 20000 == pytest.approx(p, abs=0.015)
    with pytest.raises(ValueError):
        inj.update({"http_500": 0.9})


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, 400, "model"),
        ({"model": "gpusim/tiny"}, 400, "messages"),
        ({"model": "gpusim/tiny", "messages": "hi"}, 400, "messages"),
        ({"model": "gpusim/tiny", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}, 400, "max_tokens"),
        ({"model": "gpusim/tiny", "messages": [{"role": "user", "content": "x"}], "max_tokens": True}, 400, "max_tokens"),
        ({"model": "gpusim/tiny", "messages": [{"role": "user", "content": "x"}], "n": 2}, 400, "n"),
        ({"model": "other", "messages": [{"role": "user", "content": "x"}]}, 404, "model"),
        ({"model": "gpusim/tiny", "messages": [{"role": "user", "content": "x" * 10000}]}, 400, "messages"),
        ({"model": "gpusim/tiny", "messages": [{"role": "user", "content": "x"}], "stream_options": {}}, 400,
         "stream_options"),
    ],
)
def test_bad_chat_requests_are_4xx(body: dict[str, object], status: int, param: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_generation(body, "chat", CFG)
    assert err.value.status == status and err.value.param == param
    assert set(err.value.body()["error"]) == {"message", "type", "param", "code"}


def test_max_completion_tokens_wins_and_default_fills_context() -> None:
    msgs = [{"role": "user", "content": "abcd" * 10}]
    req = parse_generation({"model": "gpusim/tiny", "messages": msgs, "max_tokens": 9,
                            "max_completion_tokens": 5}, "chat", CFG)
    assert req.max_tokens == 5 and req.prompt_tokens == 10 + 4
    req = parse_generation({"model": "gpusim/tiny", "prompt": [1, 2, 3]}, "completions", CFG)
    assert req.prompt_tokens == 3 and req.max_tokens == CFG.engine.max_model_len - 3
