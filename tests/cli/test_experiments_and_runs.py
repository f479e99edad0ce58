"""The plugin's experiment and analysis-run commands and `version`, as Argo's
`kubectl argo rollouts` has them: on the in-memory cluster, and (marked kube) on the
real local control plane, where no controller runs and the test writes statuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from progressive.cli import main
from progressive.cli._experiments import experiment_summary
from progressive.core._times import format_time
from tests.cli.conftest import Run

EXPERIMENT = """
apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata: {name: side-by-side}
spec:
  templates:
  - name: a
    replicas: 2
    selector: {matchLabels: {app: a}}
    template:
      metadata: {labels: {app: a}}
      spec: {containers: [{name: a, image: "example/a:1"}]}
"""

TEMPLATE = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: smoke}
spec:
  args:
  - name: service
  - name: tries
    value: "1"
  metrics:
  - name: smoke
    count: 1
    provider:
      job:
        spec:
          template:
            spec:
              containers: [{name: t, image: busybox, args: ["{{args.service}}"]}]
              restartPolicy: Never
"""


def stored(state: Path, kind: str) -> list[dict[str, Any]]:
    data = json.loads(state.read_text())
    return [o for o in data["objects"] if o["kind"] == kind]


def test_get_and_list_experiments(memory: Run) -> None:
    assert memory("list", "experiments").stdout == "No experiments found in namespace default.\n"
    assert memory("create", "-f", "-", input=EXPERIMENT).exit_code == 0
    shown = memory("get", "experiment", "side-by-side")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[:4] == [
        "Name:            side-by-side",
        "Namespace:       default",
        "Status:          ◌ Running",
        "Images:          example/a:1",
    ]
    tree = [line.split()[:4] for line in lines[5:]]
    assert tree[0] == ["NAME", "KIND", "STATUS", "AGE"]
    assert tree[1] == ["Σ", "side-by-side", "Experiment", "◌"]
    assert tree[2] == ["└──⧉", "side-by-side-a", "ReplicaSet", "✔"]
    assert len(tree[3:]) == 2 and all(row[2] == "Pod" for row in tree[3:])
    listed = memory("list", "exp").stdout.splitlines()
    assert listed[0].split() == ["NAME", "STATUS", "DURATION", "REMAINING", "AGE"]
    assert listed[1].split()[:4] == ["side-by-side", "◌", "Running", "-"]
    assert memory("list", "experiments", "-A").stdout.splitlines()[1].startswith("default  ")
    data = yaml.safe_load(memory("get", "exp", "side-by-side", "-o", "yaml").stdout)
    assert (data["status"], data["images"]) == ("Running", ["example/a:1"])
    assert [c["kind"] for c in data["tree"]["children"]] == ["ReplicaSet"]
    watched = memory("get", "experiment", "side-by-side", "-w")
    assert "showing it once" in watched.stderr and watched.stdout == shown.stdout
    missing = memory("get", "experiment", "nope")
    assert (missing.exit_code, missing.stderr) == (
        1,
        'error: experiment "nope" not found in namespace "default"\n',
    )


def test_an_experiments_duration_and_time_left() -> None:
    now = 10_000.0
    experiment = {
        "metadata": {"name": "e", "creationTimestamp": format_time(now - 90)},
        "spec": {"duration": "5m"},
        "status": {"phase": "Running", "availableAt": format_time(now - 60)},
    }
    row = experiment_summary(experiment, now=now)
    assert (row["duration"], row["remaining"], row["age"]) == ("5m", "4m", "90s")
    experiment["status"] = {"phase": "Successful", "availableAt": format_time(now - 60)}
    assert experiment_summary(experiment, now=now)["remaining"] == "-"


def test_create_analysisrun_from_a_template(memory: Run, state: Path, tmp_path: Path) -> None:
    assert memory("create", "-f", "-", input=TEMPLATE).exit_code == 0
    no_value = memory("create", "analysisrun", "--from", "smoke")
    assert (no_value.exit_code, no_value.stderr) == (
        1,
        "error: analysisrun from smoke: AnalysisTemplate/smoke.spec.args[0]: argument "
        "'service' has no value and was not supplied\n",
    )
    unknown = memory("create", "analysisrun", "--from", "smoke", "-a", "service=w", "-a", "x=1")
    assert unknown.stderr == (
        "error: the templates have no argument 'x' (they have: service, tries)\n"
    )
    made = memory("create", "analysisrun", "--from", "smoke", "-a", "service=web")
    assert made.exit_code == 0, made.output
    assert made.stdout.startswith("analysisrun.argoproj.io/smoke-")
    path = tmp_path / "smoke.yaml"
    path.write_text(TEMPLATE)
    named = memory(
        "create", "analysisrun", "--from-file", str(path), "--name", "smoke-1",
        "-a", "service=api", "-a", "tries=3", "--instance-id", "blue",
    )  # fmt: skip
    assert named.stdout == "analysisrun.argoproj.io/smoke-1 created\n"
    runs = {r["metadata"]["name"]: r for r in stored(state, "AnalysisRun")}
    run = runs["smoke-1"]
    assert run["spec"]["args"] == [
        {"name": "service", "value": "api"},
        {"name": "tries", "value": "3"},
    ]
    container = run["spec"]["metrics"][0]["provider"]["job"]["spec"]["template"]["spec"]
    assert container["containers"][0]["args"] == ["api"]
    assert run["metadata"]["labels"]["argo-rollouts.argoproj.io/controller-instance-id"] == "blue"
    # the in-memory controller (no --instance-id) measured the one without the label
    # (its Job is simulated) and left the other to the controller of instance "blue"
    (other,) = (r for n, r in runs.items() if n != "smoke-1")
    assert other["status"]["phase"] == "Successful" and "status" not in run
    usage = memory("create", "analysisrun")
    assert usage.exit_code == 2 and "one of --from TEMPLATE or --from-file FILE" in usage.stderr
    assert memory("create").exit_code == 2


def test_version() -> None:
    from importlib.metadata import version

    full = CliRunner().invoke(main, ["version"]).stdout.splitlines()
    assert full[0] == f"progressive: v{version('progressive')}"
    assert [line.split(":")[0] for line in full[1:]] == [
        "  Python",
        "  Implementation",
        "  Platform",
    ]
    assert CliRunner().invoke(main, ["version", "--short"]).stdout == full[0] + "\n"


@pytest.mark.kube
def test_experiments_and_runs_on_the_real_api_server(crds: Path, kube_namespace: str) -> None:
    def cli(*args: str, input: str | None = None) -> Any:
        return CliRunner().invoke(
            main, ["--kubeconfig", str(crds), "-n", kube_namespace, *args], input=input
        )

    made = cli("create", "-f", "-", input=EXPERIMENT + "---\n" + TEMPLATE)
    assert made.exit_code == 0, made.output
    listed = cli("list", "experiments").stdout.splitlines()
    assert listed[1].split()[:4] == ["side-by-side", "◌", "Pending", "-"]
    shown = cli("get", "experiment", "side-by-side")
    assert shown.stdout.splitlines()[2] == "Status:          ◌ Pending"
    watched = cli("get", "experiment", "side-by-side", "-w", "--timeout", "1s")
    assert watched.exit_code == 0 and watched.stdout == shown.stdout
    run = cli("create", "analysisrun", "--from", "smoke", "-a", "service=web", "--name", "r1")
    assert run.stdout == "analysisrun.progressive.dev/r1 created\n", run.output
    assert cli("terminate", "analysisrun", "r1").exit_code == 0
