"""SMI: a TrafficSplit the Rollout creates and owns.

``trafficRouting.smi``: ``trafficSplitName`` (default: the Rollout's name),
``rootService`` (default ``stableService``) and ``apiVersion`` (ours: the controller flag
``--traffic-split-api-version`` in Argo), one of ``v1alpha1`` (the default) to
``v1alpha4``.  The split, as Argo's code writes it, canary backend first::

    apiVersion: split.smi-spec.io/<apiVersion>
    kind: TrafficSplit
    metadata: {name, namespace, ownerReferences: [<the Rollout, controller: true>]}
    spec:
      service: <rootService>
      backends:
      - {service: <canaryService>, weight: <w>}
      - {service: <experiment template's Service>, weight: <x>}   # during an experiment
      - {service: <stableService>, weight: <maxTrafficWeight - w - sum(x)>}

In v1alpha1 a weight is a Quantity, written as a string (``"25"``); later versions use
ints.  A split that exists and is not controlled by the Rollout is an error.  SMI cannot
express header or mirror routes (the core rejects such steps when smi is configured).
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
    check_controlled,
    config_of,
    int_of,
    max_weight,
    owner_reference,
    patch_to,
    scaled,
)
from ._protocol import Create, KubeAccess, ObjectRef, Objects, RouterState, Write

__all__ = ["API_VERSIONS", "SmiRouter"]

GROUP: Final = "split.smi-spec.io"
API_VERSIONS: Final = ("v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4")
_PATH: Final = "spec.strategy.canary.trafficRouting.smi"


def _version(rollout: Rollout) -> str:
    version = config_of(rollout, "smi").get("apiVersion") or "v1alpha1"
    version = str(version).removeprefix(f"{GROUP}/")
    return version


def _split_ref(rollout: Rollout) -> ObjectRef:
    name = config_of(rollout, "smi").get("trafficSplitName") or rollout.name
    return ObjectRef(GROUP, (_version(rollout),), "TrafficSplit", rollout.namespace, str(name))


class SmiRouter:
    """The SMI router (``trafficRouting.smi``)."""

    name: Final = "smi"
    capabilities: Final = RouterCapabilities(experiment_weights=True)
    plugin_names: Final = ()
    access: Final = (
        KubeAccess(
            GROUP, "trafficsplits", ("get", "list", "watch", "create", "patch"), "SMI weights"
        ),
    )

    def validate(self, rollout: Rollout) -> list[FieldProblem]:
        if _version(rollout) not in API_VERSIONS:
            return [
                FieldProblem(
                    f"{_PATH}.apiVersion",
                    f"must be one of {', '.join(API_VERSIONS)}, got {_version(rollout)!r}",
                )
            ]
        return []

    def refs(self, rollout: Rollout) -> tuple[ObjectRef, ...]:
        return (_split_ref(rollout),)

    def read(self, rollout: Rollout, objects: Objects) -> RouterState:
        ref = _split_ref(rollout)
        split = objects.get(ref)
        if split is None:
            return RouterState()
        check_controlled(split, rollout, str(ref))
        canary = canary_of(rollout)
        weights = {
            str(b.get("service")): int_of(b.get("weight")) or 0
            for b in (split.get("spec") or {}).get("backends") or ()
            if isinstance(b, Mapping)
        }
        total = max_weight(rollout)
        canary_weight = weights.pop(str(canary.canary_service), 0)
        stable_weight = weights.pop(str(canary.stable_service), 0)
        if not weights:
            return RouterState(weight=scaled(canary_weight, stable_weight, total))
        # relative weights that do not add up to maxTrafficWeight are scaled to it
        held = canary_weight + stable_weight + sum(weights.values())
        factor = 1.0 if held in (0, total) else total / held
        return RouterState(
            weight=round(canary_weight * factor),
            experiment_weights=tuple((s, round(w * factor)) for s, w in weights.items()),
        )

    def plan(self, rollout: Rollout, desired: RouterState, objects: Objects) -> Sequence[Write]:
        if desired.header_routes or desired.mirror_routes:
            raise RouterError("smi cannot express header or mirror routes")
        ref = _split_ref(rollout)
        current = objects.get(ref)
        weight = desired.weight
        if current is None:
            if weight is None:
                return []
            return [Create(ref, self._split(rollout, ref, weight, desired.experiment_weights))]
        check_controlled(current, rollout, str(ref))
        if weight is None:
            weight = self.read(rollout, objects).weight or 0
        wanted = copy.deepcopy(dict(current))
        wanted["spec"] = {
            **(current.get("spec") or {}),
            **self._split(rollout, ref, weight, desired.experiment_weights)["spec"],
        }
        return patch_to(ref, current, wanted)

    def _split(
        self,
        rollout: Rollout,
        ref: ObjectRef,
        weight: int,
        experiments: tuple[tuple[str, int], ...] = (),
    ) -> dict[str, Any]:
        canary = canary_of(rollout)
        root = config_of(rollout, "smi").get("rootService") or canary.stable_service
        quantity = ref.versions[0] == "v1alpha1"

        def value(w: int) -> int | str:
            return str(w) if quantity else w

        stable = max(0, max_weight(rollout) - weight - sum(w for _, w in experiments))

        return {
            "apiVersion": ref.api_version,
            "kind": "TrafficSplit",
            "metadata": {
                "name": ref.name,
                "namespace": ref.namespace,
                "ownerReferences": [owner_reference(rollout)],
            },
            "spec": {
                "service": root,
                "backends": [
                    {"service": canary.canary_service, "weight": value(weight)},
                    *({"service": s, "weight": value(w)} for s, w in experiments),
                    {"service": canary.stable_service, "weight": value(stable)},
                ],
            },
        }

    def stand_ins(self, rollout: Rollout) -> list[dict[str, Any]]:
        return []  # the TrafficSplit is the Rollout's own


#: the router the registry finds here (progressive.routers._registry)
ROUTER: Final = SmiRouter()
