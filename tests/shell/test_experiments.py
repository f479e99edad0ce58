"""Experiments end to end on the in-memory cluster: a Rollout's experiment step runs a
baseline and a canary side by side with their own ReplicaSets, Services and traffic,
judged by analyses; the verdict continues, aborts or pauses the rollout."""

from __future__ import annotations

import copy
from typing import Any

from progressive._clusters import Ref, owned_by
from progressive._shell.clocks import VirtualClock
from progressive._shell.controller import Controller
from progressive.core import Rollout
from progressive.core._commands import abort, promote
from progressive.core._times import parse_time
from progressive.memory import MemoryCluster
from progressive.metrics import ScriptedProvider

API = "argoproj.io/v1alpha1"
HASH = "rollouts-pod-template-hash"
ROLLOUT = Ref(API, "Rollout", "default", "web")
SPLIT = Ref("split.smi-spec.io/v1alpha1", "TrafficSplit", "default", "web")


def rollout(image: str = "web:1", **experiment: Any) -> dict[str, Any]:
    step = {
        "duration": "1m",
        "templates": [
            {"name": "baseline", "specRef": "stable", "replicas": 1, "weight": 10},
            {"name": "canary", "specRef": "canary", "replicas": 2, "weight": 5},
        ],
        "analyses": [
            {
                "name": "judge",
                "templateName": "judge",
                "args": [
                    {"name": "baseline-hash", "value": "{{templates.baseline.podTemplateHash}}"},
                    {"name": "canary-hash", "value": "{{templates.canary.podTemplateHash}}"},
                ],
            }
        ],
        **experiment,
    }
    return {
        "apiVersion": API,
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "web", "image": image, "ports": [{"containerPort": 8080}]}
                    ]
                },
            },
            "strategy": {
                "canary": {
                    "canaryService": "web-canary",
                    "stableService": "web-stable",
                    "trafficRouting": {"smi": {}},
                    "steps": [{"setWeight": 20}, {"experiment": step}, {"setWeight": 50}],
                }
            },
        },
    }


JUDGE = {
    "apiVersion": API,
    "kind": "AnalysisTemplate",
    "metadata": {"name": "judge", "namespace": "default"},
    "spec": {
        "args": [{"name": "baseline-hash"}, {"name": "canary-hash"}],
        "metrics": [
            {
                "name": "score",
                "interval": "10s",
                "count": 2,
                "successCondition": "result >= 75",
                "failureCondition": "result < 50",
                "provider": {
                    "judge": {
                        "baseline": 'latency{hash="{{args.baseline-hash}}"}',
                        "canary": 'latency{hash="{{args.canary-hash}}"}',
                    }
                },
            }
        ],
    },
}


class Env:
    """A Rollout deployed at web:1 and Healthy, its metrics scripted."""

    def __init__(self, scores: list[object], **experiment: Any) -> None:
        self.clock = VirtualClock()
        self.cluster = MemoryCluster(self.clock)
        self.provider = ScriptedProvider({"score": scores})
        self.experiment = experiment
        self.controller = Controller(self.cluster, clock=self.clock, provider=self.provider)

    async def start(self) -> None:
        for name in ("web-stable", "web-canary"):
            await self.cluster.create(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": name, "namespace": "default"},
                    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
                }
            )
        await self.cluster.create(copy.deepcopy(JUDGE))
        await self.cluster.create(rollout(**self.experiment))
        await self.settle()
        assert (await self.status())["phase"] == "Healthy"
        self.stable = (await self.status())["stableRS"]
        self.start_at = self.clock.now()
        await self.cluster.patch(ROLLOUT, {"spec": rollout("web:2", **self.experiment)["spec"]})

    async def settle(self, until: float | None = None) -> None:
        await self.controller.settle(wakeup=self.cluster.next_event_at, until=until)

    async def status(self) -> dict[str, Any]:
        obj = await self.cluster.get(ROLLOUT)
        assert obj is not None
        return dict(obj.get("status") or {})

    def experiments(self) -> list[dict[str, Any]]:
        return self.cluster.objects(API, "Experiment")

    def experiment_obj(self) -> dict[str, Any]:
        (exp,) = self.experiments()
        return exp

    def owned(self, api_version: str, kind: str, uid: str) -> list[dict[str, Any]]:
        return [o for o in self.cluster.objects(api_version, kind) if owned_by(o, uid)]

    async def backends(self) -> dict[str, str]:
        split = await self.cluster.get(SPLIT)
        assert split is not None
        return {b["service"]: b["weight"] for b in split["spec"]["backends"]}


def image(rs: dict[str, Any]) -> str:
    return str(rs["spec"]["template"]["spec"]["containers"][0]["image"])


async def test_an_experiment_step_runs_its_templates_then_the_rollout_goes_on() -> None:
    env = Env([100])
    await env.start()
    # the canary's pods are ready at +2 (setWeight 20), the experiment's at +4
    await env.settle(until=env.start_at + 3)
    # at the experiment step: an Experiment owned by the Rollout, named after the step
    exp = env.experiment_obj()
    name = exp["metadata"]["name"]
    rollout_uid = (await env.cluster.get(ROLLOUT) or {})["metadata"]["uid"]
    assert owned_by(exp, rollout_uid) and name.endswith("-1")
    assert exp["status"]["phase"] == "Pending"  # its pods are coming
    uid = exp["metadata"]["uid"]
    sets = {rs["metadata"]["name"]: rs for rs in env.owned("apps/v1", "ReplicaSet", uid)}
    assert set(sets) == {f"{name}-baseline", f"{name}-canary"}
    # specRef stable is the stable ReplicaSet's template, canary the Rollout's
    assert image(sets[f"{name}-baseline"]) == "web:1"
    assert image(sets[f"{name}-canary"]) == "web:2"
    assert [rs["spec"]["replicas"] for rs in sets.values()] == [1, 2]
    hashes = {t["name"]: t["podTemplateHash"] for t in exp["status"]["templateStatuses"]}
    assert {rs["metadata"]["labels"][HASH] for rs in sets.values()} == set(hashes.values())
    assert env.stable not in hashes.values()
    # a Service per weighted template, selecting its pods, ports from the containers
    services = {s["metadata"]["name"]: s for s in env.owned("v1", "Service", uid)}
    assert set(services) == {f"{name}-baseline", f"{name}-canary"}
    assert services[f"{name}-canary"]["spec"] == {
        "selector": {HASH: hashes["canary"]},
        "ports": [{"port": 8080, "targetPort": 8080, "protocol": "TCP"}],
    }
    # no analysis and no experiment traffic before the pods are available
    assert env.owned(API, "AnalysisRun", uid) == []
    assert await env.backends() == {"web-canary": "20", "web-stable": "80"}

    await env.settle(until=env.start_at + 5)
    exp = env.experiment_obj()
    assert exp["status"]["phase"] == "Running"
    (run,) = env.owned(API, "AnalysisRun", uid)
    assert run["metadata"]["name"] == f"{name}-judge"
    provider = run["spec"]["metrics"][0]["provider"]["judge"]
    assert provider["canary"] == f'latency{{hash="{hashes["canary"]}"}}'
    # the experiment's Services get their weights; stable the remainder
    assert await env.backends() == {
        "web-canary": "20",
        f"{name}-baseline": "10",
        f"{name}-canary": "5",
        "web-stable": "65",
    }

    await env.settle()
    status = await env.status()
    assert status["phase"] == "Healthy" and status["stableRS"] != env.stable
    exp = env.experiment_obj()
    assert exp["status"]["phase"] == "Successful"
    available = parse_time(exp["status"]["availableAt"])
    (completed,) = [
        parse_time(c["lastTransitionTime"])
        for c in exp["status"]["conditions"]
        if c["type"] == "Completed"
    ]
    assert available is not None and completed is not None
    assert completed - available == 60  # the duration counts from availability
    assert (await env.cluster.get(Ref(API, "AnalysisRun", "default", f"{name}-judge")) or {})[
        "status"
    ]["phase"] == "Successful"
    # the experiment's pods went when it was over (scaleDownDelaySeconds: 30)
    assert [rs["spec"]["replicas"] for rs in env.owned("apps/v1", "ReplicaSet", uid)] == [0, 0]
    backends = await env.backends()
    assert set(backends) == {"web-canary", "web-stable"}


async def test_the_experiment_replica_sets_go_after_the_scale_down_delay() -> None:
    env = Env([100])
    await env.start()
    await env.settle(until=env.start_at + 5)
    exp = env.experiment_obj()
    uid = exp["metadata"]["uid"]
    available = parse_time(exp["status"]["availableAt"])
    assert available is not None
    # completed at available + 60; the pods stay 30 s more
    await env.settle(until=available + 60 + 29)
    assert env.experiment_obj()["status"]["phase"] == "Successful"
    assert [rs["spec"]["replicas"] for rs in env.owned("apps/v1", "ReplicaSet", uid)] == [1, 2]
    await env.settle(until=available + 60 + 30)
    assert [rs["spec"]["replicas"] for rs in env.owned("apps/v1", "ReplicaSet", uid)] == [0, 0]


async def test_a_failed_analysis_fails_the_experiment_and_aborts_the_rollout() -> None:
    env = Env([100, 10])
    await env.start()
    await env.settle()
    exp = env.experiment_obj()
    assert exp["status"]["phase"] == "Failed"
    assert "analysis judge failed" in exp["status"]["message"]
    status = await env.status()
    assert status["abort"] is True and status["phase"] == "Degraded"
    assert "experiment" in status["message"] and "failed" in status["message"]
    assert status["stableRS"] == env.stable
    # traffic back to stable, the experiment's destinations gone
    assert await env.backends() == {"web-canary": "0", "web-stable": "100"}
    uid = exp["metadata"]["uid"]
    assert [rs["spec"]["replicas"] for rs in env.owned("apps/v1", "ReplicaSet", uid)] == [0, 0]


async def test_an_error_analysis_aborts_the_rollout_too() -> None:
    env = Env(["error"])
    await env.start()
    await env.settle()
    assert env.experiment_obj()["status"]["phase"] == "Error"
    status = await env.status()
    assert status["abort"] is True and status["phase"] == "Degraded"


async def test_an_inconclusive_experiment_pauses_the_rollout_until_promoted() -> None:
    env = Env([60])  # between the failure (< 50) and success (>= 75) conditions
    await env.start()
    await env.settle()
    assert env.experiment_obj()["status"]["phase"] == "Inconclusive"
    status = await env.status()
    assert status["phase"] == "Paused"
    assert [c["reason"] for c in status["pauseConditions"]] == ["InconclusiveExperiment"]
    assert status["currentStepIndex"] == 1
    # the experiment is over: its destinations are gone, the canary's 20 stays
    assert await env.backends() == {"web-canary": "20", "web-stable": "80"}
    stored = await env.cluster.get(ROLLOUT)
    assert stored is not None
    spec_patch, status_patch = promote(Rollout.from_manifest(stored))
    if spec_patch:
        await env.cluster.patch(ROLLOUT, spec_patch)
    if status_patch:
        await env.cluster.patch(ROLLOUT, status_patch)
    await env.settle()
    assert (await env.status())["phase"] == "Healthy"


async def test_aborting_the_rollout_terminates_its_experiment() -> None:
    env = Env([100])
    await env.start()
    await env.settle(until=env.start_at + 3)  # the experiment's pods are not ready yet
    assert env.experiment_obj()["status"]["phase"] == "Pending"
    stored = await env.cluster.get(ROLLOUT)
    assert stored is not None
    for patch in abort(Rollout.from_manifest(stored)):
        if patch:
            await env.cluster.patch(ROLLOUT, patch)
    await env.settle()
    exp = env.experiment_obj()
    assert exp["spec"]["terminate"] is True
    assert (exp["status"]["phase"], exp["status"]["message"]) == (
        "Successful",
        "experiment terminated",
    )
    assert (await env.status())["phase"] == "Degraded"
    uid = exp["metadata"]["uid"]
    assert [rs["spec"]["replicas"] for rs in env.owned("apps/v1", "ReplicaSet", uid)] == [0, 0]
    assert env.owned(API, "AnalysisRun", uid) == []  # never started
    assert await env.backends() == {"web-canary": "0", "web-stable": "100"}


async def test_a_standalone_experiment_needs_no_rollout() -> None:
    clock = VirtualClock()
    cluster = MemoryCluster(clock)
    provider = ScriptedProvider({"score": [100]})
    controller = Controller(cluster, clock=clock, provider=provider)
    await cluster.create(copy.deepcopy(JUDGE))
    template = rollout()["spec"]["template"]
    await cluster.create(
        {
            "apiVersion": API,
            "kind": "Experiment",
            "metadata": {"name": "ab", "namespace": "default"},
            "spec": {
                "templates": [
                    {"name": "a", "replicas": 1, "template": template, "service": {}},
                    {"name": "b", "replicas": 1, "template": template},
                ],
                "analyses": [
                    {
                        "name": "judge",
                        "templateName": "judge",
                        "requiredForCompletion": True,
                        "args": [
                            {"name": "baseline-hash", "value": "{{templates.a.podTemplateHash}}"},
                            {"name": "canary-hash", "value": "{{templates.b.podTemplateHash}}"},
                        ],
                    }
                ],
            },
        }
    )
    result = await controller.settle(wakeup=cluster.next_event_at)
    assert result.idle and not result.errors
    exp = (await cluster.get(Ref(API, "Experiment", "default", "ab"))) or {}
    assert exp["status"]["phase"] == "Successful"
    assert exp["status"]["message"] == "required analyses passed"
    # only the template that asked for a Service has one
    names = [s["metadata"]["name"] for s in cluster.objects("v1", "Service")]
    assert names == ["ab-a"]
    assert [rs["spec"]["replicas"] for rs in cluster.objects("apps/v1", "ReplicaSet")] == [0, 0]
    events = [e["reason"] for e in cluster.objects("v1", "Event")]
    assert "ExperimentSuccessful" in events


async def test_an_invalid_experiment_is_stored_as_error() -> None:
    clock = VirtualClock()
    cluster = MemoryCluster(clock)
    controller = Controller(cluster, clock=clock, provider=ScriptedProvider({}))
    ref = Ref(API, "Experiment", "default", "bad")
    await cluster.create(
        {
            "apiVersion": API,
            "kind": "Experiment",
            "metadata": {"name": "bad", "namespace": "default"},
            "spec": {"templates": []},
        }
    )
    await controller.settle(wakeup=cluster.next_event_at)
    exp = await cluster.get(ref) or {}
    assert exp["status"]["phase"] == "Error"
    assert "at least one template" in exp["status"]["message"]
    writes = cluster.writes
    await controller.reconcile_all()
    assert cluster.writes == writes  # stored once
