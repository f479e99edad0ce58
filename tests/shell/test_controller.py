from __future__ import annotations

from typing import Any

import anyio
import pytest

from progressive._shell import Controller, MemoryTraffic, Ref, VirtualClock, WallClock
from progressive.core import Rollout, actions
from progressive.core._times import format_time
from progressive.memory import MemoryCluster
from progressive.metrics import ProviderRegistry, ScriptedProvider

from .helpers import canary_rollout, service, with_image


def ref(name: str) -> Ref:
    return Ref("argoproj.io/v1alpha1", "Rollout", "default", name)


class Env:
    def __init__(self, **controller: Any) -> None:
        self.clock = VirtualClock()
        self.cluster = MemoryCluster(self.clock)
        self.controller = Controller(self.cluster, clock=self.clock, **controller)

    async def settle(self) -> None:
        result = await self.controller.settle(
            wakeup=self.cluster.next_event_at, until=self.clock.now() + 3600
        )
        assert result.idle

    async def status(self, name: str) -> dict[str, Any]:
        obj = await self.cluster.get(ref(name))
        assert obj is not None
        return dict(obj.get("status") or {})

    async def update_image(self, name: str, image: str) -> None:
        obj = await self.cluster.get(ref(name))
        assert obj is not None
        await self.cluster.patch(ref(name), {"spec": with_image(obj, image)["spec"]})

    def replica_sets(self) -> dict[str, int]:
        return {
            rs["metadata"]["labels"]["rollouts-pod-template-hash"]: rs["spec"]["replicas"]
            for rs in self.cluster.objects("apps/v1", "ReplicaSet")
        }


async def test_a_basic_canary_without_steps_goes_healthy() -> None:
    env = Env()
    await env.cluster.create(canary_rollout(replicas=3))
    await env.settle()
    status = await env.status("web")
    assert status["phase"] == "Healthy"
    first = status["stableRS"]
    assert env.replica_sets() == {first: 3}

    await env.update_image("web", "example/web:2.0")
    await env.settle()
    status = await env.status("web")
    assert status["phase"] == "Healthy"
    assert status["stableRS"] != first
    assert env.replica_sets() == {first: 0, status["stableRS"]: 3}
    reasons = {e["reason"] for e in env.cluster.objects("v1", "Event")}
    assert "InitialDeploy" in reasons


async def test_hpa_replicas_count_the_pods_receiving_active_traffic() -> None:
    """``status.HPAReplicas`` (the scale subresource's statusReplicasPath) and
    ``status.selector``, as Argo writes them: every ReplicaSet's pods for a canary; a
    blue-green Rollout's active ReplicaSet's alone, its selector narrowed to that hash,
    while a preview runs beside it."""
    env = Env()
    manifest = canary_rollout(replicas=3, steps=[{"setWeight": 50}, {"pause": {}}])
    await env.cluster.create(manifest)
    await env.settle()
    await env.update_image("web", "example/web:2.0")
    await env.settle()
    status = await env.status("web")
    assert status["phase"] == "Paused"
    assert sorted(env.replica_sets().values()) == [1, 2]  # the stable's 1, the canary's 2
    assert (status["HPAReplicas"], status["selector"]) == (3, "app=web")

    manifest = canary_rollout("bg", replicas=3)
    manifest["spec"]["strategy"] = {
        "blueGreen": {
            "activeService": "bg-active",
            "previewService": "bg-preview",
            "autoPromotionEnabled": False,
        }
    }
    await env.cluster.create(service("bg-active", "bg"))
    await env.cluster.create(service("bg-preview", "bg"))
    await env.cluster.create(manifest)
    await env.settle()
    first = (await env.status("bg"))["stableRS"]
    await env.update_image("bg", "example/web:2.0")
    await env.settle()
    status = await env.status("bg")
    assert status["phase"] == "Paused" and status["currentPodHash"] != first
    assert (status["HPAReplicas"], status["selector"]) == (
        3,
        f"app=bg,rollouts-pod-template-hash={first}",
    )


class ExplodingTraffic(MemoryTraffic):
    async def set_weight(self, rollout: Rollout, action: actions.WriteWeight) -> None:
        if rollout.name == "boom":
            raise RuntimeError("router unreachable")
        await super().set_weight(rollout, action)


async def test_one_bad_rollout_does_not_stop_the_others() -> None:
    env = Env()
    env.controller.traffic = ExplodingTraffic(env.cluster)
    routed = {
        "canaryService": "boom-canary",
        "stableService": "boom-stable",
        "trafficRouting": {"nginx": {"stableIngress": "boom"}},
    }
    for svc in ("boom-canary", "boom-stable"):
        await env.cluster.create(
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": svc}, "spec": {}}
        )
    await env.cluster.create(canary_rollout("boom", steps=[{"setWeight": 50}], **routed))
    await env.cluster.create(canary_rollout("bad", steps=[{"setWeight": 150}]))
    await env.cluster.create(canary_rollout("good", steps=[{"setWeight": 50}]))
    await env.settle()
    # first deploys need no traffic: all but the invalid one get there
    assert (await env.status("boom"))["phase"] == "Healthy"
    assert (await env.status("good"))["phase"] == "Healthy"
    bad = await env.status("bad")
    assert bad["phase"] == "Degraded"
    assert any(c["type"] == "InvalidSpec" for c in bad["conditions"])
    assert "steps[0].setWeight" in bad["message"]

    await env.update_image("boom", "example/web:2.0")
    await env.update_image("good", "example/web:2.0")
    result = await env.controller.settle(
        wakeup=env.cluster.next_event_at, until=env.clock.now() + 600
    )
    assert any(e.key == "default/boom" for e in result.errors)
    good = await env.status("good")
    assert good["phase"] == "Healthy"
    assert good["currentStepIndex"] == 1


def analysis_run(provider: dict[str, Any], name: str = "run") -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "metrics": [
                {
                    "name": "rate",
                    "interval": "10s",
                    "count": 3,
                    "successCondition": "result >= 0.9",
                    "provider": provider,
                }
            ]
        },
    }


async def test_the_analysis_runner_measures_until_the_run_completes() -> None:
    env = Env(provider=ScriptedProvider({"rate": [0.95, 0.99]}))
    await env.cluster.create(analysis_run({"prometheus": {"query": "q"}}))
    start = env.clock.now()
    await env.settle()
    run = await env.cluster.get(Ref("argoproj.io/v1alpha1", "AnalysisRun", "default", "run"))
    assert run is not None
    assert run["status"]["phase"] == "Successful"
    assert env.clock.now() == start + 20  # three measurements, ten seconds apart
    values = [m["value"] for m in run["status"]["metricResults"][0]["measurements"]]
    assert values == ["0.95", "0.99", "0.99"]  # strings, as Argo stores them


@pytest.mark.parametrize("registry", [ProviderRegistry(), None])
async def test_an_unknown_provider_errors_the_measurement(
    registry: ProviderRegistry | None,
) -> None:
    env = Env(provider=registry)
    await env.cluster.create(analysis_run({"datadog": {"query": "q"}}))
    await env.settle()
    run = await env.cluster.get(Ref("argoproj.io/v1alpha1", "AnalysisRun", "default", "run"))
    assert run is not None
    assert run["status"]["phase"] == "Error"
    measurement = run["status"]["metricResults"][0]["measurements"][-1]
    assert "datadog" in measurement["message"]


async def test_experiments_run_for_their_duration() -> None:
    env = Env()
    exp = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": "exp", "namespace": "default"},
        "spec": {
            "duration": "1m",
            "scaleDownDelaySeconds": 0,
            "templates": [
                {
                    "name": "a",
                    "template": {
                        "metadata": {"labels": {"app": "a"}},
                        "spec": {"containers": [{"name": "a", "image": "a:1"}]},
                    },
                }
            ],
        },
    }
    await env.cluster.create(exp)
    start = env.clock.now()
    await env.controller.reconcile_all()
    stored = await env.cluster.get(Ref.of(exp))
    assert stored is not None and stored["status"]["phase"] == "Pending"  # pods coming
    await env.settle()
    stored = await env.cluster.get(Ref.of(exp))
    assert stored is not None and stored["status"]["phase"] == "Successful"
    # the duration counts from the moment the pods are available (2 s)
    assert env.clock.now() == start + 2 + 60


async def test_restart_at_replaces_every_old_pod() -> None:
    env = Env()
    await env.cluster.create(canary_rollout(replicas=3))
    await env.settle()
    old = {p["metadata"]["name"] for p in env.cluster.objects("v1", "Pod")}
    at = env.clock.now() + 1
    await env.cluster.patch(ref("web"), {"spec": {"restartAt": format_time(at)}})
    await env.settle()
    pods = env.cluster.objects("v1", "Pod")
    assert len(pods) == 3
    assert not old & {p["metadata"]["name"] for p in pods}
    assert (await env.status("web"))["phase"] == "Healthy"


async def test_run_on_a_wall_clock_until_cancelled() -> None:
    clock = WallClock()
    cluster = MemoryCluster(clock, pod_ready_seconds=0.02)
    await cluster.create(canary_rollout(replicas=2))
    controller = Controller(cluster, clock=clock)
    with anyio.move_on_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(controller.run)  # pods ready: cluster.next_event_at
            while True:
                obj = await cluster.get(ref("web"))
                if obj is not None and (obj.get("status") or {}).get("phase") == "Healthy":
                    tg.cancel_scope.cancel()
                    break
                await anyio.sleep(0.01)
    obj = await cluster.get(ref("web"))
    assert obj is not None and obj["status"]["phase"] == "Healthy"
