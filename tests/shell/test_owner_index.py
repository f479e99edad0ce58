"""The owner indexes behind ``list_owned`` (MemoryCluster, Informer, the controller's
view) agree with a plain filtered list after any sequence of writes, and the memory
cluster's incremental pod simulator keeps every ReplicaSet in step with its pods."""

from __future__ import annotations

from typing import Any

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

from progressive._clusters import Cluster, list_owned, owned_by
from progressive._shell import Ref, VirtualClock
from progressive._shell.informers import Informer
from progressive.memory import MemoryCluster

from .test_memory_cluster import replica_set

OWNERS = ("a", "b", "c")
NAMESPACES = ("ns1", "ns2")


def owner(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"owner-{name}", "namespace": namespace},
    }


def dependant(name: str, namespace: str, uids: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": u} for u in uids
            ],
        },
    }


# an operation: (verb, dependant index, namespace index, owner indexes)
operations = st.lists(
    st.tuples(
        st.sampled_from(["create", "reown", "delete", "delete-owner", "recreate-owner"]),
        st.integers(0, 4),
        st.integers(0, 1),
        st.lists(st.integers(0, 2), max_size=2),
    ),
    max_size=30,
)


async def brute_force(cluster: Cluster, namespace: str, uid: str) -> list[str]:
    return [
        o["metadata"]["name"]
        for o in await cluster.list("v1", "Secret", namespace)
        if owned_by(o, uid)
    ]


@settings(max_examples=60, deadline=None)
@given(ops=operations)
def test_memory_cluster_list_owned_matches_a_filtered_list(
    ops: list[tuple[str, int, int, list[int]]],
) -> None:
    async def scenario() -> None:
        cluster = MemoryCluster(VirtualClock())
        uids: dict[tuple[str, str], str] = {}
        for ns in NAMESPACES:
            for name in OWNERS:
                created = await cluster.create(owner(name, ns))
                uids[name, ns] = created["metadata"]["uid"]
        seen_uids = set(uids.values())
        for verb, index, ns_index, owner_indexes in ops:
            ns = NAMESPACES[ns_index]
            name = f"dep-{index}"
            ref = Ref("v1", "Secret", ns, name)
            chosen = [uids[OWNERS[i], ns] for i in owner_indexes if (OWNERS[i], ns) in uids]
            present = await cluster.get(ref) is not None
            if verb == "create" and not present:
                await cluster.create(dependant(name, ns, chosen))
            elif verb == "reown" and present:
                refs = dependant(name, ns, chosen)["metadata"]["ownerReferences"]
                await cluster.patch(ref, {"metadata": {"ownerReferences": refs}})
            elif verb == "delete" and present:
                await cluster.delete(ref)
            elif verb == "delete-owner" and owner_indexes:
                key = (OWNERS[owner_indexes[0]], ns)
                if key in uids:
                    await cluster.delete(Ref("v1", "ConfigMap", ns, f"owner-{key[0]}"))
                    del uids[key]
            elif verb == "recreate-owner" and owner_indexes:
                key = (OWNERS[owner_indexes[0]], ns)
                if key not in uids:
                    uids[key] = (await cluster.create(owner(key[0], ns)))["metadata"]["uid"]
                    seen_uids.add(uids[key])
            for uid in seen_uids:
                for namespace in NAMESPACES:
                    indexed = await cluster.list_owned("v1", "Secret", namespace, uid)
                    names = [o["metadata"]["name"] for o in indexed]
                    assert names == await brute_force(cluster, namespace, uid)
                    if uid not in uids.values():  # a deleted owner: the cascade ran
                        assert names == []

    anyio.run(scenario)


@settings(max_examples=60, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["upsert", "remove", "replace", "write", "forget"]),
            st.integers(0, 4),
            st.lists(st.sampled_from(["u1", "u2", "u3"]), max_size=2),
        ),
        max_size=30,
    )
)
def test_informer_list_owned_matches_a_filtered_list(
    ops: list[tuple[str, int, list[str]]],
) -> None:
    informer = Informer(source=None, api_version="v1", kind="Secret")  # type: ignore[arg-type]
    informer._mark_synced()
    rv = 0
    for verb, index, uids in ops:
        rv += 1
        obj = dependant(f"dep-{index}", "ns1", uids)
        obj["metadata"]["resourceVersion"] = str(rv)
        if verb == "upsert":
            informer._upsert(obj)
        elif verb == "remove":
            informer._remove(obj)
        elif verb == "replace":  # a relist that finds only this object
            informer._replace([obj])
        elif verb == "write":
            informer.record_write(obj)
        else:
            informer.record_delete("ns1", obj["metadata"]["name"])
        for uid in ("u1", "u2", "u3"):
            expected = [o for o in informer.list("ns1") if owned_by(o, uid)]
            assert informer.list_owned("ns1", uid) == expected
            assert informer.list_owned("ns2", uid) == []


async def test_list_owned_falls_back_to_a_filtered_list() -> None:
    class Plain:
        """A cluster without an owner index (only ``list``)."""

        def __init__(self, inner: MemoryCluster) -> None:
            self.inner = inner

        async def list(
            self, api_version: str, kind: str, namespace: str | None = None
        ) -> list[dict[str, Any]]:
            return await self.inner.list(api_version, kind, namespace)

    cluster = MemoryCluster(VirtualClock())
    uid = (await cluster.create(owner("a", "ns1")))["metadata"]["uid"]
    await cluster.create(dependant("mine", "ns1", [uid]))
    await cluster.create(dependant("other", "ns1", ["someone-else"]))
    found = await list_owned(Plain(cluster), "v1", "Secret", "ns1", uid)  # type: ignore[arg-type]
    assert [o["metadata"]["name"] for o in found] == ["mine"]


@settings(max_examples=40, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["scale", "delete-pod", "advance", "delete-rs", "create-rs"]),
            st.integers(0, 2),
            st.integers(0, 4),
            st.floats(0.0, 3.0),
        ),
        max_size=25,
    )
)
def test_the_incremental_simulator_keeps_replica_sets_in_step(
    ops: list[tuple[str, int, int, float]],
) -> None:
    """After any writes and any passing of time, every ReplicaSet has ``spec.replicas``
    pods, its status counts them as the pods' readiness says, and ``next_event_at`` is
    the next pod still to turn ready."""

    async def scenario() -> None:
        clock = VirtualClock()
        cluster = MemoryCluster(clock, pod_ready_seconds=2.0)
        names = [f"rs-{i}" for i in range(3)]
        for name in names[:2]:
            await cluster.create(replica_set(name, replicas=2))
        for verb, which, count, seconds in ops:
            ref = Ref("apps/v1", "ReplicaSet", "default", names[which])
            rs = await cluster.get(ref)
            if verb == "scale" and rs is not None:
                await cluster.patch(ref, {"spec": {"replicas": count}})
            elif verb == "delete-pod" and rs is not None:
                pods = cluster.pods_of(rs)
                if pods:
                    await cluster.delete(Ref.of(pods[count % len(pods)]))
            elif verb == "advance":
                clock.advance(seconds)
            elif verb == "delete-rs" and rs is not None:
                await cluster.delete(ref)
            elif verb == "create-rs" and rs is None:
                await cluster.create(replica_set(names[which], replicas=count))
            now = clock.now()
            pending: list[float] = []
            for rs in await cluster.list("apps/v1", "ReplicaSet", "default"):
                pods = cluster.pods_of(rs)
                assert len(pods) == rs["spec"]["replicas"]
                ready = [p for p in pods if p["status"]["phase"] == "Running"]
                assert rs["status"]["replicas"] == len(pods)
                assert rs["status"]["readyReplicas"] == len(ready)
                assert rs["status"]["availableReplicas"] == len(ready)
                for pod in pods:
                    created = pod["metadata"]["creationTimestamp"]
                    assert created  # every pod is one the simulator made
                    if pod["status"]["phase"] != "Running":
                        pending.append(now)  # not ready yet: a timer must be armed
            if pending:
                due = cluster.next_event_at()
                # (times are stored as RFC 3339 strings: to the microsecond)
                assert due is not None and now < due <= now + 2.0 + 1e-6

    anyio.run(scenario)
