"""A step analysis with scripted measurements blocks, passes, fails or pauses the rollout
with Argo's limits, run end to end on the in-memory cluster."""

from __future__ import annotations

from typing import Any

import pytest

from progressive._simulation import simulate


def documents(metric: dict[str, Any]) -> list[dict[str, Any]]:
    rollout = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "web:2"}]},
            },
            "strategy": {
                "canary": {
                    "canaryService": "web-canary",
                    "stableService": "web-stable",
                    "trafficRouting": {"smi": {}},
                    "steps": [
                        {"setWeight": 25},
                        {"analysis": {"templates": [{"templateName": "check"}]}},
                        {"setWeight": 75},
                    ],
                }
            },
        },
    }
    template = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "check"},
        "spec": {
            "metrics": [{"name": "rate", "provider": {"prometheus": {"query": "q"}}, **metric}]
        },
    }
    return [rollout, template]


def events(result: Any) -> list[str]:
    return [r.event for r in result.timeline if r.event]


@pytest.mark.parametrize(
    ("metric", "values", "phase", "analysis_event", "seconds"),
    [
        # three good measurements 10 s apart: passes at the third, the rollout goes on
        (
            {"interval": "10s", "count": 3, "successCondition": "result[0] > 0.9"},
            [[0.99]],
            "Healthy",
            "AnalysisSuccessful",
            20,
        ),
        # failureLimit 1 tolerates one failure...
        (
            {
                "interval": "10s",
                "count": 3,
                "failureLimit": 1,
                "successCondition": "result[0] > 0.9",
            },
            [[0.5], [0.99]],
            "Healthy",
            "AnalysisSuccessful",
            20,
        ),
        # ...but not two: Failed aborts
        (
            {
                "interval": "10s",
                "count": 3,
                "failureLimit": 1,
                "successCondition": "result[0] > 0.9",
            },
            [[0.5], [0.5]],
            "Degraded",
            "AnalysisFailed",
            10,
        ),
        # neither condition true: Inconclusive pauses (inconclusiveLimit 0)
        (
            {
                "interval": "10s",
                "count": 2,
                "successCondition": "result[0] > 0.9",
                "failureCondition": "result[0] < 0.5",
            },
            [[0.7]],
            "Paused",
            "AnalysisInconclusive",
            0,
        ),
        # five errors in a row exceed consecutiveErrorLimit (4): Error aborts
        (
            {"interval": "10s", "count": 10, "successCondition": "result[0] > 0.9"},
            ["error"],
            "Degraded",
            "AnalysisError",
            40,
        ),
        # an empty result cannot be indexed: Error, never a pass
        (
            {
                "interval": "10s",
                "count": 10,
                "consecutiveErrorLimit": 1,
                "successCondition": "result[0] > 0.9",
            },
            [None],
            "Degraded",
            "AnalysisError",
            10,
        ),
        # NaN never passes: an Error by default (nanResult: error), retried every 10s...
        ({"successCondition": "result[0] > 0.9"}, [["NaN"]], "Degraded", "AnalysisError", 40),
        # ...or whatever phase the metric's nanResult says
        (
            {"successCondition": "result[0] > 0.9", "nanResult": "failed"},
            [["NaN"]],
            "Degraded",
            "AnalysisFailed",
            0,
        ),
    ],
)
def test_step_analysis_outcomes(
    metric: dict[str, Any], values: list[Any], phase: str, analysis_event: str, seconds: float
) -> None:
    result = simulate(documents(metric), {"rate": values}, auto_promote=False)
    assert result.phase == phase, result.message
    names = events(result)
    assert analysis_event in names
    started = next(r.t for r in result.timeline if r.event == "AnalysisStarted")
    verdict = next(r.t for r in result.timeline if r.event == analysis_event)
    assert verdict - started == seconds
    # the step blocked: setWeight 75 never happened before the verdict
    assert all(r.weight <= 25 for r in result.timeline if r.t < verdict)
    if phase == "Degraded":
        assert result.timeline[-1].weight == 0


def test_inconclusive_pause_is_promoted_past() -> None:
    metric = {"successCondition": "result[0] > 0.9", "failureCondition": "result[0] < 0.5"}
    result = simulate(documents(metric), {"rate": [[0.7]]}, auto_promote=True)
    assert result.phase == "Healthy"
    assert "AnalysisInconclusive" in events(result)
