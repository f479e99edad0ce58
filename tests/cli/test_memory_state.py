"""``MemoryCluster.dump()`` / ``MemoryCluster.load()``: what ``--memory`` keeps between
invocations."""

from __future__ import annotations

import json
from typing import Any

import pytest

from progressive._clusters import Ref
from progressive._shell.clocks import VirtualClock
from progressive.memory import MemoryCluster


def replica_set(name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": name}}}},
    }


async def test_a_dump_through_json_loads_back_the_same_cluster() -> None:
    clock = VirtualClock()
    cluster = MemoryCluster(clock, pod_ready_seconds=5.0, job_seconds=7.0)
    await cluster.create(replica_set("web", 2))
    await cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    clock.advance(3.0)
    data = json.loads(json.dumps(cluster.dump()))

    loaded = MemoryCluster.load(data)
    assert loaded.clock.now() == clock.now()
    assert (loaded.pod_ready_seconds, loaded.job_seconds) == (5.0, 7.0)
    for api_version, kind in (("apps/v1", "ReplicaSet"), ("v1", "Pod"), ("v1", "Namespace")):
        assert loaded.objects(api_version, kind) == cluster.objects(api_version, kind)
    assert await loaded.get(Ref("v1", "Namespace", "", "shop")) is not None


async def test_a_loaded_cluster_goes_on_where_it_stopped() -> None:
    cluster = MemoryCluster(VirtualClock())
    first = await cluster.create(replica_set("web", 1))
    loaded = MemoryCluster.load(cluster.dump())
    (pod,) = loaded.pods_of(first)
    assert pod["status"]["phase"] == "Pending"
    # pods become ready when they were due to, on the loaded cluster's clock
    assert loaded.next_event_at() == cluster.clock.now() + 2.0
    assert isinstance(loaded.clock, VirtualClock)
    loaded.clock.advance(2.0)
    ready = await loaded.get(Ref.of(first))
    assert ready is not None and ready["status"]["readyReplicas"] == 1
    # resourceVersions, uids and generated names keep counting up: nothing collides
    second = await loaded.create(replica_set("api", 0))
    assert int(second["metadata"]["resourceVersion"]) > int(ready["metadata"]["resourceVersion"])
    uids = {o["metadata"]["uid"] for o in loaded.objects("apps/v1", "ReplicaSet")}
    uids |= {o["metadata"]["uid"] for o in loaded.objects("v1", "Pod")}
    assert len(uids) == 3


async def test_load_takes_a_clock() -> None:
    cluster = MemoryCluster(VirtualClock())
    await cluster.create(replica_set("web", 0))
    clock = VirtualClock(5.0)
    assert MemoryCluster.load(cluster.dump(), clock).clock is clock


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {},
        {"version": 99},
        {"version": 1, "now": "soon"},
        {"version": 1, "now": 1.0, "podReadySeconds": 2, "jobSeconds": 5},
        {
            "version": 1,
            "now": 1.0,
            "podReadySeconds": 2,
            "jobSeconds": 5,
            "resourceVersion": 1,
            "serial": 1,
            "objects": {"not": "a list"},
        },
        {
            "version": 1,
            "now": 1.0,
            "podReadySeconds": 2,
            "jobSeconds": 5,
            "resourceVersion": 1,
            "serial": 1,
            "objects": ["not an object"],
        },
    ],
)
def test_load_refuses_what_is_not_a_dump(data: Any) -> None:
    with pytest.raises(ValueError, match="not a MemoryCluster dump"):
        MemoryCluster.load(data)
