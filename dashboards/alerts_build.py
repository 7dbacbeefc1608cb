"""Generates the Prometheus alert rules in ``dashboards/alerts/`` (deterministic; ``--check`` for CI).

``python -m dashboards.alerts_build`` writes one rule file per profile from the same rule logic:

- ``inferload.rules.yaml`` (profile ``normal``): the Google SRE Workbook's multi-window,
  multi-burn-rate SLO alerts (page: 5 m and 1 h burn rate above 14.4; ticket: 30 m and 6 h above
  6) and the run-health alerts with their usual windows;
- ``inferload-compressed.rules.yaml`` (profile ``compressed``): every window and ``for`` divided
  by 60 (5 m -> 5 s, 1 h -> 1 m, 30 m -> 30 s, 6 h -> 6 m), for runs shorter than the long
  window and for tests; health-alert windows keep a floor so a quiet second is not an outage.
  Needs ``sinks.aggregate_interval_s: 1`` and a 1 s scrape/evaluation interval.

``--check`` exits 1 with a diff when a committed file differs from what this module generates.
Every metric name comes from ``collectors/schema.py`` (``PROM_*``); docs/alerting.md explains the
rules.  The SLO burn rates are computed by Prometheus from the master's good/total counters
(``inferload_slo_good_total`` / ``inferload_slo_requests_total``) divided by the objective's error
budget (``inferload_slo_error_budget``: p99 -> 0.01), so the rules hold for any scenario.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from collectors import schema

ALERTS_DIR = Path(__file__).resolve().parent / "alerts"
RUN_LABELS = ("run_id", "scenario", "phase", "objective")
SLO_BY = "run_id, scenario, phase, objective"
TARGET = "instance, job"  # the master that exposes the series (one run per master process)
GPU_JOB = "dcgm.*"  # Prometheus job(s) scraping dcgm-exporter (regex)
RULE_PREFIX = "inferload"

# (name, short window, long window, burn-rate factor, for, severity): SRE Workbook, table 6
BURN_ALERTS: tuple[tuple[str, str, str, float, str, str], ...] = (
    ("InferloadSLOBurnRatePage", "5m", "1h", 14.4, "2m", "page"),
    ("InferloadSLOBurnRateTicket", "30m", "6h", 6.0, "15m", "ticket"),
)


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    file: str
    factor: int  # every window and `for` is divided by this
    floor_s: int  # health-alert windows are at least this long (compressed runs)

    def window(self, text: str, *, floor: bool = False) -> str:
        seconds = parse(text) // self.factor
        if floor:
            seconds = max(seconds, self.floor_s)
        return fmt(max(seconds, 1))

    def for_(self, text: str) -> str:
        return fmt(max(parse(text) // self.factor, 1)) if self.factor > 1 else text


PROFILES: tuple[Profile, ...] = (
    Profile("normal", "inferload.rules.yaml", 1, 0),
    Profile("compressed", "inferload-compressed.rules.yaml", 60, 10),
)

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def parse(text: str) -> int:
    """``1h30m`` -> 5400 (Prometheus duration, whole seconds)."""
    total, num = 0, ""
    for ch in text:
        if ch.isdigit():
            num += ch
            continue
        total += int(num) * dict(_UNITS)[ch]
        num = ""
    if num:
        raise ValueError(f"duration without unit: {text!r}")
    return total


def fmt(seconds: int) -> str:
    """5400 -> ``1h30m`` (Prometheus duration)."""
    out = ""
    for unit, size in _UNITS:
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return out or "0s"


def _run_join(expr: str) -> str:
    """Adds run_id, scenario and phase (the plan's current phase) of the master exposing ``expr``."""
    return (f"({expr})\n* on ({TARGET}) group_left (run_id, scenario, phase)\n"
            f"  max by ({TARGET}, run_id, scenario, phase) ({schema.PROM_RUN_INFO})")


def _any_run_join(expr: str) -> str:
    """For series from other targets (GPU exporter): labels of the (one) run in progress, if any."""
    return (f"({expr})\n+ on () group_left (run_id, scenario, phase)\n"
            f"  (0 * topk(1, max by (run_id, scenario, phase) ({schema.PROM_RUN_INFO})))")


def _slo_windows(p: Profile) -> list[str]:
    out: list[str] = []
    for _, short, long, _, _, _ in BURN_ALERTS:
        for w in (short, long):
            if w not in out:
                out.append(w)
    return out


def recording_rules(p: Profile) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    good, total = schema.PROM_SLO_GOOD_TOTAL, schema.PROM_SLO_REQUESTS_TOTAL
    for w in _slo_windows(p):
        win = p.window(w)
        rules.append({
            "record": f"{RULE_PREFIX}:slo_bad_ratio:rate{w}",
            "expr": (f"(sum by ({SLO_BY}) (rate({total}[{win}])) - sum by ({SLO_BY}) (rate({good}[{win}])))\n"
                     f"/ sum by ({SLO_BY}) (rate({total}[{win}]))"),
        })
        rules.append({
            "record": f"{RULE_PREFIX}:slo_burn_rate:rate{w}",
            "expr": (f"{RULE_PREFIX}:slo_bad_ratio:rate{w}\n/ on (run_id, scenario, objective) group_left ()\n"
                     f"  max by (run_id, scenario, objective) ({schema.PROM_SLO_BUDGET})"),
        })
    return rules


def _alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str,
           extra_labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = {"severity": severity, **(extra_labels or {})}
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": labels,
        "annotations": {"summary": summary, "description": description},
    }


def slo_alerts(p: Profile) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, short, long, factor, for_, severity in BURN_ALERTS:
        expr = (f"{RULE_PREFIX}:slo_burn_rate:rate{short} > {factor:g}\n"
                f"and\n{RULE_PREFIX}:slo_burn_rate:rate{long} > {factor:g}")
        out.append(_alert(
            name, expr, p.for_(for_), severity,
            "{{ $labels.objective }} burns its error budget "
            f"{factor:g}x (run {{{{ $labels.run_id }}}}, phase {{{{ $labels.phase }}}})",
            f"Over the last {p.window(short)} and {p.window(long)} the fraction of requests above the "
            f"objective's per-request threshold exceeded {factor:g} times the error budget "
            "(burn rate over the short window: {{ $value | printf \"%.1f\" }}).",
        ))
    return out


def health_alerts(p: Profile) -> list[dict[str, Any]]:
    req = schema.PROM_REQUESTS_TOTAL
    w5 = p.window("5m", floor=True)
    w2 = p.window("2m", floor=True)
    w10 = p.window("10m", floor=True)
    error_spike = (
        f"sum by ({TARGET}) (rate({req}{{status!=\"ok\"}}[{w5}]))\n"
        f"/ sum by ({TARGET}) (rate({req}[{w5}])) > 0.1"
    )
    due = schema.PROM_ARRIVALS_DUE_TOTAL
    stalled = (
        f"sum by ({TARGET}, run_id, scenario, phase) (increase({due}[{w2}])) > 5\n"
        f"unless on ({TARGET})\nsum by ({TARGET}) (increase({req}[{w2}])) > 0"
    )
    dropped = f"max by ({TARGET}, sink) (delta({schema.PROM_TELEMETRY}{{state=\"dropped\"}}[{w5}])) > 0"
    gpu_util = schema.GF_GPU_UTIL.name
    gpu_stale = (
        f"max by (instance, job) (up{{job=~\"{GPU_JOB}\"}}) == 0\n"
        f"or\n(count by (instance, job) (up{{job=~\"{GPU_JOB}\"}} == 1)\n"
        f" unless count by (instance, job) ({gpu_util}))"
    )
    waiting = schema.PROM_SERVER_WAITING
    queue = (
        f"deriv({waiting}[{w10}]) > 0.05\n"
        f"and\nmin_over_time({waiting}[{w10}]) > 0\n"
        f"and\n{waiting} > 10"
    )
    return [
        _alert("InferloadErrorRateSpike", _run_join(error_spike), p.for_("2m"), "page",
               "more than 10 % of requests fail (run {{ $labels.run_id }}, phase {{ $labels.phase }})",
               f"Failed / finished requests over the last {w5} is {{{{ $value | humanizePercentage }}}}.",
               {"objective": "error_rate"}),
        _alert("InferloadNoRequestsCompleting", stalled, p.for_("1m"), "page",
               "arrivals are due but no request completes (run {{ $labels.run_id }}, phase {{ $labels.phase }})",
               f"The plan scheduled arrivals over the last {w2} and no request finished: the target "
               "hangs or the generator cannot reach it."),
        _alert("InferloadGeneratorInvalid", _run_join(f"max by ({TARGET}) ({schema.PROM_INVALID}) > 0"),
               p.for_("1m"), "ticket",
               "the load generator is the bottleneck (run {{ $labels.run_id }}): results are not valid",
               "Schedule lag p99 or worker CPU is above the scenario's generator limits; "
               "these intervals are not judged and the run will exit 3."),
        _alert("InferloadSinkDroppingPoints", _run_join(dropped), p.for_("1m"), "ticket",
               "the {{ $labels.sink }} sink drops points (run {{ $labels.run_id }})",
               f"Dropped points grew over the last {w5}: the spool is full or the destination "
               "rejects points; measurements are being lost."),
        _alert("InferloadGPUTelemetryStale", _any_run_join(gpu_stale), p.for_("2m"), "ticket",
               "GPU telemetry from {{ $labels.instance }} is stale",
               "The dcgm-exporter target is down, or answers without GPU samples."),
        _alert("InferloadServerQueueGrowing", _run_join(queue), p.for_("5m"), "page",
               "the target's queue grows without bound (run {{ $labels.run_id }}, phase {{ $labels.phase }})",
               f"Requests waiting in the engine rose steadily for {w10} and never drained: the "
               "arrival rate is past the server's capacity."),
        # the master fits the trend itself (loadgen/drift.py: slope with a confidence interval, a
        # minimum rise, persistence) and flags a drift once; the rule only turns that into an alert
        _alert("InferloadDrift", f"max by (run_id, scenario, phase, objective) ({schema.PROM_DRIFT}) > 0",
               "0s", "ticket",
               "{{ $labels.objective }} drifts upward over the soak (run {{ $labels.run_id }})",
               "The load generator found a significant upward trend in {{ $labels.objective }} (latency "
               "creep, a growing error rate, or the server's KV cache / queue / GPU memory leaking); "
               "the run summary's drift section has the slope per hour and its confidence interval."),
    ]


def build(p: Profile) -> dict[str, Any]:
    return {"groups": [
        # one group: Prometheus evaluates a group's rules in order, so the burn-rate alerts read the
        # burn rates recorded in the same evaluation (separate groups run concurrently: an alert could
        # read the previous step's value — promtool showed 80.0 instead of 83.3 about one run in three)
        {"name": f"inferload-slo-{p.name}", "rules": recording_rules(p) + slo_alerts(p)},
        {"name": f"inferload-run-health-{p.name}", "rules": health_alerts(p)},
    ]}


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def render(p: Profile) -> str:
    head = (f"# Generated by `python -m dashboards.alerts_build` (profile {p.name}): do not edit.\n"
            "# Rules, windows and how to load them: docs/alerting.md.\n")
    return head + yaml.dump(build(p), Dumper=_Dumper, sort_keys=False, width=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards.alerts_build", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 with a diff when a file is stale")
    parser.add_argument("--dir", type=Path, default=ALERTS_DIR, help="output folder (default dashboards/alerts)")
    args = parser.parse_args(argv)
    stale = 0
    for p in PROFILES:
        path = args.dir / p.file
        text = render(p)
        if args.check:
            current = path.read_text(encoding="utf-8") if path.exists() else ""
            if current != text:
                sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), text.splitlines(True),
                                                           str(path), "generated"))
                sys.stderr.write(f"{path} is stale: run python -m dashboards.alerts_build\n")
                stale = 1
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return stale


if __name__ == "__main__":
    raise SystemExit(main())

__all__ = ["ALERTS_DIR", "BURN_ALERTS", "PROFILES", "Profile", "build", "fmt", "main", "parse", "render"]
