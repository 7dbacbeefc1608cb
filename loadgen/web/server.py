"""The web server of a run: Locust's web UI, taught LLM metrics, plus the inferload page.

:func:`start_web` starts :class:`InferloadWebUI` (Locust's :class:`locust.web.WebUI`, pinned
2.47.0) on ``host:port`` (port 0: any free port) and adds, on the same Flask app and behind the
same ``--web-login`` protection:

- ``/inferload/``: the inferload page (``static/index.html``, ``live.js``, ``live.css``: package
  data, no CDN, works offline) polling ``/inferload/api/live.json`` (:class:`LiveView` payload);
- Locust's UI: an "LLM latency" tab (exact TTFT/ITL/TPOT/E2E percentiles per phase, Locust's
  ``extended_tabs``/``extended_tables`` and ``extended_stats`` in ``/stats/requests``), a strip
  above its header with the current phase, the target and achieved rate and a link to the page
  (``static/locust-extra.js``, injected into Locust's index page), and its user-count controls
  disabled: in inferload the scenario decides the load (open-loop arrivals, or a closed-loop
  phase's declared users), never Locust's user count.  ``POST /swarm`` and ``POST /user`` are
  refused; ``POST /stop`` becomes inferload's graceful stop (drain in-flight streams, report).

``inferload run --web-login`` protects all of it with a username and password (Locust's login
page; the password is read from an environment variable, never from the command line).
"""

from __future__ import annotations

import hmac
import json
import secrets
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent
from flask import Blueprint, Response, jsonify, redirect, request, send_from_directory, session, url_for
from flask_login import UserMixin, login_user
from locust.env import Environment
from locust.web import WebUI

from loadgen.web.live import LiveView
from loadgen.web.payload import LLM_PCTS, llm_rows
from userinput.errors import InputError

STATIC_DIR = Path(__file__).resolve().with_name("static")
PAGE_PATH = "/inferload/"
LLM_TAB = "llm"
BIND_TIMEOUT_S = 10.0


class _User(UserMixin):
    def __init__(self, name: str) -> None:
        self.id = name


class InferloadWebUI(WebUI):
    """Locust's web UI with inferload's page, tab and guards.

    ``login=(username, password)``: every page and endpoint (Locust's and inferload's) asks for
    them first, through Locust's own login page (its ``web_login`` with a username/password form).
    """

    def __init__(self, environment: Environment, host: str, port: int, *, live: LiveView,
                 on_stop: Callable[[], None], web_login: bool = False,
                 login: tuple[str, str] | None = None) -> None:
        self.live = live
        self.on_stop = on_stop
        super().__init__(environment, host, port, web_login=web_login or login is not None, delayed_start=True)
        self._install()
        if login is not None:
            self._install_login(*login)

    def _install_login(self, username: str, password: str) -> None:
        app = self.app
        assert app is not None
        app.secret_key = secrets.token_bytes(32)  # sessions last as long as the run
        self.login_manager.user_loader(lambda uid: _User(uid) if uid == username else None)
        self.auth_args = {"username_password_callback": "./inferload/login"}

        @app.route("/inferload/login", methods=["POST"])
        def login_submit() -> Any:
            user_ok = hmac.compare_digest(request.form.get("username", "").encode(), username.encode())
            password_ok = hmac.compare_digest(request.form.get("password", "").encode(), password.encode())
            if user_ok and password_ok:
                login_user(_User(username))
                return redirect(url_for("locust.index"))
            session["auth_error"] = "wrong username or password"
            return redirect(url_for("locust.login"))

    def update_template_args(self) -> None:
        # Locust re-parses sys.argv with its own parser here (ui_extra_args_dict): hide inferload's
        argv = sys.argv[:]
        sys.argv[1:] = []
        try:
            super().update_template_args()
        finally:
            sys.argv[:] = argv
        self.template_args.update(
            # Locust greys out "Edit" (user count and spawn rate) with this flag
            hide_common_options=True,
            extended_tabs=[{"title": "LLM latency", "key": LLM_TAB}],
            extended_tables=[{"key": LLM_TAB, "structure": [
                {"key": "phase", "title": "Phase"}, {"key": "metric", "title": "Metric"},
                {"key": "count", "title": "Count"},
                *({"key": col, "title": f"{col.replace('p999', 'p99.9')} (ms)"} for col, _ in LLM_PCTS),
                {"key": "mean", "title": "mean (ms)"},
            ]}],
            extended_csv_files=[{"href": "./inferload/", "title": "inferload live view (page)"},
                                {"href": "./inferload/api/live.json", "title": "inferload live view (JSON)"}],
        )

    # ---- routes ------------------------------------------------------------------------------------
    def _install(self) -> None:
        app = self.app
        assert app is not None
        bp = Blueprint("inferload", __name__, url_prefix="/inferload")
        auth = self.auth_required_if_enabled

        @bp.route("/")
        @auth
        def page() -> Response:
            resp = send_from_directory(STATIC_DIR, "index.html")
            resp.headers["Cache-Control"] = "no-store"
            return resp

        @bp.route("/static/<path:name>")
        @auth
        def static(name: str) -> Response:
            return send_from_directory(STATIC_DIR, name)

        @bp.route("/api/live.json")
        @auth
        def live_json() -> Response:
            _, body = self.live.payload()
            return Response(body, mimetype="application/json", headers={"Cache-Control": "no-store"})

        app.register_blueprint(bp)

        @app.before_request
        def guard() -> Any:
            # Locust allows every origin (CORS): refuse other sites' scripts inferload's data and
            # any state change (a page elsewhere must not read the run or stop it)
            origin = request.headers.get("Origin")
            if origin and urlsplit(origin).netloc != request.host and (
                    request.method == "POST" or request.path.startswith("/inferload/")):
                return jsonify({"success": False, "message": "inferload: cross-origin request refused"}), 403
            if request.method != "POST":
                return None
            path = request.path.rstrip("/")
            if path in ("/swarm", "/user"):
                return jsonify({"success": False, "message": "inferload: the scenario decides the load "
                                "(open-loop arrivals or a phase's declared users); Locust's user count is not used"}), 409
            if path == "/stop":
                self.on_stop()
                return jsonify({"success": True, "message": "inferload: stopping, draining in-flight streams"})
            return None

        @app.after_request
        def extend(resp: Response) -> Response:
            try:
                if request.path == "/" and resp.status_code == 200 and resp.mimetype == "text/html":
                    html = resp.get_data(as_text=True)
                    tag = '<script src="./inferload/static/locust-extra.js"></script>'
                    resp.set_data(html.replace("</body>", tag + "\n</body>", 1))
                elif request.path == "/stats/requests" and resp.status_code == 200 and resp.is_json:
                    data = json.loads(resp.get_data(as_text=True))
                    payload, _ = self.live.payload()
                    data["extended_stats"] = [{"key": LLM_TAB, "data": llm_rows(payload)}]
                    resp = Response(json.dumps(data), mimetype="application/json")
            except Exception:  # never break Locust's own UI
                import logging

                logging.getLogger(__name__).exception("live view: extending Locust's response failed")
            return resp


def _check_free(host: str, port: int) -> None:
    """A clear one-line error for a port in use (Locust would log a traceback)."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as err:
        raise InputError(f"--web-host {host}: {err}") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as err:
            raise InputError(f"--web-host {host} --web-port {port}: cannot listen ({err.strerror})") from None


def start_web(
    environment: Environment,
    live: LiveView,
    *,
    host: str,
    port: int,
    on_stop: Callable[[], None],
    web_login: bool = False,
    login: tuple[str, str] | None = None,
) -> tuple[InferloadWebUI, str]:
    """Start the web server; returns it and its base URL (``http://host:port/``), once it listens."""
    _check_free(host, port)
    ui = InferloadWebUI(environment, host, port, live=live, on_stop=on_stop, web_login=web_login, login=login)
    ui.start()
    deadline = time.monotonic() + BIND_TIMEOUT_S
    while True:
        server = ui.server
        if server is not None and getattr(server, "socket", None) is not None:
            break
        if ui.greenlet is not None and ui.greenlet.dead:
            err = ui.greenlet.exception
            raise InputError(f"--web-host {host} --web-port {port}: cannot listen ({err})")
        if time.monotonic() > deadline:
            raise InputError(f"--web-host {host} --web-port {port}: the web server did not start")
        gevent.sleep(0.02)
    bound = int(server.server_port)
    shown = f"[{host}]" if ":" in host else (host or "0.0.0.0")
    return ui, f"http://{shown}:{bound}/"


__all__ = ["PAGE_PATH", "STATIC_DIR", "InferloadWebUI", "start_web"]
