"""A run folder read back: ``summary.json`` plus the points it wrote, as compact series.

Every ``*.lp`` file under ``<run>/points/`` (and, for older runs, any ``*.lp`` directly in the
run folder) is streamed line by line (collectors/lineproto_read.py); points are classified by
measurement (names from collectors/schema.py) into:

- interval latency rows (``llm_latency``, window ``interval``) per metric x class;
- interval throughput (``llm_throughput``, classes summed per timestamp) and errors by class;
- generator health (``loadgen_health``, worst worker per timestamp);
- server scrape (``llm_server``) and server latency components (``llm_server_latency``);
- GPU samples (``gpu``) per GPU, run events (``run_event``);
- per-request records (``llm_request``), kept in a seeded reservoir of at most
  ``max_requests`` (uniform over the run), so memory is bounded however long the run.

Memory: a few float arrays per series (one value per interval), the reservoir, and nothing else;
no line is kept after it is parsed.  Times are seconds since the plan's start (``t0_unix``).
"""

from __future__ import annotations

import json
import math
import random
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from collectors import schema
from collectors.lineproto_read import LineProtocolError, ParsedPoint, parse_line
from userinput.errors import InputError

DEFAULT_MAX_REQUESTS = 500_000
REQUEST_FIELDS: tuple[str, ...] = (
    schema.F_SCHEDULED.name, schema.F_TTFT.name, schema.F_TTFT_SCHED.name, schema.F_TPOT.name,
    schema.F_E2E.name, schema.F_E2E_SCHED.name, schema.F_ITL_MEAN.name, schema.F_OUTPUT_TOKENS.name,
    schema.F_PROMPT_TOKENS.name,
    schema.F_OK.name, schema.F_SERVER_QUEUE.name, schema.F_SERVER_PREFILL.name, schema.F_SERVER_DECODE.name,
    schema.F_SERVER_INFERENCE.name, schema.F_SERVER_TTFT.name, schema.F_SERVER_E2E.name,
    schema.F_CLIENT_OVERHEAD.name,
)
LATENCY_COLS: tuple[str, ...] = (
    schema.F_COUNT.name, schema.F_MEAN.name, schema.F_P50.name, schema.F_P90.name, schema.F_P99.name,
)
THROUGHPUT_COLS: tuple[str, ...] = (
    schema.F_REQUESTS.name, schema.F_OK_REQUESTS.name, schema.F_ERRORS.name, schema.F_GOOD.name,
    schema.F_OUT_TOK.name, schema.F_INTERVAL.name,
)
HEALTH_COLS: tuple[str, ...] = (
    schema.F_LAG_P99.name, schema.F_CPU.name, schema.F_INFLIGHT.name, schema.F_DROPPED_ARRIVALS.name,
)
SERVER_COLS: tuple[str, ...] = (schema.SF_RUNNING.name, schema.SF_WAITING.name, schema.SF_KV_CACHE_USAGE.name)
GPU_COLS: tuple[str, ...] = (
    schema.GF_GPU_UTIL.name, schema.GF_POWER.name, schema.GF_FB_USED.name, schema.GF_GPU_TEMP.name,
    schema.GF_SM_CLOCK.name,
)
_NAN = math.nan
_WIDTH = len(REQUEST_FIELDS)
_PHASE, _CLASS, _ERROR = schema.T_PHASE.name, schema.T_CLASS.name, schema.T_ERROR.name


class Series:
    """Times (s since t0) and named float columns, appended row by row (``array('d')``)."""

    __slots__ = ("cols", "t")

    def __init__(self, cols: Iterable[str]) -> None:
        self.t = array("d")
        self.cols: dict[str, array[float]] = {c: array("d") for c in cols}

    def append(self, t: float, fields: dict[str, Any]) -> None:
        self.t.append(t)
        for name, col in self.cols.items():
            v = fields.get(name)
            col.append(float(v) if isinstance(v, float) else _NAN)

    def __len__(self) -> int:
        return len(self.t)

    def arrays(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Sorted by time, as numpy arrays."""
        t = np.frombuffer(self.t, dtype=np.float64) if len(self.t) else np.zeros(0)
        order = np.argsort(t, kind="stable")
        return t[order], {k: (np.frombuffer(v, dtype=np.float64)[order] if len(v) else np.zeros(0))
                          for k, v in self.cols.items()}


class Keyed:
    """Rows summed (or maxed) per timestamp: one row per interval across classes or workers."""

    __slots__ = ("_how", "_rows")

    def __init__(self, how: dict[str, str]) -> None:
        self._how = how  # column -> "sum" | "max"
        self._rows: dict[int, list[float]] = {}

    def add(self, t_ns: int, fields: dict[str, Any]) -> None:
        row = self._rows.get(t_ns)
        if row is None:
            row = self._rows[t_ns] = [_NAN] * len(self._how)
        for i, (name, how) in enumerate(self._how.items()):
            v = fields.get(name)
            if not isinstance(v, float):
                continue
            old = row[i]
            if old != old:  # NaN
                row[i] = v
            elif how == "sum":
                row[i] = old + v
            else:
                row[i] = max(old, v)

    def __len__(self) -> int:
        return len(self._rows)

    def arrays(self, t0_ns: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        keys = sorted(self._rows)
        t = (np.array(keys, dtype=np.float64) - t0_ns) / 1e9
        data = np.array([self._rows[k] for k in keys], dtype=np.float64).reshape(len(keys), len(self._how))
        return t, {name: data[:, i] for i, name in enumerate(self._how)}


class Requests:
    """A uniform reservoir of per-request records, stored compactly.

    Numeric fields (``REQUEST_FIELDS``) live in one ``array('d')`` with a stride of one record;
    phase, class and error are small integer codes.  About 150 bytes per kept record.
    """

    def __init__(self, capacity: int, seed: int = 0) -> None:
        self.capacity = capacity
        self.seen = 0
        self._rng = random.Random(seed)
        self._data = array("d")
        self._labels = array("i")  # 3 codes per record: phase, class, error
        self._codes: dict[str, int] = {}
        self._names: list[str] = []

    def _code(self, label: str) -> int:
        c = self._codes.get(label)
        if c is None:
            c = self._codes[label] = len(self._names)
            self._names.append(label)
        return c

    def __len__(self) -> int:
        return len(self._labels) // 3

    def add(self, p: ParsedPoint) -> None:
        self.seen += 1
        get = p.fields.get
        tags = p.tags
        vals = [get(name, _NAN) for name in REQUEST_FIELDS]
        labels = (self._code(tags.get(_PHASE, "")), self._code(tags.get(_CLASS, "")),
                  self._code(tags.get(_ERROR, schema.ERROR_OK)))
        n = len(self)
        if n < self.capacity:
            j = n
        else:
            j = self._rng.randrange(self.seen)
            if j >= self.capacity:
                return
        row: array[float]
        try:
            row = array("d", vals)  # type: ignore[arg-type]  # floats, or TypeError below
        except TypeError:  # a string field (not written by inferload)
            row = array("d", [v if isinstance(v, float) else _NAN for v in vals])
        if j == n:
            self._data.extend(row)
            self._labels.extend(labels)
        else:
            w = _WIDTH
            self._data[j * w : (j + 1) * w] = row
            self._labels[j * 3 : j * 3 + 3] = array("i", labels)

    @property
    def sampled_out(self) -> int:
        return self.seen - len(self)

    def _label_codes(self, which: int) -> np.ndarray:
        if not len(self._labels):
            return np.zeros(0, dtype=np.int32)
        return np.frombuffer(self._labels, dtype=np.int32).reshape(-1, 3)[:, which]

    def phases(self) -> list[str]:
        return sorted({self._names[c] for c in set(self._label_codes(0).tolist())})

    def _phase_mask(self, phase: str | None) -> np.ndarray:
        codes = self._label_codes(0)
        if phase is None:
            return np.ones(codes.size, dtype=bool)
        c = self._codes.get(phase)
        return codes == c if c is not None else np.zeros(codes.size, dtype=bool)

    def column(self, name: str, phase: str | None = None, ok_only: bool = True) -> np.ndarray:
        """Finite values of one field (optionally one phase; successful requests only by default)."""
        if not len(self):
            return np.zeros(0)
        data = np.frombuffer(self._data, dtype=np.float64).reshape(-1, _WIDTH)
        mask = self._phase_mask(phase)
        if ok_only:
            mask &= data[:, REQUEST_FIELDS.index(schema.F_OK.name)] == 1.0
        a = data[mask, REQUEST_FIELDS.index(name)]
        return a[np.isfinite(a)].copy()

    def outcomes(self, phase: str | None = None) -> tuple[int, int]:
        """(requests, errors) among the kept records (cancelled requests excluded)."""
        err = self._label_codes(2)
        mask = self._phase_mask(phase)
        cancelled = self._codes.get("cancelled", -1)
        ok = self._codes.get(schema.ERROR_OK, -1)
        mask &= err != cancelled
        return int(mask.sum()), int((mask & (err != ok)).sum())


@dataclass
class RunData:
    path: Path
    summary: dict[str, Any]
    t0_ns: int
    latency: dict[tuple[str, str], Series] = field(default_factory=dict)  # (metric, class)
    throughput: Keyed = field(default_factory=lambda: Keyed({c: "sum" for c in THROUGHPUT_COLS}))
    errors: dict[str, Keyed] = field(default_factory=dict)  # error class -> count per interval
    health: Keyed = field(default_factory=lambda: Keyed({
        schema.F_LAG_P99.name: "max", schema.F_CPU.name: "max", schema.F_INFLIGHT.name: "sum",
        schema.F_DROPPED_ARRIVALS.name: "sum"}))
    server: Series = field(default_factory=lambda: Series(SERVER_COLS))
    server_info: dict[str, str] = field(default_factory=dict)  # server kind, model
    server_latency: dict[str, Series] = field(default_factory=dict)  # component
    gpus: dict[str, Series] = field(default_factory=dict)  # "host/gpu"
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: Requests = field(default_factory=lambda: Requests(DEFAULT_MAX_REQUESTS))
    files: list[Path] = field(default_factory=list)
    points: int = 0
    bad_lines: list[str] = field(default_factory=list)
    bad_line_count: int = 0
    label: str = ""  # shown instead of the run id (compare: runs with the same id)

    def rel(self, t_ns: int | None) -> float:
        return _NAN if t_ns is None else (t_ns - self.t0_ns) / 1e9

    @property
    def name(self) -> str:
        return self.label or str(self.summary.get("run_id") or self.path.name)


def point_files(run_dir: Path) -> list[Path]:
    """``points/**/*.lp`` then ``*.lp`` directly in the run folder, sorted."""
    found = sorted((run_dir / "points").rglob("*.lp")) if (run_dir / "points").is_dir() else []
    return found + sorted(p for p in run_dir.glob("*.lp") if p.is_file())


def load_summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "summary.json"
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: not a run folder (no such directory)")
    if not path.is_file():
        from loadgen.checkpoint import CHECKPOINT_FILE
        from loadgen.checkpoint_summary import summary_from_checkpoint

        if (run_dir / CHECKPOINT_FILE).is_file():  # a running or crashed run: its last checkpoint
            return summary_from_checkpoint(run_dir)
        raise InputError(f"{run_dir}: not a run folder (no summary.json)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: cannot read summary ({err})") from None
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith("inferload.summary/"):
        raise InputError(f"{path}: not an inferload summary (no 'schema: inferload.summary/N')")
    return data


_WANTED = (
    schema.LATENCY.name, schema.THROUGHPUT.name, schema.ERRORS.name, schema.HEALTH.name, schema.SERVER.name,
    schema.SERVER_LATENCY.name, schema.GPU.name, schema.RUN_EVENT.name, schema.REQUEST.name,
)
_PREFIXES = tuple(p for m in _WANTED for p in (m + ",", m + " "))
_CUMULATIVE = f"{schema.T_WINDOW.name}=cumulative"
MAX_BAD_LINES_KEPT = 20


def _lines(files: list[Path]) -> Iterator[tuple[Path, int, str]]:
    for path in files:
        with path.open("r", encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                yield path, lineno, line


def read_run(run_dir: Path, max_requests: int = DEFAULT_MAX_REQUESTS) -> RunData:
    """Read a run folder (summary and points) into :class:`RunData`; bad lines are counted, not fatal."""
    summary = load_summary(run_dir)
    t0 = summary.get("t0_unix")
    t0_ns = int(float(t0) * 1e9) if isinstance(t0, int | float) else 0
    data = RunData(run_dir, summary, t0_ns, requests=Requests(max_requests))
    data.files = point_files(run_dir)
    for path, lineno, line in _lines(data.files):
        if not line.startswith(_PREFIXES) or _CUMULATIVE in line:
            continue
        try:
            p = parse_line(line)
        except LineProtocolError as err:
            data.bad_line_count += 1
            if len(data.bad_lines) < MAX_BAD_LINES_KEPT:
                data.bad_lines.append(f"{path}:{lineno}: {err}")
            continue
        if p is None or p.time_ns is None:
            continue
        data.points += 1
        _classify(data, p)
    if not t0_ns:  # no t0 in the summary: the first point's time
        data.t0_ns = 0
    return data


def _classify(d: RunData, p: ParsedPoint) -> None:
    m, tags, fields, t_ns = p.measurement, p.tags, p.fields, p.time_ns or 0
    if m == schema.LATENCY.name:
        key = (tags.get(schema.T_METRIC.name, ""), tags.get(schema.T_CLASS.name, ""))
        s = d.latency.get(key)
        if s is None:
            s = d.latency[key] = Series(LATENCY_COLS)
        s.append(d.rel(t_ns), fields)
    elif m == schema.THROUGHPUT.name:
        d.throughput.add(t_ns, fields)
    elif m == schema.ERRORS.name:
        err = tags.get(schema.T_ERROR.name, "unknown")
        k = d.errors.get(err)
        if k is None:
            k = d.errors[err] = Keyed({schema.F_COUNT.name: "sum"})
        k.add(t_ns, fields)
    elif m == schema.HEALTH.name:
        d.health.add(t_ns, fields)
    elif m == schema.SERVER.name:
        d.server.append(d.rel(t_ns), fields)
        for tag in (schema.T_SERVER.name, schema.T_MODEL.name):
            if tag in tags:
                d.server_info.setdefault(tag, tags[tag])
    elif m == schema.SERVER_LATENCY.name:
        comp = tags.get(schema.T_COMPONENT.name, "")
        s = d.server_latency.get(comp)
        if s is None:
            s = d.server_latency[comp] = Series((schema.SF_COUNT.name, schema.SF_MEAN.name, schema.SF_SUM.name))
        s.append(d.rel(t_ns), fields)
    elif m == schema.GPU.name:
        gpu = f"{tags.get(schema.T_HOST.name, '')}/{tags.get(schema.T_GPU.name, '')}"
        s = d.gpus.get(gpu)
        if s is None:
            s = d.gpus[gpu] = Series(GPU_COLS)
        s.append(d.rel(t_ns), fields)
    elif m == schema.RUN_EVENT.name:
        d.events.append({"t_s": d.rel(t_ns), **tags, **{k: v for k, v in fields.items()}})
    elif m == schema.REQUEST.name:
        d.requests.add(p)


__all__ = [
    "DEFAULT_MAX_REQUESTS",
    "REQUEST_FIELDS",
    "Keyed",
    "Requests",
    "RunData",
    "Series",
    "load_summary",
    "point_files",
    "read_run",
]
