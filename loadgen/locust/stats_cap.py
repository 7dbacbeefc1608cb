"""Keeps Locust's own statistics bounded over a soak (days at hundreds of requests per second).

inferload fires one Locust request event per finished request (``e2e:<phase>``, for Locust's web
UI); the exact numbers live in inferload's HDR histograms.  Locust keeps, per request name and
for the total, a dict of requests and failures *per wall-clock second* for the whole run (only
the last ~12 s are read, for the current RPS), its web-UI chart ``history``, and one error entry
per distinct error message.  Left alone they grow by one entry per second (per name) and by one
entry per unique error text.  :func:`trim_locust_stats` (the coordinator calls it every aggregate
interval, on the master and in a local run) drops per-second entries older than
:data:`KEEP_S`, keeps the last :data:`MAX_HISTORY` chart rows and the :data:`MAX_ERRORS` most
frequent error entries; :func:`error_message` makes the messages fired per request repeat
(numbers, ids and addresses become ``N``/``X``) so equal failures share one entry.
"""

from __future__ import annotations

import re
from typing import Any

KEEP_S = 30  # per-second counts kept (Locust's current RPS reads the last ~12 s)
MAX_HISTORY = 720  # web-UI chart rows (Locust adds one every few seconds while its UI charts run)
MAX_ERRORS = 100  # distinct error entries kept (the most frequent)
MAX_MESSAGE = 120

_HEX = re.compile(r"\b(?:0x)?[0-9a-f]*\d[0-9a-f]*[a-f][0-9a-f]*\b|\b[0-9a-f]{8,}\b", re.IGNORECASE)
_NUM = re.compile(r"\d+(?:\.\d+)?")


def error_message(error: str, detail: str | None) -> str:
    """``error`` plus its detail with ids and numbers masked, so repeated failures share one text."""
    if not detail:
        return str(error)
    text = _NUM.sub("N", _HEX.sub("X", detail))
    return f"{error}: {text}"[:MAX_MESSAGE]


def trim_locust_stats(stats: Any, now_s: float, *, keep_s: int = KEEP_S, max_history: int = MAX_HISTORY,
                      max_errors: int = MAX_ERRORS) -> int:
    """Trim ``stats`` (a ``locust.stats.RequestStats``) in place; returns the entries dropped."""
    cutoff = int(now_s) - keep_s
    dropped = 0
    for entry in (stats.total, *stats.entries.values()):
        for per_sec in (entry.num_reqs_per_sec, entry.num_fail_per_sec):
            old = [t for t in per_sec if t < cutoff]
            for t in old:
                del per_sec[t]
            dropped += len(old)
    history = stats.history
    if len(history) > max_history:
        extra = len(history) - max_history
        del history[:extra]
        dropped += extra
    errors = stats.errors
    if len(errors) > max_errors:
        ranked = sorted(errors.items(), key=lambda kv: kv[1].occurrences, reverse=True)
        for key, _ in ranked[max_errors:]:
            del errors[key]
        dropped += len(ranked) - max_errors
    return dropped


__all__ = ["KEEP_S", "MAX_ERRORS", "MAX_HISTORY", "error_message", "trim_locust_stats"]
