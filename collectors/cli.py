"""``inferload collect gpu|server``: run a collector alone (sidecar, DaemonSet, or by hand).

``collect gpu [--source nvml|dcgm]`` writes the ``gpu`` measurement every ``--period`` (1 s);
``collect server --url URL`` writes the server-metrics measurements every ``--period`` (5 s).
Points go to InfluxDB (``--influx-*``), a line-protocol file (``--file``), or, with neither,
to stdout as line protocol.  A status line goes to stderr.  SIGTERM/SIGINT stop the collector
and flush the sinks.  Bad input raises :class:`InputError` (exit 2 through ``loadgen.cli``).
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, TextIO

from pydantic import ValidationError

from collectors import schema as s
from collectors.http import HttpGet, check_url, http_get, redact_url
from collectors.lineproto import encode
from collectors.point import Point
from collectors.runner import CollectorRunner, Scheduled
from collectors.sinks.config import FileSinkConfig, InfluxSinkConfig, SinksConfig
from userinput.errors import InputError

log = logging.getLogger(__name__)

FLUSH_TIMEOUT_S = 10.0
STATUS_INTERVAL_S = 60.0  # status line cadence when stderr is not a terminal


class PointSink(Protocol):
    """The part of ``collectors.sinks.base.Sink`` the CLI uses."""

    def write(self, points: Iterable[Point]) -> None: ...

    def flush(self, timeout_s: float) -> bool: ...

    def close(self, timeout_s: float) -> object: ...


class StdoutSink:
    """Line protocol on a text stream (the default when no sink flag is given)."""

    name = "stdout"

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.written = 0

    def write(self, points: Iterable[Point]) -> None:
        lines = [line for line in map(encode, points) if line]
        if lines:
            self._out.write("\n".join(lines) + "\n")
            self._out.flush()
            self.written += len(lines)

    def flush(self, timeout_s: float) -> bool:
        self._out.flush()
        return True

    def close(self, timeout_s: float) -> object:
        self._out.flush()
        return None


class FanOut:
    """Every point to every sink."""

    def __init__(self, sinks: list[PointSink]) -> None:
        self.sinks = sinks

    def write(self, points: Iterable[Point]) -> None:
        pts = list(points)
        for sink in self.sinks:
            sink.write(pts)

    def flush(self, timeout_s: float) -> bool:
        return all([sink.flush(timeout_s) for sink in self.sinks])

    def close(self, timeout_s: float) -> object:
        return [sink.close(timeout_s) for sink in self.sinks]


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _add_common(p: argparse.ArgumentParser, default_period: float) -> None:
    p.add_argument("--period", type=_positive, default=default_period, metavar="S",
                   help=f"seconds between collections (default {default_period:g})")
    p.add_argument("--once", action="store_true", help="collect once, write, and exit")
    p.add_argument("--host", default=None, help="value of the host tag (default: this machine's hostname)")
    p.add_argument("--run-id", default=None, help="add a run_id tag to every point")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    g = _add_influx_flags(p, "sinks (default: line protocol on stdout)")
    g.add_argument("--spool-dir", metavar="DIR", help="on-disk spool while InfluxDB is unreachable")
    g.add_argument("--file", metavar="OUT.lp", help="append line protocol to this file")


def _add_influx_flags(p: argparse.ArgumentParser, title: str) -> argparse._ArgumentGroup:
    g = p.add_argument_group(title)
    g.add_argument("--influx-url", help="InfluxDB base URL (v2 write API: InfluxDB 1.8+, 2.x, 3.x)")
    g.add_argument("--influx-org", default="", help="InfluxDB organisation (2.x)")
    g.add_argument("--influx-bucket", help="InfluxDB bucket (1.x: database[/retention])")
    tok = g.add_mutually_exclusive_group()
    tok.add_argument("--influx-token-env", metavar="VAR", help="environment variable holding the token")
    tok.add_argument("--influx-token-file", metavar="FILE", help="file holding the token")
    return g


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inferload collect", description="Run a collector alone.")
    sub = parser.add_subparsers(dest="collector", metavar="{gpu,server,replay}", required=True)
    gpu = sub.add_parser("gpu", help="GPU telemetry from NVML or a dcgm-exporter")
    gpu.add_argument("--source", choices=("nvml", "dcgm"), default="nvml", help="where to read (default nvml)")
    gpu.add_argument("--dcgm-url", default="http://localhost:9400/metrics", metavar="URL",
                     help="dcgm-exporter /metrics URL for --source dcgm (default %(default)s)")
    gpu.add_argument("--pcie-period", type=_positive, default=10.0, metavar="S",
                     help="seconds between PCIe throughput reads with NVML (a slow call; default 10)")
    _add_common(gpu, 1.0)
    srv = sub.add_parser("server", help="inference server /metrics (vLLM, SGLang, TGI, llama.cpp, Triton)")
    srv.add_argument("--url", required=True, help="the server's Prometheus /metrics URL")
    srv.add_argument("--server", choices=s.SERVER_KINDS, default=None,
                     help="server kind (default: detected from the metric names)")
    srv.add_argument("--timeout", type=_positive, default=5.0, metavar="S", help="HTTP timeout (default 5)")
    _add_common(srv, 5.0)
    rep = sub.add_parser("replay", help="send the points an earlier run or collector left in its spool")
    rep.add_argument("spool", metavar="SPOOL_DIR", help="the spool folder (a run's summary names it)")
    rep.add_argument("--timeout", type=_positive, default=120.0, metavar="S",
                     help="give up after this many seconds; unsent points stay in the spool (default 120)")
    rep.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    _add_influx_flags(rep, "destination")
    rep.set_defaults(file=None, spool_dir=None)
    return parser


_FLAGS = {"url": "--influx-url", "bucket": "--influx-bucket", "org": "--influx-org",
          "token_env": "--influx-token-env", "token_file": "--influx-token-file", "spool_dir": "--spool-dir"}


def sinks_config(args: argparse.Namespace) -> SinksConfig:
    """The ``SinksConfig`` the sink flags describe (:class:`InputError` when inconsistent)."""
    influx = None
    if args.influx_url or args.influx_bucket:
        if not (args.influx_url and args.influx_bucket):
            raise InputError("--influx-url and --influx-bucket go together")
        check_url(args.influx_url, "--influx-url")
        try:
            influx = InfluxSinkConfig(
                url=args.influx_url, org=args.influx_org, bucket=args.influx_bucket,
                token_env=args.influx_token_env, token_file=args.influx_token_file, spool_dir=args.spool_dir,
            )
        except ValidationError as err:
            first = err.errors()[0]
            flag = _FLAGS.get(str(first["loc"][0]) if first["loc"] else "", "influx flags")
            raise InputError(f"{flag}: {first['msg'].removeprefix('Value error, ')}") from None
    elif args.influx_token_env or args.influx_token_file:
        raise InputError("--influx-token-env/--influx-token-file need --influx-url and --influx-bucket")
    return SinksConfig(influxdb=influx, file=FileSinkConfig(path=args.file) if args.file else None)


def build_sink(config: SinksConfig, out: TextIO) -> PointSink:
    """The sinks of ``config``: InfluxDB and/or a file (fanned out when both), else stdout."""
    if config.influxdb is None and config.file is None:
        return StdoutSink(out)
    sinks: list[PointSink] = []
    if config.influxdb is not None:
        from collectors.sinks.influx import InfluxSink

        sinks.append(InfluxSink(config.influxdb))
    if config.file is not None:
        from collectors.sinks.file import FileSink

        sinks.append(FileSink(config.file))
    return sinks[0] if len(sinks) == 1 else FanOut(sinks)


class _Status:
    """A one-line status on stderr: rewritten in place on a terminal, else every minute."""

    def __init__(self, runner: CollectorRunner, err: TextIO) -> None:
        self._runner = runner
        self._err = err
        self._tty = err.isatty()
        self._last = time.monotonic()

    def line(self) -> str:
        parts = [f"{name}: {st.collections} collections, {st.points} points, {st.errors} errors"
                 + (f" (last: {st.last_error})" if st.errors else "")
                 for name, st in self._runner.stats.items()]
        return "collect " + "; ".join(parts)

    def __call__(self) -> None:
        now = time.monotonic()
        if self._tty:
            self._err.write("\r" + self.line()[:160] + "\x1b[K")
            self._err.flush()
        elif now - self._last >= STATUS_INTERVAL_S:
            self._last = now
            self._err.write(self.line() + "\n")
            self._err.flush()


def _gpu_collector(args: argparse.Namespace, tags: dict[str, str], nvml: Any, get: HttpGet) -> tuple[Any, str]:
    if args.source == "dcgm":
        from collectors.gpu.dcgm import DcgmExporterCollector

        url = check_url(args.dcgm_url, "--dcgm-url")
        return DcgmExporterCollector(url, get=get, tags=tags), f"dcgm-exporter at {redact_url(url)}"
    from collectors.gpu.nvml import NvmlGpuCollector, open_nvml

    module = open_nvml(nvml)
    collector = NvmlGpuCollector(module, tags=tags, pcie_period_s=args.pcie_period)
    models = sorted({g.name for g in collector.gpus.values()})
    return collector, f"NVML, {len(collector.gpus)} GPU(s) ({', '.join(models)}), PCIe every {args.pcie_period:g} s"


def _replay(args: argparse.Namespace, err: TextIO) -> int:
    """``inferload collect replay SPOOL_DIR``: 0 when the spool was emptied, 1 when points remain."""
    from collectors.sinks.influx import replay_spool

    spool = Path(args.spool)
    if not spool.is_dir():
        raise InputError(f"{args.spool}: no such spool folder")
    config = sinks_config(args)
    if config.influxdb is None:
        raise InputError("replay needs --influx-url and --influx-bucket (and the token flag)")
    st = replay_spool(spool, config.influxdb, timeout_s=args.timeout)
    pending = st.pending_memory + st.pending_spool
    err.write(f"inferload collect replay: {st.written} points written, {pending} still in {spool}, "
              f"{st.dropped} dropped" + (f" ({_reasons(st.dropped_by_reason)})" if st.dropped else "") + "\n")
    return 0 if pending == 0 else 1


def _reasons(by_reason: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(by_reason.items()) if v)


def main(
    argv: list[str],
    *,
    nvml: Any = None,
    http: HttpGet | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Entry point of ``inferload collect``; ``nvml``/``http`` replace the real ones in tests."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=err,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.collector == "replay":
        return _replay(args, err)
    get = http or http_get
    tags = {s.T_HOST.name: args.host or socket.gethostname()}
    if args.run_id:
        tags[s.T_RUN_ID.name] = args.run_id
    config = sinks_config(args)

    if args.collector == "gpu":
        collector, what = _gpu_collector(args, tags, nvml, get)
    else:
        from collectors.server.scrape import ServerMetricsCollector

        url = check_url(args.url, "--url")
        collector = ServerMetricsCollector(url, get=get, server=args.server, tags=tags, timeout_s=args.timeout)
        what = f"{args.server or 'auto-detected server'} at {redact_url(url)}"

    sink = build_sink(config, out)
    runner = CollectorRunner([Scheduled(args.collector, collector, args.period)], sink.write, tags=tags)
    target = "stdout" if isinstance(sink, StdoutSink) else ", ".join(
        k for k, v in (("influxdb", config.influxdb), ("file", config.file)) if v is not None)
    err.write(f"inferload collect {args.collector}: {what}; every {args.period:g} s -> {target}\n")
    status = _Status(runner, err)

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        def _stop(signum: int, frame: FrameType | None) -> None:
            runner.stop()

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, _stop)
    try:
        runner.run(max_rounds=1 if args.once else None, on_round=status)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        runner.close()
        flushed = sink.flush(FLUSH_TIMEOUT_S)
        sink.close(FLUSH_TIMEOUT_S)
    st = runner.stats[args.collector]
    if status._tty:
        err.write("\n")
    err.write(status.line() + ("" if flushed else "; sink not fully flushed") + "\n")
    return 1 if (args.once and st.errors) else 0


__all__ = ["FLUSH_TIMEOUT_S", "FanOut", "PointSink", "StdoutSink", "build_parser", "build_sink", "main", "sinks_config"]
