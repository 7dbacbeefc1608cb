"""``inferload sweep SCENARIO``: a steady phase per rate, to saturation or to the capacity at the SLO.

``--rates 1,2,4,8`` runs, per rate, the scenario with its phases replaced by a warmup and a steady
phase (Poisson at that rate), stopping after the first saturated probe; ``--find-capacity``
brackets and bisects for the highest rate that meets the SLO (loadgen/reporting/sweep.py has the
rules).  Each probe is a full ``inferload run`` into ``OUT/rate-<r>/`` (summary.json and the run
folder's points, so ``inferload report`` works on it; the scenario's ``sinks:`` are used as they
are, with ``aggregate_interval_s`` set to a twentieth of the steady phase); the sweep writes ``OUT/sweep.json`` and ``OUT/sweep.html``
(the throughput–latency curve with the knee and the capacity) and prints the table.
Exit 0 when it finished, 2 on bad input or a probe that could not run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from userinput.durations import parse_duration
from userinput.errors import InputError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inferload sweep", description=__doc__.splitlines()[0])
    p.add_argument("scenario", type=Path, help="scenario YAML file (its phases are replaced per probe)")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--rates", default=None, help="comma-separated rates in req/s, e.g. 1,2,4,8")
    mode.add_argument("--find-capacity", action="store_true", help="search the highest rate meeting the SLO")
    p.add_argument("--start", type=float, default=1.0, help="first rate of --find-capacity (req/s, default 1)")
    p.add_argument("--tolerance", type=float, default=0.05, help="bisect until (high-low)/low <= this (default 0.05)")
    p.add_argument("--max-probes", type=int, default=12, help="most probes of --find-capacity (default 12)")
    p.add_argument("--warmup", default="5s", help="warmup per probe (default 5s)")
    p.add_argument("--duration", default="30s", help="steady phase per probe (default 30s)")
    p.add_argument("--out", type=Path, default=None, help="sweep folder (default runs/<scenario>-sweep-<UTC time>/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario value for every probe (repeatable)")
    return p


def _rates(text: str) -> list[float]:
    try:
        rates = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"--rates {text!r}: expected comma-separated numbers, e.g. 1,2,4,8") from None
    if not rates or any(not r > 0 for r in rates):
        raise InputError(f"--rates {text!r}: every rate must be > 0")
    return rates


def _duration(flag: str, text: str) -> float:
    try:
        return float(parse_duration(text))
    except (TypeError, ValueError) as err:
        raise InputError(f"{flag}: {err}") from None


def probe_overrides(rate: float, warmup_s: float, duration_s: float, has_slo: bool) -> list[str]:
    """``--set`` values of one probe: its two phases, the interval, the judged phase."""
    arrivals = {"process": "poisson", "rate": rate}
    phases = [{"name": "warmup", "kind": "warmup", "duration": warmup_s, "arrivals": arrivals},
              {"name": "steady", "kind": "steady", "duration": duration_s, "arrivals": arrivals}]
    interval = max(0.5, min(5.0, duration_s / 20.0))  # >= ~20 intervals for the steady-state rule
    sets = [f"phases={json.dumps(phases)}", f"sinks.aggregate_interval_s={interval:g}"]
    if has_slo:
        sets.append('slo.phases=["steady"]')
    return sets


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from loadgen.config import load_scenario
    from loadgen.reporting.analysis import steady_states
    from loadgen.reporting.runfolder import read_run
    from loadgen.reporting.sweep import Probe, find_capacity, knee, probe_from_summary, rate_sweep
    from loadgen.reporting.sweep_page import render_terminal, write_page

    warmup_s, duration_s = _duration("--warmup", args.warmup), _duration("--duration", args.duration)
    if warmup_s < 0 or duration_s <= 0:
        raise InputError("--warmup must be >= 0 and --duration > 0")
    if not 0 < args.tolerance < 1 or args.max_probes < 2 or not args.start > 0:
        raise InputError("--tolerance must be in (0, 1), --max-probes >= 2 and --start > 0")
    rates = _rates(args.rates) if args.rates else []
    base = load_scenario(args.scenario, args.overrides)  # fail on a bad file before running anything
    out: Path = args.out or Path("runs") / f"{base.name}-sweep-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    out.mkdir(parents=True, exist_ok=True)

    def probe(rate: float) -> Probe:
        run_dir = out / f"rate-{rate:g}"
        sets = probe_overrides(rate, warmup_s, duration_s, base.slo is not None)
        cmd = [sys.executable, "-m", "loadgen.cli", "run", str(args.scenario), "--out", str(run_dir),
               *(f"--set={s}" for s in [*args.overrides, *sets])]
        sys.stdout.write(f"sweep: probe at {rate:g} req/s -> {run_dir}\n")
        sys.stdout.flush()
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode not in (0, 1, 3) or not (run_dir / "summary.json").is_file():
            tail = (res.stderr.strip().splitlines() or ["no output"])[-1]
            raise InputError(f"probe at {rate:g} req/s failed (exit {res.returncode}): {tail}")
        summary = json.loads((run_dir / "summary.json").read_text())
        steady = [s for s in steady_states(read_run(run_dir)) if s.phase == "steady"]
        p = probe_from_summary(rate, str(run_dir), res.returncode, summary, steady[0].steady if steady else None)
        sys.stdout.write(f"  {p.throughput:.2f} req/s served, e2e p99 {p.e2e_p99_ms or 0:.0f} ms, "
                         f"{'meets the SLO' if p.meets_slo else 'misses the SLO'}"
                         f"{'; saturated: ' + ', '.join(p.saturated_reasons) if p.saturated else ''}\n")
        return p

    capacity: float | None = None
    if args.find_capacity:
        capacity, probes = find_capacity(args.start, probe, args.tolerance, args.max_probes)
    else:
        probes = rate_sweep(rates, probe)
    k = knee(probes)
    result: dict[str, Any] = {
        "scenario": base.name, "mode": "find-capacity" if args.find_capacity else "rates",
        "warmup_s": warmup_s, "duration_s": duration_s, "tolerance": args.tolerance if args.find_capacity else None,
        "capacity_at_slo_req_per_s": capacity, "knee_req_per_s": None if k is None else k.throughput,
        "probes": [p.to_dict() for p in sorted(probes, key=lambda p: p.rate)],
    }
    (out / "sweep.json").write_text(json.dumps(result, indent=2) + "\n")
    render_terminal(result)
    write_page(result, out)
    sys.stdout.write(f"sweep: {out / 'sweep.json'}, {out / 'sweep.html'}\n")
    return 0


__all__ = ["build_parser", "main", "probe_overrides"]
