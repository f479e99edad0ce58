"""reconcile() for canaries, driven through the pure test world (no event loop)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from progressive.core import Phase, Rollout, RolloutStatus, TrafficView, actions, promote
from progressive.core._commands import merge_patch

from .world import World, canary_manifest, healthy_world

STEPS = [
    {"setWeight": 20},
    {"pause": {"duration": 30}},
    {"setWeight": 50},
    {"pause": {}},
    {"setWeight": 80},
]


def weights(world: World) -> list[int]:
    return [a.weight for a in world.log if isinstance(a, actions.WriteWeight)]


def new_rs(world: World):  # type: ignore[no-untyped-def]
    return world.sets[f"app-{world.rollout.template_hash()}"]


def user_promote(world: World, *, full: bool = False) -> None:
    _, status_patch = promote(world.rollout, full=full)
    stored = world.rollout.status.to_manifest()
    from progressive.core import RolloutStatus

    world.rollout = attrs.evolve(
        world.rollout,
        paused=False,
        status=RolloutStatus.from_manifest(merge_patch(stored, status_patch["status"])),
    )


def test_first_revision_skips_the_steps() -> None:
    world = World(Rollout.from_manifest(canary_manifest(STEPS)))
    world.settle()
    status = world.rollout.status
    assert status.phase == Phase.HEALTHY
    assert status.current_step_index == len(STEPS)
    assert status.stable_rs == world.rollout.template_hash()
    assert weights(world) == []  # no traffic shifting on a first deploy
    assert [a.replicas for a in world.log if isinstance(a, actions.CreateReplicaSet)] == [10]


def test_canary_with_traffic_routing_follows_the_steps() -> None:
    world = healthy_world(canary_manifest(STEPS))
    world.log.clear()
    world.update_template("app:2")
    world.settle()
    status = world.rollout.status
    assert status.phase == Phase.PAUSED and status.current_step_index == 3
    assert weights(world) == [20, 50]
    assert world.now == 30  # the timed pause ran its 30 seconds
    # canary = ceil(weight * replicas / 100); stable stays at full size
    assert new_rs(world).replicas == 5
    assert world.sets[f"app-{status.stable_rs}"].replicas == 10

    user_promote(world)
    world.settle()
    status = world.rollout.status
    assert status.phase == Phase.HEALTHY
    assert weights(world) == [20, 50, 80, 0]  # 0 once the stable Service moved to the new pods
    assert status.stable_rs == world.rollout.template_hash()
    assert world.services == {"app-stable": status.stable_rs, "app-canary": status.stable_rs}
    old = [rs for rs in world.sets.values() if rs.pod_template_hash != status.stable_rs]
    assert [rs.replicas for rs in old] == [0]
    # the old stack was scaled down scaleDownDelaySeconds (30) after the promotion
    deadline = [a for a in world.log if isinstance(a, actions.SetScaleDownDeadline)]
    assert len(deadline) == 1 and world.now == deadline[0].deadline


def test_a_pause_that_runs_out_ends_with_a_status_write_of_its_own() -> None:
    # as in Argo: ending the pause is one write, however much the next step has to do,
    # so a pause ends on time when many rollouts' next steps queue for the API server
    steps = [
        {"setWeight": 20},
        {"pause": {"duration": 30}},
        {"analysis": {"templates": [{"templateName": "check"}]}},
        {"setWeight": 50},
    ]
    world = healthy_world(canary_manifest(steps))
    world.update_template("app:2")
    for _ in range(10):  # until it pauses at step 1 (settle() would jump past it)
        world.apply(world.plan())
        world.make_ready()
        if world.rollout.status.pause_conditions:
            break
    assert world.rollout.status.current_step_index == 1 and world.now == 0
    world.now = 30
    ended = world.plan()
    assert ended.status.current_step_index == 2 and not ended.status.pause_conditions
    assert [(a.reason, a.message) for a in ended.actions] == [("Resumed", "Pause ended")]
    world.apply(ended)
    analysis = world.plan()  # the step after the pause starts in the next reconcile
    created = [a for a in analysis.actions if isinstance(a, actions.CreateAnalysisRun)]
    assert [a.name for a in created] == [
        f"app-{world.rollout.template_hash()}-2-2"
    ]  # revision 2, step 2


def test_a_router_holding_other_hashes_is_pinned_to_the_revisions() -> None:
    """App Mesh's VirtualNodes, Istio's subsets: hashes that are not the revisions' (a
    user's placeholders, an older revision's) are written at once, the weight as it is,
    as Argo's UpdateHash does at every reconcile; a router that pins none is left be."""
    world = healthy_world(canary_manifest(STEPS))
    stable = world.rollout.status.stable_rs
    assert stable is not None
    world.traffic = TrafficView(weight=0, canary_hash="canary-tbd", stable_hash="stable-tbd")
    plan = world.plan()
    assert [a for a in plan.actions if isinstance(a, actions.WriteWeight)] == [
        actions.WriteWeight(0, stable, stable, 100)
    ]
    assert [a for a in plan.actions if isinstance(a, actions.EmitEvent)] == []
    world.apply(plan)
    assert (world.traffic.canary_hash, world.traffic.stable_hash) == (stable, stable)
    assert world.plan().actions == ()
    # mid-rollout, at a step's weight: the canary's hash is the new revision's
    world.update_template("app:2")
    world.settle()
    assert world.traffic.weight == 50
    new = world.rollout.template_hash()
    world.traffic = attrs.evolve(world.traffic, canary_hash=stable)
    pins = [a for a in world.plan().actions if isinstance(a, actions.WriteWeight)]
    assert pins == [actions.WriteWeight(50, new, stable, 100)]
    # routers that pin nothing read None: nothing to write
    world.traffic = attrs.evolve(world.traffic, canary_hash=None, stable_hash=None)
    assert [a for a in world.plan().actions if isinstance(a, actions.WriteWeight)] == []


def test_weight_never_moves_ahead_of_ready_canary_pods() -> None:
    world = healthy_world(canary_manifest(STEPS))
    world.update_template("app:2")
    world.apply(world.plan())
    assert new_rs(world).replicas == 2
    assert world.traffic.weight in (None, 0)
    # one of the two pods is ready: 10% of the traffic at most
    world.sets[new_rs(world).name] = attrs.evolve(
        new_rs(world), ready_replicas=1, available_replicas=1
    )
    world.apply(world.plan())
    assert world.traffic.weight == 10
    assert world.rollout.status.current_step_index == 0
    world.make_ready()
    world.apply(world.plan())
    assert world.traffic.weight == 20
    assert world.rollout.status.current_step_index == 1


def test_abort_sends_traffic_to_stable_before_scaling_down() -> None:
    world = healthy_world(canary_manifest(STEPS))
    world.update_template("app:2")
    world.settle()  # paused at step 3 with weight 50
    world.log.clear()
    world.set_status(abort=True)
    plan = world.plan()
    kinds = [type(a) for a in plan.actions if not isinstance(a, actions.EmitEvent)]
    assert kinds.index(actions.WriteWeight) < kinds.index(actions.SetScaleDownDeadline)
    world.apply(plan)
    assert world.traffic.weight == 0
    assert world.rollout.status.phase == Phase.DEGRADED
    assert world.services["app-canary"] == world.rollout.status.stable_rs
    # the canary is scaled down abortScaleDownDelaySeconds (30) later
    assert new_rs(world).replicas == 5
    world.settle()
    assert new_rs(world).replicas == 0
    assert world.now == 30 + 30
    assert world.rollout.status.phase == Phase.DEGRADED

    # retry starts the steps over
    world.set_status(abort=False)
    world.settle()
    assert world.rollout.status.phase == Phase.PAUSED
    assert world.rollout.status.current_step_index == 3


def test_failed_step_analysis_aborts() -> None:
    steps = [
        {"setWeight": 20},
        {"analysis": {"templates": [{"templateName": "t"}]}},
        {"setWeight": 60},
    ]
    world = healthy_world(canary_manifest(steps))
    world.verdicts = lambda name: "Failed"
    world.update_template("app:2")
    world.settle()
    status = world.rollout.status
    assert status.phase == Phase.DEGRADED and status.abort
    assert "analysis" in status.message and "failed" in status.message
    assert weights(world)[-1] == 0 and 60 not in weights(world)


def test_inconclusive_analysis_pauses_and_promote_goes_on() -> None:
    steps = [
        {"setWeight": 20},
        {"analysis": {"templates": [{"templateName": "t"}]}},
        {"setWeight": 60},
    ]
    world = healthy_world(canary_manifest(steps))
    world.verdicts = lambda name: "Inconclusive"
    world.update_template("app:2")
    world.settle()
    assert world.rollout.status.phase == Phase.PAUSED
    assert world.rollout.status.pause_conditions[0].reason == "InconclusiveAnalysisRun"
    user_promote(world)
    world.settle()
    assert world.rollout.status.phase == Phase.HEALTHY


def test_new_revision_during_update_restarts_the_steps() -> None:
    world = healthy_world(canary_manifest(STEPS))
    world.update_template("app:2")
    world.settle()
    middle = new_rs(world)
    world.update_template("app:3")
    world.settle()
    status = world.rollout.status
    assert status.current_step_index == 3 and status.phase == Phase.PAUSED
    assert world.sets[middle.name].replicas == 0  # the intermediate canary is gone
    assert len({rs.pod_template_hash for rs in world.sets.values()}) == len(world.sets)


def test_going_back_to_the_stable_revision_skips_the_steps() -> None:
    world = healthy_world(canary_manifest(STEPS))
    stable = world.rollout.status.stable_rs
    world.update_template("app:2")
    world.settle()
    world.update_template("app:1")
    plan = world.plan()
    assert "SkipSteps" in [a.reason for a in plan.actions if isinstance(a, actions.EmitEvent)]
    world.apply(plan)
    world.settle()
    assert world.rollout.status.phase == Phase.HEALTHY
    assert world.rollout.status.stable_rs == stable
    assert world.traffic.weight == 0


def test_rollback_window_skips_steps_for_a_recent_revision() -> None:
    manifest = canary_manifest(STEPS)
    manifest["spec"]["rollbackWindow"] = {"revisions": 2}
    world = healthy_world(manifest)
    world.update_template("app:2")
    world.settle()
    user_promote(world)
    world.settle()
    assert world.rollout.status.phase == Phase.HEALTHY
    world.update_template("app:1")  # back to revision 1, within the window
    world.settle()
    assert world.rollout.status.phase == Phase.HEALTHY
    assert [a.weight for a in world.log if isinstance(a, actions.WriteWeight)][-1] == 0


def test_promote_full_skips_remaining_steps() -> None:
    world = healthy_world(canary_manifest(STEPS))
    world.update_template("app:2")
    world.settle()
    user_promote(world, full=True)
    world.settle()
    assert world.rollout.status.phase == Phase.HEALTHY
    assert 80 not in weights(world)


def test_spec_paused_holds_the_rollout() -> None:
    world = healthy_world(canary_manifest(STEPS))
    world.rollout = attrs.evolve(world.rollout, paused=True)
    world.update_template("app:2")
    world.settle()
    assert world.rollout.status.phase == Phase.PAUSED
    assert world.rollout.status.current_step_index == 0


def test_progress_deadline_degrades_and_can_abort() -> None:
    manifest = canary_manifest(STEPS)
    manifest["spec"]["progressDeadlineSeconds"] = 120
    manifest["spec"]["progressDeadlineAbort"] = True
    world = healthy_world(manifest)
    world.auto_ready = False
    world.update_template("app:2")
    world.apply(world.plan())
    world.now = 119
    world.apply(world.plan())
    assert world.rollout.status.phase == Phase.PROGRESSING
    world.now = 120
    world.apply(world.plan())
    status = world.rollout.status
    assert status.phase == Phase.DEGRADED and status.abort
    assert "progress deadline" in status.message


def test_header_route_stays_at_weight_zero_and_is_removed_on_promotion() -> None:
    steps = [
        {"setCanaryScale": {"replicas": 1}},
        {
            "setHeaderRoute": {
                "name": "h",
                "match": [{"headerName": "X-Canary", "headerValue": {"exact": "yes"}}],
            }
        },
        {"pause": {}},
        # an explicit canary scale stays in force until matchTrafficWeight (as in Argo)
        {"setCanaryScale": {"matchTrafficWeight": True}},
        {"setWeight": 50},
    ]
    world = healthy_world(canary_manifest(steps))
    world.update_template("app:2")
    world.settle()
    assert world.traffic.header_routes == ("h",)
    assert world.traffic.weight in (None, 0)
    assert new_rs(world).replicas == 1
    user_promote(world)
    world.settle()
    assert world.rollout.status.phase == Phase.HEALTHY
    assert world.traffic.header_routes == ()


def test_weight_above_an_explicit_canary_scale_goes_to_it_with_a_warning() -> None:
    """Argo sends the step's weight to the size setCanaryScale fixed; capping it at
    those pods' capacity left the rollout waiting until its progress deadline."""
    steps = [{"setCanaryScale": {"replicas": 1}}, {"setWeight": 50}, {"pause": {}}]
    world = healthy_world(canary_manifest(steps))
    world.update_template("app:2")
    world.settle()
    assert weights(world) == [50]
    assert world.rollout.status.phase == Phase.PAUSED
    assert new_rs(world).replicas == 1
    warnings = [
        a
        for a in world.log
        if isinstance(a, actions.EmitEvent) and a.reason == "CanaryScaleOverweight"
    ]
    assert [(w.type, w.message) for w in warnings] == [
        (
            "Warning",
            "Weight 50 goes to the canary's 1 of 10 pods, which carry 10 (setCanaryScale "
            "fixed its size; matchTrafficWeight: true sizes it by its weight again)",
        )
    ]
    user_promote(world)
    world.settle()
    assert world.rollout.status.phase == Phase.HEALTHY


def test_dynamic_stable_scale_shrinks_stable_with_traffic() -> None:
    world = healthy_world(canary_manifest(STEPS, extra={"dynamicStableScale": True}))
    world.update_template("app:2")
    world.settle()
    stable = world.sets[f"app-{world.rollout.status.stable_rs}"]
    assert stable.replicas == 5 and world.traffic.weight == 50
    world.set_status(abort=True)
    plan = world.plan()
    # the stable side scales back up before any traffic moves back to it
    assert [a.weight for a in plan.actions if isinstance(a, actions.WriteWeight)] == []
    world.apply(plan)
    world.settle()
    assert world.traffic.weight == 0
    assert world.sets[stable.name].replicas == 10


@pytest.mark.parametrize("replicas", [1, 4, 5, 10])
def test_basic_canary_rolls_pods(replicas: int) -> None:
    world = healthy_world(canary_manifest(STEPS, replicas=replicas, routing=False))
    world.update_template("app:2")
    world.settle()
    new = new_rs(world)
    stable = world.sets[f"app-{world.rollout.status.stable_rs}"]
    assert new.replicas + stable.replicas == replicas
    assert world.rollout.status.phase == Phase.PAUSED
    user_promote(world)
    world.settle()
    assert world.rollout.status.phase == Phase.HEALTHY
    assert new_rs(world).replicas == replicas
    assert sum(rs.replicas for rs in world.sets.values()) == replicas


def test_progress_deadline_covers_the_final_promotion() -> None:
    manifest = canary_manifest([{"setWeight": 50}, {"pause": {}}], replicas=4)
    manifest["spec"]["progressDeadlineSeconds"] = 60
    world = healthy_world(manifest)
    world.update_template("app:2")
    world.settle()  # the canary holds 50%, paused
    world.auto_ready = False
    user_promote(world)  # promotion scales it to full size; two pods never come up
    world.apply(world.plan())
    assert new_rs(world).replicas == 4 and new_rs(world).available_replicas == 2
    start = world.now
    world.now = start + 59
    world.apply(world.plan())
    assert world.rollout.status.phase == Phase.PROGRESSING
    world.now = start + 60
    world.apply(world.plan())
    status = world.rollout.status
    assert status.phase == Phase.DEGRADED
    assert status.condition("Progressing").reason == "ProgressDeadlineExceeded"
    assert not status.abort  # progressDeadlineAbort is off: nothing is rolled back
    # the pods come up after all: progress clears the condition and it promotes
    world.auto_ready = True
    world.settle()
    assert world.rollout.status.phase == Phase.HEALTHY


def test_restart_at_replaces_pods_once_stable_first() -> None:
    world = healthy_world(canary_manifest(STEPS))
    world.now = 100
    world.rollout = attrs.evolve(world.rollout, restart_at="1970-01-01T00:02:00Z")
    plan = world.plan()
    assert not [a for a in plan.actions if isinstance(a, actions.RestartPods)]
    assert plan.requeue_at == 120
    world.apply(plan)
    world.now = 120
    plan = world.plan()
    restarts = [a for a in plan.actions if isinstance(a, actions.RestartPods)]
    stable = f"app-{world.rollout.status.stable_rs}"
    assert [(a.name, a.before, a.max_unavailable) for a in restarts] == [(stable, 120.0, 2)]
    world.apply(plan)
    assert world.rollout.status.restarted_at == "1970-01-01T00:02:00Z"
    assert not [a for a in world.plan().actions if isinstance(a, actions.RestartPods)]


def test_a_refused_restart_is_the_rollouts_replica_failure_until_it_goes_on() -> None:
    world = healthy_world(canary_manifest(STEPS))
    stable = f"app-{world.rollout.status.stable_rs}"
    why = "cannot restart the pods of ReplicaSet x: install it with progressive install --restarts"
    world.sets[stable] = attrs.evolve(world.sets[stable], restart_refused=why)
    world.apply(world.plan())
    failure = world.rollout.status.condition("ReplicaFailure")
    assert failure is not None
    assert (failure.status, failure.reason, failure.message) == ("True", "RestartForbidden", why)
    assert world.rollout.status.phase == Phase.HEALTHY  # the pods it has still serve
    world.sets[stable] = attrs.evolve(world.sets[stable], restart_refused="")
    world.apply(world.plan())
    assert world.rollout.status.condition("ReplicaFailure") is None


def test_retry_after_a_user_abort_at_an_indefinite_pause_pauses_again() -> None:
    world = healthy_world(canary_manifest(STEPS))
    world.update_template("app:2")
    world.settle()
    assert world.rollout.status.pause_conditions  # at `pause: {}`, step 3
    world.set_status(abort=True)  # what `progressive abort` writes
    world.settle()
    status = world.rollout.status
    assert status.phase == Phase.DEGRADED
    assert status.message == "RolloutAborted: the rollout was aborted"
    assert not status.pause_conditions and not status.controller_pause
    world.set_status(abort=False, pause_conditions=())  # what `retry` writes
    world.settle()
    status = world.rollout.status
    assert status.phase == Phase.PAUSED and status.current_step_index == 3


def test_conditions_keep_their_times_until_they_change() -> None:
    world = healthy_world(canary_manifest(STEPS))
    start = world.now
    times = {c.type: (c.last_transition_time, c.last_update_time) for c in status_of(world)}
    assert set(times.values()) == {(start, start)}
    world.now = start + 100
    world.apply(world.plan())
    assert {c.type: (c.last_transition_time, c.last_update_time) for c in status_of(world)} == (
        times
    ), "nothing changed: no time moved"
    world.update_template("app:2")
    world.apply(world.plan())
    now = {c.type: c for c in status_of(world)}
    assert now["Healthy"].status == "False"
    assert now["Healthy"].last_transition_time == now["Healthy"].last_update_time == start + 100
    # a new revision progresses anew; Available is still what it was
    assert now["Progressing"].message == "waiting for canary pods to become available"
    assert now["Progressing"].last_update_time == start + 100
    assert (now["Available"].last_transition_time, now["Available"].last_update_time) == (
        times["Available"]
    )


def status_of(world: World) -> tuple[Any, ...]:
    return world.rollout.status.conditions


@pytest.mark.parametrize("routing", [True, False])
def test_with_no_status_stored_a_new_revision_never_passes_its_first_step(routing: bool) -> None:
    # every status write refused from the start: no stable revision is ever recorded
    world = healthy_world(canary_manifest(STEPS, routing=routing))
    old = world.sets[f"app-{world.rollout.status.stable_rs}"]
    world.set_status(**attrs.asdict(RolloutStatus(), recurse=False))
    world.update_template("app:2")
    world.log.clear()
    world.refused()
    # the first step's 20%: two pods of ten, never the whole new revision
    assert new_rs(world).replicas == 2 and world.sets[old.name].replicas >= 8
    assert max(weights(world), default=0) <= 20
    reasons = {a.reason for a in world.log if isinstance(a, actions.EmitEvent)}
    assert "StableRevisionUnknown" in reasons and "InitialDeploy" not in reasons


def test_with_no_status_stored_a_promotion_sticks() -> None:
    # steps that need nothing stored (a weight, then all of it) can promote; once the
    # stable Service selects the new revision it is the stable one, and stays so
    manifest = canary_manifest([{"setWeight": 50}], extra={"scaleDownDelaySeconds": 600})
    world = healthy_world(manifest)
    world.set_status(**attrs.asdict(RolloutStatus(), recurse=False))
    world.update_template("app:2")
    world.log.clear()
    world.refused()
    new = new_rs(world)
    switches = [
        a.pod_template_hash
        for a in world.log
        if isinstance(a, actions.SetServiceSelector) and a.service == "app-stable"
    ]
    assert new.replicas == 10 and switches == [new.pod_template_hash], "no flapping"
    assert world.services["app-stable"] == new.pod_template_hash
