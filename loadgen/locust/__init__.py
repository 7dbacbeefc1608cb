"""Open-loop execution inside Locust: scheduler user, master/worker protocol, telemetry seam."""

__all__: list[str] = []
