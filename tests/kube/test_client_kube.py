"""The client's commands on the local control plane, the controller running in this
process: the same story as tests/test_client.py tells on the in-memory cluster, through
the API server (status through /status, preconditions, label-selected ReplicaSets,
watches)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from progressive import client
from progressive._cluster import LocalControlPlane
from progressive._shell.kube import KubeCluster
from progressive.cli._install import install_objects, manifests
from progressive.core import PauseReason
from progressive.core._times import parse_time
from progressive.errors import NotFound

from ._e2e import controller, create_all, rollout, running, services

pytestmark = pytest.mark.kube

IMAGE_2 = "example.invalid/web:2"


@pytest.fixture
async def kube(control_plane: LocalControlPlane) -> AsyncIterator[KubeCluster]:
    async with await KubeCluster.from_kubeconfig(control_plane.kubeconfig) as cluster:
        await install_objects(cluster, manifests(crds_only=True))
        yield cluster


async def test_every_command_on_a_real_server(kube: KubeCluster, namespace: str) -> None:
    steps = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "1h"}}]
    # no traffic router: the actual weight is the canary's share of the pods
    await create_all(
        kube, *services(namespace), rollout(namespace, steps=steps, router=None, replicas=3)
    )

    async def wait(phase: str) -> client.RolloutState:
        return await client.wait_for(kube, namespace, "web", phase=phase, timeout=30)

    async with running(controller(kube, namespace)):
        first = await wait("Healthy")
        change = await client.set_image(kube, namespace, "web", "app", IMAGE_2)
        assert change.changed and change.ref.kind == "Rollout"
        paused = await wait("Paused")
        assert (paused.step, paused.pause_reason, paused.paused_until) == (
            1,
            PauseReason.CANARY_STEP,
            None,
        )
        assert (paused.set_weight, paused.actual_weight) == (20, 33)

        await client.pause(kube, namespace, "web")
        held = await wait("Paused")
        assert held.pause_reason == client.MANUAL_PAUSE
        await client.resume(kube, namespace, "web")
        resumed = await wait("Paused")
        assert (resumed.pause_reason, resumed.step) == (PauseReason.CANARY_STEP, 1)

        await client.promote(kube, namespace, "web")

        async def at_the_timed_pause() -> client.RolloutState:
            async for update in client.watch(kube, namespace, "web", events=False):
                if isinstance(update, client.RolloutState) and update.step == 3:
                    if update.phase == "Paused":
                        return update
            raise AssertionError("the Rollout is gone")

        import anyio

        with anyio.fail_after(30):
            timed = await at_the_timed_pause()
        assert timed.pause is not None and timed.pause.since is not None
        assert timed.paused_until == timed.pause.since + 3600
        assert (timed.set_weight, timed.actual_weight) == (50, 66)

        await client.abort(kube, namespace, "web")
        aborted = await wait("Degraded")
        assert aborted.aborted and aborted.set_weight == 0
        await client.retry(kube, namespace, "web")
        again = await wait("Paused")
        assert (again.step, again.aborted) == (1, False)

        await client.promote(kube, namespace, "web", full=True)
        healthy = await wait("Healthy")
        assert healthy.current != first.current

        before = time.time()
        stored = await client.restart(kube, namespace, "web")
        restart_at = parse_time(stored["spec"]["restartAt"])
        assert restart_at is not None and before - 1 <= restart_at <= time.time() + 1

        undone = await client.undo(kube, namespace, "web")
        assert (undone.changed, undone.revision) == (True, 1)
        template = undone.obj["spec"]["template"]
        assert template["spec"]["containers"][0]["image"] == "example.invalid/web:1"
        assert "rollouts-pod-template-hash" not in template["metadata"].get("labels", {})

    with pytest.raises(NotFound, match=f'rollout "nope" not found in namespace "{namespace}"'):
        await client.promote(kube, namespace, "nope")
    # a Rollout whose deletion a finalizer holds: the controller no longer acts on it
    ref = undone.ref
    await kube.patch(ref, {"metadata": {"finalizers": ["example.com/hold"]}})
    await kube.delete(ref)
    for command in (client.promote, client.abort, client.undo, client.pause):
        with pytest.raises(client.BeingDeleted, match="is being deleted .*example.com/hold"):
            await command(kube, namespace, "web")
    await kube.patch(ref, {"metadata": {"finalizers": None}})
