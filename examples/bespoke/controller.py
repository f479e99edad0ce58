"""A bespoke controller built on progressive's shell, with a router and a metric
provider of its own.

* ``SkipperRouter`` drives Skipper's weighted backends (an Ingress annotation), which
  progressive does not ship: it implements the small ``TrafficRouter`` Protocol (pure:
  read the objects into a state, plan the patches toward a state).
* ``SyntheticChecks`` is a metric provider for an in-house synthetic-monitoring system
  (here a table of success ratios): it implements ``MetricProvider``.
* The controller is progressive's own, given both; it runs on the in-memory cluster
  with a virtual clock, so the whole update takes milliseconds.

    python examples/bespoke/controller.py [--failing]
"""

from __future__ import annotations

import copy
import json
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


class SkipperRouter:
    """``trafficRouting.skipper.ingress``: the ``zalando.org/backend-weights``
    annotation of an existing Ingress whose paths lead to the stable and canary
    Services, Skipper's weighted backends (patched, never replaced)."""

    name = "skipper"
    plugin_names: tuple[str, ...] = ()
    capabilities = RouterCapabilities()  # weights only: no header or mirror routes
    annotation = "zalando.org/backend-weights"

    def _ref(self, rollout: Rollout) -> ObjectRef:
        config = rollout.canary.traffic_routing.routers["skipper"]  # type: ignore[union-attr]
        name = str(config.get("ingress"))
        return ObjectRef("networking.k8s.io", ("v1",), "Ingress", rollout.namespace, name)

    def validate(self, rollout: Rollout) -> list[FieldProblem]:
        config = rollout.canary.traffic_routing.routers["skipper"]  # type: ignore[union-attr]
        if not config.get("ingress"):
            return [
                FieldProblem("spec.strategy.canary.trafficRouting.skipper.ingress", "is required")
            ]
        return []

    def refs(self, rollout: Rollout) -> tuple[ObjectRef, ...]:
        return (self._ref(rollout),)

    def _weights(self, ingress: Mapping[str, Any]) -> dict[str, int]:
        annotations = ingress["metadata"].get("annotations") or {}
        return dict(json.loads(annotations.get(self.annotation) or "{}"))

    def read(self, rollout: Rollout, objects: Objects) -> RouterState:
        ingress = objects.get(self._ref(rollout))
        if ingress is None:
            return RouterState()
        canary = rollout.canary.canary_service  # type: ignore[union-attr]
        return RouterState(weight=int(self._weights(ingress).get(canary, 0)))

    def plan(self, rollout: Rollout, desired: RouterState, objects: Objects) -> Sequence[Write]:
        ref = self._ref(rollout)
        ingress = objects.get(ref)
        if ingress is None or desired.weight is None:
            return []
        canary = rollout.canary
        assert canary is not None
        weights = {
            **self._weights(ingress),
            canary.stable_service: 100 - desired.weight,
            canary.canary_service: desired.weight,
        }
        if weights == self._weights(ingress):
            return []
        version = ingress["metadata"]["resourceVersion"]
        annotations = {self.annotation: json.dumps(weights)}
        return [Patch(ref, {"metadata": {"resourceVersion": version, "annotations": annotations}})]

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
        traffic=RouterTraffic(cluster, default_registry().with_routers(SkipperRouter())),
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
    ingress = await cluster.get(Ref("networking.k8s.io/v1", "Ingress", "default", "shop"))
    assert final is not None and ingress is not None
    weights = json.loads(ingress["metadata"]["annotations"][SkipperRouter.annotation])
    lines.append(f"phase {final['status']['phase']}, Skipper backend weights {weights}")
    return lines


def main(argv: list[str]) -> int:
    lines = anyio.run(release, "--failing" in argv)
    print("\n".join(lines))
    return 0 if lines[-1].startswith("phase Healthy") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
