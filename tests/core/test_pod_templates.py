"""Pod templates compared as the API server stores them (the real server's defaults are
checked in tests/kube/test_pod_templates.py)."""

from __future__ import annotations

import copy
from typing import Any

import attrs
import pytest

from progressive.core._pod_templates import (
    TEMPLATE_DIGEST_ANNOTATION,
    adopt_replica_set,
    normalized,
    same_pod_template,
    template_digest,
)
from progressive.core._rollout import Rollout, pod_template_hash

from .world import canary_manifest

RAW: dict[str, Any] = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {
        "containers": [
            {
                "name": "web",
                "image": "example/web:1",
                "ports": [{"containerPort": 8080}],
                "resources": {"requests": {"cpu": "0.5", "memory": "1Gi"}},
                "readinessProbe": {"httpGet": {"port": 8080}},
                "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            }
        ],
        "volumes": [{"name": "cache"}, {"name": "config", "configMap": {"name": "web"}}],
    },
}

# RAW as a ReplicaSet made from it stores it (the API server's defaults, quantities in
# their canonical form, the hash label, the null a Go client writes)
STORED: dict[str, Any] = {
    "metadata": {
        "creationTimestamp": None,
        "labels": {"app": "web", "rollouts-pod-template-hash": "abc"},
    },
    "spec": {
        "containers": [
            {
                "name": "web",
                "image": "example/web:1",
                "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
                "readinessProbe": {
                    "httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"},
                    "timeoutSeconds": 1,
                    "periodSeconds": 10,
                    "successThreshold": 1,
                    "failureThreshold": 3,
                },
                "env": [
                    {
                        "name": "POD",
                        "valueFrom": {
                            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}
                        },
                    }
                ],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }
        ],
        "volumes": [
            {"name": "cache", "emptyDir": {}},
            {"name": "config", "configMap": {"name": "web", "defaultMode": 420}},
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "securityContext": {},
        "schedulerName": "default-scheduler",
    },
}


def test_a_template_and_its_stored_copy_are_the_same() -> None:
    assert STORED != RAW
    assert same_pod_template(RAW, STORED)
    assert normalized(STORED) == normalized(normalized(STORED))  # idempotent
    assert "rollouts-pod-template-hash" not in normalized(STORED)["metadata"]["labels"]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "containers", 0, "image"), "example/web:2"),
        (("spec", "containers", 0, "imagePullPolicy"), "Always"),
        (("spec", "containers", 0, "resources", "requests", "cpu"), "501m"),
        (("spec", "volumes", 0), {"name": "cache", "hostPath": {"path": "/tmp"}}),
        (("spec", "dnsPolicy"), "Default"),
        (("metadata", "labels", "app"), "shop"),
    ],
)
def test_any_other_difference_is_a_different_template(
    path: tuple[str | int, ...], value: object
) -> None:
    changed = copy.deepcopy(STORED)
    at: Any = changed
    for key in path[:-1]:
        at = at[key]
    at[path[-1]] = value
    assert not same_pod_template(RAW, changed)


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("web", "Always"),
        ("web:latest", "Always"),
        ("registry:5000/web", "Always"),
        ("registry:5000/web:1", "IfNotPresent"),
        ("web@sha256:" + "a" * 64, "IfNotPresent"),
        ("web:latest@sha256:" + "a" * 64, "Always"),
    ],
)
def test_the_pull_policy_default_follows_the_tag(image: str, policy: str) -> None:
    template = {"spec": {"containers": [{"name": "c", "image": image}]}}
    assert normalized(template)["spec"]["containers"][0]["imagePullPolicy"] == policy


@pytest.mark.parametrize(
    ("a", "b"),
    [("0.5", "500m"), (1, "1000m"), ("1Gi", "1073741824"), ("1e3", "1k"), ("0.0001", "1m")],
)
def test_quantities_compare_by_value_rounded_up_to_thousandths(a: object, b: object) -> None:
    def with_cpu(value: object) -> dict[str, Any]:
        return {"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": value}}}]}}

    assert same_pod_template(with_cpu(a), with_cpu(b))


def test_a_huge_quantity_is_left_as_it_is() -> None:
    template = {"spec": {"overhead": {"cpu": "1e999999999"}}}
    assert normalized(template)["spec"]["overhead"] == {"cpu": "1e999999999"}


def replica_set(name: str, template: dict[str, Any], pod_hash: str, created: str) -> dict[str, Any]:
    labels = {**template["metadata"]["labels"], "rollouts-pod-template-hash": pod_hash}
    stored = {**template, "metadata": {**template["metadata"], "labels": labels}}
    return {
        "metadata": {"name": name, "labels": labels, "creationTimestamp": created},
        "spec": {"template": stored},
    }


def test_an_undone_template_adopts_the_replica_set_it_was_copied_from() -> None:
    rollout = attrs.evolve(Rollout.from_manifest(canary_manifest([])), template=RAW)
    own = rollout.template_hash()
    assert own == pod_template_hash(RAW)
    old = replica_set("web-old", STORED, "old", "2024-01-01T00:00:00Z")
    newer = replica_set("web-newer", STORED, "newer", "2024-01-02T00:00:00Z")
    other = replica_set(
        "web-other", {**RAW, "spec": {"containers": []}}, "x", "2023-01-01T00:00:00Z"
    )
    copied = copy.deepcopy(STORED)  # what undo writes: the stored template, hash label out
    del copied["metadata"]["labels"]["rollouts-pod-template-hash"]
    undone = attrs.evolve(rollout, template=copied)
    adopted = adopt_replica_set(undone, [newer, other, old])
    assert adopted.template_hash() == "old"  # the oldest equal one, as Argo
    assert adopt_replica_set(undone, [other]).template_hash() == pod_template_hash(copied)
    # a ReplicaSet carrying the template's own hash is the one: nothing adopted
    mine = replica_set("web-mine", RAW, own, "2025-01-01T00:00:00Z")
    assert adopt_replica_set(rollout, [old, mine]) is rollout


def test_a_cached_replica_set_without_its_template_is_compared_by_its_digest() -> None:
    # the informers' caches drop the template; the controller annotated the digest of
    # the template it made the ReplicaSet from
    trimmed = replica_set("web-old", STORED, "old", "2024-01-01T00:00:00Z")
    del trimmed["spec"]["template"]
    copied = copy.deepcopy(STORED)
    del copied["metadata"]["labels"]["rollouts-pod-template-hash"]
    undone = attrs.evolve(Rollout.from_manifest(canary_manifest([])), template=copied)
    assert adopt_replica_set(undone, [trimmed]) is undone  # nothing to compare with
    trimmed["metadata"]["annotations"] = {TEMPLATE_DIGEST_ANNOTATION: template_digest(RAW)}
    assert adopt_replica_set(undone, [trimmed]).template_hash() == "old"
