"""What the master watches over a long run besides the live SLO: drift and rolling verdicts.

One object for the coordinator: :class:`SoakWatch` joins :class:`loadgen.drift.DriftDetector`
(trends of latency, errors and the server's state; ``run_event`` drift points) and
:class:`loadgen.windows.WindowJudge` (``slo.windows``).  Created with the coordinator (so the
server-metrics scrape can be tapped before the run starts), started with the shared t0, fed
every aggregate interval, closed at run end; :meth:`summary` gives the ``summary.json``
additions and :meth:`window_failures` the lines the exit decision adds.

:meth:`state` is the checkpoint's ``soak`` entry (``loadgen/checkpoint.py``) and :meth:`restore`
(after :meth:`start`) loads it into a resumed master, so the drift trends and the ``slo.windows``
verdicts carry across a restart.  A malformed part is logged and skipped: that part starts
again from the restart, and the run goes on.
"""

from __future__ import annotations

import logging
from typing import Any

from collectors import schema
from collectors.counters import Counters
from collectors.histograms import HistogramSet
from collectors.point import Point
from loadgen.drift import DriftDetector, DriftTap, drift_phases
from loadgen.windows import WindowJudge

log = logging.getLogger(__name__)

STATE_VERSION = 1


class SoakWatch:
    def __init__(self, *, scenario: Any, run_id: str) -> None:
        self.scenario = scenario
        tags = {schema.T_RUN_ID.name: run_id, schema.T_SCENARIO.name: str(scenario.name)}
        self.drift = DriftDetector(phases=drift_phases(scenario), run_tags=tags)
        self.windows: WindowJudge | None = None

    def tap(self, telemetry: Any) -> DriftTap:
        """Hand this to the server-metrics scrape instead of ``telemetry`` (it forwards every point)."""
        return self.drift.tap(telemetry)

    def start(self, t0_wall: float, plan: Any) -> None:
        self.drift.start(t0_wall, plan.phases)
        slo = getattr(self.scenario, "slo", None)
        if slo is not None and slo.windows:
            self.windows = WindowJudge(
                objectives=slo.objectives, max_error_rate=slo.max_error_rate,
                judged_phases=self.scenario.slo_phases(), t0_wall=t0_wall, windows_s=slo.windows,
                confidence=slo.confidence, min_requests=int(slo.live.min_requests),
            )

    def on_interval(self, now_s: float, hs: HistogramSet, counters: Counters) -> list[Point]:
        if self.windows is not None:
            self.windows.on_interval(now_s, hs, counters)
        return self.drift.on_interval(now_s, hs, counters)

    def close(self, now_s: float) -> list[Point]:
        if self.windows is not None:
            self.windows.close()
        return self.drift.close(now_s)

    def state(self) -> dict[str, Any]:
        """JSON-safe and bounded (<= 512 bins per drift series; per window length one open window
        and <= 200 listed violations)."""
        return {"version": STATE_VERSION, "drift": self.drift.state(),
                "windows": self.windows.state() if self.windows is not None else None}

    def restore(self, state: Any) -> bool:
        """Load a :meth:`state` (after :meth:`start`); False when a part was not restored.

        Never raises: a malformed part is logged and that part starts afresh (an older
        checkpoint's ``null`` entry never gets here)."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            got = state.get("version") if isinstance(state, dict) else type(state).__name__
            log.warning("checkpoint: soak state is not version %d (got %r): drift trends and slo.windows "
                        "verdicts start again from the restart", STATE_VERSION, got)
            return False
        ok = True
        try:
            self.drift.restore(state.get("drift"))
        except ValueError as err:
            log.warning("checkpoint: soak drift state skipped, the drift trends start again from the "
                        "restart: %s", _one_line(err))
            ok = False
        saved = state.get("windows")
        if saved is None:
            return ok
        if self.windows is None:
            log.warning("checkpoint: soak slo.windows state skipped: the scenario has no slo.windows")
            return False
        try:
            self.windows.restore(saved)
        except ValueError as err:
            log.warning("checkpoint: soak slo.windows state skipped, the window verdicts start again from "
                        "the restart: %s", _one_line(err))
            return False
        return ok

    def window_failures(self) -> list[str]:
        return self.windows.failures() if self.windows is not None else []

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"drift": self.drift.summary()}
        if self.windows is not None:
            out["slo_windows"] = self.windows.summary()
        return out


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())[:300]


__all__ = ["STATE_VERSION", "SoakWatch"]
