"""workloadRef: the Rollout takes the Deployment's template and scales it down."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from progressive.core import Phase, Plan, Rollout, actions
from progressive.core._observed import WorkloadView
from progressive.core._workloads import with_workload

from .world import World

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 4,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "web:1"}]},
        },
    },
}


def rollout(scale_down: str) -> Rollout:
    manifest: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 4,
            "workloadRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "web",
                "scaleDown": scale_down,
            },
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}},
        },
    }
    return with_workload(Rollout.from_manifest(manifest), DEPLOYMENT)


class DeploymentWorld(World):
    def __init__(self, scale_down: str) -> None:
        super().__init__(rollout(scale_down))
        self.workload = WorkloadView(4, 4)

    def apply(self, plan: Plan) -> None:
        for a in plan.actions:
            if isinstance(a, actions.ScaleWorkload):
                assert (a.kind, a.name) == ("Deployment", "web")
        super().apply(plan)

    @property
    def deployment(self) -> WorkloadView:
        assert self.workload is not None
        return self.workload


def test_the_template_and_selector_come_from_the_deployment() -> None:
    r = rollout("never")
    assert r.template == DEPLOYMENT["spec"]["template"]
    assert r.selector == {"matchLabels": {"app": "web"}}
    assert r.template_hash()  # a revision like any other


@pytest.mark.parametrize(
    ("policy", "after"), [("never", 4), ("onsuccess", 0), ("progressively", 0)]
)
def test_scale_down_policies(policy: str, after: int) -> None:
    world = DeploymentWorld(policy)
    world.settle()
    assert world.rollout.status.phase == Phase.HEALTHY
    assert world.deployment.replicas == after


def test_progressively_never_drops_below_what_the_rollout_serves() -> None:
    world = DeploymentWorld("progressively")
    world.auto_ready = False
    world.apply(world.plan())  # the first revision's ReplicaSet: 4 pods, none ready yet
    assert world.deployment.replicas == 4
    name = next(iter(world.sets))
    world.sets[name] = attrs.evolve(world.sets[name], ready_replicas=1, available_replicas=1)
    world.apply(world.plan())
    assert world.deployment.replicas == 3  # 1 Rollout pod + 3 Deployment pods


def test_onsuccess_waits_for_healthy() -> None:
    world = DeploymentWorld("onsuccess")
    world.auto_ready = False
    world.apply(world.plan())
    assert world.deployment.replicas == 4
    world.make_ready()
    world.apply(world.plan())
    assert world.rollout.status.phase == Phase.HEALTHY
    assert world.deployment.replicas == 0


def test_status_carries_the_selector_for_the_scale_subresource() -> None:
    world = DeploymentWorld("never")
    world.settle()
    assert world.rollout.status.selector == "app=web"
    assert world.rollout.status.to_manifest()["selector"] == "app=web"
