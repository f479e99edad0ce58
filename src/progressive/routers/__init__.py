"""Traffic routers: NGINX Ingress, Istio, SMI and the Gateway API, one module each
behind one small Protocol (:class:`TrafficRouter`).

Routers are pure: from a Rollout, the state wanted and the objects read, they compute
the objects to create or the merge patches to apply, and they read the objects back
into the state they hold.  The shell (``progressive._shell.traffic``) reads and writes;
the routers never import each other (an import-linter contract checks it).  See
docs/routers.md.
"""

from __future__ import annotations

from typing import Final

from ._gateway_api import GatewayApiRouter
from ._istio import IstioRouter
from ._nginx import NginxRouter, cookie_match
from ._protocol import (
    Create,
    HeaderRoute,
    MirrorRoute,
    ObjectRef,
    Objects,
    Patch,
    RouterError,
    RouterState,
    TrafficRouter,
    Write,
)
from ._smi import SmiRouter

__all__ = [
    "ALL_ROUTERS",
    "ROUTERS",
    "Create",
    "GatewayApiRouter",
    "HeaderRoute",
    "IstioRouter",
    "MirrorRoute",
    "NginxRouter",
    "ObjectRef",
    "Objects",
    "Patch",
    "RouterError",
    "RouterState",
    "SmiRouter",
    "TrafficRouter",
    "Write",
    "cookie_match",
]

#: The implemented routers by their ``trafficRouting`` key.  A Rollout configured with
#: any other router (alb, ambassador, apisix, traefik, appMesh) keeps the shell's
#: in-memory stand-in (``MemoryTraffic``).
ROUTERS: Final[dict[str, TrafficRouter]] = {
    "nginx": NginxRouter(),
    "istio": IstioRouter(),
    "smi": SmiRouter(),
    "gatewayAPI": GatewayApiRouter(),
}
ALL_ROUTERS: Final = tuple(ROUTERS)
