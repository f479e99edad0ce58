"""The end-to-end suite, once per Rollout API group, each under the CRDs its users
install: ``progressive.dev`` with progressive's own, on the session's control plane, and
``argoproj.io`` with the CRDs Argo Rollouts publishes (read from the Go module cache),
on a second plane started for this module only -- one cluster holds the argoproj.io
CRDs of one maker, and the session's plane keeps none.  Canary through SMI and NGINX,
blue-green, an analysis step that passes and one that fails and aborts, and undo; no
status write may be refused (status writes are strict: a field the CRD lacks is
refused, not dropped).

On Argo's plane alone: the CRDs installed after the controller started are picked up
without a restart, the CLI shows the Rollouts of both groups, and a status the CRD
refuses stops the rollout where it is, says so, and never lets a new revision past its
first step.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import attrs
import pytest

from progressive import client
from progressive._cluster import CrdSources, LocalControlPlane, argo_crds, install_crds, smi_crds
from progressive._clusters import Ref
from progressive._deploy import _crds
from progressive._shell.kube import KubeCluster
from progressive.core._rollout import API_GROUPS
from progressive.errors import Invalid, NotFound
from progressive.metrics import ScriptedProvider

from ..conftest import logs_in_reports
from ._e2e import (
    HASH,
    blue_green,
    cli,
    controller,
    create_all,
    events,
    fresh_namespace,
    ingress,
    narrowed,
    phase_is,
    refused_nothing,
    refused_writes,
    replica_sets,
    rollout,
    router_weight,
    running,
    services,
    state,
    until,
)

pytestmark = pytest.mark.kube

ARGO, PROGRESSIVE = API_GROUPS
IMAGE_2 = "example.invalid/web:2"
CRD = "apiextensions.k8s.io/v1"


def argo_plane_crds() -> list[dict[str, Any]]:
    """Argo's argoproj.io CRDs, progressive's progressive.dev ones, SMI's TrafficSplit."""
    return [*argo_crds(), *_crds.crds(), *smi_crds(CrdSources().smi_sdk)]


@pytest.fixture(scope="module")
def argo_plane(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalControlPlane]:
    """A control plane of this module's own, started bare (no CRD at all); a failing
    test's report carries its logs too."""
    plane = LocalControlPlane(tmp_path_factory.mktemp("argo-plane"), startup_timeout=120.0)
    try:
        with logs_in_reports(request.config, "argoproj.io plane logs", plane):
            plane.up()
            yield plane
    finally:
        plane.down()


_INSTALLED: set[Path] = set()


def with_crds(plane: LocalControlPlane) -> LocalControlPlane:
    if plane.kubeconfig not in _INSTALLED:
        install_crds(plane.kubeconfig, argo_plane_crds(), timeout=60.0)
        _INSTALLED.add(plane.kubeconfig)
    return plane


@contextlib.asynccontextmanager
async def as_controller(
    admin: KubeCluster, plane: LocalControlPlane, namespace: str
) -> AsyncIterator[KubeCluster]:
    """The controller's identity: the rights of a namespaced install on ``namespace``
    alone, on both groups (``--argoproj``); on the way out, none of its requests may
    have been refused, neither forbidden (403) nor invalid (400, 422)."""
    async with (
        narrowed(admin, plane, namespace, argoproj=True) as config,
        refused_nothing(config, namespace) as sa,
    ):
        yield sa
        assert refused_writes(sa) == {}, "every write the controller made was accepted"


@attrs.frozen
class Target:
    """One test's cluster (``kube``: an admin, ``sa``: the controller), namespace and
    the Rollout apiVersion it runs."""

    plane: LocalControlPlane
    kube: KubeCluster
    sa: KubeCluster
    namespace: str
    api_version: str

    def rollout(self, **kw: Any) -> dict[str, Any]:
        return rollout(self.namespace, api_version=self.api_version, **kw)

    def controller(self, **kw: Any) -> Any:
        return controller(self.sa, self.namespace, api_groups=[self.api_version], **kw)


@pytest.fixture(params=[PROGRESSIVE, ARGO], ids=["progressive.dev", "argoproj.io"])
async def target(request: pytest.FixtureRequest) -> AsyncIterator[Target]:
    if request.param == ARGO:
        plane = with_crds(request.getfixturevalue("argo_plane"))
    else:
        plane = request.getfixturevalue("control_plane")
    async with await KubeCluster.from_kubeconfig(plane.kubeconfig) as kube:
        if request.param == PROGRESSIVE:
            install_crds(plane.kubeconfig, _crds.crds(), timeout=60.0)
        async with (
            fresh_namespace(kube) as namespace,
            as_controller(kube, plane, namespace) as sa,
        ):
            yield Target(plane, kube, sa, namespace, request.param)


# -- first, while Argo's plane has no CRD yet ---------------------------------------------


async def without_rollout_crds(kube: KubeCluster, plane: LocalControlPlane) -> None:
    """The plane as a cluster without any Rollout CRD (this test may run after others)."""
    names = [str(crd["metadata"]["name"]) for crd in argo_plane_crds()]
    for name in names:
        with contextlib.suppress(NotFound):
            await kube.delete(Ref(CRD, "CustomResourceDefinition", "", name))

    async def gone() -> bool:
        found = [await kube.get(Ref(CRD, "CustomResourceDefinition", "", n)) for n in names]
        return found == [None] * len(names)

    await until("the CRDs deleted", gone, 60.0)
    _INSTALLED.discard(plane.kubeconfig)


async def test_rollout_crds_installed_after_the_controller_started_are_picked_up(
    argo_plane: LocalControlPlane,
) -> None:
    async with await KubeCluster.from_kubeconfig(argo_plane.kubeconfig) as user:
        await without_rollout_crds(user, argo_plane)
        async with (
            fresh_namespace(user) as namespace,
            as_controller(user, argo_plane, namespace) as sa,
        ):
            # both groups asked for, neither served yet
            ctl = controller(sa, namespace, api_groups=None)
            async with running(ctl):
                await anyio.to_thread.run_sync(with_crds, argo_plane)
                argo = rollout(namespace, "argo", steps=[], router=None, api_version=ARGO)
                ours = rollout(namespace, "ours", steps=[], router=None, api_version=PROGRESSIVE)
                await create_all(
                    user, *services(namespace, "argo"), *services(namespace, "ours"), argo, ours
                )
                for name in ("argo", "ours"):
                    await until(
                        f"{name} Healthy",
                        lambda name=name: phase_is(user, namespace, "Healthy", name),
                        seconds=30,
                    )
            assert ctl.api_groups == (ARGO, PROGRESSIVE)
            # the plugin lists and gets the Rollouts of both groups
            listed = await cli(argo_plane, namespace, "list", "rollouts")
            assert listed.exit_code == 0, listed.output
            assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == ["argo", "ours"]
            for name in ("argo", "ours"):
                shown = await cli(argo_plane, namespace, "get", "rollout", name)
                assert shown.exit_code == 0 and "Healthy" in shown.stdout, shown.output


# -- the suite, for both groups ---------------------------------------------------------


@pytest.mark.parametrize("router", ["smi", "nginx"])
async def test_a_canary_runs_to_healthy_with_the_router_weights_at_each_step(
    target: Target, router: str
) -> None:
    kube, namespace = target.kube, target.namespace
    steps = [
        {"setWeight": 25},
        {"pause": {"duration": "1s"}},
        {"setWeight": 50},
        {"pause": {"duration": "2s"}},
    ]
    objects = [*services(namespace), target.rollout(steps=steps, router=router)]
    if router == "nginx":
        objects.insert(0, ingress(namespace))
    await create_all(kube, *objects)
    async with running(target.controller()):
        first = await until(
            "the first revision Healthy", lambda: phase_is(kube, namespace, "Healthy")
        )
        await client.set_image(kube, namespace, "web", "app", IMAGE_2)
        held: dict[int, int] = {}

        async def healthy_recording_pauses() -> Any:
            now = await state(kube, namespace)
            if now.phase == "Paused" and now.step is not None and now.step not in held:
                held[now.step] = await router_weight(kube, namespace, router)
            return await phase_is(kube, namespace, "Healthy", image=IMAGE_2)

        final = await until("Healthy at web:2", healthy_recording_pauses)
        assert held == {1: 25, 3: 50}
        assert final.current != first.current and final.stable == final.current
        assert await router_weight(kube, namespace, router) == 0  # all on the new stable
        stable = await kube.get(Ref("v1", "Service", namespace, "web-stable"))
        assert stable is not None and stable["spec"]["selector"][HASH] == final.current

        async def old_scaled_down() -> bool:
            return await replica_sets(kube, namespace) == {first.current: 0, final.current: 4}

        await until("the old ReplicaSet scaled down after its delay", old_scaled_down)
        await until("the scale subresource shows the pods", scale_shows(target, 4, "app=web"))
    seen = await events(kube, namespace)
    for weight in (25, 50):
        assert seen[f"SetWeight: Set canary weight to {weight}"] == 1


async def test_blue_green_previews_then_switches_when_promoted(target: Target) -> None:
    kube, namespace = target.kube, target.namespace
    manifest = blue_green(namespace, api_version=target.api_version, autoPromotionEnabled=False)
    await create_all(kube, *services(namespace, roles=("active", "preview")), manifest)

    async def selects(service: str) -> str:
        found = await kube.get(Ref("v1", "Service", namespace, f"web-{service}"))
        assert found is not None
        return str(found["spec"]["selector"].get(HASH))

    async with running(target.controller()):
        first = await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"))
        await client.set_image(kube, namespace, "web", "app", IMAGE_2)
        paused = await until("Paused", lambda: phase_is(kube, namespace, "Paused", image=IMAGE_2))
        selected = (await selects("active"), await selects("preview"))
        assert selected == (first.current, paused.current)
        assert await replica_sets(kube, namespace) == {first.current: 4, paused.current: 4}
        # an HPA scales on the active pods alone, the preview's are not counted (Argo's
        # HPAReplicas and selector for a blue-green Rollout with an active ReplicaSet)
        active_only = f"app=web,{HASH}={first.current}"
        await until("the scale subresource at the active", scale_shows(target, 4, active_only))
        result = await cli(target.plane, namespace, "promote", "web")
        assert result.exit_code == 0, result.output
        final = await until("Healthy", lambda: phase_is(kube, namespace, "Healthy", image=IMAGE_2))
        assert final.current == paused.current == await selects("active")

        async def old_scaled_down() -> bool:
            return await replica_sets(kube, namespace) == {first.current: 0, final.current: 4}

        await until("the old ReplicaSet scaled down after its delay", old_scaled_down)
        switched = f"app=web,{HASH}={final.current}"
        await until("the scale subresource at the new active", scale_shows(target, 4, switched))


def scale_shows(target: Target, replicas: int, selector: str) -> Any:
    """A probe: the Rollout's scale subresource (what an HPA and ``kubectl scale`` read)
    shows ``replicas`` pods and ``selector``; it reads ``status.HPAReplicas`` under
    both groups' CRDs."""
    ref = Ref(target.api_version, "Rollout", target.namespace, "web")

    async def probe() -> bool:
        scale = await target.kube.get(ref, subresource="scale")
        assert scale is not None
        return bool(scale.get("status") == {"replicas": replicas, "selector": selector})

    return probe


def analysis_template(namespace: str, api_version: str) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "AnalysisTemplate",
        "metadata": {"name": "success-rate", "namespace": namespace},
        "spec": {
            "metrics": [
                {
                    "name": "success-rate",
                    "successCondition": "result >= 0.95",
                    "provider": {"prometheus": {"address": "http://127.0.0.1:9", "query": "q"}},
                }
            ]
        },
    }


ANALYSIS_STEPS = [
    {"setWeight": 40},
    {"analysis": {"templates": [{"templateName": "success-rate"}]}},
]


async def test_an_analysis_step_that_passes_lets_the_rollout_complete(target: Target) -> None:
    kube, namespace = target.kube, target.namespace
    manifest = target.rollout(steps=ANALYSIS_STEPS, router=None)
    template = analysis_template(namespace, target.api_version)
    await create_all(kube, template, *services(namespace), manifest)
    provider = ScriptedProvider({"success-rate": [0.99]})
    async with running(target.controller(provider=provider)):
        await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"))
        await client.set_image(kube, namespace, "web", "app", IMAGE_2)
        final = await until("Healthy", lambda: phase_is(kube, namespace, "Healthy", image=IMAGE_2))
    assert final.stable == final.current
    (run,) = await kube.list(target.api_version, "AnalysisRun", namespace)
    assert run["status"]["phase"] == "Successful"
    (measured,) = run["status"]["metricResults"][0]["measurements"]
    assert measured["value"] == "0.99"


async def test_a_failing_analysis_aborts(target: Target) -> None:
    kube, namespace = target.kube, target.namespace
    manifest = target.rollout(steps=ANALYSIS_STEPS, abortScaleDownDelaySeconds=2)
    await create_all(
        kube, analysis_template(namespace, target.api_version), *services(namespace), manifest
    )
    provider = ScriptedProvider({"success-rate": [0.5]})  # the canary is failing
    async with running(target.controller(provider=provider)):
        first = await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"))
        await client.set_image(kube, namespace, "web", "app", IMAGE_2)
        degraded = await until("Degraded", lambda: phase_is(kube, namespace, "Degraded"))
        at = time.monotonic()
        assert degraded.aborted and "success-rate" in degraded.message
        assert await router_weight(kube, namespace, "smi") == 0
        canary = next(h for h in await replica_sets(kube, namespace) if h != first.current)

        async def canary_scaled_down() -> bool:
            return (await replica_sets(kube, namespace))[canary] == 0

        await until("the canary scaled down", canary_scaled_down)
        assert time.monotonic() - at > 1.0, "abortScaleDownDelaySeconds (2s) was honoured"
        assert (await replica_sets(kube, namespace))[first.current] == 4
    runs = await kube.list(target.api_version, "AnalysisRun", namespace)
    assert [r["status"]["phase"] for r in runs] == ["Failed"]
    assert (await state(kube, namespace)).phase == "Degraded"


async def test_undo_rolls_back_to_the_previous_revision(target: Target) -> None:
    kube, namespace = target.kube, target.namespace
    manifest = target.rollout(steps=[{"setWeight": 50}], router=None)
    await create_all(kube, *services(namespace), manifest)
    async with running(target.controller()):
        first = await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"))
        await client.set_image(kube, namespace, "web", "app", IMAGE_2)
        second = await until("Healthy", lambda: phase_is(kube, namespace, "Healthy", image=IMAGE_2))
        result = await cli(target.plane, namespace, "undo", "web")
        assert result.exit_code == 0, result.output
        back = await until(
            "Healthy at web:1",
            lambda: phase_is(kube, namespace, "Healthy", image="example.invalid/web:1"),
        )
    assert back.current == back.stable == first.current != second.current  # its ReplicaSet
    assert await replica_sets(kube, namespace) == {first.current: 4, second.current: 0}


# -- on Argo's plane alone ----------------------------------------------------------------


def argo_rollout_crd() -> dict[str, Any]:
    (crd,) = [c for c in argo_crds() if c["spec"]["names"]["kind"] == "Rollout"]
    return crd


def refusing_stable_rs() -> dict[str, Any]:
    """Argo's Rollout CRD, but its status schema refuses any ``stableRS``: every status
    the controller writes is refused, and no stable revision can ever be recorded."""
    crd = copy.deepcopy(argo_rollout_crd())
    status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    status["properties"]["stableRS"]["maxLength"] = 0
    return crd


async def stable_rs_refused(kube: KubeCluster, namespace: str) -> bool:
    """Whether the server refuses a status with a ``stableRS`` now (a CRD change takes
    effect a moment after it is stored)."""
    probe = await kube.create(rollout(namespace, "probe", steps=[], api_version=ARGO))
    try:
        await kube.replace_status({**probe, "status": {"stableRS": "x"}})
    except Invalid:
        return True
    finally:
        await kube.delete(Ref.of(probe))
    return False


async def test_a_refused_status_never_lets_a_new_revision_past_its_first_step(
    argo_plane: LocalControlPlane,
) -> None:
    with_crds(argo_plane)
    config = argo_plane.kubeconfig
    async with (
        await KubeCluster.from_kubeconfig(config) as user,
        fresh_namespace(user) as namespace,
        narrowed(user, argo_plane, namespace, argoproj=True) as sa_config,
        refused_nothing(sa_config, namespace) as sa,
    ):
        await anyio.to_thread.run_sync(lambda: install_crds(config, [refusing_stable_rs()]))
        try:
            await until("stableRS refused", lambda: stable_rs_refused(user, namespace))
            steps = [{"setWeight": 25}, {"pause": {"duration": "1s"}}, {"setWeight": 50}]
            manifest = rollout(namespace, steps=steps, router=None, api_version=ARGO)
            await create_all(user, *services(namespace), manifest)
            async with running(controller(sa, namespace, api_groups=[ARGO])):

                async def deployed() -> str | None:
                    sizes = await replica_sets(user, namespace)
                    return next(iter(sizes), None) if list(sizes.values()) == [4] else None

                first = await until("the first revision's 4 pods", deployed)
                refusal = await until("the Warning Event", lambda: refusals(user, namespace))
                assert "stableRS" in refusal[0] and "422" in refusal[0]

                async def reported() -> dict[str, Any] | None:
                    found = await user.get(Ref(ARGO, "Rollout", namespace, "web")) or {}
                    for c in (found.get("status") or {}).get("conditions") or ():
                        if c["type"] == "Progressing":
                            return dict(c)
                    return None

                condition = await until("the condition", reported)
                stored = await user.get(Ref(ARGO, "Rollout", namespace, "web"))
                assert stored is not None
                assert condition["status"] == "False"
                assert condition["reason"] == "ReconciliationError"
                assert condition["message"] == refusal[0]
                assert "stableRS" not in stored["status"], "no stable revision recorded"

                await client.set_image(user, namespace, "web", "app", IMAGE_2)
                before = (await until("", lambda: refusals(user, namespace)))[1]
                largest: dict[str, int] = {}

                async def refused_again_and_again() -> bool:
                    for pod_hash, size in (await replica_sets(user, namespace)).items():
                        largest[pod_hash] = max(size, largest.get(pod_hash, 0))
                    again = (await until("", lambda: refusals(user, namespace)))[1] - before
                    return len(largest) == 2 and again >= 4

                await until("four more refusals", refused_again_and_again)
            # the first step's 25% (1 pod of 4), never the whole new revision
            (new,) = set(largest) - {first}
            assert largest[new] == 1
            assert (await replica_sets(user, namespace))[first] >= 3
        finally:
            await anyio.to_thread.run_sync(lambda: install_crds(config, [argo_rollout_crd()]))
            await until("stableRS accepted", lambda: not_(stable_rs_refused(user, namespace)))


async def refusals(kube: KubeCluster, namespace: str) -> tuple[str, int] | None:
    """The ReconciliationError Warning about the Rollout web, and how often it was made."""
    found = [
        (message, count)
        for key, count in (await events(kube, namespace)).items()
        for reason, _, message in [key.partition(": ")]
        if reason == "ReconciliationError"
    ]
    assert len(found) <= 1, found
    return found[0] if found else None


async def not_(probe: Any) -> bool:
    return not await probe
