"""Each action changes exactly the object it is about, and nothing else."""

from __future__ import annotations

import typing
from typing import Any

import attrs
import pytest

from progressive._shell import MemoryTraffic, Ref, VirtualClock, apply_action, write_status
from progressive._shell.observe import observe_rollout
from progressive.core import (
    AnalysisArg,
    Rollout,
    RolloutAnalysis,
    RolloutStatus,
    TemplateRef,
    actions,
)
from progressive.core import HeaderMatch as Match
from progressive.errors import ApplyError
from progressive.memory import MemoryCluster
from progressive.routers import ObjectRef, Patch
from progressive.steps import StepRegistry

ROLLOUT = Ref("argoproj.io/v1alpha1", "Rollout", "default", "web")
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}


def rollout_manifest() -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": TEMPLATE,
            "strategy": {
                "canary": {
                    "canaryService": "web-canary",
                    "stableService": "web-stable",
                    "trafficRouting": {"nginx": {"stableIngress": "web"}},
                }
            },
        },
    }


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"app": "web"}},
    }


TEMPLATE_OBJ = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "AnalysisTemplate",
    "metadata": {"name": "rate", "namespace": "default"},
    "spec": {
        "args": [{"name": "hash"}],
        "metrics": [
            {
                "name": "rate",
                "successCondition": "result >= 0.9",
                "provider": {"prometheus": {"query": "rate{hash='{{args.hash}}'}"}},
            }
        ],
    },
}


class World:
    def __init__(self) -> None:
        self.clock = VirtualClock()
        self.cluster = MemoryCluster(self.clock)
        self.traffic = MemoryTraffic(self.cluster)
        self.steps = StepRegistry([LabelStep()])
        self.rollout: Rollout

    async def setup(self) -> None:
        stored = await self.cluster.create(rollout_manifest())
        self.rollout = Rollout.from_manifest(stored)
        for name in ("web-canary", "web-stable"):
            await self.cluster.create(service(name))
        await self.cluster.create(TEMPLATE_OBJ)
        await self.apply(
            actions.CreateReplicaSet(
                "web-old", "old", 1, 2, TEMPLATE, {"matchLabels": {"app": "web"}}
            )
        )

    async def apply(self, action: actions.Action) -> None:
        await apply_action(
            self.cluster,
            self.rollout,
            action,
            traffic=self.traffic,
            now=self.clock.now(),
            steps=self.steps,
        )

    def snapshot(self) -> dict[Ref, dict[str, Any]]:
        out = {}
        for (api, kind), bucket in self.cluster._store.items():
            if kind == "Pod":  # the pod simulator's, not the action's
                continue
            for (ns, name), obj in bucket.items():
                out[Ref(api, kind, ns, name)] = obj
        return out

    async def changed_by(self, action: actions.Action) -> set[Ref]:
        before = {k: repr(v) for k, v in self.snapshot().items()}
        await self.apply(action)
        after = {k: repr(v) for k, v in self.snapshot().items()}
        return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}

    async def get(self, ref: Ref) -> dict[str, Any]:
        obj = await self.cluster.get(ref)
        assert obj is not None, ref
        return obj


@pytest.fixture
async def world() -> World:
    w = World()
    await w.setup()
    return w


def rs_ref(name: str) -> Ref:
    return Ref("apps/v1", "ReplicaSet", "default", name)


TRAFFIC = Ref("progressive.dev/v1alpha1", "TrafficState", "default", "web")
TESTED: set[type] = set()


def covers(kind: type) -> None:
    TESTED.add(kind)


async def test_create_replica_set(world: World) -> None:
    covers(actions.CreateReplicaSet)
    action = actions.CreateReplicaSet(
        "web-new", "new", 2, 1, TEMPLATE, {"matchLabels": {"app": "web"}}, 5
    )
    assert await world.changed_by(action) == {rs_ref("web-new")}
    rs = await world.get(rs_ref("web-new"))
    assert rs["metadata"]["labels"]["rollouts-pod-template-hash"] == "new"
    assert rs["metadata"]["annotations"]["rollout.argoproj.io/revision"] == "2"
    assert rs["metadata"]["ownerReferences"][0]["uid"] == world.rollout.uid
    assert rs["spec"]["selector"]["matchLabels"] == {
        "app": "web",
        "rollouts-pod-template-hash": "new",
    }
    assert rs["spec"]["template"]["metadata"]["labels"]["rollouts-pod-template-hash"] == "new"
    assert rs["spec"]["minReadySeconds"] == 5
    assert rs["spec"]["replicas"] == 1
    # creating it again (a restarted controller) adopts it
    await world.apply(attrs_evolve(action, replicas=3))
    assert (await world.get(rs_ref("web-new")))["spec"]["replicas"] == 3


def attrs_evolve(action: Any, **changes: Any) -> Any:
    return attrs.evolve(action, **changes)


async def test_create_replica_set_refuses_a_foreign_one(world: World) -> None:
    foreign = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "web-x"},
        "spec": {"replicas": 0},
    }
    await world.cluster.create(foreign)
    with pytest.raises(ApplyError):
        await world.apply(actions.CreateReplicaSet("web-x", "x", 2, 1, TEMPLATE, {}))


async def test_scale_replica_set(world: World) -> None:
    covers(actions.ScaleReplicaSet)
    assert await world.changed_by(actions.ScaleReplicaSet("web-old", 5)) == {rs_ref("web-old")}
    assert (await world.get(rs_ref("web-old")))["spec"]["replicas"] == 5


async def test_scale_down_deadline_set_and_cleared(world: World) -> None:
    covers(actions.SetScaleDownDeadline)
    at = world.clock.now() + 30
    assert await world.changed_by(actions.SetScaleDownDeadline("web-old", at)) == {
        rs_ref("web-old")
    }
    annotations = (await world.get(rs_ref("web-old")))["metadata"]["annotations"]
    assert annotations["scale-down-deadline"] == "2023-11-14T22:13:50Z"
    await world.apply(actions.SetScaleDownDeadline("web-old", None))
    annotations = (await world.get(rs_ref("web-old")))["metadata"]["annotations"]
    assert "scale-down-deadline" not in annotations


async def test_set_replica_set_revision(world: World) -> None:
    covers(actions.SetReplicaSetRevision)
    assert await world.changed_by(actions.SetReplicaSetRevision("web-old", 7)) == {
        rs_ref("web-old")
    }
    rs = await world.get(rs_ref("web-old"))
    assert rs["metadata"]["annotations"]["rollout.argoproj.io/revision"] == "7"


async def test_delete_replica_set(world: World) -> None:
    covers(actions.DeleteReplicaSet)
    assert await world.changed_by(actions.DeleteReplicaSet("web-old")) == {rs_ref("web-old")}
    assert await world.cluster.list("v1", "Pod") == []
    assert await world.changed_by(actions.DeleteReplicaSet("web-old")) == set()


async def test_set_service_selector(world: World) -> None:
    covers(actions.SetServiceSelector)
    svc = Ref("v1", "Service", "default", "web-canary")
    assert await world.changed_by(actions.SetServiceSelector("web-canary", "new")) == {svc}
    obj = await world.get(svc)
    assert obj["spec"]["selector"] == {"app": "web", "rollouts-pod-template-hash": "new"}
    assert obj["metadata"]["annotations"]["argo-rollouts.argoproj.io/managed-by-rollouts"] == "web"
    with pytest.raises(ApplyError, match="missing"):
        await world.apply(actions.SetServiceSelector("missing", "new"))


async def test_set_weight(world: World) -> None:
    covers(actions.WriteWeight)
    assert await world.changed_by(actions.WriteWeight(20, "new", "old")) == {TRAFFIC}
    assert (await world.traffic.observe(world.rollout)).weight == 20
    assert await world.changed_by(actions.WriteWeight(40, "new", "old")) == {TRAFFIC}
    state = await world.get(TRAFFIC)
    assert state["spec"] == {
        "weight": 40,
        "maxWeight": 100,
        "canaryHash": "new",
        "stableHash": "old",
    }
    assert state["metadata"]["ownerReferences"][0]["uid"] == world.rollout.uid


async def test_header_mirror_and_removal(world: World) -> None:
    covers(actions.WriteHeaderRoute)
    covers(actions.WriteMirrorRoute)
    covers(actions.RemoveManagedRoutes)
    header = actions.WriteHeaderRoute("h", (Match("X-Canary", exact="yes"),))
    assert await world.changed_by(header) == {TRAFFIC}
    mirror = actions.WriteMirrorRoute("m", ({"method": {"exact": "GET"}},), 30)
    assert await world.changed_by(mirror) == {TRAFFIC}
    view = await world.traffic.observe(world.rollout)
    assert (view.weight, view.header_routes, view.mirror_routes) == (None, ("h",), ("m",))
    spec = (await world.get(TRAFFIC))["spec"]
    assert spec["headerRoutes"][0]["match"] == [
        {"headerName": "X-Canary", "headerValue": {"exact": "yes"}}
    ]
    assert spec["mirrorRoutes"][0]["percentage"] == 30
    await world.apply(actions.WriteHeaderRoute("h", ()))  # no match removes it
    assert (await world.traffic.observe(world.rollout)).header_routes == ()
    assert await world.changed_by(actions.RemoveManagedRoutes(("h", "m"))) == {TRAFFIC}
    view = await world.traffic.observe(world.rollout)
    assert (view.header_routes, view.mirror_routes) == ((), ())


def analysis() -> RolloutAnalysis:
    return RolloutAnalysis(
        (TemplateRef("rate"),),
        (AnalysisArg("hash", value_from={"podTemplateHashValue": "Latest"}),),
    )


async def test_create_and_terminate_analysis_run(world: World) -> None:
    covers(actions.CreateAnalysisRun)
    covers(actions.TerminateAnalysisRun)
    action = actions.CreateAnalysisRun("web-new-2-1", "Step", analysis(), "old", "new", 1)
    ref = Ref("argoproj.io/v1alpha1", "AnalysisRun", "default", "web-new-2-1")
    assert await world.changed_by(action) == {ref}
    run = await world.get(ref)
    assert run["metadata"]["labels"] == {
        "rollout-type": "Step",
        "rollouts-pod-template-hash": "new",
    }
    assert run["metadata"]["ownerReferences"][0]["uid"] == world.rollout.uid
    assert run["spec"]["metrics"][0]["provider"]["prometheus"]["query"] == "rate{hash='new'}"
    assert run["status"]["phase"] == "Running"
    assert await world.changed_by(action) == set()  # already there: kept
    assert await world.changed_by(actions.TerminateAnalysisRun("web-new-2-1")) == {ref}
    assert (await world.get(ref))["spec"]["terminate"] is True
    assert await world.changed_by(actions.TerminateAnalysisRun("gone")) == set()


async def test_acknowledge_run_marks_the_run_and_observe_reads_it(world: World) -> None:
    covers(actions.AcknowledgeRun)
    await world.apply(actions.CreateAnalysisRun("web-new-2-1", "Step", analysis(), "o", "n", 1))
    ref = Ref("argoproj.io/v1alpha1", "AnalysisRun", "default", "web-new-2-1")
    assert await world.changed_by(actions.AcknowledgeRun("web-new-2-1")) == {ref}
    run = await world.get(ref)
    assert run["metadata"]["annotations"]["progressive.dev/acknowledged"] == "true"
    observed = await observe_rollout(world.cluster, world.rollout, traffic=world.traffic, now=0)
    assert [(r.name, r.acknowledged) for r in observed.runs] == [("web-new-2-1", True)]
    assert await world.changed_by(actions.AcknowledgeRun("gone")) == set()


async def test_an_unbuildable_analysis_run_is_stored_as_error(world: World) -> None:
    bad = RolloutAnalysis((TemplateRef("missing"),))
    await world.apply(actions.CreateAnalysisRun("web-bad", "Background", bad, "old", "new"))
    run = await world.get(Ref("argoproj.io/v1alpha1", "AnalysisRun", "default", "web-bad"))
    assert run["status"]["phase"] == "Error"
    assert "missing" in run["status"]["message"]


async def test_create_experiment(world: World) -> None:
    covers(actions.CreateExperiment)
    action = actions.CreateExperiment(
        "web-exp", ({"name": "canary", "specRef": "canary"},), 60.0, (), "old", "new"
    )
    ref = Ref("argoproj.io/v1alpha1", "Experiment", "default", "web-exp")
    assert await world.changed_by(action) == {ref}
    exp = await world.get(ref)
    assert exp["spec"]["duration"] == "1m"
    assert exp["spec"]["templates"][0]["name"] == "canary"


async def test_create_service(world: World) -> None:
    covers(actions.CreateService)
    ports = ({"port": 8080, "targetPort": 8080, "protocol": "TCP"},)
    action = actions.CreateService("web-exp-canary", {"rollouts-pod-template-hash": "x"}, ports)
    ref = Ref("v1", "Service", "default", "web-exp-canary")
    assert await world.changed_by(action) == {ref}
    svc = await world.get(ref)
    assert svc["spec"] == {"selector": {"rollouts-pod-template-hash": "x"}, "ports": list(ports)}
    assert svc["metadata"]["ownerReferences"][0]["uid"] == world.rollout.uid
    assert await world.changed_by(action) == set()  # already there: kept


async def test_restart_pods_marks_the_replica_set(world: World) -> None:
    covers(actions.RestartPods)
    at = world.clock.now()
    assert await world.changed_by(actions.RestartPods("web-old", at, 1)) == {rs_ref("web-old")}
    rs = await world.get(rs_ref("web-old"))
    assert rs["metadata"]["annotations"]["progressive.dev/restart-before"]


async def test_scale_workload_scales_the_referenced_deployment(world: World) -> None:
    covers(actions.ScaleWorkload)
    ref = Ref("apps/v1", "Deployment", "default", "web-deploy")
    await world.cluster.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web-deploy", "namespace": "default"},
            "spec": {"replicas": 4},
        }
    )
    action = actions.ScaleWorkload("apps/v1", "Deployment", "web-deploy", 1)
    assert await world.changed_by(action) == {ref}
    assert (await world.get(ref))["spec"]["replicas"] == 1


async def test_emit_event(world: World) -> None:
    covers(actions.EmitEvent)
    changed = await world.changed_by(actions.EmitEvent("SetWeight", "Set canary weight to 20"))
    assert len(changed) == 1
    (ref,) = changed
    assert ref.kind == "Event" and ref.name.startswith("web.")
    event = await world.get(ref)
    assert event["reason"] == "SetWeight"
    assert event["involvedObject"]["uid"] == world.rollout.uid


async def test_status_is_written_only_when_it_differs(world: World) -> None:
    stored = await world.get(ROLLOUT)
    status = RolloutStatus(phase="Progressing", current_step_index=0)
    assert await write_status(world.cluster, stored, status) is True
    stored = await world.get(ROLLOUT)
    assert stored["status"]["phase"] == "Progressing"
    writes = world.cluster.writes
    assert await write_status(world.cluster, stored, status) is False
    assert world.cluster.writes == writes


class LabelStep:
    """A step plugin that labels a ConfigMap with the canary's hash, and unlabels it."""

    name = "example/label"

    def validate(self, rollout: Rollout, config: Any) -> list[Any]:
        return []

    def refs(self, rollout: Rollout, config: Any) -> tuple[ObjectRef, ...]:
        return (ObjectRef("", ("v1",), "ConfigMap", rollout.namespace, config["configMap"]),)

    def done(self, rollout: Rollout, config: Any, objects: Any) -> bool:
        (obj,) = objects.values()
        return (obj["metadata"].get("labels") or {}).get("canary") == rollout.template_hash()

    def plan(self, rollout: Rollout, config: Any, objects: Any) -> list[Patch]:
        (ref,) = self.refs(rollout, config)
        return [Patch(ref, {"metadata": {"labels": {"canary": rollout.template_hash()}}})]

    def undo(self, rollout: Rollout, config: Any, objects: Any) -> list[Patch]:
        (ref,) = self.refs(rollout, config)
        return [Patch(ref, {"metadata": {"labels": {"canary": None}}})]


async def test_a_step_plugin_is_run_and_undone(world: World) -> None:
    covers(actions.RunStepPlugin)
    covers(actions.UndoStepPlugin)
    ref = Ref("v1", "ConfigMap", "default", "settings")
    meta = {"name": "settings", "namespace": "default"}
    await world.cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})
    config = {"configMap": "settings"}
    run = actions.RunStepPlugin(1, "example/label", config)
    assert await world.changed_by(run) == {ref}
    labels = (await world.get(ref))["metadata"]["labels"]
    assert labels == {"canary": world.rollout.template_hash()}
    assert await world.changed_by(actions.UndoStepPlugin(1, "example/label", config)) == {ref}
    assert not (await world.get(ref))["metadata"].get("labels")
    with pytest.raises(ApplyError, match="no step plugin 'example/other' is installed"):
        await world.apply(actions.RunStepPlugin(1, "example/other", config))


def test_every_action_type_has_a_test() -> None:
    # runs last in this module (pytest keeps file order)
    assert set(typing.get_args(actions.Action)) == TESTED
