"""Checkpoints of a run: the master's merged state in one JSON file, and what reads it back.

Every ``generator.checkpoint_interval_s`` (and once more at the end of the run) the master
writes ``checkpoint.json`` into the run folder, atomically (temporary file, fsync, rename, so a
reader or a crash never sees half a file): the run id, the scenario (as the dict sent to
workers), ``t0``, the plan offset reached, the cumulative merged HDR histograms and counters,
the live SLO state, the slots, lost slots and the gaps of earlier restarts.

Two readers:

- :func:`loadgen.checkpoint_summary.summary_from_checkpoint`: the ``summary.json`` of the run
  so far (``"partial": true``), for ``inferload report`` on a running or crashed run;
- :func:`restore`: ``inferload run --resume RUN_DIR``.  The restarted master keeps the run id
  and ``t0`` (the global arrival sequence continues), workers send only the arrivals after the
  restart offset, and every arrival due up to that offset that the checkpoint does not account
  for (never sent, or sent but not yet reported when the master died) is counted as
  ``lost_in_gap``, per phase and class.  So ``expected = requests + dropped + lost_in_gap
  (+ not sent after a stop)`` holds exactly across the restart.

Building the state runs on the master's loop once per checkpoint (7-35 ms, mostly the HDR
encode; it grows with phases x classes x metrics, not with run length: bench/bench_checkpoint.py,
docs/soak.md); the file write happens in a thread.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from collectors.counters import C_DROPPED, C_LOST_IN_GAP, C_REQUESTS, Counters
from collectors.histograms import HistogramSet
from loadgen.slo import percentile_ms
from userinput.errors import InputError

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.json"
CHECKPOINT_SCHEMA = "inferload.checkpoint/1"


def checkpoint_path(run_dir: Path) -> Path:
    return run_dir / CHECKPOINT_FILE


# ---- writing --------------------------------------------------------------------------------------
def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    try:  # the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


class Checkpointer:
    """Writes a coordinator's checkpoints to one file: the state on the loop, the file in a thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: Any = None  # the thread writing the previous checkpoint
        self.last_encode_ms = 0.0  # time on the loop of the last checkpoint (state + JSON)

    def save(self, coord: Any, now: float, *, final: bool = False) -> None:
        """Never raises: a failed checkpoint is logged and the run goes on.  The final one is
        written synchronously; a periodic one is skipped while the previous write still runs."""
        import gevent

        t = time.perf_counter()
        try:
            if self._writer is not None and not self._writer.ready():
                if not final:
                    log.warning("checkpoint skipped: the previous one is still being written")
                    return
                self._writer.wait()
            text = json.dumps(checkpoint_state(coord, now, final=final), separators=(",", ":"))
            self.last_encode_ms = (time.perf_counter() - t) * 1000
            if final:
                write_atomic(self.path, text)
            else:
                self._writer = gevent.get_hub().threadpool.spawn(write_atomic, self.path, text)
            log.info("%s -> %s (%d KiB, %.0f ms)", status_line(coord, now), self.path, len(text) // 1024,
                     self.last_encode_ms)
            coord.busy.add("checkpointing", time.perf_counter() - t)  # the master's own work (loadgen/busy.py)
        except Exception:
            log.exception("checkpoint failed")


def checkpoint_state(coord: Any, now: float, *, final: bool = False) -> dict[str, Any]:
    """The coordinator's state at wall time ``now`` as a JSON-safe dict (``coord``: a Coordinator)."""
    return {
        "schema": CHECKPOINT_SCHEMA,
        "run_id": coord.run_id,
        "scenario": coord.scenario_dict,
        "mode": "local" if coord.local else "distributed",
        "started_at": coord.started_at.isoformat() if coord.started_at is not None else None,
        "t0_unix": coord.t0_wall,
        "written_unix": now,
        "offset_s": now - coord.t0_wall,
        "final": final,
        "stop_requested_unix": coord.stop_requested_at,
        "stopped_by_sink": bool(coord.stopped_by_sink or coord.telemetry.stop_requested),
        "n_slots": coord.n_slots,
        "slots": {str(s): coord.labels.get(c, c) for s, c in sorted(coord.slot_owner.items())},
        "done_slots": sorted(coord.done_slots),
        "lost_slots": list(coord.lost_slots),
        "gaps": list(coord.gaps),
        "cpu_max": dict(coord.cpu_max),
        "busy": {("local" if coord.local else "master"): coord.busy.to_dict(), **coord.busy_by_worker},
        "hist": coord.hs.encode(),
        "histograms_clamped": coord.hs.clamped,
        "counters": coord.counters.encode(),
        "live": coord.live.state() if coord.live is not None else None,
        "soak": _soak_state(coord),
    }


def _soak_state(coord: Any) -> Any:
    """Drift trends and ``slo.windows`` verdicts (``loadgen/soak_watch.py``), when it keeps a state."""
    soak = getattr(coord, "soak", None)
    if soak is None or not hasattr(soak, "state"):
        return None
    try:
        return soak.state()
    except Exception:  # the rest of the checkpoint still counts; a resume starts these again
        log.exception("checkpoint: drift / slo.windows state failed; saved as null")
        return None


def status_line(coord: Any, now: float) -> str:
    """One line at each checkpoint: elapsed, rate, p99s against the SLO, violations so far."""
    off = max(0.0, now - coord.t0_wall)
    requests = coord.counters.total(C_REQUESTS)
    parts = [f"checkpoint at {_hms(off)} of {_hms(float(coord.plan.duration_s))}",
             f"{requests} requests ({requests / off if off > 0 else 0.0:.1f}/s)"]
    slo = getattr(coord.scenario, "slo", None)
    judged = [p for p in coord.scenario.slo_phases() if p in set(coord.hs.phases())]
    seen: set[str] = set()
    for o in slo.objectives if slo is not None else []:
        key = f"{o.metric} p{float(o.percentile):g}"
        if key in seen:
            continue
        seen.add(key)
        value, _ = percentile_ms(coord.hs, str(o.metric), judged, float(o.percentile))
        mark = "?" if value is None else ("ok" if value <= float(o.max_ms) else "OVER")
        shown = "-" if value is None else f"{value:.0f}"
        parts.append(f"{key} {shown}/{float(o.max_ms):g} ms {mark}")
    errors = sum(coord.counters.errors().values())
    parts.append(f"errors {errors}")
    if coord.live is not None:
        parts.append(f"SLO violations {len(coord.live.slo.violations)}")
    return ", ".join(parts)


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


# ---- reading --------------------------------------------------------------------------------------
def load_checkpoint(run_dir: Path) -> dict[str, Any]:
    """The checkpoint of ``run_dir``; :class:`InputError` (exit 2) when missing or not one."""
    path = checkpoint_path(run_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{run_dir}: no {CHECKPOINT_FILE} (the master writes one every "
                         f"generator.checkpoint_interval_s)") from None
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: cannot read the checkpoint ({err})") from None
    if not isinstance(data, dict) or data.get("schema") != CHECKPOINT_SCHEMA:
        raise InputError(f"{path}: not an inferload checkpoint (schema {CHECKPOINT_SCHEMA})")
    return data


def restore_merged(ckpt: Mapping[str, Any], hs: HistogramSet, counters: Counters) -> None:
    """Merge the checkpoint's cumulative histograms and counters into ``hs`` and ``counters``."""
    hs.merge_encoded(ckpt.get("hist") or {})
    hs.clamped += int(ckpt.get("histograms_clamped", 0))
    counters.merge_encoded(ckpt.get("counters") or {})


class DueWalker:
    """Counts the global sequence's arrivals per phase and class up to a plan offset, in steps.

    A resumed master walks up to "now" first (long for a long run: ~2 us per arrival; in a
    thread), then, once the restart offset is chosen, the few seconds up to it.
    """

    def __init__(self, plan: Any, open_loop: set[str]) -> None:
        self.due = Counters()  # C_REQUESTS per (phase, class): arrivals due so far
        self.open_loop = open_loop
        self.until_s = float("-inf")
        self._it = iter(plan.arrivals(0, 1))
        self._next: Any = next(self._it, None)

    def advance(self, until_s: float) -> Counters:
        """Count every arrival with offset <= ``until_s``; returns the counts so far."""
        while self._next is not None and self._next.offset_s <= until_s:
            a = self._next
            if a.phase in self.open_loop:
                self.due.add(a.phase, a.traffic_class, C_REQUESTS)
            self._next = next(self._it, None)
        self.until_s = max(self.until_s, until_s)
        return self.due


def open_loop_phases(plan: Any) -> set[str]:
    return {str(ph.name) for ph in plan.phases if getattr(ph, "closed_loop_users", None) is None}


def gap_losses(plan: Any, counters: Counters, until_s: float, open_loop: set[str],
               walker: DueWalker | None = None) -> Counters:
    """Arrivals due at plan offsets <= ``until_s`` (open-loop phases) not accounted in ``counters``.

    Accounted = requests + dropped + lost_in_gap, per phase and class.  ``walker``: one that
    has already walked part of the way (see :class:`DueWalker`).
    """
    due = (walker or DueWalker(plan, open_loop)).advance(until_s)
    lost = Counters()
    for phase, cls in due.groups():
        accounted = sum(counters.get(phase, cls, c) for c in (C_REQUESTS, C_DROPPED, C_LOST_IN_GAP))
        n = due.get(phase, cls, C_REQUESTS) - accounted
        if n > 0:
            lost.add(phase, cls, C_LOST_IN_GAP, n)
    return lost


def restore(coord: Any, ckpt: Mapping[str, Any], restart_offset_s: float,
            walker: DueWalker | None = None) -> dict[str, Any]:
    """Load ``ckpt`` into a started coordinator of a resumed run; returns the gap's record.

    ``restart_offset_s``: the plan offset from which the workers send again; ``walker``: a
    :class:`DueWalker` already at (or near) that offset.
    """
    restore_merged(ckpt, coord.hs, coord.counters)
    coord.lost_slots.extend(ckpt.get("lost_slots") or [])
    coord.gaps.extend(ckpt.get("gaps") or [])
    for k, v in (ckpt.get("cpu_max") or {}).items():
        coord.cpu_max[k] = max(coord.cpu_max.get(k, 0.0), float(v))
    if ckpt.get("stopped_by_sink"):
        coord.stopped_by_sink = True
    if coord.live is not None and ckpt.get("live"):
        coord.live.restore(ckpt["live"])
    soak = getattr(coord, "soak", None)
    if soak is not None and hasattr(soak, "restore") and ckpt.get("soak") is not None:
        soak.restore(ckpt["soak"])
    lost = gap_losses(coord.plan, coord.counters, restart_offset_s, open_loop_phases(coord.plan), walker)
    coord.counters.merge(lost)
    gap = {
        "checkpoint_offset_s": round(float(ckpt["offset_s"]), 3),
        "restart_offset_s": round(restart_offset_s, 3),
        "checkpoint_unix": float(ckpt["written_unix"]),
        "lost_in_gap": lost.total(C_LOST_IN_GAP),
    }
    coord.gaps.append(gap)
    log.warning("resumed run %s from its checkpoint at %.1f s: sending again from %.1f s; %d arrivals "
                "in between are lost in the gap", coord.run_id, gap["checkpoint_offset_s"],
                restart_offset_s, gap["lost_in_gap"])
    return gap


def restart_offset(plan: Any, t0_wall: float, lead_s: float) -> tuple[float, DueWalker]:
    """A resumed run's restart offset (``lead_s`` from now) and a walker already there.

    The walk up to now runs in a thread (a long run has millions of arrivals behind it) so the
    master keeps answering heartbeats; the restart offset is chosen after it.
    """
    import gevent

    walker = DueWalker(plan, open_loop_phases(plan))
    gevent.get_hub().threadpool.apply(walker.advance, (time.time() - t0_wall,))
    at = time.time() + lead_s - t0_wall
    walker.advance(at)  # the last few seconds, before any worker can send
    return at, walker


def check_resumable(ckpt: Mapping[str, Any], run_dir: Path) -> None:
    """A finished or stopping run cannot be resumed (its checkpoint is already its summary)."""
    if ckpt.get("final") or (run_dir / "summary.json").exists():
        raise InputError(f"{run_dir}: the run has finished (final checkpoint / summary.json): nothing to resume")
    if ckpt.get("stop_requested_unix") is not None:
        raise InputError(f"{run_dir}: the run was stopping when its last checkpoint was written: nothing to "
                         f"resume; `inferload report {run_dir}` summarizes it")


__all__ = [
    "CHECKPOINT_FILE",
    "CHECKPOINT_SCHEMA",
    "Checkpointer",
    "DueWalker",
    "check_resumable",
    "checkpoint_path",
    "checkpoint_state",
    "gap_losses",
    "load_checkpoint",
    "open_loop_phases",
    "restart_offset",
    "restore",
    "restore_merged",
    "status_line",
    "write_atomic",
]
