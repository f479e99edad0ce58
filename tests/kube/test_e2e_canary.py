"""End to end on the real control plane, the controller running in this process:
workloadRef to an existing Deployment, an invalid Rollout beside valid ones, and
analyses whose server never finishes answering in one namespace, which delay no step in
another.  (The suite run once per API group -- canaries through SMI and NGINX,
blue-green, analyses that pass and that abort, undo -- is test_e2e_groups.py.)"""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest

from progressive import client
from progressive._clusters import Ref
from progressive._shell.clocks import WallClock
from progressive._shell.controller import Controller
from progressive._shell.keys import INSTANCE_ID_LABELS
from progressive._shell.kube import KubeCluster
from progressive.core._analysis import build_analysis_run
from progressive.core._analysis_model import AnalysisTemplate

from ..http_servers import answer, serve, trickle
from ._e2e import (
    GROUP,
    INFORMERS,
    controller,
    create_all,
    events,
    phase_is,
    replica_sets,
    rollout,
    running,
    services,
    until,
)

pytestmark = pytest.mark.kube


def deployment(namespace: str, image: str = "example.invalid/web:1") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


@pytest.mark.parametrize(
    ("policy", "after"), [("never", 4), ("onsuccess", 0), ("progressively", 0)]
)
async def test_workload_ref_to_an_existing_deployment(
    kube: KubeCluster, sa: KubeCluster, namespace: str, policy: str, after: int
) -> None:
    ref = Ref("apps/v1", "Deployment", namespace, "web")
    await kube.create(deployment(namespace))

    async def deployment_available() -> bool:
        found = await kube.get(ref)
        return bool(found) and (found or {}).get("status", {}).get("availableReplicas") == 4

    await until("the Deployment available", deployment_available)
    manifest = rollout(namespace, steps=[{"setWeight": 50}, {"pause": {"duration": "1s"}}])
    spec = manifest["spec"]
    del spec["template"], spec["selector"]
    spec["workloadRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    spec["workloadRef"]["scaleDown"] = policy
    await create_all(kube, *services(namespace), manifest)
    async with running(controller(sa, namespace)):
        first = await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"))

        async def deployment_scaled() -> bool:
            found = await kube.get(ref)
            return found is not None and found["spec"]["replicas"] == after

        await until(f"the Deployment at {after} ({policy})", deployment_scaled)
        (rs,) = [
            r
            for r in await kube.list("apps/v1", "ReplicaSet", namespace)
            if "rollouts-pod-template-hash" in r["metadata"]["labels"]
        ]
        assert rs["spec"]["template"]["spec"]["containers"][0]["image"] == "example.invalid/web:1"
        # a new image in the Deployment is a new revision of the Rollout
        await client.set_image(kube, namespace, "web", "app", "example.invalid/web:2")
        final = await client.wait_for(kube, namespace, "web", timeout=30)
        assert final.current != first.current
        assert set(await replica_sets(kube, namespace)) == {first.current, final.current}
        found = await kube.get(ref)
        assert found is not None and found["spec"]["replicas"] == after


async def test_an_invalid_rollout_is_degraded_and_the_others_go_on(
    kube: KubeCluster, sa: KubeCluster, namespace: str
) -> None:
    bad = rollout(namespace, "bad", steps=[{"setWeight": 50}], router=None)
    bad["spec"]["minReadySeconds"] = 30
    bad["spec"]["progressDeadlineSeconds"] = 10  # must be greater than minReadySeconds
    good = rollout(namespace, "good", steps=[{"setWeight": 50}], router=None)
    await create_all(kube, *services(namespace, "bad"), *services(namespace, "good"), bad, good)
    async with running(controller(sa, namespace)):
        degraded = await until("bad Degraded", lambda: phase_is(kube, namespace, "Degraded", "bad"))
        await until("good Healthy", lambda: phase_is(kube, namespace, "Healthy", "good"))
        conditions = degraded.manifest["status"]["conditions"]
        assert any(c["type"] == "InvalidSpec" for c in conditions)
        assert "progressDeadlineSeconds" in degraded.message
        await client.set_image(kube, namespace, "good", "app", "example.invalid/good:2")
        await client.wait_for(kube, namespace, "good", timeout=30)
    warnings = await events(kube, namespace, "bad")
    assert [k for k in warnings if k.startswith("InvalidSpec")], warnings
    assert not await kube.list("apps/v1", "ReplicaSet", namespace) or all(
        "bad" not in rs["metadata"]["name"]
        for rs in await kube.list("apps/v1", "ReplicaSet", namespace)
    )


#: The slow metric servers' answer never comes, and the slow metrics time out, this late:
#: a Rollout waiting on them would never finish within WAIT.
SLOW_SECONDS = 3600
#: How long a test waits on a state it expects, with room for a loaded machine.
WAIT = 60.0


def web_template(name: str, namespace: str, url: str, timeout: float = 5) -> dict[str, Any]:
    metric = {
        "name": "check",
        "successCondition": "result == true",
        "provider": {"web": {"url": url, "jsonPath": "$.ok", "timeoutSeconds": timeout}},
    }
    return {
        "apiVersion": GROUP,
        "kind": "AnalysisTemplate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"metrics": [metric]},
    }


async def test_slow_analyses_in_one_namespace_delay_no_step_in_another(
    kube: KubeCluster, namespace: str
) -> None:
    """Six runs in a namespace of their own against a server that sends a byte of its
    answer every 50 ms and never all of it (for an hour, the metric's deadline too); a
    Rollout here with an analysis step and a 1 s pause.  A controller sharded by instance
    id, so that it touches nothing of the other tests, with two rollout workers and four
    analysis workers, two per namespace.  Without the hand-off to the analysis pool, or
    without the per-namespace bound, the Rollout would wait an hour: it is waited for
    generously (WAIT), never timed."""
    shard = f"iso-{secrets.token_hex(3)}"
    labels = {INSTANCE_ID_LABELS[0]: shard}
    slow_ns = f"{namespace}-slow"
    await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": slow_ns}})
    try:
        async with (
            serve(trickle(seconds=SLOW_SECONDS)) as slow,
            serve(answer({"ok": True})) as fast,
        ):
            template = AnalysisTemplate.from_manifest(
                web_template("slow", slow_ns, slow.url, SLOW_SECONDS)
            )
            for i in range(6):
                run = build_analysis_run(f"slow-{i}", slow_ns, [template], (), labels, time.time())
                await kube.create({**run.to_manifest(), "apiVersion": GROUP})
            steps = [
                {"setWeight": 50},
                {"analysis": {"templates": [{"templateName": "fast"}]}},
                {"pause": {"duration": "1s"}},
            ]
            manifest = rollout(namespace, steps=steps)
            manifest["metadata"]["labels"] = labels
            await create_all(
                kube, web_template("fast", namespace, fast.url), *services(namespace), manifest
            )
            ctl = Controller(
                kube,
                clock=WallClock(),
                api_groups=["progressive.dev"],
                instance_id=shard,
                informer_options=INFORMERS,
            )
            run_options = {"workers": 2, "analysis_workers": 4, "analysis_workers_per_namespace": 2}
            async with running(ctl, **run_options):
                await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"), WAIT)
                await until("the slow runs measured", _at_least(slow.requests, 2), WAIT)
                await client.set_image(kube, namespace, "web", "app", "example.invalid/web:2")
                await until(
                    "Healthy at web:2",
                    lambda: phase_is(kube, namespace, "Healthy", image="example.invalid/web:2"),
                    WAIT,
                )
                assert len(slow.requests) == 2  # the slow namespace's share, still held
                runs = await kube.list(GROUP, "AnalysisRun", namespace)
                assert len(fast.requests) == 1, [(r["metadata"]["name"], r["status"]) for r in runs]
    finally:
        await kube.delete(Ref("v1", "Namespace", "", slow_ns))


def _at_least(items: list[Any], n: int) -> Any:
    async def probe() -> bool:
        return len(items) >= n

    return probe
