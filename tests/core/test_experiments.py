"""The pure experiment engine, driven without a cluster."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from progressive.core import ObservedRun, ReplicaSetView, actions
from progressive.core._experiments import (
    Experiment,
    ExperimentPlan,
    ObservedExperiment,
    experiment_for_step,
    reconcile_experiment,
)
from progressive.errors import ManifestError

POD = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "web", "image": "web:1"}]},
}


def manifest(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": "exp", "namespace": "default"},
        "spec": {
            "templates": [
                {
                    "name": "baseline",
                    "replicas": 1,
                    "template": POD,
                    "selector": {"matchLabels": {"app": "web"}},
                },
                {
                    "name": "canary",
                    "replicas": 2,
                    "template": POD,
                    "selector": {"matchLabels": {"app": "web"}},
                },
            ],
            **spec,
        },
    }


class Driver:
    def __init__(self, obj: dict[str, Any]) -> None:
        self.experiment = Experiment.from_manifest(obj)
        self.now = 0.0
        self.sets: dict[str, ReplicaSetView] = {}
        self.runs: dict[str, ObservedRun] = {}
        self.log: list[actions.Action] = []

    def step(self) -> ExperimentPlan:
        plan = reconcile_experiment(
            ObservedExperiment(
                self.experiment, self.now, tuple(self.sets.values()), tuple(self.runs.values())
            )
        )
        for a in plan.actions:
            self.log.append(a)
            if isinstance(a, actions.CreateReplicaSet):
                assert a.name not in self.sets
                self.sets[a.name] = ReplicaSetView(a.name, a.pod_template_hash, 1, a.replicas)
            elif isinstance(a, actions.ScaleReplicaSet):
                self.sets[a.name] = attrs.evolve(self.sets[a.name], replicas=a.replicas)
            elif isinstance(a, actions.CreateAnalysisRun):
                self.runs[a.name] = ObservedRun(a.name, "Running")
            elif isinstance(a, actions.TerminateAnalysisRun):
                self.runs[a.name] = attrs.evolve(self.runs[a.name], terminated=True)
        self.experiment = attrs.evolve(self.experiment, status=plan.status)
        return plan

    def ready(self) -> None:
        for name, rs in self.sets.items():
            self.sets[name] = attrs.evolve(
                rs, ready_replicas=rs.replicas, available_replicas=rs.replicas
            )


def test_templates_get_distinct_replica_sets_and_duration_counts_from_available() -> None:
    d = Driver(manifest(duration="60s"))
    d.step()
    assert sorted(d.sets) == ["exp-baseline", "exp-canary"]
    hashes = {rs.pod_template_hash for rs in d.sets.values()}
    assert len(hashes) == 2  # same pod spec, still two revisions
    d.now = 10
    d.ready()
    plan = d.step()
    assert plan.status.available_at == 10 and plan.requeue_at == 70
    d.now = 70
    plan = d.step()
    assert plan.status.phase == "Successful"
    d.now = 70 + 30
    d.step()
    assert [rs.replicas for rs in d.sets.values()] == [0, 0]


def test_failed_analysis_fails_the_experiment_and_stops_the_others() -> None:
    d = Driver(
        manifest(analyses=[{"name": "a", "templateName": "t"}, {"name": "b", "templateName": "t"}])
    )
    d.step()
    d.ready()
    d.step()
    assert sorted(d.runs) == ["exp-a", "exp-b"]
    d.runs["exp-a"] = ObservedRun("exp-a", "Failed", "too many errors")
    plan = d.step()
    assert plan.status.phase == "Failed"
    assert "analysis a failed" in plan.status.message
    assert [a.name for a in plan.actions if isinstance(a, actions.TerminateAnalysisRun)] == [
        "exp-b"
    ]


def test_required_analysis_completes_it_without_a_duration() -> None:
    d = Driver(
        manifest(analyses=[{"name": "a", "templateName": "t", "requiredForCompletion": True}])
    )
    d.step()
    d.ready()
    d.step()
    assert d.experiment.status.phase == "Running"
    d.runs["exp-a"] = ObservedRun("exp-a", "Successful")
    assert d.step().status.phase == "Successful"


def test_without_duration_or_required_analysis_it_runs_until_terminated() -> None:
    d = Driver(manifest())
    d.step()
    d.ready()
    d.now = 10_000
    assert d.step().status.phase == "Running"
    d.experiment = attrs.evolve(d.experiment, terminate=True)
    assert d.step().status.phase == "Successful"


def test_progress_deadline_fails_an_experiment_whose_pods_never_come() -> None:
    d = Driver(manifest(progressDeadlineSeconds=30))
    plan = d.step()
    assert plan.requeue_at == 30
    d.now = 30
    plan = d.step()
    assert plan.status.phase == "Failed" and "not available within 30s" in plan.status.message


def test_template_hash_args_are_resolved() -> None:
    d = Driver(
        manifest(
            analyses=[
                {
                    "name": "a",
                    "templateName": "t",
                    "args": [
                        {
                            "name": "baseline-hash",
                            "value": "{{templates.baseline.podTemplateHash}}",
                        },
                        {"name": "canary-rs", "value": "{{templates.canary.replicaset.name}}"},
                    ],
                }
            ]
        )
    )
    d.step()
    d.ready()
    d.step()
    (create,) = [a for a in d.log if isinstance(a, actions.CreateAnalysisRun)]
    values = {arg.name: arg.value for arg in create.analysis.args}
    assert values == {
        "baseline-hash": d.sets["exp-baseline"].pod_template_hash,
        "canary-rs": "exp-canary",
    }


def test_bad_manifests_name_every_field() -> None:
    with pytest.raises(ManifestError) as info:
        Experiment.from_manifest(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Experiment",
                "metadata": {"name": "e"},
                "spec": {"duration": "soon", "templates": [{"replicas": -1}]},
            }
        )
    paths = sorted(e.path for e in info.value.errors)
    assert paths == [
        "spec.duration",
        "spec.templates[0].name",
        "spec.templates[0].replicas",
        "spec.templates[0].template",
    ]


def test_experiment_for_a_rollout_step_resolves_spec_refs() -> None:
    stable = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "web:1"}]},
    }
    canary = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "web:2"}]},
    }
    obj = experiment_for_step(
        name="web-abc-2-3",
        namespace="default",
        step_templates=(
            {"name": "baseline", "specRef": "stable", "replicas": 1},
            {"name": "canary", "specRef": "canary", "weight": 5},
        ),
        duration=300,
        analyses=({"name": "judge", "templateName": "mann-whitney"},),
        canary_template=canary,
        stable_template=stable,
        selector={"matchLabels": {"app": "web"}},
    )
    experiment = Experiment.from_manifest(obj)
    images = [t.template["spec"]["containers"][0]["image"] for t in experiment.templates]
    assert images == ["web:1", "web:2"]
    assert experiment.templates[1].service == "web-abc-2-3-canary"  # a weight needs a Service
    assert experiment.duration == 300
