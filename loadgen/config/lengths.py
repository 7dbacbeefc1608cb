"""Token-length distributions (``prompt_tokens`` / ``output_tokens``), discriminated on ``dist``.

Every distribution yields integers >= 1 and knows how to draw a numpy batch of them
(:meth:`sample`) and its expected value (:meth:`mean_tokens`).  A bare integer in the YAML
(``output_tokens: 128``) is shorthand for ``{dist: fixed, value: 128}``.

- ``fixed{value}``: always ``value``.
- ``uniform{min, max}``: integers uniform on ``[min, max]`` (both inclusive).
- ``normal{mean, std, min=1, max=None}``: ``round(N(mean, std))`` clipped to ``[min, max]``.
- ``lognormal{mean, sigma, min=1, max=None}``: ``mean`` is the mean length *in tokens* (not of
  the log) and ``sigma`` the standard deviation of ``ln(length)``; i.e. ``ln X ~ N(mu, sigma)``
  with ``mu = ln(mean) - sigma**2 / 2``, rounded and clipped to ``[min, max]``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BeforeValidator, Field, model_validator

from userinput.durations import located
from userinput.strict import StrictModel

_MAX_TOKENS = 10_000_000


class FixedLength(StrictModel):
    dist: Literal["fixed"] = "fixed"
    value: int = Field(ge=1, le=_MAX_TOKENS, description="tokens")

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, self.value, dtype=np.int64)

    def mean_tokens(self) -> float:
        return float(self.value)

    def describe(self) -> str:
        return str(self.value)


class UniformLength(StrictModel):
    dist: Literal["uniform"]
    min: int = Field(ge=1, le=_MAX_TOKENS, description="tokens, inclusive")
    max: int = Field(ge=1, le=_MAX_TOKENS, description="tokens, inclusive")

    @model_validator(mode="after")
    def _ordered(self) -> UniformLength:
        if self.min > self.max:
            raise located("min", f"must be <= max (got min={self.min}, max={self.max})")
        return self

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.integers(self.min, self.max + 1, size=n, dtype=np.int64)

    def mean_tokens(self) -> float:
        return (self.min + self.max) / 2

    def describe(self) -> str:
        return f"uniform({self.min}..{self.max})"


class _Clipped(StrictModel):
    min: int = Field(default=1, ge=1, le=_MAX_TOKENS, description="tokens, clip floor")
    max: int | None = Field(default=None, ge=1, le=_MAX_TOKENS, description="tokens, clip ceiling")

    @model_validator(mode="after")
    def _ordered(self) -> _Clipped:
        if self.max is not None and self.min > self.max:
            raise located("min", f"must be <= max (got min={self.min}, max={self.max})")
        return self

    def _clip(self, values: np.ndarray) -> np.ndarray:
        hi = self.max if self.max is not None else _MAX_TOKENS
        return np.clip(np.rint(values), self.min, hi).astype(np.int64)


class NormalLength(_Clipped):
    dist: Literal["normal"]
    mean: float = Field(gt=0, allow_inf_nan=False, description="tokens")
    std: float = Field(ge=0, allow_inf_nan=False, description="tokens")

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self._clip(rng.normal(self.mean, self.std, size=n))

    def mean_tokens(self) -> float:
        return self.mean

    def describe(self) -> str:
        return f"normal(mean={self.mean:g}, std={self.std:g})"


class LognormalLength(_Clipped):
    dist: Literal["lognormal"]
    mean: float = Field(gt=0, allow_inf_nan=False, description="mean length in tokens (not of the log)")
    sigma: float = Field(ge=0, le=5, allow_inf_nan=False, description="std of ln(length)")

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        mu = math.log(self.mean) - self.sigma**2 / 2
        return self._clip(rng.lognormal(mu, self.sigma, size=n))

    def mean_tokens(self) -> float:
        return self.mean

    def describe(self) -> str:
        return f"lognormal(mean={self.mean:g}, sigma={self.sigma:g})"


def _shorthand(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return {"dist": "fixed", "value": value}
    if isinstance(value, dict) and "dist" not in value and set(value) == {"value"}:
        return {"dist": "fixed", **value}
    return value


_Tagged = Annotated[FixedLength | UniformLength | NormalLength | LognormalLength, Field(discriminator="dist")]
LengthDist = Annotated[_Tagged, BeforeValidator(_shorthand)]
"""A token-length distribution (an int means ``fixed``)."""

__all__ = ["FixedLength", "LengthDist", "LognormalLength", "NormalLength", "UniformLength"]
