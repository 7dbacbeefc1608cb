"""Dashboard 3, *Model vs system latency*: the client's view beside the server's own accounting.

The stacked decomposition E2E = queue + prefill + decode + outside the model uses **means**
(percentiles do not add); "outside" is computed by a Grafana expression from the client's mean E2E
and the server's component means.  The server's components come from its histograms' interval
deltas (``llm_server_latency``: sum_s / count), per-request server timings (``llm_request``) only
where the server returns them (llama.cpp ``timings``, TGI headers, vLLM per-request metrics).
"""

from __future__ import annotations

from collectors import schema as s
from dashboards.grafana import Board, Json, expr_math, target
from dashboards.influxql import Select, agg, col, ident, latency_where, tag_is

UID = "inferload-model-vs-system"
COMPONENTS: tuple[str, ...] = (s.SC_QUEUE, s.SC_PREFILL, s.SC_DECODE)


def server_mean(component: str, alias: str) -> Select:
    """Mean seconds per request of one server component per bucket: sum(sum_s) / sum(count)."""
    return Select(s.SERVER_LATENCY, [f"sum({ident(s.SF_SUM.name)}) / sum({ident(s.SF_COUNT.name)}) AS {ident(alias)}"],
                  where=[tag_is(s.T_COMPONENT, component)], by_time=True, fill="null")


def client_mean(metric: str, alias: str) -> Select:
    return Select(s.LATENCY, [agg("mean", s.F_MEAN, alias)], where=latency_where(metric), by_time=True, fill="null")


def component_sums() -> Select:
    """Totals over the range per component: the seconds the server spent, and its observation count."""
    comp = "|".join(COMPONENTS)
    return Select(s.SERVER_LATENCY, [agg("sum", s.SF_SUM, "total s"), agg("sum", s.SF_COUNT, "requests")],
                  where=[f"{ident(s.T_COMPONENT.name)} =~ /^({comp})$/"], group_tags=[s.T_COMPONENT])


def build() -> Json:
    b = Board(UID, "inferload / Model vs system latency",
              "Client-observed latency beside the server's queue, prefill and decode time, and the server's state.")
    b.row("Decomposition")
    targets = [dict(target("A", client_mean(s.M_E2E, "client e2e")), hide=True)]
    refs = []
    for i, comp in enumerate(COMPONENTS):
        ref = chr(ord("Q") + i)
        refs.append(ref)
        targets.append(target(ref, server_mean(comp, comp), alias=f"server {comp}"))
    targets.append(expr_math("O", "$A - " + " - ".join(f"${r}" for r in refs)))
    b.timeseries("E2E = queue + prefill + decode + outside the model (means)",
                 "Stacked per interval: the server's mean queue, prefill and decode time per request "
                 "(llm_server_latency sum_s / count) and the rest of the client's mean E2E (llm_latency mean), "
                 "i.e. time outside the model: network, proxies, tokenisation, client. Means, because "
                 "percentiles do not add.", "s", targets, stacked=True, w=16,
                 overrides=[{"matcher": {"id": "byFrameRefID", "options": "O"},
                             "properties": [{"id": "displayName", "value": "outside the model"}]}])
    b.add("table", "Server time per component over the range",
          "Total seconds and observations per server latency component over the selected range (histogram "
          "sum and count deltas). For gpusim these equal its ground-truth trace.", "s",
          [target("A", component_sums(), fmt="table")], w=8,
          transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}}}],
          overrides=[{"matcher": {"id": "byName", "options": "requests"},
                      "properties": [{"id": "unit", "value": "short"}]}])
    both = [target("A", client_mean(s.M_TTFT, "client ttft"), alias="client TTFT"),
            target("B", client_mean(s.M_E2E, "client e2e"), alias="client E2E"),
            target("C", server_mean(s.SC_TTFT, "server ttft"), alias="server TTFT"),
            target("D", server_mean(s.SC_E2E, "server e2e"), alias="server E2E")]
    b.timeseries("Client vs server: mean TTFT and E2E", "Means per interval: client-observed (llm_latency) and "
                 "server-reported (llm_server_latency). The gap is time outside the model.", "s", both)
    p99 = [target("A", Select(s.LATENCY, [agg("max", s.F_P99, "p99")], where=latency_where(s.M_TTFT), by_time=True,
                              fill="null"), alias="client p99 TTFT"),
           target("B", Select(s.SERVER_LATENCY, [agg("max", s.SF_P99, "p99")], where=[tag_is(s.T_COMPONENT, s.SC_TTFT)],
                              by_time=True, fill="null"), alias="server p99 TTFT")]
    b.timeseries("Client vs server: p99 TTFT side by side", "Interval p99 from the client's merged histograms and "
                 "from the server's histogram deltas (bucket-interpolated). Side by side, never subtracted.", "s", p99)
    raw = Select(s.REQUEST, [col(s.F_CLIENT_OVERHEAD)], skip_vars=("phase", "class"))
    b.add("histogram", "Time outside the model per request (one run)",
          "Distribution of client_overhead_s = E2E - server E2E (or - queue - inference) over the requests of the "
          "selected run, where the server returns per-request timings (llama.cpp timings, TGI x-*-time headers, "
          "vLLM per-request metrics). Empty for servers that return none.", "s",
          [target("A", raw, fmt="time_series")], w=12, options={"bucketCount": 30, "legend": {"showLegend": False}})
    b.row("Server state")
    sv = s.SERVER
    for fields, title, unit, desc in (
        ((s.SF_RUNNING, s.SF_WAITING), "Running and waiting requests", "short",
         "The engine's running and waiting (queued) requests, as scraped from its /metrics."),
        ((s.SF_KV_CACHE_USAGE, s.SF_PREFIX_CACHE_HIT_RATE), "KV-cache usage and prefix-cache hit rate", "percentunit",
         "KV-cache usage (0-1) and prefix-cache hit rate over the scrape interval."),
    ):
        q = Select(sv, [agg("mean", f, f.name) for f in fields], by_time=True, fill="null")
        b.timeseries(title, desc, unit, [target("A", q, alias="$col")], w=8)
    pre = Select(sv, [agg("sum", s.SF_PREEMPTIONS, "preemptions")], by_time=True, fill="null")
    b.timeseries("Preemptions", "Requests preempted (KV cache full) per bucket.", "short",
                 [target("A", pre, alias="preemptions")], w=8, bars=True)
    return b.to_json()


__all__ = ["COMPONENTS", "UID", "build", "client_mean", "component_sums", "server_mean"]
