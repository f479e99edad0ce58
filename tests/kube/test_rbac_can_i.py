"""Least privilege, as the API server's authorizer sees it: ``kubectl auth can-i
--as=system:serviceaccount:...`` (the kubectl the control plane build made) for the
default install and for a namespaced one, feature by feature."""

from __future__ import annotations

import subprocess
import time
from collections.abc import AsyncIterator

import pytest

from progressive import _deploy
from progressive._cluster import LocalControlPlane
from progressive._clusters import Ref
from progressive._shell.kube import KubeCluster
from progressive.cli._install import install_objects, manifests
from progressive.routers import DeclaredRouter, KubeAccess, default_registry

from ._e2e import homed

pytestmark = pytest.mark.kube

SA = f"system:serviceaccount:{_deploy.NAMESPACE}:{_deploy.SERVICE_ACCOUNT}"
#: someone else's router, and the access it declares (a kind this server does not
#: serve: kubectl auth can-i says no to those, a SubjectAccessReview answers)
CONTOUR = DeclaredRouter(
    "contour",
    access=(
        KubeAccess("projectcontour.io", "httpproxies", ("get", "list", "watch", "patch"), "w"),
    ),
)


async def allowed(
    cluster: KubeCluster, user: str, verb: str, group: str, resource: str, namespace: str
) -> bool:
    """What the authorizer answers a SubjectAccessReview for ``user``."""
    attributes = {"verb": verb, "group": group, "resource": resource, "namespace": namespace}
    review = await cluster.create(
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {"user": user, "resourceAttributes": attributes},
        }
    )
    return bool(review["status"].get("allowed"))


class CanI:
    def __init__(self, control_plane: LocalControlPlane, user: str) -> None:
        self.kubectl = str(control_plane.build().path("kubectl"))
        self.kubeconfig = str(control_plane.kubeconfig)
        self.user = user

    def __call__(
        self, verb: str, resource: str, namespace: str | None = None, subresource: str = ""
    ) -> bool:
        where = ["--all-namespaces"] if namespace is None else ["--namespace", namespace]
        if subresource:
            where.append(f"--subresource={subresource}")
        done = subprocess.run(
            [
                self.kubectl,
                f"--kubeconfig={self.kubeconfig}",
                "auth",
                "can-i",
                verb,
                resource,
                f"--as={self.user}",
                *where,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        answer = done.stdout.strip()
        assert answer in ("yes", "no"), done.stdout + done.stderr
        return answer == "yes"

    def eventually(self, verb: str, resource: str, namespace: str | None = None) -> bool:
        """The authorizer learns of new bindings from a watch: wait for a yes (5 s)."""
        deadline = time.monotonic() + 5.0
        while not self(verb, resource, namespace):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True


@pytest.fixture
async def admin(control_plane: LocalControlPlane) -> AsyncIterator[KubeCluster]:
    """The plane's administrator, with progressive.dev's CRDs served (``can-i`` says no
    for a kind the API server does not serve), so that each test stands alone."""
    async with await KubeCluster.from_kubeconfig(control_plane.kubeconfig) as cluster:
        await install_objects(
            cluster, [d for d in manifests() if d["kind"] == "CustomResourceDefinition"]
        )
        yield cluster


async def test_the_default_install_never_reaches_secrets_pods_or_jobs(
    admin: KubeCluster, control_plane: LocalControlPlane, namespace: str
) -> None:
    docs = [d for d in manifests() if d["kind"] != "Deployment"]
    await install_objects(admin, docs)
    can_i = CanI(control_plane, SA)
    assert can_i.eventually("list", "rollouts.progressive.dev")
    for where in (namespace, "kube-system", None):
        assert can_i("watch", "rollouts.progressive.dev", where)
        assert can_i("patch", "rollouts.progressive.dev", where, subresource="status")
        assert can_i("create", "replicasets.apps", where)
        assert can_i("patch", "services", where)
        assert not can_i("get", "secrets", where)
        assert not can_i("delete", "pods", where)
        assert not can_i("create", "jobs.batch", where)
        assert not can_i("patch", "rollouts.progressive.dev", where)
        assert not can_i("delete", "services", where)
        assert not can_i("create", "leases.coordination.k8s.io", where)
    assert can_i("create", "leases.coordination.k8s.io", _deploy.NAMESPACE)
    assert not can_i("create", "rolebindings.rbac.authorization.k8s.io", namespace)
    assert not can_i("create", "tokenreviews.authentication.k8s.io")


async def test_a_namespaced_install_reaches_its_namespace_only(
    admin: KubeCluster, control_plane: LocalControlPlane, namespace: str
) -> None:
    options = _deploy.InstallOptions(
        namespaces=[namespace],
        analysis_secrets=[namespace],
        job_provider=True,
        restarts=True,
        metrics_secure=True,
        extra_rules=_deploy.plugin_rules(default_registry().with_routers(CONTOUR)).rules,
    )
    docs = homed(_deploy.rbac(options), namespace)
    await install_objects(admin, docs)
    try:
        user = f"system:serviceaccount:{namespace}:{_deploy.SERVICE_ACCOUNT}"
        can_i = CanI(control_plane, user)
        assert can_i.eventually("list", "rollouts.progressive.dev", namespace)
        # the router plugin's rule, in its namespace only
        for verb, ns, answer in (
            ("patch", namespace, True),
            ("watch", namespace, True),
            ("delete", namespace, False),
            ("patch", "default", False),
        ):
            got = await allowed(admin, user, verb, "projectcontour.io", "httpproxies", ns)
            assert got is answer, (verb, ns)
        assert can_i("get", "secrets", namespace)
        assert can_i("delete", "pods", namespace)
        assert can_i("create", "jobs.batch", namespace)
        assert can_i("create", "leases.coordination.k8s.io", namespace)
        for where in ("kube-system", "default", None):
            assert not can_i("list", "rollouts.progressive.dev", where)
            assert not can_i("get", "secrets", where)
            assert not can_i("delete", "pods", where)
            assert not can_i("create", "jobs.batch", where)
            assert not can_i("patch", "services", where)
        # cluster-wide: the one cluster-scoped kind it reads, and the secure /metrics'
        # reviews
        assert can_i("list", "clusteranalysistemplates.progressive.dev")
        assert can_i("create", "tokenreviews.authentication.k8s.io")
        assert can_i("create", "subjectaccessreviews.authorization.k8s.io")
        assert not can_i("list", "secrets")
    finally:
        for doc in docs:
            if "namespace" not in doc["metadata"]:
                await admin.delete(Ref.of(doc))


async def test_notifications_read_their_configmap_and_secret_and_nothing_else(
    admin: KubeCluster, control_plane: LocalControlPlane, namespace: str
) -> None:
    """``--notifications``: the ConfigMap and Secret by name in the controller's own
    namespace (homed into the test's), and patching Rollouts where it reconciles."""
    options = _deploy.InstallOptions(namespaces=[namespace], notifications=True)
    docs = homed(_deploy.rbac(options), namespace)
    await install_objects(admin, docs)
    try:
        can_i = CanI(control_plane, f"system:serviceaccount:{namespace}:{_deploy.SERVICE_ACCOUNT}")
        assert can_i.eventually("get", "configmaps/argo-rollouts-notification-configmap", namespace)
        for name in ("progressive-notification-configmap",):
            assert can_i("get", f"configmaps/{name}", namespace)
        for name in ("argo-rollouts-notification-secret", "progressive-notification-secret"):
            assert can_i("get", f"secrets/{name}", namespace)
        assert can_i.eventually("patch", "rollouts.progressive.dev", namespace)  # another Role
        assert not can_i("get", "secrets/another-secret", namespace)
        assert not can_i("get", "configmaps/another-configmap", namespace)
        assert not can_i("list", "secrets", namespace)
        assert not can_i("list", "configmaps", namespace)
        for where in ("kube-system", None):
            assert not can_i("get", "secrets/argo-rollouts-notification-secret", where)
            assert not can_i("patch", "rollouts.progressive.dev", where)
    finally:
        for doc in docs:
            if "namespace" not in doc["metadata"]:
                await admin.delete(Ref.of(doc))
