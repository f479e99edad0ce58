"""AWS App Mesh: the weights of the canary and stable VirtualNodes in the routes of the
VirtualRouter behind a VirtualService, and the pod-template hashes the VirtualNodes
select.

``trafficRouting.appMesh`` (``appmesh.k8s.aws/v1beta2``, the only version Argo reads):
``virtualService: {name, routes}`` and ``virtualNodeGroup: {canaryVirtualNodeRef:
{name}, stableVirtualNodeRef: {name}}``, all in the Rollout's namespace.  As Argo does:

* the VirtualRouter is the one the VirtualService's
  ``spec.provider.virtualRouter.virtualRouterRef`` names (read after the VirtualService:
  ``linked_refs``);
* every route of the VirtualRouter must be well-formed (Argo's validation of the
  referenced VirtualRouter): a ``httpRoute``, ``tcpRoute``, ``http2Route`` or
  ``grpcRoute`` (the first of those it has, in that order) whose
  ``action.weightedTargets`` holds exactly two targets;
* in the routes named in ``routes`` (all of them when it is empty) the target whose
  ``virtualNodeRef`` is the canary VirtualNode gets the weight and the stable one ``100
  -`` it (App Mesh weights are relative integers up to 100: ``maxTrafficWeight`` must
  stay 100); other targets are left alone;
* ``spec.podSelector.matchLabels.rollouts-pod-template-hash`` of the stable VirtualNode
  is the stable revision's hash and of the canary one the new revision's (both
  annotated ``argo-rollouts.argoproj.io/managed-by-rollouts``), written with each weight
  and whenever they hold other hashes (the core compares the hashes read with the
  revisions, as Argo's UpdateHash rewrites them at every reconcile).  When the two
  hashes are the same (the Rollout is promoted) the canary VirtualNode gets
  ``canary-hash``, as in Argo (App Mesh's admission webhook refuses two VirtualNodes
  with the same pod selector), read back as the stable hash; an empty stable hash is
  ``stable-hash``.  A lower weight is written before the hashes, a higher one after
  them, so that no share of traffic ever goes to pods it was not meant for.

A missing VirtualService, VirtualRouter or VirtualNode, or a VirtualService that is not
backed by a VirtualRouter, is an error naming it when the router must write (Argo's
``Virtual-service is missing`` and the like); until then the router holds no weight.

Where this differs from Argo: a route named in ``routes`` that the VirtualRouter does
not have, and a weighted route without a target for both VirtualNodes, are errors where
Argo skips them silently; a VirtualRouter in another namespace than the Rollout's is
refused (a Rollout changes objects of its own namespace only).  App Mesh has no header
or mirror routes here, nor experiment destinations (Argo's router neither).  AWS ended
App Mesh on 2026-09-30.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from ..core._names import HASH_LABEL, MANAGED_BY_ANNOTATION
from ..core._rollout import Rollout
from ..core._router_keys import RouterCapabilities
from ..errors import FieldProblem, RouterError
from ._objects import (
    PERCENT,
    combine,
    config_of,
    experiment_weight_errors,
    int_of,
    no_experiment_weights,
    patch_to,
    percent_weight_errors,
    scaled,
)
from ._protocol import KubeAccess, ObjectRef, Objects, RouterState, Write

__all__ = ["AppMeshRouter"]

GROUP: Final = "appmesh.k8s.aws"
VERSIONS: Final = ("v1beta2",)
#: the route types Argo splits traffic in, in the order it looks for them
ROUTE_TYPES: Final = ("httpRoute", "tcpRoute", "http2Route", "grpcRoute")
#: Argo's validation: a route weighs exactly two targets, the canary and the stable one
TARGETS: Final = 2
#: the labels Argo gives a VirtualNode that must select no revision of its own
CANARY_PLACEHOLDER: Final = "canary-hash"
STABLE_PLACEHOLDER: Final = "stable-hash"
_PATH: Final = "spec.strategy.canary.trafficRouting.appMesh"


@attrs.frozen
class _Config:
    virtual_service: str
    routes: tuple[str, ...]
    canary_node: str
    stable_node: str


def _name_of(value: object) -> str:
    name = value.get("name") if isinstance(value, Mapping) else None
    return name if isinstance(name, str) else ""


def _config(rollout: Rollout) -> _Config:
    config = config_of(rollout, "appMesh")
    service = config.get("virtualService")
    routes = service.get("routes") if isinstance(service, Mapping) else None
    group = config.get("virtualNodeGroup")
    group = group if isinstance(group, Mapping) else {}
    return _Config(
        _name_of(service),
        tuple(r for r in routes if isinstance(r, str)) if isinstance(routes, list) else (),
        _name_of(group.get("canaryVirtualNodeRef")),
        _name_of(group.get("stableVirtualNodeRef")),
    )


def _ref(rollout: Rollout, kind: str, name: str) -> ObjectRef:
    return ObjectRef(GROUP, VERSIONS, kind, rollout.namespace, name)


def _router_ref(rollout: Rollout, service: Mapping[str, Any], where: ObjectRef) -> ObjectRef:
    """The VirtualRouter the VirtualService ``service`` names."""
    provider = (service.get("spec") or {}).get("provider")
    router = provider.get("virtualRouter") if isinstance(provider, Mapping) else None
    named = router.get("virtualRouterRef") if isinstance(router, Mapping) else None
    if not _name_of(named):
        raise RouterError(f"{where} is not associated with a VirtualRouter (virtualRouterRef)")
    assert isinstance(named, Mapping)
    namespace = named.get("namespace") or rollout.namespace
    if namespace != rollout.namespace:
        raise RouterError(
            f"{where} names VirtualRouter {namespace}/{_name_of(named)}, outside the Rollout's "
            "namespace: progressive changes objects of the Rollout's namespace only"
        )
    return _ref(rollout, "VirtualRouter", _name_of(named))


@attrs.frozen
class _Route:
    """A route the Rollout weighs: its index in ``spec.routes``, its type, and the
    indexes of the canary and stable targets in its ``weightedTargets``."""

    index: int
    kind: str
    canary: int
    stable: int


def _targets(router: ObjectRef, index: int, route: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """The route's type and weighted targets, checked as Argo checks a VirtualRouter."""
    name = route.get("name")
    where = f"{router} spec.routes[{index}] ({name})"
    kind = next((k for k in ROUTE_TYPES if k in route), None)
    rule = route.get(kind) if kind is not None else None
    if kind is None or not isinstance(rule, Mapping):
        raise RouterError(f"{where}: no {', '.join(ROUTE_TYPES)}: Argo splits those only")
    action = rule.get("action")
    targets = action.get("weightedTargets") if isinstance(action, Mapping) else None
    if not isinstance(targets, list):
        raise RouterError(f"{where}: {kind}.action.weightedTargets is missing")
    if len(targets) != TARGETS:
        raise RouterError(
            f"{where}: {len(targets)} weightedTargets, expected {TARGETS} "
            "(the canary and the stable VirtualNode)"
        )
    for position, target in enumerate(targets):
        ref = target.get("virtualNodeRef") if isinstance(target, Mapping) else None
        if not isinstance(ref, Mapping) or int_of(target.get("weight")) is None:
            raise RouterError(
                f"{where}: {kind}.action.weightedTargets[{position}] is not well-formed "
                "(a virtualNodeRef and an integer weight)"
            )
    if not isinstance(name, str):
        raise RouterError(f"{where}: the route has no name")
    return kind, targets


def _routes(rollout: Rollout, ref: ObjectRef, router: Mapping[str, Any]) -> list[_Route]:
    """The routes the Rollout weighs in the VirtualRouter ``router``."""
    routes = (router.get("spec") or {}).get("routes")
    if not isinstance(routes, list) or not routes:
        raise RouterError(f"{ref} has no routes")
    config = _config(rollout)
    out, names = [], []
    for index, route in enumerate(routes):
        if not isinstance(route, Mapping):
            raise RouterError(f"{ref} spec.routes[{index}] is not an object")
        kind, targets = _targets(ref, index, route)
        names.append(route["name"])
        if config.routes and route["name"] not in config.routes:
            continue
        found: dict[str, int] = {}
        for position, target in enumerate(targets):
            node = target["virtualNodeRef"]
            if (node.get("namespace") or rollout.namespace) == rollout.namespace:
                found.setdefault(_name_of(node), position)
        for node in (config.canary_node, config.stable_node):
            if node not in found:
                raise RouterError(
                    f"{ref} route {route['name']!r} has no weighted target for VirtualNode {node!r}"
                )
        out.append(_Route(index, kind, found[config.canary_node], found[config.stable_node]))
    missing = [r for r in config.routes if r not in names]
    if missing:
        raise RouterError(f"{ref} has no route {', '.join(map(repr, missing))}")
    return out


def _weights(router: Mapping[str, Any], route: _Route) -> tuple[int, int]:
    targets = router["spec"]["routes"][route.index][route.kind]["action"]["weightedTargets"]
    return int_of(targets[route.canary]["weight"]) or 0, int_of(
        targets[route.stable]["weight"]
    ) or 0


def _pod_hash(node: Mapping[str, Any] | None) -> str | None:
    selector = ((node or {}).get("spec") or {}).get("podSelector")
    labels = selector.get("matchLabels") if isinstance(selector, Mapping) else None
    label = labels.get(HASH_LABEL) if isinstance(labels, Mapping) else None
    return label if isinstance(label, str) else None


class AppMeshRouter:
    """The AWS App Mesh router (``trafficRouting.appMesh``)."""

    name: Final = "appMesh"
    capabilities: Final = RouterCapabilities()
    plugin_names: Final = ()
    access: Final = (
        KubeAccess(
            GROUP,
            "virtualservices",
            ("get", "list", "watch"),
            "App Mesh: the VirtualRouter a VirtualService names",
        ),
        KubeAccess(
            GROUP,
            ("virtualrouters", "virtualnodes"),
            ("get", "list", "watch", "patch"),
            "App Mesh route weights and VirtualNode pod selectors",
        ),
    )

    def validate(self, rollout: Rollout) -> list[FieldProblem]:
        config = _config(rollout)
        errors = []
        if not config.virtual_service:
            errors.append(FieldProblem(f"{_PATH}.virtualService.name", "is required"))
        group = f"{_PATH}.virtualNodeGroup"
        for key, value in (
            ("canaryVirtualNodeRef", config.canary_node),
            ("stableVirtualNodeRef", config.stable_node),
        ):
            if not value:
                errors.append(FieldProblem(f"{group}.{key}.name", "is required"))
        if config.canary_node and config.canary_node == config.stable_node:
            errors.append(
                FieldProblem(
                    f"{group}.canaryVirtualNodeRef.name",
                    "must differ from stableVirtualNodeRef.name",
                )
            )
        errors += percent_weight_errors(rollout, "App Mesh weights are at most 100")
        errors += experiment_weight_errors(rollout, "appMesh")
        return errors

    def refs(self, rollout: Rollout) -> tuple[ObjectRef, ...]:
        config = _config(rollout)
        return (
            _ref(rollout, "VirtualService", config.virtual_service),
            _ref(rollout, "VirtualNode", config.canary_node),
            _ref(rollout, "VirtualNode", config.stable_node),
        )

    def linked_refs(self, rollout: Rollout, objects: Objects) -> tuple[ObjectRef, ...]:
        """The VirtualRouter the VirtualService names (none while it is not read, does
        not exist or names none in the Rollout's namespace)."""
        where = self.refs(rollout)[0]
        service = objects.get(where)
        if service is None:
            return ()
        try:
            return (_router_ref(rollout, service, where),)
        except RouterError:
            return ()  # plan says why

    def _router(
        self, rollout: Rollout, objects: Objects
    ) -> tuple[ObjectRef, Mapping[str, Any] | None] | None:
        """The VirtualRouter's ref and object (None: the VirtualService does not exist)."""
        where = self.refs(rollout)[0]
        service = objects.get(where)
        if service is None:
            return None
        ref = _router_ref(rollout, service, where)
        return ref, objects.get(ref)

    def read(self, rollout: Rollout, objects: Objects) -> RouterState:
        config = _config(rollout)
        canary = _pod_hash(objects.get(_ref(rollout, "VirtualNode", config.canary_node)))
        stable = _pod_hash(objects.get(_ref(rollout, "VirtualNode", config.stable_node)))
        if canary == CANARY_PLACEHOLDER:
            canary = stable  # Argo's label for "the canary is the stable revision"
        found = self._router(rollout, objects)
        router = found[1] if found is not None else None
        if found is None or router is None:
            return RouterState(canary_hash=canary, stable_hash=stable)
        ref = found[0]
        states = [
            RouterState(weight=scaled(*_weights(router, route), PERCENT))
            for route in _routes(rollout, ref, router)
        ]
        return attrs.evolve(combine(states), canary_hash=canary, stable_hash=stable)

    def plan(self, rollout: Rollout, desired: RouterState, objects: Objects) -> Sequence[Write]:
        no_experiment_weights(desired, "appMesh")
        if desired.header_routes or desired.mirror_routes:
            raise RouterError("appMesh cannot express header or mirror routes")
        writes = self._nodes(rollout, desired, objects)
        if desired.weight is None:
            return writes
        where = self.refs(rollout)[0]
        found = self._router(rollout, objects)
        if found is None:
            raise RouterError(f"App Mesh {where} not found")
        ref, router = found
        if router is None:
            raise RouterError(f"App Mesh {ref} (the provider of {where}) not found")
        wanted = copy.deepcopy(dict(router))
        routes = _routes(rollout, ref, router)
        for route in routes:
            targets = wanted["spec"]["routes"][route.index][route.kind]["action"]["weightedTargets"]
            targets[route.canary]["weight"] = desired.weight
            targets[route.stable]["weight"] = PERCENT - desired.weight
        weights = patch_to(ref, router, wanted)
        if any(desired.weight < _weights(router, route)[0] for route in routes):
            # less traffic to the canary first, then the VirtualNodes repointed (Argo
            # sets the weight to 0 before the hashes when the new pods are not ready):
            # a promotion's canary-hash, or a newer revision, never gets the old share
            return weights + writes
        return writes + weights

    @staticmethod
    def _nodes(rollout: Rollout, desired: RouterState, objects: Objects) -> list[Write]:
        """The VirtualNodes' pod selectors pinned to the hashes wanted, as Argo's
        UpdateHash does (stable first)."""
        config = _config(rollout)
        stable_ref = _ref(rollout, "VirtualNode", config.stable_node)
        stable = desired.stable_hash
        if stable is not None:
            stable = stable or STABLE_PLACEHOLDER
        canary = desired.canary_hash
        if canary is not None:
            same = stable if stable is not None else _pod_hash(objects.get(stable_ref))
            canary = CANARY_PLACEHOLDER if canary in ("", same) else canary
        writes: list[Write] = []
        for name, pod_hash in ((config.stable_node, stable), (config.canary_node, canary)):
            if pod_hash is None:
                continue
            ref = _ref(rollout, "VirtualNode", name)
            node = objects.get(ref)
            if node is None:
                raise RouterError(f"App Mesh {ref} not found")
            wanted = copy.deepcopy(dict(node))
            meta = wanted.setdefault("metadata", {})
            meta["annotations"] = {
                **(meta.get("annotations") or {}),
                MANAGED_BY_ANNOTATION: rollout.name,
            }
            spec = wanted.setdefault("spec", {})
            selector = spec.get("podSelector")
            selector = dict(selector) if isinstance(selector, Mapping) else {}
            selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: pod_hash}
            spec["podSelector"] = selector
            writes += patch_to(ref, node, wanted)
        return writes

    def stand_ins(self, rollout: Rollout) -> list[dict[str, Any]]:
        config = _config(rollout)
        router = f"{config.virtual_service}-router"
        meta = {"namespace": rollout.namespace}
        targets = [
            {"virtualNodeRef": {"name": config.canary_node}, "weight": 0},
            {"virtualNodeRef": {"name": config.stable_node}, "weight": PERCENT},
        ]
        listeners = [{"portMapping": {"port": 80, "protocol": "http"}}]
        nodes = [
            {
                "apiVersion": f"{GROUP}/{VERSIONS[0]}",
                "kind": "VirtualNode",
                "metadata": {"name": name, **meta},
                "spec": {
                    "podSelector": {"matchLabels": dict(rollout.selector.get("matchLabels") or {})},
                    "listeners": listeners,
                    "serviceDiscovery": {"dns": {"hostname": f"{name}.{rollout.namespace}"}},
                },
            }
            for name in (config.canary_node, config.stable_node)
        ]
        return [
            {
                "apiVersion": f"{GROUP}/{VERSIONS[0]}",
                "kind": "VirtualService",
                "metadata": {"name": config.virtual_service, **meta},
                "spec": {"provider": {"virtualRouter": {"virtualRouterRef": {"name": router}}}},
            },
            {
                "apiVersion": f"{GROUP}/{VERSIONS[0]}",
                "kind": "VirtualRouter",
                "metadata": {"name": router, **meta},
                "spec": {
                    "listeners": listeners,
                    "routes": [
                        {
                            "name": name,
                            "httpRoute": {
                                "match": {"prefix": "/"},
                                "action": {"weightedTargets": copy.deepcopy(targets)},
                            },
                        }
                        for name in config.routes or ("primary",)
                    ],
                },
            },
            *nodes,
        ]


#: the router the registry finds here (progressive.routers._registry)
ROUTER: Final = AppMeshRouter()
