"""``inferload deploy-env``: write the ``.env`` that docker-compose.yml needs, with random secrets.

docker-compose.yml has no default credentials: it refuses to start until the variables in
:data:`SECRETS` (and the alert webhook URL) are set.  This command writes them to a ``.env``
file (mode 600, listed in .gitignore).  An existing file is never overwritten blindly: values
already in it are kept (so InfluxDB's token keeps matching the token its volume was set up
with), missing ones are added, and ``--rotate NAME`` draws a new value for one secret.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from pathlib import Path

from userinput.errors import InputError

# variable -> what it is (also written as a comment into the file)
SECRETS: dict[str, str] = {
    "INFERLOAD_INFLUX_TOKEN": "InfluxDB admin token (inferload writes with it, Grafana reads with it)",
    "INFERLOAD_INFLUX_PASSWORD": "InfluxDB password of the user 'inferload'",
    "INFERLOAD_GRAFANA_PASSWORD": "Grafana password of the user 'admin'",
}
WEBHOOK_VAR = "INFERLOAD_ALERT_WEBHOOK_URL"
# where alerts go until the user names a receiver: a port nothing listens on, on the loopback
# interface of the Alertmanager / Grafana container (deliveries fail and are logged, nothing leaks)
DEFAULT_WEBHOOK_URL = "http://127.0.0.1:9/inferload-alerts-not-configured"
_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$")


def new_secret() -> str:
    """32 random bytes, URL-safe base64 (43 characters): no quoting needed in .env or YAML."""
    return secrets.token_urlsafe(32)


def read_env(path: Path) -> dict[str, str]:
    """``NAME=value`` lines of an existing .env (comments and blank lines skipped)."""
    out: dict[str, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            raise InputError(f"{path}:{n}: not a NAME=value line")
        out[m.group(1)] = m.group(2).strip()
    return out


def render(values: dict[str, str]) -> str:
    lines = ["# Written by `inferload deploy-env`: secrets for docker-compose.yml. Keep it private",
             "# (mode 600, never commit it). docs/deploy.md says where each one is used.", ""]
    for name, what in SECRETS.items():
        lines += [f"# {what}", f"{name}={values[name]}"]
    lines += ["# Alertmanager's and Grafana's webhook receiver", f"{WEBHOOK_VAR}={values[WEBHOOK_VAR]}"]
    lines += [f"{k}={v}" for k, v in values.items() if k not in SECRETS and k != WEBHOOK_VAR]
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 600 from the first byte (temp file + rename)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        tmp.chmod(0o600)  # umask cannot widen it, but be explicit
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def build_values(existing: dict[str, str], *, rotate: list[str], webhook_url: str | None) -> dict[str, str]:
    unknown = [r for r in rotate if r not in SECRETS]
    if unknown:
        raise InputError(f"--rotate {unknown[0]}: not a secret this command manages ({', '.join(SECRETS)})")
    values = dict(existing)
    for name in SECRETS:
        if name in rotate or not values.get(name):
            values[name] = new_secret()
    if webhook_url is not None:
        if not re.match(r"^https?://\S+$", webhook_url):
            raise InputError(f"--webhook-url {webhook_url!r}: expected an http:// or https:// URL")
        values[WEBHOOK_VAR] = webhook_url
    elif not values.get(WEBHOOK_VAR):
        values[WEBHOOK_VAR] = DEFAULT_WEBHOOK_URL
    return values


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="inferload deploy-env",
        description="Write the .env docker-compose.yml needs: random secrets, mode 600. "
        "Values already in the file are kept.",
    )
    p.add_argument("--out", type=Path, default=Path(".env"), help="file to write (default .env)")
    p.add_argument("--webhook-url", default=None, help=f"alert webhook receiver ({WEBHOOK_VAR})")
    p.add_argument("--rotate", action="append", default=[], metavar="NAME",
                   help="draw a new value for this secret (repeatable)")
    args = p.parse_args(argv)
    out: Path = args.out
    if out.is_dir():
        raise InputError(f"--out {out}: is a directory")
    existing = read_env(out) if out.exists() else {}
    values = build_values(existing, rotate=args.rotate, webhook_url=args.webhook_url)
    write_private(out, render(values))
    added = [k for k in values if k not in existing]
    changed = [k for k in values if k in existing and existing[k] != values[k]]
    sys.stderr.write(f"wrote {out} (mode 600): {len(added)} added, {len(changed)} changed, "
                     f"{len(values) - len(added) - len(changed)} kept\n")
    if values[WEBHOOK_VAR] == DEFAULT_WEBHOOK_URL:
        sys.stderr.write(f"note: {WEBHOOK_VAR} is a placeholder; alerts go nowhere until you set it "
                         "(--webhook-url URL)\n")
    return 0
