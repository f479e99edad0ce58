"""What the end-to-end tests (test_e2e_*.py) share: a cluster with the progressive.dev
CRDs, a controller run in this process on one namespace, Rollouts with short pauses,
reading the routers' objects back, and waiting on state (never on time alone)."""

from __future__ import annotations

import contextlib
import copy
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import yaml
from click.testing import CliRunner, Result

from progressive import _deploy
from progressive._cluster import LocalControlPlane
from progressive._clusters import Ref
from progressive._shell.clocks import WallClock
from progressive._shell.controller import Controller
from progressive._shell.kube import KubeCluster
from progressive.cli import main
from progressive.cli._install import install_objects
from progressive.client import RolloutState, get_rollout
from progressive.errors import Forbidden, NotFound

GROUP = "progressive.dev/v1alpha1"
HASH = "rollouts-pod-template-hash"
SMI = "split.smi-spec.io/v1alpha1"
NGINX_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
#: informers reconnect fast in tests (an API server restart)
INFORMERS: dict[str, Any] = {"backoff_initial": 0.1, "backoff_max": 1.0}

T = TypeVar("T")


def controller(kube: KubeCluster, namespace: str, **kw: Any) -> Controller:
    kw.setdefault("api_groups", ["progressive.dev"])
    kw.setdefault("informer_options", INFORMERS)
    return Controller(kube, clock=WallClock(), namespace=namespace, **kw)


@contextlib.asynccontextmanager
async def running(ctl: Controller, **run: Any) -> AsyncIterator[Controller]:
    """``ctl`` running (informers synced) inside the block, cancelled after it."""
    async with anyio.create_task_group() as tg:
        await tg.start(lambda task_status: ctl.run(task_status=task_status, **run))
        yield ctl
        tg.cancel_scope.cancel()


async def until(what: str, probe: Callable[[], Awaitable[T | None]], seconds: float = 20.0) -> T:
    """Await ``probe()`` every 20 ms until it returns something truthy."""
    deadline = time.monotonic() + seconds
    while True:
        found = await probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}")
        await anyio.sleep(0.02)


def services(
    namespace: str, app: str = "web", roles: tuple[str, ...] = ("canary", "stable")
) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"{app}-{role}", "namespace": namespace},
            "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": 8080}]},
        }
        for role in roles
    ]


def ingress(namespace: str, name: str = "web") -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [
                {
                    "host": "web.example",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {
                                    "service": {"name": f"{name}-stable", "port": {"number": 80}}
                                },
                            }
                        ]
                    },
                }
            ],
        },
    }


def rollout(
    namespace: str,
    name: str = "web",
    *,
    steps: list[dict[str, Any]],
    router: str | None = "smi",
    replicas: int = 4,
    image: str = "example.invalid/web:1",
    api_version: str = GROUP,
    **canary: Any,
) -> dict[str, Any]:
    strategy: dict[str, Any] = {
        "canaryService": f"{name}-canary",
        "stableService": f"{name}-stable",
        "scaleDownDelaySeconds": 1,
        "steps": steps,
        **canary,
    }
    if router == "smi":
        strategy["trafficRouting"] = {"smi": {}}
    elif router == "nginx":
        strategy["trafficRouting"] = {"nginx": {"stableIngress": name}}
    return _rollout(namespace, name, replicas, image, api_version, {"canary": strategy})


def blue_green(
    namespace: str,
    name: str = "web",
    *,
    replicas: int = 4,
    image: str = "example.invalid/web:1",
    api_version: str = GROUP,
    **fields: Any,
) -> dict[str, Any]:
    """A blue-green Rollout with Services ``<name>-active`` and ``<name>-preview``."""
    strategy = {
        "activeService": f"{name}-active",
        "previewService": f"{name}-preview",
        "scaleDownDelaySeconds": 1,
        **fields,
    }
    return _rollout(namespace, name, replicas, image, api_version, {"blueGreen": strategy})


def _rollout(
    namespace: str,
    name: str,
    replicas: int,
    image: str,
    api_version: str,
    strategy: dict[str, Any],
) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            "strategy": strategy,
        },
    }


async def state(kube: KubeCluster, namespace: str, name: str = "web") -> RolloutState:
    found = await get_rollout(kube, namespace, name)
    assert found is not None, f"Rollout {namespace}/{name} is gone"
    return RolloutState.of(found)


async def phase_is(
    kube: KubeCluster, namespace: str, phase: str, name: str = "web", *, image: str | None = None
) -> RolloutState | None:
    """The state when the Rollout is in ``phase`` (at ``image``, when given)."""
    now = await state(kube, namespace, name)
    if now.phase != phase:
        return None
    if image is not None:
        containers = now.manifest["spec"]["template"]["spec"]["containers"]
        if containers[0]["image"] != image or now.current is None:
            return None
        if now.observed_generation < now.generation:
            return None
    return now


async def router_weight(kube: KubeCluster, namespace: str, router: str, name: str = "web") -> int:
    """The canary weight the router's own object holds (0 when it has none)."""
    if router == "smi":
        split = await kube.get(Ref(SMI, "TrafficSplit", namespace, name))
        if split is None:
            return 0
        for backend in split["spec"]["backends"]:
            if backend["service"] == f"{name}-canary":
                return int(backend["weight"])
        return 0
    canary = await kube.get(
        Ref("networking.k8s.io/v1", "Ingress", namespace, f"{name}-{name}-canary")
    )
    if canary is None:
        return 0
    return int((canary["metadata"].get("annotations") or {}).get(NGINX_WEIGHT) or 0)


async def replica_sets(kube: KubeCluster, namespace: str) -> dict[str, int]:
    """spec.replicas of every ReplicaSet the Rollouts own, by pod-template hash."""
    return {
        rs["metadata"]["labels"][HASH]: int(rs["spec"].get("replicas") or 0)
        for rs in await kube.list("apps/v1", "ReplicaSet", namespace)
        if HASH in (rs["metadata"].get("labels") or {})
    }


async def events(kube: KubeCluster, namespace: str, name: str = "web") -> dict[str, int]:
    """``reason: message`` -> count, of the Events about the Rollout."""
    return {
        f"{e['reason']}: {e['message']}": int(e.get("count") or 1)
        for e in await kube.list("v1", "Event", namespace)
        if (e.get("involvedObject") or {}).get("name") == name
        and (e.get("involvedObject") or {}).get("kind") == "Rollout"
    }


async def create_all(kube: KubeCluster, *objects: dict[str, Any]) -> None:
    for obj in objects:
        await kube.create(obj)


@contextlib.asynccontextmanager
async def fresh_namespace(kube: KubeCluster) -> AsyncIterator[str]:
    """A new namespace (its ``default`` ServiceAccount made, so Pods can be created at
    once), deleted afterwards without waiting for its finalization."""
    name = f"t-{secrets.token_hex(4)}"
    await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    async def account() -> bool:
        return await kube.get(Ref("v1", "ServiceAccount", name, "default")) is not None

    await until("the default ServiceAccount", account, 30.0)
    try:
        yield name
    finally:
        await kube.delete(Ref("v1", "Namespace", "", name))


def refused_writes(kube: KubeCluster) -> dict[tuple[str, str], int]:
    """The writes the API server refused as invalid (400, 422), by (verb, code)."""
    return {
        (verb, code): n
        for (verb, code), n in kube.requests.items()
        if code in ("400", "422") and verb in ("create", "update", "patch")
    }


def cli(plane: LocalControlPlane, namespace: str, *args: str) -> Awaitable[Result]:
    """``progressive --kubeconfig ... -n NAMESPACE ARGS`` (the kubectl plugin), in a
    thread: it runs an event loop of its own."""
    argv = ["--kubeconfig", str(plane.kubeconfig), "-n", namespace, *args]
    return anyio.to_thread.run_sync(lambda: CliRunner().invoke(main, argv, catch_exceptions=False))


class Timer:
    """Seconds since it was made."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self.start


def homed(docs: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """An install's RBAC moved into ``namespace``: its ServiceAccount and
    leader-election Role there instead of progressive-system, its cluster-scoped objects
    renamed ``NAME-<namespace>``, so that each test has a controller identity of its own
    and the session's default install grants it nothing."""
    out = copy.deepcopy(docs)
    for doc in out:
        meta = doc["metadata"]
        if meta.get("namespace") == _deploy.NAMESPACE:
            meta["namespace"] = namespace
        elif "namespace" not in meta:
            meta["name"] = f"{meta['name']}-{namespace}"
            if doc["kind"] == "ClusterRoleBinding":
                doc["roleRef"]["name"] = f"{doc['roleRef']['name']}-{namespace}"
        for subject in doc.get("subjects") or ():
            subject["namespace"] = namespace
    return out


async def token_config(
    admin: KubeCluster, control_plane: LocalControlPlane, namespace: str, account: str
) -> dict[str, Any]:
    """A kubeconfig (as a dict) with a fresh token of ServiceAccount namespace/account."""
    request = await admin.request(
        "create",
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
        body={
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        },
    )
    server = yaml.safe_load(control_plane.kubeconfig.read_text())["clusters"][0]["cluster"]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": server}],
        "users": [{"name": "sa", "user": {"token": request["status"]["token"]}}],
        "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa"}}],
        "current-context": "sa",
    }


async def _authorized(cluster: KubeCluster, namespace: str | None) -> None:
    for _ in range(200):  # the authorizer learns of new bindings from a watch
        try:
            await cluster.list(GROUP, "Rollout", namespace)
            return
        except Forbidden:
            await anyio.sleep(0.05)


@contextlib.asynccontextmanager
async def as_service_account(
    admin: KubeCluster, control_plane: LocalControlPlane
) -> AsyncIterator[KubeCluster]:
    """A KubeCluster with the controller ServiceAccount's token (``progressive install``
    made it and its RBAC), as the controller runs in its Pod."""
    config = await token_config(admin, control_plane, _deploy.NAMESPACE, _deploy.SERVICE_ACCOUNT)
    async with await KubeCluster.from_kubeconfig_dict(config) as cluster:
        await _authorized(cluster, None)
        yield cluster


@contextlib.asynccontextmanager
async def narrowed(
    admin: KubeCluster, control_plane: LocalControlPlane, namespace: str, **options: Any
) -> AsyncIterator[dict[str, Any]]:
    """The kubeconfig (a dict) of a controller with exactly the rights of a namespaced
    install on ``namespace`` alone (``progressive install --watch-namespace``,
    :func:`homed` into it): what the end-to-end tests run their controllers with."""
    docs = homed(_deploy.rbac(_deploy.InstallOptions(namespaces=[namespace], **options)), namespace)
    await install_objects(admin, docs)
    try:
        yield await token_config(admin, control_plane, namespace, _deploy.SERVICE_ACCOUNT)
    finally:
        for doc in docs:
            if "namespace" not in doc["metadata"]:
                with contextlib.suppress(NotFound):
                    await admin.delete(Ref.of(doc))


@contextlib.asynccontextmanager
async def refused_nothing(
    config: dict[str, Any], namespace: str, *, strict: bool = True
) -> AsyncIterator[KubeCluster]:
    """A KubeCluster on ``config``, once its rights are in force; on the way out, the
    check that none of its requests was refused (a controller that lacks a right
    degrades quietly: a kind it may not list is not watched).  ``strict=False`` skips
    the check: an API server just restarted refuses everyone until its RBAC cache has
    synced."""
    async with await KubeCluster.from_kubeconfig_dict(config) as cluster:
        await _authorized(cluster, namespace)
        before = dict(cluster.requests)  # the 403s of waiting for the authorizer
        yield cluster
        refused = {
            key: n - before.get(key, 0)
            for key, n in cluster.requests.items()
            if key[1] == "403" and n > before.get(key, 0)
        }
        assert not (strict and refused), f"the controller was refused {refused}"


@contextlib.asynccontextmanager
async def controller_process(
    command: list[str], **kw: Any
) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """``command`` (a controller) running inside the block, with no proxy for
    127.0.0.1; yields ``stop()``: SIGTERM, and the exit status must be 0 (its stderr
    in the failure).  Killed on the way out if still running."""
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    process = await anyio.open_process(command, env=env, stderr=subprocess.PIPE, **kw)

    async def stop() -> None:
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(15):
            code = await process.wait()
        assert process.stderr is not None
        log = (await process.stderr.receive(65536)).decode(errors="replace") if code else ""
        assert code == 0, log

    try:
        yield stop
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.aclose()


def progressive_controller(kubeconfig: Path, namespace: str, *flags: str) -> list[str]:
    """``python -m progressive controller`` on one namespace, the progressive.dev group."""
    return [
        sys.executable,
        "-m",
        "progressive",
        "controller",
        f"--kubeconfig={kubeconfig}",
        f"--namespace={namespace}",
        "--api-groups=progressive.dev",
        "--shutdown-grace=5",
        *flags,
    ]
