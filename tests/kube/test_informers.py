"""Informers against the real API server: the cache follows creates, updates and
deletes; a watch that ends resumes from its resourceVersion without listing again; a
resourceVersion the server forgot (410 Gone) makes it list again; ReplicaSets are cached
without their pod template."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import anyio
import httpx
import pytest

from progressive._cluster import LocalControlPlane
from progressive._clusters import Ref
from progressive._shell.informers import CachedCluster, Change, Informer, Informers
from progressive._shell.kube import KubeCluster, ListResult

pytestmark = pytest.mark.kube


@pytest.fixture
async def kube(control_plane: LocalControlPlane) -> AsyncIterator[KubeCluster]:
    async with await KubeCluster.from_kubeconfig(control_plane.kubeconfig) as cluster:
        yield cluster


def config_map(namespace: str, name: str, value: str = "1") -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"v": value},
    }


async def until(what: str, check: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll ``check`` every 20 ms, for at most ``seconds``."""
    for _ in range(int(seconds / 0.02)):
        if check():
            return
        await anyio.sleep(0.02)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


async def test_the_cache_follows_creates_updates_and_deletes(
    kube: KubeCluster, namespace: str
) -> None:
    await kube.create(config_map(namespace, "before"))
    informer = Informer(kube, "v1", "ConfigMap", namespace=namespace)
    changes: list[Change] = []
    informer.subscribe(changes.append)
    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        with anyio.fail_after(10):
            await informer.wait_synced()
        assert informer.get(namespace, "before") is not None
        ref = Ref("v1", "ConfigMap", namespace, "cm")
        await kube.create(config_map(namespace, "cm"))
        await until("added", lambda: informer.get(namespace, "cm") is not None)
        await kube.patch(ref, {"data": {"v": "2"}})
        await until(
            "modified", lambda: (informer.get(namespace, "cm") or {}).get("data") == {"v": "2"}
        )
        await kube.delete(ref)
        await until("deleted", lambda: informer.get(namespace, "cm") is None)
        tg.cancel_scope.cancel()
    seen = [(c.type, c.name) for c in changes if c.name == "cm"]
    assert seen == [("added", "cm"), ("modified", "cm"), ("deleted", "cm")]
    assert ("added", "before") in [(c.type, c.name) for c in changes]
    assert changes[-1].key == f"{namespace}/cm"
    assert informer.lists == 1


async def test_a_watch_that_ends_resumes_from_its_resource_version(
    kube: KubeCluster, namespace: str
) -> None:
    informer = Informer(kube, "v1", "ConfigMap", namespace=namespace, watch_timeout=1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        with anyio.fail_after(10):
            await informer.wait_synced()
        for i in range(3):
            await kube.create(config_map(namespace, f"cm-{i}"))
            await anyio.sleep(0.7)  # the server ends each watch after a second
        await until("every object", lambda: len(informer.list(namespace)) >= 4)
        tg.cancel_scope.cancel()
    names = {o["metadata"]["name"] for o in informer.list(namespace)}
    assert {"cm-0", "cm-1", "cm-2"} <= names
    assert informer.watches >= 2, "the watch was resumed"
    assert informer.lists == 1, "... without listing again"
    assert informer.expired == 0


def event(namespace: str, name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {"kind": "ConfigMap", "name": "x", "namespace": namespace},
        "reason": "Test",
        "message": name,
        "type": "Normal",
    }


async def compact_etcd(control_plane: LocalControlPlane) -> None:
    """Make etcd forget its history up to now, as kube-apiserver does every 5 minutes."""
    state = control_plane.state
    assert state is not None
    base = f"http://127.0.0.1:{state.ports['etcd']}/v3/kv"
    async with httpx.AsyncClient(timeout=10) as http:
        current = (await http.post(f"{base}/range", json={"key": "AA=="})).json()
        revision = current["header"]["revision"]
        compacted = await http.post(f"{base}/compaction", json={"revision": revision})
        compacted.raise_for_status()


async def test_a_forgotten_resource_version_lists_again(
    kube: KubeCluster, namespace: str, control_plane: LocalControlPlane
) -> None:
    # Events skip the API server's watch cache: a watch from a compacted
    # resourceVersion goes to etcd, which has forgotten it: 410 Gone.
    await kube.create(event(namespace, "existing"))
    await compact_etcd(control_plane)
    stale = ListResult([event(namespace, "vanished")], "1")
    informer = Informer(kube, "v1", "Event", namespace=namespace, seed=stale)
    changes: list[Change] = []
    informer.subscribe(changes.append)
    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        await until("a list after 410 Gone", lambda: informer.lists == 1 and informer.synced)
        tg.cancel_scope.cancel()
    assert informer.expired == 1, "the watch from resourceVersion 1 got 410 Gone"
    assert informer.get(namespace, "existing") is not None
    assert informer.get(namespace, "vanished") is None
    kinds = {(c.type, c.name) for c in changes}
    assert ("deleted", "vanished") in kinds, "what disappeared meanwhile is reported"
    assert ("added", "existing") in kinds


async def test_replica_sets_are_cached_trimmed(kube: KubeCluster, namespace: str) -> None:
    await kube.create(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": "web",
                "namespace": namespace,
                "labels": {"rollouts-pod-template-hash": "abc"},
                "annotations": {"rollout.argoproj.io/revision": "1"},
            },
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "example.invalid/web:1"}]},
                },
            },
        }
    )
    informers = Informers(kube, namespace=namespace)
    replica_sets = informers.informer("apps/v1", "ReplicaSet")
    cached = CachedCluster(kube, informers)
    async with anyio.create_task_group() as tg:
        tg.start_soon(informers.run)
        with anyio.fail_after(10):
            await informers.wait_synced()
        rs = await cached.get(Ref("apps/v1", "ReplicaSet", namespace, "web"))
        listed = await cached.list("apps/v1", "ReplicaSet", namespace)
        # a kind without an informer is read from the server
        assert await cached.list("v1", "ConfigMap", namespace) is not None
        tg.cancel_scope.cancel()
    assert rs is not None and listed == [rs]
    assert "template" not in rs["spec"] and rs["spec"]["replicas"] == 0
    assert rs["metadata"]["labels"] == {"rollouts-pod-template-hash": "abc"}
    assert rs["metadata"]["annotations"] == {"rollout.argoproj.io/revision": "1"}
    assert "managedFields" not in rs["metadata"]
    assert rs["kind"] == "ReplicaSet" and replica_sets.synced
