"""Traefik: the weights of the stable and canary Services in a TraefikService's
weighted round robin.

``trafficRouting.traefik``: ``weightedTraefikServiceName`` (required: a TraefikService,
patched, never created) and ``apiVersion`` (ours; Argo's controller flag
``--traefik-api-version``): ``traefik.containo.us/v1alpha1`` by default as in Argo (Traefik
2), or ``traefik.io/v1alpha1`` (Traefik 2.10 and later; the only group of Traefik 3).
In ``spec.weighted.services`` the entry named ``canaryService`` gets the weight and the
``stableService`` one ``maxTrafficWeight`` minus it (Argo writes ``100 -`` it); other
entries and fields are kept.  Traefik gives an entry without a ``weight`` 1, so a
TraefikService deployed without weights (as Argo's documentation has it, for Argo CD's
sake) splits evenly until the first write, and is read so.  Traefik's router in Argo has
no header or mirror routes nor experiment destinations, nor has this one.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..core._rollout import Rollout
from ..core._router_keys import RouterCapabilities
from ..errors import FieldProblem, RouterError
from ._objects import (
    canary_of,
    config_of,
    experiment_weight_errors,
    int_of,
    max_weight,
    no_experiment_weights,
    patch_to,
    scaled,
)
from ._protocol import KubeAccess, ObjectRef, Objects, RouterState, Write

__all__ = ["API_VERSIONS", "TraefikRouter"]

#: Argo's default first
API_VERSIONS: Final = ("traefik.containo.us/v1alpha1", "traefik.io/v1alpha1")
#: the weight Traefik gives a weighted service that has none
DEFAULT_WEIGHT: Final = 1
_PATH: Final = "spec.strategy.canary.trafficRouting.traefik"


def _api_version(rollout: Rollout) -> str:
    return str(config_of(rollout, "traefik").get("apiVersion") or API_VERSIONS[0])


def _ref(rollout: Rollout) -> ObjectRef:
    group, _, version = _api_version(rollout).rpartition("/")
    name = str(config_of(rollout, "traefik").get("weightedTraefikServiceName") or "")
    return ObjectRef(group, (version,), "TraefikService", rollout.namespace, name)


def _services(obj: Mapping[str, Any]) -> list[Any] | None:
    weighted = (obj.get("spec") or {}).get("weighted")
    services = weighted.get("services") if isinstance(weighted, Mapping) else None
    return services if isinstance(services, list) else None


def _weight(entry: Mapping[str, Any]) -> int:
    weight = int_of(entry.get("weight"))
    return DEFAULT_WEIGHT if weight is None else weight


class TraefikRouter:
    """The Traefik router (``trafficRouting.traefik``)."""

    name: Final = "traefik"
    capabilities: Final = RouterCapabilities()
    plugin_names: Final = ()
    access: Final = tuple(
        KubeAccess(
            v.rpartition("/")[0],
            "traefikservices",
            ("get", "list", "watch", "patch"),
            "Traefik weights",
        )
        for v in API_VERSIONS
    )

    def validate(self, rollout: Rollout) -> list[FieldProblem]:
        errors = []
        if not config_of(rollout, "traefik").get("weightedTraefikServiceName"):
            errors.append(FieldProblem(f"{_PATH}.weightedTraefikServiceName", "is required"))
        if _api_version(rollout) not in API_VERSIONS:
            errors.append(
                FieldProblem(
                    f"{_PATH}.apiVersion",
                    f"must be one of {', '.join(API_VERSIONS)}, got {_api_version(rollout)!r}",
                )
            )
        errors += experiment_weight_errors(rollout, "traefik")
        return errors

    def refs(self, rollout: Rollout) -> tuple[ObjectRef, ...]:
        return (_ref(rollout),)

    def read(self, rollout: Rollout, objects: Objects) -> RouterState:
        obj = objects.get(_ref(rollout))
        if obj is None:
            return RouterState()
        canary = canary_of(rollout)
        weights = {
            str(entry.get("name")): _weight(entry)
            for entry in _services(obj) or ()
            if isinstance(entry, Mapping)
        }
        return RouterState(
            weight=scaled(
                weights.get(str(canary.canary_service), 0),
                weights.get(str(canary.stable_service), 0),
                max_weight(rollout),
            )
        )

    def plan(self, rollout: Rollout, desired: RouterState, objects: Objects) -> Sequence[Write]:
        no_experiment_weights(desired, "traefik")
        if desired.header_routes or desired.mirror_routes:
            raise RouterError("traefik cannot express header or mirror routes")
        if desired.weight is None:
            return []
        ref = _ref(rollout)
        current = objects.get(ref)
        if current is None:
            raise RouterError(f"{ref} not found")
        out = copy.deepcopy(dict(current))
        services = _services(out)
        if services is None:
            raise RouterError(f"{ref} has no spec.weighted.services")
        canary = canary_of(rollout)
        wanted = {
            canary.canary_service: desired.weight,
            canary.stable_service: max(0, max_weight(rollout) - desired.weight),
        }
        found = set()
        for entry in services:
            if isinstance(entry, dict) and entry.get("name") in wanted:
                entry["weight"] = wanted[entry["name"]]
                found.add(entry["name"])
        for service in wanted:
            if service not in found:
                raise RouterError(f"{ref} has no weighted service {service!r}")
        return patch_to(ref, current, out)

    def stand_ins(self, rollout: Rollout) -> list[dict[str, Any]]:
        canary = canary_of(rollout)
        ref = _ref(rollout)
        return [
            {
                "apiVersion": ref.api_version,
                "kind": "TraefikService",
                "metadata": {"name": ref.name, "namespace": rollout.namespace},
                "spec": {
                    "weighted": {
                        "services": [
                            {"name": canary.stable_service, "port": 80, "weight": 100},
                            {"name": canary.canary_service, "port": 80, "weight": 0},
                        ]
                    }
                },
            }
        ]


#: the router the registry finds here (progressive.routers._registry)
ROUTER: Final = TraefikRouter()
