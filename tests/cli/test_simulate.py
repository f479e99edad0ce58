from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from progressive._simulation import previous_template, simulate
from progressive.cli import main
from progressive.errors import SimulationError
from progressive.routers import ROUTERS

from ..core.test_workloads import DEPLOYMENT

ROLLOUT = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "example/web:1.25"}]}
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      trafficRouting: {nginx: {stableIngress: web}}
      steps:
      - setWeight: 20
      - pause: {duration: 30s}
      - analysis: {templates: [{templateName: rate}]}
      - setWeight: 60
      - pause: {}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: rate}
spec:
  metrics:
  - name: rate
    interval: 1m
    count: 2
    successCondition: "result[0] >= 0.9"
    provider: {prometheus: {query: "q"}}
"""

BLUE_GREEN = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec: {containers: [{name: shop, image: "example/shop:2"}]}
  strategy:
    blueGreen: {activeService: shop-active, previewService: shop-preview}
"""

KEYS = {
    "t",
    "phase",
    "step",
    "weight",
    "setWeight",
    "weightNote",
    "oldReplicas",
    "newReplicas",
    "event",
}


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, ["simulate", *args])


def lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


@pytest.fixture
def rollout_file(tmp_path: Path) -> str:
    return write(tmp_path, "rollout.yaml", ROLLOUT)


@pytest.fixture
def good_metrics(tmp_path: Path) -> str:
    return write(tmp_path, "metrics.yaml", "rate: [[0.95], [0.99]]\n")


def test_json_lines_to_healthy_with_auto_promote(rollout_file: str, good_metrics: str) -> None:
    result = invoke(rollout_file, "--metrics", good_metrics, "--auto-promote", "--json")
    assert result.exit_code == 0, result.output
    records = lines(result.stdout)
    assert all(set(r) == KEYS for r in records)
    times = [r["t"] for r in records]
    assert times == sorted(times) and times[0] == 0
    events = [r["event"] for r in records]
    for expected in ("SetWeight", "Paused", "AnalysisSuccessful", "AutoPromoted", "Promoted"):
        assert expected in events
    assert records[-1]["phase"] == "Healthy"
    assert records[-1]["weight"] == 100
    assert (records[-1]["oldReplicas"], records[-1]["newReplicas"]) == (0, 4)
    assert records[0]["oldReplicas"] == 4
    weights = [r["weight"] for r in records if r["phase"] != "Healthy"]
    assert 20 in weights and 60 in weights
    assert all(r["step"] is None or 0 <= r["step"] <= 5 for r in records)


def test_an_indefinite_pause_ends_paused(rollout_file: str, good_metrics: str) -> None:
    result = invoke(rollout_file, "--metrics", good_metrics, "--json")
    assert result.exit_code == 3
    last = lines(result.stdout)[-1]
    assert (last["phase"], last["step"], last["weight"]) == ("Paused", 4, 60)


def test_failing_metrics_degrade(rollout_file: str, tmp_path: Path) -> None:
    metrics = write(tmp_path, "bad.yaml", "rate: [[0.5]]\n")
    result = invoke(rollout_file, "--metrics", metrics, "--json")
    assert result.exit_code == 2
    records = lines(result.stdout)
    events = [r["event"] for r in records]
    assert "AnalysisFailed" in events and "Aborted" in events
    assert records[-1]["phase"] == "Degraded"
    assert records[-1]["weight"] == 0
    assert records[-1]["newReplicas"] == 0  # after abortScaleDownDelaySeconds


def test_without_metrics_an_analysis_errors(rollout_file: str) -> None:
    assert invoke(rollout_file, "--json").exit_code == 2


def test_invalid_files_print_lint_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", ROLLOUT.replace("setWeight: 20", "setWeight: 150"))
    result = invoke(path)
    assert result.exit_code == 1
    assert f"{path}#0: spec.strategy.canary.steps[0].setWeight: must be between 0 and 100" in (
        result.stdout
    )


def test_a_router_the_controller_does_not_implement_is_refused(tmp_path: Path) -> None:
    # before: the in-memory stand-in carried the router's traffic and simulate ended
    # Healthy, while a real cluster waited for canary pods for ever
    # (every Argo router is built in: a router no one implements is another's)
    path = write(tmp_path, "kong.yaml", ROLLOUT.replace("nginx: {stableIngress: web}", "kong: {}"))
    result = invoke(path, "--auto-promote")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}#0: spec.strategy.canary.trafficRouting.kong: unknown traffic router 'kong' "
        f"(this controller implements {', '.join(ROUTERS)})"
    ]
    documents = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
    with pytest.raises(SimulationError, match="unknown traffic router 'kong'"):
        simulate(documents, {"rate": [[0.99]]}, auto_promote=True)


def test_invalid_metrics_file(rollout_file: str, tmp_path: Path) -> None:
    metrics = write(tmp_path, "m.yaml", "rate: [fast]\n")
    result = invoke(rollout_file, "--metrics", metrics)
    assert result.exit_code == 1
    assert "rate" in result.stdout and "fast" in result.stdout


def test_two_rollouts_are_refused(tmp_path: Path) -> None:
    other = BLUE_GREEN
    path = write(tmp_path, "two.yaml", ROLLOUT + "---" + other)
    result = invoke(path)
    assert result.exit_code == 1
    assert "exactly one Rollout" in result.stdout


def test_readable_timeline(rollout_file: str, good_metrics: str) -> None:
    result = invoke(rollout_file, "--metrics", good_metrics, "--auto-promote")
    assert result.exit_code == 0, result.output
    for text in ("00:00", "00:32", "Paused", "SetWeight", "1/5", "20%", "final phase: Healthy"):
        assert text in result.stdout


def test_blue_green_weight_flips_when_the_active_service_does(tmp_path: Path) -> None:
    result = invoke(write(tmp_path, "bg.yaml", BLUE_GREEN), "--json")
    assert result.exit_code == 0, result.output
    records = lines(result.stdout)
    assert {r["weight"] for r in records} == {0, 100}
    assert all(r["step"] is None for r in records)
    flip = next(r for r in records if r["weight"] == 100)
    assert flip["newReplicas"] == 3
    assert records[-1]["oldReplicas"] == 0


def test_the_library_function_and_a_basic_canary() -> None:
    manifest: dict[str, Any] = yaml.safe_load(ROLLOUT.split("---")[0])
    canary = manifest["spec"]["strategy"]["canary"]
    for key in ("canaryService", "stableService", "trafficRouting"):
        del canary[key]
    canary["steps"] = [{"setWeight": 50}, {"pause": {"duration": 60}}]
    result = simulate([manifest])
    assert result.phase == "Healthy" and result.exit_code == 0 and result.finished
    # without a router, the weight is the new revision's share of the ready pods
    assert 50 in {r.weight for r in result.timeline}
    assert result.timeline[-1].weight == 100


def test_previous_template_marks_every_image() -> None:
    template = {
        "spec": {
            "initContainers": [{"name": "i", "image": "registry:5000/init"}],
            "containers": [
                {"name": "a", "image": "web:1.2"},
                {"name": "b", "image": "x@sha256:ab"},
            ],
        }
    }
    images = [c["image"] for c in previous_template(template)["spec"]["containers"]]
    assert images == ["web:1.2-previous", "x:previous"]
    init = previous_template(template)["spec"]["initContainers"][0]["image"]
    assert init == "registry:5000/init:previous"
    assert previous_template({}) != {}


def test_a_basic_canary_weight_rounded_by_pods_is_labelled_and_explained(tmp_path: Path) -> None:
    manifest: dict[str, Any] = yaml.safe_load(ROLLOUT.split("---")[0])
    manifest["spec"]["replicas"] = 3
    manifest["spec"]["strategy"]["canary"] = {"steps": [{"setWeight": 20}, {"pause": {}}]}
    result = invoke(write(tmp_path, "r.yaml", yaml.safe_dump(manifest)))
    assert result.exit_code == 3, result.output
    row = [line for line in result.stdout.splitlines() if "│ Paused " in line][-1]
    cells = [cell.strip() for cell in row.strip("│").split("│")]
    assert cells[2:7] == ["1/2", "33%", "20%", "2", "1"]
    assert cells[-1] == "no traffic router: the canary's share of the pods, 1 of 3"
    assert "┃ weight ┃ set ┃" in result.stdout


def test_a_workload_ref_rollout_updates_through_its_deployment() -> None:
    """The Rollout has no template: the previous revision is the Deployment's template
    marked previous, and the update edits the Deployment, as a user would."""
    deployment = copy.deepcopy(DEPLOYMENT)
    rollout = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 4,
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "strategy": {"canary": {"steps": [{"setWeight": 25}, {"pause": {"duration": 10}}]}},
        },
    }
    result = simulate([rollout, deployment])
    assert (result.phase, result.finished) == ("Healthy", True)
    first = result.timeline[0]
    assert (first.old_replicas, first.new_replicas) == (4, 0)  # the previous revision ran
    paused = next(r for r in result.timeline if r.phase == "Paused")
    assert (paused.weight, paused.old_replicas, paused.new_replicas) == (25, 3, 1)
    assert (result.timeline[-1].old_replicas, result.timeline[-1].new_replicas) == (0, 4)
    with pytest.raises(SimulationError, match="names Deployment web, which is not in the files"):
        simulate([rollout, {**deployment, "metadata": {"name": "other"}}])


def test_an_experiment_without_a_duration_waits_for_a_promotion() -> None:
    """As in Argo's end-to-end tests: the experiment runs until the step is promoted."""
    manifest: dict[str, Any] = yaml.safe_load(ROLLOUT.split("---")[0])
    canary = manifest["spec"]["strategy"]["canary"]
    for key in ("canaryService", "stableService", "trafficRouting"):
        del canary[key]
    canary["steps"] = [
        {"experiment": {"templates": [{"name": "preview", "specRef": "canary"}]}},
        {"setWeight": 50},
    ]
    waiting = simulate([manifest])
    assert (waiting.phase, waiting.exit_code) == ("Progressing", 4)
    assert waiting.timeline[-1].step == 0
    promoted = simulate([manifest], auto_promote=True)
    assert promoted.phase == "Healthy"
    events = [r.event for r in promoted.timeline]
    assert events.count("AutoPromoted") == 1
