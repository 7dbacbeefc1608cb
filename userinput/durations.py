"""Units and small value types shared by the scenario models: durations and located errors.

A duration is a number of seconds or a string such as ``"250ms"``, ``"30s"``, ``"5m"``,
``"2h"`` or ``"1h30m"``; models store it as seconds (``float``).  :func:`located` builds the
``ValueError`` a cross-field validator raises to point at a key other than the model itself
(the error formatter turns ``at slo.phases[1]: ...`` into that YAML path and its line).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

_UNIT_S = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)")
_WHOLE = re.compile(r"^(?:\s*(?:\d+(?:\.\d*)?|\.\d+)\s*(?:ms|s|m|h|d))+\s*$")


def parse_duration(value: Any) -> Any:
    """``"5m"`` -> 300.0; numbers pass through; anything else is left for pydantic to reject."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            return float(text)
        except ValueError:
            pass
        sign = -1.0 if text.startswith("-") else 1.0
        body = text[1:] if sign < 0 else text
        if _WHOLE.match(body):
            return sign * sum(float(num) * _UNIT_S[unit] for num, unit in _PART.findall(body))
        raise ValueError(f"not a duration: {value!r} (use seconds, or e.g. '30s', '5m', '2h', '1h30m')")
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number of seconds (got {value})")
    return value


Seconds = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_finite)]
"""A duration in seconds; accepts ``30``, ``"30s"``, ``"5m"``, ``"2h"``, ``"1h30m"``, ``"250ms"``."""


Rate = Annotated[float, Field(gt=0, allow_inf_nan=False)]
"""A rate in requests per second, > 0 and finite."""

Rate0 = Annotated[float, Field(ge=0, allow_inf_nan=False)]
"""A rate in requests per second that may be 0."""


def located(path: str, message: str) -> ValueError:
    """An error about ``path`` (relative to the model being validated), e.g. ``slo.phases[0]``."""
    return ValueError(f"at {path}: {message}")


LOCATED = re.compile(r"^at ([\w.\[\]]+): (.*)$", re.DOTALL)

__all__ = ["LOCATED", "Rate", "Rate0", "Seconds", "located", "parse_duration"]
