"""The base of every configuration model: strict (unknown keys rejected), immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """``extra="forbid"``: a misspelt key is an error, never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


__all__ = ["StrictModel"]
