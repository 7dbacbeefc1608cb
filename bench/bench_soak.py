"""Soak memory benchmark (issue 13 §1): does any process's RSS grow with run length?

A time-compressed soak: the real ``inferload run`` against gpusim (``--preset fixed``) at
``--rate`` (default 200 req/s) for ``--duration`` seconds, once locally (one process) and once as a
master with one worker.  The scenario switches on what a soak uses: a file sink with raw samples
(``raw_sample_ratio: 0.1``), live SLO windows, ``slo.windows``, drift detection, the target's
/metrics scrape (a child process of the master).  Every ``--every`` seconds it reads the RSS of each
process from ``/proc/PID/status`` (the local process or master, its scrape child, the worker).

Per process it reports the RSS at the end of warm-up (the first ``--warmup`` fraction of the soak phase),
the least-squares slope of RSS after warm-up with its 95 % interval (``loadgen.trend.fit_trend``),
in MiB per real hour at the benchmark's rate, and the extrapolated RSS after a 72 h soak at 100 req/s:
``RSS after warm-up + 72 x slope``.  The slope is measured at twice the 100 req/s rate, so growth
that follows the request count is over-counted 2x and growth that follows wall time is counted
once: the extrapolation is an upper bound.  Targets: < 1 MiB/h after warm-up, < 1 GiB after 72 h.

    .venv/bin/python bench/bench_soak.py                      # both modes, 600 s each (~21 min)
    .venv/bin/python bench/bench_soak.py --modes local --duration 60   # quick look (still warming up)

Warm-up: RSS rises for the first ~5.5 minutes (the live SLO's longest rolling window, 5 min by
default, filling with per-interval slices; the raw-point timestamp de-duplication set of
``collectors/request.py`` keeps filling for 4,096 sampled points), and the master's for ~18 minutes
(each of its first checkpoints leaves CPython's object arenas a little larger); fit only after
that.  The figures in docs/performance.md: ``--duration 3300 --warmup 0.3`` (fit over the last 38
minutes).  ``--checkpoint-s`` shortens the master's checkpoint period to pack many checkpoints into
one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadgen.trend import fit_trend  # noqa: E402
from tests.support.gpusim import start_gpusim, stop  # noqa: E402

PY = sys.executable

SCENARIO = """
name: soak-bench
seed: 3
target: {{base_url: "{url}", model: gpusim/fixed}}
workload: {{prompt_tokens: 16, output_tokens: 8}}
max_inflight: 512
phases:
  - {{name: warmup, kind: warmup, duration: 5s, arrivals: {{process: poisson, rate: {rate}}}}}
  - {{name: soak, kind: steady, duration: {duration}s, arrivals: {{process: poisson, rate: {rate}}}}}
slo:
  objectives: [{{metric: ttft, percentile: 99, max_ms: 2000}}, {{metric: itl, percentile: 99, max_ms: 500}}]
  max_error_rate: 0.01
  windows: [1m]
generator: {{max_schedule_lag_p99_ms: 5000, max_cpu_percent: 100, checkpoint_interval_s: {checkpoint_s}}}
"""
SINKS = """
sinks:
  file: {{path: "{out}/raw.lp"}}
  raw_sample_ratio: 0.1
  aggregate_interval_s: 2
"""


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    out: list[int] = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(d.name))
    return out


def start_sim() -> tuple[subprocess.Popen[str], str]:
    return start_gpusim("--preset", "fixed")


def run_mode(mode: str, url: str, rate: float, duration: float, every: float, tmp: Path,
             sinks: bool = True, checkpoint_s: float = 300.0) -> dict[str, Any]:
    out = tmp / mode
    out.mkdir()
    scenario = tmp / f"{mode}.yaml"
    scenario.write_text((SCENARIO + (SINKS if sinks else "")).format(url=url, rate=rate, duration=duration, out=out,
                                                                          checkpoint_s=checkpoint_s))
    cmd = [PY, "-m", "loadgen.cli", "run", str(scenario), "--out", str(out / "run")]
    procs: dict[str, subprocess.Popen[str]] = {}
    if mode == "local":
        procs["local"] = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    else:
        master = subprocess.Popen([*cmd, "--master", "--expect-workers", "1", "--master-bind-host", "127.0.0.1",
                                   "--master-bind-port", "0"], cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        procs["master"] = master
        assert master.stdout is not None
        line = master.stdout.readline()
        port = line.strip().rsplit(":", 1)[-1]
        # keep reading its progress lines: an unread pipe fills up and blocks a long run
        threading.Thread(target=master.stdout.read, daemon=True).start()
        procs["worker"] = subprocess.Popen([PY, "-m", "loadgen.cli", "worker", "--master-host", "127.0.0.1",
                                            "--master-port", port], cwd=ROOT, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL, text=True)
    main = procs["local" if mode == "local" else "master"]
    samples: dict[str, list[tuple[float, float]]] = {}
    t_start = time.time()
    try:
        while main.poll() is None:
            now = time.time() - t_start
            pids = {name: p.pid for name, p in procs.items()}
            for i, child in enumerate(children(main.pid)):
                pids[f"{'local' if mode == 'local' else 'master'}-child{i}"] = child
            for name, pid in pids.items():
                rss = rss_mib(pid)
                if rss is not None:
                    samples.setdefault(name, []).append((now, rss))
            time.sleep(every)
    finally:
        for p in procs.values():
            if p is not main:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    stop(p)
        stop(main)
    summary = json.loads((out / "run" / "summary.json").read_text())
    return {"samples": samples, "summary": summary, "wall_s": time.time() - t_start}


def analyse(samples: list[tuple[float, float]], warm_from_s: float, run_end_s: float, rate: float) -> dict[str, Any]:
    steady = [(t, r) for t, r in samples if warm_from_s <= t <= run_end_s]
    if len(steady) < 5:
        return {"samples": len(steady)}
    tr = fit_trend([t / 3600.0 for t, _ in steady], [r for _, r in steady])
    if tr is None:
        return {"samples": len(steady)}
    rss_warm = steady[0][1]
    return {
        "samples": len(steady),
        "rss_start_mib": samples[0][1],
        "rss_after_warmup_mib": rss_warm,
        "rss_end_mib": steady[-1][1],
        "rss_max_mib": max(r for _, r in samples),
        "slope_mib_per_h": tr.slope_per_h,
        "slope_ci95": [tr.ci_lo_per_h, tr.ci_hi_per_h],
        "extrapolated_72h_100rps_mib": rss_warm + 72.0 * max(0.0, tr.slope_per_h),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", nargs="+", default=["local", "distributed"], choices=["local", "distributed"])
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--duration", type=float, default=600.0, help="soak phase seconds (plus 5 s warmup phase)")
    ap.add_argument("--every", type=float, default=3.0, help="RSS sampling period, seconds")
    ap.add_argument("--warmup", type=float, default=0.6,
                    help="fraction of the run treated as warm-up (the live SLO's 5 min window must be full)")
    ap.add_argument("--no-sinks", action="store_true", help="no sinks: section (isolates the sinks' share)")
    ap.add_argument("--checkpoint-s", type=float, default=300.0,
                    help="generator.checkpoint_interval_s (a short one compresses many checkpoints into the run)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    results: dict[str, Any] = {"rate": args.rate, "duration_s": args.duration, "checkpoint_s": args.checkpoint_s,
                               "cpus": os.cpu_count(),
                               "loadavg_start": os.getloadavg()[0]}
    sim, url = start_sim()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-soak-") as td:
            for mode in args.modes:
                r = run_mode(mode, url, args.rate, args.duration, args.every, Path(td), sinks=not args.no_sinks,
                             checkpoint_s=args.checkpoint_s)
                s = r["summary"]
                plan_end = 5.0 + args.duration + 5.0  # ~start lead, then the plan
                warm_from = 5.0 + args.warmup * args.duration
                per_proc = {name: analyse(sm, warm_from, plan_end, args.rate) for name, sm in r["samples"].items()}
                results[mode] = {
                    "processes": per_proc,
                    "rss_samples": {name: [[round(t, 1), round(r, 2)] for t, r in sm] for name, sm in r["samples"].items()},
                    "requests": s["overall"]["requests"],
                    "achieved_rps": s["overall"]["requests"] / (5.0 + args.duration),
                    "exit_code": s["verdict"]["exit_code"],
                    "rule": s["verdict"]["rule"],
                }
                print(f"== {mode}: {s['overall']['requests']} requests, exit {s['verdict']['exit_code']} "
                      f"({s['verdict']['rule']})")
                for name, a in per_proc.items():
                    if "slope_mib_per_h" in a:
                        lo, hi = a["slope_ci95"]
                        print(f"  {name:16s} RSS {a['rss_start_mib']:.0f} -> {a['rss_after_warmup_mib']:.0f} (warm) -> "
                              f"{a['rss_end_mib']:.0f} MiB; slope after warm-up {a['slope_mib_per_h']:+.2f} MiB/h "
                              f"[{lo:+.2f}, {hi:+.2f}]; 72 h at 100 req/s: {a['extrapolated_72h_100rps_mib']:.0f} MiB")
    finally:
        stop(sim)
    results["loadavg_end"] = os.getloadavg()[0]
    print(f"load average: {results['loadavg_start']:.1f} at start, {results['loadavg_end']:.1f} at end "
          f"({results['cpus']} CPUs)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
