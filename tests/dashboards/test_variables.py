"""The run_id variable lists the latest run first (its default is the first value), on a real influxd."""

from __future__ import annotations

import urllib.request

import pytest

from collectors import schema
from dashboards import build, expand
from tests.support.influx import InfluxStack

pytestmark = pytest.mark.integration


def _write(influx: InfluxStack, db: str, lines: list[str]) -> None:
    req = urllib.request.Request(f"{influx.server.url}/write?db={db}&precision=s", data="\n".join(lines).encode(),
                                 method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 204


def _first_column_values(res: dict) -> list[str]:
    """What Grafana takes from a SELECT for a variable: the first column after time, in order, unique."""
    out: list[str] = []
    for series in res.get("series", []):
        for row in series["values"]:
            if row[1] not in out:
                out.append(row[1])
    return out


def test_run_id_variable_lists_the_latest_run_first(influx: InfluxStack, influx_db: str) -> None:
    h = schema.HEALTH
    t0 = 1_790_000_000
    # alphabetical order (what SHOW TAG VALUES gives) is the opposite of latest-first here
    lines = [f"{h.name},{schema.T_RUN_ID.name}={run} {schema.F_INTERVAL.name}=5.0 {t0 + i * 10 + k}"
             for i, run in enumerate(["aa-old", "mm-mid", "zz-new"]) for k in range(3)]
    _write(influx, influx_db, lines)
    d = build.dashboards()["overview"]
    var = next(v for v in d["templating"]["list"] if v["name"] == "run_id")
    q = expand.Query("run_id", "variable", var["query"])
    text = expand.expand(q, from_ms=(t0 - 60) * 1000, to_ms=(t0 + 600) * 1000, defs=expand.var_defs(d), values={})
    res = influx.server.query(text, influx_db)["results"][0]
    assert "error" not in res, res
    values = _first_column_values(res)
    assert values[0] == "zz-new"
    assert sorted(values) == ["aa-old", "mm-mid", "zz-new"]
