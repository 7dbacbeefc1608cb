"""A whole `inferload run` into a real InfluxDB (Debian's 1.6 behind the v2-write proxy).

- a run of N requests leaves exactly N raw request points, and the interval aggregates'
  counts sum to N (N = the endpoint's own request count = the summary's);
- influxd SIGKILLed for 20 s mid-run and restarted: still exactly N, through spool and replay;
- a canary API key (the target's) and a canary InfluxDB token appear nowhere in InfluxDB, the
  run's output, or its files;
- the target's /metrics (gpusim) is scraped into the same database, tagged with the run id.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors import schema
from tests.integration.test_locust import _start_server, _stats, _stop
from tests.support.influx import InfluxStack

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


@pytest.fixture(scope="module")
def endpoint() -> Iterator[int]:
    proc, port = _start_server("--ttft", "0.02", "--itl", "0.005")
    yield port
    _stop(proc)


def _scenario(tmp: Path, base_url: str, influx: InfluxStack, db: str, *, steady_s: float, rate: float,
              api_key_env: str | None = None, extra: str = "") -> Path:
    key = f"\n  api_key_env: {api_key_env}" if api_key_env else ""
    path = tmp / "scenario.yaml"
    path.write_text(f"""name: influx-e2e
seed: 3
target:
  base_url: {base_url}{key}
workload:
  prompt_tokens: 16
  output_tokens: 8
phases:
  - {{name: warm, kind: warmup, duration: 2s, arrivals: {{process: poisson, rate: {rate}}}}}
  - {{name: steady, kind: steady, duration: {steady_s}s, arrivals: {{process: poisson, rate: {rate}}}}}
slo:
  objectives:
    - {{metric: ttft, percentile: 99, max_ms: 5000}}
  max_error_rate: 0.5
generator:
  stop_timeout_s: 5
  max_schedule_lag_p99_ms: 2000
  max_cpu_percent: 100
sinks:
  aggregate_interval_s: 1
  influxdb:
    url: {influx.write_url}
    org: test
    bucket: {db}
    token_env: INFERLOAD_TEST_INFLUX_TOKEN
    timeout_s: 5
    retry_max_s: 2
{extra}""")
    return path


def _run(scenario: Path, out: Path, env: dict[str, str], timeout_s: float = 180) -> tuple[int, str, dict]:
    proc = subprocess.run(
        [PY, "-m", "loadgen.cli", "run", str(scenario), "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s,
    )
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else {}
    return proc.returncode, proc.stdout + proc.stderr, summary


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("INFERLOAD_TEST_INFLUX_TOKEN", "test-token")
    env.update(extra)
    return env


def _summary_count(summary: dict) -> int:
    return sum(int(p["requests"]) for p in summary["phases"].values())


def _raw_points(influx: InfluxStack, db: str) -> int:
    # schedule_lag_s is present on every raw point (ok or failed)
    return influx.server.count(db, schema.REQUEST.name, schema.F_SCHEDULE_LAG.name)


def _aggregate_requests(influx: InfluxStack, db: str) -> float:
    return influx.server.sum(db, schema.THROUGHPUT.name, schema.F_REQUESTS.name)


def test_run_of_n_requests_leaves_exactly_n_raw_points(influx: InfluxStack, endpoint: int, tmp_path: Path) -> None:
    db = influx.fresh_db("run_" + uuid.uuid4().hex[:10])
    before = _stats(endpoint)["requests"]
    sc = _scenario(tmp_path, f"http://127.0.0.1:{endpoint}", influx, db, steady_s=6, rate=25)
    rc, output, summary = _run(sc, tmp_path / "out", _env())
    assert rc == 0, output[-3000:]
    n = _stats(endpoint)["requests"] - before
    assert n > 100
    assert _summary_count(summary) == n
    tel = summary["telemetry"]["sinks"]["influxdb"]
    assert tel["generated"] == tel["written"] and tel["dropped"] == 0, tel
    assert _raw_points(influx, db) == n
    assert _aggregate_requests(influx, db) == n


def test_influxd_killed_for_20s_mid_run_still_exactly_n(influx: InfluxStack, endpoint: int, tmp_path: Path) -> None:
    db = influx.fresh_db("outage_" + uuid.uuid4().hex[:10])
    before = _stats(endpoint)["requests"]
    sc = _scenario(tmp_path, f"http://127.0.0.1:{endpoint}", influx, db, steady_s=34, rate=10)
    outage: dict[str, float] = {}

    def kill_and_restart() -> None:
        time.sleep(6)
        influx.server.kill()
        outage["down"] = time.time()
        time.sleep(20)
        influx.server.start()
        outage["up"] = time.time()

    t = threading.Thread(target=kill_and_restart)
    t.start()
    try:
        rc, output, summary = _run(sc, tmp_path / "out", _env())
    finally:
        t.join()
    assert outage["up"] - outage["down"] >= 20
    assert rc == 0, output[-3000:]
    n = _stats(endpoint)["requests"] - before
    assert _summary_count(summary) == n
    tel = summary["telemetry"]["sinks"]["influxdb"]
    assert tel["generated"] == tel["written"] and tel["dropped"] == 0, tel
    assert tel["retries"] > 0, "the outage was never noticed: the test did not test it"
    assert _raw_points(influx, db) == n
    assert _aggregate_requests(influx, db) == n


def test_canary_api_key_and_token_appear_nowhere(influx: InfluxStack, endpoint: int, tmp_path: Path) -> None:
    db = influx.fresh_db("canary_" + uuid.uuid4().hex[:10])
    api_key = f"sk-CANARYKEY-{uuid.uuid4().hex}"
    token = f"CANARYTOKEN-{uuid.uuid4().hex}"
    lp = tmp_path / "out" / "points.lp"
    sc = _scenario(tmp_path, f"http://127.0.0.1:{endpoint}", influx, db, steady_s=3, rate=20,
                   api_key_env="INFERLOAD_TEST_API_KEY", extra=f"  file: {{path: {lp}}}\n")
    rc, output, summary = _run(sc, tmp_path / "out", _env(INFERLOAD_TEST_API_KEY=api_key,
                                                          INFERLOAD_TEST_INFLUX_TOKEN=token))
    assert rc == 0, output[-3000:]
    assert f"Token {token}" in influx.proxy.authorizations, "the canary token was really used"
    haystacks = [output, json.dumps(summary)]
    haystacks += [p.read_text(errors="replace") for p in (tmp_path / "out").rglob("*") if p.is_file()]
    for row in influx.server.series("SHOW MEASUREMENTS", db)[0]["values"]:
        haystacks.append(json.dumps(influx.server.query(f'SELECT * FROM "{row[0]}"', db)))
        haystacks.append(json.dumps(influx.server.query(f'SHOW TAG VALUES FROM "{row[0]}" WITH KEY =~ /.*/', db)))
    assert len(haystacks) > 5
    for text in haystacks:
        for canary in (api_key, token):
            assert canary not in text
            assert canary[-16:] not in text


def test_target_metrics_scraped_into_the_run(influx: InfluxStack, tmp_path: Path) -> None:
    db = influx.fresh_db("scrape_" + uuid.uuid4().hex[:10])
    sim = subprocess.Popen([PY, "-m", "loadgen.cli", "sim", "--port", "0", "--preset", "tiny-cpu"],
                           cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None
        line = sim.stdout.readline()
        assert "listening on" in line, line
        base = line.strip().rsplit(" ", 1)[-1]
        sc = _scenario(tmp_path, base, influx, db, steady_s=5, rate=4)
        rc, output, summary = _run(sc, tmp_path / "out", _env())
        assert rc in (0, 1), output[-3000:]
        scraped = summary["telemetry"]["server_metrics"]
        assert scraped["server"] == "vllm" and scraped["scrapes"] >= 3 and scraped["errors"] == 0, scraped
        rows = influx.server.series(f'SELECT count(*) FROM "{schema.SERVER.name}" WHERE run_id = '
                                    f"'{summary['run_id']}'", db)
        assert rows, "no server-metrics points tagged with the run id"
    finally:
        _stop(sim)
