"""A run's summary from its checkpoint: ``inferload report`` on a running or crashed run.

:func:`summary_from_checkpoint` rebuilds, from ``checkpoint.json`` (``loadgen/checkpoint.py``),
what :func:`loadgen.run_summary.summarize` reads from the master's coordinator, and returns the
same ``summary.json`` dict.  No Locust, no gevent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collectors.counters import Counters
from collectors.histograms import HistogramSet
from loadgen.checkpoint import checkpoint_path, load_checkpoint, restore_merged
from userinput.errors import InputError


class _Busy:
    def __init__(self, d: dict[str, Any]) -> None:
        self._d = d

    def to_dict(self) -> dict[str, Any]:
        return self._d


@dataclass(slots=True)
class _Telemetry:
    stop_requested: bool = False


@dataclass(slots=True)
class CheckpointView:
    """What :func:`loadgen.run_summary.summarize` reads from a coordinator, rebuilt from a checkpoint."""

    t0_wall: float
    n_slots: int
    local: bool
    hs: HistogramSet
    counters: Counters
    busy: _Busy
    live: Any = None
    stop_requested_at: float | None = None
    stopped_by_sink: bool = False
    telemetry: _Telemetry = field(default_factory=_Telemetry)
    cpu_max: dict[str, float] = field(default_factory=dict)
    busy_by_worker: dict[str, Any] = field(default_factory=dict)
    lost_slots: list[dict[str, Any]] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    done_slots: list[int] = field(default_factory=list)
    partial: bool = False  # a checkpoint of a run still going (or crashed): its slots are not done yet
    soak: Any = None  # loadgen/soak_watch.py SoakWatch, when the checkpoint holds its state

    def offset_s(self, wall: float | None = None) -> float:
        return (self.t0_wall if wall is None else wall) - self.t0_wall

    def missing_done_slots(self) -> list[int]:
        if self.partial:
            return []
        return sorted(set(range(self.n_slots)) - set(self.done_slots))


def summary_from_checkpoint(run_dir: Path) -> dict[str, Any]:
    """The ``summary.json`` of the run so far, from ``run_dir/checkpoint.json``.

    Same shape as the final summary, plus ``"partial": true`` and ``checkpoint_unix`` /
    ``checkpoint_offset_s``; ``ended_at`` is the checkpoint's time.  The run is judged as if it
    had stopped at the checkpoint: arrivals due after it count as ``not_sent_after_stop``;
    requests in flight at the checkpoint show as ``unaccounted``.  (The final checkpoint of a
    finished run gives its whole summary, without ``partial``.)
    """
    from loadgen.config import Scenario
    from loadgen.live_run import LiveRun
    from loadgen.plan import Plan
    from loadgen.run_summary import summarize

    ckpt = load_checkpoint(run_dir)
    try:
        scenario = Scenario.model_validate(dict(ckpt["scenario"]))
    except ValueError as err:
        raise InputError(f"{checkpoint_path(run_dir)}: its scenario does not validate: {err}") from None
    plan = Plan(scenario)
    hs, counters = HistogramSet(), Counters()
    restore_merged(ckpt, hs, counters)
    t0 = float(ckpt["t0_unix"])
    busy = dict(ckpt.get("busy") or {})
    own = "local" if ckpt.get("mode") == "local" else "master"
    live = LiveRun(scenario=scenario, plan=plan, run_id=str(ckpt["run_id"]), t0_wall=t0, cumulative=hs)
    if ckpt.get("live"):
        live.restore(ckpt["live"])
    final = bool(ckpt.get("final"))
    written = float(ckpt["written_unix"])
    soak = _soak(ckpt, scenario, plan, t0, written, final)
    view = CheckpointView(
        t0_wall=t0, n_slots=int(ckpt.get("n_slots", 0)), local=ckpt.get("mode") == "local", hs=hs,
        counters=counters, busy=_Busy(busy.pop(own, {})), busy_by_worker=busy, live=live,
        stop_requested_at=ckpt.get("stop_requested_unix"),
        # a partial run is cut at the checkpoint: arrivals after it are "not sent after stop"
        stopped_by_sink=bool(ckpt.get("stopped_by_sink")),
        cpu_max={k: float(v) for k, v in (ckpt.get("cpu_max") or {}).items()},
        lost_slots=list(ckpt.get("lost_slots") or []), gaps=list(ckpt.get("gaps") or []),
        done_slots=[int(s) for s in ckpt.get("done_slots") or []], partial=not final, soak=soak,
    )
    if not final and view.stop_requested_at is None:
        view.stop_requested_at = written  # the run so far: what is due after the checkpoint is not counted
    started = _parse_time(ckpt.get("started_at")) or datetime.fromtimestamp(t0, UTC)
    summary = summarize(scenario, plan, str(ckpt["run_id"]), ckpt.get("mode") != "local", view,
                        started, datetime.fromtimestamp(written, UTC), {}, None)
    if not final:
        summary["partial"] = True
        summary["stopped_early"] = ckpt.get("stop_requested_unix") is not None
    summary["checkpoint_unix"] = written
    summary["checkpoint_offset_s"] = round(written - t0, 3)
    return summary


def _soak(ckpt: dict[str, Any], scenario: Any, plan: Any, t0: float, written: float, final: bool) -> Any:
    """The checkpoint's drift trends and ``slo.windows`` verdicts (the summary's ``drift`` and
    ``slo_windows``), or None when it holds none (older checkpoints) or they do not restore.

    A partial run is closed at the checkpoint as a finished one is at its end: the open windows
    are judged (as partial windows) and the trends get their final evaluation."""
    if ckpt.get("soak") is None:
        return None
    from loadgen.soak_watch import SoakWatch

    soak = SoakWatch(scenario=scenario, run_id=str(ckpt["run_id"]))
    soak.start(t0, plan)
    if not soak.restore(ckpt["soak"]):
        return None  # logged
    if not final:
        soak.close(written)
    return soak


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


__all__ = ["CheckpointView", "summary_from_checkpoint"]
