"""End to end on the real control plane, the controller running in this process: a canary
through the SMI and NGINX routers, a failing analysis that aborts, workloadRef to an
existing Deployment, and an invalid Rollout beside valid ones."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from progressive import client
from progressive._cluster import LocalControlPlane
from progressive._shell.clusters import Ref
from progressive._shell.kube import KubeCluster
from progressive.cli._install import install_objects, manifests
from progressive.metrics import ScriptedProvider

from ._e2e import (
    GROUP,
    controller,
    create_all,
    events,
    ingress,
    phase_is,
    replica_sets,
    rollout,
    router_weight,
    running,
    services,
    state,
    until,
)

pytestmark = pytest.mark.kube


@pytest.fixture
async def kube(control_plane: LocalControlPlane) -> AsyncIterator[KubeCluster]:
    async with await KubeCluster.from_kubeconfig(control_plane.kubeconfig) as cluster:
        await install_objects(cluster, manifests(crds_only=True))
        yield cluster


@pytest.mark.parametrize("router", ["smi", "nginx"])
async def test_a_canary_runs_to_healthy_with_the_router_weights_at_each_step(
    kube: KubeCluster, namespace: str, router: str
) -> None:
    steps = [
        {"setWeight": 25},
        {"pause": {"duration": "1s"}},
        {"setWeight": 50},
        {"pause": {"duration": "2s"}},
    ]
    objects = [*services(namespace), rollout(namespace, steps=steps, router=router)]
    if router == "nginx":
        objects.insert(0, ingress(namespace))
    await create_all(kube, *objects)
    async with running(controller(kube, namespace)):
        first = await until(
            "the first revision Healthy", lambda: phase_is(kube, namespace, "Healthy")
        )
        await client.set_image(kube, namespace, "web", "app", "example.invalid/web:2")
        held: dict[int, int] = {}

        async def healthy_recording_pauses() -> Any:
            now = await state(kube, namespace)
            if now.phase == "Paused" and now.step is not None and now.step not in held:
                held[now.step] = await router_weight(kube, namespace, router)
            return await phase_is(kube, namespace, "Healthy", image="example.invalid/web:2")

        final = await until("Healthy at web:2", healthy_recording_pauses)
        assert held == {1: 25, 3: 50}
        assert final.current != first.current and final.stable == final.current
        assert await router_weight(kube, namespace, router) == 0  # all on the new stable
        stable = await kube.get(Ref("v1", "Service", namespace, "web-stable"))
        assert stable is not None and stable["spec"]["selector"]["rollouts-pod-template-hash"] == (
            final.current
        )

        async def old_scaled_down() -> bool:
            return await replica_sets(kube, namespace) == {first.current: 0, final.current: 4}

        await until("the old ReplicaSet scaled down after its delay", old_scaled_down)
    seen = await events(kube, namespace)
    for weight in (25, 50):
        assert seen[f"SetWeight: Set canary weight to {weight}"] == 1


async def test_a_failing_analysis_aborts(kube: KubeCluster, namespace: str) -> None:
    template = {
        "apiVersion": GROUP,
        "kind": "AnalysisTemplate",
        "metadata": {"name": "success-rate", "namespace": namespace},
        "spec": {
            "metrics": [
                {
                    "name": "success-rate",
                    "successCondition": "result >= 0.95",
                    "provider": {"prometheus": {"address": "http://127.0.0.1:9", "query": "q"}},
                }
            ]
        },
    }
    steps = [{"setWeight": 40}, {"analysis": {"templates": [{"templateName": "success-rate"}]}}]
    manifest = rollout(namespace, steps=steps, abortScaleDownDelaySeconds=2)
    await create_all(kube, template, *services(namespace), manifest)
    provider = ScriptedProvider({"success-rate": [0.5]})  # the canary is failing
    async with running(controller(kube, namespace, provider=provider)):
        first = await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"))
        await client.set_image(kube, namespace, "web", "app", "example.invalid/web:2")
        degraded = await until("Degraded", lambda: phase_is(kube, namespace, "Degraded"))
        at = time.monotonic()
        assert degraded.aborted and "success-rate" in degraded.message
        assert await router_weight(kube, namespace, "smi") == 0
        canary = next(h for h in await replica_sets(kube, namespace) if h != first.current)

        async def canary_scaled_down() -> bool:
            return (await replica_sets(kube, namespace))[canary] == 0

        await until("the canary scaled down", canary_scaled_down)
        assert time.monotonic() - at > 1.0, "abortScaleDownDelaySeconds (2s) was honoured"
        assert (await replica_sets(kube, namespace))[first.current] == 4
    runs = await kube.list(GROUP, "AnalysisRun", namespace)
    assert [r["status"]["phase"] for r in runs] == ["Failed"]
    assert (await state(kube, namespace)).phase == "Degraded"


def deployment(namespace: str, image: str = "example.invalid/web:1") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


@pytest.mark.parametrize(
    ("policy", "after"), [("never", 4), ("onsuccess", 0), ("progressively", 0)]
)
async def test_workload_ref_to_an_existing_deployment(
    kube: KubeCluster, namespace: str, policy: str, after: int
) -> None:
    ref = Ref("apps/v1", "Deployment", namespace, "web")
    await kube.create(deployment(namespace))

    async def deployment_available() -> bool:
        found = await kube.get(ref)
        return bool(found) and (found or {}).get("status", {}).get("availableReplicas") == 4

    await until("the Deployment available", deployment_available)
    manifest = rollout(namespace, steps=[{"setWeight": 50}, {"pause": {"duration": "1s"}}])
    spec = manifest["spec"]
    del spec["template"], spec["selector"]
    spec["workloadRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    spec["workloadRef"]["scaleDown"] = policy
    await create_all(kube, *services(namespace), manifest)
    async with running(controller(kube, namespace)):
        first = await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"))

        async def deployment_scaled() -> bool:
            found = await kube.get(ref)
            return found is not None and found["spec"]["replicas"] == after

        await until(f"the Deployment at {after} ({policy})", deployment_scaled)
        (rs,) = [
            r
            for r in await kube.list("apps/v1", "ReplicaSet", namespace)
            if "rollouts-pod-template-hash" in r["metadata"]["labels"]
        ]
        assert rs["spec"]["template"]["spec"]["containers"][0]["image"] == "example.invalid/web:1"
        # a new image in the Deployment is a new revision of the Rollout
        await client.set_image(kube, namespace, "web", "app", "example.invalid/web:2")
        final = await client.wait_for(kube, namespace, "web", timeout=30)
        assert final.current != first.current
        assert set(await replica_sets(kube, namespace)) == {first.current, final.current}
        found = await kube.get(ref)
        assert found is not None and found["spec"]["replicas"] == after


async def test_an_invalid_rollout_is_degraded_and_the_others_go_on(
    kube: KubeCluster, namespace: str
) -> None:
    bad = rollout(namespace, "bad", steps=[{"setWeight": 50}], router=None)
    bad["spec"]["minReadySeconds"] = 30
    bad["spec"]["progressDeadlineSeconds"] = 10  # must be greater than minReadySeconds
    good = rollout(namespace, "good", steps=[{"setWeight": 50}], router=None)
    await create_all(kube, *services(namespace, "bad"), *services(namespace, "good"), bad, good)
    async with running(controller(kube, namespace)):
        degraded = await until("bad Degraded", lambda: phase_is(kube, namespace, "Degraded", "bad"))
        await until("good Healthy", lambda: phase_is(kube, namespace, "Healthy", "good"))
        conditions = degraded.manifest["status"]["conditions"]
        assert any(c["type"] == "InvalidSpec" for c in conditions)
        assert "progressDeadlineSeconds" in degraded.message
        await client.set_image(kube, namespace, "good", "app", "example.invalid/good:2")
        await client.wait_for(kube, namespace, "good", timeout=30)
    warnings = await events(kube, namespace, "bad")
    assert [k for k in warnings if k.startswith("InvalidSpec")], warnings
    assert not await kube.list("apps/v1", "ReplicaSet", namespace) or all(
        "bad" not in rs["metadata"]["name"]
        for rs in await kube.list("apps/v1", "ReplicaSet", namespace)
    )
