"""The sinks use plain ``threading``: under gevent's monkey-patching (as in a Locust worker) they
become greenlets and must still drain, spool and account exactly.  Run in a subprocess so the
patching does not leak into the test process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = r"""
from gevent import monkey
monkey.patch_all()
import json, sys, threading, time
import gevent
from collectors.sinks.config import InfluxSinkConfig
from collectors.sinks.influx import InfluxSink
from collectors.sinks.transport import TransientWriteError
from tests.collectors.fakes import points

calls = {"n": 0, "lines": 0}
def transport(body):
    calls["n"] += 1
    gevent.sleep(0.01)  # cooperative I/O
    if calls["n"] <= 3:
        raise TransientWriteError("HTTP 503")
    calls["lines"] += body.count("\n") + 1

cfg = InfluxSinkConfig(url="http://127.0.0.1:1", bucket="b", batch_size=200, flush_interval_s=0.05,
                       retry_initial_s=0.01, retry_max_s=0.05)
sink = InfluxSink(cfg, transport=transport, spool_dir=sys.argv[1])
ticks = []
def request_path():
    for i in range(0, 5000, 50):
        t = time.perf_counter()
        sink.write(points(50, i))
        ticks.append(time.perf_counter() - t)
        gevent.sleep(0.001)
g = gevent.spawn(request_path)
g.join(60)
ok = sink.flush(30)
st = sink.close(5)
print(json.dumps({"flushed": ok, "written": st.written, "generated": st.generated,
                  "balanced": st.balanced(), "lines": calls["lines"], "retries": st.retries,
                  "patched": monkey.is_module_patched("threading")}))
"""


@pytest.mark.integration
def test_influx_sink_under_gevent_monkey_patching(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "spool")], cwd=root,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["flushed"] and res["balanced"]
    assert res["written"] == res["generated"] == res["lines"] == 5000
    assert res["retries"] == 3 and res["patched"] is True
