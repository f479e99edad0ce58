"""reconcile() for blue-green rollouts."""

from __future__ import annotations

from typing import Any

import attrs

from progressive.core import Phase, RolloutStatus, actions

from .test_reconcile_canary import user_promote
from .world import World, healthy_world


def bg_manifest(**fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "progressive.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "app"},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "app"}},
            "template": {
                "metadata": {"labels": {"app": "app"}},
                "spec": {"containers": [{"name": "app", "image": "app:1"}]},
            },
            "strategy": {
                "blueGreen": {"activeService": "active", "previewService": "preview", **fields}
            },
        },
    }


def test_first_deploy_points_both_services_at_it() -> None:
    world = healthy_world(bg_manifest())
    stable = world.rollout.status.stable_rs
    assert world.services == {"active": stable, "preview": stable}


def test_auto_promotion_switches_active_then_scales_old_down_after_delay() -> None:
    world = healthy_world(bg_manifest())
    old = world.rollout.status.stable_rs
    world.update_template("app:2")
    new = world.rollout.template_hash()
    world.apply(world.plan())
    # preview first: the active Service stays on the old revision until the new is ready
    assert world.services == {"active": old, "preview": new}
    world.settle()
    assert world.rollout.status.phase == Phase.HEALTHY
    assert world.services == {"active": new, "preview": new}
    assert world.sets[f"app-{old}"].replicas == 0
    assert world.now == 30  # scaleDownDelaySeconds


def test_manual_promotion_pauses_with_a_preview_count() -> None:
    world = healthy_world(bg_manifest(autoPromotionEnabled=False, previewReplicaCount=1))
    old = world.rollout.status.stable_rs
    world.update_template("app:2")
    world.settle()
    status = world.rollout.status
    assert status.phase == Phase.PAUSED
    assert status.pause_conditions[0].reason == "BlueGreenPause"
    assert world.sets[f"app-{world.rollout.template_hash()}"].replicas == 1
    assert world.services["active"] == old
    user_promote(world)
    world.settle()
    assert world.rollout.status.phase == Phase.HEALTHY
    assert world.sets[f"app-{world.rollout.template_hash()}"].replicas == 4
    assert world.services["active"] == world.rollout.template_hash()


def test_auto_promotion_seconds() -> None:
    world = healthy_world(bg_manifest(autoPromotionSeconds=60))
    world.update_template("app:2")
    world.settle()
    assert world.rollout.status.phase == Phase.HEALTHY
    switch = [
        a for a in world.log if isinstance(a, actions.SetServiceSelector) and a.service == "active"
    ]
    assert switch[-1].pod_template_hash == world.rollout.template_hash()
    assert world.now == 60 + 30


def test_failed_pre_promotion_analysis_aborts_without_switching() -> None:
    world = healthy_world(bg_manifest(prePromotionAnalysis={"templates": [{"templateName": "t"}]}))
    old = world.rollout.status.stable_rs
    world.verdicts = lambda name: "Failed"
    world.update_template("app:2")
    world.settle()
    assert world.rollout.status.phase == Phase.DEGRADED
    assert world.services["active"] == old
    assert world.sets[f"app-{world.rollout.template_hash()}"].replicas == 0


def test_failed_post_promotion_analysis_switches_back() -> None:
    world = healthy_world(bg_manifest(postPromotionAnalysis={"templates": [{"templateName": "t"}]}))
    old = world.rollout.status.stable_rs
    world.verdicts = lambda name: "Failed"
    world.update_template("app:2")
    world.settle()
    assert world.rollout.status.phase == Phase.DEGRADED
    assert world.services["active"] == old
    assert world.rollout.status.stable_rs == old


def test_abort_from_preview() -> None:
    world = healthy_world(bg_manifest(autoPromotionEnabled=False))
    world.update_template("app:2")
    world.settle()
    world.set_status(abort=True)
    world.settle()
    assert world.rollout.status.phase == Phase.DEGRADED
    assert world.sets[f"app-{world.rollout.template_hash()}"].replicas == 0


def test_world_type() -> None:
    assert isinstance(healthy_world(bg_manifest()), World)


def test_with_no_status_stored_the_active_service_stays_until_promotion() -> None:
    # every status write refused from the start: no stable revision is ever recorded
    world = healthy_world(bg_manifest(autoPromotionEnabled=False))
    old = world.rollout.status.stable_rs
    world.set_status(**attrs.asdict(RolloutStatus(), recurse=False))
    world.update_template("app:2")
    world.refused()
    # the Service that serves production stays on the old revision: it is the stable one
    assert world.services["active"] == old
    assert world.sets[f"app-{old}"].replicas == 4


def test_with_no_status_stored_an_auto_promotion_happens_once() -> None:
    world = healthy_world(bg_manifest(scaleDownDelaySeconds=600))  # the old pods stay
    world.set_status(**attrs.asdict(RolloutStatus(), recurse=False))
    world.update_template("app:2")
    new = world.rollout.template_hash()
    world.refused()
    assert world.services == {"active": new, "preview": new}
    switches = [
        a.pod_template_hash
        for a in world.log
        if isinstance(a, actions.SetServiceSelector) and a.service == "active"
    ]
    assert switches[-1:] == [new] and switches.count(new) == 1, "no flapping back"
