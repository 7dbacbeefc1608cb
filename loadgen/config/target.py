"""The ``target:`` section: where requests go, which API, timeouts and credentials.

The API key is never stored in the model: ``api_key_env`` / ``api_key_file`` *name* where it
is, and :meth:`TargetConfig.api_key` reads it when called, so dumps, reprs and run summaries
cannot leak it.
"""

from __future__ import annotations

import os
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from userinput.durations import Seconds, located
from userinput.errors import InputError
from userinput.paths import ScenarioPath
from userinput.strict import StrictModel


class TimeoutsConfig(StrictModel):
    connect_s: Seconds = Field(default=10.0, gt=0, description="TCP/TLS connect timeout")
    read_s: Seconds = Field(default=60.0, gt=0, description="max silence between received bytes")
    total_s: Seconds = Field(default=600.0, gt=0, description="whole request, send to last byte")


class TargetConfig(StrictModel):
    base_url: str = Field(description="http(s)://host[:port][/prefix]; '/v1/...' paths are appended")
    model: str | None = Field(default=None, description="None: first model listed by /v1/models")
    alias: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:@/-]+$",
        description="the `endpoint` tag of every point (default: host:port of base_url; never the URL)",
    )
    api: Literal["chat", "completions", "embeddings"] = "chat"
    stream: bool = True
    timeouts: TimeoutsConfig = TimeoutsConfig()
    headers: dict[str, str] = Field(default_factory=dict, description="extra HTTP headers")
    api_key_env: str | None = Field(default=None, description="name of the env var holding the API key")
    api_key_file: ScenarioPath | None = Field(default=None, description="file holding the API key")
    server_config: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="the server's batching configuration as you know it (e.g. {max_num_seqs: 256}), "
                    "recorded with the run beside what the server tells; stated values win",
    )

    @model_validator(mode="before")
    @classmethod
    def _embeddings_do_not_stream(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("api") == "embeddings":
            if data.get("stream") is True:
                raise ValueError("at stream: embeddings responses are not streamed; set stream: false or omit it")
            data = {**data, "stream": False}
        return data

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL with a host (got {value!r})")
        if parts.query or parts.fragment:
            raise ValueError(f"must not have a query or fragment (got {value!r})")
        try:
            parts.port  # noqa: B018  (raises on a bad port)
        except ValueError:
            raise ValueError(f"has a bad port (got {value!r})") from None
        if parts.username or parts.password:
            raise ValueError("must not carry credentials; use api_key_env or api_key_file")
        return value.strip().rstrip("/")

    @field_validator("headers")
    @classmethod
    def _no_credentials_in_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name.strip().lower() in ("authorization", "proxy-authorization"):
                raise ValueError(
                    f"'{name}' must not be written in the scenario; put the key in an env var "
                    "(target.api_key_env) or a file (target.api_key_file)"
                )
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> TargetConfig:
        if self.api_key_env and self.api_key_file:
            raise located("api_key_file", "give api_key_env or api_key_file, not both")
        return self

    def api_key(self) -> str | None:
        """The API key, read now from the env var or file named in the scenario (None: no key)."""
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise InputError(f"target.api_key_env: environment variable {self.api_key_env} is not set")
            return key.strip()
        if self.api_key_file:
            try:
                key = self.api_key_file.read_text(encoding="utf-8").strip()
            except OSError as err:
                raise InputError(f"target.api_key_file: cannot read {self.api_key_file}: {err.strerror}") from None
            if not key:
                raise InputError(f"target.api_key_file: {self.api_key_file} is empty")
            return key
        return None


__all__ = ["TargetConfig", "TimeoutsConfig"]
