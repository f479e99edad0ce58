"""The kubectl-plugin commands against the real local control plane: each command is run
(click's runner, and a few real processes) and the objects it changed are read back
from the API server.  No progressive controller runs here: where a command waits on
the controller (``status``), the test writes the status fields itself, as a controller
would."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from click.testing import CliRunner, Result

from progressive._clusters import Ref
from progressive.cli import main
from progressive.cli._target import Session
from progressive.core._times import format_time, parse_time
from tests.cli.conftest import kube_call

pytestmark = pytest.mark.kube

ROOT = Path(__file__).resolve().parents[2]
CANARY = str(ROOT / "examples" / "canary-basic" / "rollout.yaml")
GROUP = "progressive.dev/v1alpha1"

ROLLOUT = """
apiVersion: progressive.dev/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers: [{name: init, image: busybox:1}]
      containers: [{name: web, image: nginx:1.25}, {name: sidecar, image: envoy:1}]
  strategy:
    canary:
      steps: [{setWeight: 20}, {pause: {}}, {setWeight: 50}, {pause: {duration: 30s}}]
"""

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, labels: {app: shop}}
spec:
  replicas: 2
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers: [{name: shop, image: "example/shop:1", ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: shop}
spec:
  selector: {app: shop}
  ports: [{name: http, port: 80, targetPort: 8080}]
"""


class Kube:
    """The CLI and the API server of one test's namespace."""

    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace

    def cli(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(
            main,
            ["--kubeconfig", str(self.kubeconfig), "-n", self.namespace, *args],
            input=input,
            catch_exceptions=False,
        )

    def call(self, fn: Any) -> Any:
        return kube_call(self.kubeconfig, fn)

    def get(self, kind: str, name: str, api_version: str = GROUP) -> dict[str, Any]:
        async def read(cluster: Any) -> Any:
            return await cluster.get(Ref(api_version, kind, self.namespace, name))

        found = self.call(read)
        assert found is not None, f"{kind} {name} not found"
        return dict(found)

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj = {**obj, "metadata": {"namespace": self.namespace, **obj["metadata"]}}

        async def create(cluster: Any) -> Any:
            return await cluster.create(obj)

        return dict(self.call(create))

    def set_status(self, name: str, status: dict[str, Any]) -> None:
        """Write the Rollout's status as a controller would (observing the spec)."""
        current = self.get("Rollout", name)
        full = {"observedGeneration": str(current["metadata"]["generation"]), **status}

        async def write(cluster: Any) -> None:
            await cluster.replace_status({**current, "status": full})

        self.call(write)


@pytest.fixture
def kube(crds: Path, kube_namespace: str) -> Kube:
    return Kube(crds, kube_namespace)


@pytest.fixture
def web(kube: Kube) -> Kube:
    result = kube.cli("create", "-f", "-", input=ROLLOUT)
    assert result.exit_code == 0, result.output
    return kube


def test_create_makes_the_objects_in_the_servers_rollout_group(kube: Kube) -> None:
    result = kube.cli("create", "-f", CANARY)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "rollout.progressive.dev/rollouts-demo created",
        "service/rollouts-demo created",
    ]
    assert "argoproj.io/v1alpha1 is not served here" in result.stderr
    created = kube.get("Rollout", "rollouts-demo")
    assert created["spec"]["strategy"]["canary"]["steps"][0] == {"setWeight": 20}
    assert kube.get("Service", "rollouts-demo", "v1")["spec"]["selector"] == {
        "app": "rollouts-demo"
    }
    again = kube.cli("create", "-f", CANARY)
    assert again.exit_code == 1
    assert "error: rollout.progressive.dev/rollouts-demo already exists" in again.stderr


def test_promote_clears_the_pause(web: Kube) -> None:
    ref = Ref(GROUP, "Rollout", web.namespace, "web")
    web.call(lambda c: c.patch(ref, {"spec": {"paused": True}}))
    web.set_status(
        "web",
        {
            "phase": "Paused",
            "message": "CanaryPauseStep",
            "currentStepIndex": 1,
            "controllerPause": True,
            "pauseConditions": [
                {"reason": "CanaryPauseStep", "startTime": format_time(time.time())}
            ],
        },
    )
    result = web.cli("promote", "web")
    assert (result.exit_code, result.stdout) == (0, "rollout 'web' promoted\n")
    ro = web.get("Rollout", "web")
    assert ro["spec"]["paused"] is False
    assert "pauseConditions" not in ro["status"]
    assert ro["status"]["controllerPause"] is True, "the controller's own flag stays"

    skipped = web.cli("promote", "web")  # not paused: skip the current step
    assert skipped.exit_code == 0
    assert web.get("Rollout", "web")["status"]["currentStepIndex"] == 2

    full = web.cli("promote", "web", "--full")
    assert (full.exit_code, full.stdout) == (0, "rollout 'web' fully promoted\n")
    assert web.get("Rollout", "web")["status"]["promoteFull"] is True


def test_abort_retry_pause_and_restart(web: Kube) -> None:
    web.set_status("web", {"phase": "Progressing", "currentStepIndex": 0})
    assert web.cli("abort", "web").stdout == "rollout 'web' aborted\n"
    assert web.get("Rollout", "web")["status"]["abort"] is True
    assert web.cli("retry", "rollout", "web").stdout == "rollout 'web' retried\n"
    assert web.get("Rollout", "web")["status"]["abort"] is False
    assert web.cli("pause", "web").stdout == "rollout 'web' paused\n"
    assert web.get("Rollout", "web")["spec"]["paused"] is True

    before = time.time()
    assert web.cli("restart", "web", "--in", "1m").stdout == "rollout 'web' restarts in 1m\n"
    restart_at = parse_time(web.get("Rollout", "web")["spec"]["restartAt"])
    assert restart_at is not None and before + 59 <= restart_at <= time.time() + 61


def test_a_rollout_being_deleted_is_refused_by_the_commands_that_change_it(web: Kube) -> None:
    ref = Ref(GROUP, "Rollout", web.namespace, "web")
    web.call(lambda c: c.patch(ref, {"metadata": {"finalizers": ["example.com/hold"]}}))
    web.call(lambda c: c.delete(ref))  # held by the finalizer
    since = web.get("Rollout", "web")["metadata"]["deletionTimestamp"]
    try:
        error = (
            f"error: rollout 'web' is being deleted (since {since}, waiting for finalizers: "
            "example.com/hold): the controller no longer acts on it\n"
        )
        for command in (
            ["promote", "web"],
            ["promote", "web", "--full"],
            ["abort", "web"],
            ["retry", "rollout", "web"],
            ["pause", "web"],
            ["restart", "web"],
            ["undo", "web"],
            ["set", "image", "web", "web=nginx:1.27"],
            ["status", "web", "--timeout", "1s"],
        ):
            result = web.cli(*command)
            assert (result.exit_code, result.stdout, result.stderr) == (1, "", error), command
        ro = web.get("Rollout", "web")
        assert ro["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
        assert "paused" not in ro["spec"] and "restartAt" not in ro["spec"]
        assert not (ro.get("status") or {}).get("abort")
        shown = web.cli("get", "rollout", "web")
        assert shown.exit_code == 0 and "web" in shown.stdout
        assert shown.stderr == error.replace("error:", "warning:").replace(
            ": the controller no longer acts on it", ""
        )
    finally:
        web.call(lambda c: c.patch(ref, {"metadata": {"finalizers": None}}))


def test_set_image_changes_the_template(web: Kube) -> None:
    generation = web.get("Rollout", "web")["metadata"]["generation"]
    result = web.cli("set", "image", "web", "web=nginx:1.27")
    assert (result.exit_code, result.stdout) == (0, "rollout 'web' image updated\n")
    ro = web.get("Rollout", "web")
    spec = ro["spec"]["template"]["spec"]
    assert [c["image"] for c in spec["containers"]] == ["nginx:1.27", "envoy:1"]
    assert ro["metadata"]["generation"] == generation + 1

    assert web.cli("set", "image", "web", "*=example/all:2").exit_code == 0
    spec = web.get("Rollout", "web")["spec"]["template"]["spec"]
    images = [c["image"] for c in spec["initContainers"] + spec["containers"]]
    assert images == ["example/all:2"] * 3

    missing = web.cli("set", "image", "web", "db=postgres:16")
    assert (missing.exit_code, missing.stderr) == (
        1,
        "error: unable to find container named 'db'\n",
    )


def test_set_image_and_undo_go_to_the_deployment_of_a_workload_ref(kube: Kube) -> None:
    assert kube.cli("create", "-f", "-", input=DEPLOYMENT).exit_code == 0
    migrated = kube.cli("migrate", "deployment", "shop")
    assert migrated.exit_code == 0, migrated.output
    rollout_before = kube.get("Rollout", "shop")
    result = kube.cli("set", "image", "shop", "shop=example/shop:2")
    assert (result.exit_code, result.stdout) == (0, "deployment 'shop' image updated\n")
    deployment = kube.get("Deployment", "shop", "apps/v1")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "example/shop:2"
    assert kube.get("Rollout", "shop")["spec"] == rollout_before["spec"]


def _replica_set(ro: dict[str, Any], pod_hash: str, revision: int, image: str) -> dict[str, Any]:
    labels = {"app": "web", "rollouts-pod-template-hash": pod_hash}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"web-{pod_hash}",
            "labels": labels,
            "annotations": {"rollout.argoproj.io/revision": str(revision)},
            "ownerReferences": [
                {
                    "apiVersion": GROUP,
                    "kind": "Rollout",
                    "name": "web",
                    "uid": ro["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def test_undo_restores_a_replica_sets_template(web: Kube) -> None:
    ro = web.get("Rollout", "web")
    web.create(_replica_set(ro, "one1one1", 1, "nginx:1.24"))
    web.create(_replica_set(ro, "two2two2", 2, "nginx:1.25"))
    web.set_status("web", {"phase": "Healthy", "currentPodHash": "two2two2"})
    result = web.cli("undo", "web")
    assert (result.exit_code, result.stdout) == (0, "rollout 'web' rolled back to revision 1\n")
    template = web.get("Rollout", "web")["spec"]["template"]
    # replaced whole (the init container and the sidecar are gone), without the hash
    # label; with the API server's defaults, as the ReplicaSet stores them (Argo's too)
    assert template["metadata"] == {"labels": {"app": "web"}}
    assert [(c["name"], c["image"]) for c in template["spec"]["containers"]] == [
        ("web", "nginx:1.24")
    ]
    assert "initContainers" not in template["spec"]
    again = web.cli("undo", "web", "--to-revision", "2")
    assert again.exit_code == 0
    image = web.get("Rollout", "web")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "nginx:1.25"


def test_terminate_sets_spec_terminate(kube: Kube) -> None:
    documents = """
apiVersion: progressive.dev/v1alpha1
kind: AnalysisRun
metadata: {name: smoke}
spec:
  metrics:
  - name: smoke
    provider: {web: {url: "http://127.0.0.1:1/health"}}
---
apiVersion: progressive.dev/v1alpha1
kind: Experiment
metadata: {name: side}
spec:
  duration: 1h
  templates:
  - name: a
    selector: {matchLabels: {app: a}}
    template:
      metadata: {labels: {app: a}}
      spec: {containers: [{name: a, image: a}]}
"""
    created = kube.cli("create", "-f", "-", input=documents)
    assert created.exit_code == 0, created.output
    terminated = kube.cli("terminate", "analysisrun", "smoke")
    assert terminated.stdout == "analysisrun 'smoke' terminated\n"
    assert kube.cli("terminate", "experiment", "side").stdout == "experiment 'side' terminated\n"
    assert kube.get("AnalysisRun", "smoke")["spec"]["terminate"] is True
    assert kube.get("Experiment", "side")["spec"]["terminate"] is True


def test_status_exit_codes_follow_the_phase(web: Kube) -> None:
    web.set_status("web", {"phase": "Healthy"})
    assert (web.cli("status", "web").exit_code, web.cli("status", "web").stdout) == (0, "Healthy\n")
    web.set_status("web", {"phase": "Degraded", "message": "RolloutAborted"})
    degraded = web.cli("status", "web")
    assert (degraded.exit_code, degraded.stdout) == (2, "Degraded - RolloutAborted\n")
    web.set_status("web", {"phase": "Paused", "message": "CanaryPauseStep"})
    paused = web.cli("status", "web", "--timeout", "1s", "--interval", "0.2")
    assert paused.exit_code == 3
    assert paused.stdout == "Paused - CanaryPauseStep (step 0/4)\n"
    assert paused.stderr == "error: timed out after 1s: Paused - CanaryPauseStep (step 0/4)\n"
    assert web.cli("status", "web", "--no-watch").exit_code == 3


def test_status_waits_for_the_controller(web: Kube) -> None:
    """A real process waits while the "controller" (this test) moves the Rollout on:
    once the process has printed the phase it found, the Rollout becomes Healthy."""
    web.set_status("web", {"phase": "Progressing", "message": "more replicas need to be updated"})
    program = Path(sys.executable).parent / "kubectl-progressive"
    with subprocess.Popen(
        [
            program,
            "status",
            "web",
            "-n",
            web.namespace,
            "--kubeconfig",
            str(web.kubeconfig),
            "--timeout",
            "30s",
            "--interval",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    ) as process:
        watchdog = threading.Timer(60, process.kill)  # bounds the read below
        watchdog.start()
        try:
            assert process.stdout is not None
            first = process.stdout.readline()  # the process has seen the Rollout
            web.set_status("web", {"phase": "Healthy"})
            rest, errors = process.communicate(timeout=60)
        finally:
            watchdog.cancel()
    assert process.returncode == 0, errors
    assert (first + rest).splitlines() == [
        "Progressing - more replicas need to be updated (step 0/4)",
        "Healthy",
    ]


def test_get_rollout_draws_what_the_cluster_holds(
    web: Kube, monkeypatch: pytest.MonkeyPatch
) -> None:
    ro = web.get("Rollout", "web")
    rs = _replica_set(ro, "two2two2", 2, "nginx:1.25")
    rs["spec"]["replicas"] = 1
    web.create(rs)
    web.set_status(
        "web",
        {
            "phase": "Healthy",
            "currentPodHash": "two2two2",
            "stableRS": "two2two2",
            "currentStepIndex": 4,
            "replicas": 1,
            "availableReplicas": 1,
            "readyReplicas": 1,
            "updatedReplicas": 1,
        },
    )
    # the real ReplicaSet controller makes the pod, kwok runs it
    deadline = time.monotonic() + 60
    while True:
        data = yaml.safe_load(web.cli("get", "rollout", "web", "-o", "yaml").stdout)
        (revision,) = data["tree"]["children"]
        (replica_set,) = revision["children"]
        pods = replica_set.get("children") or []
        if pods and pods[0].get("status") == "Running" and pods[0]["info"] == "ready:1/1":
            break
        assert time.monotonic() < deadline, data
        time.sleep(0.5)
    assert (revision["name"], replica_set["info"]) == ("revision:2", "stable")
    assert data["images"] == [{"image": "nginx:1.25", "roles": ["stable"]}]

    # the two drawings below are compared whole, ages included: the clock the CLI reads
    # them from is pinned, so that a loaded machine crossing a second between the two
    # cannot change "Healthy 1s" into "Healthy 2s"
    pinned = time.time()
    monkeypatch.setattr(Session, "now", lambda self: pinned)
    shown = web.cli("get", "rollout", "web")
    assert shown.exit_code == 0
    assert "└──⧉ web-two2two2" in shown.stdout and "ready:1/1" in shown.stdout
    watched = web.cli("get", "rollout", "web", "-w", "--timeout", "1s", "--interval", "0.3")
    assert watched.exit_code == 0 and watched.stdout == shown.stdout, "unchanged: drawn once"

    listed = web.cli("list", "rollouts", "-A")
    row = next(line for line in listed.stdout.splitlines() if line.startswith(web.namespace))
    assert row.split()[1:4] == ["web", "Canary", "✔"]


def test_migrate_creates_a_rollout_beside_the_deployment(kube: Kube) -> None:
    assert kube.cli("create", "-f", "-", input=DEPLOYMENT).exit_code == 0
    service = kube.get("Service", "shop", "v1")

    planned = kube.cli("migrate", "deployment", "shop", "--dry-run")
    assert planned.exit_code == 0, planned.output
    documents = [d for d in yaml.safe_load_all(planned.stdout) if d]
    assert [(d["kind"], d["apiVersion"]) for d in documents] == [("Rollout", GROUP)]

    async def rollouts(cluster: Any) -> Any:
        return await cluster.list(GROUP, "Rollout", kube.namespace)

    assert kube.call(rollouts) == [], "a dry run writes nothing"

    refused = kube.cli(
        "migrate", "deployment", "shop", "--strategy", "blue-green", "--active-service", "shop"
    )
    assert refused.exit_code == 1 and "selects the Deployment's pods" in refused.stderr

    result = kube.cli(
        "migrate",
        "deployment",
        "shop",
        "--strategy",
        "blue-green",
        "--active-service",
        "shop-active",
        "--scale-down",
        "progressively",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "service/shop-active created",
        "rollout.progressive.dev/shop created",
    ]
    ro = kube.get("Rollout", "shop")
    assert ro["spec"]["workloadRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "shop",
        "scaleDown": "progressively",
    }
    assert ro["spec"]["selector"] == {"matchLabels": {"app": "shop"}}
    assert ro["spec"]["replicas"] == 2
    active = kube.get("Service", "shop-active", "v1")
    assert active["spec"]["ports"][0]["port"] == 80
    assert active["spec"]["selector"] == {"app": "shop"}
    assert kube.get("Service", "shop", "v1")["spec"] == service["spec"], "left unchanged"
    assert kube.get("Deployment", "shop", "apps/v1")["spec"]["replicas"] == 2


def test_errors_are_one_line(kube: Kube, tmp_path: Path) -> None:
    missing = kube.cli("promote", "nope")
    assert (missing.exit_code, missing.stdout) == (1, "")
    assert missing.stderr == f'error: rollout "nope" not found in namespace "{kube.namespace}"\n'

    context = CliRunner().invoke(
        main, ["--kubeconfig", str(kube.kubeconfig), "--context", "nope", "list", "rollouts"]
    )
    assert context.exit_code == 1 and len(context.stderr.splitlines()) == 1
    assert 'context "nope"' in context.stderr

    config = yaml.safe_load(kube.kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = "https://127.0.0.1:1"
    unreachable = tmp_path / "kubeconfig"
    unreachable.write_text(yaml.safe_dump(config))
    start = time.monotonic()
    down = CliRunner().invoke(
        main, ["--kubeconfig", str(unreachable), "get", "rollout", "x"], catch_exceptions=False
    )
    assert down.exit_code == 1 and down.stdout == ""
    assert len(down.stderr.splitlines()) == 1 and down.stderr.startswith("error: ")
    assert time.monotonic() - start < 20


def test_anyio_is_not_running_here() -> None:
    # the CLI runs its own event loop: these tests must stay plain functions
    with pytest.raises(RuntimeError):
        anyio.get_current_task()
