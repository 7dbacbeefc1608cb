"""Synthesised run folders: summary.json (built by loadgen.report) and points/*.lp (collectors encoder).

The numbers follow a simple model (lognormal TTFT and TPOT, uniform output lengths, Poisson
arrivals per phase) so tests know the truth: ``latency_scale`` multiplies every latency,
``growth_per_s`` adds a queue that grows linearly inside phases of kind ``steady`` (a target
past capacity).  Used by tests/reporting and by bench/bench_report.py (a 24 h soak).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from collectors import schema
from collectors.counters import Counters
from collectors.histograms import HistogramSet
from collectors.lineproto import encode
from collectors.point import Point
from loadgen.report import PhaseInfo, build_summary
from loadgen.slo import RunHealth, decide_exit, judge

T0_UNIX = 1_800_000_000.0
CLASSES = ("interactive", "batch")
METRICS = (schema.M_TTFT, schema.M_TTFT_SCHED, schema.M_ITL, schema.M_TPOT, schema.M_E2E, schema.M_E2E_SCHED)


@dataclass(frozen=True)
class SynthPhase:
    name: str
    kind: str
    duration_s: float
    rate: float


@dataclass(frozen=True)
class Obj:
    metric: str
    percentile: float
    max_ms: float


DEFAULT_PHASES = (
    SynthPhase("warm", "warmup", 10, 5), SynthPhase("steady", "steady", 60, 10),
    SynthPhase("burst", "burst", 20, 20), SynthPhase("cool", "cooldown", 10, 5),
)
DEFAULT_OBJECTIVES = (Obj("ttft", 99, 400), Obj("e2e", 90, 3000))


def _stats(v: np.ndarray) -> dict[str, float]:
    p = np.percentile(v, [50, 90, 95, 99, 99.9])
    return {"count": float(v.size), "mean_s": float(v.mean()), "min_s": float(v.min()), "max_s": float(v.max()),
            "p50_s": float(p[0]), "p90_s": float(p[1]), "p95_s": float(p[2]), "p99_s": float(p[3]),
            "p99_9_s": float(p[4])}


def make_run(
    run_dir: Path,
    *,
    phases: Sequence[SynthPhase] = DEFAULT_PHASES,
    interval_s: float = 1.0,
    seed: int = 0,
    latency_scale: float = 1.0,
    error_rate: float = 0.0,
    growth_per_s: float = 0.0,
    gpus: int = 1,
    buckets: int = 10,
    objectives: Sequence[Obj] = DEFAULT_OBJECTIVES,
    confidence: float | None = None,
    run_id: str | None = None,
    workers: int = 1,
    server_timings: bool = False,
) -> dict[str, Any]:
    """Write ``run_dir/summary.json`` and ``run_dir/points/run.lp``; return the summary."""
    rng = np.random.default_rng(seed)
    rid = run_id or run_dir.name
    tags = {"run_id": rid, "scenario": "synth", "endpoint": "sim", "model": "m"}
    hs, counters = HistogramSet(), Counters()
    infos: list[PhaseInfo] = []
    (run_dir / "points").mkdir(parents=True, exist_ok=True)
    start = 0.0
    with (run_dir / "points" / "run.lp").open("w", encoding="utf-8") as out:
        for ph in phases:
            n = int(rng.poisson(ph.rate * ph.duration_s))
            infos.append(PhaseInfo(ph.name, ph.kind, start, start + ph.duration_s, f"poisson(rate={ph.rate:g}/s)",
                                   max_inflight=64, expected_requests=n))
            sched = np.sort(rng.uniform(start, start + ph.duration_s, n))
            queue = growth_per_s * (sched - start) if ph.kind == "steady" else np.zeros(n)
            lag = rng.exponential(0.0005, n)
            ttft = rng.lognormal(np.log(0.05), 0.4, n) * latency_scale + queue
            tpot = rng.lognormal(np.log(0.008), 0.3, n) * latency_scale
            toks = rng.integers(8, 64, n)
            e2e = ttft + tpot * (toks - 1)
            ok = rng.random(n) >= error_rate
            cls = np.where(rng.random(n) < 0.75, 0, 1)
            _requests(out, hs, counters, ph, tags, sched, lag, ttft, tpot, toks, e2e, ok, cls, server_timings)
            _intervals(out, ph, tags, start, interval_s, sched, lag, ttft, tpot, toks, e2e, ok, cls, workers)
            start += ph.duration_s
        _telemetry(out, rng, tags, start, interval_s, gpus, buckets)
    judged = [p.name for p in infos if p.kind not in ("warmup", "cooldown")]
    verdict = judge(list(objectives), 0.01, hs, counters, judged, confidence=confidence)
    health = RunHealth(schedule_lag_p99_ms=1.0, max_schedule_lag_p99_ms=50.0, max_cpu_percent_seen=40.0,
                       max_cpu_percent=90.0)
    summary = build_summary(
        meta={"run_id": rid, "scenario": "synth", "target": "http://127.0.0.1:8000", "model": "m",
              "mode": "local", "workers": workers, "seed": seed, "t0_unix": T0_UNIX, "max_inflight": 64,
              "objective": {"goal": "latency", "intent": "p99 TTFT under 400 ms at 10 req/s"},
              "request_profile": {"api": "chat", "stream": True, "prompt_tokens": "uniform(40..200)",
                                  "output_tokens": "uniform(8..64)", "ignore_eos": False, "min_tokens": False,
                                  "classes": [{"name": c, "weight": w} for c, w in zip(CLASSES, (3.0, 1.0), strict=True)]}},
        phases=infos, judged_phases=judged, hs=hs, counters=counters, verdict=verdict, health=health,
        decision=decide_exit(verdict, health),
        telemetry={"server_metrics": {"server": "vllm", "url": "http://127.0.0.1:8000/metrics", "scrapes": 1, "errors": 0}},
    )
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def _ns(t: float) -> int:
    return int((T0_UNIX + t) * 1e9)


def _requests(out: TextIO, hs: HistogramSet, c: Counters, ph: SynthPhase, tags: dict[str, str], sched: np.ndarray,
              lag: np.ndarray, ttft: np.ndarray, tpot: np.ndarray, toks: np.ndarray, e2e: np.ndarray,
              ok: np.ndarray, cls: np.ndarray, server_timings: bool = False) -> None:
    lines = []
    for i in range(sched.size):
        cname = CLASSES[int(cls[i])]
        c.add(ph.name, cname, "requests", 1)
        hs.record(schema.M_SCHEDULE_LAG, ph.name, cname, float(lag[i]))
        fields = {"idx": float(i), "scheduled_s": T0_UNIX + float(sched[i]), "schedule_lag_s": float(lag[i]),
                  "ok": 1.0 if ok[i] else 0.0, "status": 200.0 if ok[i] else 500.0, "sample_weight": 1.0}
        if ok[i]:
            c.add(ph.name, cname, "ok", 1)
            c.add(ph.name, cname, "output_tokens", int(toks[i]))
            c.add(ph.name, cname, "good", 1)
            for m, v in ((schema.M_TTFT, ttft[i]), (schema.M_TTFT_SCHED, ttft[i] + lag[i]), (schema.M_TPOT, tpot[i]),
                         (schema.M_ITL, tpot[i]), (schema.M_E2E, e2e[i]), (schema.M_E2E_SCHED, e2e[i] + lag[i])):
                hs.record(m, ph.name, cname, float(v))
            fields.update(ttft_s=float(ttft[i]), ttft_sched_s=float(ttft[i] + lag[i]), tpot_s=float(tpot[i]),
                          e2e_s=float(e2e[i]), e2e_sched_s=float(e2e[i] + lag[i]), itl_mean_s=float(tpot[i]),
                          output_tokens=float(toks[i]))
            if server_timings:  # the server's view: 40 % of TTFT queueing, the rest prefill; 2 ms outside
                fields.update(server_queue_s=0.4 * float(ttft[i]), server_prefill_s=0.6 * float(ttft[i]) - 0.002,
                              server_decode_s=float(e2e[i] - ttft[i]), client_overhead_s=0.002)
        else:
            c.add(ph.name, cname, "error:http_5xx", 1)
        t = {**tags, "phase": ph.name, "class": cname, "worker": "w0", "error": "ok" if ok[i] else "http_5xx",
             "status_class": "2xx" if ok[i] else "5xx"}
        lines.append(encode(Point(schema.REQUEST.name, t, fields, _ns(float(sched[i])))))
    if lines:
        out.write("\n".join(lines) + "\n")


def _intervals(out: TextIO, ph: SynthPhase, tags: dict[str, str], start: float, interval_s: float,
               sched: np.ndarray, lag: np.ndarray, ttft: np.ndarray, tpot: np.ndarray, toks: np.ndarray,
               e2e: np.ndarray, ok: np.ndarray, cls: np.ndarray, workers: int) -> None:
    edges = np.arange(start, start + ph.duration_s + 1e-9, interval_s)
    if edges[-1] < start + ph.duration_s - 1e-9:
        edges = np.append(edges, start + ph.duration_s)
    cuts = np.searchsorted(sched, edges, side="left")  # sched is sorted: interval k is a slice
    lines = []
    for k in range(len(edges) - 1):
        t_end = float(edges[k + 1])
        t_ns = _ns(t_end)
        width = t_end - float(edges[k])
        sl = slice(int(cuts[k]), int(cuts[k + 1]))
        n_k = sl.stop - sl.start
        for ci, cname in enumerate(CLASSES):
            sel = cls[sl] == ci
            good = sel & ok[sl]
            base = {**tags, "phase": ph.name, "class": cname}
            if good.any():
                for m, v in ((schema.M_TTFT, ttft), (schema.M_TTFT_SCHED, ttft + lag), (schema.M_ITL, tpot),
                             (schema.M_TPOT, tpot), (schema.M_E2E, e2e), (schema.M_E2E_SCHED, e2e + lag)):
                    st = _stats(v[sl][good])
                    for window in ("interval", "cumulative"):
                        lines.append(encode(Point(schema.LATENCY.name, {**base, "metric": m, "window": window}, st, t_ns)))
            n, nok = int(sel.sum()), int(good.sum())
            lines.append(encode(Point(schema.THROUGHPUT.name, base, {
                "interval_s": width, "requests": float(n), "ok_requests": float(nok), "errors": float(n - nok),
                "good_requests": float(nok), "req_per_s": n / width, "output_tokens": float(toks[sl][good].sum()),
                "output_tokens_per_s": float(toks[sl][good].sum()) / width, "prompt_tokens": 0.0,
                "goodput_req_per_s": nok / width, "bad_fraction": (1 - nok / n) if n else 0.0}, t_ns)))
            if n - nok:
                lines.append(encode(Point(schema.ERRORS.name, {**base, "error": "http_5xx"},
                                          {"count": float(n - nok), "interval_s": width}, t_ns)))
        for w in range(workers):
            lines.append(encode(Point(schema.HEALTH.name, {**tags, "worker": f"w{w}", "role": "worker"}, {
                "interval_s": width, "schedule_lag_p50_s": 0.0004, "schedule_lag_p99_s": 0.002,
                "schedule_lag_max_s": 0.004, "inflight": n_k / 4, "dropped_arrivals": 0.0,
                "workers_connected": float(workers), "cpu_percent": 35.0, "lag_exceeded": 0.0, "cpu_exceeded": 0.0,
                "drops_exceeded": 0.0, "invalid": 0.0}, t_ns)))
    out.write("\n".join(lines) + "\n")


def _telemetry(out: TextIO, rng: np.random.Generator, tags: dict[str, str], end: float, interval_s: float,
               gpus: int, buckets: int) -> None:
    lines = []
    run = {"run_id": tags["run_id"], "scenario": tags["scenario"]}
    t = interval_s
    while t <= end + 1e-9:
        t_ns = _ns(t)
        srv = {**run, "server": "vllm", "model": "m", "host": "sim"}
        lines.append(encode(Point(schema.SERVER.name, srv, {
            "running": float(rng.integers(0, 16)), "waiting": float(rng.integers(0, 4)),
            "kv_cache_usage": float(rng.random() * 0.5), "interval_s": interval_s, "scrape_s": 0.002, "resets": 0.0}, t_ns)))
        for comp, mean in (("queue", 0.01), ("prefill", 0.02), ("decode", 0.2)):
            cnt = float(rng.integers(5, 15))
            lines.append(encode(Point(schema.SERVER_LATENCY.name, {**srv, "component": comp}, {
                "count": cnt, "sum_s": cnt * mean, "mean_s": mean, "p50_s": mean, "p90_s": mean * 2,
                "p99_s": mean * 3, "reset": 0.0}, t_ns)))
            for b in range(buckets):
                lines.append(encode(Point(schema.SERVER_LATENCY_BUCKET.name, {**srv, "component": comp, "le": f"{0.01 * 2**b:g}"},
                                          {"count": float(b)}, t_ns)))
        lines.append(encode(Point(schema.SINK.name, {**run, "worker": "master", "role": "master", "sink": "file"},
                                  {"generated": 1.0, "written": 1.0, "dropped": 0.0}, t_ns)))
        t += interval_s
        if len(lines) > 20000:
            out.write("\n".join(lines) + "\n")
            lines = []
    g = 1.0
    while g <= end and gpus:
        for i in range(gpus):
            lines.append(encode(Point(schema.GPU.name, {"host": "sim", "gpu": str(i), "uuid": f"GPU-{i}",
                                                        "gpu_model": "SIM", "source": "dcgm", "run_id": tags["run_id"]}, {
                schema.GF_GPU_UTIL.name: float(rng.uniform(40, 90)), schema.GF_POWER.name: float(rng.uniform(200, 400)),
                schema.GF_FB_USED.name: 40000.0, schema.GF_GPU_TEMP.name: 60.0, schema.GF_SM_CLOCK.name: 1800.0},
                _ns(g))))
        g += 1.0
        if len(lines) > 20000:
            out.write("\n".join(lines) + "\n")
            lines = []
    if lines:
        out.write("\n".join(lines) + "\n")


__all__ = ["CLASSES", "DEFAULT_OBJECTIVES", "DEFAULT_PHASES", "T0_UNIX", "Obj", "SynthPhase", "make_run"]
