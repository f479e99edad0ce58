"""How the shell asks for a measurement.

A :class:`MetricProvider` only fetches: it returns the raw result (a number, a list of
numbers, None for an empty result) or a :class:`MeasurementError`; deciding whether
that passes is the core's job (``progressive.core._analysis.record``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ..core._analysis import MeasurementError
from ..core._analysis_model import AnalysisRun, Metric

__all__ = ["MeasurementError", "MetricProvider", "ProviderRegistry"]


class MetricProvider(Protocol):
    async def measure(self, metric: Metric, run: AnalysisRun) -> object | MeasurementError:
        """Take one measurement of ``metric`` for ``run``; never raises for a bad result."""
        ...


class ProviderRegistry:
    """Dispatches on the metric's provider key (``prometheus``, ``web``, ``job``...).

    An unknown key gives a MeasurementError naming it, so a run reports the problem
    instead of the controller failing.
    """

    def __init__(self, providers: Mapping[str, MetricProvider] | None = None) -> None:
        self._providers: dict[str, MetricProvider] = dict(providers or {})

    def register(self, key: str, provider: MetricProvider) -> None:
        self._providers[key] = provider

    def __contains__(self, key: object) -> bool:
        return key in self._providers

    async def measure(self, metric: Metric, run: AnalysisRun) -> object | MeasurementError:
        key = metric.provider_name
        provider = self._providers.get(key)
        if provider is None:
            known = ", ".join(sorted(self._providers)) or "none"
            return MeasurementError(
                f"unknown metric provider {key or '(none)'!r} for metric {metric.name!r} "
                f"(registered: {known})"
            )
        return await provider.measure(metric, run)
