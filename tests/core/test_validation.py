"""Validation of Rollout manifests: a table of bad Rollouts, each with the exact lines
it must produce (``path: message``), and the cross-document reference checks."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from progressive.core import Rollout, read_rollout
from progressive.core._analysis import AnalysisTemplate
from progressive.core._references import check_references, check_template_references
from progressive.core._steps import CombinedStep, actions_of, step_label
from progressive.errors import FieldProblem, ManifestError


def manifest(strategy: Any, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "app"},
        "spec": {
            "selector": {"matchLabels": {"app": "app"}},
            "template": {
                "metadata": {"labels": {"app": "app"}},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            },
            "strategy": strategy,
            **spec,
        },
    }


def canary(steps: Any = None, **fields: Any) -> dict[str, Any]:
    return manifest({"canary": {"steps": [] if steps is None else steps, **fields}})


PING_PONG: dict[str, Any] = {"pingService": "ping", "pongService": "pong"}
ISTIO: dict[str, Any] = {"istio": {"virtualService": {"name": "app"}}}
SUBSETS: dict[str, Any] = {"name": "a", "canarySubsetName": "c", "stableSubsetName": "s"}
ROUTED: dict[str, Any] = {
    "canaryService": "app-canary",
    "stableService": "app-stable",
    "trafficRouting": {
        "istio": {"virtualService": {"name": "app"}},
        "managedRoutes": [{"name": "header"}, {"name": "mirror"}],
    },
}
HEADER = {"name": "header", "match": [{"headerName": "x-canary", "headerValue": {"exact": "1"}}]}
MIRROR = {"name": "mirror", "percentage": 50, "match": [{"method": {"exact": "GET"}}]}
ANALYSIS = {"templates": [{"templateName": "smoke"}]}
ONE_ACTION = (
    "must set an action (setWeight, pause, setCanaryScale, setHeaderRoute, "
    "setMirrorRoute, analysis, experiment or plugin), got none"
)
EXCLUSIVE = "must set at most one of setWeight, pause, experiment, analysis or plugin"
DURATION = "must be a duration such as 30, '30s', '5m' or '1h', got"
STEPS = "spec.strategy.canary.steps"

BAD = [
    # -- strategy ------------------------------------------------------------------------
    pytest.param(
        manifest({"canary": {}, "blueGreen": {"activeService": "active"}}),
        ["spec.strategy: must set exactly one of canary or blueGreen, got both"],
        id="both-strategies",
    ),
    pytest.param(
        manifest({}),
        ["spec.strategy: must set exactly one of canary or blueGreen, got neither"],
        id="neither-strategy",
    ),
    pytest.param(
        manifest(None),
        ["spec.strategy: must set exactly one of canary or blueGreen, got neither"],
        id="no-strategy-field",
    ),
    # -- setWeight -----------------------------------------------------------------------
    pytest.param(
        canary([{"setWeight": 10}, {"pause": {}}, {"setWeight": 150}]),
        [f"{STEPS}[2].setWeight: must be between 0 and 100, got 150"],
        id="setWeight-150",
    ),
    pytest.param(
        canary([{"setWeight": -1}]),
        [f"{STEPS}[0].setWeight: must be between 0 and 100, got -1"],
        id="setWeight-negative",
    ),
    pytest.param(
        canary([{"setWeight": "20"}]),
        [f"{STEPS}[0].setWeight: must be an integer, got '20'"],
        id="setWeight-string",
    ),
    pytest.param(
        canary([{"setWeight": 20.5}]),
        [f"{STEPS}[0].setWeight: must be an integer, got 20.5"],
        id="setWeight-float",
    ),
    # -- pause ---------------------------------------------------------------------------
    pytest.param(
        canary([{"setWeight": 10}, {"pause": {"duration": "1x"}}]),
        [f"{STEPS}[1].pause.duration: {DURATION} '1x'"],
        id="pause-unknown-unit",
    ),
    pytest.param(
        canary([{"pause": {"duration": "5 minutes"}}]),
        [f"{STEPS}[0].pause.duration: {DURATION} '5 minutes'"],
        id="pause-words",
    ),
    pytest.param(
        canary([{"pause": {"duration": -5}}]),
        [f"{STEPS}[0].pause.duration: must not be negative, got -5"],
        id="pause-negative",
    ),
    pytest.param(
        canary([{"pause": {"duration": True}}]),
        [f"{STEPS}[0].pause.duration: {DURATION} True"],
        id="pause-boolean",
    ),
    pytest.param(
        canary([{"pause": {"duration": [1]}}]),
        [f"{STEPS}[0].pause.duration: {DURATION} list"],
        id="pause-list",
    ),
    pytest.param(
        canary([{"pause": 5}]),
        [f"{STEPS}[0].pause: must be an object, got int"],
        id="pause-not-an-object",
    ),
    # -- traffic routing ------------------------------------------------------------------
    pytest.param(
        canary(trafficRouting={"nginx": {"stableIngress": "app"}}),
        [
            "spec.strategy.canary.canaryService: is required with trafficRouting",
            "spec.strategy.canary.stableService: is required with trafficRouting",
        ],
        id="trafficRouting-without-services",
    ),
    pytest.param(
        canary(stableService="app-stable", trafficRouting={"nginx": {"stableIngress": "app"}}),
        ["spec.strategy.canary.canaryService: is required with trafficRouting"],
        id="trafficRouting-without-canaryService",
    ),
    pytest.param(
        canary(trafficRouting={"istio": {"virtualService": {"name": "app"}}}),
        [
            "spec.strategy.canary.canaryService: is required with trafficRouting",
            "spec.strategy.canary.stableService: is required with trafficRouting",
        ],
        id="istio-host-level-without-services",
    ),
    pytest.param(
        canary(pingPong={"pingService": "p", "pongService": "p"}, trafficRouting=ISTIO),
        ["spec.strategy.canary.pingPong.pongService: must differ from pingService"],
        id="pingPong-same-services",
    ),
    pytest.param(
        canary(pingPong={"pingService": "p"}, trafficRouting=ISTIO),
        ["spec.strategy.canary.pingPong.pongService: is required"],
        id="pingPong-without-pong",
    ),
    pytest.param(
        canary(pingPong=PING_PONG, trafficRouting={"alb": {"ingress": "app"}}),
        ["spec.strategy.canary.trafficRouting.alb.rootService: is required with pingPong"],
        id="pingPong-alb-without-rootService",
    ),
    pytest.param(
        canary(
            trafficRouting={
                "istio": {"virtualService": {"name": "app"}, "destinationRule": SUBSETS},
                "nginx": {"stableIngress": "app"},
            }
        ),
        [
            "spec.strategy.canary.canaryService: is required with trafficRouting",
            "spec.strategy.canary.stableService: is required with trafficRouting",
        ],
        id="istio-subsets-and-nginx-without-services",
    ),
    pytest.param(
        canary(
            canaryService="app",
            stableService="app",
            trafficRouting={"nginx": {"stableIngress": "app"}},
        ),
        ["spec.strategy.canary.stableService: must differ from canaryService"],
        id="trafficRouting-same-services",
    ),
    pytest.param(
        canary(canaryService="c", stableService="s", trafficRouting={}),
        [
            "spec.strategy.canary.trafficRouting: must configure at least one router "
            "(nginx, istio, smi, gatewayAPI, ...)"
        ],
        id="trafficRouting-without-router",
    ),
    # -- steps that need traffic routing --------------------------------------------------
    pytest.param(
        canary([{"setCanaryScale": {"weight": 20}}]),
        [f"{STEPS}[0].setCanaryScale: requires trafficRouting"],
        id="setCanaryScale-without-trafficRouting",
    ),
    pytest.param(
        canary([{"setWeight": 5}, {"setHeaderRoute": HEADER}]),
        [f"{STEPS}[1].setHeaderRoute: requires trafficRouting"],
        id="setHeaderRoute-without-trafficRouting",
    ),
    pytest.param(
        canary([{"setMirrorRoute": MIRROR}]),
        [f"{STEPS}[0].setMirrorRoute: requires trafficRouting"],
        id="setMirrorRoute-without-trafficRouting",
    ),
    pytest.param(
        canary([{"setHeaderRoute": dict(HEADER, name="other")}], **ROUTED),
        [
            f"{STEPS}[0].setHeaderRoute.name: route 'other' must be listed in "
            "trafficRouting.managedRoutes"
        ],
        id="setHeaderRoute-not-managed",
    ),
    pytest.param(
        canary([{"setMirrorRoute": dict(MIRROR, name="other")}], **ROUTED),
        [
            f"{STEPS}[0].setMirrorRoute.name: route 'other' must be listed in "
            "trafficRouting.managedRoutes"
        ],
        id="setMirrorRoute-not-managed",
    ),
    pytest.param(
        canary(
            [{"setHeaderRoute": HEADER}],
            canaryService="c",
            stableService="s",
            trafficRouting={"istio": {"virtualService": {"name": "app"}}},
        ),
        [
            f"{STEPS}[0].setHeaderRoute.name: route 'header' must be listed in "
            "trafficRouting.managedRoutes"
        ],
        id="setHeaderRoute-without-managedRoutes",
    ),
    pytest.param(
        canary([{"setCanaryScale": {"weight": 20, "replicas": 2}}], **ROUTED),
        [
            f"{STEPS}[0].setCanaryScale: must set exactly one of weight, replicas or "
            "matchTrafficWeight"
        ],
        id="setCanaryScale-two-ways",
    ),
    # -- the actions of a step ----------------------------------------------------------------
    pytest.param(canary([{}]), [f"{STEPS}[0]: {ONE_ACTION}"], id="step-without-action"),
    pytest.param(
        canary([{"setWeight": 10}, None]),
        [f"{STEPS}[1]: must be an object, got null"],
        id="null-step",
    ),
    pytest.param(
        canary([{"setWeight": 10, "pause": {}}]),
        [f"{STEPS}[0]: {EXCLUSIVE}, got 2: setWeight, pause"],
        id="step-with-two-actions",
    ),
    pytest.param(
        canary(
            [{"setWeight": 10, "pause": {}, "analysis": {"templates": [{"templateName": "t"}]}}]
        ),
        [f"{STEPS}[0]: {EXCLUSIVE}, got 3: setWeight, pause, analysis"],
        id="step-with-three-actions",
    ),
    pytest.param(
        canary([{"setCanaryScale": {"replicas": 1}, "setHeaderRoute": HEADER, "pause": {}}]),
        [f"{STEPS}[0].setCanaryScale: requires trafficRouting"]
        + [f"{STEPS}[0].setHeaderRoute: requires trafficRouting"],
        id="combined-step-without-router",
    ),
    pytest.param(
        canary([{"setWeight": 10, "setHeaderRoute": {**HEADER, "name": "other"}}], **ROUTED),
        [
            f"{STEPS}[0].setHeaderRoute.name: route 'other' must be listed in "
            "trafficRouting.managedRoutes"
        ],
        id="combined-step-unmanaged-route",
    ),
    pytest.param(
        canary([{"setWeigth": 10}]),
        [f"{STEPS}[0].setWeigth: unknown step field", f"{STEPS}[0]: {ONE_ACTION}"],
        id="step-with-a-typo",
    ),
    pytest.param(
        canary({"setWeight": 10}),
        [f"{STEPS}: must be a list, got dict"],
        id="steps-not-a-list",
    ),
    # -- analysis ------------------------------------------------------------------------
    pytest.param(
        canary([{"analysis": {}}]),
        [f"{STEPS}[0].analysis.templates: must name at least one template"],
        id="analysis-without-templates",
    ),
    pytest.param(
        canary(
            [{"setWeight": 10}],
            analysis={"templates": [{"templateName": "t"}], "startingStep": 3},
        ),
        ["spec.strategy.canary.analysis.startingStep: must be at most the number of steps (1)"],
        id="background-analysis-starting-too-late",
    ),
    # -- blue-green ------------------------------------------------------------------------
    pytest.param(
        manifest({"blueGreen": {}}),
        ["spec.strategy.blueGreen.activeService: is required"],
        id="blueGreen-without-activeService",
    ),
    pytest.param(
        manifest({"blueGreen": {"activeService": "app", "previewService": "app"}}),
        ["spec.strategy.blueGreen.previewService: must differ from activeService"],
        id="blueGreen-same-services",
    ),
    # -- rolling parameters --------------------------------------------------------------------
    pytest.param(
        canary(maxSurge=0, maxUnavailable="0%"),
        ["spec.strategy.canary.maxUnavailable: maxSurge and maxUnavailable must not both be 0"],
        id="maxSurge-and-maxUnavailable-0",
    ),
    pytest.param(
        canary(maxSurge="150%"),
        ["spec.strategy.canary.maxSurge: must be a percentage between 0% and 100%, got '150%'"],
        id="maxSurge-over-100%",
    ),
]


@pytest.mark.parametrize(("bad", "expected"), BAD)
def test_bad_rollouts(bad: dict[str, Any], expected: list[str]) -> None:
    rollout, problems = read_rollout(bad)
    assert rollout is not None
    assert [str(e) for e in problems if e.severity == "error"] == expected
    with pytest.raises(ManifestError) as raised:
        Rollout.from_manifest(bad)
    assert [str(e) for e in raised.value.errors] == expected


def test_the_valid_rows_are_valid() -> None:
    """The table's building blocks are fine on their own: each bad row has one cause."""
    for good in (
        canary([{"setWeight": 10}, {"pause": {"duration": "1m"}}, {"pause": {}}]),
        canary(
            [
                {"setHeaderRoute": HEADER},
                {"setMirrorRoute": MIRROR},
                {"setCanaryScale": {"weight": 20}},
            ],
            **ROUTED,
        ),
        canary(
            canaryService="c", stableService="s", trafficRouting={"nginx": {"stableIngress": "a"}}
        ),
        # several actions in one step, at most one of setWeight, pause, experiment, analysis
        canary(
            [
                {"setCanaryScale": {"replicas": 1}, "setHeaderRoute": HEADER, "pause": {}},
                {"setMirrorRoute": MIRROR, "setWeight": 20},
                {"setCanaryScale": {"matchTrafficWeight": True}, "analysis": ANALYSIS},
            ],
            **ROUTED,
        ),
        # ping-pong Services take the place of canaryService and stableService
        canary(pingPong=PING_PONG, trafficRouting=ISTIO),
        canary(pingPong=PING_PONG, trafficRouting={"alb": {"ingress": "a", "rootService": "r"}}),
        # Istio subsets select the pods: no Services needed (Argo's rule)
        canary(
            trafficRouting={"istio": {"virtualService": {"name": "a"}, "destinationRule": SUBSETS}}
        ),
        manifest({"blueGreen": {"activeService": "active", "previewService": "preview"}}),
    ):
        rollout, problems = read_rollout(good)
        assert problems == []
        assert Rollout.from_manifest(good) == rollout


def test_all_errors_of_a_manifest_are_reported_at_once() -> None:
    bad = canary(
        [{"setWeight": 150}, {"pause": {"duration": "1x"}}],
        trafficRouting={"nginx": {"stableIngress": "app"}},
        stableService="app-stable",
    )
    del bad["metadata"]["name"]
    bad["spec"]["replicas"] = -1
    with pytest.raises(ManifestError) as raised:
        Rollout.from_manifest(bad)
    assert [str(e) for e in raised.value.errors] == [
        "metadata.name: is required",
        "spec.replicas: must be between 0 and 1000000, got -1",
        f"{STEPS}[0].setWeight: must be between 0 and 100, got 150",
        f"{STEPS}[1].pause.duration: {DURATION} '1x'",
        "spec.strategy.canary.canaryService: is required with trafficRouting",
    ]
    assert str(raised.value).count("; ") == 4


def test_warnings_do_not_stop_a_rollout() -> None:
    good = canary([{"setWeight": 10}])
    good["spec"]["strategy"]["canary"]["stepz"] = []
    good["spec"]["strategy"]["canary"]["scaleDownDelaySeconds"] = 5
    rollout, problems = read_rollout(good)
    assert [(str(e), e.severity) for e in problems] == [
        ("spec.strategy.canary.stepz: unknown field (ignored)", "warning"),
        ("spec.strategy.canary.scaleDownDelaySeconds: only applies with trafficRouting", "warning"),
    ]
    assert Rollout.from_manifest(good) == rollout


def test_a_weight_above_what_a_fixed_canary_scale_carries_is_a_warning() -> None:
    """Argo's docs: "the following set of steps would cause 90% of traffic to only be
    served by 10% of pods"; lint says so (the controller does it, with an Event)."""
    manifest = canary(
        [
            {"setCanaryScale": {"weight": 10}},
            {"setWeight": 90},
            {"setCanaryScale": {"replicas": 5}},
            {"setWeight": 50},
            {"setCanaryScale": {"matchTrafficWeight": True}},
            {"setWeight": 100},
        ],
        **ROUTED,
    )
    manifest["spec"]["replicas"] = 10
    rollout, problems = read_rollout(manifest)
    assert rollout is not None
    assert [(str(p), p.severity) for p in problems] == [
        (
            f"{STEPS}[1].setWeight: sends 90% of the traffic to the canary's 1 of 10 pods "
            "(10%), the size a setCanaryScale fixed; setCanaryScale: {matchTrafficWeight: "
            "true} sizes it by its weight",
            "warning",
        )
    ]


def test_manifest_errors_compare_as_values() -> None:
    error = ManifestError([FieldProblem("spec.replicas", "is required")])
    assert error.errors == (FieldProblem("spec.replicas", "is required", "error"),)
    assert str(error) == "spec.replicas: is required"


# -- references ---------------------------------------------------------------------------


def template(
    name: str, *args: dict[str, Any], cluster: bool = False, compose: tuple[str, ...] = ()
) -> AnalysisTemplate:
    spec: dict[str, Any] = {"args": list(args)}
    if compose:
        spec["templates"] = [{"templateName": t} for t in compose]
    else:
        spec["metrics"] = [{"name": "m", "provider": {"web": {"url": "http://x"}}}]
    return AnalysisTemplate.from_manifest(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "ClusterAnalysisTemplate" if cluster else "AnalysisTemplate",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def analysed(**analysis: Any) -> Rollout:
    """A canary Rollout with one analysis step, and background analysis."""
    step = {"templates": [{"templateName": "step"}], **analysis}
    return Rollout.from_manifest(
        canary(
            [{"setWeight": 10}, {"analysis": step}],
            canaryService="app-canary",
            stableService="app-stable",
            trafficRouting={"nginx": {"stableIngress": "app"}},
            analysis={"templates": [{"templateName": "background", "clusterScope": True}]},
        )
    )


STEP_TEMPLATE = f"{STEPS}[1].analysis.templates[0].templateName"
BACKGROUND_TEMPLATE = "spec.strategy.canary.analysis.templates[0].templateName"


@pytest.mark.parametrize(
    ("may_have_more", "severity", "suffix"),
    [(True, "warning", "; it must exist in the cluster"), (False, "error", "")],
)
def test_missing_templates(may_have_more: bool, severity: str, suffix: str) -> None:
    problems = check_references(
        analysed(),
        {"other"},
        set(),
        {"app-canary", "app-stable"},
        cluster_may_have_more=may_have_more,
    )
    assert [(str(e), e.severity) for e in problems] == [
        (f"{STEP_TEMPLATE}: AnalysisTemplate 'step' is not in the loaded files{suffix}", severity),
        (
            f"{BACKGROUND_TEMPLATE}: ClusterAnalysisTemplate 'background' is not in the "
            f"loaded files{suffix}",
            severity,
        ),
    ]


def test_the_templates_of_an_experiments_analyses_are_checked() -> None:
    rollout = Rollout.from_manifest(
        canary(
            [
                {
                    "experiment": {
                        "templates": [{"name": "canary", "specRef": "canary"}],
                        "analyses": [
                            {"name": "a", "templateName": "gone"},
                            {"name": "b", "templateName": "needs", "clusterScope": True},
                            {"name": "c", "templateName": "here", "args": [{"name": "x"}]},
                        ],
                    }
                }
            ]
        )
    )
    needs = template("needs", {"name": "host"}, cluster=True)
    here = template("here")
    problems = check_references(
        rollout, {"here": here}, {"needs": needs}, None, cluster_may_have_more=False
    )
    path = f"{STEPS}[0].experiment.analyses"
    assert [(str(e), e.severity) for e in problems] == [
        (f"{path}[0].templateName: AnalysisTemplate 'gone' is not in the loaded files", "error"),
        (
            f"{path}[1].args: missing arg 'host': ClusterAnalysisTemplate 'needs' declares it "
            "without a value",
            "error",
        ),
        (
            f"{path}[2].args[0].name: no template declares arg 'x' (it is ignored; the "
            "templates are 'here')",
            "warning",
        ),
    ]


def test_templates_known_by_name_only() -> None:
    assert (
        check_references(analysed(), {"step"}, {"background"}, None, cluster_may_have_more=False)
        == []
    )


def test_blue_green_analyses_are_checked() -> None:
    rollout = Rollout.from_manifest(
        manifest(
            {
                "blueGreen": {
                    "activeService": "active",
                    "previewService": "preview",
                    "prePromotionAnalysis": {"templates": [{"templateName": "pre"}]},
                    "postPromotionAnalysis": {"templates": [{"templateName": "post"}]},
                }
            }
        )
    )
    problems = check_references(rollout, {"pre"}, set(), {"active"}, cluster_may_have_more=False)
    assert [(str(e), e.severity) for e in problems] == [
        (
            "spec.strategy.blueGreen.postPromotionAnalysis.templates[0].templateName: "
            "AnalysisTemplate 'post' is not in the loaded files",
            "error",
        ),
        (
            "spec.strategy.blueGreen.previewService: Service 'preview' is not in the loaded "
            "files; it must exist in the cluster",
            "warning",
        ),
    ]


def test_args_declared_without_value_must_be_supplied() -> None:
    templates = {"step": template("step", {"name": "service"}, {"name": "limit", "value": "5"})}
    clusters = {"background": template("background", cluster=True)}
    services = {"app-canary", "app-stable"}
    problems = check_references(
        analysed(), templates, clusters, services, cluster_may_have_more=True
    )
    assert [(str(e), e.severity) for e in problems] == [
        (
            f"{STEPS}[1].analysis.args: missing arg 'service': AnalysisTemplate 'step' declares "
            "it without a value",
            "error",
        )
    ]
    for supplied in (
        {"name": "service", "value": "app"},
        {"name": "service", "valueFrom": {"podTemplateHashValue": "Latest"}},
    ):
        rollout = analysed(args=[supplied])
        assert (
            check_references(rollout, templates, clusters, services, cluster_may_have_more=True)
            == []
        )
    # supplied without a value is not supplied
    rollout = analysed(args=[{"name": "service"}])
    assert (
        len(check_references(rollout, templates, clusters, services, cluster_may_have_more=True))
        == 1
    )


def test_args_of_composed_templates() -> None:
    templates = {
        "step": template("step", compose=("inner",)),
        "inner": template("inner", {"name": "service"}),
    }
    clusters = {"background": template("background", cluster=True)}
    problems = check_references(analysed(), templates, clusters, None, cluster_may_have_more=True)
    assert [str(e) for e in problems] == [
        f"{STEPS}[1].analysis.args: missing arg 'service': AnalysisTemplate 'inner' declares "
        "it without a value"
    ]
    # an unknown composed template might give the value: nothing is claimed
    del templates["inner"]
    assert check_references(analysed(), templates, clusters, None, cluster_may_have_more=True) == []
    assert [
        str(e)
        for e in check_template_references(
            templates["step"], templates, clusters, cluster_may_have_more=False
        )
    ] == ["spec.templates[0].templateName: AnalysisTemplate 'inner' is not in the loaded files"]


def test_args_no_template_declares_are_warnings() -> None:
    templates = {"step": template("step", {"name": "service", "value": "x"})}
    clusters = {"background": template("background", cluster=True)}
    rollout = analysed(args=[{"name": "service", "value": "a"}, {"name": "servce", "value": "b"}])
    problems = check_references(rollout, templates, clusters, None, cluster_may_have_more=True)
    assert [(str(e), e.severity) for e in problems] == [
        (
            f"{STEPS}[1].analysis.args[1].name: no template declares arg 'servce' (it is "
            "ignored; the templates are 'step')",
            "warning",
        )
    ]


def test_missing_services_are_warnings() -> None:
    problems = check_references(
        analysed(), {"step"}, {"background"}, {"app-stable"}, cluster_may_have_more=False
    )
    assert [(str(e), e.severity) for e in problems] == [
        (
            "spec.strategy.canary.canaryService: Service 'app-canary' is not in the loaded "
            "files; it must exist in the cluster",
            "warning",
        )
    ]
    assert (
        check_references(analysed(), {"step"}, {"background"}, None, cluster_may_have_more=False)
        == []
    )


def test_the_table_is_not_shared_state() -> None:
    before = copy.deepcopy(BAD[0].values[0])
    read_rollout(BAD[0].values[0])
    assert BAD[0].values[0] == before


def test_a_step_with_several_actions_holds_them_in_the_order_they_apply() -> None:
    step = {"pause": {}, "setHeaderRoute": HEADER, "setCanaryScale": {"replicas": 1}}
    rollout = Rollout.from_manifest(canary([step], **ROUTED))
    assert rollout.canary is not None
    (combined,) = rollout.canary.steps
    assert isinstance(combined, CombinedStep)
    assert [type(a).__name__ for a in actions_of(combined)] == [
        "SetCanaryScale",
        "SetHeaderRoute",
        "Pause",
    ]
    assert step_label(combined) == "setCanaryScale: 1 replicas + setHeaderRoute: header + pause: {}"
    assert combined.to_manifest() == step
    assert Rollout.from_manifest(rollout.to_manifest()) == rollout
    # built in code in any order, it holds them in the same one
    assert CombinedStep(tuple(reversed(combined.actions))) == combined


@pytest.mark.parametrize(
    ("strategy", "key"),
    [
        ({"canary": {"canaryMetadata": {"labels": {"role": "canary"}}}}, "canary.canaryMetadata"),
        ({"canary": {"stableMetadata": {"labels": {"role": "stable"}}}}, "canary.stableMetadata"),
        (
            {"canary": {"replicaProgressThreshold": {"type": "Percent", "value": 90}}},
            "canary.replicaProgressThreshold",
        ),
        (
            {"blueGreen": {"activeService": "a", "activeMetadata": {"labels": {"r": "a"}}}},
            "blueGreen.activeMetadata",
        ),
        (
            {"blueGreen": {"activeService": "a", "previewMetadata": {"labels": {"r": "p"}}}},
            "blueGreen.previewMetadata",
        ),
    ],
)
def test_what_progressive_does_not_apply_is_a_warning(strategy: dict[str, Any], key: str) -> None:
    rollout, problems = read_rollout(manifest(strategy))
    assert rollout is not None
    ((path, severity),) = [(p.path, p.severity) for p in problems]
    assert (path, severity) == (f"spec.strategy.{key}", "warning")
    assert "is not applied by progressive" in problems[0].message
