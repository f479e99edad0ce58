"""Type-checked, NOT executed: every router satisfies the TrafficRouter Protocol.

``tests/routers/test_typing.py`` runs mypy (strict, the project's settings) on this
file.  A ``@runtime_checkable`` isinstance check would only look for method names;
this checks the signatures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from progressive.core import Rollout
from progressive.routers import (
    ROUTERS,
    DeclaredRouter,
    GatewayApiRouter,
    IstioRouter,
    NginxRouter,
    Objects,
    RouterRegistry,
    RouterState,
    SmiRouter,
    TrafficRouter,
    Write,
    default_registry,
)

nginx: TrafficRouter = NginxRouter()
istio: TrafficRouter = IstioRouter()
smi: TrafficRouter = SmiRouter()
gateway_api: TrafficRouter = GatewayApiRouter()
declared: TrafficRouter = DeclaredRouter("mine")
every: Mapping[str, TrafficRouter] = ROUTERS
plugins: RouterRegistry = default_registry()


def plans(router: TrafficRouter, rollout: Rollout, objects: Objects) -> Sequence[Write]:
    state: RouterState = router.read(rollout, objects)
    return router.plan(rollout, state, objects)


class NotARouter:
    name = "broken"

    def refs(self, rollout: Rollout) -> list[str]:  # wrong return type, methods missing
        return []


broken: TrafficRouter = NotARouter()  # type: ignore[assignment]
