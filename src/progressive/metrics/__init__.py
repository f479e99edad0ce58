"""Metric providers: where analysis measurements come from.

Providers only fetch; the core judges.  For now there is the scripted provider (tests,
``simulate``, ``demo``); Prometheus, web and job providers come later and register
under their provider key in a :class:`ProviderRegistry`.
"""

from __future__ import annotations

from ._protocol import MeasurementError, MetricProvider, ProviderRegistry
from ._scripted import ScriptedProvider, ScriptedValue

__all__ = [
    "MeasurementError",
    "MetricProvider",
    "ProviderRegistry",
    "ScriptedProvider",
    "ScriptedValue",
]
