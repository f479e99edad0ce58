"""The routers a controller, ``lint`` and ``simulate`` know: one registry, filled from
the routers shipped here and from other distributions' ``progressive.routers`` entry
points.

* **Built-ins** are found, not listed: every module ``progressive.routers._<name>``
  that defines ``ROUTER`` (an instance) contributes it, so a new router is its own
  file (and its test and its docs), nothing else.
* **Third parties** declare an entry point named after the router's key whose object
  is a router class (made with no arguments) or instance::

      [project.entry-points."progressive.routers"]
      contour = "progressive_contour:ContourRouter"

  A router also answers to the Argo plugin names it declares (``plugin_names``), so
  ``trafficRouting: {plugins: {argoproj-labs/contour: {...}}}`` finds it.

Each router also declares the Kubernetes access it needs (``access``): what
``progressive install`` grants the controller, built-ins and installed plugins alike
(:class:`~progressive.routers.KubeAccess`; a plugin router may leave it out, and install
then warns).

A plugin that fails to load, that is not a router, or that declares a name another
plugin declares too, does not stop anything: the Rollouts configuring one of its names
are refused with its error (InvalidSpec in the controller, an error in ``lint`` and
``simulate``), the others go on.  A plugin cannot take a built-in's name: it is refused,
and the built-in keeps it.
"""

from __future__ import annotations

import functools
import importlib
import os
import pkgutil
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

import attrs

from .._access import KubeAccess, checked_access
from .._entry_points import BUILT_IN, ROUTER_GROUP, PluginFailure, load_group
from ..core._rollout import Rollout
from ..core._router_keys import (
    ARGO_ROUTER_KEYS,
    RouterCapabilities,
    RouterCatalog,
    RouterKey,
    check_routing,
    routing_path,
)
from ..errors import FieldProblem, RouterError
from ._protocol import ObjectRef, Objects, RouterState, TrafficRouter, Write

__all__ = [
    "BUILT_IN",
    "DeclaredRouter",
    "RouterRegistry",
    "built_in_routers",
    "default_registry",
    "router_key",
]

_NOT_ROUTERS: Final = frozenset({"_objects", "_protocol", "_registry"})
_MEMBERS: Final = ("name", "plugin_names", "capabilities", "validate", "refs", "read", "plan")


def router_key(router: TrafficRouter) -> RouterKey:
    """What ``router`` declares, as the core's checks take it."""
    return RouterKey(router.name, router.capabilities, tuple(router.plugin_names))


def as_router(name: str, value: object) -> TrafficRouter:
    """The router an entry point named ``name`` gives: an instance, or a class made
    with no arguments.

    Raises:
        TypeError: it is not a router (a member is missing or of the wrong kind).
        ValueError: its key is not ``name``.
    """
    router: Any = value() if isinstance(value, type) else value
    missing = [m for m in _MEMBERS if not hasattr(router, m)]
    if missing:
        raise TypeError(
            f"{type(router).__name__} is not a TrafficRouter (it lacks {', '.join(missing)})"
        )
    if not isinstance(router.capabilities, RouterCapabilities):
        raise TypeError(
            f"{type(router).__name__}.capabilities must be a RouterCapabilities, "
            f"got {type(router.capabilities).__name__}"
        )
    if router.name != name:
        raise ValueError(
            f"the entry point is named {name!r} but the router's key is {router.name!r} "
            "(they must be the same)"
        )
    checked_access(router, type(router).__name__)
    plugin_names = router.plugin_names
    if isinstance(plugin_names, str) or not all(
        isinstance(p, str) and "/" in p for p in plugin_names
    ):
        raise TypeError(
            f"{type(router).__name__}.plugin_names must be a sequence of Argo plugin "
            f"names (<namespace>/<name>), got {plugin_names!r}"
        )
    return router  # type: ignore[no-any-return]


@attrs.frozen
class DeclaredRouter:
    """A router known by its key alone: one a bespoke controller implements, named to
    ``lint --router NAME``.  Its configuration is taken as given and it is assumed to
    express everything; it cannot move traffic (:meth:`plan` raises)."""

    name: str
    plugin_names: tuple[str, ...] = ()
    capabilities: RouterCapabilities = RouterCapabilities(
        header_routes=True, mirror_routes=True, experiment_weights=True, ping_pong=True
    )
    access: tuple[KubeAccess, ...] = ()

    def validate(self, rollout: Rollout) -> list[FieldProblem]:
        return []

    def refs(self, rollout: Rollout) -> tuple[ObjectRef, ...]:
        return ()

    def read(self, rollout: Rollout, objects: Objects) -> RouterState:
        return RouterState()

    def plan(self, rollout: Rollout, desired: RouterState, objects: Objects) -> Sequence[Write]:
        raise RouterError(f"the {self.name} router is only declared here, not implemented")

    def stand_ins(self, rollout: Rollout) -> list[dict[str, Any]]:
        return []


@functools.cache
def built_in_routers() -> tuple[TrafficRouter, ...]:
    """The routers shipped in :mod:`progressive.routers`, Argo's in Argo's order, then
    the others by key."""
    found: list[TrafficRouter] = []
    for module in pkgutil.iter_modules([os.path.dirname(__file__)]):
        if not module.name.startswith("_") or module.name in _NOT_ROUTERS:
            continue
        router = getattr(importlib.import_module(f"{__package__}.{module.name}"), "ROUTER", None)
        if router is not None:
            found.append(router)
    order = {key: index for index, key in enumerate(ARGO_ROUTER_KEYS)}
    return tuple(sorted(found, key=lambda r: (order.get(r.name, len(order)), r.name)))


class RouterRegistry:
    """The routers a controller has, by every name a Rollout may configure them by.

    ``RouterRegistry(routers)`` holds exactly ``routers``; :func:`default_registry`
    holds progressive's and the installed plugins'.  :meth:`with_routers` adds an
    embedder's own.
    """

    def __init__(
        self,
        routers: Iterable[TrafficRouter] = (),
        *,
        failures: Iterable[PluginFailure] = (),
    ) -> None:
        self._routers: dict[str, TrafficRouter] = {}  # by key
        self._names: dict[str, TrafficRouter] = {}  # by every name
        self._origin: dict[str, str] = {}  # key -> the distribution it comes from
        self._failures: list[PluginFailure] = list(failures)
        self._refused: dict[str, PluginFailure] = {}  # name -> why it cannot be used
        for router in routers:
            self.register(router)

    # -- filling ----------------------------------------------------------------------------
    def register(self, router: TrafficRouter, distribution: str = BUILT_IN) -> None:
        """Add ``router`` under its key and its plugin names.

        Raises:
            RouterError: one of its names is taken (the registry is unchanged).
        """
        names = (router.name, *router.plugin_names)
        taken = [n for n in names if n in self._names]
        if taken:
            holder = self._names[taken[0]]
            raise RouterError(
                f"{distribution} declares the router name {taken[0]!r}, which "
                f"{self.origin(holder.name)} declares already"
            )
        self._routers[router.name] = router
        self._origin[router.name] = distribution
        for name in names:
            self._names[name] = router

    def refuse(self, failure: PluginFailure, names: Iterable[str]) -> None:
        """Record a plugin that cannot be used: a Rollout configuring one of ``names``
        is refused with its error."""
        self._failures.append(failure)
        for name in names:
            self._refused.setdefault(name, failure)

    def with_routers(self, *routers: TrafficRouter) -> RouterRegistry:
        """A copy with ``routers`` added (an embedder's own).

        Raises:
            RouterError: a name is taken.
        """
        out = RouterRegistry(failures=self._failures)
        out._routers, out._names = dict(self._routers), dict(self._names)
        out._origin, out._refused = dict(self._origin), dict(self._refused)
        for router in routers:
            out.register(router, "the embedding program")
        return out

    # -- reading ----------------------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[TrafficRouter]:
        return iter(self._routers.values())

    def __len__(self) -> int:
        return len(self._routers)

    def get(self, name: str) -> TrafficRouter | None:
        """The router answering to ``name`` (a key or a plugin name)."""
        return self._names.get(name)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self._routers)

    @property
    def failures(self) -> Sequence[PluginFailure]:
        """The plugins that could not be registered, and why."""
        return tuple(self._failures)

    def origin(self, key: str) -> str:
        """The distribution a router comes from (``progressive`` for a built-in)."""
        return self._origin.get(key, BUILT_IN)

    @property
    def catalog(self) -> RouterCatalog:
        """What the routers declare, for the core's checks."""
        return RouterCatalog(router_key(r) for r in self._routers.values())

    # -- a Rollout's routers ----------------------------------------------------------------
    def check(self, rollout: Rollout) -> list[FieldProblem]:
        """The problems of ``rollout``'s routing against what the routers declare: a
        name no router answers to (with the error of a plugin that would have, had it
        loaded), one router under two names, what the steps ask of routers that cannot
        express it.  (:meth:`validate` adds each router's own checks.)"""
        canary = rollout.canary
        if canary is None or canary.traffic_routing is None:
            return []
        refused = [
            FieldProblem(
                routing_path(name),
                f"the router plugin {failure.name!r} of {failure.distribution} cannot be "
                f"used: {failure.message}",
            )
            for name in canary.traffic_routing.routers
            if (failure := self._refused.get(name)) is not None
        ]
        if refused:
            return refused
        return self._explained(check_routing(rollout, self.catalog))

    def validate(self, rollout: Rollout) -> list[FieldProblem]:
        """:meth:`check`, then each router's own checks of its configuration.  A router
        whose checks raise (a bug, a configuration it did not expect) gives an error at
        its configuration rather than the exception: a plugin's bug refuses the Rollouts
        that use it and stops nothing else."""
        errors = self.check(rollout)
        canary = rollout.canary
        if errors or canary is None or canary.traffic_routing is None:
            return errors
        for name in canary.traffic_routing.routers:
            router = self._names[name]
            try:
                errors += router.validate(rollout)
            except Exception as exc:
                errors.append(
                    FieldProblem(
                        routing_path(name),
                        f"the {router.name} router ({self.origin(router.name)}) could not "
                        f"check its configuration: {type(exc).__name__}: {exc}",
                    )
                )
        return errors

    def _explained(self, errors: list[FieldProblem]) -> list[FieldProblem]:
        """``errors``, with the plugins that failed to load said once (a router the
        Rollout names may be one of them)."""
        if not self._failures or not errors:
            return errors
        broken = "; ".join(str(f) for f in self._failures)
        last = errors[-1]
        return [*errors[:-1], FieldProblem(last.path, f"{last.message}; plugins refused: {broken}")]

    def routers_of(self, rollout: Rollout) -> list[TrafficRouter]:
        """The routers of ``rollout``, in configuration order.

        Raises:
            RouterError: it names a router the registry does not hold.
        """
        canary = rollout.canary
        if canary is None or canary.traffic_routing is None:
            return []
        names = list(canary.traffic_routing.routers)
        missing = [n for n in names if n not in self._names or n in self._refused]
        if missing:
            problems = self.check(rollout)
            raise RouterError("; ".join(str(p) for p in problems) or f"no router {missing[0]!r}")
        return [self._names[n] for n in names]


def _default() -> RouterRegistry:
    registry = RouterRegistry(built_in_routers())
    plugins, failures = load_group(ROUTER_GROUP, as_router)
    for failure in failures:
        registry.refuse(failure, (failure.name,))
    claimed: dict[str, list[tuple[str, TrafficRouter]]] = {}
    for plugin in plugins:
        for name in (plugin.value.name, *plugin.value.plugin_names):
            claimed.setdefault(name, []).append((plugin.distribution, plugin.value))
    for plugin in plugins:
        router, dist = plugin.value, plugin.distribution
        names = (router.name, *router.plugin_names)
        clash = [
            (name, other)
            for name in names
            for other, holder in claimed[name]
            if holder is not router
        ]
        if clash:
            name, other = clash[0]
            registry.refuse(
                PluginFailure(
                    ROUTER_GROUP,
                    router.name,
                    dist,
                    f"declares the router name {name!r}, which {other} declares too",
                ),
                [n for n in names if n not in registry],
            )
            continue
        try:
            registry.register(router, dist)
        except RouterError as exc:  # a built-in's name: the built-in keeps it
            registry._failures.append(PluginFailure(ROUTER_GROUP, router.name, dist, str(exc)))
    return registry


def default_registry() -> RouterRegistry:
    """progressive's routers and the installed plugins' (``progressive.routers`` entry
    points), read once per process; a copy, to add to with :meth:`~RouterRegistry.
    with_routers`."""
    return _cached().with_routers()


@functools.cache
def _cached() -> RouterRegistry:
    return _default()


def forget() -> None:
    """Read the plugins again on the next :func:`default_registry` (tests)."""
    from .._entry_points import forget as forget_entry_points

    forget_entry_points()
    _cached.cache_clear()
