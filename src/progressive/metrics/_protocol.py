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

from .._entry_points import BUILT_IN
from ..core._analysis import MeasurementFailure, MeasurementOutcome
from ..core._analysis_model import AnalysisRun, Metric
from ..errors import FieldProblem

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
    """Dispatches on the metric's provider key (``prometheus``, ``web``, ``job``...), and
    on Argo's plugin form ``provider: {plugin: {<vendor/name>: {...}}}`` by the plugin
    names a provider answers to (the provider then sees ``provider: {<key>: {...}}``).

    An unknown key gives a MeasurementFailure naming it, so a run reports the problem
    instead of the controller failing; so does a plugin that could not be loaded
    (:meth:`refuse`), for the metrics that name it only.
    """

    def __init__(self, providers: Mapping[str, MetricProvider] | None = None) -> None:
        self._providers: dict[str, MetricProvider] = dict(providers or {})
        self._plugins: dict[str, str] = {}  # Argo plugin name -> key
        self._origin: dict[str, str] = {}  # key -> the distribution it comes from
        self._refused: dict[str, str] = {}  # key or plugin name -> why it cannot be used

    def register(
        self,
        key: str,
        provider: MetricProvider,
        *,
        plugin_names: Collection[str] = (),
        distribution: str = BUILT_IN,
    ) -> None:
        """Measure ``provider: {key: ...}`` (and ``provider: {plugin: {<name>: ...}}`` for
        each of ``plugin_names``) with ``provider``; a key registered again is replaced."""
        self._providers[key] = provider
        self._origin[key] = distribution
        for name in plugin_names:
            self._plugins[name] = key

    def refuse(self, names: Collection[str], message: str) -> None:
        """Metrics naming one of ``names`` get ``message`` as their measurement's error
        (a plugin that could not be loaded, or that another one contradicts)."""
        for name in names:
            self._refused.setdefault(name, message)

    def __contains__(self, key: object) -> bool:
        return key in self._providers or key in self._plugins

    def get(self, key: str) -> MetricProvider | None:
        """The provider registered under ``key``; None when there is none, or the key is
        refused."""
        return None if key in self._refused else self._providers.get(key)

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(self._providers)

    def origin(self, key: str) -> str:
        """The distribution a provider comes from (``progressive`` for a built-in)."""
        return self._origin.get(key, BUILT_IN)

    def plugin_names(self, key: str) -> tuple[str, ...]:
        """The Argo plugin names the provider under ``key`` answers to."""
        return tuple(sorted(n for n, k in self._plugins.items() if k == key))

    @property
    def refused(self) -> Mapping[str, str]:
        """The names (keys, plugin names) refused, and why."""
        return dict(self._refused)

    def resolve(self, metric: Metric) -> tuple[MetricProvider, Metric] | str:
        """The provider of ``metric`` and the metric as it sees it (a plugin-form metric
        under the provider's key), or why there is none."""
        key = metric.provider_name
        name = key
        if key == "plugin":
            plugins = metric.provider.get("plugin")
            name = next(iter(plugins), "") if isinstance(plugins, Mapping) else ""
            key = self._plugins.get(name, "")
            if key and key not in self._refused:
                assert isinstance(plugins, Mapping)
                metric = attrs.evolve(metric, provider={key: plugins[name]})
        refused = self._refused.get(name) or self._refused.get(key)
        if refused is not None:
            return refused
        provider = self._providers.get(key)
        if provider is not None:
            return provider, metric
        known = ", ".join(sorted(self._providers)) or "none"
        plugins = ", ".join(sorted(self._plugins))
        what = f"plugin {name!r}" if metric.provider_name == "plugin" else repr(name or "(none)")
        return (
            f"unknown metric provider {what} for metric {metric.name!r} "
            f"(registered: {known}{'; plugins: ' + plugins if plugins else ''})"
        )

    def check(self, metric: Metric, path: str = "provider") -> list[FieldProblem]:
        """What ``lint`` says of ``metric``'s provider (at ``path``): an error for a plugin
        that cannot be used, a warning for a provider not registered here (a bespoke
        controller may have it), and the provider's own ``validate(metric)`` problems
        when it has that method."""
        found = self.resolve(metric)
        if isinstance(found, str):
            plugins = metric.provider.get("plugin")
            names = {metric.provider_name, *(plugins if isinstance(plugins, Mapping) else ())}
            refused = any(
                n in self._refused or self._plugins.get(n) in self._refused for n in names
            )
            return [FieldProblem(path, found, "error" if refused else "warning")]
        provider, seen = found
        validate = getattr(provider, "validate", None)
        if not callable(validate):
            return []
        try:
            problems = list(validate(seen))
        except Exception as exc:  # a plugin's bug: said, never raised
            return [FieldProblem(path, f"the provider's checks failed: {exc!r}")]
        return [
            attrs.evolve(p, path=f"{path}.{p.path}" if p.path else path)
            for p in problems
            if isinstance(p, FieldProblem)
        ]

    async def measure(self, metric: Metric, run: AnalysisRun) -> object | MeasurementFailure:
        found = self.resolve(metric)
        if isinstance(found, str):
            return MeasurementFailure(found)
        provider, seen = found
        return await provider.measure(seen, run)
