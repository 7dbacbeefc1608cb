"""The KV cache: a pool of fixed-size blocks with an optional prefix cache.

Blocks are counted, not stored: a sequence owns ``private`` anonymous blocks plus references
to shared, hashed prompt blocks.  A hashed block whose last reference is dropped stays
resident as *evictable* (LRU) so a later request with the same prefix can hit it, until an
allocation needs the space.  Hit accounting is in tokens, as vLLM's prefix-cache counters.
"""

from __future__ import annotations

from collections import OrderedDict


class BlockPool:
    """``num_blocks`` blocks of ``block_size`` tokens; prefix caching if ``prefix_caching``."""

    def __init__(self, num_blocks: int, block_size: int, prefix_caching: bool) -> None:
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.prefix_caching = prefix_caching
        self._free = num_blocks  # anonymous free blocks
        self._shared: dict[int, int] = {}  # hash -> refcount (in use)
        self._evictable: OrderedDict[int, None] = OrderedDict()  # cached, unreferenced (LRU first)
        self.queries = 0  # prompt tokens looked up
        self.hits = 0  # of which found cached

    @property
    def available(self) -> int:
        """Blocks that an allocation can take (free plus evictable)."""
        return self._free + len(self._evictable)

    @property
    def used(self) -> int:
        """Blocks referenced by live sequences."""
        return self.num_blocks - self.available

    def usage(self) -> float:
        """Fraction of blocks in use (vLLM's kv_cache_usage_perc, 0..1)."""
        return self.used / self.num_blocks

    def blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.block_size)

    def take(self, n: int) -> bool:
        """Allocate ``n`` anonymous blocks, evicting cached ones if needed; False if impossible."""
        if n <= 0:
            return True
        if n > self.available:
            return False
        from_free = min(n, self._free)
        self._free -= from_free
        for _ in range(n - from_free):
            self._evictable.popitem(last=False)
        return True

    def give_back(self, n: int) -> None:
        """Release ``n`` anonymous blocks."""
        self._free += n

    def match_prefix(self, hashes: tuple[int, ...], prompt_tokens: int) -> list[int]:
        """Reference the longest cached prefix of ``hashes``; returns the hashes now held.

        The last prompt token is always recomputed (as vLLM does), so a full hit leaves at
        least one token to prefill.  The caller counts ``queries``/``hits`` once the request
        is actually admitted (a request that has to wait is not counted twice).
        """
        held: list[int] = []
        if not self.prefix_caching:
            return held
        limit = (prompt_tokens - 1) // self.block_size
        for h in hashes[:limit]:
            if h in self._shared:
                self._shared[h] += 1
            elif h in self._evictable:
                del self._evictable[h]
                self._shared[h] = 1
            else:
                break
            held.append(h)
        return held

    def publish(self, hashes: tuple[int, ...], already: int) -> list[int]:
        """Turn a sequence's computed anonymous prompt blocks ``hashes[already:]`` into shared ones.

        Returns the hashes that were converted (one anonymous block each); hashes already cached
        by someone else are skipped (the sequence keeps its private copy).
        """
        if not self.prefix_caching:
            return []
        done: list[int] = []
        for h in hashes[already:]:
            if h in self._shared or h in self._evictable:
                continue
            self._shared[h] = 1
            done.append(h)
        return done

    def release(self, held: list[int]) -> None:
        """Drop references to shared blocks; unreferenced ones become evictable."""
        for h in held:
            ref = self._shared[h] - 1
            if ref:
                self._shared[h] = ref
            else:
                del self._shared[h]
                self._evictable[h] = None


__all__ = ["BlockPool"]
