"""Configuration models of the sinks (the ``sinks:`` section of a scenario, or collector flags)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from userinput.strict import StrictModel


class InfluxSinkConfig(StrictModel):
    """InfluxDB through the v2 write API (InfluxDB 1.8+, 2.x, 3.x)."""

    url: str
    org: str = ""
    bucket: str
    token_env: str | None = Field(default=None, description="name of the env var holding the token")
    token_file: Path | None = Field(default=None, description="file holding the token")
    batch_size: int = Field(default=5000, gt=0)
    flush_interval_s: float = Field(default=1.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)
    queue_max_points: int = Field(default=200_000, gt=0, description="in-memory bound before spilling")
    spool_dir: Path | None = Field(default=None, description="on-disk spool (default: <run dir>/spool)")
    spool_max_mb: float = Field(default=512.0, gt=0)
    on_spool_full: Literal["drop_oldest", "stop_run"] = "drop_oldest"
    retry_initial_s: float = Field(default=1.0, gt=0, description="first retry backoff (doubles, full jitter)")
    retry_max_s: float = Field(default=30.0, gt=0, description="largest retry backoff")

    @model_validator(mode="after")
    def _one_token_source(self) -> InfluxSinkConfig:
        if self.token_env and self.token_file:
            raise ValueError("give token_env or token_file, not both")
        return self


class FileSinkConfig(StrictModel):
    """Line protocol appended to a file, importable later (``influx write`` / ``-import``)."""

    path: Path


class PrometheusSinkConfig(StrictModel):
    """Live run metrics served by the master on ``/metrics``."""

    host: str = "127.0.0.1"
    port: int = Field(default=9646, ge=0, le=65535)


class SinksConfig(StrictModel):
    influxdb: InfluxSinkConfig | None = None
    file: FileSinkConfig | None = None
    prometheus: PrometheusSinkConfig | None = None
    raw_sample_ratio: float = Field(default=1.0, gt=0, le=1, description="fraction of raw request points kept")
    aggregate_interval_s: float = Field(default=5.0, gt=0)


__all__ = ["FileSinkConfig", "InfluxSinkConfig", "PrometheusSinkConfig", "SinksConfig"]
