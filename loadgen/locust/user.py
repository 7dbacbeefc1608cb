"""The scheduler user: Locust's one user per worker process, which starts the open-loop scheduler.

Locust's users are closed-loop (one request in flight each), so inferload uses exactly one
user per worker only as a vehicle: its task makes sure the worker's
:class:`~loadgen.locust.scheduler.Scheduler` has started (the plan message starts it too; it
runs in its own greenlets and spawns one greenlet per arrival), then idles.  Surplus users idle.  The schedule does not live in the
user's greenlet, so Locust re-dispatching users (a worker joining or vanishing) cannot cut it;
stopping the test (``test_stopping``) cancels the tracked request greenlets, which Locust does
not know about.
"""

from __future__ import annotations

import gevent
from locust import User, constant, task

from loadgen.locust.hooks import scheduler_for


class SchedulerUser(User):
    wait_time = constant(0)

    @task
    def schedule(self) -> None:
        sched = scheduler_for(self.environment)
        if sched is not None:
            sched.start()  # idempotent: the first user starts the schedule, surplus users just idle
        gevent.sleep(365 * 86400)  # idle until Locust stops this user


__all__ = ["SchedulerUser"]
