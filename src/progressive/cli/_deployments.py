"""A stand-in for Kubernetes' Deployment controller, on the in-memory cluster.

``--memory`` runs it beside the Rollout controller so that a Deployment (the one
``migrate deployment`` starts from) has pods, as on a real cluster: each Deployment
owns one ReplicaSet per pod template (labelled ``pod-template-hash``), the current one
at ``spec.replicas`` and the others at 0 (a template change replaces the pods at once:
there is no rolling update here), and its ``status`` counts their pods.  The
MemoryCluster's pod simulator does the rest.  Scaling the Deployment down, as a
Rollout's ``workloadRef.scaleDown`` asks, removes its pods.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from progressive._clusters import Cluster, Ref, owned_by, owner_reference
from progressive.core._lenient import as_int as _int
from progressive.core._rollout import pod_template_hash

__all__ = ["DEPLOYMENT_HASH_LABEL", "sync_deployments"]

DEPLOYMENT_HASH_LABEL: Final = "pod-template-hash"
REVISION: Final = "deployment.kubernetes.io/revision"


async def sync_deployments(cluster: Cluster) -> int:
    """Bring every Deployment's ReplicaSets and status up to date; returns the writes."""
    writes = 0
    for deployment in await cluster.list("apps/v1", "Deployment"):
        writes += await _sync(cluster, deployment)
    return writes


async def _sync(cluster: Cluster, deployment: Mapping[str, Any]) -> int:
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    namespace = str(meta.get("namespace") or "default")
    uid = str(meta.get("uid") or "")
    template: Mapping[str, Any] = spec.get("template") or {}
    replicas = max(0, _int(spec.get("replicas"), 1))
    # not the Rollout's hash of the same template (a migrated Rollout has the very same
    # template): Kubernetes' hash differs from Argo's too, and so must the names
    pod_hash = pod_template_hash({"deployment": template})
    owned = [
        rs for rs in await cluster.list("apps/v1", "ReplicaSet", namespace) if owned_by(rs, uid)
    ]
    writes = 0
    current = next((rs for rs in owned if _hash(rs) == pod_hash), None)
    if current is None:
        revision = 1 + max((_revision(rs) for rs in owned), default=0)
        await cluster.create(_replica_set(deployment, template, pod_hash, replicas, revision))
        writes += 1
    elif _int((current.get("spec") or {}).get("replicas")) != replicas:
        await cluster.patch(Ref.of(current), {"spec": {"replicas": replicas}})
        writes += 1
    for rs in owned:
        if rs is not current and _int((rs.get("spec") or {}).get("replicas")) != 0:
            await cluster.patch(Ref.of(rs), {"spec": {"replicas": 0}})
            writes += 1
    owned = [
        rs for rs in await cluster.list("apps/v1", "ReplicaSet", namespace) if owned_by(rs, uid)
    ]
    status = _status(deployment, owned, pod_hash)
    if deployment.get("status") != status:
        await cluster.replace_status({**deployment, "status": status})
        writes += 1
    return writes


def _hash(rs: Mapping[str, Any]) -> object:
    return ((rs.get("metadata") or {}).get("labels") or {}).get(DEPLOYMENT_HASH_LABEL)


def _revision(rs: Mapping[str, Any]) -> int:
    value = ((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION)
    try:
        return int(str(value))
    except ValueError:
        return 0


def _replica_set(
    deployment: Mapping[str, Any],
    template: Mapping[str, Any],
    pod_hash: str,
    replicas: int,
    revision: int,
) -> dict[str, Any]:
    meta = deployment["metadata"]
    spec = deployment.get("spec") or {}
    pod_meta = dict(template.get("metadata") or {})
    labels = {**(pod_meta.get("labels") or {}), DEPLOYMENT_HASH_LABEL: pod_hash}
    selector = dict(spec.get("selector") or {})
    match = {**(selector.get("matchLabels") or {}), DEPLOYMENT_HASH_LABEL: pod_hash}
    selector["matchLabels"] = match
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{pod_hash}",
            "namespace": meta.get("namespace") or "default",
            "labels": labels,
            "annotations": {REVISION: str(revision)},
            "ownerReferences": [
                owner_reference("apps/v1", "Deployment", meta["name"], meta["uid"])
            ],
        },
        "spec": {
            "replicas": replicas,
            "minReadySeconds": _int(spec.get("minReadySeconds")),
            "selector": selector,
            "template": {**template, "metadata": {**pod_meta, "labels": labels}},
        },
    }


def _status(
    deployment: Mapping[str, Any], owned: list[dict[str, Any]], pod_hash: str
) -> dict[str, Any]:
    def total(key: str) -> int:
        return sum(_int((rs.get("status") or {}).get(key)) for rs in owned)

    updated = sum(
        _int((rs.get("status") or {}).get("replicas")) for rs in owned if _hash(rs) == pod_hash
    )
    return {
        "observedGeneration": _int((deployment.get("metadata") or {}).get("generation"), 1),
        "replicas": total("replicas"),
        "updatedReplicas": updated,
        "readyReplicas": total("readyReplicas"),
        "availableReplicas": total("availableReplicas"),
    }
