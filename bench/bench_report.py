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
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(cmd: list[str]) -> tuple[float, float, int]:
    """(wall s, peak RSS MiB of this child alone (``wait4``), exit code).

    Linux keeps a process's RSS high-water mark across fork and exec, so the parent stays small:
    the run folders are synthesised in children too (``--synth``).
    """
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    if proc.returncode not in (0, 1):
        sys.stderr.write(err.decode(errors="replace"))
    return wall, usage.ru_maxrss / 1024.0, proc.returncode


def size_mib(d: Path) -> float:
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file()) / 2**20


def synth(kind: str, root: Path, hours: float, rate: float, interval: float) -> None:
    """Child process: write one run folder and print its facts as JSON."""
    from tests.reporting.synth import SynthPhase, make_run

    if kind == "soak":
        d = root / "soak"
        s = make_run(d, interval_s=interval, seed=1, phases=(
            SynthPhase("warm", "warmup", 600, rate), SynthPhase("soak", "steady", hours * 3600 - 1200, rate),
            SynthPhase("cool", "cooldown", 600, rate)))
    else:
        d = root / kind
        s = make_run(d, interval_s=interval, seed=10 + int(kind[-1]), latency_scale=1.0 + 0.1 * int(kind[-1]), gpus=0,
                     phases=(SynthPhase("steady", "steady", 10_000, 10.0),))
    print(json.dumps({"requests": s["overall"]["requests"],
                      "lines": sum(1 for _ in (d / "points" / "run.lp").open()), "mib": round(size_mib(d), 1)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synth", default=None, help=argparse.SUPPRESS)  # child mode: soak | run0 | run1
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--rate", type=float, default=5.0)
    ap.add_argument("--interval", type=float, default=5.0)
    ap.add_argument("--keep", type=Path, default=None, help="synthesise into DIR and keep it")
    args = ap.parse_args()
    if args.synth:
        assert args.keep is not None
        synth(args.synth, args.keep, args.hours, args.rate, args.interval)
        return
    out: dict[str, object] = {"cpus": os.cpu_count(), "load_avg": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        facts = {}
        for kind in ("soak", "run0", "run1"):
            res = subprocess.run([sys.executable, "-m", "bench.bench_report", "--synth", kind, "--keep", str(root),
                                  "--hours", str(args.hours), "--rate", str(args.rate), "--interval", str(args.interval)],
                                 capture_output=True, text=True, check=True)
            facts[kind] = json.loads(res.stdout)
        out.update(soak_requests=facts["soak"]["requests"], soak_lines=facts["soak"]["lines"],
                   soak_folder_mib=facts["soak"]["mib"])
        soak = root / "soak"
        wall, rss, rc = child([sys.executable, "-m", "loadgen.cli", "report", str(soak)])
        out.update(report_wall_s=round(wall, 1), report_peak_rss_mib=round(rss, 0), report_rc=rc)
        runs = [root / "run0", root / "run1"]
        out["compare_requests_each"] = facts["run0"]["requests"]
        wall, rss2, rc = child([sys.executable, "-m", "loadgen.cli", "compare", str(runs[0]), str(runs[1]),
                                "--fail-on-regression", "5%", "--out", str(root / "compare.html")])
        out.update(compare_wall_s=round(wall, 1), compare_peak_rss_mib=round(rss2, 0), compare_rc=rc)
        out["load_avg_after"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
