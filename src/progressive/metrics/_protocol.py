"""How the shell asks for a measurement.

A :class:`MetricProvider` only fetches: it returns the raw result (a number, a list of
numbers, None for an empty result, or other plain data), and deciding whether that
passes is the core's job (``progressive.core._analysis.record``).  Three other outcomes:

* :class:`MeasurementFailure`: the provider could not measure (Error, retried 10 s later);
* :class:`MeasurementOutcome`: the provider judged the measurement itself (a Job:
  complete is Successful, failed is Failed); no condition or policy applies;
* :class:`MeasurementInProgress`: a long measurement (a Job) has started and is not
  finished; the runner records it as in flight (``start_measurement``) and calls
  :meth:`MetricProvider.measure` again after ``poll_after`` seconds, until it returns
  one of the other outcomes.  Such a provider must be idempotent: asked again for the
  same measurement, it looks at what it started instead of starting it again.

Providers never raise for a bad result or an unreachable server; a bug that raises
anyway is caught by the runner and recorded as an Error measurement.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Protocol

import attrs

from ..core._analysis import MeasurementFailure, MeasurementOutcome
from ..core._analysis_model import AnalysisRun, Metric

__all__ = [
    "MeasurementFailure",
    "MeasurementInProgress",
    "MeasurementOutcome",
    "MetricProvider",
    "ProviderRegistry",
    "provider_config",
]


@attrs.frozen
class MeasurementInProgress:
    """A long measurement is under way: ask again after ``poll_after`` seconds."""

    poll_after: float = 5.0
    message: str = ""


def provider_config(
    metric: Metric, key: str, known: Collection[str], hint: str = ""
) -> Mapping[str, Any] | MeasurementFailure:
    """``metric``'s configuration of the ``key`` provider, or the failure that says it
    has none or names the first setting not in ``known`` (``hint``: what is)."""
    config = metric.provider.get(key)
    if not isinstance(config, Mapping):
        return MeasurementFailure(f"metric {metric.name!r} has no {key} provider")
    unknown = sorted(set(config) - set(known))
    if unknown:
        return MeasurementFailure(f"{key}.{unknown[0]} is not supported{hint}")
    return config


class MetricProvider(Protocol):
    async def measure(self, metric: Metric, run: AnalysisRun) -> object | MeasurementFailure:
        """Take one measurement of ``metric`` for ``run``; never raises for a bad result."""
        ...


class ProviderRegistry:
    """Dispatches on the metric's provider key (``prometheus``, ``web``, ``job``...).

    An unknown key gives a MeasurementFailure naming it, so a run reports the problem
    instead of the controller failing.
    """

    def __init__(self, providers: Mapping[str, MetricProvider] | None = None) -> None:
        self._providers: dict[str, MetricProvider] = dict(providers or {})

    def register(self, key: str, provider: MetricProvider) -> None:
        self._providers[key] = provider

    def __contains__(self, key: object) -> bool:
        return key in self._providers

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(self._providers)

    async def measure(self, metric: Metric, run: AnalysisRun) -> object | MeasurementFailure:
        key = metric.provider_name
        provider = self._providers.get(key)
        if provider is None:
            known = ", ".join(sorted(self._providers)) or "none"
            return MeasurementFailure(
                f"unknown metric provider {key or '(none)'!r} for metric {metric.name!r} "
                f"(registered: {known})"
            )
        return await provider.measure(metric, run)
