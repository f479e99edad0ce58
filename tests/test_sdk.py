"""The SDK for release tools (progressive.client), on the in-memory cluster with a
controller running on a wall clock; and examples/release/release.py --memory."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import progressive
from progressive import client
from progressive._shell import Controller, Ref, WallClock
from progressive.core import Rollout
from progressive.errors import Conflict, NotFound
from progressive.memory import MemoryCluster
from progressive.metrics import ScriptedProvider

ROOT = Path(__file__).resolve().parent.parent
API = "progressive.dev/v1alpha1"
#: How long a test waits for a state the controller reaches in well under a second: a
#: bound, not a speed (the wait ends as soon as the state is there), generous enough for
#: a loaded machine.  Speed figures live in bench/.
SETTLES = 60.0


def rollout(name: str = "web", **canary: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "initContainers": [{"name": "init", "image": "init:1"}],
                    "containers": [
                        {"name": "app", "image": "web:1"},
                        {"name": "sidecar", "image": "proxy:1"},
                    ],
                },
            },
            "strategy": {"canary": {"steps": [{"setWeight": 50}], **canary}},
        },
    }


def deployment(name: str = "web") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "web:1"}]},
            },
        },
    }


@contextlib.asynccontextmanager
async def controlled() -> AsyncIterator[MemoryCluster]:
    """A cluster whose controller runs (wall clock, pods ready in 10 ms)."""
    clock = WallClock()
    cluster = MemoryCluster(clock, pod_ready_seconds=0.01)
    provider = ScriptedProvider({"rate": [0.1]})  # a failing analysis
    controller = Controller(cluster, clock=clock, provider=provider)
    async with anyio.create_task_group() as tg:
        await tg.start(controller.run)
        yield cluster
        tg.cancel_scope.cancel()


def test_the_sdk_is_exported_from_the_package() -> None:
    assert progressive.set_image is client.set_image
    assert progressive.client.wait_for is progressive.wait_for
    assert {"client", "set_image", "watch", "wait_for", "RolloutState"} <= set(dir(progressive))


async def test_set_image_in_the_rollout() -> None:
    cluster = MemoryCluster()
    await cluster.create(rollout())
    ref = Ref(API, "Rollout", "default", "web")
    change = await client.set_image(cluster, "default", "web", "app", "web:2")
    assert change.changed and change.ref == ref
    containers = change.obj["spec"]["template"]["spec"]["containers"]
    assert containers == [
        {"name": "app", "image": "web:2"},
        {"name": "sidecar", "image": "proxy:1"},
    ]
    writes = cluster.writes
    again = await client.set_image(cluster, "default", "web", "app", "web:2")
    assert cluster.writes == writes and not again.changed, "the same image again writes nothing"
    await client.set_image(cluster, "default", "web", "init", "init:2")
    obj = await cluster.get(ref)
    assert obj is not None and obj["spec"]["template"]["spec"]["initContainers"][0]["image"] == (
        "init:2"
    )
    with pytest.raises(client.EditError, match="unable to find container named 'nope'"):
        await client.set_image(cluster, "default", "web", "nope", "x:1")
    with pytest.raises(NotFound):
        await client.set_image(cluster, "default", "missing", "app", "x:1")


async def test_set_image_in_the_workload_ref_deployment() -> None:
    cluster = MemoryCluster()
    await cluster.create(deployment())
    manifest = rollout()
    del manifest["spec"]["template"], manifest["spec"]["selector"]
    manifest["spec"]["workloadRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    await cluster.create(manifest)
    change = await client.set_image(cluster, "default", "web", "app", "web:2")
    assert change.ref == Ref("apps/v1", "Deployment", "default", "web")
    assert change.obj["spec"]["template"]["spec"]["containers"][0]["image"] == "web:2"


async def test_set_image_retries_a_conflict() -> None:
    class Busy(MemoryCluster):
        conflicts = 0

        async def patch(self, ref: Ref, patch: Any) -> dict[str, Any]:
            if self.conflicts < 2:
                self.conflicts += 1
                # another writer got there first
                await super().patch(ref, {"metadata": {"annotations": {"other": "x"}}})
                raise Conflict("stale")
            return await super().patch(ref, patch)

    cluster = Busy()
    await cluster.create(rollout())
    change = await client.set_image(cluster, "default", "web", "app", "web:2")
    assert cluster.conflicts == 2
    assert change.obj["spec"]["template"]["spec"]["containers"][0]["image"] == "web:2"
    assert change.obj["metadata"]["annotations"] == {"other": "x"}


async def test_wait_for_the_new_revision_not_the_old_healthy() -> None:
    async with controlled() as running:
        await running.create(rollout())
        first = await client.wait_for(running, "default", "web", timeout=SETTLES)
        assert first.phase == "Healthy" and first.current
        await client.set_image(running, "default", "web", "app", "web:2")
        updates: list[client.Update] = []
        final = await client.wait_for(
            running, "default", "web", timeout=SETTLES, on_update=updates.append
        )
        stored = await client.get_rollout(running, "default", "web")
        assert stored is not None
        assert final.current == Rollout.from_manifest(stored).template_hash() != first.current
        assert final.stable == final.current
        assert isinstance(updates[0], client.RolloutState) and updates[0].current == first.current
        reasons = [u.reason for u in updates if isinstance(u, client.RolloutEvent)]
        assert "RolloutUpdated" in reasons and "Promoted" in reasons
        assert "InitialDeploy" not in reasons, "only the Events from now on"
        assert str(final).startswith("default/web: Healthy")


async def test_a_failing_analysis_raises_rollout_failed() -> None:
    async with controlled() as running:
        await running.create(
            {
                "apiVersion": API,
                "kind": "AnalysisTemplate",
                "metadata": {"name": "rate", "namespace": "default"},
                "spec": {
                    "metrics": [
                        {
                            "name": "rate",
                            "successCondition": "result >= 0.9",
                            "provider": {"prometheus": {"query": "q"}},
                        }
                    ]
                },
            }
        )
        manifest = rollout()
        manifest["spec"]["strategy"]["canary"]["steps"] = [
            {"setWeight": 50},
            {"analysis": {"templates": [{"templateName": "rate"}]}},
        ]
        await running.create(manifest)
        await client.wait_for(running, "default", "web", timeout=SETTLES)
        await client.set_image(running, "default", "web", "app", "web:2")
        with pytest.raises(client.RolloutFailed, match="Degraded") as failed:
            await client.wait_for(running, "default", "web", timeout=SETTLES)
        assert failed.value.state.aborted


async def test_wait_for_times_out_at_an_indefinite_pause() -> None:
    async with controlled() as running:
        manifest = rollout()
        manifest["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 50}, {"pause": {}}]
        await running.create(manifest)
        await client.wait_for(running, "default", "web", timeout=SETTLES)
        await client.set_image(running, "default", "web", "app", "web:2")
        paused = await client.wait_for(running, "default", "web", phase="Paused", timeout=SETTLES)
        assert paused.step == 1
        with pytest.raises(TimeoutError):
            await client.wait_for(running, "default", "web", timeout=0.2)


async def test_watch_without_change_notifications_polls() -> None:
    class Plain:
        """A Cluster that reports no changes."""

        def __init__(self, inner: MemoryCluster) -> None:
            self.inner = inner
            self.get = inner.get
            self.list = inner.list
            self.create = inner.create
            self.patch = inner.patch
            self.delete = inner.delete
            self.replace_status = inner.replace_status

    cluster = MemoryCluster()
    await cluster.create(rollout())
    plain: Any = Plain(cluster)
    seen: list[client.Update] = []
    arrived = [anyio.Event() for _ in range(3)]  # the first, second and third update
    with anyio.fail_after(SETTLES):
        async with anyio.create_task_group() as tg:

            async def follow() -> None:
                async for update in client.watch(plain, "default", "web", interval=0.01):
                    seen.append(update)
                    if len(seen) <= len(arrived):
                        arrived[len(seen) - 1].set()

            tg.start_soon(follow)
            await arrived[0].wait()  # the state before the change
            ref = Ref(API, "Rollout", "default", "web")
            await cluster.replace_status({**rollout(), "status": {"phase": "Paused"}})
            await cluster.create(
                {
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {"name": "web.1", "namespace": "default"},
                    "involvedObject": {"kind": "Rollout", "name": "web", "namespace": "default"},
                    "reason": "Paused",
                    "message": "paused",
                    "type": "Normal",
                }
            )
            await arrived[2].wait()  # the Event, then the status it led to
            await cluster.delete(ref)
    # the Events first, then the status they led to
    assert [type(u).__name__ for u in seen] == ["RolloutState", "RolloutEvent", "RolloutState"]
    assert isinstance(seen[2], client.RolloutState) and seen[2].phase == "Paused"


def test_the_release_example_in_memory() -> None:
    done = subprocess.run(
        [sys.executable, "examples/release/release.py", "--memory", "web", "app", "web:2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[1] == "set app=web:2 on Rollout default/web"
    assert any("event  Normal SetWeight: Set canary weight to 20" in line for line in lines)
    assert any("weight 60%" in line for line in lines)
    assert lines[-1].startswith("HEALTHY: default/web: Healthy")


async def test_wait_for_since_tells_the_events_written_before_it_started() -> None:
    # the controller is quicker than the caller: the whole update is over, Events
    # written, before wait_for reads anything
    from progressive._shell import VirtualClock

    clock = VirtualClock()
    cluster = MemoryCluster(clock)
    await cluster.create(rollout())
    controller = Controller(cluster, clock=clock)
    await controller.settle(wakeup=cluster.next_event_at)
    seen = await client.event_counts(cluster, "default", "web")
    await client.set_image(cluster, "default", "web", "app", "web:2")
    await controller.settle(wakeup=cluster.next_event_at)

    told: list[client.Update] = []
    await client.wait_for(cluster, "default", "web", timeout=5, on_update=told.append, since=seen)
    reasons = [u.reason for u in told if isinstance(u, client.RolloutEvent)]
    assert reasons == ["RolloutUpdated", "NewReplicaSet", "ScaledDown", "Promoted"]


async def test_wait_for_tells_the_promotion_written_after_the_healthy_status() -> None:
    """The controller writes Events in the background, after the status they explain;
    on a busy controller that can be long after.  Here every Event write takes 0.5 s:
    the wait ends at Healthy before "Promoted" is written, and waits for it."""

    class SlowEvents(MemoryCluster):
        async def create(self, obj: Any) -> dict[str, Any]:
            if obj.get("kind") == "Event":
                await anyio.sleep(0.5)
            return await super().create(obj)

    clock = WallClock()
    cluster = SlowEvents(clock, pod_ready_seconds=0.01)
    await cluster.create(rollout())
    controller = Controller(cluster, clock=clock)
    async with anyio.create_task_group() as tg:
        await tg.start(controller.run)
        await client.wait_for(cluster, "default", "web", timeout=SETTLES)
        await client.set_image(cluster, "default", "web", "app", "web:2")
        updates: list[client.Update] = []
        final = await client.wait_for(
            cluster, "default", "web", timeout=SETTLES, on_update=updates.append
        )
        tg.cancel_scope.cancel()
    assert final.phase == "Healthy" and final.stable == final.current
    reasons = [u.reason for u in updates if isinstance(u, client.RolloutEvent)]
    assert "Promoted" in reasons, reasons
