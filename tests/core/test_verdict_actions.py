"""What each analysis verdict does to the Rollout: configurable, Argo's by default."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from progressive._simulation import simulate
from progressive.core import Rollout
from progressive.core._steps import VerdictActions
from progressive.errors import ManifestError

ROLLOUT = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "example/web:2"}]}
  strategy:
    canary:
      steps:
      - setWeight: 50
      - analysis: {templates: [{templateName: rate}]}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: rate}
spec:
  metrics:
  - name: rate
    consecutiveErrorLimit: 0
    successCondition: result[0] > 0.9
    failureCondition: result[0] < 0.5
    provider: {prometheus: {query: q}}
"""

INCONCLUSIVE, FAILED, ERROR = [[0.7]], [[0.1]], ["error"]


def documents(**verdicts: str) -> list[dict[str, Any]]:
    docs = list(yaml.safe_load_all(ROLLOUT))
    docs[0]["spec"]["strategy"]["canary"]["steps"][1]["analysis"].update(verdicts)
    return docs


def events(result: Any) -> list[str]:
    return [r.event for r in result.timeline if r.event]


@pytest.mark.parametrize(
    ("values", "phase", "event"),
    [
        (INCONCLUSIVE, "Paused", "AnalysisInconclusive"),
        (FAILED, "Degraded", "AnalysisFailed"),
        (ERROR, "Degraded", "AnalysisError"),
    ],
)
def test_argo_s_behaviour_by_default(values: list[Any], phase: str, event: str) -> None:
    result = simulate(documents(), {"rate": values})
    assert result.phase == phase and event in events(result)


def test_inconclusive_can_continue() -> None:
    result = simulate(documents(onInconclusive="continue"), {"rate": INCONCLUSIVE})
    assert result.phase == "Healthy"
    assert "AnalysisInconclusive" in events(result) and "Paused" not in events(result)


def test_inconclusive_can_abort() -> None:
    result = simulate(documents(onInconclusive="abort"), {"rate": INCONCLUSIVE})
    assert result.phase == "Degraded"
    assert "RolloutAborted: analysis" in result.message and "inconclusive" in result.message


@pytest.mark.parametrize(("key", "values"), [("onFailed", FAILED), ("onError", ERROR)])
def test_failed_and_error_can_pause_until_promoted(key: str, values: list[Any]) -> None:
    paused = simulate(documents(**{key: "pause"}), {"rate": values})
    assert paused.phase == "Paused"
    promoted = simulate(documents(**{key: "pause"}), {"rate": values}, auto_promote=True)
    assert promoted.phase == "Healthy"
    assert "AutoPromoted" in events(promoted)


@pytest.mark.parametrize(
    ("key", "value"), [("onFailed", "continue"), ("onError", "ignore"), ("onInconclusive", "x")]
)
def test_failing_data_can_never_be_continued_past(key: str, value: str) -> None:
    with pytest.raises(ManifestError, match=f"{key}: must be one of"):
        Rollout.from_manifest(documents(**{key: value})[0])


def test_the_setting_is_read_for_background_analyses_too() -> None:
    manifest = documents()[0]
    manifest["spec"]["strategy"]["canary"]["analysis"] = {
        "templates": [{"templateName": "rate"}],
        "onError": "pause",
        "onInconclusive": "continue",
    }
    canary = Rollout.from_manifest(manifest).canary
    assert canary is not None and canary.analysis is not None
    assert canary.analysis.verdicts == VerdictActions(on_error="pause", on_inconclusive="continue")
    assert canary.analysis.verdicts.action("Failed") == "abort"
