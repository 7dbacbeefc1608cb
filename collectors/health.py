"""Load-generator health -> ``loadgen_health`` points, and the "generator was the bottleneck" test.

An interval is flagged ``invalid = 1`` when the generator itself was the bottleneck: p99
schedule lag above ``lag_p99_s`` (default 50 ms; a run sets ``generator.max_schedule_lag_p99_ms``)
or CPU above ``cpu_percent`` (default 90 %; ``generator.max_cpu_percent``), or a request failed
inside the load generator (``generator_faults``: a bug of ours, never the target's error).  Measurements taken
in such an interval describe the load generator, not the target.

Arrivals dropped at ``max_inflight`` are flagged separately (``drops_exceeded``): the declared
load was not fully offered because the *target* fell behind, a result about the target, so it
does not make the interval invalid (the run's exit code treats it the same way).
"""

from __future__ import annotations

from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from collectors import schema
from collectors.hdr_read import value_at_percentile
from collectors.point import Point


@dataclass(frozen=True, slots=True)
class HealthLimits:
    lag_p99_s: float = 0.050
    cpu_percent: float = 90.0
    dropped_arrivals: int = 0  # more than this many drops in an interval sets drops_exceeded


@dataclass(frozen=True, slots=True)
class HealthSample:
    """What the load generator knows about itself over one interval."""

    interval_s: float
    inflight: int = 0
    dropped_arrivals: int = 0
    workers_connected: int = 0
    cpu_percent: float = 0.0
    lag_p50_s: float = 0.0
    lag_p99_s: float = 0.0
    lag_max_s: float = 0.0
    generator_faults: int = 0
    aggregate_s: float = 0.0
    loop_stall_max_s: float = 0.0

    @staticmethod
    def lag_from(h: HdrHistogram | None) -> tuple[float, float, float]:
        """(p50, p99, max) in seconds of a microsecond HDR histogram (zeros when empty)."""
        if h is None or not h.get_total_count():
            return 0.0, 0.0, 0.0
        return (value_at_percentile(h, 50.0) / 1e6, value_at_percentile(h, 99.0) / 1e6,
                h.get_max_value() / 1e6)


def health_fields(sample: HealthSample, limits: HealthLimits) -> dict[str, float]:
    lag = sample.lag_p99_s > limits.lag_p99_s
    cpu = sample.cpu_percent > limits.cpu_percent
    drops = sample.dropped_arrivals > limits.dropped_arrivals
    return {
        schema.F_INTERVAL.name: float(sample.interval_s),
        schema.F_LAG_P50.name: sample.lag_p50_s,
        schema.F_LAG_P99.name: sample.lag_p99_s,
        schema.F_LAG_MAX.name: sample.lag_max_s,
        schema.F_INFLIGHT.name: float(sample.inflight),
        schema.F_DROPPED_ARRIVALS.name: float(sample.dropped_arrivals),
        schema.F_WORKERS.name: float(sample.workers_connected),
        schema.F_CPU.name: float(sample.cpu_percent),
        schema.F_LAG_BOUND.name: float(lag),
        schema.F_CPU_BOUND.name: float(cpu),
        schema.F_DROP_BOUND.name: float(drops),
        schema.F_GENERATOR_FAULTS.name: float(sample.generator_faults),
        schema.F_AGGREGATE_S.name: float(sample.aggregate_s),
        schema.F_STALL_MAX.name: float(sample.loop_stall_max_s),
        schema.F_INVALID.name: float(lag or cpu or sample.generator_faults > 0),
    }


def health_point(sample: HealthSample, limits: HealthLimits, *, tags: dict[str, str], now_ns: int) -> Point:
    """The ``loadgen_health`` point; ``tags`` are run_id, scenario, worker, role."""
    return Point(schema.HEALTH.name, dict(tags), health_fields(sample, limits), now_ns)


__all__ = ["HealthLimits", "HealthSample", "health_fields", "health_point"]
