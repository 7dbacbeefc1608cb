"""A fake Grafana on loopback: the few HTTP API endpoints ``inferload dashboards push`` uses.

No Grafana server can run here, so this answers like Grafana 11's HTTP API and checks each request
body against the shapes in Grafana's HTTP API docs (folder, data source, dashboard, alerting
provisioning API): a body missing a required key gets the 400 Grafana would give, and the test sees
it in ``problems``.  Auth: ``Authorization: Bearer <token>`` must match, else 401 as Grafana answers.
State lives in dicts keyed by uid, so idempotence can be checked.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

# required keys per request body (Grafana HTTP API docs)
DATASOURCE_KEYS = ("name", "type", "access", "url")
ALERT_RULE_KEYS = ("title", "condition", "data", "folderUID", "ruleGroup", "noDataState", "execErrState", "for",
                   "orgID")
RULE_QUERY_KEYS = ("refId", "datasourceUid", "model", "relativeTimeRange")
CONTACT_POINT_KEYS = ("type", "settings")


@dataclass
class FakeGrafana:
    token: str
    port: int = 0
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    contact_points: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: dict[str, Any] = field(default_factory=lambda: {"receiver": "grafana-default-email", "routes": [
        {"receiver": "team-pager", "object_matchers": [["team", "=", "sre"]]}]})
    requests: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-grafana", daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeGrafana:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application(middlewares=[self._auth])
        r = app.router
        r.add_get("/api/folders/{uid}", self._get_folder)
        r.add_post("/api/folders", self._post_folder)
        r.add_get("/api/datasources/uid/{uid}", self._get_ds)
        r.add_post("/api/datasources", self._post_ds)
        r.add_put("/api/datasources/uid/{uid}", self._put_ds)
        r.add_post("/api/dashboards/db", self._post_dashboard)
        r.add_get("/api/v1/provisioning/alert-rules/{uid}", self._get_rule)
        r.add_post("/api/v1/provisioning/alert-rules", self._post_rule)
        r.add_put("/api/v1/provisioning/alert-rules/{uid}", self._put_rule)
        r.add_get("/api/v1/provisioning/contact-points", self._get_cps)
        r.add_post("/api/v1/provisioning/contact-points", self._post_cp)
        r.add_put("/api/v1/provisioning/contact-points/{uid}", self._put_cp)
        r.add_get("/api/v1/provisioning/policies", self._get_policies)
        r.add_put("/api/v1/provisioning/policies", self._put_policies)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    def close(self) -> None:
        async def _stop() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()

    # ---- helpers ---------------------------------------------------------------------------------
    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"message": "Unauthorized"}, status=401)
        resp: web.StreamResponse = await handler(request)
        return resp

    def _require(self, what: str, body: Any, keys: tuple[str, ...]) -> web.Response | None:
        if not isinstance(body, dict):
            self.problems.append(f"{what}: body is not an object")
            return web.json_response({"message": "bad request data"}, status=400)
        missing = [k for k in keys if k not in body]
        if missing:
            self.problems.append(f"{what}: missing {missing}")
            return web.json_response({"message": f"bad request data: missing {missing}"}, status=400)
        return None

    @staticmethod
    def _not_found(what: str) -> web.Response:
        return web.json_response({"message": f"{what} not found"}, status=404)

    # ---- folders ---------------------------------------------------------------------------------
    async def _get_folder(self, request: web.Request) -> web.Response:
        uid = request.match_info["uid"]
        return web.json_response(self.folders[uid]) if uid in self.folders else self._not_found("folder")

    async def _post_folder(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (bad := self._require("folder", body, ("title",))) is not None:
            return bad
        uid = body.get("uid") or body["title"]
        self.folders[uid] = {"uid": uid, "title": body["title"], "id": len(self.folders) + 1}
        return web.json_response(self.folders[uid])

    # ---- data sources ----------------------------------------------------------------------------
    async def _get_ds(self, request: web.Request) -> web.Response:
        uid = request.match_info["uid"]
        return web.json_response(self.datasources[uid]) if uid in self.datasources else self._not_found("data source")

    async def _post_ds(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (bad := self._require("datasource", body, DATASOURCE_KEYS)) is not None:
            return bad
        uid = body.get("uid", body["name"])
        if uid in self.datasources:
            return web.json_response({"message": "data source with the same uid already exists"}, status=409)
        self.datasources[uid] = body
        return web.json_response({"datasource": body, "id": len(self.datasources), "message": "Datasource added",
                                  "name": body["name"]})

    async def _put_ds(self, request: web.Request) -> web.Response:
        uid = request.match_info["uid"]
        body = await request.json()
        if (bad := self._require("datasource", body, DATASOURCE_KEYS)) is not None:
            return bad
        if uid not in self.datasources:
            return self._not_found("data source")
        self.datasources[uid] = body
        return web.json_response({"datasource": body, "message": "Datasource updated", "name": body["name"]})

    # ---- dashboards ------------------------------------------------------------------------------
    async def _post_dashboard(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (bad := self._require("dashboard", body, ("dashboard",))) is not None:
            return bad
        d = body["dashboard"]
        if not isinstance(d, dict) or not d.get("uid") or not d.get("title") or d.get("id") is not None:
            self.problems.append("dashboard: needs uid and title, and id null for a new/overwritten dashboard")
            return web.json_response({"message": "bad dashboard"}, status=400)
        if body.get("folderUid") not in self.folders:
            self.problems.append(f"dashboard {d['uid']}: folder {body.get('folderUid')!r} does not exist")
            return web.json_response({"message": "folder not found"}, status=400)
        if d["uid"] in self.dashboards and not body.get("overwrite"):
            return web.json_response({"message": "A dashboard with the same uid already exists",
                                      "status": "name-exists"}, status=412)
        version = self.dashboards.get(d["uid"], {}).get("version", 0) + 1
        self.dashboards[d["uid"]] = {"dashboard": d, "folderUid": body["folderUid"], "version": version}
        return web.json_response({"id": 1, "uid": d["uid"], "url": f"/d/{d['uid']}", "status": "success",
                                  "version": version, "slug": d["uid"]})

    # ---- alerting provisioning -------------------------------------------------------------------
    def _check_rule(self, body: Any) -> web.Response | None:
        if (bad := self._require("alert rule", body, ALERT_RULE_KEYS)) is not None:
            return bad
        for q in body["data"]:
            if (bad := self._require(f"alert rule {body.get('uid')} query", q, RULE_QUERY_KEYS)) is not None:
                return bad
        if body["folderUID"] not in self.folders:
            self.problems.append(f"alert rule {body.get('uid')}: folder {body['folderUID']!r} does not exist")
            return web.json_response({"message": "folder does not exist"}, status=400)
        return None

    async def _get_rule(self, request: web.Request) -> web.Response:
        uid = request.match_info["uid"]
        return web.json_response(self.rules[uid]) if uid in self.rules else self._not_found("rule")

    async def _post_rule(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (bad := self._check_rule(body)) is not None:
            return bad
        if body.get("uid") in self.rules:
            return web.json_response({"message": "rule uid already exists"}, status=409)
        self.rules[body["uid"]] = body
        return web.json_response(body, status=201)

    async def _put_rule(self, request: web.Request) -> web.Response:
        uid = request.match_info["uid"]
        body = await request.json()
        if (bad := self._check_rule(body)) is not None:
            return bad
        if uid not in self.rules:
            return self._not_found("rule")
        self.rules[uid] = body
        return web.json_response(body)

    async def _get_cps(self, request: web.Request) -> web.Response:
        name = request.query.get("name")
        return web.json_response([c for c in self.contact_points.values() if name in (None, c.get("name"))])

    async def _post_cp(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (bad := self._require("contact point", body, CONTACT_POINT_KEYS)) is not None:
            return bad
        uid = body.get("uid") or f"cp{len(self.contact_points)}"
        if uid in self.contact_points:
            return web.json_response({"message": "contact point uid exists"}, status=400)
        self.contact_points[uid] = dict(body, uid=uid)
        return web.json_response(self.contact_points[uid], status=202)

    async def _put_cp(self, request: web.Request) -> web.Response:
        uid = request.match_info["uid"]
        body = await request.json()
        if (bad := self._require("contact point", body, CONTACT_POINT_KEYS)) is not None:
            return bad
        if uid not in self.contact_points:
            return self._not_found("contact point")
        self.contact_points[uid] = dict(body, uid=uid)
        return web.json_response({"message": "contactpoint updated"}, status=202)

    async def _get_policies(self, request: web.Request) -> web.Response:
        return web.json_response(self.policies)

    async def _put_policies(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (bad := self._require("policy tree", body, ("receiver",))) is not None:
            return bad
        known = {c["name"] for c in self.contact_points.values()} | {"grafana-default-email", "team-pager"}
        for route in [body, *(body.get("routes") or [])]:
            if route.get("receiver") and route["receiver"] not in known:
                self.problems.append(f"policy names unknown receiver {route['receiver']!r}")
                return web.json_response({"message": "invalid object specification"}, status=400)
        self.policies = body
        return web.json_response({"message": "policies updated"}, status=202)


__all__ = ["FakeGrafana"]
