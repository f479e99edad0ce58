"""deploy/rbac.yaml on the real API server: with the controller's ServiceAccount token a
KubeCluster can do what the controller needs (the controller itself reconciles a
Rollout with it) and is forbidden what it must not do."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from progressive import _deploy
from progressive._cluster import LocalControlPlane
from progressive._clusters import Ref
from progressive._shell.clocks import WallClock
from progressive._shell.controller import Controller
from progressive._shell.kube import KubeCluster
from progressive.cli._install import install_objects, manifests
from progressive.errors import Forbidden

pytestmark = pytest.mark.kube

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "canary-basic" / "rollout.yaml"


@pytest.fixture
async def admin(control_plane: LocalControlPlane) -> AsyncIterator[KubeCluster]:
    async with await KubeCluster.from_kubeconfig(control_plane.kubeconfig) as cluster:
        docs = [d for d in manifests() if d["kind"] not in ("Deployment", "Service")]
        await install_objects(cluster, docs)
        yield cluster


@pytest.fixture
async def controller_sa(
    admin: KubeCluster, control_plane: LocalControlPlane
) -> AsyncIterator[KubeCluster]:
    """A KubeCluster authenticated as the controller's ServiceAccount."""
    ns, sa = _deploy.NAMESPACE, _deploy.SERVICE_ACCOUNT
    request = await admin.request(
        "create",
        "POST",
        f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token",
        body={
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        },
    )
    admin_config = yaml.safe_load(control_plane.kubeconfig.read_text())
    server = admin_config["clusters"][0]["cluster"]["server"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}
        ],
        "users": [{"name": "sa", "user": {"token": request["status"]["token"]}}],
        "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa"}}],
        "current-context": "sa",
    }
    async with await KubeCluster.from_kubeconfig_dict(config) as cluster:
        # the authorizer learns of new bindings from a watch: wait for it
        for _ in range(100):
            try:
                await cluster.list("progressive.dev/v1alpha1", "Rollout")
                break
            except Forbidden:
                await anyio.sleep(0.1)
        yield cluster


async def forbidden(what: Callable[[], Awaitable[Any]]) -> str:
    with pytest.raises(Forbidden) as refused:
        await what()
    assert refused.value.status == 403
    return refused.value.message


def example(namespace: str) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(EXAMPLE.read_text()) if d]
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
        if doc["apiVersion"] == "argoproj.io/v1alpha1":
            doc["apiVersion"] = "progressive.dev/v1alpha1"
    return docs


async def test_what_the_controller_may_and_may_not_do(
    admin: KubeCluster, controller_sa: KubeCluster, namespace: str
) -> None:
    sa = controller_sa
    for doc in example(namespace):
        await admin.create(doc)
    await admin.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "prom", "namespace": namespace},
            "stringData": {"token": "t"},
        }
    )
    rollout_ref = Ref("progressive.dev/v1alpha1", "Rollout", namespace, "rollouts-demo")
    service_ref = Ref("v1", "Service", namespace, "rollouts-demo")

    # allowed
    assert [
        r["metadata"]["name"]
        for r in await sa.list("progressive.dev/v1alpha1", "Rollout", namespace)
    ] == ["rollouts-demo"]
    rollout = await sa.get(rollout_ref)
    assert rollout is not None
    await sa.replace_status({**rollout, "status": {"phase": "Progressing"}})
    await sa.patch(service_ref, {"spec": {"selector": {"rollouts-pod-template-hash": "abc"}}})
    await sa.create(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "rs", "namespace": namespace},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "example.invalid/c:1"}]},
                },
            },
        }
    )
    await sa.delete(Ref("apps/v1", "ReplicaSet", namespace, "rs"))
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": f"test-{namespace}", "namespace": _deploy.NAMESPACE},
        "spec": {"holderIdentity": "me"},
    }
    created_lease = await sa.create(lease)
    await sa.patch(Ref.of(created_lease), {"spec": {"holderIdentity": "you"}})
    await admin.delete(Ref.of(created_lease))

    # forbidden
    message = await forbidden(lambda: sa.delete(service_ref))
    assert 'cannot delete resource "services"' in message
    await forbidden(lambda: sa.list("v1", "Secret", namespace))
    await forbidden(lambda: sa.get(Ref("v1", "Secret", namespace, "prom")))  # not by default
    await forbidden(lambda: sa.list("v1", "Pod", namespace))  # only with --restarts
    await forbidden(lambda: sa.patch(rollout_ref, {"spec": {"replicas": 9}}))
    await forbidden(lambda: sa.delete(rollout_ref))
    await forbidden(
        lambda: sa.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "x", "namespace": namespace},
            }
        )
    )
    await forbidden(
        lambda: sa.create(
            {**copy.deepcopy(lease), "metadata": {"name": "l", "namespace": namespace}}
        )
    )
    await forbidden(lambda: sa.list("rbac.authorization.k8s.io/v1", "ClusterRole"))


async def test_the_controller_reconciles_with_the_service_account(
    admin: KubeCluster, controller_sa: KubeCluster, namespace: str
) -> None:
    for doc in example(namespace):
        await admin.create(doc)
    controller = Controller(controller_sa, clock=WallClock(), namespace=namespace)
    with anyio.fail_after(30):
        for _ in range(5):
            result = await controller.reconcile_all()
            assert result.errors == (), [str(e.error) for e in result.errors]
            if not result.writes:
                break
    rollout = await admin.get(
        Ref("progressive.dev/v1alpha1", "Rollout", namespace, "rollouts-demo")
    )
    assert rollout is not None and rollout["status"]["phase"]
    replica_sets = await admin.list("apps/v1", "ReplicaSet", namespace)
    assert len(replica_sets) == 1
    assert replica_sets[0]["metadata"]["ownerReferences"][0]["uid"] == rollout["metadata"]["uid"]
    events = await admin.list("v1", "Event", namespace)
    assert any(e["involvedObject"]["kind"] == "Rollout" for e in events)
