"""KubeCluster against the real API server: the Cluster protocol for built-in kinds,
merge patches with resourceVersion preconditions, errors with the server's status and
message, discovery of unknown kinds, and request counting."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from progressive._cluster import LocalControlPlane
from progressive._clusters import Ref
from progressive._shell.kube import KubeCluster
from progressive.errors import AlreadyExists, ApiConflict, Conflict, Invalid, NotFound, UnknownKind

pytestmark = pytest.mark.kube


@pytest.fixture
async def kube(control_plane: LocalControlPlane) -> AsyncIterator[KubeCluster]:
    async with await KubeCluster.from_kubeconfig(control_plane.kubeconfig) as cluster:
        yield cluster


def config_map(namespace: str, name: str, **data: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "t"}},
        "data": dict(data),
    }


async def test_create_get_list_patch_delete_a_config_map(kube: KubeCluster, namespace: str) -> None:
    created = await kube.create(config_map(namespace, "b", a="1", b="2"))
    assert created["kind"] == "ConfigMap" and created["apiVersion"] == "v1"
    assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
    await kube.create(config_map(namespace, "a"))
    ref = Ref("v1", "ConfigMap", namespace, "b")

    got = await kube.get(ref)
    assert got is not None and got["data"] == {"a": "1", "b": "2"}
    listed = await kube.list("v1", "ConfigMap", namespace)
    names = [o["metadata"]["name"] for o in listed if o["metadata"]["name"] in ("a", "b")]
    assert names == ["a", "b"], "ordered by name"
    assert all(o["kind"] == "ConfigMap" and o["apiVersion"] == "v1" for o in listed)

    patched = await kube.patch(ref, {"data": {"a": "10", "b": None, "c": "3"}})
    assert patched["data"] == {"a": "10", "c": "3"}, "a merge patch: null deletes"

    await kube.delete(ref)
    assert await kube.get(ref) is None
    with pytest.raises(NotFound) as missing:
        await kube.delete(ref)
    assert missing.value.status == 404  # type: ignore[attr-defined]
    with pytest.raises(NotFound):
        await kube.patch(ref, {"data": {"x": "1"}})


async def test_a_stale_resource_version_is_a_conflict_with_the_servers_message(
    kube: KubeCluster, namespace: str
) -> None:
    created = await kube.create(config_map(namespace, "cm", v="1"))
    ref = Ref.of(created)
    stale = created["metadata"]["resourceVersion"]
    fresh = await kube.patch(ref, {"metadata": {"resourceVersion": stale}, "data": {"v": "2"}})
    assert fresh["data"]["v"] == "2", "the current resourceVersion passes"
    with pytest.raises(Conflict) as conflict:
        await kube.patch(ref, {"metadata": {"resourceVersion": stale}, "data": {"v": "3"}})
    error = conflict.value
    assert isinstance(error, ApiConflict)
    assert error.status == 409 and error.reason == "Conflict"
    assert "the object has been modified" in error.message
    assert (await kube.get(ref) or {})["data"]["v"] == "2"


async def test_create_twice_is_already_exists_and_generate_name_works(
    kube: KubeCluster, namespace: str
) -> None:
    await kube.create(config_map(namespace, "same"))
    with pytest.raises(AlreadyExists) as exists:
        await kube.create(config_map(namespace, "same"))
    assert exists.value.status == 409  # type: ignore[attr-defined]
    generated = await kube.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"generateName": "gen-", "namespace": namespace},
        }
    )
    assert generated["metadata"]["name"].startswith("gen-")


async def test_an_invalid_object_is_refused_with_the_servers_reason(
    kube: KubeCluster, namespace: str
) -> None:
    with pytest.raises(Invalid) as invalid:
        await kube.create(config_map(namespace, "Not_A_Valid_Name"))
    assert invalid.value.status == 422
    assert "Not_A_Valid_Name" in invalid.value.message


async def test_a_value_that_contains_itself_is_refused_before_it_is_sent(
    kube: KubeCluster, namespace: str
) -> None:
    looped = config_map(namespace, "looped")
    looped["data"] = {"loop": looped}
    refused = r"create ConfigMap .*/looped: data\.loop: refers to a value"
    with pytest.raises(ValueError, match=refused):
        await kube.create(looped)
    assert await kube.get(Ref("v1", "ConfigMap", namespace, "looped")) is None


async def test_kinds_the_server_does_not_serve(kube: KubeCluster, namespace: str) -> None:
    ref = Ref("nothing.example.com/v1", "Widget", namespace, "w")
    assert await kube.get(ref) is None
    assert await kube.list("nothing.example.com/v1", "Widget", namespace) == []
    with pytest.raises(UnknownKind):
        await kube.patch(ref, {"spec": {}})
    fetches = kube.discovery.fetches
    assert await kube.list("nothing.example.com/v1", "Widget") == []
    assert kube.discovery.fetches == fetches, "a missing group version is cached for a while"


async def test_cluster_scoped_kinds_and_all_namespaces(kube: KubeCluster, namespace: str) -> None:
    ns = await kube.get(Ref("v1", "Namespace", "", namespace))
    assert ns is not None and ns["metadata"]["name"] == namespace
    await kube.create(config_map(namespace, "everywhere"))
    everywhere = await kube.list("v1", "ConfigMap")
    assert any(
        o["metadata"]["namespace"] == namespace and o["metadata"]["name"] == "everywhere"
        for o in everywhere
    )


async def test_a_replica_set_is_patched_and_its_status_read(
    kube: KubeCluster, namespace: str
) -> None:
    rs = await kube.create(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "web", "namespace": namespace},
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
    scaled = await kube.patch(Ref.of(rs), {"spec": {"replicas": 2}})
    assert scaled["spec"]["replicas"] == 2
    scale = await kube.get(Ref.of(rs), subresource="scale")
    assert scale is not None and scale["spec"]["replicas"] == 2


async def test_requests_are_counted_by_verb_and_code(
    control_plane: LocalControlPlane, namespace: str
) -> None:
    seen: list[tuple[str, str]] = []
    async with await KubeCluster.from_kubeconfig(
        control_plane.kubeconfig, on_request=lambda verb, code: seen.append((verb, code))
    ) as kube:
        await kube.create(config_map(namespace, "counted"))
        await kube.get(Ref("v1", "ConfigMap", namespace, "counted"))
        await kube.get(Ref("v1", "ConfigMap", namespace, "missing"))
        await kube.list("v1", "ConfigMap", namespace)
        requests = dict(kube.requests)
    assert requests[("create", "201")] == 1
    assert requests[("get", "404")] == 1
    assert requests[("list", "200")] == 1
    assert requests[("get", "200")] >= 2, "discovery and the get"
    assert sorted(seen) == sorted(k for k, n in requests.items() for _ in range(n))
