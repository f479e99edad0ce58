"""``reconcile()``: the pure heart of progressive.

One call takes what was observed (the Rollout with its status, its ReplicaSets, its
analysis runs, the routers' state, the Services, and ``now``) and returns a
:class:`~progressive.core.Plan`: the actions that move the world one safe step
toward the Rollout's spec, the new status, and when to look again.  It performs no
I/O, reads no clock and keeps no state between calls, so the same input always gives
the same plan, and applying a plan then reconciling again at the same instant asks
for nothing more.

A Rollout built in code is validated first (once per object, see
``Rollout.validate``): an invalid one is planned as the controller plans an invalid
manifest, with no action but a status that says why (condition ``InvalidSpec``, phase
``Degraded``) and a Warning Event when that is new.
"""

from __future__ import annotations

import attrs

from ..errors import ManifestError
from . import _state
from ._actions import EmitEvent, RestartPods, SetScaleDownDeadline
from ._blue_green import plan_blue_green
from ._builder import PlanBuilder
from ._canary import plan_canary
from ._names import HASH_LABEL
from ._observed import Observed, ReplicaSetView
from ._plan import Plan
from ._replicas import resolve_int_or_percent
from ._revisions import Revisions, observe_revisions
from ._rollout import Rollout, invalid
from ._status import Phase, RolloutStatus
from ._times import parse_time
from ._workloads import plan_workload_scale_down

__all__ = ["reconcile", "reconcile_invalid"]


def reconcile(observed: Observed) -> Plan:
    """Plan the next move of ``observed.rollout`` (see the module docstring)."""
    rollout = observed.rollout
    if errors := invalid(rollout):
        return _invalid_plan(observed, str(ManifestError(errors)))
    b = PlanBuilder(observed)
    canary = rollout.canary
    step_count = len(canary.steps) if canary is not None else 0
    rev = observe_revisions(b, rollout, step_count)
    if canary is not None:
        c_out = plan_canary(b, rollout, rev)
        status, new_rs, waiting, switch_pending = c_out.status, c_out.new_rs, c_out.waiting, False
    else:
        g_out = plan_blue_green(b, rollout, rev)
        status, new_rs, waiting = g_out.status, g_out.new_rs, g_out.waiting
        switch_pending = g_out.switch_pending
    status = _restart(b, rollout, rev, status)

    # counts as Argo reports them, after this plan's scale changes
    sets = {rs.name: rs.replicas for rs in observed.replica_sets}
    from ._actions import CreateReplicaSet, DeleteReplicaSet, ScaleReplicaSet

    for action in b.actions():
        if isinstance(action, ScaleReplicaSet):
            sets[action.name] = action.replicas
        elif isinstance(action, CreateReplicaSet):
            sets[action.name] = action.replicas
        elif isinstance(action, DeleteReplicaSet):
            sets.pop(action.name, None)
    ready = sum(min(rs.ready_replicas, sets.get(rs.name, 0)) for rs in observed.replica_sets)
    available = sum(
        min(rs.available_replicas, sets.get(rs.name, 0)) for rs in observed.replica_sets
    )
    new_available = min(new_rs.available_replicas, sets.get(new_rs.name, 0))
    facts = _state.Facts(
        replicas=rollout.replicas,
        updated=sets.get(new_rs.name, 0),
        ready=ready,
        available=new_available if status.stable_rs == rev.new_hash else available,
        total=sum(sets.values()),
        # old pods still waiting out scaleDownDelaySeconds do not make it Progressing
        lingering=sum(
            sets.get(rs.name, 0)
            for rs in observed.replica_sets
            if rs.name != new_rs.name and _has_deadline(b, rs)
        ),
        spec_paused=rollout.paused,
        new_is_stable=status.stable_rs == rev.new_hash,
        blue_green_switch_pending=switch_pending and not status.abort,
        waiting=waiting,
        restart_refused=next(
            (rs.restart_refused for rs in observed.replica_sets if rs.restart_refused), ""
        ),
    )
    progressed = (
        status.current_step_index != rollout.status.current_step_index
        or facts.available != rollout.status.available_replicas
        or facts.updated != rollout.status.updated_replicas
    )
    infra_wait = (
        bool(waiting) and not status.abort and not rollout.paused and not status.pause_conditions
    )
    if not infra_wait:
        waiting = ""
    since, exceeded, due = _state.track_progress(
        status,
        waiting=waiting,
        progressed=progressed,
        deadline_seconds=rollout.progress_deadline_seconds,
        now=observed.now,
    )
    b.at(due)
    was_exceeded = _state.deadline_exceeded(rollout.status)
    if exceeded and not was_exceeded:
        b.event(
            "ProgressDeadlineExceeded",
            f"Rollout made no progress for {rollout.progress_deadline_seconds}s: {waiting}",
            "Warning",
        )
        if rollout.progress_deadline_abort and not status.abort:
            b.event("Aborted", "RolloutAborted: progress deadline exceeded", "Warning")
            status = _state.abort(
                status, f"RolloutAborted: progress deadline exceeded ({waiting})", observed.now
            )
    status = _state.finish(
        status,
        facts,
        generation=rollout.generation,
        deadline_hit=exceeded,
        now=observed.now,
        progress_message=waiting,
        waiting_since=since,
    )
    plan_workload_scale_down(b, rollout, healthy=status.phase == Phase.HEALTHY, available=available)
    routing = canary.traffic_routing if canary is not None else None
    max_weight = routing.max_traffic_weight if routing is not None else 100
    # what an HPA reads through the scale subresource, as Argo reports it: a blue-green
    # Rollout's active ReplicaSet alone, when there is one (rollout/bluegreen.go)
    active = next(
        (
            rs
            for rs in observed.replica_sets
            if rollout.blue_green is not None
            and status.active_selector is not None
            and rs.pod_template_hash == status.active_selector
        ),
        None,
    )
    status = attrs.evolve(
        status,
        selector=_selector_string(rollout, active),
        hpa_replicas=(
            active.status_replicas
            if active is not None
            else sum(rs.status_replicas for rs in observed.replica_sets)
        ),
        stable_weight=max(0, max_weight - status.canary_weight),
    )
    return Plan(b.actions(), status, b.requeue_at())


def _selector_string(rollout: Rollout, active: ReplicaSetView | None = None) -> str:
    """``app=web,tier=front``: the label selector as ``status.selector`` carries it
    (the scale subresource's ``labelSelectorPath``, which an HPA reads); a blue-green
    Rollout's ``active`` ReplicaSet's (with its pod-template hash), as Argo's."""
    labels = rollout.selector.get("matchLabels")
    if not isinstance(labels, dict):
        return ""
    if active is not None:
        labels = {**labels, HASH_LABEL: active.pod_template_hash}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _has_deadline(b: PlanBuilder, rs: ReplicaSetView) -> bool:
    if rs.scale_down_deadline is not None:
        return True
    return any(
        isinstance(a, SetScaleDownDeadline) and a.name == rs.name and a.deadline is not None
        for a in b.actions()
    )


def reconcile_invalid(
    rollout_status: RolloutStatus, message: str, generation: int, *, now: float
) -> RolloutStatus:
    """The status of a Rollout whose spec cannot be used: condition InvalidSpec, Degraded.

    Nothing is changed in the cluster: the pods, weights and Services stay as they are
    until the spec is fixed.  ``now`` stamps the conditions that changed.
    """
    facts = _state.Facts(
        replicas=rollout_status.replicas,
        updated=rollout_status.updated_replicas,
        ready=rollout_status.ready_replicas,
        available=rollout_status.available_replicas,
        total=rollout_status.replicas,
        spec_paused=False,
        new_is_stable=True,
        invalid=message,
    )
    return _state.finish(
        rollout_status,
        facts,
        generation=generation,
        deadline_hit=False,
        now=now,
        progress_message=message,
    )


def _invalid_plan(observed: Observed, message: str) -> Plan:
    rollout = observed.rollout
    status = reconcile_invalid(rollout.status, message, rollout.generation, now=observed.now)
    if status == rollout.status:
        return Plan((), status)
    return Plan((EmitEvent("InvalidSpec", message, "Warning"),), status)


def _restart(
    b: PlanBuilder, rollout: Rollout, rev: Revisions, status: RolloutStatus
) -> RolloutStatus:
    """``spec.restartAt``: replace pods older than it, stable first, then the rest."""
    when = parse_time(rollout.restart_at)
    if when is None or rollout.restart_at == status.restarted_at:
        return status
    if b.now < when:
        b.at(when)
        return status
    unavailable = max(
        1,
        resolve_int_or_percent(
            getattr(rollout.strategy, "max_unavailable", 1), rollout.replicas, round_up=False
        ),
    )
    order = [rs for rs in (rev.stable_rs, rev.new_rs) if rs is not None]
    order += [rs for rs in rev.others if rs not in order]
    seen: set[str] = set()
    for rs in order:
        if rs.replicas > 0 and rs.name not in seen:
            seen.add(rs.name)
            b.add("scale_down", RestartPods(rs.name, when, unavailable))
    b.event("RolloutRestarted", f"Restarting pods created before {rollout.restart_at}")
    return attrs.evolve(status, restarted_at=rollout.restart_at)
