"""A bespoke controller built on progressive's shell, with a router and a metric
provider of its own.

* ``TraefikRouter`` drives a Traefik ``TraefikService`` (``spec.weighted.services``),
  which progressive does not ship: it implements the small ``TrafficRouter`` Protocol
  (pure: read the objects into a state, plan the patches toward a state).
* ``SyntheticChecks`` is a metric provider for an in-house synthetic-monitoring system
  (here a table of success ratios): it implements ``MetricProvider``.
* The controller is progressive's own, given both; it runs on the in-memory cluster
  with a virtual clock, so the whole update takes milliseconds.

    python examples/bespoke/controller.py [--failing]
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import yaml

from progressive import (
    AnalysisRun,
    Controller,
    MemoryCluster,
    Metric,
    Ref,
    Rollout,
    RouterTraffic,
    VirtualClock,
)
from progressive.errors import FieldProblem
from progressive.metrics import MeasurementFailure, ProviderRegistry
from progressive.routers import (
    ObjectRef,
    Objects,
    Patch,
    RouterCapabilities,
    RouterState,
    Write,
    default_registry,
)

HERE = Path(__file__).resolve().parent


class TraefikRouter:
    """``trafficRouting.traefik.weightedTraefikServiceName``: the weights of the stable
    and canary Services inside an existing TraefikService (patched, never replaced)."""

    name = "traefik"
    plugin_names: tuple[str, ...] = ()
    capabilities = RouterCapabilities()  # weights only: no header or mirror routes

    def _ref(self, rollout: Rollout) -> ObjectRef:
        config = rollout.canary.traffic_routing.routers["traefik"]  # type: ignore[union-attr]
        return ObjectRef(
            "traefik.io",
            ("v1alpha1",),
            "TraefikService",
            rollout.namespace,
            str(config.get("weightedTraefikServiceName")),
        )

    def validate(self, rollout: Rollout) -> list[FieldProblem]:
        config = rollout.canary.traffic_routing.routers["traefik"]  # type: ignore[union-attr]
        if not config.get("weightedTraefikServiceName"):
            return [
                FieldProblem(
                    "spec.strategy.canary.trafficRouting.traefik.weightedTraefikServiceName",
                    "is required",
                )
            ]
        return []

    def refs(self, rollout: Rollout) -> tuple[ObjectRef, ...]:
        return (self._ref(rollout),)

    def read(self, rollout: Rollout, objects: Objects) -> RouterState:
        service = objects.get(self._ref(rollout))
        if service is None:
            return RouterState()
        for entry in service["spec"]["weighted"]["services"]:
            if entry["name"] == rollout.canary.canary_service:  # type: ignore[union-attr]
                return RouterState(weight=int(entry.get("weight", 0)))
        return RouterState(weight=0)

    def plan(self, rollout: Rollout, desired: RouterState, objects: Objects) -> Sequence[Write]:
        ref = self._ref(rollout)
        service = objects.get(ref)
        if service is None or desired.weight is None:
            return []
        canary = rollout.canary
        assert canary is not None
        weights = {
            canary.canary_service: desired.weight,
            canary.stable_service: 100 - desired.weight,
        }
        services = copy.deepcopy(service["spec"]["weighted"]["services"])
        for entry in services:
            if entry["name"] in weights:
                entry["weight"] = weights[entry["name"]]
        if services == service["spec"]["weighted"]["services"]:
            return []
        version = service["metadata"]["resourceVersion"]
        return [
            Patch(
                ref,
                {
                    "metadata": {"resourceVersion": version},
                    "spec": {"weighted": {"services": services}},
                },
            )
        ]

    def stand_ins(self, rollout: Rollout) -> list[dict[str, Any]]:
        return []


class SyntheticChecks:
    """Success ratios of synthetic user journeys, by journey name."""

    def __init__(self, ratios: Mapping[str, float]) -> None:
        self.ratios = ratios

    async def measure(self, metric: Metric, run: AnalysisRun) -> object | MeasurementFailure:
        journey = str(metric.provider["synthetic"].get("journey"))
        if journey not in self.ratios:
            return MeasurementFailure(f"no synthetic journey {journey!r}")
        return self.ratios[journey]


async def release(failing: bool) -> list[str]:
    """Deploy the Rollout, update its image, and return the story in lines."""
    clock = VirtualClock()
    cluster = MemoryCluster(clock)
    for doc in yaml.safe_load_all((HERE / "rollout.yaml").read_text()):
        await cluster.create(doc)
    for role in ("stable", "canary"):
        await cluster.create(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"shop-{role}", "namespace": "default"},
                "spec": {"selector": {"app": "shop"}},
            }
        )
    lines: list[str] = []
    start = clock.now()

    def on_plan(rollout: Rollout, plan: Any) -> None:
        for action in plan.actions:
            if type(action).__name__ == "EmitEvent" and action.reason in (
                "SetWeight",
                "AnalysisSuccessful",
                "AnalysisFailed",
                "Aborted",
                "Promoted",
            ):
                lines.append(f"t={clock.now() - start:>4.0f}s  {action.reason}: {action.message}")

    controller = Controller(
        cluster,
        clock=clock,
        traffic=RouterTraffic(cluster, default_registry().with_routers(TraefikRouter())),
        provider=ProviderRegistry(
            {"synthetic": SyntheticChecks({"checkout": 0.95 if failing else 0.999})}
        ),
        on_plan=on_plan,
    )
    await controller.settle(wakeup=cluster.next_event_at)  # the first revision
    lines.clear()
    start = clock.now()
    ref = Ref("argoproj.io/v1alpha1", "Rollout", "default", "shop")
    rollout = await cluster.get(ref)
    assert rollout is not None
    template = copy.deepcopy(rollout["spec"]["template"])
    template["spec"]["containers"][0]["image"] = "registry.example/shop:2"
    await cluster.patch(ref, {"spec": {"template": template}})
    await controller.settle(wakeup=cluster.next_event_at)
    final = await cluster.get(ref)
    service = await cluster.get(Ref("traefik.io/v1alpha1", "TraefikService", "default", "shop"))
    assert final is not None and service is not None
    weights = {s["name"]: s["weight"] for s in service["spec"]["weighted"]["services"]}
    lines.append(f"phase {final['status']['phase']}, TraefikService weights {weights}")
    return lines


def main(argv: list[str]) -> int:
    lines = anyio.run(release, "--failing" in argv)
    print("\n".join(lines))
    return 0 if lines[-1].startswith("phase Healthy") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
