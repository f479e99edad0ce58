"""Property tests of reconcile(): random steps, replica counts and pod readiness."""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from progressive.core import Plan, Rollout, actions
from progressive.core._canary import fixed_scale, weight_at
from progressive.core._replicas import capacity_weight, resolve_int_or_percent

from .test_reconcile_canary import user_promote
from .world import World, canary_manifest

step_strategy = st.one_of(
    st.builds(lambda w: {"setWeight": w}, st.integers(0, 100)),
    st.builds(lambda d: {"pause": {"duration": d}}, st.integers(0, 120)),
    st.just({"pause": {}}),
    st.builds(lambda w: {"setCanaryScale": {"weight": w}}, st.integers(0, 100)),
    st.just({"setCanaryScale": {"matchTrafficWeight": True}}),
    st.just(
        {
            "setHeaderRoute": {
                "name": "h",
                "match": [{"headerName": "x", "headerValue": {"exact": "1"}}],
            }
        }
    ),
    st.just({"analysis": {"templates": [{"templateName": "t"}]}}),
)

op_strategy = st.one_of(
    st.tuples(st.just("reconcile"), st.just(0)),
    st.tuples(st.just("ready"), st.integers(0, 5)),
    st.tuples(st.just("unready"), st.integers(0, 3)),
    st.tuples(st.just("time"), st.integers(1, 200)),
    st.tuples(st.just("promote"), st.just(0)),
    st.tuples(st.just("abort"), st.just(0)),
    st.tuples(st.just("retry"), st.just(0)),
    st.tuples(st.just("image"), st.integers(1, 3)),
    st.tuples(st.just("verdict"), st.sampled_from(["Successful", "Failed", "Inconclusive"])),
)


def _ready(world: World, count: int) -> None:
    for name, rs in world.sets.items():
        ready = min(rs.replicas, rs.available_replicas + count)
        world.sets[name] = attrs.evolve(rs, ready_replicas=ready, available_replicas=ready)


def _unready(world: World, count: int) -> None:
    for name, rs in world.sets.items():
        left = max(0, rs.available_replicas - count)
        world.sets[name] = attrs.evolve(rs, ready_replicas=left, available_replicas=left)


def _check_after_apply(world: World, max_weight: int, was_aborted: bool, last: int | None) -> None:
    rollout = world.rollout
    status = rollout.status
    weight = world.traffic.weight or 0
    assert 0 <= weight <= max_weight  # stable gets max_weight - weight: they sum up
    canary_hash = world.services.get("app-canary")
    canary = next((rs for rs in world.sets.values() if rs.pod_template_hash == canary_hash), None)
    if weight > 0 and not (status.abort and rollout.canary and rollout.canary.dynamic_stable_scale):
        assert canary is not None
        steps = rollout.canary.steps if rollout.canary else ()
        index = status.current_step_index or 0
        fixed = any(fixed_scale(steps, k) for k in range(min(index + 1, len(steps))))
        if fixed and not status.abort:
            # setCanaryScale fixed the canary's size: it gets the step's weight whatever
            # its pods carry, as in Argo (with a CanaryScaleOverweight Warning), and
            # never more than the step asks for
            assert weight <= weight_at(steps, index, max_weight)
        else:
            capacity = capacity_weight(canary.available_replicas, rollout.replicas, max_weight)
            assert weight <= capacity
    if was_aborted and status.abort and last is not None:
        assert weight <= last, "an aborted rollout raised the canary weight"


def _idempotent(world: World) -> None:
    again = world.plan()
    assert again.actions == (), again.actions
    assert again.status == world.rollout.status


def _ended_pause(plan: Plan) -> bool:
    """The plan ends a timed pause that ran out: its status write (and the pause's
    Event) is the whole plan, as in Argo, and the next step starts in the plan after
    it, so ending a pause costs one write."""
    ended = [a for a in plan.actions if isinstance(a, actions.EmitEvent)]
    if not any(e.reason == "Resumed" and e.message == "Pause ended" for e in ended):
        return False
    assert ended == list(plan.actions), plan.actions
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(step_strategy, min_size=0, max_size=8),
    replicas=st.integers(1, 12),
    dynamic=st.booleans(),
    ops=st.lists(op_strategy, min_size=1, max_size=60),
)
# back to an aborted canary's revision, fully available, past another one: its promotion
# scales the revision in between down too, not only the old stable one
@example(
    steps=[],
    replicas=1,
    dynamic=False,
    ops=[("image", 3), ("abort", 0), ("ready", 1), ("image", 2), ("image", 3)],
)
# setCanaryScale {weight: 1} fixes the canary at 1 pod of 4 (25%): it gets the 26% its
# step sets, as in Argo, not its pods' share
@example(
    steps=[{"setWeight": 26}, {"setCanaryScale": {"weight": 1}}, {"pause": {}}],
    replicas=4,
    dynamic=False,
    ops=[("image", 2), ("ready", 2)],
)
# a pause runs out: that plan only ends it; the next one moves the weight to 60
@example(
    steps=[{"setWeight": 20}, {"pause": {"duration": 10}}, {"setWeight": 60}],
    replicas=5,
    dynamic=False,
    ops=[("image", 2), ("ready", 5), ("time", 10)],
)
def test_traffic_routed_canary_invariants(
    steps: list[dict[str, Any]], replicas: int, dynamic: bool, ops: list[tuple[str, Any]]
) -> None:
    manifest = canary_manifest(
        steps, replicas=replicas, extra={"dynamicStableScale": True} if dynamic else None
    )
    world = World(Rollout.from_manifest(manifest))
    world.settle()
    world.auto_ready = False
    verdict = "Successful"
    world.verdicts = lambda name: verdict
    image = 1
    for op, arg in ops:
        if op == "ready":
            _ready(world, arg)
            world.finish_runs()
        elif op == "unready":
            _unready(world, arg)
        elif op == "time":
            world.now += arg
        elif op == "promote":
            user_promote(world)
        elif op == "abort":
            world.set_status(abort=True)
        elif op == "retry":
            world.set_status(abort=False)
        elif op == "image":
            image = arg
            world.update_template(f"app:{image}")
        elif op == "verdict":
            verdict = arg
        for _ in range(2):  # a second plan after one that ends a pause
            aborted = world.rollout.status.abort
            before = world.traffic.weight
            plan = world.plan()
            world.apply(plan)
            _check_after_apply(world, 100, aborted, before)
            for action in plan.actions:
                if isinstance(action, actions.WriteWeight):
                    assert action.max_weight == 100
            if not _ended_pause(plan):
                break
        _idempotent(world)
        names = [rs.pod_template_hash for rs in world.sets.values()]
        assert len(names) == len(set(names)), "two ReplicaSets for one pod template"


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.builds(lambda w: {"setWeight": w}, st.integers(0, 100))
        | st.just({"pause": {"duration": 10}}),
        max_size=6,
    ),
    replicas=st.integers(1, 12),
    surge=st.sampled_from([0, 1, "25%", "50%"]),
    unavailable=st.sampled_from([1, 0, "25%"]),
    ops=st.lists(op_strategy, min_size=1, max_size=40),
)
def test_basic_canary_invariants(
    steps: list[dict[str, Any]],
    replicas: int,
    surge: Any,
    unavailable: Any,
    ops: list[tuple[str, Any]],
) -> None:
    if surge == 0 and unavailable == 0:
        unavailable = 1
    manifest = canary_manifest(
        steps,
        replicas=replicas,
        routing=False,
        extra={"maxSurge": surge, "maxUnavailable": unavailable},
    )
    world = World(Rollout.from_manifest(manifest))
    world.settle()
    world.auto_ready = False
    for op, arg in ops:
        if op == "ready":
            _ready(world, arg)
        elif op == "time":
            world.now += arg
        elif op == "promote":
            user_promote(world)
        elif op == "abort":
            world.set_status(abort=True)
        elif op == "retry":
            world.set_status(abort=False)
        elif op == "image":
            world.update_template(f"app:{arg}")
        for _ in range(2):  # a second plan after one that ends a pause
            available_before = sum(rs.available_replicas for rs in world.sets.values())
            total_before = sum(rs.replicas for rs in world.sets.values())
            plan = world.plan()
            world.apply(plan)
            max_surge = resolve_int_or_percent(surge, replicas, round_up=True)
            max_unavailable = resolve_int_or_percent(unavailable, replicas, round_up=False)
            if max_surge == 0 and max_unavailable == 0:
                max_unavailable = 1  # as Kubernetes and Argo do
            # pods never exceed replicas + maxSurge (unless they already did)
            total = sum(rs.replicas for rs in world.sets.values())
            assert total <= max(replicas + max_surge, total_before)
            # scaling down never takes availability below replicas - maxUnavailable
            floor = replicas - max_unavailable
            available_after = sum(rs.available_replicas for rs in world.sets.values())
            assert available_after >= min(available_before, floor)
            if not _ended_pause(plan):
                break
        _idempotent(world)
