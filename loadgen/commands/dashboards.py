"""``inferload dashboards export DIR`` / ``inferload dashboards push --grafana-url URL --token-env VAR``.

- ``export DIR``: the five dashboards (``DIR/dashboards/*.json``) and Grafana provisioning files
  (``DIR/provisioning/{datasources,dashboards,alerting}/``) for a user's own Grafana, and the
  Prometheus rule files (``DIR/alerts/*.rules.yaml``) for a user's own Prometheus; the same text
  as the committed ``dashboards/generated``, ``dashboards/provisioning`` and ``dashboards/alerts``.
- ``push``: through grafana-client, into a running Grafana: the folder, the InfluxQL datasource,
  the dashboards (overwrite by uid), the alert rules (create or update by uid), the webhook contact
  point (when ``--webhook-url`` or ``$ALERT_WEBHOOK_URL`` is given) and a route to it under the
  existing notification policy tree (matching ``source=inferload``; other routes are kept).
  Running it twice changes nothing the second time.  A rejected token or an unreachable Grafana
  is a one-line error and exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from dashboards import alerting, alerts_build, build, datasource
from userinput.errors import InputError

PROVIDER_YAML = """# Grafana dashboard provider: every JSON in dashboards/generated (mounted at /var/lib/grafana/dashboards).
apiVersion: 1
providers:
  - name: inferload
    folder: inferload
    type: file
    disableDeletion: true
    options:
      path: /var/lib/grafana/dashboards
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inferload dashboards", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="action", required=True)
    e = sub.add_parser("export", help="write the dashboards, provisioning files and Prometheus rules into DIR")
    e.add_argument("dir", type=Path)
    u = sub.add_parser("push", help="push folder, datasource, dashboards and alert rules into a Grafana")
    u.add_argument("--grafana-url", required=True, help="e.g. http://localhost:3000")
    u.add_argument("--token-env", required=True, metavar="VAR", help="env var holding a Grafana service-account token")
    u.add_argument("--influx-url", default="http://influxdb:8086", help="InfluxDB URL as Grafana reaches it")
    u.add_argument("--influx-db", default=datasource.DATABASE, help="database (2.x/3.x: the bucket)")
    u.add_argument("--influx-token-env", metavar="VAR", default=None,
                   help="env var holding the InfluxDB token for the datasource (default: no token)")
    u.add_argument("--webhook-url", default=None,
                   help=f"alert webhook URL (default ${alerting.WEBHOOK_ENV}; none: no contact point)")
    u.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    return p


def export(root: Path) -> list[Path]:
    out = []
    for rel, text in build.artefacts().items():
        rel = rel.replace("generated/", "dashboards/", 1)
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        out.append(path)
    provider = root / "provisioning/dashboards/inferload.yaml"
    provider.parent.mkdir(parents=True, exist_ok=True)
    provider.write_text(PROVIDER_YAML, encoding="utf-8")
    out.append(provider)
    for profile in alerts_build.PROFILES:  # Prometheus rules (push leaves them out: Grafana does not take them)
        path = root / "alerts" / profile.file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(alerts_build.render(profile), encoding="utf-8")
        out.append(path)
    return out


def _env(var: str, what: str) -> str:
    value = os.environ.get(var, "")
    if not value:
        raise InputError(f"{what}: environment variable {var} is not set")
    return value


def _alert_rule_body(rule: dict[str, Any], group: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in rule.items()}
    body.update(folderUID=alerting.FOLDER, ruleGroup=group["name"], orgID=group["orgId"])
    return body


class Pusher:
    """Idempotent pushes through grafana-client (one instance per push)."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.done: list[str] = []

    @staticmethod
    def _missing(err: Exception) -> bool:
        return getattr(err, "status_code", None) == 404

    def folder(self) -> None:
        from grafana_client.client import GrafanaClientError

        try:
            self.api.folder.get_folder(alerting.FOLDER)
        except GrafanaClientError as err:
            if not self._missing(err):
                raise
            self.api.folder.create_folder(alerting.FOLDER, uid=alerting.FOLDER)
            self.done.append(f"folder {alerting.FOLDER} created")

    def datasource(self, body: dict[str, Any]) -> None:
        from grafana_client.client import GrafanaClientError

        try:
            self.api.datasource.get_datasource_by_uid(body["uid"])
        except GrafanaClientError as err:
            if not self._missing(err):
                raise
            self.api.datasource.create_datasource(body)
            self.done.append(f"datasource {body['uid']} created")
            return
        self.api.datasource.update_datasource_by_uid(body["uid"], body)
        self.done.append(f"datasource {body['uid']} updated")

    def dashboards(self) -> None:
        for d in build.dashboards().values():
            self.api.dashboard.update_dashboard({"dashboard": d, "folderUid": alerting.FOLDER, "overwrite": True,
                                                 "message": "inferload dashboards push"})
            self.done.append(f"dashboard {d['uid']}")

    def alert_rules(self) -> None:
        from grafana_client.client import GrafanaClientError

        group = alerting.provisioning()["groups"][0]
        for rule in alerting.rules():  # unescaped: the HTTP API does no env expansion
            body = _alert_rule_body(rule, group)
            try:
                self.api.alertingprovisioning.get_alertrule(rule["uid"])
            except GrafanaClientError as err:
                if not self._missing(err):
                    raise
                self.api.alertingprovisioning.create_alertrule(body)
                self.done.append(f"alert rule {rule['uid']} created")
                continue
            self.api.alertingprovisioning.update_alertrule(rule["uid"], body)
            self.done.append(f"alert rule {rule['uid']} updated")

    def contact_point(self, url: str) -> None:
        prov = alerting.provisioning()
        receiver = prov["contactPoints"][0]["receivers"][0]
        body = {"uid": receiver["uid"], "name": alerting.CONTACT_POINT, "type": receiver["type"],
                "settings": dict(receiver["settings"], url=url),
                "disableResolveMessage": receiver["disableResolveMessage"]}
        existing = self.api.alertingprovisioning.get_contactpoints(name=alerting.CONTACT_POINT) or []
        if any(cp.get("uid") == body["uid"] for cp in existing):
            self.api.alertingprovisioning.update_contactpoint(body["uid"], body)
        else:
            self.api.alertingprovisioning.create_contactpoint(body)
        tree = self.api.alertingprovisioning.get_notification_policy_tree() or {}
        policy = prov["policies"][0]
        route = {"receiver": alerting.CONTACT_POINT, "object_matchers": [["source", "=", "inferload"]],
                 "group_by": policy["group_by"], "group_wait": policy["group_wait"],
                 "group_interval": policy["group_interval"], "repeat_interval": policy["repeat_interval"]}
        routes = [r for r in tree.get("routes") or [] if r.get("receiver") != alerting.CONTACT_POINT]
        tree = dict(tree, routes=[route, *routes])
        tree.setdefault("receiver", alerting.CONTACT_POINT)
        self.api.alertingprovisioning.set_notification_policy_tree(tree)
        self.done.append(f"contact point {alerting.CONTACT_POINT} and its policy route")


def push(args: argparse.Namespace) -> list[str]:
    from grafana_client import GrafanaApi
    from grafana_client.client import GrafanaException, GrafanaUnauthorizedError

    token = _env(args.token_env, "--token-env")
    influx_token = _env(args.influx_token_env, "--influx-token-env") if args.influx_token_env else ""
    webhook = args.webhook_url or os.environ.get(alerting.WEBHOOK_ENV, "")
    url = args.grafana_url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise InputError(f"--grafana-url {args.grafana_url!r}: expected http://HOST:PORT or https://...")
    api = GrafanaApi.from_url(url, credential=token, timeout=args.timeout)
    pusher = Pusher(api)
    ds = datasource.datasource(url=args.influx_url, token=influx_token, database=args.influx_db)
    if not influx_token:
        ds.pop("secureJsonData")
    try:
        pusher.folder()
        pusher.datasource(ds)
        pusher.dashboards()
        pusher.alert_rules()
        if webhook:
            pusher.contact_point(webhook)
    except GrafanaUnauthorizedError as err:
        raise InputError(f"Grafana at {url} rejected the token in ${args.token_env} (HTTP 401)") from err
    except GrafanaException as err:
        code = getattr(err, "status_code", "?")
        if code == 403:
            raise InputError(f"Grafana at {url}: the token in ${args.token_env} lacks permission (HTTP 403): "
                             "an Editor or Admin service account is needed") from err
        raise InputError(f"Grafana at {url} answered HTTP {code}: {getattr(err, 'message', err)}") from err
    except Exception as err:  # connection refused, DNS, TLS: niquests' exceptions (no stable base class)
        if type(err).__module__.split(".")[0] in ("niquests", "urllib3", "urllib3_future") or isinstance(err, OSError):
            raise InputError(f"cannot reach Grafana at {url}: {type(err).__name__}") from err
        raise
    return pusher.done


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.action == "export":
        for path in export(args.dir):
            sys.stdout.write(f"wrote {path}\n")
        return 0
    done = push(args)
    for line in done:
        sys.stdout.write(f"pushed {line}\n")
    return 0


__all__ = ["Pusher", "build_parser", "export", "main", "push"]
