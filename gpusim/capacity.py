"""Capacity predicted from the engine's own equations (no simulation), for sizing and sweeps.

In a steady state at arrival rate ``λ`` (requests/s) with mean prompt ``P`` and mean output
``O`` tokens, a cool card (clock factor 1) and no prefix-cache hits:

- every running sequence gets one token per step, so the batch is ``N = λ·O·t`` (Little's law on
  decode) and each step prefills ``λ·P·t`` prompt tokens;
- a step takes (docs/gpusim.md, "Step time")
  ``t = o + p·λ·P·t + d·N + a·N·(P + O/2)`` (``o`` overhead, ``p`` prefill s/token, ``d`` decode
  s/sequence, ``a`` attention s/KV token; a running sequence holds on average ``P + O/2`` KV
  tokens), so ``t(λ) = o / (1 − λ·c)`` with ``c = p·P + d·O + a·O·(P + O/2)``;
- the batch is capped by ``max_num_seqs`` and by the KV pool (``num_gpu_blocks`` blocks of
  ``block_size`` tokens, a sequence needing ``ceil((P + O)/block_size)`` at its end): ``N ≤ N_max``.

So the **saturation rate** (the most the engine can serve) is
``λ_sat = N_max / (O·o + N_max·c)`` (→ ``1/c`` for a large batch), and below it the inter-token
latency is ``t(λ)``, TPOT ≈ ``t``, TTFT ≈ ``(0.5 + k)·t + p·P`` (half a step waiting for the
step in flight, then ``k`` prefill steps, ``k`` = chunks of the token budget the prompt needs,
each longer by its share of the prompt's prefill; queueing for a slot is not modelled, so TTFT
is the least accurate figure), E2E ≈ TTFT + ``(O − 1)·t``.  The **capacity at an SLO** on TPOT/ITL/TTFT/E2E is the largest ``λ < λ_sat``
whose predicted mean value meets the threshold.  These are means: percentiles of real runs sit
above them, more so with wide length distributions.  Checked against the engine in virtual time
in tests/gpusim/test_capacity.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gpusim.config import EngineConfig

HEADROOM = 0.999  # searches stay strictly below saturation


@dataclass(frozen=True, slots=True)
class Prediction:
    rate: float  # requests/s offered
    step_s: float  # mean step time = ITL = TPOT
    batch: float  # mean running sequences
    ttft_s: float
    e2e_s: float
    output_tok_s: float
    saturated: bool


@dataclass(frozen=True, slots=True)
class Capacity:
    saturation_rate: float  # requests/s: the engine's maximum
    max_batch: float  # N_max: max_num_seqs or the KV pool, whichever binds
    batch_limit: str  # "max_num_seqs" | "kv_cache"
    cost_s_per_request: float  # c


class CapacityModel:
    """The engine equations for one workload (mean prompt and output tokens)."""

    def __init__(self, cfg: EngineConfig, prompt_tokens: float, output_tokens: float) -> None:
        if cfg.mode == "fixed":
            raise ValueError("a fixed-mode engine has no capacity limit")
        if prompt_tokens < 1 or output_tokens < 1:
            raise ValueError("prompt_tokens and output_tokens must be >= 1")
        self.cfg = cfg
        self.P = float(prompt_tokens)
        self.O = float(output_tokens)
        self.c = (cfg.prefill_s_per_token * self.P + cfg.decode_s_per_seq * self.O
                  + cfg.attention_s_per_kv_token * self.O * (self.P + self.O / 2.0))
        blocks_per_seq = math.ceil((self.P + self.O) / cfg.block_size)
        kv_batch = cfg.num_gpu_blocks / blocks_per_seq
        self.max_batch = float(min(cfg.max_num_seqs, kv_batch))
        self.batch_limit = "max_num_seqs" if cfg.max_num_seqs <= kv_batch else "kv_cache"

    def capacity(self) -> Capacity:
        o = self.cfg.step_overhead_s
        sat = self.max_batch / (self.O * o + self.max_batch * self.c)
        return Capacity(sat, self.max_batch, self.batch_limit, self.c)

    def predict(self, rate: float) -> Prediction:
        cap = self.capacity().saturation_rate
        if rate >= cap:
            inf = math.inf
            return Prediction(rate, inf, self.max_batch, inf, inf, cap * self.O, True)
        t = self.cfg.step_overhead_s / (1.0 - rate * self.c)
        chunks = max(1.0, math.ceil(self.P / max(1, self.cfg.max_num_batched_tokens)))
        ttft = (0.5 + chunks) * t + self.cfg.prefill_s_per_token * self.P
        return Prediction(rate, t, rate * self.O * t, ttft, ttft + (self.O - 1.0) * t, rate * self.O, False)

    def capacity_at(self, *, ttft_s: float | None = None, tpot_s: float | None = None,
                    e2e_s: float | None = None) -> float:
        """Highest rate whose predicted mean TTFT/TPOT/E2E meet every given threshold (0 if none does)."""
        hi = self.capacity().saturation_rate * HEADROOM

        def ok(rate: float) -> bool:
            p = self.predict(rate)
            return ((ttft_s is None or p.ttft_s <= ttft_s) and (tpot_s is None or p.step_s <= tpot_s)
                    and (e2e_s is None or p.e2e_s <= e2e_s))

        if not ok(0.0):
            return 0.0
        if ok(hi):
            return hi
        lo = 0.0
        for _ in range(60):  # latency rises monotonically with the rate: bisect
            mid = (lo + hi) / 2.0
            if ok(mid):
                lo = mid
            else:
                hi = mid
        return lo


__all__ = ["HEADROOM", "Capacity", "CapacityModel", "Prediction"]
