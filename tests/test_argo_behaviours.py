"""Argo Rollouts' documented behaviours, each as a simulation with the timeline Argo's
docs describe (``docs/features/*`` of the release the loader reads).

Every test simulates a whole update on the in-memory cluster in virtual time
(:func:`progressive._simulation.simulate`) and checks the records: phase, step, the
weight the routers hold, the replica counts of the previous and the new revision, and
the events, at the moments the docs name.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from progressive._loader import parse_documents
from progressive._shell.traffic import RouterTraffic
from progressive._simulation import SimulationResult, TimelineRecord, simulate
from progressive.core._edits import revision_template
from progressive.routers import ALL_ROUTERS

from .routers.cases import CASES, rollout_manifest
from .stage import Stage


def routed(router: str, steps: list[dict[str, Any]], replicas: int = 10, **spec: Any) -> list[Any]:
    """A Rollout (``web``) on ``router`` with ``steps``, and the router's objects."""
    routing, objects = CASES[router]
    manifest = rollout_manifest(copy.deepcopy(routing), steps)
    manifest["spec"].update(replicas=replicas, **spec)
    return [manifest, *copy.deepcopy(objects)]


def at_step(result: SimulationResult, step: int, phase: str = "Paused") -> TimelineRecord:
    """The first record at ``step`` in ``phase``."""
    return next(r for r in result.timeline if r.step == step and r.phase == phase)


def load_problems(*documents: dict[str, Any]) -> list[str]:
    """The error lines ``lint`` gives for ``documents``."""
    found = parse_documents([("files.yaml", yaml.safe_dump_all(documents))])
    return [f"{p.error.path}: {p.error.message}" for p in found.errors]


def events(result: SimulationResult, reason: str) -> list[TimelineRecord]:
    return [r for r in result.timeline if r.event == reason]


# -- canary: setCanaryScale ----------------------------------------------------------------
# docs/features/canary/index.md, "Setting Canary Scale": with an explicit scale, the
# setWeight steps after it send their weight to however many pods that scale gives
# ("90% of traffic to only 10% of pods"); matchTrafficWeight: true sizes the canary by
# its weight again.  progressive does the same, says so with a Warning Event, and never
# leaves such a rollout waiting for capacity the steps themselves fixed.

FIXED_THEN_WEIGHT = [
    {"setCanaryScale": {"replicas": 1}},
    {"setWeight": 50},
    {"pause": {"duration": 30}},
    {"setCanaryScale": {"matchTrafficWeight": True}},
    {"setWeight": 75},
    {"pause": {"duration": 30}},
]


@pytest.mark.parametrize("router", ALL_ROUTERS)
@pytest.mark.parametrize("scale", [{"replicas": 1}, {"weight": 10}])
def test_an_explicit_canary_scale_takes_the_steps_weight(
    router: str, scale: dict[str, Any]
) -> None:
    steps = copy.deepcopy(FIXED_THEN_WEIGHT)
    steps[0] = {"setCanaryScale": scale}
    # a progress deadline shorter than the pause: a rollout waiting for capacity the
    # steps fixed would go Degraded here
    result = simulate(routed(router, steps, progressDeadlineSeconds=20), auto_promote=True)
    assert (result.phase, result.finished) == ("Healthy", True)
    paused = at_step(result, 2)
    assert (paused.weight, paused.set_weight, paused.new_replicas) == (50, 50, 1)
    (warning,) = events(result, "CanaryScaleOverweight")
    assert warning.message.startswith("Weight 50 goes to the canary's 1 of 10 pods, which carry 10")
    # matchTrafficWeight: the canary grows to the weight's size (5, then 8 for 75) and
    # keeps its 50 meanwhile, as Argo keeps the previous step's weight
    during = [r for r in result.timeline if r.step is not None and 3 <= r.step < 6]
    assert min(r.weight for r in during) == 50
    assert at_step(result, 5).weight == 75 and at_step(result, 5).new_replicas == 8
    assert result.timeline[-1].new_replicas == 10


async def test_a_step_with_several_actions_applies_them_together() -> None:
    """Argo's Apisix end-to-end manifest (here on Istio): one step scales the canary
    to a pod, routes a header to it and pauses 15s (counted from the step); the weight
    stays 0 until setWeight 5, then 50, on the one pod the scale fixed."""
    steps = [
        {
            "setCanaryScale": {"replicas": 1},
            "setHeaderRoute": {
                "name": "testers",
                "match": [{"headerName": "trace", "headerValue": {"exact": "debug"}}],
            },
            "pause": {"duration": 15},
        },
        {"pause": {"duration": 15}},
        {"setWeight": 5},
        {"pause": {"duration": 15}},
        {"setWeight": 50},
        {"pause": {"duration": 15}},
    ]
    docs = routed("istio", steps, replicas=2)
    docs[0]["spec"]["strategy"]["canary"]["trafficRouting"]["managedRoutes"] = [{"name": "testers"}]
    stage = await updated([*docs, *ROUTED])
    await stage.run(5)
    view = await RouterTraffic(stage.cluster).observe(await stage.model())
    assert (stage.step, stage.phase) == (0, "Paused")
    assert (view.weight, view.header_routes, stage.replicas(2)) == (0, ("testers",), (1, 1))
    ((paused, _),) = [(t, e) for t, e in stage.emitted if e.reason == "Paused" and e.step == 0]
    assert paused == 0  # from the step, not from when the pod was ready
    await stage.run_until(31)
    assert (stage.step, await stage.weight()) == (3, 5)
    await stage.run_until(47)
    assert (stage.step, await stage.weight(), stage.replicas(2)[0]) == (5, 50, 1)
    await stage.run()
    assert stage.phase == "Healthy"


@pytest.mark.parametrize("router", ALL_ROUTERS)
def test_a_weight_the_scale_can_carry_sends_no_warning(router: str) -> None:
    steps = [{"setCanaryScale": {"replicas": 5}}, {"setWeight": 20}, {"pause": {"duration": 10}}]
    result = simulate(routed(router, steps), auto_promote=True)
    assert result.phase == "Healthy"
    paused = at_step(result, 2)
    assert (paused.weight, paused.new_replicas) == (20, 5)
    assert events(result, "CanaryScaleOverweight") == []


@pytest.mark.parametrize("router", ALL_ROUTERS)
def test_a_scale_of_no_pods_gets_no_traffic(router: str) -> None:
    """Argo never weighs a canary with no available pods; a step weight waits."""
    steps = [
        {"setCanaryScale": {"replicas": 0}},
        {"setWeight": 30},
        {"pause": {"duration": 10}},
    ]
    result = simulate(routed(router, steps), auto_promote=True)
    assert result.phase == "Healthy"
    paused = at_step(result, 2)
    assert (paused.weight, paused.new_replicas) == (0, 0)


async def scaled_down_at(stage: Stage, since: float, down_at: float | None, *, up: int) -> None:
    """Revision 2 keeps ``up`` pods until ``down_at`` seconds after ``since`` and none
    from then on (None: keeps them for a day)."""
    if down_at is None:
        await stage.run(24 * 3600)
        assert stage.replicas(2)[0] == up
        return
    await stage.run_until(since + down_at - 1)
    assert stage.replicas(2)[0] == up
    await stage.run_until(since + down_at)
    assert stage.replicas(2)[0] == 0


# -- the stage: a Rollout, revision 1 deployed, then updated --------------------------------


def manifest(strategy: dict[str, Any], replicas: int = 10, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "example/web:1"}]},
            },
            "strategy": strategy,
            **spec,
        },
    }


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }


def template(name: str, *metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"metrics": list(metrics)},
    }


def metric(name: str, **fields: Any) -> dict[str, Any]:
    """A Prometheus metric (its values are scripted) that passes at 1 and fails at 0."""
    return {
        "name": name,
        "successCondition": "result >= 1",
        "failureCondition": "result < 1",
        "provider": {"prometheus": {"address": "http://127.0.0.1:1", "query": "up"}},
        **fields,
    }


async def updated(documents: list[dict[str, Any]], metrics: dict[str, Any] | None = None) -> Stage:
    stage = await Stage(documents, metrics).start()
    await stage.update()
    return stage


# -- canary without a router: docs/features/canary/index.md -------------------------------


async def test_basic_canary_splits_the_pods_by_weight_rounding_to_the_nearest() -> None:
    """ "10 Replicas and 10% ... new ReplicaSet to 1 replicas and the old stable to 9.
    ... setWeight is 41% ... the new ReplicaSet has 4 pods ... and the old 6.\""""
    steps = [{"setWeight": 10}, {"pause": {}}, {"setWeight": 41}, {"pause": {}}]
    stage = await updated([manifest({"canary": {"steps": steps}})])
    await stage.run()
    assert (stage.phase, stage.step) == ("Paused", 1)
    assert (stage.replicas(2)[0], stage.replicas(1)[0]) == (1, 9)
    await stage.promote()
    await stage.run()
    assert (stage.phase, stage.step) == ("Paused", 3)
    assert (stage.replicas(2)[0], stage.replicas(1)[0]) == (4, 6)


@pytest.mark.parametrize(
    ("duration", "seconds"), [(10, 10), ("10s", 10), ("10m", 600), ("10h", 36000)]
)
async def test_a_pause_lasts_its_duration_in_seconds_minutes_or_hours(
    duration: object, seconds: float
) -> None:
    steps = [{"setWeight": 50}, {"pause": {"duration": duration}}, {"setWeight": 60}]
    stage = await updated([manifest({"canary": {"steps": steps}})])
    await stage.run()
    assert stage.phase == "Healthy"
    ((paused_at, _),) = stage.events("Paused")
    ((resumed_at, _),) = stage.events("Resumed")
    assert resumed_at - paused_at == seconds


async def test_an_indefinite_pause_waits_for_promote() -> None:
    steps = [{"setWeight": 50}, {"pause": {}}]
    stage = await updated([manifest({"canary": {"steps": steps}})])
    await stage.run()
    assert (stage.phase, stage.step) == ("Paused", 1)
    await stage.run(30 * 24 * 3600)
    assert (stage.phase, stage.step) == ("Paused", 1)
    await stage.promote()
    await stage.run()
    assert stage.phase == "Healthy"


async def test_without_steps_a_canary_is_a_rolling_update() -> None:
    """ "If the steps field is omitted, the canary strategy will mimic the rolling update
    behavior" with maxSurge and maxUnavailable (here 1 and 0: one pod at a time)."""
    stage = await updated([manifest({"canary": {"maxSurge": 1, "maxUnavailable": 0}}, replicas=4)])
    seen: list[tuple[int, int]] = []
    for _ in range(100):  # a second at a time
        await stage.run(1)
        new, old = stage.replicas(2)[0], stage.replicas(1)[0]
        assert new + old <= 5 and stage.replicas(2)[1] + stage.replicas(1)[1] >= 4
        seen.append((new, old))
        if stage.phase == "Healthy" and old == 0:
            break

    assert (stage.replicas(2)[0], stage.replicas(1)[0]) == (4, 0)
    assert seen[0] == (1, 4) and (2, 3) in seen  # one pod at a time


# -- canary with a router: canary/index.md, traffic-management/index.md --------------------


def smi(**canary: Any) -> dict[str, Any]:
    return {
        "canary": {
            "canaryService": "web-canary",
            "stableService": "web-stable",
            "trafficRouting": {"smi": {}},
            **canary,
        }
    }


ROUTED = [service("web-canary"), service("web-stable")]


async def test_the_canary_is_sized_by_its_weight_and_stable_stays_whole() -> None:
    """ "if the current weight is 25%, and there are four replicas, then the canary will
    be scaled to 1"; "the Stable ReplicaSet ... remains fully scaled up\""""
    steps = [{"setWeight": 25}, {"pause": {}}, {"setWeight": 75}, {"pause": {}}]
    stage = await updated([manifest(smi(steps=steps), replicas=4), *ROUTED])
    await stage.run()
    assert (stage.step, await stage.weight()) == (1, 25)
    assert (stage.replicas(2), stage.replicas(1)) == ((1, 1), (4, 4))
    assert (stage.selector("web-canary"), stage.selector("web-stable")) == (
        stage.hash(2),
        stage.hash(1),
    )
    await stage.promote()
    await stage.run()
    assert (stage.step, await stage.weight()) == (3, 75)
    assert (stage.replicas(2)[0], stage.replicas(1)[0]) == (3, 4)


async def test_dynamic_stable_scale_shrinks_the_stable_side_and_grows_it_back_on_abort() -> None:
    """ "dynamically reduce the scale of the stable ReplicaSet during an update such that
    it scales down as the traffic weight increases to canary"; on abort "the canary
    ReplicaSet will dynamically scale down as traffic shifts back to stable\""""
    steps = [{"setWeight": 30}, {"pause": {}}]
    stage = await updated([manifest(smi(steps=steps, dynamicStableScale=True)), *ROUTED])
    await stage.run()
    assert (await stage.weight(), stage.replicas(2)[0], stage.replicas(1)[0]) == (30, 3, 7)
    await stage.abort()
    await stage.run()
    assert stage.phase == "Degraded"
    assert (await stage.weight(), stage.replicas(2)[0], stage.replicas(1)[0]) == (0, 0, 10)


async def test_dynamic_stable_scale_with_an_abort_delay_leaves_the_canary_up() -> None:
    """ "If you wish to leave the canary ReplicaSet scaled up while aborting, an explicit
    value for abortScaleDownDelaySeconds can be set" (600 here)."""
    steps = [{"setWeight": 30}, {"pause": {}}]
    canary = smi(steps=steps, dynamicStableScale=True, abortScaleDownDelaySeconds=600)
    stage = await updated([manifest(canary), *ROUTED])
    await stage.run()
    await stage.abort()
    await stage.run(599)
    assert (await stage.weight(), stage.replicas(2)[0], stage.replicas(1)[0]) == (0, 3, 10)
    await stage.run()
    assert stage.replicas(2)[0] == 0


async def test_managed_routes_are_removed_at_the_end_of_the_rollout() -> None:
    """ "All routes listed in managed routes will be removed at the end of a rollout or
    on an abort.\""""
    routing = {
        "managedRoutes": [{"name": "testers"}],
        "istio": {"virtualService": {"name": "web", "routes": ["primary"]}},
    }
    steps = [
        {
            "setHeaderRoute": {
                "name": "testers",
                "match": [{"headerName": "x", "headerValue": {"exact": "1"}}],
            }
        },
        {"setWeight": 20},
        {"pause": {}},
    ]
    docs = routed("istio", steps)
    docs[0]["spec"]["strategy"]["canary"]["trafficRouting"] = routing
    stage = await updated([*docs, *ROUTED])
    await stage.run()
    view = await RouterTraffic(stage.cluster).observe(await stage.model())
    assert (view.weight, view.header_routes) == (20, ("testers",))
    await stage.promote()
    await stage.run()
    view = await RouterTraffic(stage.cluster).observe(await stage.model())
    assert (stage.phase, view.weight, view.header_routes) == ("Healthy", 0, ())


# -- blue-green: docs/features/bluegreen.md -------------------------------------------------

BLUE_GREEN = [service("active"), service("preview")]


def blue_green(**fields: Any) -> dict[str, Any]:
    return {"blueGreen": {"activeService": "active", "previewService": "preview", **fields}}


async def test_blue_green_sequence_of_events() -> None:
    """bluegreen.md, "Sequence of Events": revision 2 is created, preview points to it
    while active stays on revision 1; revision 2 scales to spec.replicas; once it is
    available the active Service switches; revision 1 is scaled down
    scaleDownDelaySeconds (30) later."""
    stage = await updated([manifest(blue_green(), replicas=3), *BLUE_GREEN])
    first = stage.hash(1)
    assert (stage.selector("active"), stage.selector("preview")) == (first, first)
    await stage.run(1)
    assert stage.replicas(2)[0] == 3
    assert (stage.selector("active"), stage.selector("preview")) == (first, stage.hash(2))
    await stage.run_until(2)  # the pods are ready: promoted
    assert (stage.phase, stage.selector("active")) == ("Healthy", stage.hash(2))
    assert stage.replicas(1)[0] == 3
    await stage.run_until(2 + 29)
    assert stage.replicas(1)[0] == 3
    await stage.run_until(2 + 30)
    assert stage.replicas(1)[0] == 0


async def test_blue_green_without_auto_promotion_pauses_before_the_switch() -> None:
    stage = await updated([manifest(blue_green(autoPromotionEnabled=False)), *BLUE_GREEN])
    await stage.run(3600)
    assert stage.phase == "Paused"
    assert (stage.selector("active"), stage.selector("preview")) == (stage.hash(1), stage.hash(2))
    await stage.promote()
    await stage.run()
    assert (stage.phase, stage.selector("active")) == ("Healthy", stage.hash(2))


async def test_blue_green_auto_promotion_seconds_after_the_pause() -> None:
    """ "automatically promote ... after this much time has been elapsed since the
    rollout has entered a paused state\""""
    bg = blue_green(autoPromotionEnabled=True, autoPromotionSeconds=60)
    stage = await updated([manifest(bg), *BLUE_GREEN])
    await stage.run()
    assert stage.phase == "Healthy"
    ((paused, _),) = stage.events("Paused")
    promoted = [t for t, e in stage.emitted if e.reason in ("Promoted", "RolloutCompleted")]
    assert promoted and promoted[0] - paused == 60


async def test_blue_green_preview_replica_count() -> None:
    """ "the number of replicas that the new version ... should run. Once the
    application is ready to promote ... scale the new ReplicaSet to spec.replicas ...
    will not switch over the active service ... until it matches\""""
    bg = blue_green(previewReplicaCount=1, autoPromotionEnabled=False)
    stage = await updated([manifest(bg, replicas=4), *BLUE_GREEN])
    await stage.run()
    assert (stage.phase, stage.replicas(2), stage.selector("active")) == (
        "Paused",
        (1, 1),
        stage.hash(1),
    )
    await stage.promote()
    await stage.run(1)
    assert stage.replicas(2)[0] == 4 and stage.selector("active") == stage.hash(1)
    await stage.run()
    assert (stage.phase, stage.selector("active")) == ("Healthy", stage.hash(2))


async def test_blue_green_pre_promotion_analysis_blocks_and_aborts() -> None:
    """ "block the Service selector switch until the AnalysisRun finishes successful ...
    or abort the Rollout completely\""""
    pre = {"templates": [{"templateName": "smoke"}]}
    docs = [
        manifest(blue_green(prePromotionAnalysis=pre)),
        *BLUE_GREEN,
        template("smoke", metric("ok", count=2, interval="1m")),
    ]
    stage = await updated(docs, {"ok": [1, 0]})
    await stage.run()
    assert stage.phase == "Degraded"
    assert stage.selector("active") == stage.hash(1)  # never switched
    (run,) = stage.runs()
    assert run["status"]["phase"] == "Failed"
    passing = await updated(docs, {"ok": [1]})
    await passing.run()
    assert (passing.phase, passing.selector("active")) == ("Healthy", passing.hash(2))


async def test_blue_green_post_promotion_analysis_failure_switches_back() -> None:
    """ "If post-promotion Analysis fails or errors, the Rollout enters an aborted state
    and switches traffic back to the previous stable Replicaset.\""""
    post = {"templates": [{"templateName": "smoke"}]}
    docs = [
        manifest(blue_green(postPromotionAnalysis=post, scaleDownDelaySeconds=600)),
        *BLUE_GREEN,
        template("smoke", metric("ok", count=2, interval="1m")),
    ]
    stage = await updated(docs, {"ok": [1, 0]})
    await stage.run(30)
    assert stage.selector("active") == stage.hash(2)  # switched, the analysis running
    await stage.run(600)
    assert stage.phase == "Degraded"
    assert stage.selector("active") == stage.hash(1)
    assert stage.status["stableRS"] == stage.hash(1)


@pytest.mark.parametrize(("delay", "down_at"), [(None, 30), (0, None), (90, 90)])
async def test_blue_green_abort_scales_the_new_replica_set_down(
    delay: int | None, down_at: int | None
) -> None:
    """scaledown-aborted-rs.md: blue-green, abortScaleDownDelaySeconds nil: "scales down
    after 30 seconds"; 0: "does not scale down"; N: "scales down after N seconds"."""
    bg = blue_green(autoPromotionEnabled=False)
    if delay is not None:
        bg["blueGreen"]["abortScaleDownDelaySeconds"] = delay
    stage = await updated([manifest(bg, replicas=2), *BLUE_GREEN])
    await stage.run()
    await stage.abort()
    aborted = stage.t
    await scaled_down_at(stage, aborted, down_at, up=2)


# -- analysis: docs/features/analysis.md ----------------------------------------------------

ANALYSED_STEPS = [
    {"setWeight": 20},
    {"pause": {"duration": "10m"}},
    {"setWeight": 40},
    {"pause": {"duration": "10m"}},
    {"setWeight": 60},
    {"pause": {"duration": "10m"}},
]


async def test_background_analysis_starts_at_its_step_and_a_failure_aborts() -> None:
    """ "Delay starting the analysis run until step 3 (Set Weight 40%)" (startingStep: 2);
    failed, "the Rollout [aborts], setting the canary weight back to zero ... Degraded\""""
    analysis = {"templates": [{"templateName": "rate"}], "startingStep": 2}
    docs = [
        manifest(smi(steps=ANALYSED_STEPS, analysis=analysis)),
        *ROUTED,
        template("rate", metric("rate", interval="5m", failureLimit=2)),
    ]
    stage = await updated(docs, {"rate": [1, 0, 0, 0]})
    await stage.run_until(600)
    assert stage.runs() == []  # still pausing at step 1
    await stage.run()
    assert stage.phase == "Degraded"
    assert await stage.weight() == 0
    (resumed, _), *_ = stage.events("Resumed")  # the first pause ends: step 2
    ((started, _),) = stage.events("AnalysisStarted")
    assert started == resumed
    ((failed, _),) = stage.events("AnalysisFailed")
    assert failed - started == 3 * 300  # one success, then three failures 5m apart


async def test_background_analysis_is_terminated_once_the_steps_are_done() -> None:
    """ "if the rollout completes all of its canary steps, the rollout is considered
    successful and the analysis run is stopped by the controller\""""
    analysis = {"templates": [{"templateName": "rate"}]}
    docs = [
        manifest(smi(steps=ANALYSED_STEPS[:2], analysis=analysis)),
        *ROUTED,
        template("rate", metric("rate", interval="1m")),
    ]
    stage = await updated(docs, {"rate": [1]})
    await stage.run()
    assert stage.phase == "Healthy"
    (run,) = stage.runs()
    assert run["spec"].get("terminate") is True
    assert run["status"]["phase"] == "Successful"


async def test_an_inconclusive_run_pauses_at_its_step_until_promoted() -> None:
    """ "Inconclusive runs causes a rollout to become paused at its current step. Manual
    intervention is then needed to either resume the rollout, or abort.\""""
    steps = [{"setWeight": 20}, {"analysis": {"templates": [{"templateName": "hmm"}]}}]
    # "when both success and failure conditions are specified, but the measurement
    # value did not meet either condition" (with neither, Argo's code says Successful,
    # whatever the docs' older sentence says)
    hmm = metric("hmm", count=1, failureCondition="result < 0")
    docs = [manifest(smi(steps=steps)), *ROUTED, template("hmm", hmm)]
    stage = await updated(docs, {"hmm": [0.5]})
    await stage.run()
    assert (stage.phase, stage.step) == ("Paused", 1)
    assert [p["reason"] for p in stage.status["pauseConditions"]] == ["InconclusiveAnalysisRun"]
    await stage.promote()
    await stage.run()
    assert stage.phase == "Healthy"


async def test_a_dry_run_metric_never_fails_the_rollout() -> None:
    """analysis.md, Dry-Run Mode: a failing dry-run metric does not fail the run."""
    steps = [{"setWeight": 20}, {"analysis": {"templates": [{"templateName": "t"}]}}]
    docs = [
        manifest(smi(steps=steps)),
        *ROUTED,
        {
            **template("t", metric("real", count=1), metric("trial", count=1)),
            "spec": {
                "metrics": [metric("real", count=1), metric("trial", count=1)],
                "dryRun": [{"metricName": "trial"}],
            },
        },
    ]
    stage = await updated(docs, {"real": [1], "trial": [0]})
    await stage.run()
    assert stage.phase == "Healthy"
    (run,) = stage.runs()
    assert run["status"]["phase"] == "Successful"
    assert run["status"]["dryRunSummary"]["failed"] == 1


async def test_analysis_runs_carry_the_analysis_run_metadata() -> None:
    """analysis.md, "Define custom Labels/Annotations for AnalysisRun":
    analysisRunMetadata's labels and annotations are on the run."""
    analysis = {
        "templates": [{"templateName": "t"}],
        "analysisRunMetadata": {
            "labels": {"my-custom-label": "label-value"},
            "annotations": {"my-custom-annotation": "annotation-value"},
        },
    }
    steps = [{"setWeight": 20}, {"analysis": analysis}]
    docs = [manifest(smi(steps=steps)), *ROUTED, template("t", metric("m", count=1))]
    stage = await updated(docs, {"m": [1]})
    await stage.run()
    assert stage.phase == "Healthy"
    (run,) = stage.runs()
    assert run["metadata"]["labels"]["my-custom-label"] == "label-value"
    assert run["metadata"]["labels"]["rollout-type"] == "Step"  # the controller's stay
    assert run["metadata"]["annotations"]["my-custom-annotation"] == "annotation-value"


async def test_a_metric_waits_its_initial_delay() -> None:
    """analysis.md, Delay Analysis Runs: initialDelay delays a metric's measurements."""
    steps = [{"setWeight": 20}, {"analysis": {"templates": [{"templateName": "t"}]}}]
    docs = [
        manifest(smi(steps=steps)),
        *ROUTED,
        template("t", metric("late", count=1, initialDelay="5m")),
    ]
    stage = await updated(docs, {"late": [1]})
    await stage.run()
    ((started, _),) = stage.events("AnalysisStarted")
    ((passed, _),) = stage.events("AnalysisSuccessful")
    assert passed - started == 300


# -- experiments: docs/features/experiment.md -------------------------------------------------


async def test_an_experiment_step_runs_its_duration_then_the_rollout_goes_on() -> None:
    """ "the Experiment will wait until the duration has elapsed" (from when its
    ReplicaSets are available), then "the ReplicaSets will be scaled to zero"; a
    Successful experiment lets the rollout go on."""
    steps = [
        {"setWeight": 20},
        {"experiment": {"duration": "10m", "templates": [{"name": "b", "specRef": "stable"}]}},
        {"setWeight": 40},
    ]
    stage = await updated([manifest(smi(steps=steps)), *ROUTED])
    await stage.run()
    assert stage.phase == "Healthy"
    (exp,) = stage.cluster.objects("argoproj.io/v1alpha1", "Experiment")
    assert exp["status"]["phase"] == "Successful"
    ((started, _),) = stage.events("ExperimentStarted") or [(None, None)]
    done = [t for t, e in stage.emitted if e.reason == "ExperimentSuccessful"]
    assert started is not None and done and 600 <= done[0] - started <= 600 + 2
    sets = [
        rs
        for rs in stage.cluster.objects("apps/v1", "ReplicaSet")
        if rs["metadata"]["name"].startswith(exp["metadata"]["name"])
    ]
    assert sets and all(rs["spec"]["replicas"] == 0 for rs in sets)


async def test_a_failed_experiment_aborts_the_rollout() -> None:
    """ "If the Experiment fails or errors, the Rollout will abort.\""""
    steps = [
        {"setWeight": 20},
        {
            "experiment": {
                "duration": "10m",
                "templates": [{"name": "c", "specRef": "canary"}],
                "analyses": [{"name": "a", "templateName": "t"}],
            }
        },
    ]
    docs = [manifest(smi(steps=steps)), *ROUTED, template("t", metric("m", count=1))]
    stage = await updated(docs, {"m": [0]})
    await stage.run()
    assert stage.phase == "Degraded"
    assert await stage.weight() == 0


# -- scaleDownDelay, and aborts: bluegreen.md, scaledown-aborted-rs.md ----------------------


@pytest.mark.parametrize("delay", [None, 120])
async def test_the_old_stable_waits_its_scale_down_delay_after_promotion(delay: int | None) -> None:
    canary = smi(steps=[{"setWeight": 50}])
    if delay is not None:
        canary["canary"]["scaleDownDelaySeconds"] = delay
    stage = await updated([manifest(canary, replicas=2), *ROUTED])
    await stage.run(10)
    assert stage.phase == "Healthy"
    ((promoted, _),) = stage.events("Promoted")
    await stage.run_until(promoted + (delay or 30) - 1)
    assert stage.replicas(1)[0] == 2
    await stage.run_until(promoted + (delay or 30))
    assert stage.replicas(1)[0] == 0


@pytest.mark.parametrize("limit", [None, 1, 0])
async def test_scale_down_delay_revision_limit_keeps_that_many_old_revisions_up(
    limit: int | None,
) -> None:
    """bluegreen.md: scaleDownDelayRevisionLimit "limits the number of old active
    ReplicaSets to keep scaled up while they wait for the scaleDownDelay to pass";
    "If omitted, all ReplicaSets will be retained for the specified scaleDownDelay"."""
    bg = blue_green(scaleDownDelaySeconds=600)
    if limit is not None:
        bg["blueGreen"]["scaleDownDelayRevisionLimit"] = limit
    stage = await updated([manifest(bg, replicas=2), *BLUE_GREEN])
    await stage.run(60)
    await stage.update()  # revision 3 while revision 1 waits out its delay
    await stage.run(60)
    assert stage.phase == "Healthy"
    up = [rev for rev in (1, 2) if stage.replicas(rev)[0] > 0]
    assert up == {None: [1, 2], 1: [2], 0: []}[limit]


async def test_a_revision_limit_above_the_history_limit_is_invalid() -> None:
    bg = blue_green(scaleDownDelayRevisionLimit=5)
    problems = load_problems(manifest(bg, revisionHistoryLimit=2))
    assert problems == [
        "spec.strategy.blueGreen.scaleDownDelayRevisionLimit: must be at most "
        "revisionHistoryLimit (2)"
    ]


@pytest.mark.parametrize(("delay", "down_at"), [(None, 30), (0, None), (90, 90)])
async def test_a_routed_canary_abort_scales_the_canary_down(
    delay: int | None, down_at: int | None
) -> None:
    """scaledown-aborted-rs.md, canary w/ traffic routing: nil: "scales down after 30
    seconds", 0: "does not scale down", N: "scales down after N seconds"."""
    canary = smi(steps=[{"setWeight": 50}, {"pause": {}}])
    if delay is not None:
        canary["canary"]["abortScaleDownDelaySeconds"] = delay
    stage = await updated([manifest(canary, replicas=4), *ROUTED])
    await stage.run()
    await stage.abort()
    aborted = stage.t
    await stage.run(1)
    assert await stage.weight() == 0
    await scaled_down_at(stage, aborted, down_at, up=2)


async def test_a_basic_canary_abort_rolls_back_to_stable() -> None:
    """scaledown-aborted-rs.md, basic canary: "rolling update back to stable"."""
    steps = [{"setWeight": 50}, {"pause": {}}]
    stage = await updated([manifest({"canary": {"steps": steps}}, replicas=4)])
    await stage.run()
    assert (stage.replicas(2)[0], stage.replicas(1)[0]) == (2, 2)
    await stage.abort()
    await stage.run()
    assert stage.phase == "Degraded"
    assert (stage.replicas(2)[0], stage.replicas(1)[0]) == (0, 4)


# -- restarts: docs/features/restart.md -----------------------------------------------------


async def test_a_restart_replaces_every_pod_at_most_max_unavailable_at_a_time() -> None:
    """ "For every pod older than the restartAt timestamp, the Pod will be evicted ...
    the controller limits itself to deleting up to maxUnavailable Pods at a time\""""
    stage = await Stage([manifest({"canary": {"maxUnavailable": 1}}, replicas=3)]).start()
    before = {p["metadata"]["name"] for p in stage.pods(1)}
    await stage.restart()
    for _ in range(60):
        await stage.run(1)
        ready = [p for p in stage.pods(1) if p["status"].get("phase") == "Running"]
        assert len(ready) >= 2  # never more than one pod down
        if not before & {p["metadata"]["name"] for p in stage.pods(1)}:
            break
    assert not before & {p["metadata"]["name"] for p in stage.pods(1)}
    assert stage.status.get("restartedAt")


async def test_a_scheduled_restart_waits_for_its_time() -> None:
    """ "The controller only starts the restart after the current time is after the
    restartAt time.\""""
    stage = await Stage([manifest({"canary": {}}, replicas=2)]).start()
    before = {p["metadata"]["name"] for p in stage.pods(1)}
    await stage.restart(at=3600)
    await stage.run(3599)
    assert {p["metadata"]["name"] for p in stage.pods(1)} == before
    await stage.run(120)
    assert not before & {p["metadata"]["name"] for p in stage.pods(1)}


# -- HPA: docs/features/hpa-support.md ------------------------------------------------------


async def test_an_autoscaled_basic_canary_keeps_its_split() -> None:
    """ "When HPA decides that 10 pods are needed ... Canary Pods: ceil(10 * 0.2) = 2 ...
    Stable Pods: 10 - 2 = 8"; scaled to 20: "4 pods" and "16 pods"."""
    steps = [{"setWeight": 20}, {"pause": {}}]
    stage = await updated([manifest({"canary": {"steps": steps}}, replicas=10)])
    await stage.run()
    assert (stage.replicas(2)[0], stage.replicas(1)[0]) == (2, 8)
    await stage.edit({"replicas": 20})  # what the HPA writes, through /scale
    await stage.run()
    assert (stage.phase, stage.replicas(2)[0], stage.replicas(1)[0]) == ("Paused", 4, 16)


async def test_an_autoscaled_blue_green_keeps_its_preview_replica_count() -> None:
    """ "the Rollout controller will change the stable ReplicaSet count as instructed by
    the HPA, while keeping the preview ReplicaSet pinned to ... previewReplicaCount\""""
    bg = blue_green(previewReplicaCount=1, autoPromotionEnabled=False)
    stage = await updated([manifest(bg, replicas=3), *BLUE_GREEN])
    await stage.run()
    await stage.edit({"replicas": 6})
    await stage.run()
    assert (stage.phase, stage.replicas(1)[0], stage.replicas(2)[0]) == ("Paused", 6, 1)
    await stage.promote()
    await stage.run()
    assert (stage.phase, stage.replicas(2)[0]) == ("Healthy", 6)


# -- anti-affinity: docs/features/anti-affinity/anti-affinity.md ------------------------------


@pytest.mark.parametrize(
    ("anti", "key"),
    [
        ({"requiredDuringSchedulingIgnoredDuringExecution": {}}, "required"),
        ({"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 40}}, "preferred"),
    ],
)
async def test_anti_affinity_keeps_new_pods_off_the_stable_pods_nodes(
    anti: dict[str, Any], key: str
) -> None:
    """ "the controller injects a PodAntiAffinity struct into the ReplicaSet's Affinity.
    This feature will not modify any of the ReplicaSet's pre-existing affinity rules";
    the new pods "cannot be scheduled on nodes which run the old ReplicaSet's pods\""""
    own = {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {
                "weight": 5,
                "podAffinityTerm": {
                    "labelSelector": {"matchLabels": {"tier": "cache"}},
                    "topologyKey": "kubernetes.io/hostname",
                },
            }
        ]
    }
    rollout = manifest(smi(steps=[{"setWeight": 50}], antiAffinity=anti), replicas=2)
    rollout["spec"]["template"]["spec"]["affinity"] = {"podAntiAffinity": own}
    stage = await updated([rollout, *ROUTED])
    await stage.run()
    assert stage.phase == "Healthy"
    first = stage.replica_set(1)["spec"]["template"]["spec"]["affinity"]
    assert first == {"podAntiAffinity": own}  # the first revision had no stable to avoid
    second = stage.replica_set(2)["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    term = {
        "labelSelector": {
            "matchExpressions": [
                {"key": "rollouts-pod-template-hash", "operator": "In", "values": [stage.hash(1)]}
            ]
        },
        "namespaces": ["default"],
        "topologyKey": "kubernetes.io/hostname",
    }
    if key == "required":
        assert second == {**own, "requiredDuringSchedulingIgnoredDuringExecution": [term]}
    else:
        assert second == {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                *own["preferredDuringSchedulingIgnoredDuringExecution"],
                {"weight": 40, "podAffinityTerm": term},
            ]
        }
    # undo copies revision 2's template back as the user wrote it, without the rule
    sets = stage.cluster.objects("apps/v1", "ReplicaSet")
    _, template = revision_template(sets, 2, None)
    assert template["spec"]["affinity"] == {"podAntiAffinity": own}


@pytest.mark.parametrize(
    ("anti", "error"),
    [
        ({}, "must set exactly one of"),
        (
            {
                "requiredDuringSchedulingIgnoredDuringExecution": {},
                "preferredDuringSchedulingIgnoredDuringExecution": {"weight": 1},
            },
            "must set exactly one of",
        ),
        (
            {"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 0}},
            "must be between 1 and 100, got 0",
        ),
    ],
)
def test_anti_affinity_is_checked_as_argo_checks_it(anti: dict[str, Any], error: str) -> None:
    (line,) = load_problems(manifest({"canary": {"antiAffinity": anti}}))
    assert line.startswith("spec.strategy.canary.antiAffinity") and error in line
