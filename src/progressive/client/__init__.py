"""An async SDK for tools that drive rollouts: release scripts, CI jobs, chat bots, the
dashboard.

Everything takes a cluster -- a :class:`~progressive._shell.kube.KubeCluster` (see
:func:`connect`), or the in-memory :class:`~progressive.memory.MemoryCluster` -- and the
Rollout's namespace and name, in either API group (``argoproj.io`` or
``progressive.dev``)::

    from progressive import client

    async with await client.connect() as cluster:            # $KUBECONFIG, or in a Pod
        await client.set_image(cluster, "shop", "web", "app", "registry.example/web:2.1")
        final = await client.wait_for(
            cluster, "shop", "web", phase="Healthy", timeout=900, on_update=print
        )

The commands (:mod:`progressive.client.commands`), one implementation each, which the
CLI and the dashboard call too:

* :func:`promote` (``full=True``: skip every remaining step), :func:`abort`,
  :func:`retry`, :func:`pause`, :func:`resume`, :func:`restart`;
* :func:`set_image` / :func:`set_images` and :func:`undo` change the pod template --
  the Rollout's, or the Deployment's its ``workloadRef`` names.

Following it (:mod:`progressive.client.follow`):

* ``async for update in watch(cluster, namespace, name)`` yields a
  :class:`RolloutState` whenever the rollout's status changes (phase, step, set and
  actual weight, pause, replicas) and a :class:`RolloutEvent` for every Kubernetes
  Event about it;
* :func:`wait_for` returns once the *current* revision (the pod template as it is
  now, not the one a Healthy status may still be about) reaches a phase, and raises
  :class:`RolloutFailed` when it reaches a failing one (Degraded: aborted, or an
  invalid spec) and ``TimeoutError`` when time runs out.

And reading (:mod:`progressive.client.reading`): :func:`get_rollout`,
:func:`find_rollout`, its ReplicaSets, AnalysisRuns and Events.

The commands write with optimistic concurrency (a conflict reads again and retries)
and return once the change is stored; the controller does the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .commands import (
    BeingDeleted,
    EditError,
    TemplateChange,
    abort,
    cluster_now,
    pause,
    promote,
    restart,
    resume,
    retry,
    set_image,
    set_images,
    undo,
)
from .follow import event_counts, is_current, state_of, wait_for, watch
from .reading import (
    analysis_runs,
    being_deleted,
    events,
    find_rollout,
    get_rollout,
    replica_sets,
    rollout_to_change,
)
from .state import (
    MANUAL_PAUSE,
    CanaryWeights,
    Pause,
    RolloutEvent,
    RolloutFailed,
    RolloutState,
    Update,
    canary_weights,
    pause_of,
)

if TYPE_CHECKING:
    from .._shell.kube import KubeCluster

__all__ = [
    "MANUAL_PAUSE",
    "BeingDeleted",
    "CanaryWeights",
    "EditError",
    "Pause",
    "RolloutEvent",
    "RolloutFailed",
    "RolloutState",
    "TemplateChange",
    "Update",
    "abort",
    "analysis_runs",
    "being_deleted",
    "canary_weights",
    "cluster_now",
    "connect",
    "event_counts",
    "events",
    "find_rollout",
    "get_rollout",
    "is_current",
    "pause",
    "pause_of",
    "promote",
    "replica_sets",
    "restart",
    "resume",
    "retry",
    "rollout_to_change",
    "set_image",
    "set_images",
    "state_of",
    "undo",
    "wait_for",
    "watch",
]


async def connect(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    request_timeout: float | None = None,
) -> KubeCluster:
    """A cluster from a kubeconfig (default: ``$KUBECONFIG``, ``~/.kube/config``) or, in
    a Pod, its ServiceAccount.  Close it (``async with``) when done.

    Args:
        kubeconfig: the kubeconfig file.
        context: the kubeconfig context (default: its current one).
        request_timeout: seconds each request may take (default 30); a server that
            does not answer in time raises an error naming it and the request.
    """
    from .._shell.kube import DEFAULT_REQUEST_TIMEOUT, KubeCluster

    return await KubeCluster.connect(
        kubeconfig, context, request_timeout=request_timeout or DEFAULT_REQUEST_TIMEOUT
    )
