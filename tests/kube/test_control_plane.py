"""The local control plane is a real Kubernetes: ReplicaSets get Ready Pods (kwok),
the routers' CRDs are served and validated, and ``down`` stops every process."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from progressive._cluster import (
    LocalControlPlane,
    Versions,
    ensure_binaries,
    is_running,
    smi_v1beta1_to_v1,
    wrapper_gomod,
)
from progressive._cluster._gomod import module_download, staging_modules

kube = pytest.mark.kube

SMI_VERSIONS = ("v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4")


async def _poll(what: str, probe: Any, *, seconds: float = 60.0, interval: float = 0.2) -> Any:
    """Await ``probe()`` until it returns something truthy; at most ``seconds`` s."""
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {seconds}s waiting for {what} (last: {last!r})")


@kube
async def test_a_replicaset_of_three_gets_three_ready_pods(
    kube_api: ApiClient, namespace: str
) -> None:
    labels = {"app": "web"}
    replica_set = client.V1ReplicaSet(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1ReplicaSetSpec(
            replicas=3,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    containers=[client.V1Container(name="web", image="example.invalid/web:1")]
                ),
            ),
        ),
    )
    await client.AppsV1Api(kube_api).create_namespaced_replica_set(namespace, replica_set)
    core = client.CoreV1Api(kube_api)

    async def ready_pods() -> list[str]:
        pods = await core.list_namespaced_pod(namespace, label_selector="app=web")
        ready = [
            pod.metadata.name
            for pod in pods.items
            if any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
        ]
        return ready if len(ready) == 3 else []

    names = await _poll("3 Ready Pods", ready_pods, seconds=60.0)
    assert len(set(names)) == 3

    async def rs_ready() -> bool:
        rs = await client.AppsV1Api(kube_api).read_namespaced_replica_set("web", namespace)
        return rs.status.ready_replicas == 3

    await _poll("the ReplicaSet's readyReplicas == 3", rs_ready, seconds=30.0)


def _virtual_service(weight: object) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "web"},
        "spec": {
            "hosts": ["web"],
            "http": [
                {
                    "name": "primary",
                    "route": [
                        {"destination": {"host": "web-stable"}, "weight": weight},
                        {"destination": {"host": "web-canary"}, "weight": 0},
                    ],
                }
            ],
        },
    }


def _http_route(weight: int) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web"},
        "spec": {
            "parentRefs": [{"name": "gateway"}],
            "rules": [
                {
                    "backendRefs": [
                        {"name": "web-stable", "port": 80, "weight": weight},
                        {"name": "web-canary", "port": 80, "weight": 0},
                    ]
                }
            ],
        },
    }


def _traffic_split(version: str, *, backends: bool = True) -> dict[str, Any]:
    weight: object = "1" if version == "v1alpha1" else 100  # a Quantity in v1alpha1
    spec: dict[str, Any] = {"service": "web"}
    if backends:
        spec["backends"] = [{"service": "web-stable", "weight": weight}]
    return {
        "apiVersion": f"split.smi-spec.io/{version}",
        "kind": "TrafficSplit",
        "metadata": {"name": f"web-{version}"},
        "spec": spec,
    }


def _apisix_route(weight: int) -> dict[str, Any]:
    backend = {"serviceName": "web-canary", "servicePort": 80, "weight": weight}
    return {
        "apiVersion": "apisix.apache.org/v2",
        "kind": "ApisixRoute",
        "metadata": {"name": "web" if weight >= 0 else "bad"},
        "spec": {"http": [{"name": "web", "match": {"paths": ["/*"]}, "backends": [backend]}]},
    }


def _mapping() -> dict[str, Any]:
    return {
        "apiVersion": "getambassador.io/v2",
        "kind": "Mapping",
        "metadata": {"name": "web"},
        "spec": {"prefix": "/web/", "service": "web-canary:80", "weight": 25},
    }


def _traefik_service(service: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "TraefikService",
        "metadata": {"name": "web" if "name" in service else "bad"},
        "spec": {"weighted": {"services": [service]}},
    }


def _virtual_router(weight: int) -> dict[str, Any]:
    targets = [
        {"virtualNodeRef": {"name": "web-vn-canary"}, "weight": weight},
        {"virtualNodeRef": {"name": "web-vn-stable"}, "weight": 100 - weight},
    ]
    return {
        "apiVersion": "appmesh.k8s.aws/v1beta2",
        "kind": "VirtualRouter",
        "metadata": {"name": "web" if 0 <= weight <= 100 else "bad"},
        "spec": {
            "listeners": [{"portMapping": {"port": 80, "protocol": "http"}}],
            "routes": [
                {
                    "name": "primary",
                    "httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": targets}},
                }
            ],
        },
    }


@kube
async def test_router_crds_are_served_and_reject_invalid_objects(
    kube_api: ApiClient, namespace: str
) -> None:
    custom = client.CustomObjectsApi(kube_api)

    async def create(group: str, version: str, plural: str, body: dict[str, Any]) -> Any:
        return await custom.create_namespaced_custom_object(group, version, namespace, plural, body)

    istio = ("networking.istio.io", "v1", "virtualservices")
    gateway = ("gateway.networking.k8s.io", "v1", "httproutes")

    created = await create(*istio, _virtual_service(100))
    assert created["spec"]["http"][0]["route"][0]["weight"] == 100
    await create(*gateway, _http_route(100))
    await create("apisix.apache.org", "v2", "apisixroutes", _apisix_route(100))
    await create("getambassador.io", "v2", "mappings", _mapping())
    for group in ("traefik.io", "traefik.containo.us"):
        body = {
            **_traefik_service({"name": "web-canary", "weight": 1}),
            "apiVersion": f"{group}/v1alpha1",
        }
        await create(group, "v1alpha1", "traefikservices", body)
    appmesh = ("appmesh.k8s.aws", "v1beta2")
    await create(*appmesh, "virtualrouters", _virtual_router(25))
    await create(
        *appmesh,
        "virtualservices",
        {
            "apiVersion": "appmesh.k8s.aws/v1beta2",
            "kind": "VirtualService",
            "metadata": {"name": "web"},
            "spec": {"provider": {"virtualRouter": {"virtualRouterRef": {"name": "web"}}}},
        },
    )
    await create(
        *appmesh,
        "virtualnodes",
        {
            "apiVersion": "appmesh.k8s.aws/v1beta2",
            "kind": "VirtualNode",
            "metadata": {"name": "web-vn-canary"},
            "spec": {"podSelector": {"matchLabels": {"rollouts-pod-template-hash": "abc"}}},
        },
    )
    for version in SMI_VERSIONS:
        await create("split.smi-spec.io", version, "trafficsplits", _traffic_split(version))
    listed = await custom.list_namespaced_custom_object(
        "split.smi-spec.io", "v1alpha2", namespace, "trafficsplits"
    )
    assert len(listed["items"]) == len(SMI_VERSIONS)  # one storage, every version served

    invalid = [
        (istio, {**_virtual_service("heavy"), "metadata": {"name": "bad"}}),  # not an int
        (gateway, {**_http_route(-1), "metadata": {"name": "bad"}}),  # below minimum 0
        (
            ("split.smi-spec.io", "v1alpha4", "trafficsplits"),
            _traffic_split("v1alpha4", backends=False),  # backends is required
        ),
        (
            ("apisix.apache.org", "v2", "apisixroutes"),
            _apisix_route(-1),  # below minimum 0
        ),
        (
            ("traefik.io", "v1alpha1", "traefikservices"),
            _traefik_service({"port": 80, "weight": 1}),  # a weighted service needs a name
        ),
        (
            ("getambassador.io", "v2", "mappings"),
            {**_mapping(), "metadata": {"name": "bad"}, "spec": {"prefix": "/web/"}},  # no service
        ),
        (("appmesh.k8s.aws", "v1beta2", "virtualrouters"), _virtual_router(120)),  # above 100
    ]
    for (group, version, plural), body in invalid:
        with pytest.raises(ApiException) as rejected:
            await create(group, version, plural, body)
        assert rejected.value.status == 422, (plural, rejected.value.body)
        assert "Invalid" in str(rejected.value.body)


@kube
def test_down_leaves_no_process_behind(tmp_path: Path) -> None:
    ensure_binaries()  # built by the session's control plane at the latest
    plane = LocalControlPlane(tmp_path / "plane", nodes=1, startup_timeout=120.0)
    try:
        plane.up()
        state = plane.state
        assert state is not None
        records = state.processes
        assert [r.name for r in records] == [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
        ]
        assert all(is_running(r) for r in records)
        assert plane.is_up()
    finally:
        killed = plane.down(timeout=15.0)
    assert killed == []  # every component stopped on SIGTERM
    for record in records:
        assert not is_running(record), record
        assert not Path(f"/proc/{record.pid}").exists(), record  # reaped, not a zombie
    assert not plane.is_up()
    after = plane.state
    assert after is not None and after.processes == ()


_GOMOD = """module k8s.io/kubernetes

go 1.26.0

require (
\tgo.etcd.io/etcd/server/v3 v3.6.8 // indirect
\tk8s.io/api v0.0.0
\tk8s.io/kube-openapi v0.0.0-20260317180543-43fb72c5454a
\tk8s.io/client-go v0.0.0 // indirect
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tk8s.io/sample-controller => ./staging/src/k8s.io/sample-controller
)
"""


def test_the_wrapper_replaces_every_staging_module_with_its_published_version() -> None:
    assert staging_modules(_GOMOD) == ["k8s.io/api", "k8s.io/client-go", "k8s.io/sample-controller"]
    gomod = wrapper_gomod(Versions(kubernetes="v1.36.3", etcd="v3.6.8"), _GOMOD)
    assert "\tk8s.io/kubernetes v1.36.3\n" in gomod
    assert "\tgo.etcd.io/etcd/server/v3 v3.6.8\n" in gomod
    assert "\tk8s.io/sample-controller => k8s.io/sample-controller v0.36.3\n" in gomod
    assert "kube-openapi =>" not in gomod  # a pseudo-version, not a staging module
    assert "go 1.26.0" in gomod


@kube
def test_every_staging_module_of_the_real_kubernetes_is_found() -> None:
    gomod = module_download("k8s.io/kubernetes", Versions().kubernetes).gomod_text()
    found = staging_modules(gomod)
    assert len(found) >= 33 and "k8s.io/sample-controller" in found
    assert found == sorted(set(found))


def test_the_smi_crd_becomes_apiextensions_v1_serving_every_listed_version() -> None:
    v1beta1 = {
        "apiVersion": "apiextensions.k8s.io/v1beta1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "trafficsplits.split.smi-spec.io"},
        "spec": {
            "group": "split.smi-spec.io",
            "scope": "Namespaced",
            "names": {"kind": "TrafficSplit", "plural": "trafficsplits"},
            "version": "v1alpha4",
            "versions": [
                {"name": "v1alpha4", "served": True, "storage": True},
                {"name": "v1alpha1", "served": False, "storage": False},
            ],
            "additionalPrinterColumns": [
                {"name": "Service", "type": "string", "JSONPath": ".spec.service"}
            ],
            "validation": {
                "openAPIV3Schema": {
                    "properties": {
                        "spec": {
                            "type": "object",
                            "properties": {
                                "backends": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {"weight": {"type": "number"}},
                                    },
                                }
                            },
                        }
                    }
                }
            },
        },
    }
    only_listed = smi_v1beta1_to_v1(v1beta1, serve_all_versions=False)
    assert [(v["name"], v["served"]) for v in only_listed["spec"]["versions"]] == [
        ("v1alpha4", True),
        ("v1alpha1", False),
    ]
    crd = smi_v1beta1_to_v1(v1beta1, serve_all_versions=True)
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert "version" not in crd["spec"] and "validation" not in crd["spec"]
    v4, v1 = crd["spec"]["versions"]
    assert (v4["served"], v4["storage"], v1["served"], v1["storage"]) == (True, True, True, False)
    assert v4["schema"]["openAPIV3Schema"]["type"] == "object"
    assert v4["additionalPrinterColumns"] == [
        {"name": "Service", "type": "string", "description": "", "jsonPath": ".spec.service"}
    ]

    def weight(version: dict[str, Any]) -> dict[str, Any]:
        spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        result: dict[str, Any] = spec["properties"]["backends"]["items"]["properties"]["weight"]
        return result

    assert weight(v4) == {"type": "number"}
    assert weight(v1) == {"x-kubernetes-int-or-string": True}  # a resource.Quantity
    assert "version" in v1beta1["spec"]  # the input is left as it was
