"""Dashboard 5, *Load generator health*: is the generator (not the server) the bottleneck, and is data lost?"""

from __future__ import annotations

from collectors import schema as s
from dashboards.grafana import Board, Json, target
from dashboards.influxql import Select, agg, ident

UID = "inferload-loadgen-health"


def build() -> Json:
    b = Board(UID, "inferload / Load generator health",
              "Schedule lag, CPU, workers, invalid intervals, sink accounting and collector health.")
    h = s.HEALTH
    b.row("Generator")
    lag = Select(h, [agg("max", f, f.name) for f in (s.F_LAG_P50, s.F_LAG_P99, s.F_LAG_MAX)], by_time=True,
                 fill="null", group_tags=[s.T_WORKER])
    b.timeseries("Schedule lag p50 / p99 / max per worker",
                 "send - scheduled time of the requests in each interval: the generator's own lateness. Above "
                 "generator.max_schedule_lag_p99_ms the interval is invalid.", "s",
                 [target("A", lag, alias="$tag_worker $col")])
    cpu = Select(h, [agg("max", s.F_CPU, "cpu")], by_time=True, fill="null", group_tags=[s.T_WORKER])
    b.timeseries("CPU per worker", "Highest worker CPU use in the interval (100 % = one core); above "
                 "generator.max_cpu_percent the interval is invalid.", "percent", [target("A", cpu, alias="$tag_worker")])
    workers = Select(h, [agg("max", s.F_WORKERS, "workers")], by_time=True, fill="null")
    b.timeseries("Workers connected", "Workers connected to the master.", "short",
                 [target("A", workers, alias="workers")], w=8)
    inv = Select(h, [agg("max", f, f.name) for f in (s.F_INVALID, s.F_LAG_BOUND, s.F_CPU_BOUND, s.F_DROP_BOUND)],
                 by_time=True, fill="0")
    b.add("state-timeline", "Invalid intervals and why",
          "invalid = lag_exceeded or cpu_exceeded: the generator was the bottleneck. drops_exceeded: arrivals were "
          "dropped at max_inflight (the target is behind; the run stays valid).", "bool_yes_no",
          [target("A", inv, alias="$col")], w=16, options={"showValue": "never", "mergeValues": True},
          thresholds=[(None, "green"), (1, "red")])
    b.row("Sinks")
    sk = s.SINK
    acct = (s.F_GENERATED, s.F_WRITTEN, s.F_PENDING_MEM, s.F_PENDING_SPOOL, s.F_DROPPED)
    q = Select(sk, [agg("last", f, f.name) for f in acct], by_time=True, fill="null", group_tags=[s.T_WORKER, s.T_SINK])
    b.timeseries("Sink accounting: generated = written + pending + dropped",
                 "Points per writer and sink since start. generated - written is the backlog; dropped > 0 means "
                 "points are missing from InfluxDB.", "short", [target("A", q, alias="$tag_worker $tag_sink $col")])
    reasons = (s.F_DROPPED_SPOOL_FULL, s.F_DROPPED_REJECTED, s.F_DROPPED_ENCODE, s.F_DROPPED_QUEUE_FULL,
               s.F_DROPPED_IO, s.F_DROPPED_CLOSED)
    q = Select(sk, [agg("last", f, f.name) for f in reasons], by_time=True, fill="null", group_tags=[s.T_WORKER, s.T_SINK])
    b.timeseries("Dropped points by reason", "Points dropped since start, by reason (spool full, rejected by the "
                 "server, encode error, queue full, I/O error, written after close).", "short",
                 [target("A", q, alias="$tag_worker $tag_sink $col")])
    sp = Select(sk, [agg("last", s.F_SPOOL_BYTES, "spool")], by_time=True, fill="null", group_tags=[s.T_WORKER, s.T_SINK])
    b.timeseries("Spool size", "Bytes waiting in the on-disk spool (InfluxDB unreachable or slow).", "bytes",
                 [target("A", sp, alias="$tag_worker $tag_sink")])
    age = Select(sk, [agg("last", s.F_OLDEST_UNSENT, "age")], by_time=True, fill="null",
                 group_tags=[s.T_WORKER, s.T_SINK])
    b.timeseries("Oldest unsent point", "Age of the oldest point not yet written: how far behind live "
                 "the dashboards are.", "s", [target("A", age, alias="$tag_worker $tag_sink")])
    b.row("Collectors")
    c = s.COLLECTOR
    ch = Select(c, [f"non_negative_difference(last({ident(f.name)})) AS {ident(f.name)}" for f in (s.CF_ERRORS, s.CF_MISSED)],
                by_time=True, group_tags=[s.T_COLLECTOR])
    b.timeseries("Collector errors and missed ticks", "Failed collections and ticks skipped (collection overran "
                 "its period) per bucket, per collector (gpu, server).", "short",
                 [target("A", ch, alias="$tag_collector $col")], bars=True)
    dur = Select(c, [agg("max", s.CF_DURATION, "duration")], by_time=True, fill="null", group_tags=[s.T_COLLECTOR])
    b.timeseries("Collection duration", "How long the slowest collection in the bucket took, per collector.", "s",
                 [target("A", dur, alias="$tag_collector")])
    return b.to_json()


__all__ = ["UID", "build"]
