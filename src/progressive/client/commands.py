"""The commands people and tools give a Rollout: :func:`promote` (and ``full=True``),
:func:`abort`, :func:`retry`, :func:`pause`, :func:`resume`, :func:`restart`,
:func:`undo`, :func:`set_image` and :func:`set_images`.

This is the one implementation of each: the CLI (``progressive promote``...) and the
dashboard call these.  They work on any cluster (a
:class:`~progressive._shell.kube.KubeCluster`, or the in-memory
:class:`~progressive.memory.MemoryCluster`) and on Rollouts of either API group.

What each writes is the core's (:mod:`progressive.core._commands`, the same edits
Argo's kubectl plugin makes, and :mod:`progressive.core._edits` for the pod template).
A Rollout being deleted (a finalizer holds it) is refused (:class:`BeingDeleted`): the
controller no longer acts on it.  Every write carries the ``resourceVersion`` it was
computed from, so a concurrent
write (the controller's, another user's) is never overwritten: a conflict reads again,
computes again and retries, a few times.  The controller does the rest: these return
once the change is stored, not once the Rollout has acted on it (see
:func:`~progressive.client.wait_for`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import anyio
import attrs

from .._clusters import Cluster, Ref
from ..core import _commands
from ..core._edits import revision_template, to_merge_patch
from ..core._edits import set_images as edit_images
from ..core._rollout import Rollout, read_rollout
from ..errors import BeingDeleted, Conflict, EditError, NotFound
from .reading import replica_sets, rollout_to_change

__all__ = [
    "BeingDeleted",
    "EditError",
    "TemplateChange",
    "abort",
    "cluster_now",
    "pause",
    "promote",
    "restart",
    "resume",
    "retry",
    "set_image",
    "set_images",
    "undo",
]

_CONFLICT_RETRIES: Final = 5

Patch = dict[str, Any]
Edit = Callable[[Rollout], tuple[Patch, Patch]]


def cluster_now(cluster: Cluster) -> float:
    """The time on ``cluster``'s clock: the in-memory cluster's (virtual) one, else
    the wall clock (epoch seconds)."""
    clock = getattr(cluster, "clock", None)
    now = getattr(clock, "now", None)
    return float(now()) if callable(now) else time.time()


async def _backoff(attempt: int) -> None:
    await anyio.sleep(random.uniform(0.01, 0.02) * 2**attempt)


def _model(obj: Mapping[str, Any]) -> Rollout:
    """The core's Rollout, read leniently (a Rollout with spec errors still has a status
    to promote or abort)."""
    rollout, errors = read_rollout(obj)
    if rollout is None:
        name = (obj.get("metadata") or {}).get("name")
        problem = f": {errors[0]}" if errors else ""
        raise EditError(f"rollout {name!r} cannot be read{problem}")
    return rollout


async def _command(cluster: Cluster, namespace: str, name: str, edit: Edit) -> dict[str, Any]:
    """Read the Rollout, compute ``edit``'s patches from it, and write them with the
    resourceVersion read as a precondition (the spec first, then the status)."""
    for attempt in range(_CONFLICT_RETRIES):
        obj = await rollout_to_change(cluster, namespace, name)
        spec_patch, status_patch = edit(_model(obj))
        if not spec_patch and not status_patch:
            return obj
        version = (obj.get("metadata") or {}).get("resourceVersion")
        patch = {**spec_patch, **status_patch, "metadata": {"resourceVersion": version}}
        try:
            return await cluster.patch(Ref.of(obj), patch)
        except Conflict:
            await _backoff(attempt)  # someone wrote it meanwhile: read again
    raise Conflict(f'rollout "{name}" in namespace "{namespace}" kept changing; try again')


async def promote(
    cluster: Cluster, namespace: str, name: str, *, full: bool = False
) -> dict[str, Any]:
    """Promote the Rollout: end the current pause, or skip the current step.

    At a pause (a pause step, a blue-green promotion, an inconclusive analysis, a
    user's :func:`pause`) it clears ``spec.paused`` and ``status.pauseConditions``;
    otherwise it moves the canary to its next step.

    Args:
        full: skip every remaining step and analysis (``status.promoteFull``): the new
            revision becomes stable at once.

    Returns:
        The Rollout as stored.

    Raises:
        NotFound: no such Rollout.
        BeingDeleted: it is being deleted (the controller no longer acts on it).
        EditError: the Rollout cannot be read at all.
        Conflict: it kept changing under every retry.
    """
    return await _command(
        cluster, namespace, name, lambda rollout: _commands.promote(rollout, full=full)
    )


async def abort(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    """Abort the Rollout's update (``status.abort``): traffic and pods go back to the
    stable revision and the Rollout turns Degraded until :func:`retry`, :func:`undo` or
    a new pod template.

    Returns:
        The Rollout as stored.

    Raises:
        NotFound: no such Rollout.
        BeingDeleted: it is being deleted (the controller no longer acts on it).
        EditError: the Rollout cannot be read at all.
        Conflict: it kept changing under every retry.
    """
    return await _command(cluster, namespace, name, _commands.abort)


async def retry(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    """Retry an aborted Rollout (clears ``status.abort``): the update starts again from
    the first step.

    Returns:
        The Rollout as stored.

    Raises:
        NotFound: no such Rollout.
        BeingDeleted: it is being deleted (the controller no longer acts on it).
        EditError: the Rollout cannot be read at all.
        Conflict: it kept changing under every retry.
    """
    return await _command(cluster, namespace, name, _commands.retry)


async def pause(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    """Pause the Rollout (``spec.paused``): it stays where it is, timed pauses
    included, until :func:`resume` or :func:`promote`.

    Returns:
        The Rollout as stored.

    Raises:
        NotFound: no such Rollout.
        BeingDeleted: it is being deleted (the controller no longer acts on it).
        EditError: the Rollout cannot be read at all.
        Conflict: it kept changing under every retry.
    """
    return await _command(cluster, namespace, name, _commands.pause)


async def resume(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    """End a :func:`pause` (clears ``spec.paused``) and nothing else: a pause step or a
    blue-green promotion the Rollout waits at still holds (:func:`promote` ends those).

    Returns:
        The Rollout as stored (unchanged when it was not paused so).

    Raises:
        NotFound: no such Rollout.
        BeingDeleted: it is being deleted (the controller no longer acts on it).
        EditError: the Rollout cannot be read at all.
        Conflict: it kept changing under every retry.
    """
    return await _command(cluster, namespace, name, _commands.resume)


async def restart(
    cluster: Cluster, namespace: str, name: str, *, at: float | None = None
) -> dict[str, Any]:
    """Restart the Rollout's pods (``spec.restartAt``): every pod created before ``at``
    is replaced, a few at a time (at most maxUnavailable), each batch once the
    previous one is available.

    Args:
        at: when, in epoch seconds (default: now, on the cluster's clock: see
            :func:`cluster_now`).

    Returns:
        The Rollout as stored.

    Raises:
        NotFound: no such Rollout.
        BeingDeleted: it is being deleted (the controller no longer acts on it).
        EditError: the Rollout cannot be read at all.
        Conflict: it kept changing under every retry.
    """
    when = cluster_now(cluster) if at is None else at
    return await _command(
        cluster, namespace, name, lambda rollout: _commands.restart(rollout, when)
    )


# -- the pod template ----------------------------------------------------------------------


@attrs.frozen
class TemplateChange:
    """What :func:`set_image`, :func:`set_images` or :func:`undo` did to a pod template."""

    ref: Ref  # what holds it: the Rollout, or the Deployment its workloadRef names
    changed: bool  # False: it already was so, and nothing was written
    obj: Mapping[str, Any] = attrs.field(eq=False, repr=False, factory=dict)  # as stored
    revision: int | None = None  # undo: the revision whose template it is now


async def _template_owner(cluster: Cluster, rollout: Mapping[str, Any]) -> dict[str, Any]:
    """The object that holds the Rollout's pod template: the Rollout itself, or the
    Deployment its workloadRef names."""
    ref = (rollout.get("spec") or {}).get("workloadRef")
    if not isinstance(ref, Mapping):
        return dict(rollout)
    namespace = Ref.of(rollout).namespace
    kind = str(ref.get("kind") or "Deployment")
    name = str(ref.get("name") or "")
    found = await cluster.get(Ref(str(ref.get("apiVersion") or "apps/v1"), kind, namespace, name))
    if found is None:
        raise NotFound(
            f'{kind.lower()} "{name}" (the workloadRef of rollout '
            f'"{rollout["metadata"]["name"]}") not found in namespace "{namespace}"'
        )
    return found


async def _edit_template(
    cluster: Cluster,
    namespace: str,
    name: str,
    edit: Callable[[Mapping[str, Any], Mapping[str, Any]], Patch | None],
) -> TemplateChange:
    """Read the template owner, compute a patch with ``edit(template, rollout)``, and
    send it with the resourceVersion read as a precondition, again on a conflict."""
    for attempt in range(_CONFLICT_RETRIES):
        rollout = await rollout_to_change(cluster, namespace, name)
        owner = await _template_owner(cluster, rollout)
        template = (owner.get("spec") or {}).get("template") or {}
        patch = edit(template, rollout)
        if not patch:
            return TemplateChange(Ref.of(owner), False, owner)
        guarded = {
            "metadata": {"resourceVersion": owner["metadata"].get("resourceVersion")},
            "spec": {"template": patch},
        }
        try:
            stored = await cluster.patch(Ref.of(owner), guarded)
        except Conflict:
            await _backoff(attempt)
            continue
        return TemplateChange(Ref.of(stored), True, stored)
    raise Conflict(f"rollout '{name}': its template kept changing; try again")


async def set_images(
    cluster: Cluster,
    namespace: str,
    name: str,
    images: Mapping[str, str] | Sequence[tuple[str, str]],
) -> TemplateChange:
    """Set container images in the Rollout's pod template (in the Deployment its
    ``workloadRef`` names, if it has one): a new revision.

    Args:
        images: container name -> image; the name ``*`` is every container, init and
            ephemeral ones included.  Setting the images it has writes nothing.

    Raises:
        NotFound: no such Rollout (or Deployment).
        BeingDeleted: the Rollout is being deleted.
        EditError: the pod template has no container of a name given.
        Conflict: the template kept changing under every retry.
    """
    pairs = list(images.items()) if isinstance(images, Mapping) else list(images)

    def edit(template: Mapping[str, Any], _: Mapping[str, Any]) -> Patch | None:
        return edit_images(template, pairs)[1] or None

    return await _edit_template(cluster, namespace, name, edit)


async def set_image(
    cluster: Cluster, namespace: str, name: str, container: str, image: str
) -> TemplateChange:
    """Set ``container``'s image: :func:`set_images` for one container.

    Raises:
        NotFound: no such Rollout (or Deployment).
        BeingDeleted: the Rollout is being deleted.
        EditError: the pod template has no container named so.
        Conflict: the template kept changing under every retry.
    """
    return await set_images(cluster, namespace, name, [(container, image)])


async def undo(
    cluster: Cluster, namespace: str, name: str, *, to_revision: int = 0
) -> TemplateChange:
    """Roll the Rollout back to an earlier revision's pod template: that revision's
    ReplicaSet's template replaces the Rollout's (or, with a workloadRef, the
    Deployment's), and the controller rolls it out as the newest revision.

    Args:
        to_revision: the revision (``rollout.argoproj.io/revision``) to go back to; 0,
            the default, is the one before the current.

    Returns:
        What changed, with the revision gone back to (``changed`` is False when the
        template already was that revision's).

    Raises:
        NotFound: no such Rollout (or Deployment).
        BeingDeleted: the Rollout is being deleted.
        EditError: no such revision, or no earlier one.
        Conflict: the template kept changing under every retry.
    """
    rollout = await rollout_to_change(cluster, namespace, name)
    current = (rollout.get("status") or {}).get("currentPodHash")
    try:
        revision, wanted = revision_template(
            await replica_sets(cluster, rollout), to_revision, current
        )
    except EditError as exc:
        raise EditError(f"rollout '{name}': {exc}") from None

    def edit(template: Mapping[str, Any], _: Mapping[str, Any]) -> Patch | None:
        return to_merge_patch(template, wanted) or None

    change = await _edit_template(cluster, namespace, name, edit)
    return attrs.evolve(change, revision=revision)
