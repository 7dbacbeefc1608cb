"""Dashboard 1, *Run overview*: what a person watches during a soak.

SLO state per objective (rolling windows and the run so far), target vs achieved req/s, output
tok/s, goodput, errors by class, in flight, dropped arrivals, workers connected, the intervals where
the generator was the bottleneck, sink backlog and drops.
"""

from __future__ import annotations

from collectors import schema as s
from dashboards.grafana import Board, Json, target
from dashboards.influxql import Select, agg, ident

UID = "inferload-overview"
RATE_MIN_INTERVAL = "5s"  # the default sinks.aggregate_interval_s: a rate bucket holds >= 1 aggregate


def rate(f: s.Field, m: s.Measurement = s.THROUGHPUT, alias: str = "") -> str:
    """Sum of a per-interval count over the bucket, per second (exact when buckets >= the aggregate interval)."""
    text = f"sum({ident(f.name)}) * 1000 / $__interval_ms"
    return f"{text} AS {ident(alias or f.name)}"


def build() -> Json:
    b = Board(UID, "inferload / Run overview",
              "One run at a glance: SLO state, load offered vs achieved, errors, generator and sink health.")
    slo, cnt = s.SLO, s.SLO_COUNT
    b.row("SLO")
    state = Select(slo, [agg("last", s.SF_SLO_VIOLATING, "violating")], group_tags=[s.T_OBJECTIVE, s.T_SLO_WINDOW])
    b.stat("SLO state per objective and window",
           "One tile per SLO objective x rolling window (llm_slo.violating, last interval): green OK, red "
           "VIOLATING (value above threshold over the window). Warmup, cooldown and generator-invalid intervals "
           "are not judged.", "none", [target("A", state, alias="$tag_objective $tag_slo_window")], w=8, h=6,
           thresholds=[(None, "green"), (1, "red")],
           mappings=[{"options": {"0": {"text": "OK"}, "1": {"text": "VIOLATING"}}, "type": "value"}])
    window = Select(slo, [agg("last", s.SF_SLO_VALUE, "window value"), agg("last", s.SF_SLO_THRESHOLD, "threshold"),
                          agg("last", s.SF_SLO_BURN_RATE, "burn rate"), agg("last", s.SF_SLO_VIOLATING, "violating")],
                    group_tags=[s.T_OBJECTIVE, s.T_SLO_WINDOW])
    so_far = Select(cnt, [f"(sum({ident(s.SF_SLO_COUNTED.name)}) - sum({ident(s.SF_SLO_GOOD.name)})) / "
                          f"sum({ident(s.SF_SLO_COUNTED.name)}) AS {ident('run bad fraction')}",
                          agg("last", s.SF_SLO_BUDGET, "budget")], group_tags=[s.T_OBJECTIVE])
    b.add("table", "SLO objectives: window value vs threshold, run so far",
          "Per objective and rolling window: the last window value and threshold (seconds for latency "
          "percentiles, ratio for error_rate), the burn rate (bad fraction / error budget; 1 = spending the "
          "budget exactly) and, for the run so far, the fraction of requests above the per-request threshold "
          "next to the budget (p99 -> 0.01).", "short",
          [target("A", window, fmt="table"), target("B", so_far, fmt="table")], w=16, h=6,
          transformations=[{"id": "merge", "options": {}},
                           {"id": "organize", "options": {"excludeByName": {"Time": True}}}])
    b.row("Load")
    due = Select(s.RUN_PROGRESS, [rate(s.PF_ARRIVALS_DUE, s.RUN_PROGRESS, "target req/s")], by_time=True,
                 fill="null")
    done = Select(s.THROUGHPUT, [rate(s.F_REQUESTS, alias="achieved req/s")], by_time=True, fill="null")
    shade = Select(s.HEALTH, [agg("max", s.F_INVALID, "invalid")], by_time=True, fill="0")
    b.timeseries("Target vs achieved req/s",
                 "Target: arrivals the plan schedules per second (run_progress.arrivals_due). Achieved: requests "
                 "finished per second (llm_throughput.requests). A gap that persists is the system falling behind "
                 "(or dropped arrivals, below). Red shading: intervals where the load generator itself was the "
                 "bottleneck (loadgen_health.invalid): their latency is not the server's.", "reqps",
                 [target("A", due, alias="target"), target("B", done, alias="achieved"),
                  target("C", shade, alias="generator invalid")],
                 overrides=[{"matcher": {"id": "byFrameRefID", "options": "C"}, "properties": [
                     {"id": "custom.drawStyle", "value": "bars"}, {"id": "custom.fillOpacity", "value": 25},
                     {"id": "custom.lineWidth", "value": 0}, {"id": "custom.axisPlacement", "value": "hidden"},
                     {"id": "max", "value": 1}, {"id": "min", "value": 0}, {"id": "unit", "value": "bool_yes_no"},
                     {"id": "color", "value": {"fixedColor": "red", "mode": "fixed"}}]}],
                 extra={"interval": RATE_MIN_INTERVAL})
    tok = Select(s.THROUGHPUT, [rate(s.F_OUT_TOK, alias="tok/s")], by_time=True, fill="null", group_tags=[s.T_CLASS])
    b.timeseries("Output tokens/s", "Output tokens of the requests finished per second, per traffic class.",
                 "suffix: tok/s", [target("A", tok, alias="$tag_class")], stacked=True,
                 extra={"interval": RATE_MIN_INTERVAL})
    good = Select(s.THROUGHPUT, [rate(s.F_GOOD, alias="goodput")], by_time=True, fill="null", group_tags=[s.T_CLASS])
    b.timeseries("Goodput (req/s meeting every SLO threshold)",
                 "Requests per second that finished without error and met every per-request SLO threshold "
                 "(llm_throughput.good_requests; the rule is in docs/metrics.md).", "reqps",
                 [target("A", good, alias="$tag_class")], stacked=True, extra={"interval": RATE_MIN_INTERVAL})
    err = Select(s.ERRORS, [rate(s.F_COUNT, s.ERRORS, "errors/s")], by_time=True, fill="null",
                 group_tags=[s.T_ERROR, s.T_CLASS])
    b.timeseries("Errors/s by error class", "Failed requests per second by error class and traffic class "
                 "(llm_errors). Error rate = errors / requests: see the SLO table.", "reqps",
                 [target("A", err, alias="$tag_error ($tag_class)")], stacked=True, bars=True,
                 extra={"interval": RATE_MIN_INTERVAL})
    b.row("Generator and sink")
    h = s.HEALTH
    infl = Select(h, [agg("sum", s.F_INFLIGHT, "in flight")], by_time=True, fill="null")
    drop = Select(h, [agg("sum", s.F_DROPPED_ARRIVALS, "dropped")], by_time=True, fill="null")
    b.timeseries("In flight and dropped arrivals",
                 "Requests in flight at the end of each interval, and arrivals not sent because max_inflight was "
                 "reached (never queued: an open-loop run drops and counts them).", "short",
                 [target("A", infl, alias="in flight"), target("B", drop, alias="dropped arrivals")], w=8)
    workers = Select(h, [agg("max", s.F_WORKERS, "workers")], by_time=True, fill="null")
    b.timeseries("Workers connected", "Workers connected to the master (max over the bucket).", "short",
                 [target("A", workers, alias="workers")], w=8)
    invalid = Select(h, [agg("max", s.F_INVALID, "invalid")], by_time=True, fill="0")
    b.timeseries("Generator was the bottleneck (invalid intervals)",
                 "1 where the load generator itself fell behind (schedule lag p99 or CPU above its limit): "
                 "latency measured in those intervals is not the server's.", "bool_yes_no",
                 [target("A", invalid, alias="invalid")], w=8, bars=True,
                 thresholds=[(None, "green"), (1, "red")])
    sk = s.SINK
    backlog = Select(sk, [f"last({ident(s.F_PENDING_MEM.name)}) + last({ident(s.F_PENDING_SPOOL.name)}) AS "
                          f"{ident('pending')}", agg("last", s.F_DROPPED, "dropped")],
                     by_time=True, fill="null", group_tags=[s.T_WORKER, s.T_SINK])
    b.timeseries("Sink backlog and drops",
                 "Per writer and sink: points waiting (memory queue + disk spool) and points dropped since start. "
                 "Dropped > 0 means data is missing from these dashboards.", "short",
                 [target("A", backlog, alias="$tag_worker $tag_sink $col")], w=24)
    return b.to_json()


__all__ = ["RATE_MIN_INTERVAL", "UID", "build", "rate"]
