"""THE one place where a plan's actions touch the cluster.

:func:`apply_action` carries out one action with a ``match`` over every action type;
:func:`apply_plan` applies a whole plan in its order and then writes the status, last,
and only when it differs from the stored one.  Every applier is idempotent (creating
what already exists adopts it, deleting what is gone is a no-op), so a controller that
died half-way through a plan can run the next reconcile's plan over the same objects.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Mapping
from typing import Any, Final, assert_never

import attrs

from .._clusters import Cluster, Ref, owned_by, owner_reference
from ..core._actions import (
    AcknowledgeRun,
    Action,
    CreateAnalysisRun,
    CreateExperiment,
    CreateReplicaSet,
    CreateService,
    DeleteReplicaSet,
    EmitEvent,
    RemoveManagedRoutes,
    RestartPods,
    RunStepPlugin,
    ScaleReplicaSet,
    ScaleWorkload,
    SetReplicaSetRevision,
    SetScaleDownDeadline,
    SetServiceSelector,
    TerminateAnalysisRun,
    UndoStepPlugin,
    WriteHeaderRoute,
    WriteMirrorRoute,
    WriteWeight,
)
from ..core._names import (
    ACKNOWLEDGED_ANNOTATION,
    ANALYSIS_RUN,
    API_GROUPS,
    EXPERIMENT,
    HASH_LABEL,
    MANAGED_BY_ANNOTATION,
    REVISION_ANNOTATION,
    SCALE_DOWN_DEADLINE_ANNOTATION,
)
from ..core._plan import Plan
from ..core._pod_templates import TEMPLATE_DIGEST_ANNOTATION, template_digest
from ..core._rollout import Rollout
from ..core._status import RolloutStatus
from ..core._times import format_time
from ..errors import AlreadyExists, ApplyError, Conflict, NotFound, RouterError
from ..steps import StepRegistry
from ..steps import default_registry as default_steps
from .clocks import VirtualClock
from .events import EventRecorder, Involved
from .expectations import Expectations, Reread
from .restarts import mark_restart
from .runs import create_analysis_run, create_experiment, create_service
from .steps import run_step_plugin
from .traffic import Traffic

__all__ = [
    "apply_action",
    "apply_plan",
    "write_status",
]


def owner_of(rollout: Rollout) -> dict[str, Any]:
    return owner_reference(rollout.api_version, "Rollout", rollout.name, rollout.uid)


def _rs_ref(rollout: Rollout, name: str) -> Ref:
    return Ref("apps/v1", "ReplicaSet", rollout.namespace, name)


async def apply_action(
    cluster: Cluster,
    rollout: Rollout,
    action: Action,
    *,
    traffic: Traffic,
    now: float,
    events: EventRecorder | None = None,
    steps: StepRegistry | None = None,
) -> None:
    """Carry out one action for ``rollout``.

    ``EmitEvent`` goes through ``events`` (the controller's recorder, which counts a
    repeated event on one Event); without one, a recorder stamping ``now`` is used.
    ``steps``: the step plugins (default: the installed ones).

    Raises:
        ApplyError: the action cannot be carried out as asked.
        ClusterError: the cluster refused a write (the next reconcile retries).
    """
    match action:
        case CreateReplicaSet():
            await _create_replica_set(cluster, rollout, action)
        case ScaleReplicaSet(name, replicas):
            await cluster.patch(_rs_ref(rollout, name), {"spec": {"replicas": replicas}})
        case SetScaleDownDeadline(name, deadline):
            value = None if deadline is None else format_time(deadline)
            await cluster.patch(
                _rs_ref(rollout, name),
                {"metadata": {"annotations": {SCALE_DOWN_DEADLINE_ANNOTATION: value}}},
            )
        case SetReplicaSetRevision(name, revision):
            await cluster.patch(
                _rs_ref(rollout, name),
                {"metadata": {"annotations": {REVISION_ANNOTATION: str(revision)}}},
            )
        case DeleteReplicaSet(name):
            try:
                await cluster.delete(_rs_ref(rollout, name))
            except NotFound:
                pass
        case SetServiceSelector(service, pod_hash):
            await _set_selector(cluster, rollout, service, pod_hash)
        case WriteWeight():
            await _traffic(cluster, rollout, now, events, traffic.set_weight(rollout, action))
        case WriteHeaderRoute():
            await _traffic(cluster, rollout, now, events, traffic.set_header_route(rollout, action))
        case WriteMirrorRoute():
            await _traffic(cluster, rollout, now, events, traffic.set_mirror_route(rollout, action))
        case RemoveManagedRoutes(names):
            await _traffic(
                cluster, rollout, now, events, traffic.remove_managed_routes(rollout, names)
            )
        case CreateAnalysisRun():
            await create_analysis_run(cluster, rollout, action, owner=owner_of(rollout), now=now)
        case TerminateAnalysisRun(name):
            await _patch_run(cluster, rollout, name, {"spec": {"terminate": True}})
        case AcknowledgeRun(name):
            patch = {"metadata": {"annotations": {ACKNOWLEDGED_ANNOTATION: "true"}}}
            await _patch_run(cluster, rollout, name, patch)
        case CreateExperiment():
            await create_experiment(cluster, rollout, action, owner=owner_of(rollout), now=now)
        case CreateService():
            await create_service(cluster, rollout.namespace, action, owner=owner_of(rollout))
        case RestartPods():
            await mark_restart(cluster, rollout.namespace, action)
        case ScaleWorkload(api_version, kind, name, replicas):
            ref = Ref(api_version, kind, rollout.namespace, name)
            await cluster.patch(ref, {"spec": {"replicas": replicas}})
        case RunStepPlugin() | UndoStepPlugin():
            registry = steps if steps is not None else default_steps()
            await run_step_plugin(cluster, rollout, action, registry)
        case EmitEvent():
            await _emit_event(cluster, rollout, action, now, events)
        case _:
            assert_never(action)


async def apply_plan(
    cluster: Cluster,
    manifest: Mapping[str, Any],
    rollout: Rollout,
    plan: Plan,
    *,
    traffic: Traffic,
    now: float,
    events: EventRecorder | None = None,
    reread: Reread | None = None,
    steps: StepRegistry | None = None,
    expectations: Expectations | None = None,
) -> int:
    """Apply ``plan``'s actions in order, then its status; returns the number of writes.

    ``manifest`` is the Rollout as observed: its ``resourceVersion`` guards the status
    write, so a Rollout edited meanwhile raises ``Conflict`` instead of being clobbered
    (see :func:`write_status` for ``reread`` and ``expectations``).

    The traffic actions are applied with the ping-pong Services' roles the plan's
    status gives (a promotion swaps them: its weight is the new canary's).
    """
    side = plan.status.stable_ping_pong
    if side != rollout.status.stable_ping_pong:
        rollout = attrs.evolve(rollout, status=attrs.evolve(rollout.status, stable_ping_pong=side))
    for action in plan.actions:
        await apply_action(
            cluster, rollout, action, traffic=traffic, now=now, events=events, steps=steps
        )
    wrote = await write_status(
        cluster, manifest, plan.status, reread=reread, expectations=expectations
    )
    return len(plan.actions) + int(wrote)


STATUS_ATTEMPTS: Final = 5


async def write_status(
    cluster: Cluster,
    manifest: Mapping[str, Any],
    status: RolloutStatus | Mapping[str, Any],
    *,
    reread: Reread | None = None,
    expectations: Expectations | None = None,
) -> bool:
    """Store ``status`` on the Rollout ``manifest`` unless it is already the stored one.

    The write carries ``manifest``'s resourceVersion.  With ``reread``, a conflict that
    changed neither the spec (``metadata.generation``) nor the status -- someone else
    edited a label or an annotation -- is retried on the fresh resourceVersion (client-go's
    ``RetryOnConflict``), since the status was decided on what is still there; any other
    conflict raises ``Conflict``, and the next reconcile decides again.

    With ``expectations`` (the controller's), each write is recorded there, so that a
    copy of the Rollout from before it -- the cache, when the answer was lost -- is never
    reconciled again (its Events posted twice, its step taken twice): see
    :mod:`.expectations`.
    """
    new = status.to_manifest() if isinstance(status, RolloutStatus) else dict(status)
    if manifest.get("status") == new:
        return False
    meta = manifest.get("metadata") or {}
    version = meta.get("resourceVersion")
    for attempt in range(STATUS_ATTEMPTS):
        names = {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "resourceVersion": version,
        }
        kind = {"apiVersion": manifest.get("apiVersion"), "kind": manifest.get("kind")}
        body = {**kind, "metadata": names, "status": new}
        # what the write replaces, as the expectations know an object: its uid too
        written_over = {**kind, "metadata": {**names, "uid": meta.get("uid")}}
        try:
            if expectations is None:
                await cluster.replace_status(body)
            else:
                await expectations.replace_status(cluster, written_over, body)
            return True
        except Conflict:
            if reread is None or attempt == STATUS_ATTEMPTS - 1:
                raise
            fresh = await reread(Ref.of(manifest))
            fresh_meta = (fresh or {}).get("metadata") or {}
            if (
                fresh is None
                or fresh_meta.get("generation") != meta.get("generation")
                or fresh.get("status") != manifest.get("status")
            ):
                raise
            version = fresh_meta.get("resourceVersion")
    raise AssertionError("unreachable")  # pragma: no cover


# -- appliers ------------------------------------------------------------------------------


async def _set_selector(cluster: Cluster, rollout: Rollout, service: str, pod_hash: str) -> None:
    """Pin ``service`` to ``pod_hash``; a Service another Rollout manages is an error."""
    ref = Ref("v1", "Service", rollout.namespace, service)
    current = await cluster.get(ref)
    if current is None:
        raise ApplyError(f"Service {rollout.namespace}/{service} not found")
    manager = ((current.get("metadata") or {}).get("annotations") or {}).get(MANAGED_BY_ANNOTATION)
    if manager not in (None, rollout.name):
        raise ApplyError(
            f"Service {rollout.namespace}/{service} is managed by Rollout {manager}; "
            "it is left as it is"
        )
    try:
        await cluster.patch(
            ref,
            {
                "metadata": {"annotations": {MANAGED_BY_ANNOTATION: rollout.name}},
                "spec": {"selector": {HASH_LABEL: pod_hash}},
            },
        )
    except NotFound:
        raise ApplyError(f"Service {rollout.namespace}/{service} not found") from None


async def _traffic(
    cluster: Cluster,
    rollout: Rollout,
    now: float,
    events: EventRecorder | None,
    move: Awaitable[None],
) -> None:
    """Run a router action; a router's error also becomes a Warning Event on the Rollout
    (``TrafficRoutingError``) before it goes up to the controller."""
    try:
        await move
    except RouterError as exc:
        await _emit_event(
            cluster, rollout, EmitEvent("TrafficRoutingError", str(exc), "Warning"), now, events
        )
        raise


async def _create_replica_set(cluster: Cluster, rollout: Rollout, action: CreateReplicaSet) -> None:
    template = copy.deepcopy(action.template)
    template_meta = template.setdefault("metadata", {})
    template_meta["labels"] = {
        **(template_meta.get("labels") or {}),
        HASH_LABEL: action.pod_template_hash,
    }
    selector = copy.deepcopy(action.selector)
    selector["matchLabels"] = {
        **(selector.get("matchLabels") or {}),
        HASH_LABEL: action.pod_template_hash,
    }
    obj = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": action.name,
            "namespace": rollout.namespace,
            "labels": dict(template_meta["labels"]),
            "annotations": {
                REVISION_ANNOTATION: str(action.revision),
                # the template as the server will store it, for undo (cached RS have none)
                TEMPLATE_DIGEST_ANNOTATION: template_digest(action.template),
            },
            "ownerReferences": [owner_of(rollout)],
        },
        "spec": {
            "replicas": action.replicas,
            "minReadySeconds": action.min_ready_seconds,
            "selector": selector,
            "template": template,
        },
    }
    try:
        await cluster.create(obj)
    except AlreadyExists:
        # A restarted controller re-creating what it created before it died: adopt it.
        ref = _rs_ref(rollout, action.name)
        existing = await cluster.get(ref) or {}
        labels = (existing.get("metadata") or {}).get("labels") or {}
        if labels.get(HASH_LABEL) != action.pod_template_hash or not owned_by(
            existing, rollout.uid
        ):
            raise ApplyError(
                f"ReplicaSet {ref.namespace}/{ref.name} exists and is not ours"
            ) from None
        await cluster.patch(
            ref,
            {
                "metadata": {"annotations": {REVISION_ANNOTATION: str(action.revision)}},
                "spec": {"replicas": action.replicas},
            },
        )


async def _patch_run(
    cluster: Cluster, rollout: Rollout, name: str, patch: Mapping[str, Any]
) -> None:
    """Patch the AnalysisRun (or Experiment) ``name``, if it exists."""
    for kind in (ANALYSIS_RUN, EXPERIMENT):
        for api_version in (rollout.api_version, *_other_groups(rollout)):
            ref = Ref(api_version, kind, rollout.namespace, name)
            try:
                await cluster.patch(ref, patch)
            except NotFound:
                continue
            return


def _other_groups(rollout: Rollout) -> tuple[str, ...]:
    return tuple(g for g in API_GROUPS if g != rollout.api_version)


async def _emit_event(
    cluster: Cluster,
    rollout: Rollout,
    action: EmitEvent,
    now: float,
    events: EventRecorder | None,
) -> None:
    recorder = events if events is not None else EventRecorder(cluster, clock=VirtualClock(now))
    involved = Involved(
        rollout.api_version, "Rollout", rollout.namespace, rollout.name, rollout.uid
    )
    await recorder.emit(involved, action)
