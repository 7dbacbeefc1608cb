"""The seed streams of a run: every random draw of the load comes from one of these.

Each draw uses ``SeedSequence(scenario.seed, spawn_key=(stream, *key))``, so a stream's values
depend only on the seed and the key, never on the worker count, the order of the calls or the
other streams:

======================  =======================  ===============================================
stream                  key                      draws
======================  =======================  ===============================================
``ARRIVAL_TIMES`` 0     ``(phase_index,)``       the arrival times of one phase
``REQUEST_ATTRIBUTES``  ``(idx // 4096,)``       traffic class, prompt/output lengths and
1                                                dataset row of a block of 4096 arrivals
``PROMPT_TEXT`` 2       ``(idx,)``               the words of arrival ``idx``'s synthetic prompt
``CLOSED_LOOP`` 3       ``(phase, slot, user)``  class, lengths and dataset row of the requests
                                                 of one closed-loop user
======================  =======================  ===============================================
"""

from __future__ import annotations

import numpy as np

ARRIVAL_TIMES = 0
REQUEST_ATTRIBUTES = 1
PROMPT_TEXT = 2
CLOSED_LOOP = 3


def stream_rng(seed: int, stream: int, *key: int) -> np.random.Generator:
    """The generator of ``stream`` at ``key`` for ``seed`` (see the module docstring)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, *key)))


__all__ = ["ARRIVAL_TIMES", "CLOSED_LOOP", "PROMPT_TEXT", "REQUEST_ATTRIBUTES", "stream_rng"]
