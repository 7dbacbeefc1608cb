"""Report and compare benchmark: ``inferload report`` on a synthesised 24 h soak's run folder, and
``inferload compare`` of two 100k-request runs.

Run by hand (not a test)::

    .venv/bin/python -m bench.bench_report [--hours 24] [--rate 5] [--interval 5] [--keep DIR]

1. synthesises a run folder (tests/reporting/synth.py): one warmup, one steady phase and one
   cooldown over ``--hours`` at ``--rate`` req/s, interval aggregates every ``--interval`` s
   (the default ``aggregate_interval_s``), every request's raw point, a server scrape per
   interval with latency components and bucket rows, one GPU sampled every second;
2. runs ``inferload report`` on it in a child process: wall time and peak RSS (ru_maxrss);
3. synthesises two 100k-request runs (one 10 % slower) and times ``inferload compare A B``.

Targets (issue 9): report < 30 s and < 1 GiB; compare < 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.reporting.synth import SynthPhase, make_run


def child(cmd: list[str]) -> tuple[float, float, int]:
    """(wall s, peak RSS MiB of the child, exit code)."""
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stderr)
    return wall, rss, proc.returncode


def size_mib(d: Path) -> float:
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file()) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--rate", type=float, default=5.0)
    ap.add_argument("--interval", type=float, default=5.0)
    ap.add_argument("--keep", type=Path, default=None, help="synthesise into DIR and keep it")
    args = ap.parse_args()
    out: dict[str, object] = {"cpus": os.cpu_count(), "load_avg": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        soak = root / "soak"
        steady_s = args.hours * 3600 - 1200
        t = time.perf_counter()
        s = make_run(soak, interval_s=args.interval, seed=1, phases=(
            SynthPhase("warm", "warmup", 600, args.rate), SynthPhase("soak", "steady", steady_s, args.rate),
            SynthPhase("cool", "cooldown", 600, args.rate)))
        out["soak_synth_s"] = round(time.perf_counter() - t, 1)
        out["soak_requests"] = s["overall"]["requests"]
        out["soak_lines"] = sum(1 for _ in (soak / "points" / "run.lp").open())
        out["soak_folder_mib"] = round(size_mib(soak), 1)
        wall, rss, rc = child([sys.executable, "-m", "loadgen.cli", "report", str(soak)])
        out.update(report_wall_s=round(wall, 1), report_peak_rss_mib=round(rss, 0), report_rc=rc)

        runs = []
        for i, scale in enumerate((1.0, 1.1)):
            d = root / f"run{i}"
            make_run(d, interval_s=args.interval, seed=10 + i, latency_scale=scale, gpus=0, phases=(
                SynthPhase("steady", "steady", 10_000, 10.0),))
            runs.append(d)
        out["compare_requests_each"] = json.loads((runs[0] / "summary.json").read_text())["overall"]["requests"]
        wall, rss2, rc = child([sys.executable, "-m", "loadgen.cli", "compare", str(runs[0]), str(runs[1]),
                                "--fail-on-regression", "5%", "--out", str(root / "compare.html")])
        out.update(compare_wall_s=round(wall, 1), compare_rc=rc)
        out["load_avg_after"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
