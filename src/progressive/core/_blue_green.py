"""Planning a blue-green rollout.

The new revision scales up as *preview* (``previewReplicaCount`` pods, or all of
them), behind the preview Service.  Once it is available and the pre-promotion
analysis passed, promotion waits for a user (``autoPromotionEnabled: false``), for
``autoPromotionSeconds``, or for nothing.  Promotion scales the new revision to full
size, switches the active Service's selector to it, runs the post-promotion analysis,
and only then makes it stable; the old revision is scaled down
``scaleDownDelaySeconds`` after the switch.  An abort (or a failed analysis) points
the active Service back at the stable revision.
"""

from __future__ import annotations

import attrs

from . import _state
from ._actions import CreateAnalysisRun
from ._builder import PlanBuilder
from ._canary import _terminate_runs
from ._names import COMPLETED_EVENT, PROMOTED_EVENT
from ._observed import ReplicaSetView
from ._revisions import (
    Revisions,
    ensure_new_replica_set,
    new_revision_number,
    prune_history,
    run_name,
    scale_down_old,
)
from ._rollout import BlueGreenStrategy, Rollout
from ._status import PauseReason, RolloutStatus
from ._verdicts import Verdict, judge_run

__all__ = ["BlueGreenOutcome", "plan_blue_green"]


@attrs.frozen
class BlueGreenOutcome:
    status: RolloutStatus
    new_rs: ReplicaSetView
    waiting: str
    switch_pending: bool


def _scale_down_others(
    b: PlanBuilder,
    bg: BlueGreenStrategy,
    rev: Revisions,
    demoted: list[tuple[ReplicaSetView, int]],
) -> None:
    """The old ReplicaSets go to zero, those with a deadline once it passes, at most
    ``scaleDownDelayRevisionLimit`` of them waiting."""
    old = [(rs, bg.scale_down_delay_seconds if rs.scale_down_deadline else 0) for rs in rev.others]
    scale_down_old(b, [*old, *demoted], bg.scale_down_delay_revision_limit)


def plan_blue_green(b: PlanBuilder, rollout: Rollout, rev: Revisions) -> BlueGreenOutcome:
    bg = rollout.blue_green
    assert bg is not None and rev.stable_hash is not None
    status = rev.status
    replicas = rollout.replicas
    active_now = b.observed.services.get(bg.active_service)

    if rev.new_hash == rev.stable_hash:
        new_rs = b.scale(ensure_new_replica_set(b, rollout, rev, replicas), replicas)
        b.point(bg.active_service, rev.new_hash)
        b.point(bg.preview_service, rev.new_hash)
        _scale_down_others(b, bg, rev, [])
        _terminate_runs(b, keep=set())
        prune_history(b, rollout, rev)
        status = attrs.evolve(status, active_selector=rev.new_hash, preview_selector=rev.new_hash)
        waiting = "" if new_rs.available_replicas >= replicas else "waiting for new pods"
        return BlueGreenOutcome(status, new_rs, waiting, False)

    stable_rs = rev.stable_rs
    assert stable_rs is not None
    preview_count = (
        replicas if bg.preview_replica_count is None else min(bg.preview_replica_count, replicas)
    )
    revision = new_revision_number(b, rev)

    if status.abort:
        status = _state.settle_abort(status, b.now)
        new_rs = (
            rev.new_rs if rev.new_rs is not None else ensure_new_replica_set(b, rollout, rev, 0)
        )
        b.scale(stable_rs, replicas)
        b.point(bg.active_service, rev.stable_hash)
        _terminate_runs(b, keep=set())
        if bg.abort_scale_down_delay_seconds > 0:
            b.delay_scale_down(new_rs, bg.abort_scale_down_delay_seconds)
        for rs in rev.others:
            b.delay_scale_down(rs, 0)
        status = attrs.evolve(status, active_selector=rev.stable_hash)
        return BlueGreenOutcome(status, new_rs, "", False)

    switched = active_now == rev.new_hash
    keep: set[str] = set()
    demoted: list[tuple[ReplicaSetView, int]] = []  # the stable one, once promoted
    waiting = ""
    if not switched:
        go = False
        new_rs = ensure_new_replica_set(b, rollout, rev, preview_count)
        full = status.promote_full or _promotion_started(b, new_rs, preview_count, replicas)
        new_rs = b.scale(new_rs, replicas if full else preview_count)
        b.point(bg.preview_service, rev.new_hash)
        b.point(bg.active_service, rev.stable_hash)
        b.scale(stable_rs, replicas)
        if new_rs.available_replicas < preview_count:
            waiting = "waiting for preview pods to become available"
        else:
            status, verdict = _promotion_analysis(
                b, rollout, rev, status, revision, keep, "PrePromotion"
            )
            if verdict == "aborted":
                return _aborted(b, rollout, rev, status)
            if verdict == "passed":
                status, go = _gate(b, rollout, status) if not full else (status, True)
        if go or status.promote_full:
            new_rs = b.scale(new_rs, replicas)
            if new_rs.available_replicas >= replicas and not rollout.paused:
                b.point(bg.active_service, rev.new_hash)
                b.event(PROMOTED_EVENT, f"Switched {bg.active_service} to revision {revision}")
                switched = True
                status = _state.end_pauses(status)
            else:
                waiting = "waiting for the new revision to be fully available"
    else:
        new_rs = b.scale(ensure_new_replica_set(b, rollout, rev, replicas), replicas)
        b.point(bg.preview_service, rev.new_hash)

    if switched:
        # the switch may have happened before a crash: its pause is over either way
        status = (
            _state.end_pause(status, PauseReason.BLUE_GREEN)
            if status.has_pause(PauseReason.BLUE_GREEN)
            else status
        )
        status, verdict = _promotion_analysis(
            b, rollout, rev, status, revision, keep, "PostPromotion"
        )
        if verdict == "aborted":
            return _aborted(b, rollout, rev, status)
        if verdict == "passed":
            demoted.append((stable_rs, bg.scale_down_delay_seconds))
            status = _state.promote(status, rev.new_hash)
            b.event(COMPLETED_EVENT, f"Revision {revision} is stable")

    _scale_down_others(b, bg, rev, demoted)
    _terminate_runs(b, keep=keep)
    prune_history(b, rollout, rev)
    status = attrs.evolve(
        status,
        active_selector=rev.new_hash if switched else rev.stable_hash,
        preview_selector=rev.new_hash,
    )
    return BlueGreenOutcome(status, new_rs, waiting, not switched)


def _aborted(
    b: PlanBuilder, rollout: Rollout, rev: Revisions, status: RolloutStatus
) -> BlueGreenOutcome:
    """The plan once a promotion analysis aborted the update (``status`` says so): the
    abort path of :func:`plan_blue_green`, back to the stable revision."""
    return plan_blue_green(
        b, attrs.evolve(rollout, status=status), attrs.evolve(rev, status=status)
    )


def _promotion_started(b: PlanBuilder, new_rs: ReplicaSetView, preview: int, replicas: int) -> bool:
    """Already scaled past the preview count: a promotion began before a crash/requeue."""
    return preview < replicas and new_rs.replicas >= replicas


def _gate(b: PlanBuilder, rollout: Rollout, status: RolloutStatus) -> tuple[RolloutStatus, bool]:
    """May the preview be promoted now?"""
    bg = rollout.blue_green
    assert bg is not None
    if status.promote_full:
        return status, True
    if bg.auto_promotion_enabled and not bg.auto_promotion_seconds:
        return status, True
    held = status.has_pause(PauseReason.BLUE_GREEN)
    if held is None:
        status, resumed = _state.unpause_acknowledged(status)
        if resumed:
            return status, True
        b.event(
            "Paused",
            "Waiting for promotion"
            if not bg.auto_promotion_enabled or not bg.auto_promotion_seconds
            else f"Auto-promotion in {bg.auto_promotion_seconds}s",
        )
        status = _state.pause(status, PauseReason.BLUE_GREEN, b.now)
        held = status.has_pause(PauseReason.BLUE_GREEN)
        assert held is not None
    if bg.auto_promotion_enabled and bg.auto_promotion_seconds:
        due = held.start_time + bg.auto_promotion_seconds
        if b.now >= due:
            return _state.end_pause(status, PauseReason.BLUE_GREEN), True
        b.at(due)
    return status, False


def _promotion_analysis(
    b: PlanBuilder,
    rollout: Rollout,
    rev: Revisions,
    status: RolloutStatus,
    revision: int,
    keep: set[str],
    kind: str,
) -> tuple[RolloutStatus, Verdict]:
    """The pre- or post-promotion analysis (``kind``): passed when there is none."""
    bg = rollout.blue_green
    assert bg is not None and rev.stable_hash is not None
    pre = kind == "PrePromotion"
    analysis = bg.pre_promotion_analysis if pre else bg.post_promotion_analysis
    if analysis is None or status.promote_full:
        return status, "passed"
    name = run_name(rollout, rev, revision, "-pre" if pre else "-post")
    keep.add(name)
    start = CreateAnalysisRun(name, kind, analysis, rev.stable_hash, rev.new_hash)
    label = "pre-promotion analysis" if pre else "post-promotion analysis"
    return judge_run(b, status, name, label, start)
