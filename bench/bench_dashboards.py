"""Dashboard query benchmark: every dashboard's queries over 24 h of a soak's aggregates on influxd.

Run by hand (not a test)::

    .venv/bin/python -m bench.bench_dashboards [--hours 24] [--runs 3] [--gpus 8]

It starts Debian's ``influxd`` (tests/support/influx.py) on loopback, synthesises ``--hours`` of
one soak run's points at the default ``sinks.aggregate_interval_s`` (5 s) ending now: interval
and cumulative ``llm_latency`` (7 metrics x 2 classes) and ``llm_latency_phase`` (7 metrics),
``llm_throughput``, ``llm_errors``,
``loadgen_health`` and ``telemetry_sink`` (master + 4 workers), ``run_progress``, ``llm_slo``
(3 objectives x 2 windows), ``llm_slo_count``, ``llm_server`` and ``llm_server_latency`` (every
5 s), ``collector_health``, ``gpu`` (``--gpus`` GPUs at 1 s) and ``run_event`` regions (a 5-min
burst every hour).  Then, ``--runs`` times, it expands every panel, variable and annotation query of
each dashboard exactly as Grafana would for the whole range (dashboards/expand.py, 1000 data
points: a 1-min ``$__interval``) and runs them one after the other, timing each, then again
``PARALLEL`` at a time (as a browser loads a dashboard).  Printed per dashboard (median of the
runs): the number of queries, the sequential total (and the first run's: cold caches), the
parallel wall time, influxd's CPU seconds for the sequential pass (robust to other load on a
shared machine), and the slowest query.  Target (issue 8): under 2 s in total per dashboard.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from collectors import schema as s
from dashboards import build, expand, steady_peak
from tests.support.influx import InfluxServer

INTERVAL_S = 5
DB = "bench"
RUN_ID = "soak-bench"
CLASSES = ("interactive", "batch")
OBJECTIVES = ("ttft_p99", "e2e_p90", "error_rate")
WORKERS = ("master", "w0", "w1", "w2", "w3")
PARALLEL = 6  # a browser's concurrent requests per host


def _fields(pairs: dict[str, float]) -> str:
    return ",".join(f"{k}={v!r}" for k, v in pairs.items())


def _phase(t: int, start: int) -> str:
    offset = t - start
    if offset < 600:
        return "warmup"
    return "burst" if (offset % 3600) >= 3300 else "soak"


def lines(start: int, end: int, gpus: int) -> Iterator[str]:
    """Line protocol (precision s) for one soak run from ``start`` to ``end`` (Unix seconds)."""
    base = f"{s.T_RUN_ID.name}={RUN_ID},{s.T_SCENARIO.name}=soak"
    ep = f"{s.T_ENDPOINT.name}=vllm,{s.T_MODEL.name}=llama"
    for k, t in enumerate(range(start, end, INTERVAL_S), start=1):
        ph = _phase(t, start)
        burst = ph == "burst"
        for cls in CLASSES:
            tags = f"{base},{s.T_PHASE.name}={ph},{s.T_CLASS.name}={cls},{ep}"
            for metric in (s.M_TTFT, s.M_TTFT_SCHED, s.M_ITL, s.M_TPOT, s.M_E2E, s.M_E2E_SCHED, s.M_SCHEDULE_LAG):
                v = 0.05 * (3 if burst else 1) * (1 + (k % 7) / 10)
                for window in s.WINDOWS:
                    yield (f"{s.LATENCY.name},{tags},{s.T_METRIC.name}={metric},{s.T_WINDOW.name}={window} "
                           + _fields({s.F_COUNT.name: 40.0, s.F_MEAN.name: v, s.F_MIN.name: v / 3,
                                      s.F_MAX.name: v * 4, s.F_P50.name: v, s.F_P90.name: v * 1.5,
                                      s.F_P95.name: v * 1.8, s.F_P99.name: v * 2.5, s.F_P99_9.name: v * 3.5})
                           + f" {t}")
            n = 40.0 * (2 if burst else 1)
            if cls == CLASSES[0]:  # per phase, every class merged
                ptags = f"{base},{s.T_PHASE.name}={ph},{ep}"
                for metric in (s.M_TTFT, s.M_TTFT_SCHED, s.M_ITL, s.M_TPOT, s.M_E2E, s.M_E2E_SCHED, s.M_SCHEDULE_LAG):
                    v = 0.05 * (3 if burst else 1) * (1 + (k % 7) / 10)
                    for window in s.WINDOWS:
                        yield (f"{s.PHASE_LATENCY.name},{ptags},{s.T_METRIC.name}={metric},{s.T_WINDOW.name}={window} "
                               + _fields({s.F_COUNT.name: 80.0, s.F_MEAN.name: v, s.F_MIN.name: v / 3,
                                          s.F_MAX.name: v * 4, s.F_P50.name: v, s.F_P90.name: v * 1.5,
                                          s.F_P95.name: v * 1.8, s.F_P99.name: v * 2.5, s.F_P99_9.name: v * 3.5})
                               + f" {t}")
            yield (f"{s.THROUGHPUT.name},{tags} " + _fields({
                s.F_INTERVAL.name: 5.0, s.F_REQUESTS.name: n, s.F_OK_REQUESTS.name: n - 1, s.F_ERRORS.name: 1.0,
                s.F_GOOD.name: n - 3, s.F_REQ_RATE.name: n / 5, s.F_OUT_TOK.name: n * 150,
                s.F_OUT_TOK_RATE.name: n * 30, s.F_PROMPT_TOK.name: n * 500, s.F_GOODPUT.name: (n - 3) / 5,
                s.F_BAD_FRACTION.name: 3 / n}) + f" {t}")
            if k % 10 == 0:
                yield f"{s.ERRORS.name},{tags},{s.T_ERROR.name}=http_5xx {s.F_COUNT.name}=1.0,{s.F_INTERVAL.name}=5.0 {t}"
            for obj in OBJECTIVES:
                yield (f"{s.SLO_COUNT.name},{base},{s.T_PHASE.name}={ph},{s.T_CLASS.name}={cls},{s.T_OBJECTIVE.name}={obj} "
                       + _fields({s.SF_SLO_GOOD.name: n - 1, s.SF_SLO_COUNTED.name: n, s.SF_SLO_BUDGET.name: 0.01})
                       + f" {t}")
        for w in WORKERS:
            role = "master" if w == "master" else "worker"
            yield (f"{s.HEALTH.name},{base},{s.T_WORKER.name}={w},{s.T_ROLE.name}={role} " + _fields({
                s.F_INTERVAL.name: 5.0, s.F_LAG_P50.name: 0.001, s.F_LAG_P99.name: 0.004, s.F_LAG_MAX.name: 0.01,
                s.F_INFLIGHT.name: 30.0, s.F_DROPPED_ARRIVALS.name: 0.0, s.F_WORKERS.name: 4.0, s.F_CPU.name: 40.0,
                s.F_LAG_BOUND.name: 0.0, s.F_CPU_BOUND.name: 0.0, s.F_DROP_BOUND.name: 0.0, s.F_INVALID.name: 0.0})
                + f" {t}")
            yield (f"{s.SINK.name},{base},{s.T_WORKER.name}={w},{s.T_ROLE.name}={role},{s.T_SINK.name}=influxdb "
                   + _fields({f.name: float(k) for f in s.SINK.fields}) + f" {t}")
        yield (f"{s.RUN_PROGRESS.name},{base},{s.T_PHASE.name}={ph} " + _fields({
            s.PF_ARRIVALS_DUE.name: 80.0, s.PF_ELAPSED.name: float(t - start), s.PF_JUDGED.name: 1.0}) + f" {t}")
        for obj in OBJECTIVES:
            for win in ("1m", "5m"):
                yield (f"{s.SLO.name},{base},{s.T_PHASE.name}={ph},{s.T_OBJECTIVE.name}={obj},{s.T_SLO_WINDOW.name}={win} "
                       + _fields({f.name: 0.5 for f in s.SLO.fields}) + f" {t}")
        srv = f"{s.T_HOST.name}=gpu0,{s.T_SERVER.name}=vllm,{s.T_MODEL.name}=llama,{s.T_RUN_ID.name}={RUN_ID}"
        yield f"{s.SERVER.name},{srv} " + _fields({f.name: 1.0 for f in s.SERVER.fields}) + f" {t}"
        for comp in s.LATENCY_COMPONENTS:
            yield (f"{s.SERVER_LATENCY.name},{srv},{s.T_COMPONENT.name}={comp} "
                   + _fields({f.name: 0.1 for f in s.SERVER_LATENCY.fields}) + f" {t}")
        for coll in s.COLLECTOR_NAMES:
            yield (f"{s.COLLECTOR.name},{s.T_HOST.name}=gpu0,{s.T_COLLECTOR.name}={coll},{s.T_RUN_ID.name}={RUN_ID} "
                   + _fields({f.name: float(k) for f in s.COLLECTOR.fields}) + f" {t}")
        for sec in range(t, t + INTERVAL_S):
            for g in range(gpus):
                yield (f"{s.GPU.name},{s.T_HOST.name}=gpu0,{s.T_GPU.name}={g},{s.T_UUID.name}=GPU-{g},"
                       f"{s.T_GPU_MODEL.name}=H100,{s.T_SOURCE.name}=dcgm "
                       + _fields({f.name: 1.0 for f in s.GPU.fields if f is not s.GF_ENERGY})
                       + f",{s.GF_ENERGY.name}={float(sec - start) * 500_000.0!r} {sec}")
    for h0 in range(start + 3300, end, 3600):
        ev = f"{s.RUN_EVENT.name},{base},{s.T_PHASE.name}=burst"
        yield (f"{ev},{s.T_EVENT.name}={s.EVENT_PHASE} {s.EF_END_MS.name}={(h0 + 300) * 1000.0!r},"
               f"{s.EF_DURATION.name}=300.0 {h0}")
        yield (f"{ev},{s.T_EVENT.name}={s.EVENT_RECOVERY} {s.EF_END_MS.name}={(h0 + 312) * 1000.0!r},"
               f"{s.EF_DURATION.name}=12.0,{s.EF_VALUE.name}=12.0 {h0 + 300}")
        yield (f"{ev},{s.T_EVENT.name}={s.EVENT_VIOLATION},{s.T_OBJECTIVE.name}=ttft_p99 "
               f"{s.EF_END_MS.name}={(h0 + 200) * 1000.0!r},{s.EF_DURATION.name}=100.0,{s.EF_VALUE.name}=0.9,"
               f"{s.EF_THRESHOLD.name}=0.5 {h0 + 100}")


def write(server: InfluxServer, start: int, end: int, gpus: int, batch: int = 20_000) -> int:
    url = f"{server.url}/write?" + urllib.parse.urlencode({"db": DB, "precision": "s"})
    buf: list[str] = []
    n = 0

    def flush() -> None:
        req = urllib.request.Request(url, data="\n".join(buf).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=120) as r:
            assert r.status == 204
        buf.clear()

    for line in lines(start, end, gpus):
        buf.append(line)
        n += 1
        if len(buf) >= batch:
            flush()
    if buf:
        flush()
    return n


def _cpu_s(pid: int) -> float:
    """utime + stime of a process (all threads), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _queries(from_ms: int, to_ms: int) -> dict[str, list[tuple[str, str]]]:
    values: dict[str, expand.Value] = {v: expand.ALL for v in ("scenario", "phase", "class", "model", "endpoint",
                                                               "host", "gpu")}
    values.update(run_id=RUN_ID, baseline="soak")
    values.update({name: "0.1" for name, _ in steady_peak.RATIOS.values()})  # hidden: the baseline's p99 (a number)
    out = {}
    for name, d in build.dashboards().items():
        defs = expand.var_defs(d)
        out[name] = [(q.where, expand.expand(q, from_ms=from_ms, to_ms=to_ms, defs=defs, values=values))
                     for q in expand.dashboard_queries(d)]
    return out


@dataclass
class Timing:
    queries: int
    sequential_s: float  # one query after the other
    parallel_s: float  # PARALLEL at a time, as a browser loads a dashboard
    influxd_cpu_s: float  # influxd's CPU time for the sequential pass (robust to other load)
    slowest: str
    slowest_s: float


def _run(server: InfluxServer, text: str) -> float:
    t0 = time.perf_counter()
    res = server.query(text, DB)["results"][0]
    if "error" in res:
        raise RuntimeError(f"{res['error']}: {text}")
    return time.perf_counter() - t0


def time_dashboards(server: InfluxServer, queries: dict[str, list[tuple[str, str]]]) -> dict[str, Timing]:
    assert server.proc is not None
    out = {}
    for name, qs in queries.items():
        cpu0 = _cpu_s(server.proc.pid)
        t0 = time.perf_counter()
        per = [(_run(server, text), where) for where, text in qs]
        seq = time.perf_counter() - t0
        cpu = _cpu_s(server.proc.pid) - cpu0
        t0 = time.perf_counter()
        with ThreadPoolExecutor(PARALLEL) as pool:
            list(pool.map(lambda q: _run(server, q[1]), qs))
        par = time.perf_counter() - t0
        slow_s, slow = max(per)
        out[name] = Timing(len(qs), seq, par, cpu, slow, slow_s)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--gpus", type=int, default=8)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-dash-"))
    server = InfluxServer(base)
    try:
        server.start()
        server.create_database(DB)
        end = int(time.time())
        start = end - int(args.hours * 3600)
        t0 = time.perf_counter()
        n = write(server, start, end, args.gpus)
        print(f"wrote {n:,} points ({args.hours:g} h, {args.gpus} GPUs) in {time.perf_counter() - t0:.1f} s")
        queries = _queries(start * 1000, end * 1000)
        runs = [time_dashboards(server, queries) for _ in range(args.runs)]
        print(f"{'dashboard':<16} {'queries':>7} {'sequential s':>12} {'first run':>9} {f'{PARALLEL} at a time s':>16} "
              f"{'influxd CPU s':>13}  slowest query")
        for name in build.BUILDERS:
            rs = [r[name] for r in runs]
            med = sorted(rs, key=lambda x: x.sequential_s)[len(rs) // 2]
            print(f"{name:<16} {med.queries:>7} {med.sequential_s:>12.3f} {rs[0].sequential_s:>9.3f} "
                  f"{statistics.median(x.parallel_s for x in rs):>16.3f} "
                  f"{statistics.median(x.influxd_cpu_s for x in rs):>13.2f}  {med.slowest} ({med.slowest_s:.3f} s)")
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
