"""Server-metrics collector: scrape a Prometheus ``/metrics`` page, write canonical components.

Parsing is ``prometheus_client.parser.text_string_to_metric_families``.  Every scrape:

- gauges are written as read (``llm_server``);
- counters become deltas since the previous scrape, per series (family + label set); a series
  that went down was reset (server restart): its new value is taken as the delta and counted
  in ``resets``;
- histograms become bucket, ``_sum`` and ``_count`` deltas per series group (labels without
  ``le``); a group whose count, sum or any bucket went down was reset and counts from zero;
  per component and interval: ``count``, ``sum_s``, ``mean_s``, interpolated ``p50/p90/p99_s``
  (``llm_server_latency``) and the bucket deltas (``llm_server_latency_bucket``).

The first scrape only sets the baseline for deltas (a series first seen later counts from 0).
Series are summed across labels other than the server's model label (engines, finish reasons).
Per-step means (``tokens_per_step``, ``seqs_per_step``) come from counter deltas too (families.py).
:meth:`ServerMetricsCollector.sample_gauges` reads only a few gauges by a line scan, without the
parser and without touching the delta state (the run samples ``running``/``waiting`` with it).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from collectors import schema as s
from collectors.http import HttpGet, http_get, redact_url
from collectors.point import Point
from collectors.server.families import MAPPINGS, ServerMapping, Source, detect_server

log = logging.getLogger(__name__)

Labels = tuple[tuple[str, str], ...]
Key = tuple[str, Labels]
QUANTILES: tuple[tuple[float, str], ...] = ((0.5, s.SF_P50.name), (0.9, s.SF_P90.name), (0.99, s.SF_P99.name))


class UnknownServerError(Exception):
    """The page has none of the families of a supported server (auto-detection failed)."""


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus ``histogram_quantile``: linear interpolation in cumulative ``(le, count)`` buckets.

    The first bucket's lower bound is 0; a rank in the ``+Inf`` bucket gives the last finite bound.
    """
    if not buckets:
        return None
    buckets = sorted(buckets)
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return prev_le
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return prev_le


def _le_text(le: float) -> str:
    return "+Inf" if math.isinf(le) else f"{le:.6g}"


@dataclass
class _Hist:
    buckets: dict[float, float] = field(default_factory=dict)
    count: float = 0.0
    sum: float = 0.0
    reset: bool = False


class ServerMetricsCollector:
    """``collect(now_ns)`` -> ``llm_server``, ``llm_server_latency`` and bucket points for one URL."""

    def __init__(
        self,
        url: str,
        *,
        get: HttpGet = http_get,
        server: str | None = None,
        tags: Mapping[str, str] | None = None,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._get = get
        self.mapping: ServerMapping | None = MAPPINGS[server] if server else None
        self._tags = dict(tags or {})
        self._timeout_s = timeout_s
        self._clock = clock
        self._prev: dict[Key, float] = {}
        self._prev_t: float | None = None
        self.scrapes = 0

    def collect(self, now_ns: int) -> Iterable[Point]:
        t0 = self._clock()
        text = self._get(self.url, self._timeout_s)
        t1 = self._clock()
        return self.process(text, now_ns, scrape_s=t1 - t0, t=t1)

    def close(self) -> None:
        pass

    def sample_gauges(self, components: Iterable[str]) -> dict[str, float]:
        """Fetch the page and read only the gauge ``components`` (summed over series), cheaply.

        No exposition parser and no delta state: a line scan for the few gauge families, so a run
        can sample ``running``/``waiting`` every second and parse the whole page less often.  Needs
        the server kind (given, or detected by a first :meth:`collect`); {} before that.
        """
        mapping = self.mapping
        if mapping is None:
            return {}
        wanted = set(components)
        names: dict[str, str] = {}
        for src in mapping.sources:
            if src.kind == "gauge" and src.component in wanted and src.agg == "sum":
                for fam in src.families:
                    names.setdefault(fam, src.component)
        text = self._get(self.url, self._timeout_s)
        found: dict[str, dict[str, float]] = {}  # component -> {family: sum}
        for line in text.splitlines():
            if not line or line[0] == "#":
                continue
            name_end = min((i for i in (line.find("{"), line.find(" ")) if i > 0), default=-1)
            comp = names.get(line[:name_end]) if name_end > 0 else None
            if comp is None:
                continue
            rest = line[line.rfind("}") + 1:] if "{" in line[:name_end + 1] else line[name_end:]
            try:
                value = float(rest.split()[0])
            except (IndexError, ValueError):
                continue
            fams = found.setdefault(comp, {})
            fams[line[:name_end]] = fams.get(line[:name_end], 0.0) + value
        out: dict[str, float] = {}
        for comp, fams in found.items():
            first = next(f for f in names if names[f] == comp and f in fams)  # aliases: first present wins
            out[comp] = fams[first]
        return out

    # -- one scrape -------------------------------------------------------------------------
    def process(self, text: str, now_ns: int, *, scrape_s: float = 0.0, t: float | None = None) -> list[Point]:
        """Points from one exposition text; updates the delta state (exposed for tests and tools)."""
        families = {f.name: f for f in text_string_to_metric_families(text)}
        if self.mapping is None:
            kind = detect_server(families)
            if kind is None:
                raise UnknownServerError(
                    f"{redact_url(self.url)}: no vLLM, SGLang, TGI, llama.cpp or Triton metric families found "
                    "(pass --server KIND if the server is supported but renamed)"
                )
            self.mapping = MAPPINGS[kind]
        mapping = self.mapping
        first = self.scrapes == 0
        if first and not any(n in families or n + "_total" in families for n in mapping.declared_families()):
            log.warning("%s: none of the %s metric families found; only scrape_s will be written",
                        redact_url(self.url), mapping.kind)
        cur: dict[Key, float] = {}
        resets: set[Key] = set()

        def samples(fam_name: str, suffix: str = "") -> Iterable[tuple[Key, dict[str, str], float]]:
            # counters: the family is `x` and samples `x_total`; a page declaring `# TYPE x_total`
            # without the parser's normalisation gives an untyped family `x_total`: accept both
            fam = families.get(fam_name) or families.get(fam_name + "_total")
            if fam is None:
                return ()
            want = fam_name + suffix
            alt = want + "_total" if not suffix else want
            return (((smp.name, tuple(sorted(smp.labels.items()))), smp.labels, float(smp.value))
                    for smp in fam.samples if smp.name in (want, alt))

        def delta(key: Key, value: float, *, reset_hint: bool = False) -> float | None:
            cur[key] = value
            if first:
                return None
            prev = self._prev.get(key)
            if prev is None:
                return value
            if value < prev or reset_hint:
                resets.add(key)
                return value
            return value - prev

        def model_of(labels: Mapping[str, str]) -> str:
            return labels.get(mapping.model_label, "") if mapping.model_label else ""

        def present(names: tuple[str, ...], combine: str = "first") -> tuple[str, ...]:
            found = tuple(n for n in names if n in families or n + "_total" in families)
            return found if combine == "sum" else found[:1]

        reset_models: set[tuple[tuple[str, ...], str]] = set()  # (families, model) with a reset series

        def counter_deltas(names: tuple[str, ...], scale: float = 1.0, combine: str = "first") -> dict[str, float]:
            out: dict[str, float] = {}
            for name in present(names, combine):
                for key, labels, value in samples(name):
                    d = delta(key, value)
                    if d is not None:
                        m = model_of(labels)
                        out[m] = out.get(m, 0.0) + d * scale
                        if key in resets:
                            reset_models.add((names, m))
            return out

        server_fields: dict[str, dict[str, float]] = {}
        latency: dict[tuple[str, str], tuple[Source, _Hist, bool]] = {}  # (component, model)
        for src in mapping.sources:
            if src.kind == "gauge":
                values: dict[str, list[float]] = {}
                for name in present(src.families):
                    for _key, labels, value in samples(name):
                        values.setdefault(model_of(labels), []).append(value)
                for m, vs in values.items():
                    server_fields.setdefault(m, {})[src.component] = sum(vs) if src.agg == "sum" else sum(vs) / len(vs)
            elif src.kind == "counter":
                for m, d in counter_deltas(src.families).items():
                    server_fields.setdefault(m, {})[src.component] = d
            elif src.kind == "ratio":
                num = counter_deltas(src.families)
                den = counter_deltas(src.denominator)
                for m, d in den.items():
                    if d > 0:
                        server_fields.setdefault(m, {})[src.component] = num.get(m, 0.0) / d
            elif src.kind == "hist_mean":
                for m, v in self._hist_mean(src, present, samples, delta, model_of).items():
                    server_fields.setdefault(m, {})[src.component] = v
            elif src.kind == "mean_per_event":
                for m, v in self._mean_per_event(src, present, samples, delta, model_of, cur, first).items():
                    server_fields.setdefault(m, {})[src.component] = v
            elif src.kind == "counter_time":
                sums = counter_deltas(src.families, src.scale, src.combine)
                counts = counter_deltas(src.count_families) if src.count_families else {}
                for m, total in sums.items():
                    h = _Hist(sum=total, count=counts.get(m, 0.0), reset=(src.families, m) in reset_models)
                    latency[(src.component, m)] = (src, h, bool(src.count_families))
            else:  # histogram
                for m, h in self._histogram(src, families, samples, delta, model_of).items():
                    latency[(src.component, m)] = (src, h, True)

        points: list[Point] = []
        base = {**self._tags, s.T_SERVER.name: mapping.kind}

        def tags_for(m: str, **extra: str) -> dict[str, str]:
            tags = dict(base)
            if m:
                tags[s.T_MODEL.name] = m
            tags.update(extra)
            return tags

        interval = None if (first or t is None or self._prev_t is None) else t - self._prev_t
        for m in server_fields or {"": {}}:
            fields = dict(server_fields.get(m, {}))
            fields[s.SF_SCRAPE.name] = scrape_s
            fields[s.SF_RESETS.name] = float(len(resets))
            if interval is not None:
                fields[s.SF_INTERVAL.name] = interval
            points.append(Point(s.SERVER.name, tags_for(m), fields, now_ns))
        for (component, m), (src, h, has_count) in latency.items():
            if h.count <= 0 and h.sum <= 0:
                continue
            fields = {s.SF_SUM.name: h.sum, s.SF_RESET.name: 1.0 if h.reset else 0.0}
            if has_count:
                fields[s.SF_COUNT.name] = h.count
                if h.count > 0:
                    fields[s.SF_MEAN.name] = h.sum / h.count
            if src.kind == "histogram" and h.count > 0:
                cumulative = list(h.buckets.items())
                for q, name in QUANTILES:
                    qv = bucket_quantile(q, cumulative)
                    if qv is not None:
                        fields[name] = qv
                for le, c in sorted(h.buckets.items()):
                    points.append(Point(
                        s.SERVER_LATENCY_BUCKET.name, tags_for(m, **{s.T_COMPONENT.name: component, s.T_LE.name: _le_text(le)}),
                        {s.SF_BUCKET_COUNT.name: c}, now_ns,
                    ))
            points.append(Point(s.SERVER_LATENCY.name, tags_for(m, **{s.T_COMPONENT.name: component}), fields, now_ns))

        self._prev = cur
        self._prev_t = t
        self.scrapes += 1
        return points

    @staticmethod
    def _hist_mean(
        src: Source,
        present: Callable[[tuple[str, ...]], tuple[str, ...]],
        samples: Callable[..., Iterable[tuple[Key, dict[str, str], float]]],
        delta: Callable[..., float | None],
        model_of: Callable[[Mapping[str, str]], str],
    ) -> dict[str, float]:
        """Δ_sum / Δ_count per model (the mean observation of the interval)."""
        totals: dict[str, list[float]] = {}
        for name in present(src.families):
            for i, part in enumerate(("_sum", "_count")):
                for key, labels, value in samples(name, part):
                    d = delta(key, value)
                    if d is not None:
                        totals.setdefault(model_of(labels), [0.0, 0.0])[i] += d
        return {m: sm / c for m, (sm, c) in totals.items() if c > 0}

    def _mean_per_event(
        self,
        src: Source,
        present: Callable[[tuple[str, ...]], tuple[str, ...]],
        samples: Callable[..., Iterable[tuple[Key, dict[str, str], float]]],
        delta: Callable[..., float | None],
        model_of: Callable[[Mapping[str, str]], str],
        cur: dict[Key, float],
        first: bool,
    ) -> dict[str, float]:
        """Δ(average × events) / Δevents per model; the product is not a counter (the average is
        printed rounded), so it never counts as a reset and a negative result is clamped to 0."""
        averages: dict[str, float] = {}
        for name in present(src.families):
            for _key, labels, value in samples(name):
                averages[model_of(labels)] = value
        out: dict[str, float] = {}
        for name in present(src.count_families):
            for key, labels, value in samples(name):
                m = model_of(labels)
                d_events = delta(key, value)
                total_key: Key = (src.families[0] + "*events", key[1])
                total = averages.get(m, 0.0) * value
                cur[total_key] = total
                prev = self._prev.get(total_key)
                if first or d_events is None or d_events <= 0 or m not in averages:
                    continue
                if prev is None or key in self._reset_keys(value, key):
                    out[m] = averages[m]  # restarted (or new): the average is this interval's
                else:
                    out[m] = max(0.0, (total - prev) / d_events)
        return out

    def _reset_keys(self, value: float, key: Key) -> set[Key]:
        prev = self._prev.get(key)
        return {key} if prev is not None and value < prev else set()

    def _histogram(
        self,
        src: Source,
        families: Mapping[str, object],
        samples: Callable[..., Iterable[tuple[Key, dict[str, str], float]]],
        delta: Callable[..., float | None],
        model_of: Callable[[Mapping[str, str]], str],
    ) -> dict[str, _Hist]:
        names = [n for n in src.families if n in families][:1]
        out: dict[str, _Hist] = {}
        for name in names:
            groups: dict[Labels, list[tuple[Key, float, float | None, str]]] = {}  # key, value, le, part
            for part in ("_bucket", "_sum", "_count"):
                for key, labels, value in samples(name, part):
                    le = float(labels["le"]) if part == "_bucket" else None
                    group = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
                    groups.setdefault(group, []).append((key, value, le, part))
            for group, series in groups.items():
                reset = any(self._prev.get(key, -math.inf) > value for key, value, _, _ in series)
                h = out.setdefault(model_of(dict(group)), _Hist())
                got = False
                for key, value, le, part in series:
                    d = delta(key, value, reset_hint=reset and key in self._prev)
                    if d is None:
                        continue
                    got = True
                    if part == "_bucket":
                        assert le is not None
                        bound = le * src.scale
                        h.buckets[bound] = h.buckets.get(bound, 0.0) + d
                    elif part == "_sum":
                        h.sum += d * src.scale
                    else:
                        h.count += d
                if got and reset:
                    h.reset = True
        return out


__all__ = ["QUANTILES", "ServerMetricsCollector", "UnknownServerError", "bucket_quantile"]
