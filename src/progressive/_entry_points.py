"""Plugins from other distributions: the ``progressive.routers``,
``progressive.metrics`` and ``progressive.steps`` entry points.

A distribution extends progressive by declaring entry points in its own
``pyproject.toml``::

    [project.entry-points."progressive.routers"]
    contour = "progressive_contour:ContourRouter"

Each group is read once per process, lazily (on the first registry that asks for it),
and never raises: an entry point that cannot be imported, or whose object is not what
its group wants, becomes a :class:`PluginFailure` naming the distribution and the
error.  The registry of each kind (:class:`progressive.routers.RouterRegistry`,
:class:`progressive.metrics.ProviderRegistry`, :class:`progressive.steps.StepRegistry`)
turns a failure into an error on the Rollouts (or metrics) that use the name, and only
on those: a broken plugin stops nothing else.  See docs/plugins.md.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from importlib import metadata
from typing import Final, Generic, TypeVar

import attrs

__all__ = [
    "BUILT_IN",
    "METRIC_GROUP",
    "ROUTER_GROUP",
    "STEP_GROUP",
    "Plugin",
    "PluginFailure",
    "entry_points",
    "load_group",
]

log = logging.getLogger("progressive.plugins")

#: how the registries name progressive's own routers and providers (their origin)
BUILT_IN: Final = "progressive"
ROUTER_GROUP: Final = "progressive.routers"
METRIC_GROUP: Final = "progressive.metrics"
STEP_GROUP: Final = "progressive.steps"

T = TypeVar("T")


@attrs.frozen
class Plugin(Generic[T]):
    """An entry point loaded: its name (the key it registers), the distribution that
    declares it (``name version``), and the object it names, checked."""

    name: str
    distribution: str
    value: T


@attrs.frozen
class PluginFailure:
    """An entry point that could not be used, and why (said to the Rollouts that name
    it, and by ``progressive plugins``)."""

    group: str
    name: str
    distribution: str
    message: str

    def __str__(self) -> str:
        return f"{self.name} (from {self.distribution}): {self.message}"


def _distribution(ep: metadata.EntryPoint) -> str:
    dist = ep.dist
    return f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"


def entry_points(group: str) -> list[metadata.EntryPoint]:
    """The entry points of ``group``, by distribution then name (a stable order: which
    of two plugins declaring one name came first does not depend on the file system)."""
    found = metadata.entry_points(group=group)
    return sorted(found, key=lambda ep: (_distribution(ep), ep.name, ep.value))


@functools.cache
def _loaded(group: str) -> tuple[tuple[str, str, object | BaseException], ...]:
    """Each entry point of ``group`` imported once: (name, distribution, object or
    the exception its import raised)."""
    out: list[tuple[str, str, object | BaseException]] = []
    for ep in entry_points(group):
        dist = _distribution(ep)
        try:
            value: object | BaseException = ep.load()
        except Exception as exc:  # a plugin's bug: reported on what uses it
            log.warning("the %s plugin %r of %s failed to load: %r", group, ep.name, dist, exc)
            value = exc
        out.append((ep.name, dist, value))
    return tuple(out)


def load_group(
    group: str, check: Callable[[str, object], T]
) -> tuple[list[Plugin[T]], list[PluginFailure]]:
    """The plugins of ``group``, each made and checked by ``check(name, object)``
    (which raises ``TypeError`` or ``ValueError`` for an object that does not fit,
    with a message saying what is wrong), and the failures."""
    plugins: list[Plugin[T]] = []
    failures: list[PluginFailure] = []
    for name, dist, value in _loaded(group):
        if isinstance(value, BaseException):
            failures.append(
                PluginFailure(group, name, dist, f"failed to load: {type(value).__name__}: {value}")
            )
            continue
        try:
            plugins.append(Plugin(name, dist, check(name, value)))
        except Exception as exc:  # TypeError/ValueError by contract; anything else is a bug
            failures.append(PluginFailure(group, name, dist, str(exc) or type(exc).__name__))
    return plugins, failures


def forget() -> None:
    """Read the entry points again on the next load (tests that install a plugin)."""
    _loaded.cache_clear()
