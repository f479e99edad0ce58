"""What the least-privilege install leaves out, asked for anyway: a ``job`` metric, a
``secretKeyRef``, ``spec.restartAt``.  Each refusal says how to grant the right
(``progressive install`` option, Helm value), where the user looks (the measurement and
the run's message; a Warning Event on the Rollout), and is not asked again and again.
On the local control plane, as a controller with the rights of a namespaced install."""

from __future__ import annotations

import time
from typing import Any

import pytest

from progressive import _deploy
from progressive._clusters import Ref
from progressive._shell.clocks import VirtualClock
from progressive._shell.controller import Controller
from progressive._shell.kube import KubeCluster
from progressive._shell.restarts import REFUSED_RETRY_SECONDS, RESTART_BEFORE
from progressive._shell.runs import advance_analysis_run
from progressive.cli._install import install, install_objects
from progressive.core._analysis import build_analysis_run
from progressive.core._analysis_model import AnalysisTemplate
from progressive.core._names import HASH_LABEL, RESTART_REFUSED_ANNOTATION
from progressive.core._state import RESTART_FORBIDDEN
from progressive.core._times import format_time
from progressive.errors import Forbidden
from progressive.metrics import default_registry

from ..shell.helpers import until
from ._e2e import homed, refused_nothing

pytestmark = pytest.mark.kube

GROUP = "progressive.dev/v1alpha1"


def refusals(cluster: KubeCluster) -> dict[str, int]:
    return {verb: n for (verb, code), n in cluster.requests.items() if code == "403"}


async def measured_once(
    admin: KubeCluster, sa: KubeCluster, namespace: str, metric: dict[str, Any]
) -> dict[str, Any]:
    """An AnalysisRun of ``metric`` (an Error ends it), measured once as ``sa``: its
    stored status."""
    template = AnalysisTemplate.from_manifest(
        {
            "apiVersion": GROUP,
            "kind": "AnalysisTemplate",
            "metadata": {"name": "t", "namespace": namespace},
            "spec": {"metrics": [{"consecutiveErrorLimit": 0, **metric}]},
        }
    )
    run = build_analysis_run("run", namespace, [template], (), None, time.time())
    manifest = {**run.to_manifest(), "apiVersion": GROUP}
    created = await admin.create(manifest)
    await advance_analysis_run(sa, default_registry(sa), created, time.time())
    stored = await admin.get(Ref(GROUP, "AnalysisRun", namespace, "run"))
    assert stored is not None
    return dict(stored["status"])


def test_the_hints_name_real_install_options_and_helm_values() -> None:
    from progressive._deploy import GRANTS, InstallOptions, values

    flags = {opt for p in install.params for opt in p.opts}
    chart = values(InstallOptions())
    for field, (flag, value) in GRANTS.items():
        assert flag in flags and hasattr(InstallOptions(), field)
        section, key = value.split(".")
        assert key in chart[section], value


async def test_a_job_metric_says_to_install_with_job_provider(
    kube: KubeCluster, sa_config: dict[str, Any], namespace: str
) -> None:
    async with refused_nothing(sa_config, namespace, strict=False) as sa:
        status = await measured_once(
            kube,
            sa,
            namespace,
            {
                "name": "smoke",
                "provider": {
                    "job": {
                        "spec": {"template": {"spec": {"containers": [], "restartPolicy": "Never"}}}
                    }
                },
            },
        )
        assert refusals(sa) == {"get": 1}  # asked once, not retried
    hint = "install it with progressive install --job-provider (Helm: rbac.jobProvider=true)"
    (measurement,) = status["metricResults"][0]["measurements"]
    assert measurement["phase"] == "Error"
    assert measurement["message"].startswith(
        f"job run-smoke-1: the controller may not run Jobs in namespace {namespace}: {hint} ("
    )
    assert "forbidden" in measurement["message"]  # the API server's own words, after
    assert status["phase"] == "Error" and hint in status["message"]  # what the Rollout shows


async def test_a_secret_says_to_install_with_analysis_secrets(
    kube: KubeCluster, sa_config: dict[str, Any], namespace: str
) -> None:
    async with refused_nothing(sa_config, namespace, strict=False) as sa:
        status = await measured_once(
            kube,
            sa,
            namespace,
            {
                "name": "web",
                "provider": {
                    "web": {
                        "url": "http://127.0.0.1:9/never-asked",
                        "headers": [
                            {
                                "key": "Authorization",
                                "value": {"secretKeyRef": {"name": "creds", "key": "token"}},
                            }
                        ],
                    }
                },
            },
        )
        assert refusals(sa) == {"get": 1}
    hint = (
        f"install it with progressive install --analysis-secrets={namespace} "
        f"(Helm: rbac.analysisSecrets={{{namespace}}})"
    )
    (measurement,) = status["metricResults"][0]["measurements"]
    assert measurement["message"].startswith(
        f"secret {namespace}/creds: the controller may not read Secrets in namespace "
        f"{namespace}: {hint} ("
    )
    assert status["phase"] == "Error" and hint in status["message"]


async def test_a_refused_restart_is_explained_once_and_tried_again_later(
    kube: KubeCluster, sa_config: dict[str, Any], namespace: str
) -> None:
    rollout = await kube.create(
        {
            "apiVersion": GROUP,
            "kind": "Rollout",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": "web:1"}]},
                },
                "strategy": {"canary": {}},
            },
        }
    )
    uid = rollout["metadata"]["uid"]
    clock = VirtualClock(time.time())
    rs_ref = Ref("apps/v1", "ReplicaSet", namespace, "web-1")
    await kube.create(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": "web-1",
                "namespace": namespace,
                "labels": {HASH_LABEL: "1"},
                "annotations": {RESTART_BEFORE: format_time(clock.now())},
                "ownerReferences": [
                    {"apiVersion": GROUP, "kind": "Rollout", "name": "web", "uid": uid}
                ],
            },
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web", "rs": "1"}},
                "template": {
                    "metadata": {"labels": {"app": "web", "rs": "1"}},
                    "spec": {"containers": [{"name": "app", "image": "web:1"}]},
                },
            },
        }
    )

    async def warnings() -> list[dict[str, Any]]:
        events = await kube.list("v1", "Event", namespace)
        return [e for e in events if e.get("reason") == RESTART_FORBIDDEN]

    async with refused_nothing(sa_config, namespace, strict=False) as sa:
        controller = Controller(sa, clock=clock, namespace=namespace)
        await controller.settle(until=clock.now() + 1)
        assert refusals(sa) == {"list": 1}
        (warning,) = await warnings()
        assert warning["type"] == "Warning" and warning["count"] == 1
        assert warning["involvedObject"]["kind"] == "Rollout"
        assert warning["involvedObject"]["uid"] == uid
        assert warning["message"].startswith(
            f"cannot restart the pods of ReplicaSet web-1: the controller may not list and "
            f"delete pods in namespace {namespace}: install it with progressive install "
            "--restarts (Helm: rbac.restarts=true); trying again every 5m ("
        )
        # the Rollout's status says it too, from the note on the ReplicaSet
        rs = await kube.get(rs_ref)
        assert rs is not None
        assert rs["metadata"]["annotations"][RESTART_REFUSED_ANNOTATION] == warning["message"]
        stored = await kube.get(Ref(GROUP, "Rollout", namespace, "web"))
        assert stored is not None
        (failure,) = [c for c in stored["status"]["conditions"] if c["type"] == "ReplicaFailure"]
        assert (failure["status"], failure["reason"]) == ("True", RESTART_FORBIDDEN)
        assert failure["message"] == warning["message"]
        # the ReplicaSet changes: still not asked again before the time is up
        await kube.patch(rs_ref, {"metadata": {"labels": {"touched": "1"}}})
        clock.advance(REFUSED_RETRY_SECONDS - 10)
        await controller.settle(until=clock.now() + 1)
        assert refusals(sa) == {"list": 1}
        # then it is: the mark is kept, the same Warning counted again
        await controller.settle(until=clock.now() + 20)
        assert refusals(sa) == {"list": 2}
        (warning,) = await warnings()
        assert warning["count"] == 2
        rs = await kube.get(rs_ref)
        assert rs is not None and RESTART_BEFORE in rs["metadata"]["annotations"]  # kept
        # granted the right (as progressive install --restarts would), the restart goes
        # on at the next try: no old pod, so it is done; the refusal is no longer shown
        options = _deploy.InstallOptions(namespaces=[namespace], restarts=True)
        await install_objects(kube, homed(_deploy.rbac(options), namespace))
        await until("pods may be listed", lambda: may_list_pods(sa, namespace), 30)
        await controller.settle(until=clock.now() + REFUSED_RETRY_SECONDS + 60)
        rs = await kube.get(rs_ref)
        assert rs is not None
        annotations = rs["metadata"].get("annotations") or {}
        assert RESTART_BEFORE not in annotations and RESTART_REFUSED_ANNOTATION not in annotations
        stored = await kube.get(Ref(GROUP, "Rollout", namespace, "web"))
        assert stored is not None
        assert "ReplicaFailure" not in [c["type"] for c in stored["status"]["conditions"]]


async def may_list_pods(cluster: KubeCluster, namespace: str) -> bool:
    try:
        await cluster.list("v1", "Pod", namespace)
    except Forbidden:
        return False
    return True
