"""Scenario configuration: the strict models of a scenario file and :func:`load_scenario`.

One module per section (``target``, ``workload`` with ``lengths``, ``phases`` with
``arrivals``, ``slo``, root ``scenario``); ``yaml_source`` and ``errors`` turn a file into
data with line numbers and validation problems into ``file:line yaml.path: message`` lines.
See docs/scenario.md for every key.
"""

from __future__ import annotations

from loadgen.config.arrivals import (
    ArrivalConfig,
    ConcurrencyArrivals,
    ConstantArrivals,
    GammaArrivals,
    OnOffArrivals,
    PoissonArrivals,
    RampArrivals,
    SpikeArrivals,
    TraceArrivals,
)
from loadgen.config.lengths import FixedLength, LengthDist, LognormalLength, NormalLength, UniformLength
from loadgen.config.loader import load_scenario
from loadgen.config.phases import PhaseConfig, PhaseKind
from loadgen.config.scenario import UNJUDGED_KINDS, GeneratorConfig, Scenario
from loadgen.config.slo import SloConfig, SloMetric, SloObjective
from loadgen.config.target import TargetConfig, TimeoutsConfig
from loadgen.config.workload import DatasetConfig, TrafficClass, WorkloadConfig
from userinput.durations import parse_duration

__all__ = [
    "UNJUDGED_KINDS",
    "ArrivalConfig",
    "ConcurrencyArrivals",
    "ConstantArrivals",
    "DatasetConfig",
    "FixedLength",
    "GammaArrivals",
    "GeneratorConfig",
    "LengthDist",
    "LognormalLength",
    "NormalLength",
    "OnOffArrivals",
    "PhaseConfig",
    "PhaseKind",
    "PoissonArrivals",
    "RampArrivals",
    "Scenario",
    "SloConfig",
    "SloMetric",
    "SloObjective",
    "SpikeArrivals",
    "TargetConfig",
    "TimeoutsConfig",
    "TraceArrivals",
    "TrafficClass",
    "UniformLength",
    "WorkloadConfig",
    "load_scenario",
    "parse_duration",
]
