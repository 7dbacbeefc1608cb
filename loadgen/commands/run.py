"""``inferload run``: run a scenario locally, or as the Locust master of N workers.

Headless by default; ``--web`` serves the live view while running: inferload's page at
``/inferload/`` and Locust's web UI, on ``--web-host`` (default 127.0.0.1) and ``--web-port``.  Writes ``summary.json`` into the run's
output folder (``runs/<scenario>-<UTC yyyymmddTHHMMSSZ>/`` or ``--out``), prints the summary
and exits 0 pass / 1 SLO failed / 2 bad input / 3 results not valid (generator fell behind,
ran too hot, lost a worker).  ``--max-duration`` and SIGTERM/SIGINT stop cleanly (drain, final
checkpoint, summary, exit code); ``--resume RUN_DIR`` continues a run whose master died from its
``checkpoint.json`` (docs/soak.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from collectors.server.endpoints import server_url
from userinput.errors import InputError

if TYPE_CHECKING:  # loadgen.config is imported after Locust's monkey-patching (main)
    from loadgen.config import Scenario

MODELS_TIMEOUT_S = 10.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inferload run", description="Run a scenario locally, or as the Locust master of N workers.")
    p.add_argument("scenario", type=Path, nargs="?", default=None,
                   help="scenario YAML file (with --resume: optional, the checkpoint's scenario is used)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default runs/<scenario>-<UTC time>/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario value, e.g. --set target.base_url=http://127.0.0.1:8000")
    p.add_argument("--run-id", default=None, help="run id (default: the output folder's name)")
    p.add_argument("--junit", type=Path, default=None, metavar="FILE",
                   help="also write the SLO verdict as JUnit XML (one test case per objective)")
    soak = p.add_argument_group("long runs (docs/soak.md)")
    soak.add_argument("--max-duration", default=None, metavar="DURATION",
                      help="stop cleanly at this plan offset (e.g. 8h): drain, final checkpoint, summary, exit code")
    soak.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR",
                      help="continue the run in RUN_DIR from its checkpoint.json after the master died "
                           "(same run id and t0; arrivals between checkpoint and restart are lost in the gap)")
    soak.add_argument("--log-file", type=Path, default=None, metavar="PATH",
                      help="also write the log to PATH (stderr keeps it), rotating at --log-max-mb, 5 old files kept")
    soak.add_argument("--log-max-mb", type=float, default=20.0, metavar="MB",
                      help="rotate --log-file at this size in MiB (default 20)")
    dist = p.add_argument_group("distributed")
    dist.add_argument("--master", action="store_true", help="run as Locust master; workers generate the load")
    dist.add_argument("--expect-workers", type=int, default=1, help="workers to wait for (with --master)")
    dist.add_argument("--expect-workers-max-wait", type=float, default=120.0, metavar="S",
                      help="seconds to wait for them (default 120)")
    dist.add_argument("--master-bind-host", default="*", help="interface for workers (default: all)")
    dist.add_argument("--master-bind-port", type=int, default=5557, help="port for workers (default 5557; 0: any)")
    web = p.add_argument_group("live view")
    web.add_argument("--web", action="store_true",
                     help="serve the live view while running: /inferload/ and Locust's web UI")
    web.add_argument("--web-host", default="127.0.0.1",
                     help="interface to serve it on (default 127.0.0.1: this machine only)")
    web.add_argument("--web-port", type=int, default=8089, help="port (default 8089; 0: any free port)")
    web.add_argument("--web-login", action="store_true",
                     help="ask for a username and password first (from --web-user and $INFERLOAD_WEB_PASSWORD)")
    web.add_argument("--web-user", default="inferload", help="username for --web-login (default inferload)")
    web.add_argument("--web-password-env", default="INFERLOAD_WEB_PASSWORD", metavar="NAME",
                     help="environment variable holding the --web-login password (default INFERLOAD_WEB_PASSWORD)")
    return p


def models_url(base_url: str) -> str:
    return server_url(base_url, "/v1/models")


def resolve_model(scenario: Scenario) -> Scenario:
    """``target.model`` unset: take the first model listed by ``GET {base_url}/v1/models``."""
    target = scenario.target
    if target.model:
        return scenario
    url = models_url(str(target.base_url))
    req = urllib.request.Request(url, headers={"Accept": "application/json", **dict(target.headers or {})})
    key = target.api_key()
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=MODELS_TIMEOUT_S) as resp:  # noqa: S310 (http(s) only)
            body = json.loads(resp.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as err:
        raise InputError(f"target.model is not set and GET {url} answered HTTP {err.code}; set target.model") from None
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        reason = getattr(err, "reason", err)
        raise InputError(f"target.model is not set and GET {url} failed ({reason}); set target.model") from None
    except ValueError:
        raise InputError(f"target.model is not set and GET {url} did not return JSON; set target.model") from None
    models = [m.get("id") for m in (body.get("data") or []) if isinstance(m, dict) and m.get("id")]
    if not models:
        raise InputError(f"target.model is not set and GET {url} lists no models; set target.model")
    return scenario.model_copy(update={"target": target.model_copy(update={"model": str(models[0])})})


def web_login(args: argparse.Namespace) -> tuple[str, str] | None:
    """``--web-login``: (username, password), the password from the named environment variable."""
    if not args.web_login:
        return None
    if not args.web:
        raise InputError("--web-login needs --web")
    password = os.environ.get(args.web_password_env, "")
    if not password:
        raise InputError(f"--web-login: set the password in the environment variable {args.web_password_env}")
    return str(args.web_user), password


def max_duration(text: str | None) -> float | None:
    """``--max-duration``: seconds > 0, from a duration such as ``90m`` or ``8h``."""
    if text is None:
        return None
    from userinput.durations import parse_duration

    try:
        value = parse_duration(text)
    except ValueError as err:
        raise InputError(f"--max-duration: {err}") from None
    if not isinstance(value, float) or not value > 0 or value == float("inf"):
        raise InputError(f"--max-duration must be a duration > 0 (got {text!r})")
    return value


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    login = web_login(args)
    max_duration_s = max_duration(args.max_duration)
    if args.log_file is not None:
        from loadgen.log_file import check_log_file

        check_log_file(args.log_file, args.log_max_mb)  # bad input before Locust starts
    if args.scenario is None and args.resume is None:
        raise InputError("inferload run: give a scenario file (or --resume RUN_DIR)")
    if args.expect_workers < 1:
        raise InputError("--expect-workers must be >= 1")
    # Locust monkey-patches the standard library on import: import it before anything else heavy.
    import locust  # noqa: F401

    from loadgen.allocator import tune

    tune()  # a fixed mmap threshold before the run allocates (loadgen/allocator.py)
    from loadgen.config import load_scenario
    from loadgen.locust.runtime import prepare
    from loadgen.locust.session import SessionOptions, default_out_dir, run_session, setup_logging
    from loadgen.plan import Plan
    from loadgen.report import render, write_summary

    setup_logging(args.log_file, args.log_max_mb)
    resume = None
    if args.resume is not None:
        from loadgen.checkpoint import check_resumable, load_checkpoint
        from loadgen.config import Scenario

        if args.overrides:
            raise InputError("--set cannot change a resumed run: --resume uses the checkpoint's scenario")
        if args.out is not None and args.out.resolve() != args.resume.resolve():
            raise InputError("--resume writes into RUN_DIR: drop --out")
        resume = load_checkpoint(args.resume)
        check_resumable(resume, args.resume)
        scenario = Scenario.model_validate(resume["scenario"])
        from loadgen.locust.runtime import scenario_to_dict

        if args.scenario is not None and scenario_to_dict(load_scenario(args.scenario, [])) != resume["scenario"]:
            sys.stderr.write(f"inferload: {args.scenario} differs from the scenario in {args.resume}'s "
                             f"checkpoint; the checkpoint's is used\n")
    else:
        scenario = load_scenario(args.scenario, args.overrides)
        scenario = resolve_model(scenario)
    # Locally the dataset is read once and the in-process runtime reuses this plan and workload;
    # a master sends no requests, so it keeps no prompts (Plan only counts the dataset's rows).
    plan = Plan(scenario) if args.master else prepare(scenario).plan
    out_dir: Path = args.resume or args.out or default_out_dir(scenario.name)
    run_id = str(resume["run_id"]) if resume is not None else (args.run_id or out_dir.name)
    opts = SessionOptions(
        run_id=run_id,
        master=args.master,
        expect_workers=args.expect_workers,
        expect_workers_max_wait_s=args.expect_workers_max_wait,
        master_bind_host=args.master_bind_host,
        master_bind_port=args.master_bind_port,
        web=args.web,
        web_host=args.web_host,
        web_port=args.web_port,
        web_login=login,
        out_dir=out_dir,
        resume=resume,
        max_duration_s=max_duration_s,
    )
    summary = run_session(scenario, plan, opts)
    path = write_summary(summary, out_dir)
    render(summary)
    if args.junit is not None:
        from loadgen.reporting import junit

        junit.write(junit.run_junit(summary), args.junit)
    sys.stdout.write(f"summary: {path}\n")
    sys.stdout.flush()
    return int(summary["verdict"]["exit_code"])


__all__ = ["build_parser", "main", "models_url", "resolve_model", "web_login"]
