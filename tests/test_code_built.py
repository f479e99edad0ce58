"""Objects built in code run as their manifests do: a Rollout and an Analysis written
with to_manifest() and played by ``simulate`` (the in-memory cluster, the controller)."""

from __future__ import annotations

import pytest

from progressive import (
    Analysis,
    CanaryStrategy,
    Metric,
    Pause,
    Rollout,
    SetWeight,
    simulate,
)

SUCCESS = Analysis(
    "success-rate",
    metrics=[
        Metric(
            "success-rate",
            {"prometheus": {"query": 'rate(ok{service="{{args.service}}"}[1m])'}},
            interval="1m",
            count=2,
            success_condition="result >= 0.95",
        )
    ],
    args=["service"],
)
ROLLOUT = Rollout(
    name="web",
    replicas=2,
    selector={"matchLabels": {"app": "web"}},
    template={
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "web:1"}]},
    },
    strategy=CanaryStrategy(
        steps=[SetWeight(50), SUCCESS.step({"service": "web"}), Pause("1m"), SetWeight(100)]
    ),
)


@pytest.mark.parametrize(("value", "phase"), [(0.99, "Healthy"), (0.5, "Degraded")])
def test_a_rollout_and_an_analysis_built_in_code_run(value: float, phase: str) -> None:
    result = simulate(
        [ROLLOUT.to_manifest(), SUCCESS.to_manifest()], metrics={"success-rate": [value]}
    )
    assert (result.phase, result.finished) == (phase, True), result.message
    events = [r.event for r in result.timeline]
    assert "AnalysisStarted" in events
    if phase == "Degraded":
        assert "failed" in result.message
