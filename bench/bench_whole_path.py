"""Whole-path benchmark: the real ``inferload run`` with every sink on, against gpusim, as a user runs it.

For each rate (default 50, 200, 400 req/s) and each mode (``local``: one process; ``distributed``:
a master and 2 workers), it runs the same 5-phase x 3-class scenario twice: once with every sink on
(file, InfluxDB through the real influxd behind the v2-write proxy, the Prometheus endpoint, and the
target's /metrics scrape) and once without a ``sinks:`` section.  Per run it reports:

- send lag p50 / p99 / max (``summary.json``: the merged schedule-lag histogram of every request);
- CPU seconds per request of each process (master/local, each worker; from /proc at exit);
- the time each aggregation interval took, p50 / p99 / max (``aggregate_s`` of the run folder's
  ``loadgen_health`` points: the master's whole interval step, every interval);
- the verdict (exit code) and the busiest part of the generator when it was invalid.

Targets (issue 14): aggregation <= 5 ms per interval for 5 phases x 3 classes; send lag p99 with every
sink <= 1.2 x the same run without sinks, and <= 5 ms at 200 req/s.

    .venv/bin/python bench/bench_whole_path.py --repeats 3             # full (~35 min), medians of 3
    .venv/bin/python bench/bench_whole_path.py --rates 50 --modes local --phase-s 3   # quick look
    .venv/bin/python bench/bench_whole_path.py --pin                   # generator on its own CPUs

``--pin`` gives the processes that send requests (the local process, or the workers) every CPU but
the last, and puts everything else on the last one: gpusim, influxd, the v2-write proxy (a thread of
this script), the generator's own /metrics scrape child and, distributed, the master (in a
deployment it has its own pod: on the workers' CPU its interval step, every interval, would take
their CPU at the instants they ship their deltas).  That is the deployment the numbers are
meant for (the generator on its own machine, the target and InfluxDB elsewhere); without it, on a
small machine, the target and influxd take CPU from the generator and its lag measures the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collectors import schema  # noqa: E402
from tests.support.influx import InfluxStack, influx_stack  # noqa: E402

PY = sys.executable
TOKEN_ENV = "INFERLOAD_BENCH_INFLUX_TOKEN"


def _scenario(path: Path, base: str, rate: float, phase_s: float, sinks: str) -> None:
    path.write_text(f"""name: whole-path
seed: 11
target: {{base_url: "{base}", model: gpusim/fixed}}
workload:
  prompt_tokens: {{dist: uniform, min: 16, max: 64}}
  output_tokens: 8
  classes:
    - {{name: interactive, weight: 3}}
    - {{name: batch, weight: 1, output_tokens: 16}}
    - {{name: tool, weight: 1}}
max_inflight: 4000
phases:
  - {{name: warmup, kind: warmup, duration: {phase_s}s, arrivals: {{process: poisson, rate: {rate / 2}}}}}
  - {{name: steady, kind: steady, duration: {phase_s}s, arrivals: {{process: poisson, rate: {rate}}}}}
  - {{name: burst, kind: burst, duration: {phase_s}s, arrivals: {{process: gamma, rate: {rate}, burstiness: 0.5}}}}
  - name: spike
    kind: peak
    duration: {phase_s}s
    arrivals: {{process: spike, base_rate: {rate * 0.8}, spike_rate: {rate * 1.8}, every_s: {phase_s}, spike_s: {phase_s / 4}}}
  - {{name: cooldown, kind: cooldown, duration: {phase_s}s, arrivals: {{process: ramp, from_rate: {rate}, to_rate: {rate / 4}}}}}
generator: {{stop_timeout_s: 10, max_cpu_percent: 100, max_schedule_lag_p99_ms: 1000}}
{sinks}""")


def _sinks(tmp: Path, influx: InfluxStack, db: str) -> str:
    return f"""sinks:
  aggregate_interval_s: 1
  file: {{path: {tmp / "sink.lp"}}}
  prometheus: {{host: 127.0.0.1, port: 0}}
  influxdb: {{url: {influx.write_url}, org: bench, bucket: {db}, token_env: {TOKEN_ENV}}}
"""


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, ValueError, IndexError):
                continue
    return out


def _pin(pid: int, cpus: set[int]) -> None:
    """Every thread of ``pid`` onto ``cpus`` (sched_setaffinity acts on one thread)."""
    try:
        tasks = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return
    for tid in tasks:
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:
            pass


def _cpu_sets(pin: bool) -> tuple[set[int], set[int]] | None:
    """(the generator's CPUs, everything else's CPU) for ``--pin``; None without it."""
    if not pin:
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("--pin needs at least 2 CPUs")
    return set(cpus[:-1]), {cpus[-1]}


PIN: tuple[set[int], set[int]] | None = None  # set by main() for --pin


def _watch(procs: dict[str, subprocess.Popen[str]], timeout_s: float) -> dict[str, float]:
    """Wait for every process; CPU seconds of each, read just before it exits (polling /proc).
    With ``--pin``, the generator's children (the /metrics scrape) go to the other CPU as they appear."""
    cpu = {name: 0.0 for name in procs}
    pinned: set[int] = set()
    deadline = time.time() + timeout_s
    while time.time() < deadline and any(p.poll() is None for p in procs.values()):
        for name, p in procs.items():
            if p.poll() is None:
                v = _cpu_s(p.pid)
                if v == v:
                    cpu[name] = v
                if PIN is not None:
                    for child in set(_children(p.pid)) - pinned:
                        _pin(child, PIN[1])
                        pinned.add(child)
        time.sleep(0.05)
    for p in procs.values():
        if p.poll() is None:
            p.kill()
    return cpu


def _pctl(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def _aggregate_times(run_dir: Path) -> list[float]:
    out: list[float] = []
    path = run_dir / "points" / "intervals.lp"
    if not path.is_file():
        return out
    key = schema.F_AGGREGATE_S.name + "="
    for line in path.read_text().splitlines():
        if line.startswith(schema.HEALTH.name + ","):
            for kv in line.split(" ")[1].split(","):
                if kv.startswith(key):
                    out.append(float(kv[len(key):]))
    return out


def _gen_preexec() -> None:
    """In a process that sends requests, before exec: its CPUs under ``--pin`` (threads inherit them)."""
    if PIN is not None:
        os.sched_setaffinity(0, PIN[0])


def _master_preexec() -> None:
    """The master, before exec: with everything else under ``--pin`` (as on its own pod)."""
    if PIN is not None:
        os.sched_setaffinity(0, PIN[1])


def one_run(base: str, rate: float, mode: str, with_sinks: bool, phase_s: float,
            influx: InfluxStack | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        db = influx.fresh_db(f"b{int(time.time() * 1000)}") if (with_sinks and influx) else ""
        sinks = _sinks(tmp, influx, db) if with_sinks and influx is not None else ""
        sc = tmp / "s.yaml"
        _scenario(sc, base, rate, phase_s, sinks)
        out = tmp / "out"
        env = dict(os.environ, **{TOKEN_ENV: "bench-token"})
        cmd = [PY, "-m", "loadgen.cli", "run", str(sc), "--out", str(out)]
        procs: dict[str, subprocess.Popen[str]] = {}
        if mode == "local":
            procs["local"] = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                              stderr=subprocess.DEVNULL, text=True, preexec_fn=_gen_preexec)
        else:
            master = subprocess.Popen([*cmd, "--master", "--expect-workers", "2", "--master-bind-host", "127.0.0.1",
                                       "--master-bind-port", "0"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True, preexec_fn=_master_preexec)
            assert master.stdout is not None
            line = master.stdout.readline()
            port = line.strip().rsplit(":", 1)[-1]
            procs["master"] = master
            for k in range(2):
                procs[f"w{k}"] = subprocess.Popen(
                    [PY, "-m", "loadgen.cli", "worker", "--master-host", "127.0.0.1", "--master-port", port],
                    cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
                    preexec_fn=_gen_preexec)
        cpu = _watch(procs, timeout_s=phase_s * 5 + 120)
        summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else {}
        requests = sum(int(p["requests"]) for p in summary.get("phases", {}).values()) or 1
        lag = summary.get("overall", {}).get("latency", {}).get("schedule_lag", {})
        all_lag = {}
        if summary:
            # every phase's lag (the overall block holds only the judged phases)
            all_lag = {k: max(p["latency"]["schedule_lag"].get(k) or 0.0 for p in summary["phases"].values())
                       for k in ("p50_ms", "p99_ms", "max_ms")}
        agg = _aggregate_times(out)
        return {
            "rate": rate, "mode": mode, "sinks": with_sinks, "requests": requests, "pinned": PIN is not None,
            "exit_code": summary.get("verdict", {}).get("exit_code"),
            "rule": summary.get("verdict", {}).get("rule"),
            "lag_p50_ms": lag.get("p50_ms"), "lag_p99_ms": lag.get("p99_ms"), "lag_max_ms": all_lag.get("max_ms"),
            "cpu_ms_per_request": {k: round(v / requests * 1e3, 3) for k, v in cpu.items()},
            "aggregate_ms": {"p50": round(_pctl(agg, 50) * 1e3, 3), "p99": round(_pctl(agg, 99) * 1e3, 3),
                             "max": round(max(agg, default=float("nan")) * 1e3, 3), "intervals": len(agg)},
        }


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from repeated runs of a cell: the median of every figure (exit code: the worst)."""
    def med(values: list[Any]) -> Any:
        xs = [v for v in values if v is not None]
        return statistics.median(xs) if xs else None

    out = dict(runs[0])
    for k in ("lag_p50_ms", "lag_p99_ms", "lag_max_ms"):
        out[k] = med([r[k] for r in runs])
    out["exit_code"] = max((r["exit_code"] or 0) for r in runs)
    out["aggregate_ms"] = {k: med([r["aggregate_ms"][k] for r in runs]) for k in ("p50", "p99", "max", "intervals")}
    out["cpu_ms_per_request"] = {k: round(med([r["cpu_ms_per_request"][k] for r in runs]), 3)
                                 for k in runs[0]["cpu_ms_per_request"]}
    out["runs"] = len(runs)
    out["lag_p99_ms_each"] = [r["lag_p99_ms"] for r in runs]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="50,200,400")
    ap.add_argument("--modes", default="local,distributed")
    ap.add_argument("--phase-s", type=float, default=6.0, help="seconds per phase (5 phases)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="runs per cell (on and off alternate); the table shows medians")
    ap.add_argument("--pin", action="store_true",
                    help="the processes that send (local, workers) on every CPU but the last; gpusim, "
                         "influxd, the proxy, the scrape child and the master on the last")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    global PIN
    PIN = _cpu_sets(args.pin)
    if PIN is not None:  # this script (the proxy thread) and what it starts next: the last CPU
        os.sched_setaffinity(0, PIN[1])
        print(f"pinned: local process / workers on CPUs {sorted(PIN[0])}, "
              f"master/gpusim/influxd/proxy/scrape on {sorted(PIN[1])}")
    rates = [float(x) for x in args.rates.split(",")]
    modes = args.modes.split(",")
    results: list[dict[str, Any]] = []
    sim = subprocess.Popen([PY, "-m", "loadgen.cli", "sim", "--port", "0", "--preset", "fixed"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert sim.stdout is not None
        base = sim.stdout.readline().strip().rsplit(" ", 1)[-1]
        with influx_stack() as influx:
            for rate in rates:
                for mode in modes:
                    runs: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
                    for _ in range(args.repeats):
                        for with_sinks in (True, False):
                            r = one_run(base, rate, mode, with_sinks, args.phase_s, influx)
                            runs[with_sinks].append(r)
                            print(json.dumps(r), flush=True)
                    results += [_median_run(runs[True]), _median_run(runs[False])]
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    print("\nrate  mode         sinks  lag p50/p99/max ms      agg p50/p99/max ms    CPU ms/request        exit")
    for r in results:
        a = r["aggregate_ms"]
        print(f"{r['rate']:>4.0f}  {r['mode']:<11}  {'on ' if r['sinks'] else 'off'}    "
              f"{r['lag_p50_ms'] or 0:6.2f} {r['lag_p99_ms'] or 0:6.2f} {r['lag_max_ms'] or 0:7.1f}    "
              f"{a['p50']:6.2f} {a['p99']:6.2f} {a['max']:7.2f}    "
              f"{' '.join(f'{k}={v}' for k, v in r['cpu_ms_per_request'].items()):<22} {r['exit_code']}")
    for rate in rates:
        for mode in modes:
            on = next((r for r in results if r["rate"] == rate and r["mode"] == mode and r["sinks"]), None)
            off = next((r for r in results if r["rate"] == rate and r["mode"] == mode and not r["sinks"]), None)
            if on and off and on["lag_p99_ms"] and off["lag_p99_ms"]:
                print(f"{rate:.0f} req/s {mode}: lag p99 with sinks / without = "
                      f"{on['lag_p99_ms'] / off['lag_p99_ms']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    med = statistics.median([r["aggregate_ms"]["p50"] for r in results if r["sinks"]] or [float("nan")])
    print(f"median aggregation p50 over the runs with sinks: {med:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
