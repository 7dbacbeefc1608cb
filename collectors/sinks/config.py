"""Configuration models of the sinks (the ``sinks:`` section of a scenario, or collector flags).

Durations accept seconds or ``"5s"``/``"250ms"``/``"2m"`` (:data:`userinput.durations.Seconds`);
paths (``token_file``, ``spool_dir``, ``file.path``) are relative to the scenario file's folder,
like ``target.api_key_file`` (:data:`userinput.paths.ScenarioPath`).  URLs are checked when the
scenario loads: a bad port is bad input (exit 2), not an outage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from userinput.durations import Seconds, located
from userinput.paths import ScenarioPath
from userinput.strict import StrictModel


def check_sink_url(value: str) -> str:
    """``value`` stripped, if it is an http(s) URL with a host and a valid port; else ValueError."""
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL with a host (got {_shown(text)!r})")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"has a bad port: expected 1-65535 (got {_shown(text)!r})")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials; use token_env or token_file")
    if parts.query or parts.fragment:
        raise ValueError(f"must not have a query or fragment (got {_shown(text)!r})")
    return text.rstrip("/")


def _shown(url: str) -> str:
    """``url`` without user info (it may carry a secret) for an error message."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        return url.replace(parts.netloc, parts.netloc.rsplit("@", 1)[1], 1)
    return url


class InfluxSinkConfig(StrictModel):
    """InfluxDB through the v2 write API (InfluxDB 1.8+, 2.x, 3.x)."""

    url: str = Field(description="InfluxDB base URL, http(s)://host[:port]")
    org: str = ""
    bucket: str = Field(min_length=1)
    token_env: str | None = Field(default=None, description="name of the env var holding the token")
    token_file: ScenarioPath | None = Field(default=None, description="file holding the token")
    batch_size: int = Field(default=5000, gt=0)
    flush_interval_s: Seconds = Field(default=1.0, gt=0)
    timeout_s: Seconds = Field(default=10.0, gt=0)
    queue_max_points: int = Field(default=200_000, gt=0, description="in-memory bound before spilling")
    spool_dir: ScenarioPath | None = Field(default=None, description="on-disk spool (default: <run dir>/spool)")
    spool_max_mb: float = Field(default=512.0, gt=0)
    spool_after_s: Seconds = Field(
        default=1.0, gt=0,
        description="a write that failed, or has been in flight this long, sends everything unsent to the spool")
    on_spool_full: Literal["drop_oldest", "stop_run"] = "drop_oldest"
    retry_initial_s: Seconds = Field(default=1.0, gt=0, description="first retry backoff (doubles, full jitter)")
    retry_max_s: Seconds = Field(default=30.0, gt=0, description="largest retry backoff")
    close_timeout_s: Seconds = Field(
        default=5.0, ge=0, description="at the end of a run, time to send what is left before spooling it")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_sink_url(value)

    @field_validator("spool_dir")
    @classmethod
    def _spool_is_a_folder(cls, value: Path | None) -> Path | None:
        if value is not None and value.exists() and not value.is_dir():
            raise ValueError(f"{value} is a file, not a folder")
        return value

    @model_validator(mode="after")
    def _one_token_source(self) -> InfluxSinkConfig:
        if self.token_env and self.token_file:
            raise located("token_file", "give token_env or token_file, not both")
        if self.retry_max_s < self.retry_initial_s:
            raise located("retry_max_s", f"must be >= retry_initial_s ({self.retry_initial_s:g})")
        return self


class FileSinkConfig(StrictModel):
    """Line protocol appended to a file, importable later (``influx write`` / ``-import``)."""

    path: ScenarioPath


class PrometheusSinkConfig(StrictModel):
    """Live run metrics served by the master on ``/metrics``."""

    host: str = "127.0.0.1"
    port: int = Field(default=9646, ge=0, le=65535)


class GrafanaSinkConfig(StrictModel):
    """Phase regions, SLO violations and burst recoveries posted live as Grafana annotations."""

    url: str = Field(description="Grafana base URL, http(s)://host[:port][/subpath]")
    token_env: str | None = Field(default=None, description="env var holding a service-account token")
    dashboard_uid: str | None = Field(default=None, description="annotate one dashboard (default: organisation-wide)")
    timeout_s: Seconds = Field(default=5.0, gt=0)
    queue_max: int = Field(default=10_000, gt=0, description="annotations waiting to be posted, at most")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_sink_url(v)


class SinksConfig(StrictModel):
    influxdb: InfluxSinkConfig | None = None
    file: FileSinkConfig | None = None
    prometheus: PrometheusSinkConfig | None = None
    grafana: GrafanaSinkConfig | None = None
    raw_sample_ratio: float = Field(default=1.0, gt=0, le=1, description="fraction of raw request points kept")
    aggregate_interval_s: Seconds = Field(default=5.0, gt=0)


__all__ = ["FileSinkConfig", "GrafanaSinkConfig", "InfluxSinkConfig", "PrometheusSinkConfig", "SinksConfig", "check_sink_url"]
