"""The Grafana-managed run-health rules fire when they should and only then, on a real influxd.

Synthetic points for a few runs/GPUs/servers, then each rule evaluated as Grafana evaluates it
(tests/dashboards/sse.py: the rule's InfluxQL expanded and run, then its reduce/math/threshold
expressions).  Regression tests for issue 8's gap: these three rules existed only on the
Prometheus side.
"""

from __future__ import annotations

import time
import urllib.request
from typing import Any

import pytest

from collectors import schema as s
from dashboards import alerting
from tests.dashboards.sse import evaluate, labels
from tests.support.influx import InfluxStack

pytestmark = pytest.mark.integration


def _write(influx: InfluxStack, db: str, lines: list[str]) -> None:
    req = urllib.request.Request(f"{influx.server.url}/write?db={db}&precision=s", data="\n".join(lines).encode(),
                                 method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 204


def _rule(uid: str) -> dict[str, Any]:
    return next(r for r in alerting.rules() if r["uid"] == uid)


def _runner(influx: InfluxStack, db: str) -> Any:
    def run(text: str) -> dict[str, Any]:
        res: dict[str, Any] = influx.server.query(text, db)["results"][0]
        return res
    return run


def test_no_requests_completing_fires_only_for_the_stalled_run(influx: InfluxStack, influx_db: str) -> None:
    now = int(time.time())  # the rule's "finished" side compares with InfluxDB's now()
    lines = []
    for run in ("ok", "stalled", "idle", "slow"):
        for t in range(now - 900, now, 5):
            due = 0.0 if run == "idle" else 4.0  # idle: the plan schedules nothing (between phases)
            lines.append(f"{s.RUN_PROGRESS.name},run_id={run},scenario=sc,phase=p {s.PF_ARRIVALS_DUE.name}={due} {t}")
            # stalled and idle: nothing finished for the last 5 min; slow: one request a minute
            finished = run == "ok" or t < now - 300 or (run == "slow" and (now - t) % 60 == 0)
            if finished:
                lines.append(f"{s.THROUGHPUT.name},run_id={run},scenario=sc,phase=p,class=c {s.F_REQUESTS.name}=1 {t}")
    _write(influx, influx_db, lines)
    got = evaluate(_rule("inferload-no-requests-completing"), _runner(influx, influx_db), now * 1000 + 1000)
    assert got == {labels(run_id="ok", scenario="sc"): False, labels(run_id="stalled", scenario="sc"): True,
                   labels(run_id="idle", scenario="sc"): False, labels(run_id="slow", scenario="sc"): False}


def test_gpu_telemetry_stale_fires_for_the_silent_gpu_only(influx: InfluxStack, influx_db: str) -> None:
    now = int(time.time())  # the rule compares with InfluxDB's now()
    f = s.GF_GPU_UTIL.name
    lines = [f"{s.GPU.name},host=h1,gpu=0,run_id=r {f}=50 {t}" for t in range(now - 500, now - 1, 5)]
    lines += [f"{s.GPU.name},host=h1,gpu=1,run_id=r {f}=50 {t}" for t in range(now - 500, now - 200, 5)]
    lines += [f"{s.GPU.name},host=h2,gpu=0,run_id=r {f}=50 {t}" for t in range(now - 3000, now - 2000, 5)]  # gone
    _write(influx, influx_db, lines)
    got = evaluate(_rule("inferload-gpu-telemetry-stale"), _runner(influx, influx_db), now * 1000 + 1000)
    assert got == {labels(run_id="r", host="h1", gpu="0"): False, labels(run_id="r", host="h1", gpu="1"): True}


def test_server_queue_growing_fires_for_the_unbounded_queue_only(influx: InfluxStack, influx_db: str) -> None:
    now = int(time.time())
    w = s.SF_WAITING.name
    lines = []
    for i, t in enumerate(range(now - 590, now, 10)):  # 59 scrapes over the rule's 10 min
        lines.append(f"{s.SERVER.name},run_id=grow,scenario=sc,model=m,host=h {w}={1 + i} {t}")  # 1 -> 59
        lines.append(f"{s.SERVER.name},run_id=flat,scenario=sc,model=m,host=h {w}=40 {t}")  # high but steady
        lines.append(f"{s.SERVER.name},run_id=drains,scenario=sc,model=m,host=h {w}={0 if i == 20 else 1 + i} {t}")
    _write(influx, influx_db, lines)
    got = evaluate(_rule("inferload-server-queue-growing"), _runner(influx, influx_db), now * 1000 + 1000)
    assert got == {labels(run_id="grow", scenario="sc", model="m"): True,
                   labels(run_id="flat", scenario="sc", model="m"): False,
                   labels(run_id="drains", scenario="sc", model="m"): False}
