"""Contour (``projectcontour.io/v1`` HTTPProxy) as a progressive traffic router.

Configured as ``trafficRouting: {contour: {httpProxy: NAME}}``, or as Argo's Contour
plugin is, ``trafficRouting: {plugins: {argoproj-labs/contour: {httpProxy: NAME}}}``.
The HTTPProxy is the user's: every route that lists both the Rollout's stable and
canary Services gets their weights (canary ``w``, stable ``maxTrafficWeight - w``), by
a merge patch guarded by the resourceVersion read; nothing else in it changes.  It
expresses weights only: a Rollout asking it for header or mirror routes is refused by
progressive before it is called.  It declares the access it needs (``access``: get, list,
watch and patch HTTPProxies), which ``progressive install`` grants the controller.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from progressive.core import Rollout
from progressive.errors import FieldProblem, RouterError
from progressive.routers import (
    KubeAccess,
    ObjectRef,
    Objects,
    Patch,
    RouterCapabilities,
    RouterState,
    TrafficRouter,
    Write,
    router_config,
)

__all__ = ["ContourRouter"]

GROUP = "projectcontour.io"
KIND = "HTTPProxy"


class ContourRouter(TrafficRouter):
    """Weights in a Contour HTTPProxy's routes."""

    name = "contour"
    plugin_names = ("argoproj-labs/contour",)
    capabilities = RouterCapabilities()  # weights only
    access = (
        KubeAccess(GROUP, "httpproxies", ("get", "list", "watch", "patch"), "HTTPProxy weights"),
    )

    def _proxy(self, rollout: Rollout) -> ObjectRef:
        name = router_config(rollout, self).get("httpProxy")
        return ObjectRef(GROUP, ("v1",), KIND, rollout.namespace, str(name or ""))

    @staticmethod
    def _services(rollout: Rollout) -> tuple[str, str, int]:
        canary = rollout.canary
        assert canary is not None and canary.traffic_routing is not None
        return (
            canary.stable_service or "",
            canary.canary_service or "",
            canary.traffic_routing.max_traffic_weight,
        )

    def validate(self, rollout: Rollout) -> list[FieldProblem]:
        name = router_config(rollout, self).get("httpProxy")
        if not isinstance(name, str) or not name:
            path = "spec.strategy.canary.trafficRouting.contour.httpProxy"
            return [FieldProblem(path, "is required: the HTTPProxy that routes to the Services")]
        return []

    def refs(self, rollout: Rollout) -> tuple[ObjectRef, ...]:
        return (self._proxy(rollout),)

    def _routes(self, rollout: Rollout, proxy: Mapping[str, Any]) -> list[dict[str, Any]]:
        routes = (proxy.get("spec") or {}).get("routes")
        if not isinstance(routes, list):
            raise RouterError(f"{KIND} {proxy['metadata']['name']} has no spec.routes")
        return [dict(r) for r in routes if isinstance(r, Mapping)]

    def _weighted(self, rollout: Rollout, route: Mapping[str, Any]) -> bool:
        stable, canary, _ = self._services(rollout)
        names = {s.get("name") for s in route.get("services") or () if isinstance(s, Mapping)}
        return {stable, canary} <= names

    def read(self, rollout: Rollout, objects: Objects) -> RouterState:
        proxy = objects.get(self._proxy(rollout))
        if proxy is None:
            return RouterState()
        _, canary, _ = self._services(rollout)
        weights = [
            int(service.get("weight") or 0)
            for route in self._routes(rollout, proxy)
            if self._weighted(rollout, route)
            for service in route["services"]
            if service.get("name") == canary
        ]
        if not weights:
            raise RouterError(
                f"no route of {KIND} {proxy['metadata']['name']} lists both the stable "
                "and the canary Service"
            )
        return RouterState(weight=min(weights), agreed=len(set(weights)) == 1)

    def plan(self, rollout: Rollout, desired: RouterState, objects: Objects) -> Sequence[Write]:
        if desired.header_routes or desired.mirror_routes or desired.experiment_weights:
            raise RouterError("the contour router sets weights only, no header or mirror routes")
        ref = self._proxy(rollout)
        proxy = objects.get(ref)
        if proxy is None:
            raise RouterError(f"{KIND} {ref.namespace}/{ref.name} does not exist")
        if desired.weight is None:
            return []
        stable, canary, total = self._services(rollout)
        weights = {canary: desired.weight, stable: total - desired.weight}
        routes = copy.deepcopy(self._routes(rollout, proxy))
        for route in routes:
            if self._weighted(rollout, route):
                for service in route["services"]:
                    if service.get("name") in weights:
                        service["weight"] = weights[service["name"]]
        if routes == self._routes(rollout, proxy):
            return []
        version = proxy["metadata"].get("resourceVersion")
        return [Patch(ref, {"metadata": {"resourceVersion": version}, "spec": {"routes": routes}})]

    def stand_ins(self, rollout: Rollout) -> list[dict[str, Any]]:
        """An HTTPProxy sending everything to the stable Service (``simulate``)."""
        ref = self._proxy(rollout)
        stable, canary, total = self._services(rollout)
        return [
            {
                "apiVersion": ref.api_version,
                "kind": KIND,
                "metadata": {"name": ref.name, "namespace": ref.namespace},
                "spec": {
                    "virtualhost": {"fqdn": f"{rollout.name}.example.com"},
                    "routes": [
                        {
                            "conditions": [{"prefix": "/"}],
                            "services": [
                                {"name": stable, "port": 80, "weight": total},
                                {"name": canary, "port": 80, "weight": 0},
                            ],
                        }
                    ],
                },
            }
        ]
