"""End to end on the real control plane, when things go wrong: the controller killed in
the middle of a rollout, the API server restarted, another writer racing the
controller, and two controllers with leader election (only the leader writes; killing
it hands over within the lease duration)."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

from progressive import client
from progressive._cluster import LocalControlPlane
from progressive._clusters import Ref
from progressive._shell.kube import KubeCluster
from progressive._shell.leader import LeaderElector
from progressive._shell.supervisor import supervise

from ._e2e import (
    GROUP,
    controller,
    create_all,
    events,
    phase_is,
    refused_nothing,
    replica_sets,
    rollout,
    router_weight,
    running,
    services,
    state,
    until,
)

pytestmark = pytest.mark.kube

NEW = "example.invalid/web:2"
WRITES = ("create", "patch", "update", "delete")


def writes(cluster: KubeCluster) -> int:
    return sum(n for (verb, _), n in cluster.requests.items() if verb in WRITES)


class Steps:
    """Every (phase, step) the Rollout was seen in, polled by the test."""

    def __init__(self, kube: KubeCluster, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.seen: list[tuple[str, int | None]] = []
        self.at: dict[tuple[str, int | None], float] = {}

    async def poll(self) -> Any:
        now = await state(self.kube, self.namespace)
        image = now.manifest["spec"]["template"]["spec"]["containers"][0]["image"]
        if image == NEW and now.observed_generation >= now.generation:
            key = (now.phase, now.step)
            if not self.seen or self.seen[-1] != key:
                self.seen.append(key)
                self.at.setdefault(key, time.monotonic())
        return now

    def steps(self) -> list[int]:
        out: list[int] = []
        for _, step in self.seen:
            if step is not None and (not out or out[-1] != step):
                out.append(step)
        return out


STEPS = [
    {"setWeight": 25},
    {"pause": {"duration": "1s"}},
    {"setWeight": 50},
    {"pause": {"duration": "3s"}},
    {"setWeight": 75},
    {"pause": {"duration": "2s"}},
]


async def test_a_killed_controller_resumes_where_it_stopped(
    kube: KubeCluster, sa: KubeCluster, namespace: str
) -> None:
    await create_all(kube, *services(namespace), rollout(namespace, steps=STEPS))
    watch = Steps(kube, namespace)
    async with running(controller(sa, namespace)):
        first = await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"))
        await client.set_image(kube, namespace, "web", "app", NEW)

        async def paused_at_50() -> bool:
            now = await watch.poll()
            return now.phase == "Paused" and now.step == 3

        await until("paused at step 3 (weight 50)", paused_at_50)
    # killed (cancelled) in the middle of its 3 s pause; a new one starts from the cluster
    killed = time.monotonic()
    async with running(controller(sa, namespace)):

        async def healthy() -> Any:
            await watch.poll()
            return await phase_is(kube, namespace, "Healthy", image=NEW)

        final = await until("Healthy at web:2", healthy)
    steps = watch.steps()
    assert steps == sorted(set(steps)) and steps[-1] == 6, watch.seen  # never back
    paused = watch.at[("Paused", 3)]
    resumed = min(t for (p, s), t in watch.at.items() if s is not None and s >= 4)
    assert resumed - paused < 3.0 + 1.5, "the pause went on from where it was, not afresh"
    assert resumed > killed
    sets = await replica_sets(kube, namespace)
    assert set(sets) == {first.current, final.current}, "one ReplicaSet per revision"
    seen = await events(kube, namespace)
    for weight in (25, 50, 75):
        assert seen[f"SetWeight: Set canary weight to {weight}"] == 1, seen
    for seconds in (1, 3, 2):
        assert seen[f"Paused: Rollout paused for {seconds}s"] == 1, seen


async def test_the_api_server_restarted_in_the_middle(
    kube: KubeCluster,
    sa_config: dict[str, Any],
    namespace: str,
    control_plane: LocalControlPlane,
) -> None:
    steps = [{"setWeight": 25}, {"pause": {"duration": "2s"}}, {"setWeight": 50}]
    await create_all(kube, *services(namespace), rollout(namespace, steps=steps))
    async with (
        refused_nothing(sa_config, namespace, strict=False) as sa,
        running(controller(sa, namespace)),
    ):
        await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"))
        await client.set_image(kube, namespace, "web", "app", NEW)

        async def paused() -> Any:
            return await phase_is(kube, namespace, "Paused")

        await until("paused at step 1", paused)
        # SIGTERM, SIGKILL a second later (a graceful stop waits for every watch)
        down = await anyio.to_thread.run_sync(
            lambda: control_plane.restart_component("kube-apiserver", timeout=1.0)
        )
        assert down > 0
        final = await until(
            "Healthy at web:2 after the restart",
            lambda: phase_is(kube, namespace, "Healthy", image=NEW),
            seconds=60,
        )
        assert sa.requests[("watch", "200")] > 0
    assert final.stable == final.current
    assert await router_weight(kube, namespace, "smi") == 0
    assert len(await replica_sets(kube, namespace)) == 2


async def test_another_writer_races_the_controller_and_it_converges(
    kube: KubeCluster, sa: KubeCluster, namespace: str
) -> None:
    steps = [{"setWeight": 25}, {"pause": {"duration": "1s"}}, {"setWeight": 50}]
    await create_all(kube, *services(namespace), rollout(namespace, steps=steps))
    ref = Ref(GROUP, "Rollout", namespace, "web")
    async with running(controller(sa, namespace)):
        await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"))
        await client.set_image(kube, namespace, "web", "app", NEW)
        async with anyio.create_task_group() as tg:

            async def other_writer() -> None:
                for i in range(100_000):
                    await kube.patch(ref, {"metadata": {"annotations": {"other/n": str(i)}}})
                    await anyio.sleep(0.005)

            tg.start_soon(other_writer)
            final = await until(
                "Healthy at web:2", lambda: phase_is(kube, namespace, "Healthy", image=NEW)
            )
            tg.cancel_scope.cancel()
    conflicts = sa.requests[("update", "409")] + sa.requests[("patch", "409")]
    assert conflicts > 0, sa.requests
    assert final.stable == final.current
    assert (await state(kube, namespace)).manifest["metadata"]["annotations"]["other/n"]


async def test_two_controllers_only_the_leader_writes_and_a_kill_hands_over(
    kube: KubeCluster, sa_config: dict[str, Any], namespace: str
) -> None:
    lease = {"lease_duration": 3.0, "renew_deadline": 2.0, "retry_period": 0.25}
    steps = [{"setWeight": 25}, {"pause": {"duration": "1s"}}, {"setWeight": 50}]
    await create_all(kube, *services(namespace), rollout(namespace, steps=steps))
    async with (
        refused_nothing(sa_config, namespace) as a,
        refused_nothing(sa_config, namespace) as b,
        anyio.create_task_group() as tg,
    ):
        elect_a = LeaderElector(
            a,
            namespace=namespace,
            name="progressive",
            identity="a",
            release_on_cancel=False,
            **lease,
        )
        elect_b = LeaderElector(b, namespace=namespace, name="progressive", identity="b", **lease)
        ctl_a, ctl_b = controller(a, namespace), controller(b, namespace)
        kill_a = anyio.CancelScope()

        async def run_a() -> None:
            with kill_a:
                await supervise(ctl_a, elector=elect_a)

        tg.start_soon(run_a)

        async def a_running() -> bool:
            return ctl_a.running

        await until("a leading", a_running)
        tg.start_soon(lambda: supervise(ctl_b, elector=elect_b))
        await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"))
        await client.set_image(kube, namespace, "web", "app", NEW)
        await until("paused at step 1", lambda: phase_is(kube, namespace, "Paused"))
        assert writes(a) > 0 and writes(b) == 0, "only the leader writes"
        assert not ctl_b.running
        kill_a.cancel()  # the leader dies without releasing the Lease
        killed = time.monotonic()

        async def b_running() -> bool:
            return ctl_b.running

        await until("b leading", b_running, seconds=10)
        took = time.monotonic() - killed
        assert took <= 3.0 + 0.25 + 1.0, f"handed over in {took:.1f}s"
        before = writes(a)
        final = await until(
            "Healthy at web:2", lambda: phase_is(kube, namespace, "Healthy", image=NEW)
        )
        assert writes(a) == before, "the dead leader wrote nothing more"
        assert writes(b) > 0
        tg.cancel_scope.cancel()
    assert final.stable == final.current
    held = await kube.get(Ref("coordination.k8s.io/v1", "Lease", namespace, "progressive"))
    assert held is not None and held["spec"]["leaseTransitions"] >= 1
