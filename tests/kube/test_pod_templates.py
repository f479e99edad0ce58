"""The real API server's defaults: a pod template and the copy of it a ReplicaSet stores
are the same template for progressive.core._pod_templates (what ``undo`` relies on)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from progressive._shell.kube import KubeCluster
from progressive.core._pod_templates import normalized, same_pod_template

pytestmark = pytest.mark.kube

HTTP_GET = {"httpGet": {"port": 8080}}
TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "web"}, "annotations": {"team": "shop"}},
    "spec": {
        "serviceAccountName": "default",
        "initContainers": [{"name": "init", "image": "busybox", "command": ["true"]}],
        "containers": [
            {
                "name": "web",
                "image": "example.invalid/web:1",
                "ports": [{"name": "http", "containerPort": 8080}],
                "resources": {
                    "requests": {"cpu": "0.25", "memory": "64Mi"},
                    "limits": {"cpu": 1, "memory": "0.5Gi"},
                },
                "readinessProbe": HTTP_GET,
                "livenessProbe": {"grpc": {"port": 9090}, "periodSeconds": 5},
                "startupProbe": {"tcpSocket": {"port": 8080}},
                "lifecycle": {"preStop": HTTP_GET},
                "env": [
                    {"name": "A", "value": "1"},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                ],
                "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
            },
            {"name": "sidecar", "image": "example.invalid/proxy@sha256:" + "a" * 64},
        ],
        "volumes": [
            {"name": "cache"},
            {"name": "config", "configMap": {"name": "web"}},
            {"name": "secret", "secret": {"secretName": "web"}},
            {"name": "host", "hostPath": {"path": "/tmp"}},
            {
                "name": "info",
                "downwardAPI": {
                    "items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]
                },
            },
            {
                "name": "token",
                "projected": {"sources": [{"serviceAccountToken": {"path": "t", "audience": "x"}}]},
            },
        ],
    },
}


async def stored_copy(kube: KubeCluster, namespace: str, template: dict[str, Any]) -> Any:
    """``template`` as the server stores it in a ReplicaSet (of no replicas)."""
    labeled = copy.deepcopy(template)
    labeled["metadata"]["labels"]["rollouts-pod-template-hash"] = "abc"
    created = await kube.create(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "web-abc", "namespace": namespace},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": labeled["metadata"]["labels"]},
                "template": labeled,
            },
        }
    )
    return created["spec"]["template"]


async def test_a_template_and_the_copy_a_replica_set_stores_are_the_same(
    kube: KubeCluster, namespace: str
) -> None:
    stored = await stored_copy(kube, namespace, TEMPLATE)
    without_label = copy.deepcopy(stored)
    del without_label["metadata"]["labels"]["rollouts-pod-template-hash"]
    assert without_label != TEMPLATE, "the server filled in defaults"
    assert same_pod_template(TEMPLATE, stored)
    assert normalized(TEMPLATE) == normalized(stored)
    changed = copy.deepcopy(TEMPLATE)
    changed["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "0.3"
    assert not same_pod_template(changed, stored)
