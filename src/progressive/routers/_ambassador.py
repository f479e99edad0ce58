"""Ambassador / Emissary-ingress: a ``<mapping>-canary`` Mapping beside each of the
Rollout's Mappings, carrying the canary's weight.

``trafficRouting.ambassador.mappings``: the names of the Mappings
(``getambassador.io/v2``, served by Emissary 1.x to 3.x; read as ``v3alpha1`` where only
that is served) that route to ``stableService``.  For each, as Argo does, the router
creates ``<mapping>-canary`` (the name cut to 246 characters first): the base Mapping's
``spec`` with ``service`` pointing at ``canaryService`` instead (the host part of
``[scheme://]host[.namespace][:port]``) and ``weight`` the canary's share; Emissary
gives the base Mapping the rest of the traffic of their prefix.  Later weights patch
``spec.weight`` alone.  The base Mapping may not have a ``weight`` of its own (Argo's
error too), and Emissary weights are percentages, so ``maxTrafficWeight`` must stay 100.

Where this differs from Argo: the canary Mapping is owned by the Rollout (an
ownerReference, so it goes with it), one controlled by anything else is refused (one
with no controller, as Argo makes them, is taken over); and at weight 0 it stays, with
``weight: 0`` (Emissary then sends it nothing), where Argo deletes it five seconds after
setting 0.  No canary Mapping reads as weight 0 when the base Mapping exists.  Emissary
has no header or mirror routes here, nor experiment destinations (Argo's router neither).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any, Final

from ..core._rollout import Rollout
from ..core._router_keys import RouterCapabilities
from ..errors import FieldProblem, RouterError
from ._objects import (
    canary_of,
    check_controlled,
    combine,
    config_of,
    experiment_weight_errors,
    int_of,
    no_experiment_weights,
    owner_reference,
    patch_to,
    percent_weight_errors,
)
from ._protocol import Create, KubeAccess, ObjectRef, Objects, RouterState, Write

__all__ = ["AmbassadorRouter"]

GROUP: Final = "getambassador.io"
VERSIONS: Final = ("v2", "v3alpha1")
CANARY_SUFFIX: Final = "-canary"
#: Argo cuts a Mapping's name to this before adding the suffix
NAME_LIMIT: Final = 246
_PATH: Final = "spec.strategy.canary.trafficRouting.ambassador"
# [scheme://]host[.namespace][:port]: the host is what names the Service
_SERVICE = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*://)?(?P<host>[^.:/]+)(?P<rest>.*)$")


def _mappings(rollout: Rollout) -> list[str]:
    names = config_of(rollout, "ambassador").get("mappings")
    return [str(n) for n in names if isinstance(n, str) and n] if isinstance(names, list) else []


def _ref(rollout: Rollout, name: str) -> ObjectRef:
    return ObjectRef(GROUP, VERSIONS, "Mapping", rollout.namespace, name)


def canary_name(name: str) -> str:
    return name[:NAME_LIMIT] + CANARY_SUFFIX


def _canary_service(service: str, stable: str, canary: str) -> str | None:
    found = _SERVICE.match(service)
    if found is None or found.group("host") != stable:
        return None
    return f"{found.group('scheme') or ''}{canary}{found.group('rest')}"


class AmbassadorRouter:
    """The Ambassador / Emissary-ingress router (``trafficRouting.ambassador``)."""

    name: Final = "ambassador"
    capabilities: Final = RouterCapabilities()
    plugin_names: Final = ()
    access: Final = (
        KubeAccess(
            GROUP,
            "mappings",
            ("get", "list", "watch", "create", "patch"),
            "Emissary canary Mappings",
        ),
    )

    def validate(self, rollout: Rollout) -> list[FieldProblem]:
        errors = []
        if not _mappings(rollout):
            errors.append(FieldProblem(f"{_PATH}.mappings", "is required: at least one Mapping"))
        errors += percent_weight_errors(rollout, "Emissary's Mapping weights are percentages")
        errors += experiment_weight_errors(rollout, "ambassador")
        return errors

    def refs(self, rollout: Rollout) -> tuple[ObjectRef, ...]:
        out: list[ObjectRef] = []
        for name in _mappings(rollout):
            out += [_ref(rollout, name), _ref(rollout, canary_name(name))]
        return tuple(out)

    def read(self, rollout: Rollout, objects: Objects) -> RouterState:
        states = []
        for name in _mappings(rollout):
            ref = _ref(rollout, canary_name(name))
            canary = objects.get(ref)
            if canary is None:
                base = objects.get(_ref(rollout, name))
                states.append(RouterState(weight=None if base is None else 0))
                continue
            check_controlled(canary, rollout, f"canary {ref}", uncontrolled_ok=True)
            states.append(RouterState(weight=int_of((canary.get("spec") or {}).get("weight")) or 0))
        return combine(states)

    def plan(self, rollout: Rollout, desired: RouterState, objects: Objects) -> Sequence[Write]:
        no_experiment_weights(desired, "ambassador")
        if desired.header_routes or desired.mirror_routes:
            raise RouterError("ambassador cannot express header or mirror routes")
        writes: list[Write] = []
        for name in _mappings(rollout):
            ref = _ref(rollout, canary_name(name))
            current = objects.get(ref)
            if current is not None:
                check_controlled(current, rollout, f"canary {ref}", uncontrolled_ok=True)
                if desired.weight is not None:
                    wanted = copy.deepcopy(dict(current))
                    wanted["spec"] = {**(current.get("spec") or {}), "weight": desired.weight}
                    writes += patch_to(ref, current, wanted)
                continue
            if not desired.weight:
                continue  # no canary Mapping sends nothing to the canary already
            writes.append(Create(ref, self._canary(rollout, name, ref, desired.weight, objects)))
        return writes

    def _canary(
        self, rollout: Rollout, name: str, ref: ObjectRef, weight: int, objects: Objects
    ) -> dict[str, Any]:
        base_ref = _ref(rollout, name)
        base = objects.get(base_ref)
        if base is None:
            raise RouterError(f"Ambassador {base_ref} not found")
        spec = copy.deepcopy(dict(base.get("spec") or {}))
        if int_of(spec.get("weight")):
            raise RouterError(f"Ambassador {base_ref} can not define weight")
        canary = canary_of(rollout)
        service = _canary_service(
            str(spec.get("service") or ""), str(canary.stable_service), str(canary.canary_service)
        )
        if service is None:
            raise RouterError(
                f"Ambassador {base_ref} routes to {spec.get('service')!r}, not to the stable "
                f"Service {canary.stable_service!r}"
            )
        spec.update(service=service, weight=weight)
        return {
            "apiVersion": str(base.get("apiVersion") or ref.api_version),
            "kind": "Mapping",
            "metadata": {
                "name": ref.name,
                "namespace": ref.namespace,
                "ownerReferences": [owner_reference(rollout)],
            },
            "spec": spec,
        }

    def stand_ins(self, rollout: Rollout) -> list[dict[str, Any]]:
        canary = canary_of(rollout)
        return [
            {
                "apiVersion": f"{GROUP}/v2",
                "kind": "Mapping",
                "metadata": {"name": name, "namespace": rollout.namespace},
                "spec": {"prefix": f"/{rollout.name}/", "service": f"{canary.stable_service}:80"},
            }
            for name in _mappings(rollout)
        ]


#: the router the registry finds here (progressive.routers._registry)
ROUTER: Final = AmbassadorRouter()
