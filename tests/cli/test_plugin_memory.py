"""The kubectl-plugin commands on the in-memory cluster (``--memory``), end to end: the
state persists between invocations, and after every write the controller runs on the
virtual clock until nothing more is scheduled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner

from progressive.cli import _COMMANDS, main
from progressive.memory import MemoryCluster
from tests.cli.conftest import Run

ROOT = Path(__file__).resolve().parents[2]
CANARY = str(ROOT / "examples" / "canary-basic" / "rollout.yaml")
BLUE_GREEN = str(ROOT / "examples" / "blue-green" / "rollout.yaml")

WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
"""


def stored(state: Path, kind: str, name: str | None = None) -> list[dict[str, Any]]:
    """What the state file holds of a kind (and name)."""
    cluster = MemoryCluster.load(json.loads(state.read_text()))
    out = []
    for (_, k), bucket in cluster._store.items():
        if k == kind:
            out += [o for (_, n), o in sorted(bucket.items()) if name in (None, n)]
    return out


def rollout(state: Path, name: str = "rollouts-demo") -> dict[str, Any]:
    (found,) = stored(state, "Rollout", name)
    return found


def test_the_whole_story_of_a_canary(memory: Run, state: Path) -> None:
    created = memory("create", "-f", CANARY)
    assert created.exit_code == 0, created.output
    assert created.stdout.splitlines()[:2] == [
        "rollout.argoproj.io/rollouts-demo created",
        "service/rollouts-demo created",
    ]
    assert "✔ Healthy" in created.stdout, "the controller ran: the first revision is up"
    assert rollout(state)["status"]["phase"] == "Healthy"

    updated = memory("set", "image", "rollouts-demo", "rollouts-demo=argoproj/rollouts-demo:blue")
    assert updated.exit_code == 0, updated.output
    assert updated.stdout.startswith("rollout 'rollouts-demo' image updated\n")
    assert "॥ Paused - CanaryPauseStep  step 1/8  weight 20%" in updated.stdout
    # the virtual clock stopped when things came to rest: the canary's pod took 2s
    assert "[memory +2s]" in updated.stdout

    got = memory("get", "rollout", "rollouts-demo")
    assert got.exit_code == 0, got.output
    lines = got.stdout.splitlines()
    assert "Status:          ॥ Paused" in lines
    assert "  Step:          1/8" in lines
    assert "  SetWeight:     20" in lines
    assert "Images:          argoproj/rollouts-demo:yellow (stable)" in lines
    assert "                 argoproj/rollouts-demo:blue (canary)" in lines
    assert lines[lines.index("Replicas:") + 3] == "  Updated:       1"
    tree = got.stdout.split("\n\n", 1)[1]
    assert tree.startswith("NAME ")
    assert "├──# revision:2" in tree and "└──# revision:1" in tree
    canary_row = next(line for line in tree.splitlines() if "canary" in line)
    assert "ReplicaSet  ✔ Healthy" in canary_row
    assert sum("Pod         ✔ Running" in line for line in tree.splitlines()) == 5

    listed = memory("list", "rollouts")
    assert listed.exit_code == 0
    assert listed.stdout.splitlines()[1].split()[:5] == [
        "rollouts-demo",
        "Canary",
        "॥",
        "Paused",
        "1/8",
    ]

    assert memory("status", "rollouts-demo").exit_code == 3, "Paused"

    promoted = memory("promote", "rollouts-demo")
    assert promoted.exit_code == 0, promoted.output
    assert promoted.stdout.startswith("rollout 'rollouts-demo' promoted\n")
    assert "✔ Healthy" in promoted.stdout, "the timed pauses passed in virtual time"
    final = rollout(state)
    assert final["status"]["phase"] == "Healthy"
    assert final["status"]["stableRS"] == final["status"]["currentPodHash"]
    status = memory("status", "rollouts-demo")
    assert (status.exit_code, status.stdout) == (0, "Healthy\n")
    shown = memory("get", "rollout", "rollouts-demo").stdout
    assert "Images:          argoproj/rollouts-demo:blue (stable)" in shown
    assert "• ScaledDown" in shown, "the old revision scaled down after its delay"


def test_an_actual_weight_that_is_not_the_set_one_is_labelled_and_explained(
    memory: Run, tmp_path: Path
) -> None:
    manifest = next(yaml.safe_load_all(Path(CANARY).read_text()))
    manifest["spec"]["replicas"] = 3
    manifest["spec"]["strategy"]["canary"] = {"steps": [{"setWeight": 20}, {"pause": {}}]}
    path = tmp_path / "three.yaml"
    path.write_text(yaml.safe_dump(manifest))
    assert memory("create", "-f", str(path)).exit_code == 0
    updated = memory("set", "image", "rollouts-demo", "rollouts-demo=argoproj/rollouts-demo:blue")
    assert (
        "step 1/2  weight 33% actual, 20% set (no traffic router: the canary's share of "
        "the pods, 1 of 3)  updated 1/3"
    ) in updated.stdout
    header = memory("get", "rollout", "rollouts-demo").stdout.splitlines()
    assert "  SetWeight:     20" in header
    assert (
        "  ActualWeight:  33 (no traffic router: the canary's share of the pods, 1 of 3)"
        in header
    )
    shown = json.loads(memory("get", "rollout", "rollouts-demo", "-o", "json").stdout)
    assert (shown["actualWeight"], shown["setWeight"]) == ("33", "20")
    assert shown["weightNote"] == "no traffic router: the canary's share of the pods, 1 of 3"


def test_abort_retry_pause_restart_and_undo(memory: Run, state: Path) -> None:
    assert memory("create", "-f", CANARY).exit_code == 0
    assert memory("set", "image", "rollouts-demo", "*=argoproj/rollouts-demo:blue").exit_code == 0

    aborted = memory("abort", "rollouts-demo")
    assert aborted.exit_code == 0 and "✖ Degraded" in aborted.stdout
    assert rollout(state)["status"]["abort"] is True
    degraded = memory("status", "rollouts-demo")
    assert degraded.exit_code == 2 and degraded.stdout.startswith("Degraded")

    retried = memory("retry", "rollout", "rollouts-demo")
    assert retried.exit_code == 0, retried.output
    assert rollout(state)["status"]["abort"] is False

    paused = memory("pause", "rollouts-demo")
    assert paused.exit_code == 0 and rollout(state)["spec"]["paused"] is True
    assert memory("promote", "rollouts-demo", "--full").exit_code == 0
    assert rollout(state)["spec"]["paused"] is False
    assert rollout(state)["status"]["phase"] == "Healthy"

    before = MemoryCluster.load(json.loads(state.read_text())).clock.now()
    restarted = memory("restart", "rollouts-demo", "--in", "30s")
    assert restarted.exit_code == 0 and "restarts in 30s" in restarted.stdout
    from progressive.core._times import parse_time

    assert parse_time(rollout(state)["spec"]["restartAt"]) == before + 30

    undone = memory("undo", "rollouts-demo")
    assert undone.exit_code == 0, undone.output
    assert undone.stdout.startswith("rollout 'rollouts-demo' rolled back to revision 1\n")
    template = rollout(state)["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == "argoproj/rollouts-demo:yellow"
    assert "rollouts-pod-template-hash" not in template["metadata"]["labels"]
    # going back reused revision 1's ReplicaSet, which is revision 3 now (as in Argo)
    same = memory("undo", "rollouts-demo", "--to-revision", "3")
    assert same.stdout.startswith(
        "rollout 'rollouts-demo': skipped (the template already is revision 3's)\n"
    )
    missing = memory("undo", "rollouts-demo", "--to-revision", "9")
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: rollout 'rollouts-demo': unable to find revision 9")


def test_blue_green_waits_for_promote(memory: Run, state: Path) -> None:
    assert memory("create", "-f", BLUE_GREEN).exit_code == 0
    memory("set", "image", "rollout-bluegreen", "rollouts-demo=argoproj/rollouts-demo:green")
    shown = memory("get", "rollout", "rollout-bluegreen").stdout
    assert "Strategy:        BlueGreen" in shown and "Step:" not in shown
    assert "argoproj/rollouts-demo:blue (stable, active)" in shown
    assert "argoproj/rollouts-demo:green (preview)" in shown
    promoted = memory("promote", "rollout-bluegreen")
    assert "✔ Healthy" in promoted.stdout
    assert (
        "argoproj/rollouts-demo:green (stable, active)"
        in memory("get", "rollout", "rollout-bluegreen").stdout
    )


def test_terminate_analysisrun_and_experiment(memory: Run, state: Path) -> None:
    documents = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: smoke}
spec:
  metrics:
  - name: smoke
    provider:
      job:
        spec:
          template:
            spec:
              containers: [{name: t, image: busybox}]
              restartPolicy: Never
---
apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata: {name: side-by-side}
spec:
  duration: 1h
  templates:
  - name: a
    selector: {matchLabels: {app: a}}
    template:
      metadata: {labels: {app: a}}
      spec: {containers: [{name: a, image: a}]}
"""
    assert memory("create", "-f", "-", input=documents).exit_code == 0
    assert memory("terminate", "analysisrun", "smoke").stdout == "analysisrun 'smoke' terminated\n"
    assert memory("terminate", "exp", "side-by-side").exit_code == 0
    (run,) = stored(state, "AnalysisRun", "smoke")
    (experiment,) = stored(state, "Experiment", "side-by-side")
    assert run["spec"]["terminate"] is True and experiment["spec"]["terminate"] is True
    gone = memory("terminate", "analysisrun", "nope")
    assert gone.exit_code == 1
    assert gone.stderr == 'error: analysisrun "nope" not found in namespace "default"\n'


def test_errors_are_one_line_on_stderr(memory: Run, state: Path, tmp_path: Path) -> None:
    missing = memory("get", "rollout", "nope")
    assert (missing.exit_code, missing.stdout) == (1, "")
    assert missing.stderr == 'error: rollout "nope" not found in namespace "default"\n'

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: x}\n"
        "spec: {strategy: {canary: {steps: [{setWeight: 120}]}}}\n"
    )
    invalid = memory("create", "-f", str(bad))
    assert invalid.exit_code == 1 and invalid.stdout == ""
    assert all(line.startswith("error: ") for line in invalid.stderr.splitlines())
    assert not state.exists(), "nothing was created"

    assert memory("create", "-f", CANARY).exit_code == 0
    again = memory("create", "-f", CANARY)
    assert again.exit_code == 1
    assert "error: rollout.argoproj.io/rollouts-demo already exists" in again.stderr

    no_container = memory("set", "image", "rollouts-demo", "nope=x:1")
    assert no_container.exit_code == 1
    assert no_container.stderr == "error: unable to find container named 'nope'\n"
    usage = memory("set", "image", "rollouts-demo", "no-equals-sign")
    assert usage.exit_code == 2 and "CONTAINER=IMAGE" in usage.stderr

    state.write_text("{not json")
    broken = memory("list", "rollouts")
    assert broken.exit_code == 1 and len(broken.stderr.splitlines()) == 1
    assert broken.stderr.startswith(f"error: cannot read the in-memory state {state}")


def test_connection_options_go_before_or_after_the_command(memory: Run, state: Path) -> None:
    assert memory("-n", "shop", "create", "-f", CANARY).exit_code == 0
    assert memory("get", "rollout", "rollouts-demo", "-n", "shop").exit_code == 0
    assert memory("-n", "shop", "get", "rollout", "rollouts-demo").exit_code == 0
    assert memory("get", "rollout", "rollouts-demo").exit_code == 1, "not in default"
    everywhere = memory("list", "rollouts", "-A")
    assert everywhere.stdout.splitlines()[1].split()[:2] == ["shop", "rollouts-demo"]
    assert memory("list", "rollouts").stdout == "No rollouts found in namespace default.\n"


def test_the_state_file_defaults_to_the_cache_folder(tmp_path: Path) -> None:
    env = {"PROGRESSIVE_CACHE": str(tmp_path / "cache")}
    runner = CliRunner(env=env)
    assert runner.invoke(main, ["--memory", "create", "-f", CANARY]).exit_code == 0
    assert (tmp_path / "cache" / "memory.json").is_file()
    shown = CliRunner(env={**env, "PROGRESSIVE_MEMORY": "1"}).invoke(
        main, ["get", "rollout", "rollouts-demo"]
    )
    assert shown.exit_code == 0 and "✔ Healthy" in shown.stdout


def test_get_json_yaml_and_watch_on_memory(memory: Run) -> None:
    memory("create", "-f", CANARY)
    data = json.loads(memory("get", "rollout", "rollouts-demo", "-o", "json").stdout)
    assert data["status"] == "Healthy" and data["tree"]["kind"] == "Rollout"
    assert memory("list", "rollouts", "-o", "yaml").stdout.startswith("- name: rollouts-demo\n")
    watched = memory("get", "rollout", "rollouts-demo", "-w")
    assert watched.exit_code == 0 and "showing it once" in watched.stderr
    assert watched.stdout == memory("get", "rollout", "rollouts-demo").stdout


def test_set_image_star_changes_init_containers_too(memory: Run, state: Path) -> None:
    containers = "      containers:\n"
    init = "      initContainers:\n      - name: init\n        image: busybox:1\n"
    manifest = Path(CANARY).read_text().replace(containers, init + containers, 1)
    assert memory("create", "-f", "-", input=manifest).exit_code == 0
    assert memory("set", "image", "rollouts-demo", "*=example/all:2").exit_code == 0
    spec = rollout(state)["spec"]["template"]["spec"]
    assert spec["initContainers"][0]["image"] == "example/all:2"
    assert spec["containers"][0]["image"] == "example/all:2"


# -- migrate ---------------------------------------------------------------------------------


def pods_selected_by(state: Path, selector: dict[str, str]) -> list[dict[str, Any]]:
    return [
        p
        for p in stored(state, "Pod")
        if all(p["metadata"]["labels"].get(k) == v for k, v in selector.items())
    ]


def test_migrate_runs_the_rollout_beside_the_deployment(memory: Run, state: Path) -> None:
    assert memory("create", "-f", "-", input=WEB).exit_code == 0
    service_before = stored(state, "Service", "web")[0]
    assert len(pods_selected_by(state, {"app": "web"})) == 3, "the Deployment's pods"

    migrated = memory("migrate", "deployment", "web", "--scale-down", "never")
    assert migrated.exit_code == 0, migrated.output
    assert "rollout.progressive.dev/web created" in migrated.stdout
    assert "Service web selects app=web" in migrated.stderr
    (ro,) = stored(state, "Rollout", "web")
    assert ro["spec"]["workloadRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
        "scaleDown": "never",
    }
    assert "template" not in ro["spec"]
    assert ro["status"]["phase"] == "Healthy"
    # both stacks run, and the Service (unchanged) selects all of them
    assert stored(state, "Service", "web")[0]["spec"] == service_before["spec"]
    serving = pods_selected_by(state, {"app": "web"})
    assert len(serving) == 6
    assert sum("rollouts-pod-template-hash" in p["metadata"]["labels"] for p in serving) == 3
    assert all(p["metadata"]["labels"]["tier"] == "front" for p in serving)


def test_migrate_then_scale_the_deployment_down_and_update(memory: Run, state: Path) -> None:
    memory("create", "-f", "-", input=WEB)
    migrated = memory("migrate", "deployment", "web")
    assert migrated.exit_code == 0, migrated.output
    assert "deployment 'web': 0 replicas, 0 ready" in migrated.stdout
    (deployment,) = stored(state, "Deployment", "web")
    assert deployment["spec"]["replicas"] == 0
    serving = pods_selected_by(state, {"app": "web"})
    assert len(serving) == 3
    assert all("rollouts-pod-template-hash" in p["metadata"]["labels"] for p in serving)

    updated = memory("set", "image", "web", "web=nginx:1.27")
    assert updated.stdout.startswith("deployment 'web' image updated\n")
    assert "॥ Paused - CanaryPauseStep  step 1/4" in updated.stdout
    (deployment,) = stored(state, "Deployment", "web")
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "nginx:1.27", "the template lives in the Deployment"
    assert "nginx:1.27 (canary)" in memory("get", "rollout", "web").stdout


def test_migrate_dry_run_writes_nothing(memory: Run, state: Path) -> None:
    memory("create", "-f", "-", input=WEB)
    before = state.read_text()
    planned = memory("migrate", "deployment", "web", "--dry-run")
    assert planned.exit_code == 0, planned.output
    assert state.read_text() == before
    import yaml

    documents = [d for d in yaml.safe_load_all(planned.stdout) if d]
    assert [d["kind"] for d in documents] == ["Rollout"]
    assert documents[0]["spec"]["strategy"]["canary"]["steps"][0] == {"setWeight": 20}
    assert "# later: once Rollout web is Healthy" in planned.stdout
    as_json = json.loads(memory("migrate", "deployment", "web", "--dry-run", "-o", "json").stdout)
    assert as_json["later"][0]["patch"] == {"spec": {"replicas": 0}}


def test_migrate_refuses_to_take_over_the_serving_service(memory: Run, state: Path) -> None:
    memory("create", "-f", "-", input=WEB)
    refused = memory(
        "migrate", "deployment", "web", "--strategy", "blue-green", "--active-service", "web"
    )
    assert refused.exit_code == 1 and len(refused.stderr.splitlines()) == 1
    assert "error: Service web selects the Deployment's pods" in refused.stderr
    assert not stored(state, "Rollout")

    made = memory(
        "migrate",
        "deployment",
        "web",
        "--strategy",
        "blue-green",
        "--active-service",
        "web-active",
        "--scale-down",
        "progressively",
    )
    assert made.exit_code == 0, made.output
    assert made.stdout.startswith("service/web-active created\n")
    (active,) = stored(state, "Service", "web-active")
    assert active["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
    assert active["spec"]["selector"]["app"] == "web"
    (ro,) = stored(state, "Rollout", "web")
    assert ro["spec"]["strategy"] == {"blueGreen": {"activeService": "web-active"}}
    assert stored(state, "Service", "web")[0]["spec"]["selector"] == {"app": "web"}


def test_migrate_usage_errors(memory: Run) -> None:
    memory("create", "-f", "-", input=WEB)
    assert memory("migrate", "deployment", "web", "--strategy", "blue-green").exit_code == 2
    assert memory("migrate", "deployment", "web", "--steps", "20,wait").exit_code == 2
    missing = memory("migrate", "deployment", "nope")
    assert missing.stderr == 'error: deployment "nope" not found in namespace "default"\n'
    assert memory("migrate", "deployment", "web").exit_code == 0
    again = memory("migrate", "deployment", "web")
    assert again.stderr == 'error: rollout "web" already exists in namespace "default"\n'


# -- help, completion, the two program names -------------------------------------------------


def _commands(group: click.Group, ctx: click.Context) -> list[list[str]]:
    out = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        out.append([name])
        if isinstance(command, click.Group):
            out += [[name, *rest] for rest in _commands(command, ctx)]
    return out


def test_every_command_has_help_that_reads_well() -> None:
    with click.Context(main) as ctx:
        paths = _commands(main, ctx)
    assert ["get", "rollout"] in paths and ["migrate", "deployment"] in paths
    for path in paths:
        result = CliRunner().invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert result.stdout.startswith("Usage: "), path
        description = result.stdout.split("\n\n")[1].strip()
        assert description and description[0].isupper(), (path, description)
    assert set(_COMMANDS) >= {
        "get",
        "list",
        "promote",
        "abort",
        "retry",
        "restart",
        "undo",
        "set",
        "pause",
        "status",
        "create",
        "terminate",
        "migrate",
        "lint",
    }


def test_the_plugin_command_modules_import_nothing_heavy() -> None:
    # `progressive --help` imports every command module for its short help
    code = (
        "import sys; import progressive.cli._rollouts, progressive.cli._edits, "
        "progressive.cli._status, progressive.cli._create, progressive.cli._migrate; "
        "heavy = [m for m in ('kubernetes_asyncio', 'rich', 'aiohttp', 'httpx', 'yaml', "
        "'anyio', 'progressive._shell.controller') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_docs_have_a_section_per_command() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    headings = {line[3:] for line in text.splitlines() if line.startswith("## ")}
    for command in (
        "get rollout",
        "list rollouts",
        "promote",
        "abort",
        "retry rollout",
        "restart",
        "undo",
        "set image",
        "pause",
        "status",
        "lint",
        "create",
        "create analysisrun",
        "terminate",
        "migrate deployment",
        "get experiment",
        "list experiments",
        "version",
    ):
        assert command in headings, command
    assert "cli.md" in (ROOT / "mkdocs.yml").read_text()


def test_shell_completion_offers_rollout_names(memory: Run, state: Path) -> None:
    memory("create", "-f", CANARY)
    env = {
        **os.environ,
        "_PROGRESSIVE_COMPLETE": "bash_complete",
        "COMP_WORDS": f"progressive --memory-state {state} promote roll",
        "COMP_CWORD": "4",
    }
    program = Path(sys.executable).parent / "progressive"
    out = subprocess.run([program], capture_output=True, text=True, env=env, check=False)
    assert out.stdout.splitlines() == ["plain,rollouts-demo"], out.stderr
    script = subprocess.run(
        [program],
        capture_output=True,
        text=True,
        env={**os.environ, "_PROGRESSIVE_COMPLETE": "bash_source"},
        check=True,
    ).stdout
    assert "complete -o nosort -F" in script


def test_both_program_names_share_the_state(state: Path) -> None:
    bin_dir = Path(sys.executable).parent
    for program, args in (
        ("progressive", ["create", "-f", CANARY]),
        ("kubectl-progressive", ["get", "rollout", "rollouts-demo"]),
    ):
        done = subprocess.run(
            [bin_dir / program, "--memory-state", str(state), *args],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stderr
    assert "⟳ rollouts-demo" in done.stdout
    assert "\x1b[" not in done.stdout, "no colour escapes into a pipe"


@pytest.mark.parametrize("name", ["rollouts-demo"])
def test_the_lint_command_is_still_there(name: str) -> None:
    result = CliRunner().invoke(main, ["lint", "-f", CANARY])
    assert result.exit_code == 0, result.output
