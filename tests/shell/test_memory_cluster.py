from __future__ import annotations

from typing import Any

import pytest

from progressive._shell import Ref, VirtualClock
from progressive.errors import AlreadyExists, Conflict, NotFound
from progressive.memory import MemoryCluster, SimulatedCrash


def replica_set(name: str = "web-abc", replicas: int = 3, min_ready: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "minReadySeconds": min_ready,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}},
        },
    }


RS = Ref("apps/v1", "ReplicaSet", "default", "web-abc")


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def cluster(clock: VirtualClock) -> MemoryCluster:
    return MemoryCluster(clock, pod_ready_seconds=2)


async def status_of(cluster: MemoryCluster) -> dict[str, Any]:
    obj = await cluster.get(RS)
    assert obj is not None
    return dict(obj["status"])


async def test_pods_turn_ready_after_the_delay(cluster: MemoryCluster, clock: VirtualClock) -> None:
    await cluster.create(replica_set(replicas=3))
    assert (await status_of(cluster))["replicas"] == 3
    assert (await status_of(cluster))["readyReplicas"] == 0
    assert cluster.next_event_at() == clock.now() + 2
    clock.advance(1.9)
    assert (await status_of(cluster))["readyReplicas"] == 0
    clock.advance(0.1)
    status = await status_of(cluster)
    assert status["readyReplicas"] == 3
    assert status["availableReplicas"] == 3
    assert cluster.next_event_at() is None
    pods = await cluster.list("v1", "Pod", "default")
    assert len(pods) == 3
    assert all(p["status"]["conditions"][0]["status"] == "True" for p in pods)


async def test_a_due_time_asked_for_late_is_now_until_a_move_reports_it(
    cluster: MemoryCluster, clock: VirtualClock
) -> None:
    """A controller on a wall clock asks for the next wake-up late when the machine is
    loaded: the pods that turned ready meanwhile must still wake it (once)."""
    await cluster.create(replica_set(replicas=3))
    seen: list[str] = []
    cluster.subscribe(lambda change: seen.append(change.kind))
    clock.advance(5)  # past the pods' readiness, and nobody has looked
    assert cluster.next_event_at() == clock.now(), "due: look now"
    assert cluster.next_event_at() == clock.now(), "still due until something looks"
    cluster.catch_up()
    assert "ReplicaSet" in seen, "the move reported the ready pods"
    assert cluster.next_event_at() is None


async def test_min_ready_seconds_delays_availability(
    cluster: MemoryCluster, clock: VirtualClock
) -> None:
    start = clock.now()
    await cluster.create(replica_set(replicas=2, min_ready=5))
    await clock.sleep_until(cluster.next_event_at() or 0)
    assert clock.now() == start + 2
    status = await status_of(cluster)
    assert (status["readyReplicas"], status["availableReplicas"]) == (2, 0)
    assert cluster.next_event_at() == start + 7
    await clock.sleep_until(start + 7)
    assert (await status_of(cluster))["availableReplicas"] == 2


async def test_scale_down_removes_the_newest_pods_first(
    cluster: MemoryCluster, clock: VirtualClock
) -> None:
    await cluster.create(replica_set(replicas=2))
    clock.advance(5)
    first = {p["metadata"]["name"] for p in await cluster.list("v1", "Pod")}
    await cluster.patch(RS, {"spec": {"replicas": 4}})
    status = await status_of(cluster)
    assert (status["replicas"], status["readyReplicas"]) == (4, 2)
    await cluster.patch(RS, {"spec": {"replicas": 2}})
    assert {p["metadata"]["name"] for p in await cluster.list("v1", "Pod")} == first
    assert (await status_of(cluster))["readyReplicas"] == 2
    await cluster.patch(RS, {"spec": {"replicas": 0}})
    assert await cluster.list("v1", "Pod") == []


async def test_deleting_an_owner_deletes_what_it_owns(cluster: MemoryCluster) -> None:
    rs = await cluster.create(replica_set(replicas=2))
    assert len(cluster.pods_of(rs)) == 2
    await cluster.delete(RS)
    assert await cluster.get(RS) is None
    assert await cluster.list("v1", "Pod") == []
    with pytest.raises(NotFound):
        await cluster.delete(RS)


async def test_stale_resource_versions_conflict(cluster: MemoryCluster) -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {}}
    created = await cluster.create(svc)
    assert created["metadata"]["namespace"] == "default"
    ref = Ref.of(created)
    version = created["metadata"]["resourceVersion"]
    updated = await cluster.patch(ref, {"metadata": {"resourceVersion": version}, "spec": {"a": 1}})
    assert int(updated["metadata"]["resourceVersion"]) > int(version)
    assert updated["metadata"]["generation"] == 2
    with pytest.raises(Conflict):
        await cluster.patch(ref, {"metadata": {"resourceVersion": version}, "spec": {"a": 2}})
    stale = dict(created, status={"x": 1})
    with pytest.raises(Conflict):
        await cluster.replace_status(stale)
    fresh = await cluster.replace_status(dict(updated, status={"x": 1}))
    assert fresh["status"] == {"x": 1}
    assert fresh["spec"] == {"a": 1}  # only the status is replaced
    assert fresh["metadata"]["generation"] == 2  # a status write is not a new generation


async def test_create_get_list_and_copies(cluster: MemoryCluster) -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {}}
    await cluster.create(obj)
    with pytest.raises(AlreadyExists):
        await cluster.create(obj)
    event = await cluster.create(
        {"apiVersion": "v1", "kind": "Event", "metadata": {"generateName": "web."}}
    )
    assert event["metadata"]["name"].startswith("web.")
    got = await cluster.get(Ref("v1", "ConfigMap", "default", "a"))
    assert got is not None and got["metadata"]["uid"]
    got["data"]["changed"] = "yes"
    again = await cluster.get(Ref("v1", "ConfigMap", "default", "a"))
    assert again is not None and again["data"] == {}
    assert await cluster.list("v1", "ConfigMap", "other") == []
    assert len(await cluster.list("v1", "ConfigMap")) == 1
    with pytest.raises(NotFound):
        await cluster.patch(Ref("v1", "ConfigMap", "default", "b"), {"data": {}})


async def test_merge_patch_deletes_with_null(cluster: MemoryCluster) -> None:
    await cluster.create(replica_set())
    await cluster.patch(RS, {"metadata": {"annotations": {"a": "1", "b": "2"}}})
    obj = await cluster.patch(RS, {"metadata": {"annotations": {"a": None}}})
    assert obj["metadata"]["annotations"] == {"b": "2"}


async def test_crash_after_the_nth_write_stores_it_first(cluster: MemoryCluster) -> None:
    before = cluster.writes
    cluster.crash_after_actions(2)
    await cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
    with pytest.raises(SimulatedCrash):
        await cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}})
    assert await cluster.get(Ref("v1", "ConfigMap", "default", "b")) is not None
    assert cluster.writes == before + 2
    # it crashes once only
    await cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})


def test_simulated_crash_is_not_an_ordinary_exception() -> None:
    assert not issubclass(SimulatedCrash, Exception)


async def test_subscribers_hear_of_every_change(clock: VirtualClock) -> None:
    from progressive._clusters import Change

    cluster = MemoryCluster(clock, pod_ready_seconds=2)
    seen: list[Change] = []
    unsubscribe = cluster.subscribe(seen.append)
    await cluster.create(replica_set(replicas=1))
    kinds = [(c.kind, c.type) for c in seen]
    assert ("ReplicaSet", "added") in kinds and ("Pod", "added") in kinds
    seen.clear()
    clock.advance(2)
    cluster.catch_up()  # the pod became ready: reported without any read
    assert {(c.kind, c.type) for c in seen} == {("Pod", "modified"), ("ReplicaSet", "modified")}
    rs = next(c for c in seen if c.kind == "ReplicaSet")
    assert rs.obj["status"]["readyReplicas"] == 1 and rs.key == "default/web-abc"
    seen.clear()
    await cluster.delete(RS)  # cascades to the pod
    assert {(c.kind, c.type) for c in seen} == {("ReplicaSet", "deleted"), ("Pod", "deleted")}
    unsubscribe()
    unsubscribe()  # twice is harmless
    await cluster.create(replica_set(replicas=0))
    assert len(seen) == 2


async def test_a_value_that_contains_itself_is_refused_with_the_field_that_does(
    cluster: MemoryCluster,
) -> None:
    looped = replica_set()
    looped["spec"]["template"]["spec"]["self"] = looped["spec"]["template"]
    refused = r"create ReplicaSet default/web-abc: spec\.template\.spec\.self: refers to a value "
    with pytest.raises(ValueError, match=refused):
        await cluster.create(looped)
    assert await cluster.list("apps/v1", "ReplicaSet", "default") == []

    await cluster.create(replica_set())
    items: list[Any] = []
    items.append(items)
    with pytest.raises(ValueError, match=r"patch .*: spec\.items\[0\]: refers to a value"):
        await cluster.patch(RS, {"spec": {"items": items}})
    status: dict[str, Any] = {"replicas": 1}
    status["conditions"] = [status]
    with pytest.raises(ValueError, match=r"status of .*: conditions\[0\]: refers to a value"):
        await cluster.replace_status({**replica_set(), "status": status})
    stored = await cluster.get(RS)
    assert stored is not None and "items" not in stored["spec"]
    assert stored["status"]["replicas"] == 3  # the simulator's, not the refused one
