"""Dashboard 4, *GPU*: utilisation, memory, power, clocks, temperature, throttle reasons, J/token.

GPU points are not filtered by run (a DaemonSet collector does not know the run): the time range
(kept by the links from the other dashboards) scopes them, and ``host`` / ``gpu`` select the cards.
"""

from __future__ import annotations

from collectors import schema as s
from dashboards.grafana import Board, Json, expr_math, target
from dashboards.influxql import Select, agg, ident

UID = "inferload-gpu"
BY_GPU = [s.T_HOST, s.T_GPU]


def per_gpu(f: s.Field, fn: str = "mean") -> Select:
    return Select(s.GPU, [agg(fn, f, f.name)], by_time=True, fill="null", group_tags=BY_GPU)


def throttle_mappings() -> list[Json]:
    """Range mappings: [bit, 2*bit) -> that bit's reason (the highest set bit names the bucket)."""
    out: list[Json] = [{"type": "value", "options": {"0": {"text": "none", "color": "green", "index": 0}}}]
    bad = {s.GF_CE_SW_POWER_CAP, s.GF_CE_HW_SLOWDOWN, s.GF_CE_SW_THERMAL, s.GF_CE_HW_THERMAL, s.GF_CE_HW_POWER_BRAKE}
    for i, (bit, f) in enumerate(s.CLOCKS_EVENT_FLAGS, start=1):
        label = f.name.removeprefix("clocks_event_").replace("_", " ")
        out.append({"type": "range", "options": {"from": bit, "to": 2 * bit - 1, "result": {
            "text": label, "color": "red" if f in bad else "blue", "index": i}}})
    return out


def energy_query() -> str:
    """Energy used per bucket over the selected GPUs, mJ (counter deltas per GPU, then summed)."""
    inner = Select(s.GPU, [f"non_negative_difference(last({ident(s.GF_ENERGY.name)})) AS {ident('mj')}"],
                   by_time=True, group_tags=BY_GPU).render()
    return f"SELECT sum({ident('mj')}) AS {ident('mJ')} FROM ({inner}) WHERE $timeFilter GROUP BY time($__interval)"


def tokens_query() -> Select:
    return Select(s.SERVER, [agg("sum", s.SF_GENERATION_TOKENS, "tokens")], by_time=True, fill="null")


def build() -> Json:
    b = Board(UID, "inferload / GPU", "GPU telemetry (NVML or dcgm-exporter) per host and GPU, with phases shaded.")
    alias = "$tag_host gpu $tag_gpu"
    for f, title, unit, desc in (
        (s.GF_GPU_UTIL, "GPU utilisation", "percent", "Share of time a kernel ran (NVML sample window 1/6-1 s)."),
        (s.GF_FB_USED, "Framebuffer memory used", "mbytes", "Device memory used (MiB)."),
        (s.GF_POWER, "Power draw", "watt", "Board power draw (W; a 1 s average on Ampere and later)."),
        (s.GF_SM_CLOCK, "SM clock", "rotmhz", "Streaming-multiprocessor clock; drops show throttling."),
        (s.GF_GPU_TEMP, "Temperature", "celsius", "GPU core temperature."),
    ):
        b.timeseries(title, desc, unit, [target("A", per_gpu(f), alias=alias)], w=12)
    q = Select(s.GPU, [agg("max", s.GF_CLOCKS_EVENT, "reasons")], by_time=True, fill="null", group_tags=BY_GPU)
    b.add("state-timeline", "Throttle (clock event) reasons",
          "One lane per GPU: the most severe clock event reason active in the bucket (the highest bit of "
          "DCGM_FI_DEV_CLOCKS_EVENT_REASONS: the bucket's max of the bitmask has the highest bit any sample had). "
          "gpu idle and app clocks are benign; power cap, thermal slowdown and power brake cost throughput. One "
          "bitmask field instead of nine decoded flags keeps 24 h of 1-s samples fast.", "none",
          [target("A", q, alias=alias)], w=12, mappings=throttle_mappings(),
          options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8})
    b.timeseries("Energy per output token (J/token)",
                 "Energy used by the selected GPUs (DCGM total energy counter deltas, mJ) divided by the tokens "
                 "the server generated in the same bucket (llm_server.generation_tokens): a Grafana expression "
                 "$A / 1000 / $B.", "suffix: J/token",
                 [dict(target("A", energy_query(), alias="energy mJ"), hide=True),
                  dict(target("B", tokens_query(), alias="tokens"), hide=True),
                  expr_math("C", "$A / 1000 / $B")], w=24, extra={"interval": "5s"})
    return b.to_json()


__all__ = ["UID", "build", "energy_query", "per_gpu", "throttle_mappings", "tokens_query"]
