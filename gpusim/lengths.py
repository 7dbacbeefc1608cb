"""The deterministic length model: text -> token counts, prefix-block hashes, output lengths.

No tokenizer is downloaded: a prompt of ``n`` characters counts ``ceil(n / chars_per_token)``
tokens (plus a fixed overhead per chat message, as a chat template adds).  The "natural"
output length (where the model would emit EOS) is a log-normal draw seeded by the prompt
text and the config seed, so the same request always gets the same length.
"""

from __future__ import annotations

import math
import random
import zlib

from gpusim.config import LengthConfig

_WORDS = (
    " the", " model", " token", " is", " a", " simulated", " answer", " of", " to", " and",
    " GPU", " batch", " in", " that", " it", " with", " for", " on", " as", " by",
)


def token_count(text: str, cfg: LengthConfig) -> int:
    """Tokens in ``text`` (at least 1 for non-empty text, 0 for empty)."""
    return math.ceil(len(text) / cfg.chars_per_token) if text else 0


def natural_output_len(key: str, seed: int, cfg: LengthConfig) -> int:
    """The seeded log-normal length at which generation would stop by itself (>= 1)."""
    rng = random.Random(zlib.crc32(key.encode("utf-8", "surrogatepass")) ^ (seed * 0x9E3779B1))
    if cfg.natural_output_sigma == 0:
        return max(1, round(cfg.natural_output_median))
    return max(1, round(rng.lognormvariate(math.log(cfg.natural_output_median), cfg.natural_output_sigma)))


def output_target(max_tokens: int, natural: int, min_tokens: int, ignore_eos: bool) -> tuple[int, str]:
    """(tokens to generate, finish_reason) from the request's limits and the natural length."""
    if ignore_eos or natural >= max_tokens:
        return max_tokens, "length"
    n = max(natural, min_tokens)
    return (n, "stop") if n < max_tokens else (max_tokens, "length")


def block_hashes(text: str, prompt_tokens: int, block_size: int, cfg: LengthConfig) -> tuple[int, ...]:
    """Chained hashes of the prompt's full KV blocks (block i depends on blocks 0..i)."""
    full = prompt_tokens // block_size
    if full == 0:
        return ()
    step = max(1, round(block_size * cfg.chars_per_token))
    out: list[int] = []
    h = 0
    data = text.encode("utf-8", "surrogatepass")
    for i in range(full):
        h = zlib.crc32(data[i * step:(i + 1) * step], h & 0xFFFFFFFF) | ((i + 1) << 32)
        out.append(h)
    return tuple(out)


def token_text(index: int) -> str:
    """The text of output token ``index`` (deterministic filler words)."""
    return _WORDS[index % len(_WORDS)]


__all__ = ["block_hashes", "natural_output_len", "output_target", "token_count", "token_text"]
