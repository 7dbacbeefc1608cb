"""THE InfluxDB schema: every measurement, tag and field name inferload writes, with units.

Everything that writes or reads InfluxDB (the collectors, the load generator, dashboards,
alert rules, docs/schema.md) takes its names from here; nothing else spells a name.

Rules (see docs/schema.md, generated from this module):
- fields are always floats (counts too), so no field-type conflicts across writers;
- tags take only bounded values (run_id, scenario, phase, class, worker, endpoint, model, gpu,
  host, and the small enums declared below); request ids are fields, never tags.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tag:
    name: str
    description: str


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    unit: str
    description: str


@dataclass(frozen=True, slots=True)
class Measurement:
    name: str
    description: str
    tags: tuple[Tag, ...]
    fields: tuple[Field, ...]

    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def tag_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tags)


# ---- latency metrics (values of the ``metric`` tag; keys of the HDR histograms) ------------
M_TTFT = "ttft"  # first content token - send
M_TTFT_SCHED = "ttft_sched"  # first content token - scheduled (no coordinated omission)
M_TTFRT = "ttfrt"  # first reasoning token - send
M_ITL = "itl"  # every gap between successive content chunks
M_TPOT = "tpot"  # (e2e - ttft) / (output tokens - 1)
M_E2E = "e2e"  # end - send
M_E2E_SCHED = "e2e_sched"  # end - scheduled
M_SCHEDULE_LAG = "schedule_lag"  # send - scheduled (generator health)
LATENCY_METRICS: tuple[str, ...] = (
    M_TTFT, M_TTFT_SCHED, M_TTFRT, M_ITL, M_TPOT, M_E2E, M_E2E_SCHED, M_SCHEDULE_LAG,
)

# ---- tags -------------------------------------------------------------------------------
# (filled in by the collectors work: request/loadgen tags, GPU tags, server tags)

# ---- request-side measurements (request collector, HDR aggregates, generator health) ------

# ---- GPU measurements (GPU collector: NVML and dcgm-exporter sources) -----------------------

# ---- server-metrics measurements (server collector) ----------------------------------------

MEASUREMENTS: tuple[Measurement, ...] = ()
