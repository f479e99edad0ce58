"""The model built in code: frozen inside, written back by to_manifest(), validated with
the field paths of from_manifest(), and never reconciled happily when invalid."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import attrs
import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from progressive.core import (
    AnalysisStep,
    CanaryStrategy,
    FieldProblem,
    HeaderMatch,
    ManifestError,
    Observed,
    Pause,
    Rollout,
    RolloutAnalysis,
    SetHeaderRoute,
    SetMirrorRoute,
    SetWeight,
    TemplateRef,
    TrafficRouting,
    _rollout,
    actions,
    read_rollout,
    reconcile,
)
from progressive.core._frozen import FrozenDict, FrozenList, freeze, thaw

from .strategies import rollouts


def template(image: str = "web:1") -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": image}]},
    }


def built(*steps: Any, **fields: Any) -> Rollout:
    """A Rollout built in code (never read from a manifest)."""
    fields.setdefault("strategy", CanaryStrategy(steps=steps))
    fields.setdefault("selector", {"matchLabels": {"app": "web"}})
    return Rollout(name="web", template=template(), **fields)


def manifest(*steps: Any, **spec: Any) -> dict[str, Any]:
    """The manifest of :func:`built`: what a user would have written."""
    return {
        "apiVersion": "progressive.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": template(),
            "strategy": {"canary": {"steps": list(steps)}},
            **spec,
        },
    }


def errors_of(obj: dict[str, Any]) -> list[FieldProblem]:
    _, problems = read_rollout(obj)
    return [p for p in problems if p.severity == "error"]


# -- frozen inside -----------------------------------------------------------------------------


def test_the_callers_data_is_copied_and_frozen() -> None:
    data = template()
    labels = {"team": "shop"}
    rollout = Rollout(name="web", template=data, labels=labels)
    before = rollout.template_hash()
    data["spec"]["containers"][0]["image"] = "web:2"
    data["metadata"]["labels"]["extra"] = "x"
    labels["team"] = "other"
    assert rollout.template == template()
    assert rollout.labels == {"team": "shop"}
    assert rollout.template_hash() == before
    assert rollout.template_hash() == Rollout(name="web", template=template()).template_hash()


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.template.__setitem__("spec", {}),
        lambda r: r.template["metadata"]["labels"].update(x="1"),
        lambda r: r.template["spec"]["containers"].append({}),
        lambda r: r.template["spec"]["containers"][0].pop("image"),
        lambda r: r.selector.clear(),
        lambda r: r.labels.setdefault("a", "b"),
    ],
)
def test_the_models_data_cannot_be_changed_in_place(change: Any) -> None:
    rollout = built(SetWeight(20), labels={"team": "shop"})
    with pytest.raises(TypeError, match="read-only"):
        change(rollout)
    assert rollout == built(SetWeight(20), labels={"team": "shop"})


def test_sequences_are_tuples_and_mappings_inside_steps_frozen() -> None:
    match = [{"method": {"exact": "GET"}}]
    step = SetMirrorRoute("shadow", match, 30)
    match[0]["method"]["exact"] = "POST"
    assert step.match == ({"method": {"exact": "GET"}},)
    assert isinstance(step.match, tuple) and isinstance(step.match[0], FrozenDict)
    steps = [SetWeight(10), step]
    strategy = CanaryStrategy(steps=steps)
    steps.append(Pause())
    assert strategy.steps == (SetWeight(10), step)
    routing = TrafficRouting({"istio": {"virtualService": {"name": "web", "routes": ["a"]}}})
    assert isinstance(routing.routers["istio"]["virtualService"]["routes"], FrozenList)


def test_frozen_data_is_still_json_and_compares_with_plain_data() -> None:
    rollout = built(SetWeight(20))
    assert json.loads(json.dumps(rollout.template)) == template()
    assert rollout.template == template() and template() == rollout.template
    assert isinstance(rollout.template, dict)
    assert hash(rollout) == hash(built(SetWeight(20)))  # every part hashable
    # copies are plain and the caller's to change
    copied = copy.deepcopy(rollout.template)
    assert type(copied) is dict and type(copied["spec"]["containers"]) is list
    copied["spec"]["containers"].append({})
    assert type(dict(rollout.template)) is dict and type(rollout.template.copy()) is dict
    assert copy.deepcopy(rollout) is rollout
    assert pickle.loads(pickle.dumps(rollout)) == rollout
    assert thaw(freeze({"a": [1, {"b": ()}]})) == {"a": [1, {"b": []}]}


def test_a_value_that_contains_itself_is_refused_at_its_field() -> None:
    cyclic: dict[str, Any] = {"spec": {}}
    cyclic["spec"]["self"] = cyclic
    with pytest.raises(ManifestError, match="spec"):
        freeze(cyclic, "spec.template")


# -- to_manifest ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rollout=rollouts())
def test_to_manifest_round_trips(rollout: Rollout) -> None:
    written = rollout.to_manifest()
    assert rollout.validate() is not None  # no error
    assert Rollout.from_manifest(written) == rollout
    assert Rollout.from_manifest(copy.deepcopy(written)).to_manifest() == written
    json.dumps(written)  # plain data
    yaml.safe_dump(written)


# -- validation -----------------------------------------------------------------------------------

HEADER = HeaderMatch("x-canary", exact="1")
ROUTED = {
    "canary_service": "web-canary",
    "stable_service": "web-stable",
    "traffic_routing": TrafficRouting({"istio": {}}, managed_routes=("h",)),
}
ROUTED_MANIFEST = {
    "canaryService": "web-canary",
    "stableService": "web-stable",
    "trafficRouting": {"istio": {}, "managedRoutes": [{"name": "h"}]},
}

# (built in code, the manifest a user would have written, the errors expected)
INVALID = [
    pytest.param(
        built(SetWeight(150)),
        manifest({"setWeight": 150}),
        ["spec.strategy.canary.steps[0].setWeight: must be between 0 and 100, got 150"],
        id="setWeight-150",
    ),
    pytest.param(
        built(SetWeight(20), Pause(-5)),
        manifest({"setWeight": 20}, {"pause": {"duration": -5}}),
        ["spec.strategy.canary.steps[1].pause.duration: must not be negative, got -5"],
        id="pause-negative",
    ),
    pytest.param(
        built(Pause("a while")),
        manifest({"pause": {"duration": "a while"}}),
        [
            "spec.strategy.canary.steps[0].pause.duration: must be a duration such as 30, "
            "'30s', '5m' or '1h', got 'a while'"
        ],
        id="pause-unreadable",
    ),
    pytest.param(
        built(SetWeight(20), replicas=-3),
        manifest({"setWeight": 20}, replicas=-3),
        ["spec.replicas: must be between 0 and 1000000, got -3"],
        id="replicas-negative",
    ),
    pytest.param(
        built(SetHeaderRoute("h", (HEADER,))),
        manifest({"setHeaderRoute": {"name": "h", "match": [HEADER.to_manifest()]}}),
        ["spec.strategy.canary.steps[0].setHeaderRoute: requires trafficRouting"],
        id="header-route-without-router",
    ),
    pytest.param(
        built(strategy=CanaryStrategy(steps=[SetHeaderRoute("other", (HEADER,))], **ROUTED)),
        {
            **manifest(),
            "spec": {
                **manifest()["spec"],
                "strategy": {
                    "canary": {
                        **ROUTED_MANIFEST,
                        "steps": [
                            {"setHeaderRoute": {"name": "other", "match": [HEADER.to_manifest()]}}
                        ],
                    }
                },
            },
        },
        [
            "spec.strategy.canary.steps[0].setHeaderRoute.name: route 'other' must be listed "
            "in trafficRouting.managedRoutes"
        ],
        id="route-not-managed",
    ),
    pytest.param(
        built(strategy=CanaryStrategy(steps=[AnalysisStep(RolloutAnalysis())])),
        manifest({"analysis": {"templates": []}}),
        ["spec.strategy.canary.steps[0].analysis.templates: must name at least one template"],
        id="analysis-without-templates",
    ),
    pytest.param(
        built(SetWeight(10), selector={"matchLabels": {"app": "other"}}),
        {
            **manifest({"setWeight": 10}),
            "spec": {
                **manifest({"setWeight": 10})["spec"],
                "selector": {"matchLabels": {"app": "other"}},
            },
        },
        [
            "spec.template.metadata.labels: selector label app=other does not match the "
            "template's labels"
        ],
        id="selector-mismatch",
    ),
    pytest.param(
        built(
            strategy=CanaryStrategy(
                steps=[SetWeight(10)],
                analysis=RolloutAnalysis((TemplateRef("t"),), starting_step=5),
            )
        ),
        {
            **manifest(),
            "spec": {
                **manifest()["spec"],
                "strategy": {
                    "canary": {
                        "steps": [{"setWeight": 10}],
                        "analysis": {"templates": [{"templateName": "t"}], "startingStep": 5},
                    }
                },
            },
        },
        ["spec.strategy.canary.analysis.startingStep: must be at most the number of steps (1)"],
        id="starting-step",
    ),
]


@pytest.mark.parametrize(("rollout", "written", "expected"), INVALID)
def test_validate_reports_what_from_manifest_reports(
    rollout: Rollout, written: dict[str, Any], expected: list[str]
) -> None:
    assert [str(e) for e in errors_of(written)] == expected  # the manifest's own errors
    with pytest.raises(ManifestError) as caught:
        rollout.validate()
    assert [str(e) for e in caught.value.errors] == expected


@pytest.mark.parametrize(("rollout", "written", "expected"), INVALID)
def test_an_invalid_rollout_is_not_reconciled(
    rollout: Rollout, written: dict[str, Any], expected: list[str]
) -> None:
    plan = reconcile(Observed(rollout=rollout, now=100.0))
    # nothing is touched; the status says why, as the controller's for a bad manifest
    assert [type(a) for a in plan.actions] == [actions.EmitEvent]
    assert plan.status.phase == "Degraded"
    invalid = plan.status.condition("InvalidSpec")
    assert invalid is not None and invalid.message == "; ".join(expected)
    # told once: with that status stored, no new Event
    again = reconcile(Observed(rollout=rollout.with_status(plan.status), now=200.0))
    assert again.actions == () and again.status == plan.status


def test_validation_happens_once_per_object(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = _rollout.read_rollout
    monkeypatch.setattr(_rollout, "read_rollout", lambda obj: calls.append(1) or real(obj))
    rollout = built(SetWeight(20), Pause())
    plan = reconcile(Observed(rollout=rollout, now=0.0))
    assert plan.status.phase != "Degraded" and len(calls) == 1
    reconcile(Observed(rollout=rollout, now=1.0))
    # a Rollout with the plan's status is the same spec: still known to be valid
    reconcile(Observed(rollout=rollout.with_status(plan.status), now=2.0))
    assert len(calls) == 1
    # one read from a manifest is valid from the start
    read = Rollout.from_manifest(rollout.to_manifest())
    reconcile(Observed(rollout=read, now=3.0))
    assert len(calls) == 2  # the from_manifest, nothing more
    # a changed spec is validated again
    changed = attrs.evolve(rollout, replicas=-1)
    assert reconcile(Observed(rollout=changed, now=4.0)).status.phase == "Degraded"
    assert len(calls) == 3


def test_durations_may_be_written_as_in_a_manifest() -> None:
    assert Pause("1m30s") == Pause(90) == Pause(90.0)
    assert repr(Pause(90)) == "Pause(duration=90.0)"  # the steps' hash is the manifest's
    assert (
        built(Pause("10m")).steps_hash()
        == Rollout.from_manifest(manifest({"pause": {"duration": "10m"}})).steps_hash()
    )
