"""The Helm chart installs on the local control plane: `helm install` of a namespaced
release (its own namespace, one watched namespace), its ServiceAccount gets exactly the
rights the values ask for, a controller with that ServiceAccount's token reconciles a
Rollout in the watched namespace, and `helm uninstall` removes it all."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from progressive import _deploy
from progressive._cluster import LocalControlPlane
from progressive._clusters import Ref
from progressive._shell.kube import KubeCluster

from ._e2e import (
    controller,
    create_all,
    phase_is,
    refused_nothing,
    rollout,
    running,
    services,
    token_config,
    until,
)
from .test_rbac_can_i import CanI

pytestmark = pytest.mark.kube

CHART = Path(__file__).resolve().parents[2] / "deploy" / "chart"


async def test_helm_install_a_namespaced_release(
    helm: str, kube: KubeCluster, control_plane: LocalControlPlane, namespace: str
) -> None:
    release = f"{namespace}-progressive"
    base = [helm, f"--kubeconfig={control_plane.kubeconfig}", f"--namespace={release}"]
    with anyio.fail_after(120):
        installed = await anyio.run_process(
            [
                *base,
                "install",
                "progressive",
                str(CHART),
                "--create-namespace",
                f"--set=rbac.namespaces={{{namespace}}}",
                f"--set=rbac.analysisSecrets={{{namespace}}}",
            ],
            check=False,
        )
    assert installed.returncode == 0, installed.stderr.decode()
    try:
        deployment = await kube.get(Ref("apps/v1", "Deployment", release, _deploy.NAME))
        assert deployment is not None
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        assert f"--namespace={namespace}" in args
        can_i = CanI(control_plane, f"system:serviceaccount:{release}:{_deploy.SERVICE_ACCOUNT}")
        assert can_i.eventually("list", "rollouts.progressive.dev", namespace)
        assert can_i("get", "secrets", namespace)
        assert can_i("create", "leases.coordination.k8s.io", release)
        for where in ("kube-system", "default"):
            assert not can_i("list", "rollouts.progressive.dev", where)
            assert not can_i("get", "secrets", where)
        assert not can_i("delete", "pods", namespace), "no restarts asked for"
        assert not can_i("create", "jobs.batch", namespace), "no job provider asked for"

        config = await token_config(kube, control_plane, release, _deploy.SERVICE_ACCOUNT)
        await create_all(kube, *services(namespace), rollout(namespace, steps=[], router=None))
        async with refused_nothing(config, namespace) as sa, running(controller(sa, namespace)):
            await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"))
    finally:
        with anyio.fail_after(120):
            uninstalled = await anyio.run_process([*base, "uninstall", "progressive"], check=False)
        await kube.delete(Ref("v1", "Namespace", "", release))
    assert uninstalled.returncode == 0, uninstalled.stderr.decode()
    role = Ref("rbac.authorization.k8s.io/v1", "ClusterRole", "", f"{_deploy.NAME}-cluster")
    assert await kube.get(role) is None, "uninstalled"
