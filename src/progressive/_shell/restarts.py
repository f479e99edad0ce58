"""``spec.restartAt``: replacing old pods a batch at a time.

The core asks once (a :class:`~progressive.core._actions.RestartPods` per ReplicaSet);
the applier marks the ReplicaSet, and :func:`advance_restart` evicts, each time the
controller looks at the marked ReplicaSet (its status changes as pods come and go), up
to ``max-unavailable`` pods created before the mark's time, but only while the
ReplicaSet is fully available, so each batch is replaced before the next goes.  The
mark is removed once no old pod is left.  Crash-safe: the mark is the state.

Listing and deleting pods is a right the least-privilege install leaves out
(``progressive install --restarts`` grants it).  Without it the API server refuses
(:class:`~progressive.errors.Forbidden`); :func:`refused_restart` says to whom
(the Rollout that owns the ReplicaSet) and what (how to grant it); the controller
posts that as one Warning Event (``RestartForbidden``), notes it on the ReplicaSet
(``progressive.dev/restart-refused``, which the Rollout's ``ReplicaFailure`` condition
repeats until the restart goes on) and tries again only every :data:`REFUSED_RETRY_SECONDS`,
the mark kept: granted the right, the restart goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .._clusters import Cluster, Ref, owned_by
from .._grants import how_to_grant
from ..core._actions import RestartPods
from ..core._durations import format_duration
from ..core._names import RESTART_REFUSED_ANNOTATION
from ..core._times import format_time, parse_time
from ..errors import Forbidden, NotFound
from .events import Involved

__all__ = [
    "REFUSED_RETRY_SECONDS",
    "RESTART_BEFORE",
    "RESTART_MAX_UNAVAILABLE",
    "advance_restart",
    "advance_restarts",
    "mark_restart",
    "note_refusal",
    "refused_restart",
    "restarting",
]

RESTART_BEFORE: Final = "progressive.dev/restart-before"
RESTART_MAX_UNAVAILABLE: Final = "progressive.dev/restart-max-unavailable"
#: How long a restart the API server refused waits before it is tried again.
REFUSED_RETRY_SECONDS: Final = 300.0


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
                        "annotations": {
                            RESTART_BEFORE: None,
                            RESTART_MAX_UNAVAILABLE: None,
                            RESTART_REFUSED_ANNOTATION: None,
                        }
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


def refused_restart(rs: Mapping[str, Any], refused: Forbidden) -> tuple[Involved, str]:
    """Whom to tell that the pods of ``rs`` could not be restarted (the Rollout that owns
    it, else ``rs``), and what: how to grant the right, and when it is tried again."""
    meta = rs.get("metadata") or {}
    namespace = str(meta.get("namespace") or "")
    involved = Involved.of(rs)
    for owner in meta.get("ownerReferences") or ():
        if isinstance(owner, Mapping) and owner.get("kind") == "Rollout":
            involved = Involved(
                str(owner.get("apiVersion")),
                "Rollout",
                namespace,
                str(owner.get("name")),
                str(owner.get("uid") or ""),
            )
    message = (
        f"cannot restart the pods of ReplicaSet {meta.get('name')}: the controller may not "
        f"list and delete pods in namespace {namespace}: install it with "
        f"{how_to_grant('restarts')}; trying again every "
        f"{format_duration(REFUSED_RETRY_SECONDS)} ({refused})"
    )
    return involved, message


async def note_refusal(cluster: Cluster, rs: Mapping[str, Any], message: str) -> int:
    """Set (or, with "", clear) why the restart of ``rs`` is refused
    (:data:`~progressive.core._names.RESTART_REFUSED_ANNOTATION`); returns the writes."""
    annotations = (rs.get("metadata") or {}).get("annotations") or {}
    if annotations.get(RESTART_REFUSED_ANNOTATION, "") == message:
        return 0
    patch = {"metadata": {"annotations": {RESTART_REFUSED_ANNOTATION: message or None}}}
    try:
        await cluster.patch(Ref.of(rs), patch)
    except NotFound:
        return 0
    return 1
