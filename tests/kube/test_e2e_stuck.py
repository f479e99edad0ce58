"""End to end on the real control plane: states that used to look like "waiting for
canary pods" for ever now explain themselves, with a Warning Event, and clear on their
own when the cause goes away."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from progressive import client
from progressive._cluster import LocalControlPlane
from progressive._clusters import Ref
from progressive._shell.kube import KubeCluster
from progressive.core._rollout import pod_template_hash
from progressive.errors import ApiNotFound
from progressive.routers import default_registry

from ._e2e import (
    GROUP,
    Timer,
    controller,
    create_all,
    phase_is,
    replica_sets,
    rollout,
    running,
    services,
    state,
    until,
)

pytestmark = pytest.mark.kube

SMI_CRD = Ref(
    "apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "trafficsplits.split.smi-spec.io"
)


async def invalid_spec(kube: KubeCluster, namespace: str) -> str | None:
    """The InvalidSpec condition's message, once the Rollout has one."""
    now = await state(kube, namespace)
    for condition in now.manifest.get("status", {}).get("conditions") or ():
        if condition.get("type") == "InvalidSpec" and condition.get("status") == "True":
            return str(condition.get("message"))
    return None


async def warnings(kube: KubeCluster, namespace: str) -> dict[str, int]:
    """``reason: message`` -> count, of the Warning Events about the Rollout web."""
    return {
        f"{e['reason']}: {e['message']}": int(e.get("count") or 1)
        for e in await kube.list("v1", "Event", namespace)
        if e.get("type") == "Warning"
        and (e.get("involvedObject") or {}).get("kind") == "Rollout"
        and (e.get("involvedObject") or {}).get("name") == "web"
    }


def routed(namespace: str, routing: dict[str, Any]) -> dict[str, Any]:
    obj = rollout(namespace, steps=[{"setWeight": 50}, {"pause": {}}], router=None)
    obj["spec"]["strategy"]["canary"]["trafficRouting"] = routing
    return obj


async def test_a_router_the_controller_does_not_implement_is_an_invalid_spec(
    kube: KubeCluster, sa: KubeCluster, namespace: str
) -> None:
    # every Argo router is built in: a plugin that is not installed
    routing = {"plugins": {"example.com/kong": {"route": "web"}}}
    await create_all(kube, *services(namespace), routed(namespace, routing))
    registry = default_registry()
    plugins = ", ".join(
        p for key in registry.keys for p in getattr(registry.get(key), "plugin_names", ())
    )
    message = (
        "spec.strategy.canary.trafficRouting.plugins.example.com/kong: the traffic router "
        f"plugin 'example.com/kong' is not installed (plugins answered: {plugins}; routers: "
        f"{', '.join(registry.keys)})"
    )
    async with running(controller(sa, namespace)):
        assert await until("InvalidSpec", lambda: invalid_spec(kube, namespace)) == message
        seen = await until("the Warning Event", lambda: warnings(kube, namespace))
    assert seen == {f"InvalidSpec: {message}": 1}
    now = await state(kube, namespace)
    assert (now.phase, now.message) == ("Degraded", f"InvalidSpec: {message}")
    assert await kube.list("apps/v1", "ReplicaSet", namespace) == []


async def served(kube: KubeCluster, api_version: str) -> bool:
    """Whether the server lists ``api_version`` now (no cache)."""
    try:
        await kube.request("get", "GET", f"/apis/{api_version}")
    except ApiNotFound:
        return False
    return True


async def serve_smi_version(kube: KubeCluster, version: str, serve: bool) -> None:
    """Serve (or stop serving) one version of the session's TrafficSplit CRD, and wait
    until the server's discovery says so."""
    crd = await kube.get(SMI_CRD)
    assert crd is not None
    versions = crd["spec"]["versions"]
    for entry in versions:
        if entry["name"] == version:
            entry["served"] = serve
    await kube.patch(SMI_CRD, {"spec": {"versions": versions}})
    api_version = f"split.smi-spec.io/{version}"

    async def done() -> bool:
        return await served(kube, api_version) == serve

    await until(f"{api_version} served={serve}", done)


@contextlib.asynccontextmanager
async def smi_version_unserved(kube: KubeCluster, version: str) -> AsyncIterator[None]:
    """The session's TrafficSplit CRD without ``version`` inside the block (as on a
    cluster where it is not installed), served again after it whatever happens."""
    await serve_smi_version(kube, version, False)
    try:
        yield
    finally:
        await serve_smi_version(kube, version, True)


async def test_a_router_kind_the_server_does_not_serve_is_an_invalid_spec_until_it_does(
    kube: KubeCluster, sa: KubeCluster, namespace: str
) -> None:
    await create_all(kube, *services(namespace), routed(namespace, {"smi": {}}))
    message = (
        "spec.strategy.canary.trafficRouting.smi: the API server serves no TrafficSplit "
        "(split.smi-spec.io/v1alpha1), which the smi router writes: is its CRD installed?"
    )
    async with smi_version_unserved(kube, "v1alpha1"):
        kube.discovery.invalidate()
        async with running(controller(sa, namespace)):
            assert await until("InvalidSpec", lambda: invalid_spec(kube, namespace)) == message
            seen = await until("the Warning Event", lambda: warnings(kube, namespace))
            assert seen == {f"InvalidSpec: {message}": 1}
            assert (await state(kube, namespace)).phase == "Degraded"
            assert await kube.list("apps/v1", "ReplicaSet", namespace) == []
            # served again: the Rollout moves on by itself, nothing else changed
            await serve_smi_version(kube, "v1alpha1", True)
            since = Timer()
            healthy = await until(
                "Healthy", lambda: phase_is(kube, namespace, "Healthy"), seconds=30
            )
            assert since() < 15, "looked at again every 5 s, discovery asked again after 5 s"
    assert await invalid_spec(kube, namespace) is None
    assert healthy.current is not None


def template(namespace: str, name: str = "rate") -> dict[str, Any]:
    return {
        "apiVersion": GROUP,
        "kind": "AnalysisTemplate",
        "metadata": {"name": name, "namespace": namespace},
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


async def test_a_missing_analysis_template_is_named_and_its_creation_moves_the_rollout(
    kube: KubeCluster, sa: KubeCluster, namespace: str
) -> None:
    steps = [{"setWeight": 50}, {"analysis": {"templates": [{"templateName": "rate"}]}}]
    await create_all(kube, *services(namespace), rollout(namespace, steps=steps, router=None))
    message = (
        "spec.strategy.canary.steps[1].analysis.templates[0]: AnalysisTemplate 'rate' not found"
    )
    async with running(controller(sa, namespace)):
        assert await until("InvalidSpec", lambda: invalid_spec(kube, namespace)) == message
        seen = await until("the Warning Event", lambda: warnings(kube, namespace))
        assert seen == {f"InvalidSpec: {message}": 1}
        assert (await state(kube, namespace)).phase == "Degraded"
        await create_all(kube, template(namespace))
        since = Timer()
        await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"))
        assert since() < 5, "the template's creation queues the Rollout, without backoff"
    assert await invalid_spec(kube, namespace) is None
    assert await kube.list(GROUP, "AnalysisRun", namespace) == []  # none tried meanwhile


async def test_an_analysis_that_cannot_be_built_is_named_and_no_run_is_tried(
    kube: KubeCluster, sa: KubeCluster, namespace: str
) -> None:
    """A template that needs an arg the Rollout does not give, then a template that does
    not read: InvalidSpec naming each with a Warning Event, and no AnalysisRun (it used
    to be an Error run without metrics, refused by the API server in a loop).  Fixing
    the template moves the Rollout on."""
    steps = [{"setWeight": 50}, {"analysis": {"templates": [{"templateName": "rate"}]}}]
    needs_arg = template(namespace)
    needs_arg["spec"]["args"] = [{"name": "service"}]
    await create_all(
        kube, needs_arg, *services(namespace), rollout(namespace, steps=steps, router=None)
    )
    at = "spec.strategy.canary.steps[1].analysis"
    no_value = (
        f"{at}.args: argument 'service' has no value and was not supplied "
        "(AnalysisTemplate/rate.spec.args[0])"
    )
    ref = Ref(GROUP, "AnalysisTemplate", namespace, "rate")
    async with running(controller(sa, namespace)):
        assert await until("InvalidSpec", lambda: invalid_spec(kube, namespace)) == no_value
        await until("its Warning Event", _has_warning(kube, namespace, no_value))
        assert (await state(kube, namespace)).phase == "Degraded"
        unreadable = {
            "args": [{"name": "service", "value": "web"}],
            "metrics": [
                {
                    "name": "rate",
                    "successCondition": "result >=",
                    "provider": {"prometheus": {"query": "q"}},
                }
            ],
        }
        await kube.patch(ref, {"spec": unreadable})

        async def invalid_template() -> str | None:
            message = await invalid_spec(kube, namespace)
            return message if message and "is invalid" in message else None

        message = await until("InvalidSpec naming the template", invalid_template)
        assert message.startswith(
            f"{at}.templates[0]: AnalysisTemplate 'rate' is invalid: "
            "spec.metrics[0].successCondition: "
        ), message
        await until("its Warning Event", _has_warning(kube, namespace, message))
        assert await kube.list(GROUP, "AnalysisRun", namespace) == []  # none tried
        fixed = template(namespace)["spec"]
        await kube.patch(ref, {"spec": {**fixed, "args": [{"name": "service", "value": "web"}]}})
        await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"), seconds=30)
    assert await invalid_spec(kube, namespace) is None


def _has_warning(kube: KubeCluster, namespace: str, message: str) -> Any:
    async def probe() -> bool:
        return f"InvalidSpec: {message}" in await warnings(kube, namespace)

    return probe


def blue_green(namespace: str) -> dict[str, Any]:
    obj = rollout(namespace, steps=[], router=None, replicas=2)
    obj["spec"]["strategy"] = {
        "blueGreen": {
            "activeService": "web-stable",
            "previewService": "web-canary",
            "autoPromotionEnabled": False,
            "scaleDownDelaySeconds": 1,
        }
    }
    return obj


async def undo(control_plane: LocalControlPlane, namespace: str) -> str:
    """``progressive undo web``, as a user runs it."""
    argv = [
        sys.executable,
        "-m",
        "progressive",
        f"--kubeconfig={control_plane.kubeconfig}",
        f"--namespace={namespace}",
        "undo",
        "web",
    ]
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    done = await anyio.run_process(argv, check=False, env=env)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


@pytest.mark.parametrize("strategy", ["canary", "blueGreen"])
async def test_undo_on_a_real_cluster_reuses_the_old_replica_set(
    kube: KubeCluster,
    sa: KubeCluster,
    namespace: str,
    control_plane: LocalControlPlane,
    strategy: str,
) -> None:
    paused_update = [{"setWeight": 50}, {"pause": {}}]
    manifest = (
        rollout(namespace, steps=paused_update, router=None, replicas=2)
        if strategy == "canary"
        else blue_green(namespace)
    )
    await create_all(kube, *services(namespace), manifest)
    async with running(controller(sa, namespace)):
        first = await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"))
        await client.set_image(kube, namespace, "web", "app", "example.invalid/web:2")
        paused = await until("Paused", lambda: phase_is(kube, namespace, "Paused"))
        assert paused.current != first.current
        assert await undo(control_plane, namespace) == "rollout 'web' rolled back to revision 1\n"
        # the template is revision 1's as the API server stored it: defaults filled in,
        # another hash; the controller finds revision 1's ReplicaSet all the same
        undone = await state(kube, namespace)
        stored_template = undone.manifest["spec"]["template"]
        assert pod_template_hash(stored_template) != first.current
        final = await client.wait_for(kube, namespace, "web", timeout=30)
        assert (final.current, final.stable) == (first.current, first.current)
        want = {first.current: 2, paused.current: 0}
        assert await until("no third ReplicaSet", lambda: sets_are(kube, namespace, want)) == want
    reasons = await warnings(kube, namespace)
    assert reasons == {}, "no Warning on the way"


async def sets_are(kube: KubeCluster, namespace: str, want: dict[str | None, int]) -> Any:
    found = await replica_sets(kube, namespace)
    return found if found == want else None
