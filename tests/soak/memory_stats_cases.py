"""Bounded memory (issue 13 §1): Locust's own statistics stop growing with run length (run by test_memory_stats.py).

Regression: a local run (and the master) kept Locust's per-second request counts of every
``e2e:<phase>`` name for the whole run, and one error entry per unique error text (messages that
carried request ids) -- both grew without bound over a soak.
"""

from __future__ import annotations

from locust.stats import RequestStats

from loadgen.locust.stats_cap import KEEP_S, error_message, trim_locust_stats


def _soak(stats: RequestStats, seconds: int, start: float = 1_700_000_000.0) -> None:
    """``seconds`` of one request per second, each failing with a unique request id."""
    for i in range(seconds):
        now = start + i
        for entry in (stats.total, stats.get("e2e:steady", "LLM")):
            entry.num_reqs_per_sec[int(now)] += 1
            entry.num_fail_per_sec[int(now)] += 1
        stats.log_error("LLM", "e2e:steady",
                        RuntimeError(error_message("http_5xx", f"HTTP 500 for request chatcmpl-{i:08x}ab at {now}")))
        if i % 5 == 0:
            trim_locust_stats(stats, now)


def test_per_second_counts_stay_bounded_over_an_hour() -> None:
    stats = RequestStats()
    _soak(stats, 3600)
    entry = stats.get("e2e:steady", "LLM")
    assert len(entry.num_reqs_per_sec) <= KEEP_S + 6
    assert len(stats.total.num_fail_per_sec) <= KEEP_S + 6
    assert entry.num_reqs_per_sec[int(1_700_000_000 + 3599)] == 1  # the recent seconds survive


def test_unique_error_texts_share_one_entry() -> None:
    stats = RequestStats()
    _soak(stats, 600)
    assert len(stats.errors) == 1
    (err,) = stats.errors.values()
    assert err.occurrences == 600
    assert "chatcmpl-X" in str(err.error)


def test_distinct_errors_are_capped_keeping_the_most_frequent() -> None:
    stats = RequestStats()
    for i in range(300):
        stats.log_error("LLM", "e2e:p", f"kind-{chr(65 + i % 26)}{chr(65 + i // 26)}")
    for _ in range(5):
        stats.log_error("LLM", "e2e:p", "the frequent one")
    trim_locust_stats(stats, 0.0, max_errors=10)
    assert len(stats.errors) == 10
    assert any(e.error == "the frequent one" for e in stats.errors.values())


def test_chart_history_is_capped() -> None:
    stats = RequestStats()
    stats.history.extend({"time": str(i)} for i in range(2000))
    trim_locust_stats(stats, 0.0, max_history=100)
    assert [h["time"] for h in stats.history[:1]] == ["1900"]
    assert len(stats.history) == 100


def test_error_message_masks_ids_and_numbers_but_keeps_the_words() -> None:
    assert error_message("timeout", None) == "timeout"
    assert error_message("http_5xx", "HTTP 503 from 10.0.0.7:8000 (req 3f9a2c11)") == "http_5xx: HTTP N from N.N:N (req X)"
    assert len(error_message("x", "y" * 500)) == 120
