"""The ``inferload`` command: a thin dispatcher to one module per sub-command.

Each sub-command module exposes ``main(argv: list[str]) -> int`` and owns its own argparse
parser, so importing this module is cheap and one command's dependencies (Locust, gevent,
aiohttp) are loaded only when that command runs.  Bad input (:class:`InputError`) becomes a
one-line message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import difflib
import importlib
import sys

from userinput.errors import InputError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("loadgen.commands.run", "run a scenario (locally, or as Locust master with --master)"),
    "worker": ("loadgen.commands.worker", "join a master as a load-generating worker"),
    "validate": ("loadgen.commands.validate", "check a scenario file; sends nothing"),
    "plan": ("loadgen.commands.plan", "show expected requests per phase and first arrivals; sends nothing"),
    "quickstart": ("loadgen.commands.quickstart", "start gpusim and run the quickstart scenario against it"),
    "sim": ("gpusim.cli", "start gpusim, the simulated GPU inference endpoint"),
    "deploy-env": ("loadgen.commands.deploy_env", "write the .env docker-compose.yml needs (random secrets, mode 600)"),
    "collect": ("collectors.cli", "run a collector alone: `collect gpu` or `collect server --url URL`"),
    "dashboards": ("loadgen.commands.dashboards", "export Grafana dashboards/provisioning, or push them to a Grafana"),
    "report": ("loadgen.commands.report", "write a self-contained HTML report (and PNG figures) of a run folder"),
    "compare": ("loadgen.commands.compare", "compare run folders: per-phase changes, significance, regressions"),
    "sweep": ("loadgen.commands.sweep", "run a steady phase per rate: saturation, capacity at the SLO, the knee"),
}

USAGE = "usage: inferload <command> [options]   (inferload <command> --help for details)"


def _help() -> str:
    width = max(map(len, COMMANDS))
    lines = [USAGE, "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(_help())  # noqa: T201
        return 0 if args else 2
    if args[0] == "--version":
        from importlib.metadata import version

        print(f"inferload {version('inferload')}")  # noqa: T201
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        guess = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f" (did you mean '{guess[0]}'?)" if guess else ""
        sys.stderr.write(f"inferload: error: unknown command '{name}'{hint}\n{USAGE}\n")
        return 2
    try:
        module = importlib.import_module(COMMANDS[name][0])
        return int(module.main(rest))
    except InputError as err:
        sys.stderr.write(f"inferload {name}: error: {err}\n")
        return err.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("inferload: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
