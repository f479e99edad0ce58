"""The routers a Rollout's ``trafficRouting`` may name, each once, with what it can
express.

The model reads these keys (any other is an unknown router), the CRD schema lists them,
and a ``setHeaderRoute`` or ``setMirrorRoute`` step is refused for a router that cannot
express it.  Which of them this controller implements is another question, answered by
:data:`progressive.routers.ROUTERS`: a Rollout naming alb, ambassador, apisix, traefik
or appMesh is read, then refused there (InvalidSpec).  A router registry can fill
:data:`KNOWN_ROUTERS` from the routers themselves.
"""

from __future__ import annotations

from typing import Final

import attrs

__all__ = [
    "GATEWAY_PLUGIN",
    "HEADER_ROUTERS",
    "KNOWN_ROUTERS",
    "MIRROR_ROUTERS",
    "PING_PONG_ROUTERS",
    "ROUTER_KEYS",
    "RouterKey",
]


@attrs.frozen
class RouterKey:
    """A ``trafficRouting`` key, and whether its router can express header routes
    (nginx through canary-by-header annotations; see docs/routers.md) and mirror
    routes, and take the ping-pong Services instead of canary and stable ones."""

    key: str
    header_routes: bool = False
    mirror_routes: bool = False
    ping_pong: bool = False


#: Argo Rollouts' routers, in Argo's order.
KNOWN_ROUTERS: Final = (
    RouterKey("nginx", header_routes=True),
    RouterKey("istio", header_routes=True, mirror_routes=True, ping_pong=True),
    RouterKey("smi"),
    RouterKey("gatewayAPI", header_routes=True, mirror_routes=True),
    RouterKey("alb", header_routes=True, ping_pong=True),
    RouterKey("ambassador"),
    RouterKey("apisix", header_routes=True),
    RouterKey("traefik"),
    RouterKey("appMesh"),
)
ROUTER_KEYS: Final = tuple(r.key for r in KNOWN_ROUTERS)
HEADER_ROUTERS: Final = frozenset(r.key for r in KNOWN_ROUTERS if r.header_routes)
MIRROR_ROUTERS: Final = frozenset(r.key for r in KNOWN_ROUTERS if r.mirror_routes)
PING_PONG_ROUTERS: Final = frozenset(r.key for r in KNOWN_ROUTERS if r.ping_pong)
#: the ``trafficRouting.plugins`` key under which Argo's Gateway API plugin is configured
#: (read as the ``gatewayAPI`` router)
GATEWAY_PLUGIN: Final = "argoproj-labs/gatewayAPI"
