"""The scheduler user: Locust's one user per worker process, which runs the open-loop scheduler.

Locust's users are closed-loop (one request in flight each), so inferload uses exactly one
user per worker only as a vehicle: its single task runs the worker's
:class:`~loadgen.locust.scheduler.Scheduler` (which spawns one greenlet per arrival), then idles
until the run ends.  Surplus users (more users than workers) idle from the start.  At stop,
Locust kills the user greenlet; :meth:`SchedulerUser.on_stop` also cancels the tracked request
greenlets, which Locust does not know about.
"""

from __future__ import annotations

import gevent
from locust import User, constant, task
from locust.exception import StopUser

from loadgen.locust.hooks import scheduler_for


class SchedulerUser(User):
    wait_time = constant(0)
    _claimed: set[int] = set()  # ids of environments whose scheduler already has a user

    @task
    def schedule(self) -> None:
        sched = scheduler_for(self.environment)
        key = id(self.environment)
        if sched is None or key in SchedulerUser._claimed:
            gevent.sleep(3600)  # surplus user
            return
        SchedulerUser._claimed.add(key)
        try:
            sched.run()
        except gevent.GreenletExit:
            sched.kill_all()
            raise
        gevent.sleep(365 * 86400)  # idle until the run ends (Locust kills this greenlet)
        raise StopUser()

    def on_stop(self) -> None:
        sched = scheduler_for(self.environment)
        if sched is not None:
            sched.kill_all()


__all__ = ["SchedulerUser"]
