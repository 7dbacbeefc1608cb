"""The terminal lines of a soak's findings (loadgen/soak_render.py)."""

from __future__ import annotations

import io

from rich.console import Console

from loadgen.soak_render import render_soak


def test_flagged_drift_and_window_results_are_printed() -> None:
    out = io.StringIO()
    summary = {
        "drift": {"flagged": ["ttft_p99"], "series": {
            "ttft_p99": {"unit": "s", "slope_per_h": 0.012, "ci_lo_per_h": 0.010, "ci_hi_per_h": 0.014,
                         "rise_fraction": 0.35, "values": 900, "drifting": True},
            "itl_p50": {"unit": "s", "slope_per_h": 0.0, "ci_lo_per_h": -0.1, "ci_hi_per_h": 0.1,
                        "values": 900, "drifting": False}}},
        "slo_windows": {"1h": {"passed": False, "violating": 2, "judged": 72, "not_judged": 1}},
    }
    render_soak(Console(file=out, width=200, color_system=None), summary)
    text = out.getvalue()
    assert "drift: ttft_p99 rises +12.00 ms/h (95 % CI +10.00 ms/h .. +14.00 ms/h), +35% over the run" in text
    assert "itl_p50" not in text
    assert "slo.windows 1h: 2 of 72 windows violate (1 not judged)" in text


def test_nothing_to_say_prints_nothing() -> None:
    out = io.StringIO()
    render_soak(Console(file=out), {"drift": {"flagged": [], "series": {}}})
    assert out.getvalue() == ""
