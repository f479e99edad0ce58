"""What a traffic router declares (its ``trafficRouting`` key, the Argo plugin names it
answers to, what it can express), and the checks of a Rollout's routing against the
routers a controller has.

The reader (``core/_rollout.py``) takes every ``trafficRouting`` key, and every name
under ``trafficRouting.plugins``, as a router's name and keeps its configuration as
data; it knows no router.  Which routers exist is the registry's knowledge
(:class:`progressive.routers.RouterRegistry`, filled from the routers shipped in
``progressive.routers`` and from third parties' ``progressive.routers`` entry points):
it hands their declarations to :func:`check_routing` as data, so the core stays pure,
and ``lint``, ``simulate`` and the controller (InvalidSpec) all refuse the same
Rollouts with the same messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final

import attrs

from ..errors import FieldProblem
from ._steps import ExperimentStep, SetHeaderRoute, SetMirrorRoute, actions_of

if TYPE_CHECKING:
    from ._rollout import Rollout

__all__ = [
    "ARGO_ROUTER_KEYS",
    "RouterCapabilities",
    "RouterCatalog",
    "RouterKey",
    "check_routing",
    "is_plugin_name",
    "routing_path",
]

#: Argo Rollouts' own ``trafficRouting`` keys, in Argo's order: a Rollout naming one
#: that no registered router answers to is told the router is not implemented (rather
#: than that the key is unknown).
ARGO_ROUTER_KEYS: Final = (
    "nginx",
    "istio",
    "smi",
    "gatewayAPI",
    "alb",
    "ambassador",
    "apisix",
    "traefik",
    "appMesh",
)


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _keys(value: Iterable[RouterKey]) -> tuple[RouterKey, ...]:
    return tuple(value)


@attrs.frozen
class RouterCapabilities:
    """What a router can express besides the canary's weight (which every router
    sets): header routes (``setHeaderRoute`` steps), mirror routes
    (``setMirrorRoute``), the weights of an experiment's templates (an ``experiment``
    step whose templates have a ``weight``), and the ping-pong Services in place of a
    canary and a stable Service (``canary.pingPong``)."""

    header_routes: bool = False
    mirror_routes: bool = False
    experiment_weights: bool = False
    ping_pong: bool = False


@attrs.frozen
class RouterKey:
    """A router's ``trafficRouting`` key, the Argo plugin names it also answers to under
    ``trafficRouting.plugins`` (``argoproj-labs/gatewayAPI``), and what it can express."""

    key: str
    capabilities: RouterCapabilities = RouterCapabilities()
    plugin_names: tuple[str, ...] = attrs.field(default=(), converter=_strings)

    @property
    def names(self) -> tuple[str, ...]:
        """Every name a Rollout may configure it by: the key, then the plugin names."""
        return (self.key, *self.plugin_names)


def is_plugin_name(name: str) -> bool:
    """Whether ``name`` is an Argo plugin name (``<namespace>/<name>``, configured under
    ``trafficRouting.plugins``) rather than a ``trafficRouting`` key."""
    return "/" in name


def routing_path(name: str) -> str:
    """The field path of the router configured as ``name``."""
    base = "spec.strategy.canary.trafficRouting"
    return f"{base}.plugins.{name}" if is_plugin_name(name) else f"{base}.{name}"


@attrs.frozen
class RouterCatalog:
    """The routers a controller has, by every name they answer to."""

    routers: tuple[RouterKey, ...] = attrs.field(default=(), converter=_keys)

    @property
    def by_name(self) -> Mapping[str, RouterKey]:
        return {name: r for r in self.routers for name in r.names}

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(r.key for r in self.routers)

    def able(self, capability: str) -> list[str]:
        """The keys of the routers that have ``capability`` (a field of
        :class:`RouterCapabilities`), sorted."""
        return sorted(r.key for r in self.routers if getattr(r.capabilities, capability))

    def resolve(self, names: Iterable[str]) -> dict[str, RouterKey]:
        """The routers of the configured ``names`` that the catalog knows, by name."""
        by_name = self.by_name
        return {name: by_name[name] for name in names if name in by_name}


def _plural(names: list[str], noun: str = "router") -> str:
    return f"the {', '.join(names)} {noun}{'s' if len(names) > 1 else ''}"


def _unknown(name: str, catalog: RouterCatalog) -> str:
    have = ", ".join(catalog.keys) or "none"
    if is_plugin_name(name):
        plugins = ", ".join(p for r in catalog.routers for p in r.plugin_names) or "none"
        return (
            f"the traffic router plugin {name!r} is not installed (plugins answered: "
            f"{plugins}; routers: {have})"
        )
    if name in ARGO_ROUTER_KEYS:
        return f"the {name} router is not implemented (this controller implements {have})"
    return f"unknown traffic router {name!r} (this controller implements {have})"


def check_routing(rollout: Rollout, catalog: RouterCatalog) -> list[FieldProblem]:
    """The problems of ``rollout``'s ``trafficRouting`` against the routers of
    ``catalog``: a router no one answers to, one router configured under two names, and
    what the steps and ``pingPong`` ask of routers that cannot express it.  Empty for a
    Rollout without traffic routing.
    """
    canary = rollout.canary
    if canary is None or canary.traffic_routing is None:
        return []
    routing = canary.traffic_routing
    errors: list[FieldProblem] = []
    found = catalog.resolve(routing.routers)
    for name in routing.routers:
        if name not in found:
            errors.append(FieldProblem(routing_path(name), _unknown(name, catalog)))
    seen: dict[str, str] = {}
    for name, router in found.items():
        if router.key in seen:
            errors.append(
                FieldProblem(
                    routing_path(name),
                    f"configures the {router.key} router again (as {seen[router.key]!r})",
                )
            )
        seen.setdefault(router.key, name)
    if errors:
        return errors
    keys = {r.key: r.capabilities for r in found.values()}

    def unable(capability: str) -> list[str]:
        return sorted(k for k, c in keys.items() if not getattr(c, capability))

    if canary.ping_pong is not None and (others := unable("ping_pong")):
        errors.append(
            FieldProblem(
                "spec.strategy.canary.trafficRouting",
                f"ping-pong works with {_plural(catalog.able('ping_pong'))} only, "
                f"not {', '.join(others)}",
            )
        )
    for index, step in enumerate(canary.steps):
        for kind, capability in _STEP_NEEDS:
            if not any(_asks(action, kind) for action in actions_of(step)):
                continue
            missing = unable(capability)
            if missing:
                errors.append(
                    FieldProblem(
                        f"spec.strategy.canary.steps[{index}].{kind}",
                        f"not supported by {_plural(missing)} (supported by: "
                        f"{', '.join(catalog.able(capability)) or 'none'})",
                    )
                )
    return errors


#: the step kinds that ask a router for more than a weight, and what they ask
_STEP_NEEDS: Final = (
    ("setHeaderRoute", "header_routes"),
    ("setMirrorRoute", "mirror_routes"),
    ("experiment", "experiment_weights"),
)


def _asks(step: object, kind: str) -> bool:
    """Whether ``step`` is a ``kind`` step that needs the router's capability (an
    experiment only when one of its templates takes a weight)."""
    if kind == "setHeaderRoute":
        return isinstance(step, SetHeaderRoute)
    if kind == "setMirrorRoute":
        return isinstance(step, SetMirrorRoute)
    return isinstance(step, ExperimentStep) and any(
        isinstance(t, Mapping) and t.get("weight") for t in step.templates
    )
