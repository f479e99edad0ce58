"""Revision bookkeeping shared by both strategies: which ReplicaSet is new, which is
stable, rollbacks, history cleanup, analysis-run names."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from . import _state
from ._actions import CreateReplicaSet, DeleteReplicaSet, SetReplicaSetRevision
from ._builder import PlanBuilder
from ._names import HASH_LABEL
from ._observed import ReplicaSetView
from ._pod_templates import with_anti_affinity
from ._rollout import Rollout
from ._status import RolloutStatus

__all__ = [
    "Revisions",
    "ensure_new_replica_set",
    "new_revision_number",
    "observe_revisions",
    "prune_history",
    "scale_down_old",
]


@attrs.frozen
class Revisions:
    new_hash: str
    status: RolloutStatus
    stable_hash: str | None
    new_rs: ReplicaSetView | None
    stable_rs: ReplicaSetView | None
    others: tuple[ReplicaSetView, ...]
    skipped: bool = False


def observe_revisions(b: PlanBuilder, rollout: Rollout, step_count: int) -> Revisions:
    """Find the new and stable ReplicaSets and start a new revision when needed.

    A first deploy -- no stable revision -- skips the steps.  No stable revision
    recorded is not a first deploy when another revision still has pods: the status
    was lost or could not be stored (a refused write), and the new revision must go
    through the steps, so the revision with the most available pods is the stable one.
    """
    obs = b.observed
    status = rollout.status
    new_hash = rollout.template_hash()
    steps_hash = rollout.steps_hash()
    stable_hash = status.stable_rs
    if stable_hash is None:
        stable_hash = _serving(b, rollout, new_hash)
    elif stable_hash != new_hash and obs.replica_set(stable_hash) is None:
        stable_hash = None  # the stable ReplicaSet is gone: start over as a first deploy
    new_rs = obs.replica_set(new_hash)
    skipped = False
    if status.current_pod_hash != new_hash or status.current_step_hash != steps_hash:
        skip_to: int | None = None
        if stable_hash is None:
            b.event("InitialDeploy", "First revision: skipping the steps")
            skip_to = step_count
        elif new_hash == stable_hash:
            if status.current_pod_hash is not None and status.current_pod_hash != new_hash:
                b.event("SkipSteps", "Rolled back to the stable revision: skipping the steps")
            skip_to = step_count
        elif _within_rollback_window(rollout, obs.replica_set(stable_hash), new_rs):
            b.event("SkipSteps", "Rollback within window: skipping the steps and analysis")
            skip_to = step_count
        else:
            b.event("RolloutUpdated", f"Updating to revision with pod template hash {new_hash}")
        skipped = skip_to == step_count and stable_hash is not None and new_hash != stable_hash
        status = _state.start_revision(status, new_hash, steps_hash, skip_to=skip_to, now=b.now)
    if stable_hash is None:
        stable_hash = new_hash
    if status.stable_rs != stable_hash:
        status = attrs.evolve(status, stable_rs=stable_hash)
    stable_rs = obs.replica_set(stable_hash)
    others = tuple(
        rs for rs in obs.replica_sets if rs.pod_template_hash not in (new_hash, stable_hash)
    )
    return Revisions(new_hash, status, stable_hash, new_rs, stable_rs, others, skipped)


def _serving(b: PlanBuilder, rollout: Rollout, new_hash: str) -> str | None:
    """The revision serving production when none is recorded as stable: the one the
    stable (canary) or active (blue-green) Service selects, else the revision other than
    the new one with the most available pods; None when no other revision has pods."""
    obs = b.observed
    service = rollout.canary.stable_service if rollout.canary else None
    if rollout.blue_green is not None:
        service = rollout.blue_green.active_service
    selected = obs.services.get(service) if service else None
    rs = obs.replica_set(selected)
    if rs is None:
        serving = [
            rs
            for rs in obs.replica_sets
            if rs.pod_template_hash != new_hash and (rs.replicas > 0 or rs.available_replicas > 0)
        ]
        if not serving:
            return None
        rs = max(serving, key=lambda rs: (rs.available_replicas, rs.replicas, rs.revision))
    if rs.pod_template_hash != new_hash:
        b.event(
            "StableRevisionUnknown",
            f"No stable revision is recorded; ReplicaSet {rs.name}, which serves "
            f"production ({rs.available_replicas} pods available), is taken as the stable "
            "one, and the new revision goes through the steps",
            "Warning",
        )
    return rs.pod_template_hash


def _within_rollback_window(
    rollout: Rollout, stable: ReplicaSetView | None, candidate: ReplicaSetView | None
) -> bool:
    window = rollout.rollback_window
    if not window or stable is None or candidate is None:
        return False
    return candidate.revision < stable.revision and stable.revision - candidate.revision <= window


def new_revision_number(b: PlanBuilder, rev: Revisions) -> int:
    """The revision number the new ReplicaSet has, or will have once this plan is applied.

    A brand-new ReplicaSet gets the next number; an old one that becomes the update
    target again (a rollback) is renumbered the same way.
    """
    newest = max((rs.revision for rs in b.observed.replica_sets), default=0)
    if rev.new_rs is None:
        return newest + 1
    if rev.new_rs.revision < newest and rev.new_hash != rev.stable_hash:
        return newest + 1
    return rev.new_rs.revision


def ensure_new_replica_set(
    b: PlanBuilder, rollout: Rollout, rev: Revisions, replicas: int
) -> ReplicaSetView:
    """The new revision's ReplicaSet: created, or re-used (a rollback) with a new number."""
    revision = new_revision_number(b, rev)
    if rev.new_rs is None:
        template = dict(rollout.template)
        meta = dict(template.get("metadata") or {})
        meta["labels"] = {**(meta.get("labels") or {}), HASH_LABEL: rev.new_hash}
        template["metadata"] = meta
        selector = dict(rollout.selector)
        selector["matchLabels"] = {
            **(selector.get("matchLabels") or {}),
            HASH_LABEL: rev.new_hash,
        }
        strategy = rollout.canary or rollout.blue_green
        anti = strategy.anti_affinity if strategy is not None else None
        if anti is not None and rev.stable_hash and rev.stable_hash != rev.new_hash:
            # the new pods avoid the stable pods' nodes (Argo's antiAffinity)
            template = with_anti_affinity(template, rev.stable_hash, rollout.namespace, anti.weight)
        return b.create(
            CreateReplicaSet(
                name=f"{rollout.name}-{rev.new_hash}",
                pod_template_hash=rev.new_hash,
                revision=revision,
                replicas=replicas,
                template=template,
                selector=selector,
                min_ready_seconds=rollout.min_ready_seconds,
            )
        )
    rs = b.cancel_scale_down(rev.new_rs)
    if rs.revision != revision:
        b.add("scale_up", SetReplicaSetRevision(rs.name, revision))
        rs = attrs.evolve(rs, revision=revision)
    return rs


def scale_down_old(
    b: PlanBuilder, old: Sequence[tuple[ReplicaSetView, int]], limit: int | None
) -> None:
    """Scale each ReplicaSet of ``old`` to zero once its delay is over (``delay``: from
    now, for one without a deadline yet); at most ``limit`` of those still waiting, the
    newest revisions, keep waiting, the others go now (Argo's
    ``scaleDownDelayRevisionLimit``; None: no limit)."""
    waiting = 0
    for rs, delay in sorted(old, key=lambda item: -item[0].revision):
        if rs.replicas == 0:
            continue
        deadline = rs.scale_down_deadline
        waits = delay > 0 if deadline is None else b.now < deadline
        if waits and limit is not None and waiting >= limit:
            b.scale(rs, 0)
            continue
        waiting += int(waits)
        b.delay_scale_down(rs, delay)


def prune_history(b: PlanBuilder, rollout: Rollout, rev: Revisions) -> None:
    """Delete scaled-down old ReplicaSets beyond ``revisionHistoryLimit``, oldest first."""
    idle = sorted(
        (rs for rs in rev.others if rs.replicas == 0 and rs.available_replicas == 0),
        key=lambda rs: rs.revision,
    )
    excess = len(idle) - rollout.revision_history_limit
    for rs in idle[: max(0, excess)]:
        b.add("scale_down", DeleteReplicaSet(rs.name))


def run_name(rollout: Rollout, rev: Revisions, revision: int, suffix: str = "") -> str:
    return f"{rollout.name}-{rev.new_hash}-{revision}{suffix}"
