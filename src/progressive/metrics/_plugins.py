"""Metric providers from other distributions: the ``progressive.metrics`` entry points.

An entry point is named after the provider's key (``provider: {<key>: {...}}``) and
names a factory: a class or function called with a :class:`ProviderContext` (the
cluster, the retry policy and the response limits the built-in providers get), or a
provider instance.  A provider may declare ``plugin_names``, the Argo plugin names it
answers to under ``provider: {plugin: {<vendor/name>: {...}}}``, ``validate(metric)``,
the problems ``lint`` reports in a metric's configuration, and ``access``, the
Kubernetes access it needs through ``context.cluster`` (a sequence of
:class:`~progressive.metrics.KubeAccess`), which ``progressive install`` grants the
controller; a provider declaring none is taken to need none (most reach their own
service over HTTP, not the cluster).

A plugin that fails to load, that is no provider, or that declares a name another
plugin declares too, turns into a measurement error for the metrics that name it only;
a plugin cannot take a built-in provider's key.  See docs/plugins.md.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import attrs

from .._access import checked_access
from .._clusters import Cluster
from .._entry_points import METRIC_GROUP, load_group
from ._http import DEFAULT_LIMITS, DEFAULT_RETRY, ResponseLimits, RetryPolicy
from ._protocol import MetricProvider, ProviderRegistry

__all__ = ["ProviderContext", "add_plugins", "plugin_names_of"]


@attrs.frozen
class ProviderContext:
    """What a provider plugin is made with: where Jobs run and Secrets are read (None
    for ``lint``, which measures nothing), the retry policy and the response limits
    of the controller's HTTP providers."""

    cluster: Cluster | None = None
    retry: RetryPolicy = DEFAULT_RETRY
    limits: ResponseLimits = DEFAULT_LIMITS


def plugin_names_of(provider: object) -> tuple[str, ...]:
    """The Argo plugin names a provider declares (none by default)."""
    names = getattr(provider, "plugin_names", ())
    if isinstance(names, str) or not all(isinstance(n, str) and "/" in n for n in names):
        raise TypeError(
            f"{type(provider).__name__}.plugin_names must be Argo plugin names "
            f"(<namespace>/<name>), got {names!r}"
        )
    return tuple(names)


def _factory(name: str, value: object) -> object:
    if not callable(getattr(value, "measure", None)) and not callable(value):
        raise TypeError(f"{value!r} is neither a metric provider nor a factory of one")
    return value


def _make(value: object, context: ProviderContext) -> MetricProvider:
    provider: Any = value
    if isinstance(value, type) or not callable(getattr(value, "measure", None)):
        provider = value(context)  # type: ignore[operator]  # a class or a factory
    if not callable(getattr(provider, "measure", None)):
        raise TypeError(f"{type(provider).__name__} is not a MetricProvider (no measure)")
    plugin_names_of(provider)
    checked_access(provider, type(provider).__name__)
    return provider  # type: ignore[no-any-return]


def add_plugins(
    registry: ProviderRegistry, context: ProviderContext, built_in: Collection[str] = ()
) -> ProviderRegistry:
    """``registry`` with the installed provider plugins added (made with ``context``);
    none may take a key of ``built_in`` (nor one ``registry`` has)."""
    plugins, failures = load_group(METRIC_GROUP, _factory)
    for failure in failures:
        refusal = _refusal(failure.name, failure.distribution, failure.message)
        registry.refuse([failure.name], refusal)
    made: list[tuple[str, str, MetricProvider, tuple[str, ...]]] = []
    for plugin in plugins:
        try:
            provider = _make(plugin.value, context)
        except Exception as exc:  # a plugin's bug: said to the metrics that use it
            message = f"{type(exc).__name__}: {exc}"
            registry.refuse([plugin.name], _refusal(plugin.name, plugin.distribution, message))
            continue
        made.append((plugin.name, plugin.distribution, provider, plugin_names_of(provider)))
    claimed: dict[str, list[str]] = {}
    for key, dist, _, names in made:
        for name in (key, *names):
            claimed.setdefault(name, []).append(dist)
    for key, dist, provider, names in made:
        if key in registry.keys or key in built_in:
            continue  # a built-in's key: the built-in keeps it
        clash = _clash((key, *names), claimed, dist)
        if clash is not None:
            registry.refuse((key, *names), _refusal(key, dist, clash))
            continue
        registry.register(key, provider, plugin_names=names, distribution=dist)
    return registry


def _clash(names: Sequence[str], claimed: dict[str, list[str]], dist: str) -> str | None:
    for name in names:
        others = [d for d in claimed[name] if d != dist]
        if len(claimed[name]) > 1:
            other = others[0] if others else dist
            return f"declares the provider name {name!r}, which {other} declares too"
    return None


def _refusal(key: str, dist: str, message: str) -> str:
    return f"the metric provider plugin {key!r} of {dist} cannot be used: {message}"
