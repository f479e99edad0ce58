"""End to end on the real control plane: states that used to look like "waiting for
canary pods" for ever now explain themselves, with a Warning Event, and clear on their
own when the cause goes away."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from progressive._cluster import LocalControlPlane
from progressive._shell.kube import KubeCluster
from progressive.cli._install import install_objects, manifests

from ._e2e import controller, create_all, rollout, running, services, state, until

pytestmark = pytest.mark.kube


@pytest.fixture
async def kube(control_plane: LocalControlPlane) -> AsyncIterator[KubeCluster]:
    async with await KubeCluster.from_kubeconfig(control_plane.kubeconfig) as cluster:
        await install_objects(cluster, manifests(crds_only=True))
        yield cluster


async def invalid_spec(kube: KubeCluster, namespace: str) -> str | None:
    """The InvalidSpec condition's message, once the Rollout has one."""
    now = await state(kube, namespace)
    for condition in now.manifest.get("status", {}).get("conditions") or ():
        if condition.get("type") == "InvalidSpec" and condition.get("status") == "True":
            return str(condition.get("message"))
    return None


async def warnings(kube: KubeCluster, namespace: str) -> dict[str, int]:
    """``reason: message`` -> count, of the Warning Events about the Rollout web."""
    return {
        f"{e['reason']}: {e['message']}": int(e.get("count") or 1)
        for e in await kube.list("v1", "Event", namespace)
        if e.get("type") == "Warning"
        and (e.get("involvedObject") or {}).get("kind") == "Rollout"
        and (e.get("involvedObject") or {}).get("name") == "web"
    }


def routed(namespace: str, routing: dict[str, Any]) -> dict[str, Any]:
    obj = rollout(namespace, steps=[{"setWeight": 50}, {"pause": {}}], router=None)
    obj["spec"]["strategy"]["canary"]["trafficRouting"] = routing
    return obj


async def test_a_router_the_controller_does_not_implement_is_an_invalid_spec(
    kube: KubeCluster, namespace: str
) -> None:
    await create_all(kube, *services(namespace), routed(namespace, {"alb": {"ingress": "web"}}))
    message = (
        "spec.strategy.canary.trafficRouting.alb: the alb router is not implemented "
        "(this controller implements nginx, istio, smi, gatewayAPI)"
    )
    async with running(controller(kube, namespace)):
        assert await until("InvalidSpec", lambda: invalid_spec(kube, namespace)) == message
        seen = await until("the Warning Event", lambda: warnings(kube, namespace))
    assert seen == {f"InvalidSpec: {message}": 1}
    now = await state(kube, namespace)
    assert (now.phase, now.message) == ("Degraded", f"InvalidSpec: {message}")
    assert await kube.list("apps/v1", "ReplicaSet", namespace) == []
