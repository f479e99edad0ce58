"""``spec.restartAt``: replacing old pods a batch at a time.

The core asks once (a :class:`~progressive.core._actions.RestartPods` per ReplicaSet);
the applier marks the ReplicaSet, and :func:`advance_restart` evicts, each time the
controller looks at the marked ReplicaSet (its status changes as pods come and go), up
to ``max-unavailable`` pods created before the mark's time, but only while the
ReplicaSet is fully available, so each batch is replaced before the next goes.  The
mark is removed once no old pod is left.  Crash-safe: the mark is the state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..core._actions import RestartPods
from ..core._times import format_time, parse_time
from .clusters import Cluster, NotFound, Ref, owned_by

__all__ = [
    "RESTART_BEFORE",
    "RESTART_MAX_UNAVAILABLE",
    "advance_restart",
    "advance_restarts",
    "mark_restart",
    "restarting",
]

RESTART_BEFORE: Final = "progressive.dev/restart-before"
RESTART_MAX_UNAVAILABLE: Final = "progressive.dev/restart-max-unavailable"


async def mark_restart(cluster: Cluster, namespace: str, action: RestartPods) -> None:
    ref = Ref("apps/v1", "ReplicaSet", namespace, action.name)
    try:
        await cluster.patch(
            ref,
            {
                "metadata": {
                    "annotations": {
                        RESTART_BEFORE: format_time(action.before),
                        RESTART_MAX_UNAVAILABLE: str(max(1, action.max_unavailable)),
                    }
                }
            },
        )
    except NotFound:
        pass  # scaled away and deleted meanwhile: nothing to restart


async def advance_restarts(cluster: Cluster, namespace: str | None = None) -> int:
    """Evict the next batch of old pods of every marked ReplicaSet; returns the writes."""
    writes = 0
    for rs in await cluster.list("apps/v1", "ReplicaSet", namespace):
        writes += await advance_restart(cluster, rs)
    return writes


def restarting(rs: Mapping[str, Any]) -> bool:
    """Whether the ReplicaSet carries a restart mark."""
    annotations = (rs.get("metadata") or {}).get("annotations") or {}
    return parse_time(annotations.get(RESTART_BEFORE)) is not None


async def advance_restart(cluster: Cluster, rs: Mapping[str, Any]) -> int:
    """Evict the next batch of old pods of the ReplicaSet ``rs`` (if it is marked), or
    remove the mark once none is left; returns the writes."""
    writes = 0
    annotations = rs["metadata"].get("annotations") or {}
    before = parse_time(annotations.get(RESTART_BEFORE))
    if before is None:
        return 0
    pods = [
        p
        for p in await cluster.list("v1", "Pod", rs["metadata"].get("namespace"))
        if owned_by(p, rs["metadata"]["uid"])
    ]
    old = sorted(
        (p for p in pods if (_created(p) or before) < before),
        key=lambda p: (_created(p) or 0.0, p["metadata"]["name"]),
    )
    if not old:
        try:
            await cluster.patch(
                Ref.of(rs),
                {
                    "metadata": {
                        "annotations": {RESTART_BEFORE: None, RESTART_MAX_UNAVAILABLE: None}
                    }
                },
            )
        except NotFound:
            return 0
        return 1
    status = rs.get("status") or {}
    wanted = int(rs["spec"].get("replicas") or 0)
    if int(status.get("availableReplicas") or 0) < wanted:
        return 0  # the previous batch is still coming up
    try:
        batch = max(1, int(annotations.get(RESTART_MAX_UNAVAILABLE, "1")))
    except ValueError:
        batch = 1
    for pod in old[:batch]:
        try:
            await cluster.delete(Ref.of(pod))
            writes += 1
        except NotFound:
            pass
    return writes


def _created(obj: Mapping[str, Any]) -> float | None:
    return parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
