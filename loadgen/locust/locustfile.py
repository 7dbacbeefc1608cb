"""Locustfile for running an inferload worker under the stock ``locust`` command.

``inferload run`` / ``inferload worker`` do not need it (they use Locust's Environment API).
``locust -f loadgen/locust/locustfile.py --worker --master-host H`` joins an ``inferload run
--master`` like ``inferload worker`` does.  Importing it only imports the user class and
registers an ``init`` hook; nothing here can raise at import.
"""

from __future__ import annotations

from typing import Any

from locust import events
from locust.env import Environment

from loadgen.locust.user import SchedulerUser


@events.init.add_listener
def _install(environment: Environment, **_kw: Any) -> None:
    from locust.runners import WorkerRunner

    if isinstance(environment.runner, WorkerRunner):
        from loadgen.locust.hooks import install_worker
        from loadgen.locust.runtime import build_runtime

        install_worker(environment, build_runtime, role="worker")


__all__ = ["SchedulerUser"]
