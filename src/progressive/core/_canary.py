"""Planning a canary: steps, weights, replicas, abort, promotion."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from . import _state
from ._actions import (
    CreateAnalysisRun,
    CreateExperiment,
    RemoveManagedRoutes,
    RunStepPlugin,
    TerminateAnalysisRun,
    UndoStepPlugin,
    WriteHeaderRoute,
    WriteMirrorRoute,
    WriteWeight,
)
from ._builder import Mark, PlanBuilder
from ._experiments import template_service
from ._names import PROMOTED_EVENT
from ._observed import ReplicaSetView
from ._replicas import (
    basic_split,
    capacity_weight,
    replicas_for_weight,
    rolling_targets,
)
from ._revisions import (
    Revisions,
    ensure_new_replica_set,
    new_revision_number,
    prune_history,
    run_name,
    scale_down_old,
)
from ._rollout import CanaryStrategy, Rollout, ping_pong_services
from ._status import PauseReason, RolloutStatus
from ._steps import (
    AnalysisStep,
    ExperimentStep,
    Pause,
    PluginStep,
    SetCanaryScale,
    SetHeaderRoute,
    SetMirrorRoute,
    SetWeight,
    Step,
    actions_of,
)
from ._verdicts import judge_run

__all__ = ["CanaryOutcome", "plan_canary"]

TERMINAL = frozenset({"Successful", "Failed", "Error", "Inconclusive"})


@attrs.frozen
class CanaryOutcome:
    status: RolloutStatus
    new_rs: ReplicaSetView
    waiting: str  # what blocks progress on infrastructure, "" when nothing does
    routed_weight: int


def weight_at(steps: Sequence[Step], index: int, max_weight: int) -> int:
    """The weight in force at step ``index``: the last setWeight at or before it."""
    if index >= len(steps):
        return max_weight
    for step in reversed(steps[: index + 1]):
        for action in actions_of(step):
            if isinstance(action, SetWeight):
                weight = action.weight
                return weight * max_weight // 100 if max_weight != 100 else weight
    return 0


def fixed_scale(steps: Sequence[Step], index: int) -> SetCanaryScale | None:
    """The ``setCanaryScale`` in force at step ``index`` that fixes the canary's size
    (``replicas`` or ``weight``), or None when the size follows the traffic weight (no
    such step, or ``matchTrafficWeight: true`` since, or the steps are over)."""
    if index >= len(steps):
        return None
    for step in reversed(steps[: index + 1]):
        for action in actions_of(step):
            if isinstance(action, SetCanaryScale):
                return None if action.match_traffic_weight else action
    return None


def canary_target(c: CanaryStrategy, index: int, replicas: int, max_weight: int) -> int:
    """Pods the canary needs at step ``index`` (traffic routing)."""
    steps = c.steps
    if index >= len(steps):
        return replicas
    target = replicas_for_weight(weight_at(steps, index, max_weight), replicas, max_weight)
    fixed = fixed_scale(steps, index)
    if fixed is not None and fixed.replicas is not None:
        target = fixed.replicas
    elif fixed is not None and fixed.weight is not None:
        target = replicas_for_weight(fixed.weight, replicas, 100)
    if target > 0 and c.min_pods_per_replica_set:
        target = max(target, c.min_pods_per_replica_set)
    return target


def routes_at(
    steps: Sequence[Step], index: int
) -> tuple[dict[str, SetHeaderRoute], dict[str, SetMirrorRoute]]:
    """Header and mirror routes in force at step ``index`` (steps before it, in order)."""
    headers: dict[str, SetHeaderRoute] = {}
    mirrors: dict[str, SetMirrorRoute] = {}
    for step in steps[: index + 1] if index < len(steps) else ():
        for action in actions_of(step):
            if isinstance(action, SetHeaderRoute):
                if action.match:
                    headers[action.name] = action
                else:
                    headers.pop(action.name, None)
            elif isinstance(action, SetMirrorRoute):
                if action.match:
                    mirrors[action.name] = action
                else:
                    mirrors.pop(action.name, None)
    return headers, mirrors


def plan_canary(b: PlanBuilder, rollout: Rollout, rev: Revisions) -> CanaryOutcome:
    c = rollout.canary
    assert c is not None
    status = rev.status
    replicas = rollout.replicas
    routing = c.traffic_routing
    max_weight = routing.max_traffic_weight if routing else 100
    steps = c.steps
    observed_weight = b.observed.traffic.weight or 0
    stable_hash = rev.stable_hash
    assert stable_hash is not None

    # -- 1. the new revision is the stable one: steady state, promoted, or rolled back --
    if rev.new_hash == stable_hash:
        steady_rs = ensure_new_replica_set(b, rollout, rev, replicas)
        if routing is not None or rev.new_rs is None:
            steady_rs = b.scale(steady_rs, replicas)
        b.point(c.stable_service, rev.new_hash)
        b.point(c.canary_service, rev.new_hash)
        if routing is not None and c.ping_pong is not None:
            # the first revision: ping is stable (Argo's first promotion sets it)
            if status.stable_ping_pong is None:
                status = attrs.evolve(status, stable_ping_pong="ping")
                observed_weight = _other_side(b, observed_weight, max_weight)
            b.point(_ping_pong(rollout, status)[0], rev.new_hash)
        if routing is not None:
            _weight(b, 0, observed_weight, rev, max_weight, after_services=True)
            _routes(b, rollout, {}, {})
        _old_stacks(b, rollout, rev, steady_rs, {steady_rs.name: replicas})
        steady_rs = b.planned(steady_rs)
        _terminate_runs(b, keep=set())
        status = attrs.evolve(status, current_step_index=len(steps), canary_weight=0)
        waiting = "" if steady_rs.available_replicas >= replicas else "waiting for new pods"
        return CanaryOutcome(status, steady_rs, waiting, 0)

    stable_rs = rev.stable_rs
    assert stable_rs is not None

    # -- 2. aborted: traffic back to stable, then scale the canary down after a delay --
    if status.abort:
        return _plan_abort(b, rollout, rev, status, stable_rs, observed_weight, max_weight)

    # -- 3. walk the steps as far as they can go now --
    index = min(status.current_step_index or 0, len(steps))
    if status.promote_full:
        index = len(steps)
    new_rs = rev.new_rs
    waiting = ""
    runs: set[str] = set()
    revision = new_revision_number(b, rev)
    if routing is None:
        # the basic canary's pods are its traffic split: the ReplicaSet exists from the start
        new_rs = ensure_new_replica_set(b, rollout, rev, 0)
    new_avail = new_rs.available_replicas if new_rs is not None else 0
    can_advance = not rollout.paused
    # where the weight and route events go among the walk's (PlanBuilder.mark)
    weight_mark: Mark | None = None
    route_marks: dict[str, Mark] = {}
    ended_pause = False  # a timed pause ran out in this reconcile

    while index < len(steps) and can_advance:
        actions = actions_of(steps[index])
        b.step = index
        for action in actions:
            if isinstance(action, SetWeight):
                weight_mark = b.mark()
            elif isinstance(action, SetHeaderRoute | SetMirrorRoute):
                route_marks[action.name] = b.mark()
        # the canary's size (and a setWeight's pods): what every step but a pause waits for
        done = True
        if any(isinstance(a, SetWeight | SetCanaryScale) for a in actions):
            if routing is not None:
                need = canary_target(c, index, replicas, max_weight)
                cap = capacity_weight(new_avail, replicas, max_weight)
                done = new_avail >= need and (
                    # a size the steps fixed carries the step's weight, whatever it is
                    fixed_scale(steps, index) is not None
                    or cap >= weight_at(steps, index, max_weight)
                )
            else:
                assert new_rs is not None
                weight = weight_at(steps, index, 100)
                new_n, stable_n = basic_split(replicas, weight)
                _rolling(b, rollout, new_rs, {new_rs.name: new_n, stable_rs.name: stable_n})
                done = _basic_done(b, rollout, rev, new_rs, weight)
            if not done:
                waiting = "waiting for canary pods to become available"
        ended_pause = False
        for action in actions:
            if isinstance(action, Pause):
                # counts from when the step is reached, pods or not (as in Argo)
                held = status.has_pause(PauseReason.CANARY_STEP) is not None
                status, done = _pause_step(b, status, action)
                ended_pause = held and done
            elif isinstance(action, AnalysisStep | ExperimentStep) and done:
                name = run_name(rollout, rev, revision, f"-{index}")
                runs.add(name)
                status, verdict = judge_run(
                    b,
                    status,
                    name,
                    "analysis" if isinstance(action, AnalysisStep) else "experiment",
                    _start_action(rev, action, name, index),
                    experiment=isinstance(action, ExperimentStep),
                    announce=True,
                )
                done = verdict == "passed"
                if verdict == "aborted":
                    return _plan_abort(
                        b, rollout, rev, status, stable_rs, observed_weight, max_weight
                    )
            elif isinstance(action, PluginStep):
                done = _plugin_step(b, index, action)
        if not done:
            break
        index += 1
        if ended_pause:
            # as in Argo, a pause that ran out ends with a status write of its own; the
            # next step starts in the reconcile that write brings, so a pause ends on
            # time however much the next step has to do (create a run, move traffic)
            break
    status = attrs.evolve(status, current_step_index=index)
    b.step = index
    here = index - 1 if ended_pause else index  # the step whose replicas and traffic hold

    # -- 4. background analysis --
    background = c.analysis
    if background is not None and here >= (background.starting_step or 0):
        name = run_name(rollout, rev, revision)
        runs.add(name)
        start = CreateAnalysisRun(name, "Background", background, stable_hash, rev.new_hash)
        status, verdict = judge_run(b, status, name, "background analysis", start)
        if verdict == "aborted":
            return _plan_abort(b, rollout, rev, status, stable_rs, observed_weight, max_weight)

    # -- 5. replicas and traffic for where we are --
    promoting = here >= len(steps)
    if routing is not None:
        target = canary_target(c, here, replicas, max_weight)
        new_rs = b.scale(ensure_new_replica_set(b, rollout, rev, target), target)
        b.point(c.canary_service, rev.new_hash)
        b.point(c.stable_service, stable_hash)
        if c.ping_pong is not None:
            b.point(_ping_pong(rollout, status)[1], rev.new_hash)
        desired = weight_at(steps, here, max_weight)
        available = new_rs.available_replicas
        capacity = capacity_weight(available, replicas, max_weight)
        routed = min(desired, capacity)
        if 0 < available and any(fixed_scale(steps, k) for k in range(min(here, len(steps)))):
            # after a fixed size, the canary keeps the weight it carried while it grows
            # to the size its weight asks for (Argo keeps the previous step's weight)
            routed = max(routed, min(desired, observed_weight))
        if fixed_scale(steps, here) is not None and 0 < available and target <= available:
            # the steps fixed the canary's size: it gets the step's weight (Argo's
            # behaviour, which its docs warn about), said with a Warning when it is
            # more than its pods' share
            routed = desired
        if promoting and routed == max_weight and new_rs.available_replicas >= replicas:
            return _promote(b, rollout, rev, status, new_rs, observed_weight, max_weight)
        extra = _experiment_weights(b, rollout, rev, revision, here, max_weight)
        _weight(
            b,
            routed,
            observed_weight,
            rev,
            max_weight,
            after_services=False,
            extra=extra,
            at=weight_mark,
        )
        if routed > capacity and routed != observed_weight:
            b.event(
                "CanaryScaleOverweight",
                f"Weight {routed} goes to the canary's {available} of {replicas} pods, "
                f"which carry {capacity} (setCanaryScale fixed its size; "
                "matchTrafficWeight: true sizes it by its weight again)",
                "Warning",
                at=weight_mark,
            )
        stable_target = replicas
        if c.dynamic_stable_scale:
            stable_target = replicas_for_weight(max_weight - routed, replicas, max_weight)
            if stable_target > 0 and c.min_pods_per_replica_set:
                stable_target = max(stable_target, c.min_pods_per_replica_set)
        b.scale(stable_rs, max(stable_target, 0))
        headers, mirrors = routes_at(steps, here)
        _routes(b, rollout, headers, mirrors, route_marks)
        _old_stacks(b, rollout, rev, new_rs, {new_rs.name: target, stable_rs.name: stable_target})
        if promoting and not waiting:
            waiting = "waiting for the new revision to be fully available"
    else:
        weight = 100 if promoting else weight_at(steps, here, 100)
        new_n, stable_n = basic_split(replicas, weight)
        assert new_rs is not None
        _rolling(b, rollout, new_rs, {new_rs.name: new_n, stable_rs.name: stable_n})
        new_rs = b.planned(new_rs)
        routed = 0
        if promoting:
            if _basic_done(b, rollout, rev, new_rs, 100):
                return _promote(b, rollout, rev, status, new_rs, 0, 100)
            waiting = "waiting for the new revision to be fully available"

    _terminate_runs(b, keep=runs)
    prune_history(b, rollout, rev)
    return CanaryOutcome(attrs.evolve(status, canary_weight=routed), new_rs, waiting, routed)


# -- steps -------------------------------------------------------------------------------


def _pause_step(b: PlanBuilder, status: RolloutStatus, step: Pause) -> tuple[RolloutStatus, bool]:
    held = status.has_pause(PauseReason.CANARY_STEP)
    if held is None:
        status, resumed = _state.unpause_acknowledged(status)
        if resumed:
            b.event("Resumed", "Rollout resumed")
            return status, True
        b.event(
            "Paused",
            "Rollout paused"
            + (f" for {int(step.duration)}s" if step.duration is not None else " until promoted"),
        )
        status = _state.pause(status, PauseReason.CANARY_STEP, b.now)
        if step.duration is not None:
            b.at(b.now + step.duration)
            if step.duration == 0:
                return _state.end_pause(status, PauseReason.CANARY_STEP), True
        return status, False
    if step.duration is not None:
        end = held.start_time + step.duration
        if b.now >= end:
            b.event("Resumed", "Pause ended")
            return _state.end_pause(status, PauseReason.CANARY_STEP), True
        b.at(end)
    return status, False


def _plugin_step(b: PlanBuilder, index: int, step: PluginStep) -> bool:
    """A step plugin's step: done once its plugin reports its change in place for this
    revision (``Observed.plugin_steps``); until then the plugin is asked to make it."""
    if index in b.observed.plugin_steps:
        return True
    b.add("routes", RunStepPlugin(index, step.name, step.config))
    b.event("StepPluginRun", f"Step plugin {step.name} run (step {index})")
    return False


def _undo_plugin_steps(b: PlanBuilder, rollout: Rollout) -> None:
    """An abort undoes what the step plugins did, the last step first (Argo calls each
    plugin's Abort in reverse order); planned until the plugins report it undone."""
    c = rollout.canary
    assert c is not None
    for index in sorted(b.observed.plugin_steps, reverse=True):
        if index < len(c.steps) and isinstance(step := c.steps[index], PluginStep):
            b.add("routes", UndoStepPlugin(index, step.name, step.config))
            b.event("StepPluginAborted", f"Step plugin {step.name} undone (step {index})")


def _start_action(
    rev: Revisions, step: AnalysisStep | ExperimentStep, name: str, index: int
) -> CreateAnalysisRun | CreateExperiment:
    assert rev.stable_hash is not None
    if isinstance(step, AnalysisStep):
        return CreateAnalysisRun(name, "Step", step.analysis, rev.stable_hash, rev.new_hash, index)
    return CreateExperiment(
        name, step.templates, step.duration, step.analyses, rev.stable_hash, rev.new_hash
    )


# -- traffic and replicas ------------------------------------------------------------------


def _weight(
    b: PlanBuilder,
    weight: int,
    observed: int,
    rev: Revisions,
    max_weight: int,
    *,
    after_services: bool,
    extra: tuple[tuple[str, int], ...] = (),
    at: Mark | None = None,
) -> None:
    assert rev.stable_hash is not None
    traffic = b.observed.traffic
    current = traffic.weight
    if current is None and weight == 0 and not extra:
        return  # routers hold nothing yet: all traffic already goes to stable
    action = WriteWeight(weight, rev.new_hash, rev.stable_hash, max_weight, extra)
    if current is not None and weight == observed and extra != traffic.experiment_weights:
        # only the experiment's destinations change: on before the step's
        # analyses judge them, off (traffic back to stable) once it is over
        b.add("weight_up" if extra else "weight_down", action)
        shares = ", ".join(f"{service} {w}" for service, w in extra) or "none"
        b.event("SetWeight", f"Set experiment weights: {shares}", at=at)
        return
    pinned = (traffic.canary_hash, traffic.stable_hash)
    if current is not None and weight == observed and traffic.stable_hash is not None:
        if pinned != (rev.new_hash, rev.stable_hash):
            # a router that selects pods itself (App Mesh's VirtualNodes, Istio's
            # subsets) holds other revisions' hashes (the ones its user wrote, or an
            # older revision's): Argo's UpdateHash pins them at every reconcile; the
            # weight stays as it is
            b.add("weight_up", action)
        return
    b.weight(
        weight,
        observed if current is not None else -1,
        action,
        after_services=after_services,
        at=at,
    )


def _experiment_weights(
    b: PlanBuilder, rollout: Rollout, rev: Revisions, revision: int, index: int, max_weight: int
) -> tuple[tuple[str, int], ...]:
    """``(service, weight)`` of the weighted templates of the experiment step at
    ``index`` while its experiment is Running (its pods available), as Argo does."""
    c = rollout.canary
    assert c is not None
    if index >= len(c.steps):
        return ()
    found = [a for a in actions_of(c.steps[index]) if isinstance(a, ExperimentStep)]
    if not found:
        return ()
    step = found[0]
    name = run_name(rollout, rev, revision, f"-{index}")
    run = b.observed.run(name)
    if run is None or run.phase != "Running":
        return ()
    out = []
    for t in step.templates:
        weight, service = t.get("weight"), template_service(name, t)
        if isinstance(weight, int) and weight > 0 and service is not None:
            out.append((service, weight * max_weight // 100))
    return tuple(out)


def _routes(
    b: PlanBuilder,
    rollout: Rollout,
    headers: dict[str, SetHeaderRoute],
    mirrors: dict[str, SetMirrorRoute],
    marks: dict[str, Mark] | None = None,
) -> None:
    traffic = b.observed.traffic
    c = rollout.canary
    assert c is not None and c.traffic_routing is not None
    if not headers and not mirrors:
        if traffic.header_routes or traffic.mirror_routes:
            b.add("routes", RemoveManagedRoutes(c.traffic_routing.managed_routes))
        return
    for name in traffic.header_routes:
        if name not in headers:
            b.add("routes", WriteHeaderRoute(name, ()))
    for name in traffic.mirror_routes:
        if name not in mirrors:
            b.add("routes", WriteMirrorRoute(name, (), 0))
    for name, h in headers.items():
        if name not in traffic.header_routes:
            b.add("routes", WriteHeaderRoute(name, h.match))
            b.event("SetHeaderRoute", f"Header route {name} set", at=(marks or {}).get(name))
    for name, m in mirrors.items():
        if name not in traffic.mirror_routes:
            b.add("routes", WriteMirrorRoute(name, m.match, m.percentage))
            b.event("SetMirrorRoute", f"Mirror route {name} set", at=(marks or {}).get(name))


def _old_stacks(
    b: PlanBuilder,
    rollout: Rollout,
    rev: Revisions,
    new_rs: ReplicaSetView,
    desired: dict[str, int],
) -> None:
    """ReplicaSets that are neither new nor stable go to zero."""
    c = rollout.canary
    assert c is not None
    if c.traffic_routing is None:
        current = {rs.name: rs for rs in (*rev.others, new_rs)}
        if rev.stable_rs is not None and rev.stable_rs.name not in current:
            current[rev.stable_rs.name] = rev.stable_rs
        _rolling(b, rollout, new_rs, desired, extra=current)
        return
    stable = rev.stable_rs
    _retire(b, rollout, rev, stable if stable is not None and stable.name not in desired else None)


def _retire(
    b: PlanBuilder, rollout: Rollout, rev: Revisions, old_stable: ReplicaSetView | None
) -> None:
    """Behind a router: the ReplicaSets that are neither new nor stable go to zero at once
    (after the delay a deadline already set says), and ``old_stable`` after
    ``scaleDownDelaySeconds``."""
    c = rollout.canary
    assert c is not None
    old = [(rs, c.scale_down_delay_seconds if rs.scale_down_deadline else 0) for rs in rev.others]
    if old_stable is not None:
        old.append((old_stable, c.scale_down_delay_seconds))
    scale_down_old(b, old, c.scale_down_delay_revision_limit)


def _rolling(
    b: PlanBuilder,
    rollout: Rollout,
    new_rs: ReplicaSetView,
    desired: dict[str, int],
    extra: dict[str, ReplicaSetView] | None = None,
) -> None:
    c = rollout.canary
    assert c is not None
    sets = {rs.name: rs for rs in b.observed.replica_sets}
    sets[new_rs.name] = new_rs
    if extra:
        sets.update(extra)
    # every move starts from what was observed; a later move in the same plan replaces
    # an earlier one (PlanBuilder.scale), so the plan holds one consistent rolling step
    sets = {name: b.observed_replica_set(rs) for name, rs in sets.items()}
    moves = rolling_targets(
        {n: (rs.replicas, rs.available_replicas) for n, rs in sets.items()},
        desired,
        rollout.replicas,
        c.max_surge,
        c.max_unavailable,
    )
    for name, replicas in moves.items():
        # also when it equals what was observed: that drops a move an earlier step's
        # evaluation put in this plan (PlanBuilder.scale keeps one move per ReplicaSet)
        b.scale(sets[name], replicas)


def _basic_done(
    b: PlanBuilder, rollout: Rollout, rev: Revisions, new_rs: ReplicaSetView | None, weight: int
) -> bool:
    """Has the basic canary's rolling update reached the split for ``weight``?"""
    new_n, stable_n = basic_split(rollout.replicas, weight)
    if new_rs is None:
        return new_n == 0
    new_rs = b.planned(new_rs)
    if new_rs.replicas != new_n or new_rs.available_replicas < new_n:
        return False
    stable = rev.stable_rs
    if stable is not None and stable.name != new_rs.name:
        stable = b.planned(stable)
        if stable.replicas != stable_n or stable.available_replicas < stable_n:
            return False
    return all(b.planned(rs).replicas == 0 for rs in rev.others)


def _promote(
    b: PlanBuilder,
    rollout: Rollout,
    rev: Revisions,
    status: RolloutStatus,
    new_rs: ReplicaSetView,
    observed_weight: int,
    max_weight: int,
) -> CanaryOutcome:
    """Every step done and the new pods all available: the new revision becomes stable."""
    c = rollout.canary
    assert c is not None and rev.stable_rs is not None
    old_stable = rev.stable_rs
    b.event(PROMOTED_EVENT, f"Promoted revision {new_rs.revision} ({rev.new_hash}) to stable")
    b.point(c.stable_service, rev.new_hash)
    if c.traffic_routing is not None and c.ping_pong is not None:
        # the canary's Service becomes the stable one; no selector changes
        side = "pong" if status.stable_ping_pong == "ping" else "ping"
        status = attrs.evolve(status, stable_ping_pong=side)
        observed_weight = _other_side(b, observed_weight, max_weight)
    if c.traffic_routing is not None:
        _weight(b, 0, observed_weight, rev, max_weight, after_services=True)
        _routes(b, rollout, {}, {})
        # the other old revisions too, as the steady state that follows would at once
        _retire(b, rollout, rev, old_stable)
    _terminate_runs(b, keep=set())
    status = attrs.evolve(
        _state.promote(status, rev.new_hash), current_step_index=len(c.steps), canary_weight=0
    )
    return CanaryOutcome(status, new_rs, "", max_weight)


def _plan_abort(
    b: PlanBuilder,
    rollout: Rollout,
    rev: Revisions,
    status: RolloutStatus,
    stable_rs: ReplicaSetView,
    observed_weight: int,
    max_weight: int,
) -> CanaryOutcome:
    c = rollout.canary
    assert c is not None
    replicas = rollout.replicas
    new_rs = rev.new_rs if rev.new_rs is not None else ensure_new_replica_set(b, rollout, rev, 0)
    _terminate_runs(b, keep=set())
    _undo_plugin_steps(b, rollout)
    status = attrs.evolve(_state.settle_abort(status, b.now), current_step_index=0)
    if c.traffic_routing is None:
        _rolling(b, rollout, new_rs, {stable_rs.name: replicas, new_rs.name: 0})
        return CanaryOutcome(attrs.evolve(status, canary_weight=0), b.planned(new_rs), "", 0)
    stable_rs = b.scale(stable_rs, replicas)
    routed = 0
    if c.dynamic_stable_scale:
        # only as much traffic leaves the canary as the stable pods can take, and the
        # canary's weight never goes up
        routed = max(
            0, max_weight - capacity_weight(stable_rs.available_replicas, replicas, max_weight)
        )
        routed = min(routed, observed_weight)
    _weight(b, routed, observed_weight, rev, max_weight, after_services=False)
    _routes(b, rollout, {}, {})
    b.point(c.canary_service, stable_rs.pod_template_hash)
    b.point(c.stable_service, stable_rs.pod_template_hash)
    if routed == 0 and c.abort_scale_down_delay_seconds > 0:
        b.delay_scale_down(new_rs, c.abort_scale_down_delay_seconds)
    for rs in rev.others:
        b.delay_scale_down(rs, 0)
    return CanaryOutcome(attrs.evolve(status, canary_weight=routed), new_rs, "", routed)


def _ping_pong(rollout: Rollout, status: RolloutStatus) -> tuple[str, str]:
    """``(stable, canary)`` of the ping-pong Services by ``status``."""
    found = ping_pong_services(attrs.evolve(rollout, status=status))
    assert found is not None
    return found


def _other_side(b: PlanBuilder, observed: int, max_weight: int) -> int:
    """The weight the routers hold, as the canary's once the ping-pong Services swap:
    what the stable one held.  (The plan's traffic actions are applied with the roles
    its status gives; ``_shell.apply.apply_plan``.)"""
    if b.observed.traffic.weight is None:
        return observed
    return max_weight - observed


def _terminate_runs(b: PlanBuilder, keep: set[str]) -> None:
    for run in b.observed.runs:
        if run.name not in keep and run.phase not in TERMINAL and not run.terminated:
            b.add("runs", TerminateAnalysisRun(run.name))
