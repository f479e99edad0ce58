"""Analyses built in code: ``Analysis`` and the Argo objects it becomes, AnalysisTemplate's
to_manifest() round trip and validate()."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings

from progressive.core import (
    Analysis,
    AnalysisArg,
    AnalysisStep,
    AnalysisTemplate,
    CanaryStrategy,
    ManifestError,
    Metric,
    Rollout,
    RolloutAnalysis,
    SetWeight,
    TemplateRef,
    VerdictActions,
)
from progressive.core._references import check_references

from .strategies import analysis_templates

QUERY = 'sum(rate(http_requests_total{service="{{args.service}}",code!~"5.."}[1m]))'
SUCCESS = Analysis(
    "success-rate",
    metrics=[
        Metric(
            "success-rate",
            {"prometheus": {"query": QUERY}},
            interval="1m",
            success_condition="result[0] >= 0.95",
            failure_limit=2,
        )
    ],
    args=["service", AnalysisArg("threshold", "0.95")],
)


def test_an_analysis_becomes_a_template_and_the_reference_to_it() -> None:
    template = SUCCESS.template()
    assert isinstance(template, AnalysisTemplate)
    assert (template.name, template.namespace, template.kind) == (
        "success-rate",
        "default",
        "AnalysisTemplate",
    )
    assert template.metrics[0].interval == 60.0
    assert template.args == (AnalysisArg("service"), AnalysisArg("threshold", "0.95"))
    secret = {"secretKeyRef": {"name": "creds", "key": "token"}}
    use = SUCCESS.use({"service": "web", "token": secret}, starting_step=1)
    assert use == RolloutAnalysis(
        templates=(TemplateRef("success-rate"),),
        args=(AnalysisArg("service", "web"), AnalysisArg("token", value_from=secret)),
        starting_step=1,
    )
    step = SUCCESS.step({"service": "web"}, verdicts=VerdictActions(on_failed="pause"))
    assert step == AnalysisStep(
        RolloutAnalysis(
            (TemplateRef("success-rate"),),
            (AnalysisArg("service", "web"),),
            verdicts=VerdictActions(on_failed="pause"),
        )
    )
    cluster = Analysis("shared", SUCCESS.metrics, cluster_scope=True)
    assert cluster.template().kind == "ClusterAnalysisTemplate"
    assert cluster.use().templates == (TemplateRef("shared", cluster_scope=True),)


def test_a_rollout_using_an_analysis_is_valid_and_its_references_resolve() -> None:
    rollout = Rollout(
        name="web",
        selector={"matchLabels": {"app": "web"}},
        template={"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}},
        strategy=CanaryStrategy(
            steps=[SetWeight(20), SUCCESS.step({"service": "web"})],
            analysis=SUCCESS.use({"service": "web"}, starting_step=1),
        ),
    )
    assert rollout.validate() == []
    assert SUCCESS.validate() == []
    pool = {SUCCESS.name: SUCCESS.template()}
    assert check_references(rollout, pool, {}, None, cluster_may_have_more=False) == []
    # without the argument the template needs, the reference check says so
    bare = Rollout.from_manifest(
        {
            **rollout.to_manifest(),
            "spec": {
                **rollout.to_manifest()["spec"],
                "strategy": CanaryStrategy(steps=[SUCCESS.step()]).to_manifest(),
            },
        }
    )
    problems = check_references(bare, pool, {}, None, cluster_may_have_more=False)
    assert any("service" in p.message for p in problems), problems


def test_an_invalid_analysis_is_reported_at_the_templates_field_paths() -> None:
    bad = Analysis(
        "bad",
        metrics=[
            Metric("m", {"prometheus": {"query": "up"}}, interval=0),
            Metric("m", {}, success_condition="result >"),
        ],
    )
    with pytest.raises(ManifestError) as caught:
        bad.validate()
    assert [str(e) for e in caught.value.errors] == [
        "spec.metrics[0].interval: must be greater than 0 (omit it for a single measurement)",
        "spec.metrics[1].provider: must set exactly one provider (prometheus, web, job, ...), "
        "got 0",
        "spec.metrics[1].successCondition: invalid expression: unexpected end of expression "
        "at column 9",
    ]
    # the same as the manifest a user would have written
    with pytest.raises(ManifestError) as from_yaml:
        AnalysisTemplate.from_manifest(bad.to_manifest())
    assert from_yaml.value.errors == caught.value.errors


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(template=analysis_templates())
def test_templates_round_trip(template: AnalysisTemplate) -> None:
    for group in ("argoproj.io/v1alpha1", "progressive.dev/v1alpha1"):
        written = template.to_manifest(group)
        assert written["apiVersion"] == group
        assert template.validate() is not None
        assert AnalysisTemplate.from_manifest(written) == template
        assert AnalysisTemplate.from_manifest(copy.deepcopy(written)).to_manifest(group) == written
