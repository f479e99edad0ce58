"""Reading a Rollout and what is about it: the Rollout in either API group, its
ReplicaSets, its AnalysisRuns and its Events, on any cluster (a
:class:`~progressive._shell.kube.KubeCluster` or the in-memory
:class:`~progressive.memory.MemoryCluster`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._clusters import Cluster, Ref, list_owned, owned_by
from ..core._names import API_GROUPS, HASH_LABEL
from ..errors import BeingDeleted, NotFound

__all__ = [
    "analysis_runs",
    "being_deleted",
    "events",
    "find_rollout",
    "get_rollout",
    "is_about",
    "replica_sets",
    "rollout_to_change",
]


async def get_rollout(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    """The Rollout, in whichever API group it is (None when there is none)."""
    for api_version in API_GROUPS:
        found = await cluster.get(Ref(api_version, "Rollout", namespace, name))
        if found is not None:
            return found
    return None


async def find_rollout(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    """The Rollout, in whichever API group it is.

    Raises:
        NotFound: there is none (saying so, and that the CRDs may be missing, when the
            cluster serves no Rollout at all).
    """
    found = await get_rollout(cluster, namespace, name)
    if found is not None:
        return found
    serves = getattr(cluster, "serves", None)
    if serves is not None and not [g for g in API_GROUPS if await serves(g, "Rollout")]:
        raise NotFound(
            f"the server serves no Rollout ({' or '.join(API_GROUPS)}): are the CRDs "
            "installed? (progressive install --crds-only)"
        )
    raise NotFound(f'rollout "{name}" not found in namespace "{namespace}"')


def being_deleted(obj: Mapping[str, Any]) -> str | None:
    """For an object with a ``deletionTimestamp``: ``is being deleted (since T, waiting
    for finalizers: F)``; else None."""
    meta = obj.get("metadata") or {}
    since = meta.get("deletionTimestamp")
    if not since:
        return None
    finalizers = ", ".join(str(f) for f in meta.get("finalizers") or ())
    waiting = f", waiting for finalizers: {finalizers}" if finalizers else ""
    return f"is being deleted (since {since}{waiting})"


async def rollout_to_change(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    """The Rollout, for a command that changes it or waits on it.

    Raises:
        NotFound: there is none (see :func:`find_rollout`).
        BeingDeleted: it is being deleted.
    """
    found = await find_rollout(cluster, namespace, name)
    if (why := being_deleted(found)) is not None:
        raise BeingDeleted(f"rollout '{name}' {why}: the controller no longer acts on it")
    return found


def _uid(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


def _namespace(rollout: Mapping[str, Any]) -> str:
    return Ref.of(rollout).namespace


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


async def replica_sets(
    cluster: Cluster, rollout: Mapping[str, Any], *, pod_hash: str | None = None
) -> list[dict[str, Any]]:
    """The Rollout's ReplicaSets (only the one of ``pod_hash``, when given), by name.

    On a real server the list is filtered by label there (``rollouts-pod-template-hash``).
    """
    uid = _uid(rollout)
    if not uid:
        return []  # not stored: it owns nothing
    namespace = _namespace(rollout)
    lister = getattr(cluster, "list_with_version", None)
    if lister is not None:
        selector = f"{HASH_LABEL}={pod_hash}" if pod_hash else HASH_LABEL
        listed = await lister("apps/v1", "ReplicaSet", namespace, label_selector=selector)
        found: list[dict[str, Any]] = sorted(
            (rs for rs in listed.items if owned_by(rs, uid)), key=_name
        )
    else:
        found = await list_owned(cluster, "apps/v1", "ReplicaSet", namespace, uid)
    if pod_hash is None:
        return found
    return [rs for rs in found if (rs["metadata"].get("labels") or {}).get(HASH_LABEL) == pod_hash]


async def analysis_runs(cluster: Cluster, rollout: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Rollout's AnalysisRuns, oldest first."""
    api_version = str(rollout.get("apiVersion") or API_GROUPS[0])
    uid = _uid(rollout)
    if not uid:
        return []
    runs = await list_owned(cluster, api_version, "AnalysisRun", _namespace(rollout), uid)
    return sorted(
        runs,
        key=lambda r: (str(r["metadata"].get("creationTimestamp") or ""), _name(r)),
    )


def is_about(event: Mapping[str, Any], namespace: str, name: str) -> bool:
    """Whether a Kubernetes Event is about the Rollout ``namespace/name``."""
    involved = event.get("involvedObject") or {}
    return (
        involved.get("kind") == "Rollout"
        and involved.get("name") == name
        and (involved.get("namespace") or namespace) == namespace
    )


async def events(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    """The Events about the Rollout, in the order they were last written."""
    lister = getattr(cluster, "list_with_version", None)
    if lister is not None:
        selector = f"involvedObject.kind=Rollout,involvedObject.name={name}"
        result = await lister("v1", "Event", namespace, field_selector=selector)
        items: list[dict[str, Any]] = result.items
    else:
        items = [
            e for e in await cluster.list("v1", "Event", namespace) if is_about(e, namespace, name)
        ]
    return sorted(items, key=_written_at)


def _written_at(event: Mapping[str, Any]) -> tuple[str, int]:
    """Events in the order they were last written (resourceVersions grow on one server)."""
    meta = event.get("metadata") or {}
    version = str(meta.get("resourceVersion") or "")
    return (str(event.get("lastTimestamp") or ""), int(version) if version.isdigit() else 0)
