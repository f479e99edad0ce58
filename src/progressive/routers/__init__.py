"""Traffic routers: NGINX Ingress, Istio, SMI and the Gateway API, one module each
behind one small Protocol (:class:`TrafficRouter`), and the :class:`RouterRegistry`
that knows them and the routers other distributions install (``progressive.routers``
entry points).

Routers are pure: from a Rollout, the state wanted and the objects read, they compute
the objects to create or the merge patches to apply, and they read the objects back
into the state they hold.  The shell (``progressive._shell.traffic``) reads and writes;
the routers never import each other (an import-linter contract checks it).  See
docs/routers.md and docs/plugins.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..core._rollout import Rollout
from ..core._router_keys import RouterCapabilities, RouterKey
from ..errors import RouterError
from ._gateway_api import GatewayApiRouter
from ._istio import IstioRouter
from ._nginx import NginxRouter, cookie_match
from ._objects import config_of
from ._protocol import (
    LINK_DEPTH,
    Create,
    HeaderRoute,
    KubeAccess,
    MirrorRoute,
    ObjectRef,
    Objects,
    Patch,
    RouterState,
    TrafficRouter,
    Write,
    read_objects,
    reading_rounds,
)
from ._registry import DeclaredRouter, RouterRegistry, built_in_routers, default_registry
from ._smi import SmiRouter

__all__ = [
    "ALL_ROUTERS",
    "LINK_DEPTH",
    "ROUTERS",
    "Create",
    "DeclaredRouter",
    "GatewayApiRouter",
    "HeaderRoute",
    "IstioRouter",
    "MirrorRoute",
    "NginxRouter",
    "ObjectRef",
    "Objects",
    "Patch",
    "KubeAccess",
    "RouterCapabilities",
    "RouterError",
    "RouterKey",
    "RouterRegistry",
    "RouterState",
    "SmiRouter",
    "TrafficRouter",
    "Write",
    "cookie_match",
    "default_registry",
    "read_objects",
    "reading_rounds",
    "router_config",
]

#: progressive's own routers by their ``trafficRouting`` key (the registry's built-ins;
#: :func:`default_registry` adds the installed plugins').
ROUTERS: Final[Mapping[str, TrafficRouter]] = {r.name: r for r in built_in_routers()}
ALL_ROUTERS: Final = tuple(ROUTERS)


def router_config(rollout: Rollout, router: TrafficRouter) -> Mapping[str, Any]:
    """``router``'s configuration in ``rollout``: ``trafficRouting.<its key>``, or
    ``trafficRouting.plugins.<one of its plugin names>``; {} when absent."""
    return config_of(rollout, router.name, *router.plugin_names)
