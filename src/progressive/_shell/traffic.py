"""Traffic routers as the shell sees them, and the in-memory one.

:class:`TrafficRouter` is the small interface ``apply`` and ``observe`` use; Argo's
routers share the same shape (SetWeight, SetHeaderRoute, SetMirrorRoute,
RemoveManagedRoutes).  :class:`MemoryTraffic` keeps one ``TrafficState`` object per
Rollout (``progressive.dev/v1alpha1``, named after the Rollout, owned by it) in the
cluster; it stands in for every configured router until the real ones land.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

from ..core._actions import SetHeaderRoute, SetMirrorRoute, SetWeight
from ..core._observed import TrafficView
from ..core._rollout import Rollout
from .clusters import AlreadyExists, Cluster, Ref, owner_reference

__all__ = ["TRAFFIC_STATE_API", "MemoryTraffic", "TrafficRouter"]

TRAFFIC_STATE_API: Final = "progressive.dev/v1alpha1"
TRAFFIC_STATE_KIND: Final = "TrafficState"


class TrafficRouter(Protocol):
    async def set_weight(self, rollout: Rollout, action: SetWeight) -> None: ...

    async def set_header_route(self, rollout: Rollout, action: SetHeaderRoute) -> None: ...

    async def set_mirror_route(self, rollout: Rollout, action: SetMirrorRoute) -> None: ...

    async def remove_managed_routes(self, rollout: Rollout, names: tuple[str, ...]) -> None: ...

    async def observe(self, rollout: Rollout) -> TrafficView:
        """What the router holds for ``rollout`` now."""
        ...


class MemoryTraffic:
    """Routes kept in a ``TrafficState`` object: ``spec.weight``, ``spec.maxWeight``,
    ``spec.canaryHash``, ``spec.stableHash``, ``spec.headerRoutes[]``,
    ``spec.mirrorRoutes[]``."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    @staticmethod
    def ref(rollout: Rollout) -> Ref:
        return Ref(TRAFFIC_STATE_API, TRAFFIC_STATE_KIND, rollout.namespace, rollout.name)

    async def _spec(self, rollout: Rollout) -> dict[str, Any] | None:
        obj = await self.cluster.get(self.ref(rollout))
        return None if obj is None else dict(obj.get("spec") or {})

    async def _write(self, rollout: Rollout, spec: Mapping[str, Any]) -> None:
        ref = self.ref(rollout)
        if await self.cluster.get(ref) is not None:
            await self.cluster.patch(ref, {"spec": dict(spec)})
            return
        obj = {
            "apiVersion": TRAFFIC_STATE_API,
            "kind": TRAFFIC_STATE_KIND,
            "metadata": {
                "name": rollout.name,
                "namespace": rollout.namespace,
                "ownerReferences": [
                    owner_reference(rollout.api_version, "Rollout", rollout.name, rollout.uid)
                ],
            },
            "spec": dict(spec),
        }
        try:
            await self.cluster.create(obj)
        except AlreadyExists:
            await self.cluster.patch(ref, {"spec": dict(spec)})

    async def set_weight(self, rollout: Rollout, action: SetWeight) -> None:
        await self._write(
            rollout,
            {
                "weight": action.weight,
                "maxWeight": action.max_weight,
                "canaryHash": action.canary_hash,
                "stableHash": action.stable_hash,
            },
        )

    async def set_header_route(self, rollout: Rollout, action: SetHeaderRoute) -> None:
        routes = [
            r for r in await self._routes(rollout, "headerRoutes") if r["name"] != action.name
        ]
        if action.match:
            routes.append(
                {
                    "name": action.name,
                    "match": [
                        {
                            "headerName": m.header_name,
                            "headerValue": {
                                k: v
                                for k, v in (
                                    ("exact", m.exact),
                                    ("regex", m.regex),
                                    ("prefix", m.prefix),
                                )
                                if v is not None
                            },
                        }
                        for m in action.match
                    ],
                }
            )
        await self._write(rollout, {"headerRoutes": routes})

    async def set_mirror_route(self, rollout: Rollout, action: SetMirrorRoute) -> None:
        routes = [
            r for r in await self._routes(rollout, "mirrorRoutes") if r["name"] != action.name
        ]
        if action.match:
            routes.insert(
                0,
                {"name": action.name, "match": list(action.match), "percentage": action.percentage},
            )
        await self._write(rollout, {"mirrorRoutes": routes})

    async def remove_managed_routes(self, rollout: Rollout, names: tuple[str, ...]) -> None:
        spec = await self._spec(rollout)
        if spec is None:
            return
        # Argo removes every managed route and every route a step created: here all of
        # them live in this object, so both lists empty out.
        await self._write(rollout, {"headerRoutes": [], "mirrorRoutes": []})

    async def _routes(self, rollout: Rollout, key: str) -> list[dict[str, Any]]:
        return _named(await self._spec(rollout) or {}, key)

    async def observe(self, rollout: Rollout) -> TrafficView:
        spec = await self._spec(rollout)
        if spec is None:
            return TrafficView()
        weight = spec.get("weight")
        return TrafficView(
            weight=weight if isinstance(weight, int) and not isinstance(weight, bool) else None,
            header_routes=tuple(r["name"] for r in _named(spec, "headerRoutes")),
            mirror_routes=tuple(r["name"] for r in _named(spec, "mirrorRoutes")),
        )


def _named(spec: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    return [r for r in spec.get(key) or () if isinstance(r, dict) and "name" in r]
