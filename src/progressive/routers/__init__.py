"""Traffic routers: NGINX Ingress, Istio, SMI and the Gateway API, one module each
behind one small Protocol (:class:`TrafficRouter`).

Routers are pure: from a Rollout, the state wanted and the objects read, they compute
the objects to create or the merge patches to apply, and they read the objects back
into the state they hold.  The shell (``progressive._shell.traffic``) reads and writes;
the routers never import each other (an import-linter contract checks it).  See
docs/routers.md.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from ..core._rollout import Rollout
from ..errors import FieldProblem, RouterError
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
    "unimplemented",
]

#: The implemented routers by their ``trafficRouting`` key.  A Rollout configured with
#: any other router Argo knows (alb, ambassador, apisix, traefik, appMesh) is refused:
#: see :func:`unimplemented`.
ROUTERS: Final[dict[str, TrafficRouter]] = {
    "nginx": NginxRouter(),
    "istio": IstioRouter(),
    "smi": SmiRouter(),
    "gatewayAPI": GatewayApiRouter(),
}
ALL_ROUTERS: Final = tuple(ROUTERS)


def unimplemented(
    rollout: Rollout, implemented: Collection[str] = ALL_ROUTERS
) -> list[FieldProblem]:
    """The routers ``rollout`` configures that are not in ``implemented`` (the
    ``trafficRouting`` keys a controller has routers for), one error each at its field
    path.

    The one answer to "can the controller move this Rollout's traffic?": ``lint`` and
    ``simulate`` refuse such a Rollout, and the controller gives it the condition
    InvalidSpec (with a Warning Event) rather than waiting for canary pods for ever.  A
    controller built with more routers (``RouterTraffic(implemented=...)``) passes their
    keys.
    """
    canary = rollout.canary
    if canary is None or canary.traffic_routing is None:
        return []
    names = ", ".join(implemented)
    return [
        FieldProblem(
            f"spec.strategy.canary.trafficRouting.{key}",
            f"the {key} router is not implemented (this controller implements {names})",
        )
        for key in canary.traffic_routing.routers
        if key not in implemented
    ]
