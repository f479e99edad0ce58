"""Informers on a scripted list+watch source: bookmarks, reconnect backoff, 410 relists,
trimming, resyncs and the change stream (the real-server side is in tests/kube)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import anyio
import pytest

from progressive._clusters import Ref
from progressive._shell.informers import (
    CachedCluster,
    Change,
    Informer,
    Informers,
    trim_default,
    trim_pod,
    trim_replica_set,
)
from progressive._shell.kube import ListResult
from progressive._shell.traffic import RouterTraffic
from progressive.errors import ApiForbidden, Unavailable
from progressive.memory import MemoryCluster
from progressive.routers import ObjectRef


def cm(name: str, rv: str, value: str = "1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv},
        "data": {"v": value},
    }


class Script:
    """A ListWatch whose lists and watches follow a script; once the script is over,
    watches block (like an idle server) until cancelled."""

    def __init__(self, lists: list[ListResult], watches: list[list[Any]]) -> None:
        self.lists = lists
        self.watches = watches
        self.watched_from: list[str] = []
        self.done = anyio.Event()

    async def list_with_version(
        self, api_version: str, kind: str, namespace: Any = None, **_: Any
    ) -> ListResult:
        return self.lists.pop(0)

    async def watch(
        self,
        api_version: str,
        kind: str,
        namespace: Any = None,
        *,
        resource_version: str = "",
        **_: Any,
    ) -> AsyncGenerator[dict[str, Any], None]:
        self.watched_from.append(resource_version)
        if not self.watches:
            self.done.set()
            await anyio.sleep_forever()
        for event in self.watches.pop(0):
            if isinstance(event, BaseException):
                raise event
            yield event


async def run_until_done(informer: Informer, script: Script) -> None:
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(informer.run)
            await script.done.wait()
            tg.cancel_scope.cancel()


async def no_sleep(seconds: float) -> None:
    await anyio.lowlevel.checkpoint()


async def test_bookmarks_move_the_resource_version_and_watches_resume_from_it() -> None:
    script = Script(
        [ListResult([cm("a", "10")], "10")],
        [
            [
                {"type": "ADDED", "object": cm("b", "11")},
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "15"}}},
            ],
            [{"type": "MODIFIED", "object": cm("a", "16", "2")}],
        ],
    )
    informer = Informer(script, "v1", "ConfigMap", sleep=no_sleep)
    changes: list[Change] = []
    informer.subscribe(changes.append)
    await run_until_done(informer, script)
    assert script.watched_from == ["10", "15", "16"]
    assert informer.lists == 1
    assert [(c.type, c.name) for c in changes] == [
        ("added", "a"),
        ("added", "b"),
        ("modified", "a"),
    ]
    assert (informer.get("ns", "a") or {})["data"] == {"v": "2"}


async def test_a_410_error_event_lists_again_and_reports_the_difference() -> None:
    gone = {
        "type": "ERROR",
        "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"},
    }
    script = Script(
        [
            ListResult([cm("a", "10"), cm("b", "10")], "10"),
            ListResult([cm("a", "30", "2"), cm("c", "31")], "31"),
        ],
        [[gone]],
    )
    informer = Informer(script, "v1", "ConfigMap", sleep=no_sleep)
    changes: list[Change] = []
    informer.subscribe(changes.append)
    await run_until_done(informer, script)
    assert informer.expired == 1 and informer.lists == 2
    assert script.watched_from == ["10", "31"]
    assert [(c.type, c.name) for c in changes][2:] == [
        ("deleted", "b"),
        ("modified", "a"),
        ("added", "c"),
    ]
    assert [o["metadata"]["name"] for o in informer.list()] == ["a", "c"]


async def test_failures_reconnect_with_a_bounded_backoff() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await anyio.lowlevel.checkpoint()

    script = Script(
        [ListResult([], "5")],
        [[Unavailable("connection refused")] for _ in range(8)]
        + [[{"type": "ADDED", "object": cm("a", "6")}]],
    )
    informer = Informer(script, "v1", "ConfigMap", sleep=sleep, backoff_initial=0.5, backoff_max=4)
    await run_until_done(informer, script)
    assert informer.failures == 8 and informer.lists == 1
    assert script.watched_from == ["5"] * 9 + ["6"]
    for wait, base in zip(waits, (0.5, 1, 2, 4, 4, 4, 4, 4), strict=True):
        assert base / 2 <= wait <= base
    assert informer.get("ns", "a") is not None


async def test_resync_re_announces_every_object() -> None:
    script = Script([ListResult([cm("a", "1"), cm("b", "1")], "1")], [])
    sleeps = 0

    async def sleep(seconds: float) -> None:
        nonlocal sleeps
        sleeps += 1
        if sleeps > 2:
            await anyio.sleep_forever()
        await anyio.lowlevel.checkpoint()

    informer = Informer(script, "v1", "ConfigMap", resync=900, sleep=sleep)
    async with informer.changes() as stream:
        async with anyio.create_task_group() as tg:
            tg.start_soon(informer.run)
            seen = []
            with anyio.fail_after(5):
                async for change in stream:
                    seen.append((change.type, change.name))
                    if len(seen) == 6:
                        break
            tg.cancel_scope.cancel()
    assert seen == [("added", "a"), ("added", "b")] + [("resync", "a"), ("resync", "b")] * 2


def test_trims_keep_what_the_shell_reads() -> None:
    meta = {
        "name": "web-abc",
        "namespace": "ns",
        "uid": "u",
        "labels": {"rollouts-pod-template-hash": "abc"},
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}", "a": "1"},
        "ownerReferences": [{"uid": "r"}],
        "resourceVersion": "7",
        "creationTimestamp": "2024-01-01T00:00:00Z",
        "managedFields": [{"manager": "kubectl"}],
    }
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": meta,
        "spec": {
            "replicas": 3,
            "minReadySeconds": 5,
            "selector": {},
            "template": {"spec": {"containers": []}},
        },
        "status": {"replicas": 3, "readyReplicas": 2, "availableReplicas": 1, "conditions": []},
    }
    trimmed = trim_replica_set(rs)
    assert trimmed["spec"] == {"replicas": 3, "minReadySeconds": 5, "selector": {}}
    assert trimmed["status"] == {"replicas": 3, "readyReplicas": 2, "availableReplicas": 1}
    assert "managedFields" not in trimmed["metadata"]
    assert trimmed["metadata"]["annotations"] == {"a": "1"}
    assert trimmed["metadata"]["ownerReferences"] == [{"uid": "r"}]
    pod = trim_pod(
        {
            "metadata": meta,
            "spec": {"nodeName": "n", "containers": [{}]},
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True", "reason": "x"}],
            },
        }
    )
    assert pod["spec"] == {"nodeName": "n"}
    assert pod["status"] == {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    other = trim_default(
        {"kind": "Service", "metadata": {**meta, "finalizers": ["f"]}, "spec": {"x": 1}}
    )
    assert other["spec"] == {"x": 1} and "managedFields" not in other["metadata"]
    assert other["metadata"]["finalizers"] == ["f"]


async def test_a_cached_cluster_reads_synced_caches_and_writes_through() -> None:
    memory = MemoryCluster()
    await memory.create(cm("a", ""))
    script = Script([ListResult([cm("cached", "3")], "3")], [])
    informers = Informers(script, sleep=no_sleep)
    informers.informer("v1", "ConfigMap")
    cached = CachedCluster(memory, informers)
    # not synced yet: reads go to the cluster
    assert [o["metadata"]["name"] for o in await cached.list("v1", "ConfigMap", "ns")] == ["a"]
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(informers.run)
            await informers.wait_synced()
            names = [o["metadata"]["name"] for o in await cached.list("v1", "ConfigMap", "ns")]
            got = await cached.get(Ref("v1", "ConfigMap", "ns", "cached"))
            await cached.patch(Ref("v1", "ConfigMap", "ns", "a"), {"data": {"v": "9"}})
            tg.cancel_scope.cancel()
    assert names == ["cached"] and got is not None
    assert (await memory.get(Ref("v1", "ConfigMap", "ns", "a")) or {})["data"] == {"v": "9"}
    informer = informers.find("v1", "ConfigMap")
    assert informer is not None
    got["data"]["v"] = "changed"
    assert (informer.get("ns", "cached") or {})["data"] == {"v": "1"}, "readers get copies"


@pytest.mark.parametrize("start", [True, False])
async def test_informers_created_while_running_start_too(start: bool) -> None:
    script = Script([ListResult([cm("a", "1")], "1")], [])
    informers = Informers(script, sleep=no_sleep)
    if start:
        informers.informer("v1", "ConfigMap")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(informers.run)
            await anyio.lowlevel.checkpoint()
            informer = informers.informer("v1", "ConfigMap")
            await informer.wait_synced()
            tg.cancel_scope.cancel()
    assert len(informer) == 1 and list(informers) == [informer]


async def test_watches_that_close_at_once_back_off_instead_of_spinning() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await anyio.lowlevel.checkpoint()

    script = Script([ListResult([], "5")], [[], [], [{"type": "ADDED", "object": cm("a", "6")}]])
    informer = Informer(script, "v1", "ConfigMap", sleep=sleep, backoff_initial=0.5)
    await run_until_done(informer, script)
    assert len(waits) == 2 and 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 1.0


async def test_what_the_cluster_wrote_is_cached_at_once_unless_older() -> None:
    memory = MemoryCluster()
    script = Script([ListResult([], "1")], [])
    informers = Informers(script, sleep=no_sleep)
    informer = informers.informer("v1", "ConfigMap")
    changes: list[tuple[str, str]] = []
    informer.subscribe(lambda c: changes.append((c.type, c.name)))
    cached = CachedCluster(memory, informers)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(informers.run)
            await informers.wait_synced()
            created = await cached.create(cm("new", ""))
            # read back before any watch event: the write is there
            assert await cached.get(Ref("v1", "ConfigMap", "ns", "new")) == created
            version = created["metadata"]["resourceVersion"]
            # the watch event of that very write changes nothing
            informer._upsert(created)
            # an older copy never replaces a newer one
            informer.record_write(
                {**created, "metadata": {**created["metadata"], "resourceVersion": "0"}}
            )
            assert (informer.get("ns", "new") or {})["metadata"]["resourceVersion"] == version
            # deleted (the watch said so first): a late write-through does not resurrect it
            informer._remove(
                {**created, "metadata": {**created["metadata"], "resourceVersion": "99"}}
            )
            informer.record_write(created)
            assert informer.get("ns", "new") is None
            await cached.create(cm("gone", ""))
            await cached.delete(Ref("v1", "ConfigMap", "ns", "gone"))
            assert await cached.get(Ref("v1", "ConfigMap", "ns", "gone")) is None
            tg.cancel_scope.cancel()
    assert changes == [("added", "new"), ("deleted", "new"), ("added", "gone"), ("deleted", "gone")]


async def test_a_late_watch_event_does_not_take_the_cache_back_before_a_write() -> None:
    """The controller wrote version 12; the watch then delivers version 11 (the write
    before it), then 13: the cache goes 10, 12, 13, never back to 11."""
    informer: Informer

    class Late(Script):
        async def watch(self, *args: Any, **kwargs: Any) -> AsyncGenerator[dict[str, Any], None]:
            if self.watches:
                informer.record_write(cm("a", "12", "ours"))
            async for event in super().watch(*args, **kwargs):
                yield event

    script = Late(
        [ListResult([cm("a", "10")], "10")],
        [
            [
                {"type": "MODIFIED", "object": cm("a", "11", "earlier")},
                {"type": "MODIFIED", "object": cm("a", "13", "later")},
            ]
        ],
    )
    informer = Informer(script, "v1", "ConfigMap", sleep=no_sleep)
    seen: list[str] = []
    informer.subscribe(lambda c: seen.append(c.obj["metadata"]["resourceVersion"]))
    await run_until_done(informer, script)
    assert seen == ["10", "12", "13"]
    assert (informer.get("ns", "a") or {})["data"] == {"v": "later"}


class ByKind(Script):
    """Lists by kind (``lists[(apiVersion, kind)]``, or the error to raise); watches idle."""

    def __init__(self, lists: dict[tuple[str, str], Any]) -> None:
        super().__init__([], [])
        self.by_kind = lists
        self.listed: list[tuple[str, str]] = []

    async def list_with_version(
        self, api_version: str, kind: str, namespace: Any = None, **_: Any
    ) -> ListResult:
        self.listed.append((api_version, kind))
        found = self.by_kind[(api_version, kind)]
        if isinstance(found, BaseException):
            raise found
        return ListResult(list(found), "7")


async def test_router_objects_are_cached_on_demand_where_allowed() -> None:
    split = {
        "apiVersion": "split.smi-spec.io/v1alpha4",
        "kind": "TrafficSplit",
        "metadata": {"name": "web", "namespace": "ns", "resourceVersion": "5"},
        "spec": {"backends": []},
    }
    memory = MemoryCluster()  # the server: holds no TrafficSplit, one VirtualService
    service = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "web", "namespace": "ns"},
        "spec": {},
    }
    await memory.create(service)
    source = ByKind(
        {
            ("split.smi-spec.io/v1alpha4", "TrafficSplit"): [split],
            ("networking.istio.io/v1", "VirtualService"): ApiForbidden("no list", status=403),
        }
    )
    informers = Informers(source, namespace="ns", sleep=no_sleep)
    traffic = RouterTraffic(CachedCluster(memory, informers))
    smi = ("split.smi-spec.io", ("v1alpha4", "v1alpha2"), "TrafficSplit", "ns")
    istio = ObjectRef("networking.istio.io", ("v1",), "VirtualService", "ns", "web")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(informers.run)
            got = await traffic._get(ObjectRef(*smi, "web"))
            assert got is not None and got["spec"] == split["spec"], "read from the cache"
            # another object of a cached kind: absent from the cache, so absent in every
            # version; no other version is listed nor read
            assert await traffic._get(ObjectRef(*smi, "other")) is None
            # a kind it may not list: read from the server, and not listed again
            for _ in range(2):
                assert (await traffic._get(istio) or {}).get("kind") == "VirtualService"
            tg.cancel_scope.cancel()
    assert source.listed == [
        ("split.smi-spec.io/v1alpha4", "TrafficSplit"),
        ("networking.istio.io/v1", "VirtualService"),
    ]


async def test_a_cached_cluster_says_what_its_server_serves() -> None:
    class Serving(MemoryCluster):
        async def serves(self, api_version: str, kind: str) -> bool:
            return kind != "VirtualService"

    informers = Informers(ByKind({}), sleep=no_sleep)
    assert await CachedCluster(MemoryCluster(), informers).serves("a/v1", "VirtualService")
    cached = CachedCluster(Serving(), informers)
    assert await cached.serves("split.smi-spec.io/v1alpha4", "TrafficSplit")
    assert not await cached.serves("networking.istio.io/v1", "VirtualService")
